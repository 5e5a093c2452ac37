//! The conversation log (design §6): signed entries, per-author sequence numbers and hybrid
//! logical time. Pure: no store, no network, time passed in.
//!
//! A conversation is a grow-only set of entries. Each carries its author, the author's next
//! sequence number in that conversation, a hybrid logical timestamp and the author's ed25519
//! signature over the CBOR body, so any member can forward it and any receiver can verify it. The
//! entry's id is the BLAKE3 hash of its signed bytes, so receiving it twice changes nothing.
//! Every member orders entries by `(hlc, author, seq)`: the same order everywhere.
//!
//! The rules that make replicas converge whatever order entries arrive in live here too:
//! - an edit replaces the text when its time is later than the current edit's (last writer wins);
//! - a delete is final: it names every sequence number it redacts (the message and its edits),
//!   and a redacted entry keeps only its header (a tombstone);
//! - a reaction is on or off by the latest `(hlc, seq)` per (target, reactor, emoji);
//! - membership is recomputed from the membership entries in log order ([`Membership`]).

use std::collections::BTreeMap;

use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

/// Longest text of a message or an edit, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Largest signed body accepted (a share card's cover thumbnail is the big part).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest cover thumbnail in a share card.
pub const MAX_COVER_BYTES: usize = 40 * 1024;
/// Most members of a group, its creator included.
pub const MAX_MEMBERS: usize = 32;
/// Longest group name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest reaction (an emoji with its modifiers), in bytes.
pub const MAX_EMOJI_BYTES: usize = 32;
/// Most tracks named by one share card.
pub const MAX_SHARE_TRACKS: usize = 500;
/// The largest sequence number (a trillion entries per author and conversation; it keeps every
/// stored number well inside SQLite's signed 64-bit integers).
pub const MAX_SEQ: u64 = 1 << 40;
/// How far into the future an entry's time may be. A peer whose clock runs ahead could otherwise
/// drag every member's logical clock along with it forever.
pub const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// A 32-byte hash (conversation ids, entry ids), serialised as a CBOR byte string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash32(pub [u8; 32]);

pub type ConversationId = Hash32;
pub type EntryId = Hash32;

impl Hash32 {
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    pub fn from_hex(text: &str) -> Option<Hash32> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .ok()?;
        Some(Hash32(bytes.try_into().ok()?))
    }
}

impl std::fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", &self.to_hex()[..12])
    }
}

impl Serialize for Hash32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = bytes::deserialize(d)?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))?;
        Ok(Hash32(array))
    }
}

/// Serde helpers for `Vec<u8>` as a CBOR byte string (not an array of numbers).
pub mod bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(Visitor)
    }
}

/// Hybrid logical time: wall-clock milliseconds, and a counter for events within one millisecond
/// (or while the wall clock lags a time already seen). Ordered by `(millis, counter)`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Hlc {
    pub millis: u64,
    pub counter: u32,
}

impl Hlc {
    /// The time of a new local event after `self`, with the wall clock at `now_ms`.
    pub fn tick(self, now_ms: u64) -> Hlc {
        if now_ms > self.millis {
            Hlc {
                millis: now_ms,
                counter: 0,
            }
        } else {
            self.successor()
        }
    }

    /// Our clock after seeing `remote` (never behind anything seen).
    pub fn observe(self, remote: Hlc) -> Hlc {
        self.max(remote)
    }

    fn successor(self) -> Hlc {
        match self.counter.checked_add(1) {
            Some(counter) => Hlc {
                millis: self.millis,
                counter,
            },
            None => Hlc {
                millis: self.millis + 1,
                counter: 0,
            },
        }
    }
}

/// A member's standing as recorded in a group's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Creator,
    Admin,
    Member,
}

/// A track, album or playlist as shared (the wire form of `api::ShareCard`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub kind: ShareKind,
    pub title: String,
    pub artist: String,
    pub duration_ms: u64,
    pub hashes: Vec<Hash32>,
    #[serde(with = "bytes")]
    pub cover_jpeg: Vec<u8>,
    /// A reaction to the recipient's listening activity: the emoji, attached to this track.
    /// (Absent from ordinary shares, whose signed bytes stay as they were.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShareKind {
    Track,
    Album,
    Playlist,
}

