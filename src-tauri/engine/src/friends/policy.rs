//! Who may do what over `/earshot/pair/1` (pure: no I/O, time is an argument).
//!
//! [`decide`] maps (where the peer stands with us, what they ask, the limits) to a [`Decision`];
//! [`invite_verdict`] decides a redeem from the stored invite. The friends actor carries the
//! decision out and answers. Rules:
//! - a blocked peer is refused everything (the swarm refuses their connections first);
//! - a stranger may only redeem an invite or ask to be friends, and learns nothing about the user;
//! - an invite is redeemed once; the same peer may redeem it again only while it is unexpired and
//!   they are still a friend (their first answer may have been lost). Unfriending or blocking the
//!   peer deletes the invites they redeemed, so an old link can never re-friend anyone;
//! - incoming requests are capped; when full, the oldest is evicted so the newest asker's
//!   `Pending` stays true.

use libp2p::PeerId;

use super::store::Relationship;
use crate::net::protocol::{PairRequest, Refusal};

/// What a peer asks, without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Redeem,
    Request,
    Accepted,
    Hello,
    Unfriend,
}

impl Ask {
    pub fn of(request: &PairRequest) -> Ask {
        match request {
            PairRequest::Redeem { .. } => Ask::Redeem,
            PairRequest::Request { .. } => Ask::Request,
            PairRequest::Accepted { .. } => Ask::Accepted,
            PairRequest::Hello { .. } => Ask::Hello,
            PairRequest::Unfriend => Ask::Unfriend,
        }
    }
}

/// The limits that apply to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Incoming requests stored now.
    pub incoming: i64,
    /// Incoming requests stored at most.
    pub max_incoming: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Answer `Refused` with this reason; change nothing.
    Refuse(Refusal),
    /// Check the invite ([`invite_verdict`]); friends if it holds.
    CheckInvite,
    /// Record them as a friend and answer `Friends` with our card.
    BecomeFriends,
    /// Store a new incoming request (evicting the oldest first when full) and answer `Pending`.
    StoreRequest { evict_oldest: bool },
    /// They asked before: keep their request, note their name, answer `Pending`.
    RefreshRequest,
    /// A friend's hello: note their name, answer `Friends` with our card.
    GreetBack,
    /// A friend ended the friendship: forget them, answer `Ack`.
    Forget,
    /// Nothing to do (an unfriend from someone who is not a friend); answer `Ack`.
    Ack,
}

pub fn decide(relationship: Option<Relationship>, ask: Ask, limits: Limits) -> Decision {
    use Relationship::*;
    match (relationship, ask) {
        (Some(Blocked), _) => Decision::Refuse(Refusal::NotFriends),
        (_, Ask::Redeem) => Decision::CheckInvite,
        // Already friends (they lost their state), or we both asked: friends now.
        (Some(Friend) | Some(RequestedOut), Ask::Request) => Decision::BecomeFriends,
        (Some(RequestedIn), Ask::Request) => Decision::RefreshRequest,
        (None, Ask::Request) => Decision::StoreRequest {
            evict_oldest: limits.incoming >= limits.max_incoming,
        },
        (Some(RequestedOut) | Some(Friend), Ask::Accepted) => Decision::BecomeFriends,
        (Some(RequestedIn) | None, Ask::Accepted) => Decision::Refuse(Refusal::NotFriends),
        (Some(Friend), Ask::Hello) => Decision::GreetBack,
        (Some(RequestedOut) | Some(RequestedIn) | None, Ask::Hello) => {
            Decision::Refuse(Refusal::NotFriends)
        }
        (Some(Friend), Ask::Unfriend) => Decision::Forget,
        (Some(RequestedOut) | Some(RequestedIn) | None, Ask::Unfriend) => Decision::Ack,
    }
}

/// A stored invite, as far as a redeem is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredInvite {
    /// Unix milliseconds.
    pub expires_at: i64,
    pub redeemed_by: Option<PeerId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteVerdict {
    /// First use: mark it used by the peer, and become friends.
    Redeem,
    /// The same friend again while the invite is valid: answer as before, change nothing.
    Repeat,
    Refuse(Refusal),
}

