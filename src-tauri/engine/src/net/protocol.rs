//! The `/earshot/pair/1` protocol: pairing, friend requests and the friends' hello.
//!
//! Request-response over CBOR with explicit size limits. Every request is answered by the
//! receiving peer's friends service, which first checks who is asking: a stranger may only redeem
//! an invite or send a friend request, and is told nothing about the user in return.

use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

pub const PAIR_PROTOCOL: StreamProtocol = StreamProtocol::new("/earshot/pair/1");

/// Largest pairing request or response accepted (16 KiB): a profile card and a secret fit many
/// times over; anything bigger is an attack or a bug.
pub const MAX_PAIR_MESSAGE: u64 = 16 * 1024;

/// What a peer tells its friends about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileCard {
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairRequest {
    /// "I hold your invite": the secret from the link (base64url), and who I am.
    Redeem {
        secret: String,
        profile: ProfileCard,
    },
    /// "Will you be my friend?" — from a peer found nearby.
    Request { profile: ProfileCard },
    /// "I accepted your request" — answers an earlier `Request` of the receiver.
    Accepted { profile: ProfileCard },
    /// Friends greet each other on every connection, exchanging current profiles.
    Hello { profile: ProfileCard },
    /// "We are no longer friends."
    Unfriend,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairResponse {
    /// We are friends; here is who I am.
    Friends { profile: ProfileCard },
    /// Your request is waiting for the user's answer.
    Pending,
    /// Noted.
    Ack,
    /// Refused, with a reason that reveals nothing about the user.
    Refused { reason: Refusal },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The invite's secret is unknown (forged, or from another peer).
    InvalidInvite,
    InviteExpired,
    InviteAlreadyUsed,
    /// Only friends may do that.
    NotFriends,
    /// Too many requests from this peer or from strangers in general, or the peer is overwhelmed:
    /// nothing was stored; try again later.
    Busy,
}

impl Refusal {
    pub fn explain(self) -> &'static str {
        match self {
            Refusal::InvalidInvite => {
                "The invite is not valid: it may have been mistyped, or it was revoked."
            }
            Refusal::InviteExpired => "The invite has expired. Ask your friend for a new one.",
            Refusal::InviteAlreadyUsed => {
                "The invite has already been used. Ask your friend for a new one."
            }
            Refusal::NotFriends => {
                "That peer does not accept this from someone who is not their friend."
            }
            Refusal::Busy => {
                "That peer is receiving too many requests right now. Try again in a minute."
            }
        }
    }
}