/// What an entry says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A group's first entry: its name and first members (the author is the creator). The
    /// conversation id is [`group_id`] of the author and `nonce`, so no one else can claim it.
    Create {
        name: String,
        members: Vec<PeerBytes>,
        #[serde(with = "bytes")]
        nonce: Vec<u8>,
    },
    Text {
        text: String,
        reply_to: Option<EntryId>,
    },
    Share {
        share: Share,
        text: String,
    },
    React {
        target: EntryId,
        emoji: String,
        on: bool,
    },
    /// New text for the author's own message `target`.
    Edit {
        target: EntryId,
        text: String,
    },
    /// The author's own message `target` is gone, with every sequence number that carried its
    /// content (the message and its edits): those are redacted to tombstones.
    Delete {
        target: EntryId,
        seqs: Vec<u64>,
    },
    AddMembers {
        members: Vec<PeerBytes>,
    },
    RemoveMember {
        member: PeerBytes,
    },
    SetAdmin {
        member: PeerBytes,
        admin: bool,
    },
    Rename {
        name: String,
    },
    Leave,
    /// Everything up to this time has been read by the author.
    Read {
        upto: Hlc,
    },
}

/// A peer id's bytes, serialised as a CBOR byte string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerBytes(#[serde(with = "bytes")] pub Vec<u8>);

impl PeerBytes {
    pub fn of(peer: &PeerId) -> PeerBytes {
        PeerBytes(peer.to_bytes())
    }

    pub fn peer(&self) -> Option<PeerId> {
        PeerId::from_bytes(&self.0).ok()
    }
}

impl std::fmt::Debug for PeerBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.peer() {
            Some(peer) => write!(f, "{peer}"),
            None => write!(f, "<bad peer id>"),
        }
    }
}

/// The signed part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub conversation: ConversationId,
    pub author: PeerBytes,
    pub seq: u64,
    pub hlc: Hlc,
    pub kind: Kind,
}

/// An entry as it travels and is stored: the CBOR body, the author's public key (protobuf) and
/// the signature over the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    #[serde(with = "bytes")]
    pub body: Vec<u8>,
    #[serde(with = "bytes")]
    pub key: Vec<u8>,
    #[serde(with = "bytes")]
    pub signature: Vec<u8>,
}

/// A redacted entry's header: all that is kept (and forwarded) of a deleted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub conversation: ConversationId,
    pub author: PeerBytes,
    pub seq: u64,
    pub hlc: Hlc,
    pub id: EntryId,
}

/// What goes over the wire in a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wire {
    Entry(Signed),
    /// Accepted only beside, or after, the author's signed `Delete` naming its sequence number.
    Tombstone(Tombstone),
}

/// A verified entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    pub author: PeerId,
    pub body: Body,
    pub signed: Signed,
}

