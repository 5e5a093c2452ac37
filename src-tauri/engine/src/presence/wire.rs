//! What travels in `/earshot/presence/1`, and the pure rules around it: what this user's
//! activity is, given the player and the last play; whether a friend's update is well formed;
//! and what the window shows for it.
//!
//! A friend's clock is never trusted: the wire carries durations ("4 minutes ago", "at 1:12"),
//! and the receiver turns them into times on its own clock when the update arrives.

use serde::{Deserialize, Serialize};

use crate::api::{Activity, ActivityState, ActivityTrack, PlaybackState, PlayerState, Track};
use crate::chat::log::{self, Hash32};

/// Longest title, artist or album kept from a friend (characters).
pub const MAX_FIELD_CHARS: usize = 256;
/// Longest track a status may claim (a day).
const MAX_DURATION_MS: u64 = 24 * 3600 * 1000;
/// Oldest "last played" a status may claim (ten years).
const MAX_AGO_MS: u64 = 10 * 365 * 24 * 3600 * 1000;
/// A seek of more than this (against where playback should be by now) is news to friends.
pub const SEEK_NEWS_MS: i64 = 3000;

/// A track and where its listener is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireActivity {
    pub hash: Hash32,
    pub title: String,
    pub artist: String,
    pub album: String,
    pub duration_ms: u64,
    pub state: WireState,
    /// A small JPEG (at most [`log::MAX_COVER_BYTES`]), or empty.
    #[serde(with = "crate::chat::log::bytes")]
    pub cover_jpeg: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireState {
    Playing { position_ms: u64 },
    Paused { position_ms: u64, ago_ms: u64 },
    LastPlayed { ago_ms: u64 },
}

/// Why a friend's update was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("a cover that is not a small JPEG")]
    Cover,
    #[error("a duration or time out of range")]
    Time,
    #[error("a track with no title")]
    Title,
}

/// Checks a friend's update and cleans its text (no control characters or bidirectional
/// overrides, at most [`MAX_FIELD_CHARS`] each).
pub fn validate(mut activity: WireActivity) -> Result<WireActivity, Malformed> {
    if !cover_ok(&activity.cover_jpeg) {
        return Err(Malformed::Cover);
    }
    if activity.duration_ms > MAX_DURATION_MS {
        return Err(Malformed::Time);
    }
    let in_track = |position: u64| position <= activity.duration_ms.saturating_add(60_000);
    let times_ok = match activity.state {
        WireState::Playing { position_ms } => in_track(position_ms),
        WireState::Paused {
            position_ms,
            ago_ms,
        } => in_track(position_ms) && ago_ms <= MAX_AGO_MS,
        WireState::LastPlayed { ago_ms } => ago_ms <= MAX_AGO_MS,
    };
    if !times_ok {
        return Err(Malformed::Time);
    }
    activity.title = clean(&activity.title);
    activity.artist = clean(&activity.artist);
    activity.album = clean(&activity.album);
    if activity.title.is_empty() {
        return Err(Malformed::Title);
    }
    Ok(activity)
}

/// Largest cover edge accepted: a small JPEG can claim a huge picture (a decompression bomb for
/// the window); ours are thumbnails of 160 pixels.
const MAX_COVER_EDGE: u32 = 1024;

/// Empty, or a small JPEG of modest dimensions (read from its header, nothing decoded).
fn cover_ok(cover: &[u8]) -> bool {
    if cover.is_empty() {
        return true;
    }
    if cover.len() > log::MAX_COVER_BYTES || !cover.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return false;
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(cover));
    reader.set_format(image::ImageFormat::Jpeg);
    reader
        .into_dimensions()
        .is_ok_and(|(w, h)| w > 0 && h > 0 && w <= MAX_COVER_EDGE && h <= MAX_COVER_EDGE)
}

