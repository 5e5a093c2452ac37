//! The one surface both front ends speak (design §5).
//!
//! `Request` is every operation; `Engine::call` answers it with a `Response` or an `ApiError`;
//! `Event`s are facts pushed as they happen. All are serde enums internally tagged with `"type"`
//! and snake_case names, so a call on the wire reads `{"type":"set_profile","display_name":"Ada"}`.
//! TypeScript types are generated from these into `ui/src/bindings/api.ts` (see [`crate::bindings`]).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// An operation on the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Who and where this peer is.
    Status,
    /// The user's own profile.
    GetProfile,
    /// Change the display name (1–64 characters after trimming).
    SetProfile {
        display_name: String,
    },
    /// A one-time invite link (valid 24 hours unless `lifetime_secs` says otherwise).
    CreateInvite {
        #[ts(optional, as = "Option<u32>")]
        lifetime_secs: Option<u64>,
    },
    /// Redeem a friend's invite link: on success both sides are friends.
    RedeemInvite {
        link: String,
    },
    ListFriends,
    /// Pending friend requests, both ways.
    ListRequests,
    /// Ask a peer (usually one found nearby) to be friends.
    SendFriendRequest {
        peer_id: String,
    },
    AcceptRequest {
        peer_id: String,
    },
    /// Decline an incoming request, or withdraw an outgoing one. The other side is not told.
    RejectRequest {
        peer_id: String,
    },
    RemoveFriend {
        peer_id: String,
    },
    /// Refuse every connection from the peer; drops friendship and requests.
    Block {
        peer_id: String,
    },
    Unblock {
        peer_id: String,
    },
    ListBlocked,
    /// Earshot peers found on the local network.
    ListNearby,
    /// The relays this peer reserves on (Settings).
    GetRelays,
    /// Replace the relays chosen in Settings; each is `/…/p2p/<relay peer id>`. Applied at once.
    SetRelays {
        relays: Vec<String>,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Status(Status),
    Profile(Profile),
    Invite(InviteLink),
    Friend(Friend),
    Friends {
        friends: Vec<Friend>,
    },
    Requests {
        incoming: Vec<PeerCard>,
        outgoing: Vec<PeerCard>,
    },
    Blocked {
        peers: Vec<PeerCard>,
    },
    Nearby {
        peers: Vec<NearbyPeer>,
    },
    /// Relays chosen in Settings, and those given on the command line for this run.
    Relays {
        relays: Vec<String>,
        from_command_line: Vec<String>,
    },
    /// The operation was carried out; there is nothing to return.
    Done,
}

/// An invite to share as a link or QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InviteLink {
    /// `earshot://invite/…`
    pub link: String,
    /// Unix milliseconds.
    #[ts(type = "number")]
    pub expires_at: i64,
    /// The addresses the link tells the friend to try.
    pub addresses: Vec<String>,
}

/// A friend, with how they are connected right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Friend {
    pub peer_id: String,
    /// Their name as they chose it (or a short form of their id until they tell us).
    pub display_name: String,
    /// `null` when offline.
    pub connection: Option<ConnectionKind>,
    /// Unix milliseconds since we became friends.
    #[ts(type = "number")]
    pub since: i64,
    /// Unix milliseconds of the last connection, if any.
    #[ts(type = "number | null")]
    pub last_seen: Option<i64>,
}

pub use crate::net::ConnectionKind;

/// A peer in a request or block list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PeerCard {
    pub peer_id: String,
    /// What they called themselves, if they said.
    pub display_name: Option<String>,
    /// Unix milliseconds since the request or block.
    #[ts(type = "number")]
    pub since: i64,
}

/// An Earshot peer on the local network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NearbyPeer {
    pub peer_id: String,
    /// Their name, when they are a friend or asked to be one; `null` for a stranger.
    pub display_name: Option<String>,
    /// `friend`, `requested_out` or `requested_in`; `null` for a stranger.
    pub relationship: Option<Relationship>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Friend,
    RequestedOut,
    RequestedIn,
}

/// This peer: identity, version, where its data lives, and its network state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Status {
    /// The libp2p peer id derived from the identity key (base58, `12D3KooW…`).
    pub peer_id: String,
    pub app_version: String,
    pub data_dir: String,
    /// Addresses the node listens on; empty while networking is off.
    pub listen_addrs: Vec<String>,
    /// Whether the peer-to-peer node is running.
    pub online: bool,
}

/// The user's own profile, as friends will see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Profile {
    pub display_name: String,
}

/// A fact pushed to every subscriber as it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    ProfileChanged(Profile),
    /// The addresses this peer can be reached at changed.
    ListenAddressesChanged {
        listen_addrs: Vec<String>,
    },
    FriendAdded(Friend),
    /// A friend's name or connection changed.
    FriendUpdated(Friend),
    FriendRemoved {
        peer_id: String,
    },
    /// Someone asked to be friends.
    RequestReceived(PeerCard),
    /// The pending requests changed (sent, accepted, rejected, withdrawn).
    RequestsChanged,
    BlockedChanged,
    NearbyChanged {
        peers: Vec<NearbyPeer>,
    },
}

/// Why a call failed. `kind` tells the caller what to do; `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Machine-readable error classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request could not be parsed (bad JSON, unknown `type`, missing fields). Fix the caller.
    MalformedRequest,
    /// The request was understood but a value is not acceptable. Show the message to the user.
    InvalidInput,
    /// The thing asked about does not exist.
    NotFound,
    /// The database failed; the message names the file. Retrying may help if it was busy.
    Storage,
    /// The other peer could not be reached or did not answer. Retry when they are online.
    Unreachable,
    /// The operation needs networking, which is off for this engine.
    Offline,
    /// The engine is shutting down; the request was not carried out.
    ShuttingDown,
    /// A bug: nothing the caller can do but report it.
    Internal,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::MalformedRequest, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_tagged_with_a_snake_case_type() {
        let request: Request =
            serde_json::from_value(json!({"type": "set_profile", "display_name": "Ada"}))
                .expect("a set_profile request to parse");
        assert_eq!(
            request,
            Request::SetProfile {
                display_name: "Ada".into()
            }
        );
        assert_eq!(
            serde_json::to_value(Request::Status).unwrap(),
            json!({"type": "status"})
        );
    }

    #[test]
    fn responses_flatten_their_payload_beside_the_tag() {
        let response = Response::Profile(Profile {
            display_name: "Ada".into(),
        });
        assert_eq!(
            serde_json::to_value(response).unwrap(),
            json!({"type": "profile", "display_name": "Ada"})
        );
    }

    #[test]
    fn an_unknown_request_type_is_a_parse_error() {
        let parsed = serde_json::from_value::<Request>(json!({"type": "launch_rockets"}));
        assert!(parsed.is_err(), "unknown types must not parse: {parsed:?}");
    }

    #[test]
    fn errors_carry_a_machine_readable_kind() {
        let error = ApiError::invalid_input("too long");
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"kind": "invalid_input", "message": "too long"})
        );
    }
}