impl Entry {
    /// The order every member agrees on.
    pub fn order(&self) -> (Hlc, PeerBytes, u64) {
        (self.body.hlc, self.body.author.clone(), self.body.seq)
    }
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the entry does not decode: {0}")]
    Malformed(String),
    #[error("the signature does not verify, or the key is not the author's")]
    BadSignature,
    #[error("the entry breaks a limit: {0}")]
    Limit(&'static str),
    #[error("the entry claims a time too far in the future")]
    FromTheFuture,
}

/// The id of a direct conversation between two peers: the same from both sides.
pub fn direct_id(a: &PeerId, b: &PeerId) -> ConversationId {
    let (a, b) = (a.to_bytes(), b.to_bytes());
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let mut hasher = blake3::Hasher::new_derive_key("earshot 2026-11 direct conversation id");
    hasher.update(&(first.len() as u32).to_le_bytes());
    hasher.update(&first);
    hasher.update(&second);
    Hash32(*hasher.finalize().as_bytes())
}

/// The id of a group made by `creator` with `nonce`.
pub fn group_id(creator: &PeerId, nonce: &[u8]) -> ConversationId {
    let creator = creator.to_bytes();
    let mut hasher = blake3::Hasher::new_derive_key("earshot 2026-11 group conversation id");
    hasher.update(&(creator.len() as u32).to_le_bytes());
    hasher.update(&creator);
    hasher.update(nonce);
    Hash32(*hasher.finalize().as_bytes())
}

fn entry_id(signed: &Signed) -> EntryId {
    let mut hasher = blake3::Hasher::new_derive_key("earshot 2026-11 conversation entry id");
    for part in [&signed.body, &signed.key, &signed.signature] {
        hasher.update(&(part.len() as u32).to_le_bytes());
        hasher.update(part);
    }
    Hash32(*hasher.finalize().as_bytes())
}

/// Signs a new entry.
pub fn sign(keypair: &Keypair, body: Body) -> Result<Entry, Invalid> {
    let author = keypair.public().to_peer_id();
    let encoded =
        cbor4ii::serde::to_vec(Vec::new(), &body).map_err(|e| Invalid::Malformed(e.to_string()))?;
    let signature = keypair
        .sign(&encoded)
        .map_err(|e| Invalid::Malformed(e.to_string()))?;
    let signed = Signed {
        body: encoded,
        key: keypair.public().encode_protobuf(),
        signature,
    };
    check_limits(&body)?;
    Ok(Entry {
        id: entry_id(&signed),
        author,
        body,
        signed,
    })
}

/// Verifies a received entry: the key is the author's, the signature holds, the body decodes,
/// respects every limit and is not from the future (`now_ms` is our wall clock).
pub fn verify(signed: Signed, now_ms: u64) -> Result<Entry, Invalid> {
    if signed.body.len() > MAX_BODY_BYTES {
        return Err(Invalid::Limit("body size"));
    }
    let key = PublicKey::try_decode_protobuf(&signed.key).map_err(|_| Invalid::BadSignature)?;
    if !key.verify(&signed.body, &signed.signature) {
        return Err(Invalid::BadSignature);
    }
    let body: Body =
        cbor4ii::serde::from_slice(&signed.body).map_err(|e| Invalid::Malformed(e.to_string()))?;
    let author = key.to_peer_id();
    if body.author.peer() != Some(author) {
        return Err(Invalid::BadSignature);
    }
    if body.hlc.millis > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(Invalid::FromTheFuture);
    }
    check_limits(&body)?;
    if let Kind::Create { nonce, .. } = &body.kind {
        if body.conversation != group_id(&author, nonce) {
            return Err(Invalid::Limit("group id"));
        }
    }
    Ok(Entry {
        id: entry_id(&signed),
        author,
        body,
        signed,
    })
}

fn check_limits(body: &Body) -> Result<(), Invalid> {
    if body.seq == 0 || body.seq > MAX_SEQ {
        return Err(Invalid::Limit("sequence numbers run from 1 to 2^40"));
    }
    let text_ok = |t: &str| t.chars().count() <= MAX_TEXT_CHARS;
    let name_ok = |n: &str| {
        let n = n.trim();
        !n.is_empty() && n.chars().count() <= MAX_NAME_CHARS && !n.chars().any(char::is_control)
    };
    let ok = match &body.kind {
        Kind::Create {
            name,
            members,
            nonce,
        } => {
            name_ok(name)
                && members.len() < MAX_MEMBERS
                && nonce.len() == 16
                && members.iter().all(|m| m.peer().is_some())
        }
        Kind::Text { text, .. } => !text.trim().is_empty() && text_ok(text),
        Kind::Share { share, text } => {
            text_ok(text)
                && !share.hashes.is_empty()
                && share.hashes.len() <= MAX_SHARE_TRACKS
                && share.cover_jpeg.len() <= MAX_COVER_BYTES
                && share.title.chars().count() <= 512
                && share.artist.chars().count() <= 512
                && share
                    .reaction
                    .as_deref()
                    .is_none_or(|e| crate::api::ACTIVITY_EMOJIS.contains(&e))
        }
        Kind::React { emoji, .. } => emoji_ok(emoji),
        Kind::Edit { text, .. } => !text.trim().is_empty() && text_ok(text),
        Kind::Delete { seqs, .. } => !seqs.is_empty() && seqs.len() <= 1000,
        Kind::AddMembers { members } => {
            !members.is_empty()
                && members.len() < MAX_MEMBERS
                && members.iter().all(|m| m.peer().is_some())
        }
        Kind::RemoveMember { member } | Kind::SetAdmin { member, .. } => member.peer().is_some(),
        Kind::Rename { name } => name_ok(name),
        Kind::Leave | Kind::Read { .. } => true,
    };
    if ok {
        Ok(())
    } else {
        Err(Invalid::Limit("a field is empty, too long or too many"))
    }
}

