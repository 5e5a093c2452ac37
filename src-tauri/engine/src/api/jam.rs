//! The Jam part of the API: listening together in sync, with a shared queue (design §7; the
//! engine side is `crate::jam`).
//!
//! One jam at a time. The host's clock is the jam's timeline; every participant — the host too —
//! plays so that the same sample leaves every device at the same instant. The usual transport
//! calls (`pause`, `resume`, `toggle_pause`, `next`, `previous`, `seek`) act on the jam while one
//! is on, for the host, and for guests when guest controls are on.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How a participant's playback stands against the jam's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Measuring the clock offset to the host.
    Measuring,
    /// Waiting for the track's bytes to arrive.
    Buffering,
    /// Playing on the timeline (or paused with everyone).
    InSync,
    /// Nothing to play.
    Idle,
}

/// Someone in the jam.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct JamParticipant {
    pub peer_id: String,
    pub display_name: String,
    pub is_host: bool,
    pub is_you: bool,
    /// How their playback stands, as they last reported it (`null` until they do).
    pub sync: Option<SyncState>,
    /// How far their sound is from the timeline at their device (µs, positive: late).
    #[ts(type = "number | null")]
    pub error_us: Option<i64>,
}

/// A track in the jam's queue, and who added it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct JamEntry {
    /// Names the entry in `jam_queue_remove` / `jam_queue_move` / `jam_play_entry`.
    pub entry_id: u32,
    pub hash: String,
    pub title: String,
    pub artist: String,
    pub album: String,
    #[ts(type = "number")]
    pub duration_ms: u64,
    pub added_by: String,
    pub added_by_name: String,
    /// Whether this user's library holds the file (else it is fetched from the jam).
    pub in_library: bool,
}

/// This user's jam.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct JamState {
    pub jam_id: String,
    pub host_peer_id: String,
    pub host_name: String,
    pub you_host: bool,
    pub participants: Vec<JamParticipant>,
    pub queue: Vec<JamEntry>,
    /// The entry playing (or paused on).
    pub current: Option<u32>,
    pub playing: bool,
    /// Where the music is, at `as_of` (unix ms, this machine's clock).
    #[ts(type = "number")]
    pub position_ms: u64,
    #[ts(type = "number")]
    pub as_of: i64,
    /// Guests may reorder, remove, skip, play, pause and seek.
    pub guest_controls: bool,
    /// Whether this user may (host, or guest controls on).
    pub can_control: bool,
    pub sync: SyncState,
    /// The host's clock minus this peer's, as measured (µs); `null` while measuring or hosting.
    #[ts(type = "number | null")]
    pub offset_to_host_us: Option<i64>,
    /// The typical round trip to the host (µs).
    #[ts(type = "number | null")]
    pub rtt_us: Option<i64>,
    /// How far this peer's sound is from the timeline (µs, positive: late), as its player
    /// measures it at the device.
    #[ts(type = "number | null")]
    pub error_us: Option<i64>,
    /// This listener's output offset (ms): sound is played this much earlier, for speakers that
    /// add their own delay (Bluetooth).
    pub output_offset_ms: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum JamInviteKind {
    /// To join a jam that is on.
    Invite,
    /// "Jam with me": the one asked hosts.
    Request,
}

/// An invitation or a request to jam, waiting for an answer; it disappears after two minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct JamInvite {
    pub invite_id: String,
    pub kind: JamInviteKind,
    /// True when someone asked this user; false when this user asked someone.
    pub incoming: bool,
    pub peer_id: String,
    pub display_name: String,
    /// What the host is playing (invitations).
    pub playing: Option<String>,
    #[ts(type = "number")]
    pub expires_in_ms: u64,
}

/// Why the jam ended for this user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum JamEnd {
    /// This user left.
    Left,
    /// The host ended it, or everyone else left.
    Ended,
    /// The host could not be reached for too long.
    Lost,
}
