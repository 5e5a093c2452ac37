//! The messages part of the API: conversations, entries as the window shows them, requests,
//! reports and search (design §6 "Conversation logs"; the engine side is `crate::chat`).
//!
//! Conversation and entry ids are lowercase hex of 32-byte BLAKE3 hashes. Times are unix
//! milliseconds from the author's hybrid logical clock, so every member sorts entries the same way.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A direct (1:1) conversation or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}

/// Where a conversation stands for this user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// In the inbox.
    Active,
    /// A message request from a group member who is not a friend: under *Requests* until the
    /// user accepts or declines.
    Request,
    /// Declined, reported, or left: kept for history, hidden from the inbox, nothing new accepted.
    Hidden,
}

/// A member's role in a group. Direct conversations have two members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Made the group; names admins.
    Creator,
    /// May add and remove members and rename the group.
    Admin,
    Member,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Member {
    pub peer_id: String,
    pub fingerprint: String,
    pub display_name: String,
    pub role: MemberRole,
    pub is_me: bool,
    pub is_friend: bool,
    pub online: bool,
}

/// A conversation as the inbox lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Conversation {
    pub id: String,
    pub kind: ConversationKind,
    pub state: ConversationState,
    /// The group's name, or the other person's name in a direct conversation.
    pub title: String,
    /// The other person, in a direct conversation.
    pub peer_id: Option<String>,
    /// Whether the other person (direct) is online now.
    pub online: bool,
    /// Whether the other person told us they turned Messages off.
    pub messages_off: bool,
    pub members: Vec<Member>,
    /// The last message, one line, for the inbox.
    pub last: Option<String>,
    #[ts(type = "number | null")]
    pub last_at: Option<i64>,
    pub unread: u32,
    /// For a message request: the groups this person and the user share.
    pub shared_groups: Vec<String>,
    /// Whether this user may add and remove members and rename (groups).
    pub can_manage: bool,
}

/// What a share card points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ShareKind {
    Track,
    Album,
    Playlist,
}

/// A shared track, album or playlist, as every member sees it (it carries everything needed to
/// show it; the tracks are named by content hash so a recipient plays its own copy when it has
/// one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ShareCard {
    pub kind: ShareKind,
    pub title: String,
    pub artist: String,
    #[ts(type = "number")]
    pub duration_ms: u64,
    /// The tracks' content hashes, in order (one for a track).
    pub hashes: Vec<String>,
    /// A small JPEG cover as a `data:` URL, if the sharer had art.
    pub cover: Option<String>,
    /// How many of `hashes` this peer's library holds (filled in by the receiver).
    pub local_tracks: u32,
    /// Set when this is a reaction to the recipient's listening activity: the emoji, attached
    /// to the track.
    pub reaction: Option<String>,
}

/// What to share, from this user's library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShareTarget {
    Track {
        hash: String,
    },
    Album {
        album: String,
        album_artist: String,
    },
    Playlist {
        #[ts(type = "number")]
        id: i64,
    },
}

/// The people who reacted with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Reaction {
    pub emoji: String,
    pub names: Vec<String>,
    pub mine: bool,
}

/// The entry a reply quotes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Quote {
    pub id: String,
    pub author_name: String,
    /// The first line of the quoted text (or the share's title); empty if it was deleted.
    pub excerpt: String,
    pub deleted: bool,
}

/// How far one of the user's own entries got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Delivery {
    /// Other members who hold it.
    pub delivered: u32,
    /// Other members who have read it.
    pub read: u32,
    /// Other members in all.
    pub of: u32,
}

/// A line in a conversation: a message, or a note about the group ("Ada added Bo").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Share,
    /// Created, renamed, members added or removed, admins named, someone left.
    Notice,
}

/// One entry as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ChatMessage {
    pub id: String,
    pub conversation: String,
    pub kind: MessageKind,
    pub author: String,
    pub author_name: String,
    pub mine: bool,
    #[ts(type = "number")]
    pub at: i64,
    /// The text (current version after edits); empty once deleted.
    pub text: String,
    pub share: Option<ShareCard>,
    pub reply_to: Option<Quote>,
    pub edited: bool,
    /// Deleted by its author: only a tombstone is left, on every member's store.
    pub deleted: bool,
    pub reactions: Vec<Reaction>,
    /// For the user's own entries.
    pub delivery: Option<Delivery>,
}

/// A page of a conversation, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MessagePage {
    pub messages: Vec<ChatMessage>,
    /// Whether older messages exist (ask again with `before` = the first id).
    pub more: bool,
}

/// A full-text search hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SearchHit {
    pub conversation: String,
    pub conversation_title: String,
    pub entry: String,
    pub author_name: String,
    #[ts(type = "number")]
    pub at: i64,
    /// The matching text, each match between U+E000 and U+E001 (private-use characters that
    /// entries never contain), so the window highlights them without parsing HTML.
    pub snippet: String,
}

/// A report kept on this machine (there is no server to send it to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Report {
    #[ts(type = "number")]
    pub id: i64,
    pub peer_id: String,
    pub display_name: String,
    pub conversation: String,
    pub reason: String,
    #[ts(type = "number")]
    pub created_at: i64,
    /// The reported entries, as they were.
    pub messages: Vec<ChatMessage>,
}

/// Counters of refused conversation input since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ChatStats {
    /// Entries whose signature did not verify, or whose author is not the key that signed.
    #[ts(type = "number")]
    pub bad_signature: u64,
    /// Entries whose author, or whose sender, is not a member of the conversation.
    #[ts(type = "number")]
    pub not_member: u64,
    /// Entries of a conversation this peer does not know and may not join that way.
    #[ts(type = "number")]
    pub unknown_conversation: u64,
    /// Entries that do not decode, break a limit (text length, size, members) or claim a time
    /// too far in the future.
    #[ts(type = "number")]
    pub malformed: u64,
    /// Entries dropped because their sender went over its budget (entries and bytes per second);
    /// anti-entropy offers them again later. (Sync requests over the network loop's own per-peer
    /// limit are counted in `net_stats.rate_limited`.)
    #[ts(type = "number")]
    pub rate_limited: u64,
    /// Sync requests refused because Messages are off, or from a blocked peer.
    #[ts(type = "number")]
    pub refused: u64,
    /// Entries stored from other peers.
    #[ts(type = "number")]
    pub received: u64,
    /// Entries received again (already held): idempotent delivery at work.
    #[ts(type = "number")]
    pub duplicates: u64,
    /// Ranges of a fetched track that did not match the track's hash (fetched again).
    #[ts(type = "number")]
    pub bad_ranges: u64,
}