/// A group's members as its membership entries say, applied in log order. Entries that were not
/// allowed when they were made (a non-admin adding someone, a 33rd member) change nothing, on
/// every member alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    pub name: String,
    pub members: BTreeMap<PeerId, Role>,
    /// Everyone who was ever a member (their old entries stay valid after they leave), with the
    /// time they stopped being one (`None` while they are). What a former member writes after
    /// that time is kept (so replicas agree) but never shown.
    pub ever: BTreeMap<PeerId, Option<Hlc>>,
    /// The time of the entry being applied.
    now: Hlc,
}

impl Membership {
    /// The members of a direct conversation.
    pub fn direct(a: PeerId, b: PeerId) -> Membership {
        let members: BTreeMap<PeerId, Role> =
            [(a, Role::Member), (b, Role::Member)].into_iter().collect();
        let ever = members.keys().map(|p| (*p, None)).collect();
        Membership {
            name: String::new(),
            members,
            ever,
            now: Hlc::default(),
        }
    }

    /// Replays a group's membership entries; `entries` may come in any order.
    pub fn replay<'a>(
        entries: impl IntoIterator<Item = (&'a PeerId, &'a Hlc, u64, &'a Kind)>,
    ) -> Membership {
        let mut sorted: Vec<_> = entries.into_iter().collect();
        sorted.sort_by(|a, b| (a.1, a.0.to_bytes(), a.2).cmp(&(b.1, b.0.to_bytes(), b.2)));
        let mut state = Membership::default();
        // The group starts with its (single, valid) Create; nothing before it counts.
        let Some(start) = sorted
            .iter()
            .position(|(_, _, _, k)| matches!(k, Kind::Create { .. }))
        else {
            return state;
        };
        for (author, hlc, _, kind) in &sorted[start..] {
            state.now = **hlc;
            state.apply(author, kind);
        }
        state
    }

    fn is_admin(&self, peer: &PeerId) -> bool {
        matches!(self.members.get(peer), Some(Role::Creator | Role::Admin))
    }

    fn add(&mut self, peer: PeerId, role: Role) {
        if self.members.len() < MAX_MEMBERS && !self.members.contains_key(&peer) {
            self.members.insert(peer, role);
            self.ever.insert(peer, None);
        }
    }

    fn apply(&mut self, author: &PeerId, kind: &Kind) {
        match kind {
            Kind::Create { name, members, .. } => {
                if !self.members.is_empty() {
                    return; // a second Create (only its author could make one) changes nothing
                }
                self.name = name.trim().to_string();
                self.add(*author, Role::Creator);
                for member in members.iter().filter_map(PeerBytes::peer) {
                    self.add(member, Role::Member);
                }
            }
            Kind::AddMembers { members } => {
                if self.is_admin(author) {
                    for member in members.iter().filter_map(PeerBytes::peer) {
                        self.add(member, Role::Member);
                    }
                }
            }
            Kind::RemoveMember { member } => {
                if let Some(member) = member.peer() {
                    let target_is_creator = self.members.get(&member) == Some(&Role::Creator);
                    if self.is_admin(author)
                        && !target_is_creator
                        && self.members.remove(&member).is_some()
                    {
                        self.ever.insert(member, Some(self.now));
                    }
                }
            }
            Kind::SetAdmin { member, admin } => {
                if let Some(member) = member.peer() {
                    let by_creator = self.members.get(author) == Some(&Role::Creator);
                    if let (true, Some(role)) = (by_creator, self.members.get_mut(&member)) {
                        if *role != Role::Creator {
                            *role = if *admin { Role::Admin } else { Role::Member };
                        }
                    }
                }
            }
            Kind::Rename { name } => {
                if self.is_admin(author) {
                    self.name = name.trim().to_string();
                }
            }
            Kind::Leave => {
                let was = self.members.remove(author);
                if was.is_some() {
                    self.ever.insert(*author, Some(self.now));
                }
                if was == Some(Role::Creator) {
                    // The group goes on: an admin (else a member), the first by peer id, takes over.
                    let heir = self
                        .members
                        .iter()
                        .find(|(_, r)| **r == Role::Admin)
                        .or_else(|| self.members.iter().next())
                        .map(|(p, _)| *p);
                    if let Some(heir) = heir {
                        self.members.insert(heir, Role::Creator);
                    }
                }
            }
            Kind::Text { .. }
            | Kind::Share { .. }
            | Kind::React { .. }
            | Kind::Edit { .. }
            | Kind::Delete { .. }
            | Kind::Read { .. } => {}
        }
    }
}