/// Cleans text from a peer: no control or bidi-override characters, trimmed, cut to 256 characters.
pub(crate) fn clean(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| !crate::profile::is_forbidden_in_name(*c))
        .collect();
    kept.trim()
        .chars()
        .take(MAX_FIELD_CHARS)
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// What the window shows for an update that arrived at `received` (our clock).
pub fn to_activity(activity: &WireActivity, received: i64, in_library: bool) -> Activity {
    let ago = |ms: u64| received.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX));
    let (state, position_ms, as_of) = match activity.state {
        WireState::Playing { position_ms } => (ActivityState::Playing, position_ms, received),
        WireState::Paused {
            position_ms,
            ago_ms,
        } => (ActivityState::Paused, position_ms, ago(ago_ms)),
        WireState::LastPlayed { ago_ms } => (ActivityState::LastPlayed, 0, ago(ago_ms)),
    };
    Activity {
        track: ActivityTrack {
            hash: activity.hash.to_hex(),
            title: activity.title.clone(),
            artist: activity.artist.clone(),
            album: activity.album.clone(),
            duration_ms: activity.duration_ms,
            cover: (!activity.cover_jpeg.is_empty()).then(|| {
                format!(
                    "data:image/jpeg;base64,{}",
                    data_encoding::BASE64.encode(&activity.cover_jpeg)
                )
            }),
        },
        state,
        position_ms,
        as_of,
        in_library,
    }
}

/// A friend went offline: a "playing" status becomes "last played" at that moment. Returns
/// whether it changed (the caller then dates it to now).
pub fn gone_offline(activity: &mut WireActivity) -> bool {
    match activity.state {
        WireState::Playing { .. } => {
            activity.state = WireState::LastPlayed { ago_ms: 0 };
            true
        }
        WireState::Paused { .. } | WireState::LastPlayed { .. } => false,
    }
}

/// The last track this user played, and when (unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastPlay {
    pub track: Track,
    pub played_at: i64,
}

/// Where this user's player stands, as the presence service follows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Listening {
    /// Playing `track` from `position_ms` at `at` (unix ms).
    Playing {
        track: Track,
        position_ms: u64,
        at: i64,
    },
    /// Paused at `position_ms` since `since`.
    Paused {
        track: Track,
        position_ms: u64,
        since: i64,
    },
    /// Nothing plays.
    #[default]
    Idle,
}

impl Listening {
    /// Follows a player update that arrived at `now`; the pause time survives repeated
    /// "still paused" updates.
    pub fn follow(&self, player: &PlayerState, now: i64) -> Listening {
        let Some(track) = player.current.as_deref() else {
            return Listening::Idle;
        };
        match player.state {
            PlaybackState::Playing => Listening::Playing {
                track: track.clone(),
                position_ms: player.position_ms,
                at: now,
            },
            PlaybackState::Paused => {
                let since = match self {
                    Listening::Paused {
                        track: before,
                        since,
                        ..
                    } if before.hash == track.hash => *since,
                    Listening::Playing { .. } | Listening::Paused { .. } | Listening::Idle => now,
                };
                Listening::Paused {
                    track: track.clone(),
                    position_ms: player.position_ms,
                    since,
                }
            }
            PlaybackState::Stopped => Listening::Idle,
        }
    }

    /// Whether friends need to hear of the change from `self` to `next`: another track, another
    /// state, or a seek (the position is not where playing on would have taken it).
    pub fn is_news(&self, next: &Listening) -> bool {
        match (self, next) {
            (
                Listening::Playing {
                    track,
                    position_ms,
                    at,
                },
                Listening::Playing {
                    track: next_track,
                    position_ms: next_position,
                    at: next_at,
                },
            ) => {
                let expected = *position_ms as i64 + (next_at - at);
                track.hash != next_track.hash
                    || (*next_position as i64 - expected).abs() > SEEK_NEWS_MS
            }
            (
                Listening::Paused {
                    track, position_ms, ..
                },
                Listening::Paused {
                    track: next_track,
                    position_ms: next_position,
                    ..
                },
            ) => track.hash != next_track.hash || position_ms.abs_diff(*next_position) > 1000,
            (Listening::Idle, Listening::Idle) => false,
            (Listening::Playing { .. } | Listening::Paused { .. } | Listening::Idle, _) => true,
        }
    }