/// Whether `peer`, standing in `relationship` with us, may redeem `invite` (`None`: no invite
/// has that secret: forged, revoked, purged, or from another peer) at `now` (unix ms).
pub fn invite_verdict(
    invite: Option<StoredInvite>,
    peer: PeerId,
    relationship: Option<Relationship>,
    now: i64,
) -> InviteVerdict {
    if relationship == Some(Relationship::Blocked) {
        return InviteVerdict::Refuse(Refusal::NotFriends);
    }
    let Some(invite) = invite else {
        return InviteVerdict::Refuse(Refusal::InvalidInvite);
    };
    if invite.expires_at <= now {
        return InviteVerdict::Refuse(Refusal::InviteExpired);
    }
    match invite.redeemed_by {
        None => InviteVerdict::Redeem,
        Some(by) if by == peer && relationship == Some(Relationship::Friend) => {
            InviteVerdict::Repeat
        }
        Some(_) => InviteVerdict::Refuse(Refusal::InviteAlreadyUsed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Relationship::*;

    const ROOM: Limits = Limits {
        incoming: 3,
        max_incoming: 200,
    };
    const FULL: Limits = Limits {
        incoming: 200,
        max_incoming: 200,
    };
    const ASKS: [Ask; 5] = [
        Ask::Redeem,
        Ask::Request,
        Ask::Accepted,
        Ask::Hello,
        Ask::Unfriend,
    ];

    /// The whole table: every relationship × every request.
    #[test]
    fn every_relationship_and_request_has_the_specified_decision() {
        let refuse = Decision::Refuse(Refusal::NotFriends);
        let table: [(Option<Relationship>, [Decision; 5]); 5] = [
            (
                None,
                [
                    Decision::CheckInvite,
                    Decision::StoreRequest {
                        evict_oldest: false,
                    },
                    refuse,
                    refuse,
                    Decision::Ack,
                ],
            ),
            (
                Some(Friend),
                [
                    Decision::CheckInvite,
                    Decision::BecomeFriends,
                    Decision::BecomeFriends,
                    Decision::GreetBack,
                    Decision::Forget,
                ],
            ),
            (
                Some(RequestedOut),
                [
                    Decision::CheckInvite,
                    Decision::BecomeFriends,
                    Decision::BecomeFriends,
                    refuse,
                    Decision::Ack,
                ],
            ),
            (
                Some(RequestedIn),
                [
                    Decision::CheckInvite,
                    Decision::RefreshRequest,
                    refuse,
                    refuse,
                    Decision::Ack,
                ],
            ),
            (Some(Blocked), [refuse; 5]),
        ];
        for (relationship, expected) in table {
            for (ask, want) in ASKS.iter().zip(expected) {
                assert_eq!(
                    decide(relationship, *ask, ROOM),
                    want,
                    "{relationship:?} asking {ask:?}"
                );
            }
        }
    }

    #[test]
    fn a_new_request_when_full_evicts_the_oldest_instead_of_lying() {
        assert_eq!(
            decide(None, Ask::Request, FULL),
            Decision::StoreRequest { evict_oldest: true }
        );
        // Limits only concern new requests.
        assert_eq!(
            decide(Some(RequestedIn), Ask::Request, FULL),
            Decision::RefreshRequest
        );
    }

    const NOW: i64 = 1_000_000;

    fn invite(redeemed_by: Option<PeerId>, expires_at: i64) -> Option<StoredInvite> {
        Some(StoredInvite {
            expires_at,
            redeemed_by,
        })
    }

    #[test]
    fn an_unused_valid_invite_is_redeemed_by_anyone_not_blocked() {
        let peer = PeerId::random();
        for relationship in [None, Some(RequestedIn), Some(RequestedOut), Some(Friend)] {
            assert_eq!(
                invite_verdict(invite(None, NOW + 1), peer, relationship, NOW),
                InviteVerdict::Redeem,
                "{relationship:?}"
            );
        }
    }

    #[test]
    fn unknown_and_expired_invites_are_refused() {
        let peer = PeerId::random();
        assert_eq!(
            invite_verdict(None, peer, None, NOW),
            InviteVerdict::Refuse(Refusal::InvalidInvite)
        );
        assert_eq!(
            invite_verdict(invite(None, NOW), peer, None, NOW),
            InviteVerdict::Refuse(Refusal::InviteExpired)
        );
    }

    #[test]
    fn a_friend_may_redeem_again_only_while_the_invite_is_valid() {
        let peer = PeerId::random();
        assert_eq!(
            invite_verdict(invite(Some(peer), NOW + 1), peer, Some(Friend), NOW),
            InviteVerdict::Repeat
        );
        assert_eq!(
            invite_verdict(invite(Some(peer), NOW - 1), peer, Some(Friend), NOW),
            InviteVerdict::Refuse(Refusal::InviteExpired),
            "an old link never works again, friend or not"
        );
    }

    #[test]
    fn an_ex_friend_cannot_reuse_the_invite_they_redeemed() {
        let peer = PeerId::random();
        for relationship in [None, Some(RequestedIn), Some(RequestedOut)] {
            assert_eq!(
                invite_verdict(invite(Some(peer), NOW + 1), peer, relationship, NOW),
                InviteVerdict::Refuse(Refusal::InviteAlreadyUsed),
                "{relationship:?}"
            );
        }
    }

    #[test]
    fn a_blocked_peer_cannot_use_an_invite_even_one_it_holds() {
        let peer = PeerId::random();
        for invite in [invite(None, NOW + 1), invite(Some(peer), NOW + 1)] {
            assert_eq!(
                invite_verdict(invite, peer, Some(Blocked), NOW),
                InviteVerdict::Refuse(Refusal::NotFriends)
            );
        }
    }

    #[test]
    fn someone_else_cannot_use_a_redeemed_invite() {
        let (first, second) = (PeerId::random(), PeerId::random());
        assert_eq!(
            invite_verdict(invite(Some(first), NOW + 1), second, None, NOW),
            InviteVerdict::Refuse(Refusal::InviteAlreadyUsed)
        );
    }
}
