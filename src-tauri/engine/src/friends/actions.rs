//! What the user does with friends: the API façade over the service (invites, requests,
//! unfriend, block). Every operation checks where the peer stands first and says clearly why it
//! cannot be done.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};

use super::invite::{self, Invite};
use super::store::{self, Relationship};
use super::{
    fingerprint, internal, is_shareable, lock, net_error, to_card, unreachable_error, Friends,
};
use crate::api::{
    self, ApiError, ErrorKind, Event, Friend, InviteInfo, InviteUse, LinkPreview, LinkStanding,
    NetStats, PeerCard,
};
use crate::net::protocol::{PairRequest, PairResponse, Refusal};
use crate::net::NetError;
use crate::store::{now_millis, StoreError};
use crate::supervise;

/// Pause before the single retry of a pairing request that reached no address.
const PAIR_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// The longest an invite may be made to last.
const MAX_INVITE_SECS: u64 = 30 * 24 * 3600;

impl Friends {
    pub async fn create_invite(
        &self,
        lifetime_secs: Option<u64>,
    ) -> Result<api::InviteLink, ApiError> {
        let lifetime_ms = match lifetime_secs {
            None => invite::DEFAULT_LIFETIME_MS,
            Some(0) => {
                return Err(ApiError::invalid_input(
                    "An invite must last at least one second.",
                ))
            }
            Some(s) if s > MAX_INVITE_SECS => {
                return Err(ApiError::invalid_input(
                    "An invite can last 30 days at most.",
                ))
            }
            Some(s) => s as i64 * 1000,
        };
        let addresses = self.shared.net.addresses().await.map_err(net_error)?;
        let addresses: Vec<Multiaddr> = addresses.into_iter().filter(is_shareable).collect();
        let now = now_millis();
        let invite = Invite::new(self.shared.net.local_peer_id(), addresses, now, lifetime_ms);
        let (secret, expires_at) = (invite.secret, invite.expires_at);
        self.shared
            .store
            .call(move |c| store::insert_invite(c, &secret, now, expires_at))
            .await?;
        self.publish(Event::InvitesChanged);
        Ok(api::InviteLink {
            link: invite.to_link(),
            expires_at,
            addresses: invite.addresses.iter().map(|a| a.to_string()).collect(),
        })
    }