    /// What friends are told at `now`: the track playing or paused, else the last one played.
    pub fn to_wire(
        &self,
        last: Option<&LastPlay>,
        cover_jpeg: Vec<u8>,
        now: i64,
    ) -> Option<WireActivity> {
        let since = |t: i64| u64::try_from(now.saturating_sub(t)).unwrap_or(0);
        let (track, state) = match self {
            Listening::Playing {
                track,
                position_ms,
                at,
            } => (
                track,
                WireState::Playing {
                    position_ms: position_ms
                        .saturating_add(since(*at))
                        .min(track.duration_ms),
                },
            ),
            Listening::Paused {
                track,
                position_ms,
                since: paused,
            } => (
                track,
                WireState::Paused {
                    position_ms: *position_ms,
                    ago_ms: since(*paused),
                },
            ),
            Listening::Idle => {
                let last = last?;
                (
                    &last.track,
                    WireState::LastPlayed {
                        ago_ms: since(last.played_at),
                    },
                )
            }
        };
        Some(WireActivity {
            hash: Hash32::from_hex(&track.hash)?,
            title: clip(&track.title),
            artist: clip(&track.artist),
            album: clip(&track.album),
            duration_ms: track.duration_ms.min(MAX_DURATION_MS),
            state,
            cover_jpeg,
        })
    }

