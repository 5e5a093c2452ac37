//! The Listening Activity part of the API: what friends are listening to, and what this user
//! shares (design §6 `presence`; the engine side is `crate::presence`).
//!
//! Sharing is opt-in and friends-only. Times are unix milliseconds on *this* machine's clock: a
//! friend sends durations ("played 4 minutes ago", "at 1:12 now"), never its own clock, so a
//! friend whose clock is wrong still shows the right "N minutes ago".

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The six reactions a friend's activity offers, in the order the window shows them.
pub const ACTIVITY_EMOJIS: [&str; 6] = ["❤️", "🔥", "😂", "😮", "😢", "👏"];

/// What a friend's status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ActivityState {
    /// Playing now: the position advances from `position_ms` at `as_of`.
    Playing,
    /// Paused at `position_ms` since `as_of`.
    Paused,
    /// Nothing plays: the last track they played, at `as_of`.
    LastPlayed,
}

/// A track in someone's activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ActivityTrack {
    /// Its content hash: the same file in any library has the same hash.
    pub hash: String,
    pub title: String,
    pub artist: String,
    pub album: String,
    #[ts(type = "number")]
    pub duration_ms: u64,
    /// A small JPEG cover as a `data:` URL, when the friend has art.
    pub cover: Option<String>,
}

/// A friend's listening activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Activity {
    pub track: ActivityTrack,
    pub state: ActivityState,
    /// The position in the track at `as_of`.
    #[ts(type = "number")]
    pub position_ms: u64,
    /// Unix milliseconds (this machine's clock): when `position_ms` was true, when playback
    /// paused, or when the track was last played.
    #[ts(type = "number")]
    pub as_of: i64,
    /// Whether this user's own library holds the same file (then it plays from there).
    pub in_library: bool,
}

/// A friend and what they are listening to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FriendActivity {
    pub peer_id: String,
    pub fingerprint: String,
    pub display_name: String,
    pub online: bool,
    /// `null`: they share nothing (sharing off, a private session, or never heard from).
    pub activity: Option<Activity>,
}

/// This user's sharing switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ActivitySettings {
    /// Friends see what this user listens to (off until the user turns it on).
    pub sharing: bool,
    /// Nothing is shared until this is turned off or Earshot restarts.
    pub private_session: bool,
}