    /// Open invites and used ones that have not expired, newest first.
    pub async fn list_invites(&self) -> Result<Vec<InviteInfo>, ApiError> {
        let now = now_millis();
        let rows = self
            .shared
            .store
            .call(move |c| store::list_invites(c, now))
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| InviteInfo {
                id: row.id,
                created_at: row.created_at,
                expires_at: row.expires_at,
                used_by: row.redeemed_by.map(|peer| InviteUse {
                    peer_id: peer.to_base58(),
                    fingerprint: fingerprint(&peer),
                    display_name: row.redeemer_name.clone(),
                    at: row.redeemed_at.unwrap_or(row.created_at),
                }),
            })
            .collect())
    }

    /// Revokes an invite: its link stops working at once. A friendship it made stays.
    pub async fn revoke_invite(&self, id: i64) -> Result<(), ApiError> {
        let removed = self
            .shared
            .store
            .call(move |c| store::revoke_invite(c, id))
            .await?;
        if !removed {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "There is no such invite (it may have expired).",
            ));
        }
        self.publish(Event::InvitesChanged);
        Ok(())
    }

    /// What a link would do, read without acting on it or touching the network.
    pub async fn inspect_link(&self, link: &str) -> Result<LinkPreview, ApiError> {
        let invite = Invite::parse(link, now_millis())
            .map_err(|e| ApiError::invalid_input(e.to_string()))?;
        let inviter = invite.inviter;
        if inviter == self.shared.net.local_peer_id() {
            return Err(ApiError::invalid_input(
                invite::InviteError::OwnInvite.to_string(),
            ));
        }
        let row = self.row(inviter).await?;
        let standing = match row.as_ref().map(|r| r.relationship) {
            None => LinkStanding::Stranger,
            Some(Relationship::Friend) => LinkStanding::Friend,
            Some(Relationship::RequestedOut) => LinkStanding::RequestedOut,
            Some(Relationship::RequestedIn) => LinkStanding::RequestedIn,
            Some(Relationship::Blocked) => LinkStanding::Blocked,
        };
        Ok(LinkPreview::Invite {
            inviter: inviter.to_base58(),
            fingerprint: fingerprint(&inviter),
            expires_at: invite.expires_at,
            standing,
            display_name: row.and_then(|r| r.display_name),
        })
    }

    pub async fn redeem_invite(&self, link: &str) -> Result<Friend, ApiError> {
        let invite = Invite::parse(link, now_millis())
            .map_err(|e| ApiError::invalid_input(e.to_string()))?;
        let inviter = invite.inviter;
        if inviter == self.shared.net.local_peer_id() {
            return Err(ApiError::invalid_input(
                invite::InviteError::OwnInvite.to_string(),
            ));
        }
        match self.relationship(inviter).await? {
            Some(Relationship::Blocked) => {
                return Err(ApiError::invalid_input(
                    "You blocked the person who sent this invite. Unblock them in Friends first.",
                ))
            }
            Some(Relationship::Friend) => {
                return self.friend(inviter).await?.ok_or_else(|| {
                    ApiError::new(ErrorKind::NotFound, "That friend was just removed.")
                });
            }
            Some(Relationship::RequestedOut) | Some(Relationship::RequestedIn) | None => {}
        }
        let secret = invite.secret_text();
        let answer = self
            .ask(
                inviter,
                invite.addresses.clone(),
                |profile| PairRequest::Redeem { secret, profile },
                "Your friend's computer",
            )
            .await?;
        match answer {
            PairResponse::Friends { profile } => {
                let addresses = invite.addresses;
                let Some(friend) = self.become_friends(inviter, &profile).await? else {
                    return Err(blocked_meanwhile());
                };
                self.shared
                    .store
                    .call(move |c| store::add_addresses(c, &inviter, &addresses))
                    .await?;
                Ok(friend)
            }
            PairResponse::Refused { reason } => Err(refusal_error(reason)),
            other @ (PairResponse::Pending | PairResponse::Ack) => Err(internal(&format!(
                "unexpected answer to an invite: {other:?}"
            ))),
        }
    }

    pub async fn list_friends(&self) -> Result<Vec<Friend>, ApiError> {
        let rows = self.rows(Relationship::Friend).await?;
        Ok(rows.into_iter().map(|row| self.to_friend(row)).collect())
    }

    pub async fn list_requests(&self) -> Result<(Vec<PeerCard>, Vec<PeerCard>), ApiError> {
        let incoming = self.rows(Relationship::RequestedIn).await?;
        let outgoing = self.rows(Relationship::RequestedOut).await?;
        Ok((
            incoming.into_iter().map(to_card).collect(),
            outgoing.into_iter().map(to_card).collect(),
        ))
    }

    pub async fn list_blocked(&self) -> Result<Vec<PeerCard>, ApiError> {
        Ok(self
            .rows(Relationship::Blocked)
            .await?
            .into_iter()
            .map(to_card)
            .collect())
    }

    pub async fn send_friend_request(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        match self.relationship(peer).await? {
            Some(Relationship::Friend) => {
                return Err(ApiError::invalid_input("You are already friends."))
            }
            Some(Relationship::Blocked) => {
                return Err(ApiError::invalid_input(
                    "You blocked this peer. Unblock them first.",
                ))
            }
            Some(Relationship::RequestedIn) => {
                // They asked first: sending ours is accepting theirs.
                return self.accept_request(peer_id).await.map(|_| ());
            }
            Some(Relationship::RequestedOut) | None => {}
        }
        let addresses = self.known_addresses(peer).await?;
        let answer = self
            .ask(
                peer,
                addresses,
                |profile| PairRequest::Request { profile },
                "That peer",
            )
            .await?;
        match answer {
            PairResponse::Pending => {
                let now = now_millis();
                self.shared
                    .store
                    .call(move |c| store::set(c, &peer, Relationship::RequestedOut, None, now))
                    .await?;
                self.sync_friend_set().await?;
                self.publish(Event::RequestsChanged);
                Ok(())
            }
            PairResponse::Friends { profile } => match self.become_friends(peer, &profile).await? {
                Some(_) => Ok(()),
                None => Err(blocked_meanwhile()),
            },
            PairResponse::Refused { reason } => Err(refusal_error(reason)),
            PairResponse::Ack => Err(internal("unexpected answer to a friend request")),
        }
    }

    pub async fn accept_request(&self, peer_id: &str) -> Result<Friend, ApiError> {
        let peer = self.parse_other(peer_id)?;
        if self.relationship(peer).await? != Some(Relationship::RequestedIn) {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "There is no request from that peer.",
            ));
        }
        let addresses = self.known_addresses(peer).await?;
        let answer = self
            .ask(
                peer,
                addresses,
                |profile| PairRequest::Accepted { profile },
                "The person who asked",
            )
            .await?;
        match answer {
            PairResponse::Friends { profile } => self
                .become_friends(peer, &profile)
                .await?
                .ok_or_else(blocked_meanwhile),
            PairResponse::Refused {
                reason: Refusal::Busy,
            } => {
                // Their flood limits, not their answer: the request stays for another try.
                Err(refusal_error(Refusal::Busy))
            }
            PairResponse::Refused {
                reason:
                    Refusal::NotFriends
                    | Refusal::InvalidInvite
                    | Refusal::InviteExpired
                    | Refusal::InviteAlreadyUsed,
            } => {
                // They withdrew their request meanwhile.
                self.shared
                    .store
                    .call(move |c| store::delete_if(c, &peer, &[Relationship::RequestedIn]))
                    .await?;
                self.publish(Event::RequestsChanged);
                Err(ApiError::new(
                    ErrorKind::NotFound,
                    "They withdrew their request.",
                ))
            }
            other @ (PairResponse::Pending | PairResponse::Ack) => Err(internal(&format!(
                "unexpected answer to an acceptance: {other:?}"
            ))),
        }
    }

    pub async fn reject_request(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        match self.relationship(peer).await? {
            Some(Relationship::RequestedIn) | Some(Relationship::RequestedOut) => {
                let requests = [Relationship::RequestedIn, Relationship::RequestedOut];
                self.shared
                    .store
                    .call(move |c| store::delete_if(c, &peer, &requests))
                    .await?;
                self.sync_friend_set().await?;
                self.publish(Event::RequestsChanged);
                Ok(())
            }
            Some(Relationship::Friend) | Some(Relationship::Blocked) | None => Err(ApiError::new(
                ErrorKind::NotFound,
                "There is no pending request with that peer.",
            )),
        }
    }

    /// Ends a friendship: forgotten here (with every invite they redeemed), and told to them.
    pub async fn remove_friend(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        if self.relationship(peer).await? != Some(Relationship::Friend) {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "That peer is not your friend.",
            ));
        }
        self.forget(peer).await?;
        // Tell them, if they are there; they learn nothing new either way.
        let net = self.shared.net.clone();
        supervise::spawn("friends", self.shared.events.clone(), async move {
            let _ = net.send_pair(peer, Vec::new(), PairRequest::Unfriend).await;
        });
        Ok(())
    }

    pub async fn block(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        let was = self.relationship(peer).await?;
        let now = now_millis();
        self.shared
            .store
            .call(move |c| store::block(c, &peer, now))
            .await?;
        // The store is the truth (the block list is loaded from it at every start): whatever the
        // network says, stop dialling them and take them out of the friend set.
        self.lock_redial().forget(&peer);
        self.sync_friend_set().await?;
        self.shared.net.block(peer).await.map_err(net_error)?;
        match was {
            Some(Relationship::Friend) => {
                self.publish(Event::FriendRemoved {
                    peer_id: peer.to_base58(),
                });
                self.publish(Event::InvitesChanged);
            }
            Some(Relationship::RequestedIn) | Some(Relationship::RequestedOut) => {
                self.publish(Event::RequestsChanged)
            }
            Some(Relationship::Blocked) | None => {}
        }
        self.publish(Event::BlockedChanged);
        if let Ok(peers) = self.nearby().await {
            self.publish(Event::NearbyChanged { peers });
        }
        Ok(())
    }

    pub async fn unblock(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        if self.relationship(peer).await? != Some(Relationship::Blocked) {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "That peer is not blocked.",
            ));
        }
        self.shared
            .store
            .call(move |c| store::delete_if(c, &peer, &[Relationship::Blocked]))
            .await?;
        self.shared.net.unblock(peer).await.map_err(net_error)?;
        self.publish(Event::BlockedChanged);
        Ok(())
    }

    /// Sends our new profile to every connected friend.
    pub async fn announce_profile(&self) {
        let Ok(friends) = self.rows(Relationship::Friend).await else {
            return;
        };
        for row in friends {
            if self.connection(&row.peer).is_some() {
                supervise::spawn(
                    "friends",
                    self.shared.events.clone(),
                    self.clone().greet(row.peer),
                );
            }
        }
    }

    /// Refused, malformed and deferred network input since start.
    pub fn net_stats(&self) -> NetStats {
        self.shared.net.stats().snapshot()
    }

    /// Sends `peer` the request `make` builds around our profile card, for an action the user
    /// waits on; `who` names the peer in the error when they cannot be reached.
    async fn ask(
        &self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        make: impl FnOnce(crate::net::protocol::ProfileCard) -> PairRequest,
        who: &str,
    ) -> Result<PairResponse, ApiError> {
        let request = make(self.my_card().await?);
        self.send_pair_retrying(peer, addresses, request)
            .await
            .map_err(|e| unreachable_error(who, e))
    }

    /// Sends a pairing request the user is waiting on, trying once more after a short pause when
    /// no address answered: one of several concurrent dials failing (a hole-punch attempt, a
    /// stale address) can fail a request whose relayed path was about to succeed.
    async fn send_pair_retrying(
        &self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        request: PairRequest,
    ) -> Result<PairResponse, NetError> {
        match self
            .shared
            .net
            .send_pair(peer, addresses.clone(), request.clone())
            .await
        {
            Err(NetError::Unreachable(first)) => {
                tracing::debug!(%peer, error = %first, "pairing request unreachable; retrying once");
                tokio::time::sleep(PAIR_RETRY_PAUSE).await;
                self.shared.net.send_pair(peer, addresses, request).await
            }
            other => other,
        }
    }

    async fn known_addresses(&self, peer: PeerId) -> Result<Vec<Multiaddr>, StoreError> {
        let mut addresses = lock(&self.shared.nearby)
            .get(&peer)
            .cloned()
            .unwrap_or_default();
        if let Some(row) = self.row(peer).await? {
            addresses.extend(row.addresses);
        }
        Ok(addresses)
    }
}

/// The error for a peer's refusal: `Busy` is theirs to lift (retry later, like an unreachable
/// peer); the others are final for this link or request.
fn refusal_error(reason: Refusal) -> ApiError {
    match reason {
        Refusal::Busy => ApiError::new(ErrorKind::Unreachable, reason.explain()),
        Refusal::InvalidInvite
        | Refusal::InviteExpired
        | Refusal::InviteAlreadyUsed
        | Refusal::NotFriends => ApiError::invalid_input(reason.explain()),
    }
}

fn blocked_meanwhile() -> ApiError {
    ApiError::invalid_input("You blocked this person meanwhile, so they were not added.")
}
