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

// ── /earshot/sync/1 ─────────────────────────────────────────────────────────────────────────

/// Anti-entropy for conversation logs (design §6): "here is what I hold", answered with what the
/// asker lacks and what the answerer holds, so one round trip and one push bring both up to date.
/// Only friends and members of a conversation we share may speak it; the network loop refuses
/// anyone else before the chat service sees a byte.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/earshot/sync/1");

/// Largest sync message (8 MiB): up to [`MAX_SYNC_ENTRIES`] entries of at most 64 KiB would not
/// fit, so senders also stop a batch at [`SYNC_BATCH_BYTES`].
pub const MAX_SYNC_MESSAGE: u64 = 8 * 1024 * 1024;
/// Most entries in one sync message.
pub const MAX_SYNC_ENTRIES: usize = 1024;
/// A batch is closed once its entries reach this many bytes.
pub const SYNC_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Most conversations summarised in one request.
pub const MAX_SYNC_CONVERSATIONS: usize = 4096;

/// What a peer says about itself on every sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncHello {
    pub display_name: String,
    pub messages_off: bool,
    /// Where the sender listens (at most [`MAX_HINT_ADDRESSES`]), so members who are not its
    /// friends can reach it.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// Most addresses given for one peer.
pub const MAX_HINT_ADDRESSES: usize = 8;
/// Most peers whose addresses one sync message carries.
pub const MAX_HINTS: usize = 64;

/// Where a fellow member can be reached, as the sender knows it. Only a hint: dialling checks the
/// peer's key, so a wrong address costs a failed dial and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerHint {
    pub peer: crate::chat::log::PeerBytes,
    pub addresses: Vec<String>,
    /// Its name as the sender knows it (shown until the peer tells its own).
    #[serde(default)]
    pub display_name: Option<String>,
}

/// What one peer holds of one conversation: per author, the highest sequence number held with no
/// gap before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub conversation: crate::chat::log::ConversationId,
    pub have: Vec<(crate::chat::log::PeerBytes, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// What I hold of the conversations we share; answer with what I lack.
    Have {
        hello: SyncHello,
        conversations: Vec<Summary>,
        #[serde(default)]
        peers: Vec<PeerHint>,
    },
    /// Entries you lack (new ones, or the second half of a `Have`).
    Push {
        entries: Vec<crate::chat::log::Wire>,
    },
    /// My name or my Messages switch changed.
    Hello { hello: SyncHello },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// What you lack (`more`: ask again for the rest), and what I hold of every conversation we
    /// share, so you can push what I lack.
    Missing {
        hello: SyncHello,
        entries: Vec<crate::chat::log::Wire>,
        more: bool,
        have: Vec<Summary>,
        #[serde(default)]
        peers: Vec<PeerHint>,
    },
    /// Stored; what I now hold of the conversations concerned (delivery receipts).
    Stored {
        have: Vec<Summary>,
    },
    /// Noted.
    Ack,
    Refused {
        reason: SyncRefusal,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRefusal {
    /// The user turned Messages off: nothing is accepted.
    MessagesOff,
    /// Too many requests, or the peer is overwhelmed: try again later.
    Busy,
    /// Only friends and members of a shared conversation may sync.
    NotAllowed,
}

// ── /earshot/transfer/1 ─────────────────────────────────────────────────────────────────────

/// Audio bytes by content hash (design §6): ranges of a file in the owner's library. A friend may
/// fetch any track; anyone else only a track the owner shared in a conversation they are a member
/// of. The fetcher first asks for the file's outline (its 512 KiB groups' BLAKE3 chaining values,
/// `chat::outline`), checks it against the hash, then checks every range as it arrives.
pub const TRANSFER_PROTOCOL: StreamProtocol = StreamProtocol::new("/earshot/transfer/1");
/// Bytes asked for at most in one request.
pub const MAX_CHUNK: u32 = 512 * 1024;
/// Largest transfer message: a chunk and its framing.
pub const MAX_TRANSFER_MESSAGE: u64 = MAX_CHUNK as u64 + 4096;
/// Largest file fetched (a 2-hour 24-bit FLAC fits).
pub const MAX_TRANSFER_FILE: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferRequest {
    /// The size, extension and outline of the track whose BLAKE3 is `hash`.
    Outline { hash: crate::chat::log::Hash32 },
    /// `length` bytes (at most [`MAX_CHUNK`]) from `offset` of the track whose BLAKE3 is `hash`.
    Range {
        hash: crate::chat::log::Hash32,
        offset: u64,
        length: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferResponse {
    /// The bytes (fewer at the end of the file), the file's size and its extension (a hint for
    /// the decoder).
    Bytes {
        total: u64,
        extension: String,
        #[serde(with = "crate::chat::log::bytes")]
        data: Vec<u8>,
    },
    /// The file's size, extension, and its groups' chaining values (32 bytes each; empty for a
    /// file of one group or less).
    Outline {
        total: u64,
        extension: String,
        #[serde(with = "crate::chat::log::bytes")]
        groups: Vec<u8>,
    },
    Refused {
        reason: TransferRefusal,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferRefusal {
    /// No such track in the library (or its file is gone).
    NotFound,
    /// Only friends, and members of a conversation the track was shared in.
    NotAllowed,
    /// Too many requests: try again in a moment.
    Busy,
}

// ── /earshot/presence/1 ─────────────────────────────────────────────────────────────────────

/// Listening activity pushed to online friends (design §6). Only friends get past the network
/// loop; the presence service checks again against the store before it keeps anything.
pub const PRESENCE_PROTOCOL: StreamProtocol = StreamProtocol::new("/earshot/presence/1");
/// Largest presence message: a small cover and a few names.
pub const MAX_PRESENCE_MESSAGE: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PresenceRequest {
    /// What I am listening to now; `None` withdraws my status (sharing off, private session).
    Activity {
        activity: Option<crate::presence::wire::WireActivity>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PresenceResponse {
    Ack,
    /// Not friends, or too many updates: the sender tries again with its latest later.
    Refused {
        reason: PresenceRefusal,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PresenceRefusal {
    NotAllowed,
    Busy,
    Malformed,
}

// ── /earshot/jam/1 (the clock exchanges are on plain streams: `net/clock.rs`) ─────────────────────────────────────────────────────

/// Invitations, joins, queue changes and the host's timeline (messages in `crate::jam::wire`).
/// Friends, co-members and the current jam's participants get past the network loop; the jam
/// service checks each message against its state.
pub const JAM_PROTOCOL: StreamProtocol = StreamProtocol::new("/earshot/jam/1");