    /// The track friends would be told about (for its cover).
    pub fn track<'a>(&'a self, last: Option<&'a LastPlay>) -> Option<&'a Track> {
        match self {
            Listening::Playing { track, .. } | Listening::Paused { track, .. } => Some(track),
            Listening::Idle => last.map(|l| &l.track),
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_FIELD_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RepeatMode;

    fn track(hash_byte: u8, title: &str) -> Track {
        Track {
            hash: Hash32([hash_byte; 32]).to_hex(),
            path: format!("/music/{title}.flac"),
            title: title.into(),
            artists: vec!["Ada".into()],
            artist: "Ada".into(),
            album: "Shore".into(),
            album_artist: "Ada".into(),
            track_no: Some(1),
            disc_no: None,
            track_total: None,
            disc_total: None,
            compilation: false,
            year: None,
            genre: String::new(),
            duration_ms: 200_000,
            sample_rate: 44_100,
            channels: 2,
            codec: "flac".into(),
            art: None,
        }
    }

    fn player(state: PlaybackState, current: Option<Track>, position_ms: u64) -> PlayerState {
        PlayerState {
            state,
            index: current.as_ref().map(|_| 0),
            current: current.map(Box::new),
            queue_len: 1,
            queue_version: 0,
            position_ms,
            volume: 100,
            shuffle: false,
            repeat: RepeatMode::Off,
            device: None,
            chosen_device: None,
        }
    }

    #[test]
    fn playing_is_shared_with_the_position_it_has_reached() {
        let now = 1_000_000;
        let playing = Listening::Idle.follow(
            &player(PlaybackState::Playing, Some(track(1, "Gulls")), 5_000),
            now,
        );
        let wire = playing.to_wire(None, Vec::new(), now + 2_000).unwrap();
        assert_eq!(wire.title, "Gulls");
        assert_eq!(wire.state, WireState::Playing { position_ms: 7_000 });
    }

    #[test]
    fn a_pause_keeps_the_time_it_began_through_later_updates() {
        let gulls = track(1, "Gulls");
        let paused = Listening::Idle.follow(
            &player(PlaybackState::Paused, Some(gulls.clone()), 5_000),
            1_000,
        );
        let still = paused.follow(&player(PlaybackState::Paused, Some(gulls), 5_000), 60_000);
        assert!(!paused.is_news(&still));
        let wire = still.to_wire(None, Vec::new(), 121_000).unwrap();
        assert_eq!(
            wire.state,
            WireState::Paused {
                position_ms: 5_000,
                ago_ms: 120_000
            }
        );
    }

    #[test]
    fn idle_falls_back_to_the_last_played_track() {
        let last = LastPlay {
            track: track(2, "Tide"),
            played_at: 1_000,
        };
        let idle = Listening::Idle.follow(&player(PlaybackState::Stopped, None, 0), 5_000);
        let wire = idle.to_wire(Some(&last), Vec::new(), 301_000).unwrap();
        assert_eq!(wire.title, "Tide");
        assert_eq!(wire.state, WireState::LastPlayed { ago_ms: 300_000 });
        assert_eq!(
            Listening::Idle.to_wire(None, Vec::new(), 1),
            None,
            "nothing ever played"
        );
    }

    #[test]
    fn a_new_track_a_pause_and_a_seek_are_news_but_playing_on_is_not() {
        let gulls = track(1, "Gulls");
        let at = |position, now| Listening::Playing {
            track: gulls.clone(),
            position_ms: position,
            at: now,
        };
        assert!(!at(0, 0).is_news(&at(10_000, 10_000)), "playing on");
        assert!(at(0, 0).is_news(&at(60_000, 10_000)), "a seek forward");
        assert!(at(0, 0).is_news(&Listening::Playing {
            track: track(2, "Tide"),
            position_ms: 0,
            at: 1
        }));
        assert!(at(0, 0).is_news(&Listening::Idle));
        let paused = Listening::Paused {
            track: gulls.clone(),
            position_ms: 3,
            since: 3,
        };
        assert!(at(0, 0).is_news(&paused));
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::DynamicImage::new_rgb8(width, height)
            .write_to(
                &mut std::io::Cursor::new(&mut out),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        out
    }

    #[test]
    fn a_friends_update_is_cleaned_and_bounded() {
        let good = WireActivity {
            hash: Hash32([7; 32]),
            title: "\u{202E}Gulls\u{7}".into(),
            artist: "x".repeat(1000),
            album: String::new(),
            duration_ms: 1000,
            state: WireState::Playing { position_ms: 10 },
            cover_jpeg: jpeg(64, 64),
        };
        let kept = validate(good.clone()).unwrap();
        assert_eq!(kept.title, "Gulls");
        assert_eq!(kept.artist.chars().count(), MAX_FIELD_CHARS);

        let not_jpeg = WireActivity {
            cover_jpeg: b"<svg onload=alert(1)>".to_vec(),
            ..good.clone()
        };
        assert_eq!(validate(not_jpeg), Err(Malformed::Cover));
        let huge_cover = WireActivity {
            cover_jpeg: [&[0xFF, 0xD8, 0xFF][..], &vec![0; log::MAX_COVER_BYTES]].concat(),
            ..good.clone()
        };
        assert_eq!(validate(huge_cover), Err(Malformed::Cover));
        let bomb = WireActivity {
            cover_jpeg: jpeg(4000, 8),
            ..good.clone()
        };
        assert_eq!(
            validate(bomb),
            Err(Malformed::Cover),
            "too many pixels claimed"
        );
        let past_the_end = WireActivity {
            state: WireState::Playing {
                position_ms: 10_000_000,
            },
            ..good.clone()
        };
        assert_eq!(validate(past_the_end), Err(Malformed::Time));
        let untitled = WireActivity {
            title: "\u{200E} ".into(),
            ..good
        };
        assert_eq!(validate(untitled), Err(Malformed::Title));
    }

    #[test]
    fn times_from_a_friend_land_on_our_clock() {
        let wire = WireActivity {
            hash: Hash32([7; 32]),
            title: "Gulls".into(),
            artist: "Ada".into(),
            album: String::new(),
            duration_ms: 1000,
            state: WireState::LastPlayed { ago_ms: 240_000 },
            cover_jpeg: Vec::new(),
        };
        let shown = to_activity(&wire, 1_000_000, false);
        assert_eq!(shown.state, ActivityState::LastPlayed);
        assert_eq!(shown.as_of, 760_000);
        assert_eq!(shown.track.cover, None);
    }
}