/// Whether a membership entry (as opposed to content).
pub fn is_membership(kind: &Kind) -> bool {
    match kind {
        Kind::Create { .. }
        | Kind::AddMembers { .. }
        | Kind::RemoveMember { .. }
        | Kind::SetAdmin { .. }
        | Kind::Rename { .. }
        | Kind::Leave => true,
        Kind::Text { .. }
        | Kind::Share { .. }
        | Kind::React { .. }
        | Kind::Edit { .. }
        | Kind::Delete { .. }
        | Kind::Read { .. } => false,
    }
}

/// The short name of an entry's kind, as stored.
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Create { .. } => "create",
        Kind::Text { .. } => "text",
        Kind::Share { .. } => "share",
        Kind::React { .. } => "react",
        Kind::Edit { .. } => "edit",
        Kind::Delete { .. } => "delete",
        Kind::AddMembers { .. } => "add_members",
        Kind::RemoveMember { .. } => "remove_member",
        Kind::SetAdmin { .. } => "set_admin",
        Kind::Rename { .. } => "rename",
        Kind::Leave => "leave",
        Kind::Read { .. } => "read",
    }
}

/// Encodes an entry for the store (the signed form).
pub fn encode_signed(signed: &Signed) -> Vec<u8> {
    cbor4ii::serde::to_vec(Vec::new(), signed).unwrap_or_default()
}

pub fn decode_signed(bytes: &[u8]) -> Result<Signed, Invalid> {
    cbor4ii::serde::from_slice(bytes).map_err(|e| Invalid::Malformed(e.to_string()))
}

/// A reaction's emoji: short, and nothing that steers the text around it.
pub fn emoji_ok(emoji: &str) -> bool {
    !emoji.is_empty()
        && emoji.len() <= MAX_EMOJI_BYTES
        && !emoji
            .chars()
            .any(|c| c.is_control() || crate::profile::is_forbidden_in_name(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(keypair: &Keypair, seq: u64, kind: Kind) -> Body {
        let me = keypair.public().to_peer_id();
        Body {
            conversation: direct_id(&me, &PeerId::random()),
            author: PeerBytes::of(&me),
            seq,
            hlc: Hlc {
                millis: 1_000,
                counter: 0,
            },
            kind,
        }
    }

    fn text(t: &str) -> Kind {
        Kind::Text {
            text: t.into(),
            reply_to: None,
        }
    }

    #[test]
    fn a_signed_entry_verifies_and_keeps_its_id() {
        let keypair = Keypair::generate_ed25519();
        let entry = sign(&keypair, body(&keypair, 1, text("hi"))).unwrap();
        let verified = verify(entry.signed.clone(), 2_000).unwrap();
        assert_eq!(verified.id, entry.id);
        assert_eq!(verified.author, keypair.public().to_peer_id());
    }

    #[test]
    fn another_keys_signature_is_refused() {
        let (alice, mallory) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        // Mallory signs a body that claims Alice wrote it.
        let forged = sign(&mallory, body(&alice, 1, text("send me money"))).unwrap();
        assert_eq!(verify(forged.signed, 2_000), Err(Invalid::BadSignature));
    }

    #[test]
    fn a_changed_body_is_refused() {
        let keypair = Keypair::generate_ed25519();
        let mut signed = sign(&keypair, body(&keypair, 1, text("hi")))
            .unwrap()
            .signed;
        let last = signed.body.len() - 1;
        signed.body[last] ^= 1;
        assert!(verify(signed, 2_000).is_err());
    }

    #[test]
    fn limits_are_enforced_on_receipt() {
        let keypair = Keypair::generate_ed25519();
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(sign(&keypair, body(&keypair, 1, text(&long))).is_err());
        assert!(sign(&keypair, body(&keypair, 0, text("seq 0"))).is_err());
        assert!(sign(&keypair, body(&keypair, MAX_SEQ + 1, text("too far"))).is_err());
        let exact = "é".repeat(MAX_TEXT_CHARS);
        assert!(sign(&keypair, body(&keypair, 1, text(&exact))).is_ok());
    }

    #[test]
    fn an_entry_from_the_future_is_refused() {
        let keypair = Keypair::generate_ed25519();
        let mut ahead = body(&keypair, 1, text("hi"));
        ahead.hlc.millis = 1_000 + MAX_CLOCK_SKEW_MS + 1;
        let entry = sign(&keypair, ahead).unwrap();
        assert_eq!(
            verify(entry.signed.clone(), 1_000).map(|e| e.id),
            Err(Invalid::FromTheFuture)
        );
        assert!(
            verify(entry.signed, 2_000).is_ok(),
            "within the skew once our clock catches up"
        );
    }

    #[test]
    fn hlc_ticks_forward_even_when_the_wall_clock_steps_back() {
        let t = Hlc::default().tick(100);
        assert_eq!(
            t,
            Hlc {
                millis: 100,
                counter: 0
            }
        );
        let u = t.tick(50);
        assert_eq!(
            u,
            Hlc {
                millis: 100,
                counter: 1
            }
        );
        assert!(u.tick(100) > u);
        let seen = Hlc {
            millis: 500,
            counter: 3,
        };
        assert!(u.observe(seen).tick(200) > seen);
    }

    #[test]
    fn direct_ids_are_the_same_from_both_sides() {
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(direct_id(&a, &b), direct_id(&b, &a));
        assert_ne!(direct_id(&a, &b), direct_id(&a, &PeerId::random()));
    }

    #[test]
    fn a_group_belongs_to_the_key_that_made_it() {
        let (alice, mallory) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let nonce = vec![7u8; 16];
        let conversation = group_id(&alice.public().to_peer_id(), &nonce);
        let create = Kind::Create {
            name: "Band".into(),
            members: vec![],
            nonce,
        };
        let mut claim = body(&mallory, 1, create);
        claim.conversation = conversation;
        let entry = sign(&mallory, claim).unwrap();
        assert_eq!(
            verify(entry.signed, 2_000).map(|_| ()),
            Err(Invalid::Limit("group id"))
        );
    }

    fn at(ms: u64) -> Hlc {
        Hlc {
            millis: ms,
            counter: 0,
        }
    }

    #[test]
    fn membership_follows_admin_rights_in_log_order() {
        let (ada, bo, cy, di) = (
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
        );
        let create = Kind::Create {
            name: "Band".into(),
            members: vec![PeerBytes::of(&bo)],
            nonce: vec![0; 16],
        };
        let bo_adds_cy = Kind::AddMembers {
            members: vec![PeerBytes::of(&cy)],
        };
        let ada_names_bo = Kind::SetAdmin {
            member: PeerBytes::of(&bo),
            admin: true,
        };
        let bo_adds_di = Kind::AddMembers {
            members: vec![PeerBytes::of(&di)],
        };
        // Bo adds Cy before being made admin (ignored), then Di after (kept); given shuffled.
        let log = [
            (&bo, &at(4), 2, &bo_adds_di),
            (&ada, &at(1), 1, &create),
            (&bo, &at(2), 1, &bo_adds_cy),
            (&ada, &at(3), 2, &ada_names_bo),
        ];
        let state = Membership::replay(log);
        assert_eq!(state.name, "Band");
        assert_eq!(state.members.get(&ada), Some(&Role::Creator));
        assert_eq!(state.members.get(&bo), Some(&Role::Admin));
        assert!(!state.members.contains_key(&cy));
        assert!(state.members.contains_key(&di));
    }

    #[test]
    fn when_the_creator_leaves_an_admin_takes_over() {
        let (ada, bo, cy) = (PeerId::random(), PeerId::random(), PeerId::random());
        let create = Kind::Create {
            name: "Band".into(),
            members: vec![PeerBytes::of(&bo), PeerBytes::of(&cy)],
            nonce: vec![0; 16],
        };
        let admin = Kind::SetAdmin {
            member: PeerBytes::of(&cy),
            admin: true,
        };
        let log = [
            (&ada, &at(1), 1, &create),
            (&ada, &at(2), 2, &admin),
            (&ada, &at(3), 3, &Kind::Leave),
        ];
        let state = Membership::replay(log);
        assert!(!state.members.contains_key(&ada));
        assert_eq!(state.members.get(&cy), Some(&Role::Creator));
        assert!(state.ever.contains_key(&ada));
    }
}
