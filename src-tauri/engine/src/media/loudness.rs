//! Loudness normalisation's arithmetic, shared by the library (which finds each track's level:
//! `library/loudness.rs`) and the player (which turns a level and the listener's setting into
//! the gain its renderer applies, with a limiter: `player/render.rs`). Pure functions only.

use serde::{Deserialize, Serialize};

use crate::api::{NormalisationMode, Track};

/// The default target: −14 LUFS, where Spotify ("normal"), YouTube and Tidal play, so music
/// played from Earshot is as loud as the same music streamed elsewhere and a listener switching
/// app does not have to touch the volume. Quieter targets (ReplayGain's −18) leave more
/// headroom, and a listener who prefers that picks it; at −14 a quiet master asking for more
/// gain than its peak allows is held to the peak ceiling below.
pub const DEFAULT_TARGET_LUFS: i8 = -14;
/// The targets a listener may choose.
pub const TARGET_RANGE: std::ops::RangeInclusive<i8> = -30..=-5;
/// The ceiling a known peak is held under after gain: −1 dBFS leaves room for the peaks
/// between samples that a sample peak misses (and for resampling's overshoot).
pub const PEAK_CEILING_DB: f32 = -1.0;
/// Most boost ever applied (a near-silent track is not raised into noise).
const MAX_BOOST_DB: f32 = 24.0;
/// Most cut ever applied. The quietest target a listener can choose is −30 LUFS and nothing real
/// is louder than 0 LUFS (a full-scale square wave is about +3; the loudest masters are about
/// −3), so no genuine level asks for more than about −30 dB. A level or tag asking for more is
/// wrong (a gain tag of "−60 dB", a value in the wrong unit), and obeying it would all but
/// silence the track: −30 dB is still heard, and is as far as a bad tag can pull a track down.
const MAX_CUT_DB: f32 = -30.0;
/// The settings key of the listener's choice.
pub const SETTING_KEY: &str = "player.normalisation";

/// How loud something is: integrated loudness and, when known, its peak (linear, 1.0 = full
/// scale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub lufs: f32,
    pub peak: Option<f32>,
}

/// Where the player finds levels: the engine lends it the library's table through this, so the
/// player does not reach into the library.
pub trait Levels: Send + Sync {
    /// A track's level and its album's, by the track's hash (None: not known, or not yet).
    fn levels(&self, hash: &str) -> (Option<Level>, Option<Level>);
    /// How far the loudness analysis is.
    fn progress(&self) -> Progress;
}

/// How far the loudness analysis is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Distinct tracks in the library.
    pub total: u32,
    /// Of those, with a level (tags or measured).
    pub known: u32,
    pub unmeasurable: u32,
    pub busy: bool,
}

// ── The listener's setting and the gain ──────────────────────────────────────────────────────

/// The listener's choice, as stored under [`SETTING_KEY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub mode: NormalisationMode,
    pub target_lufs: i8,
}

impl Default for Setting {
    fn default() -> Self {
        Self {
            mode: NormalisationMode::Auto,
            target_lufs: DEFAULT_TARGET_LUFS,
        }
    }
}

/// The gain (dB) for a track: the target minus the level chosen by the mode, held so the known
/// peak stays under [`PEAK_CEILING_DB`], and within [`MAX_CUT_DB`]..=[`MAX_BOOST_DB`] (the floor
/// applies last: an absurd level or peak cannot push the gain below it). 0 dB when
/// normalisation is off or the level is not known (yet).
pub fn gain_db(
    setting: Setting,
    track: Option<Level>,
    album: Option<Level>,
    album_in_order: bool,
) -> f32 {
    let level = match setting.mode {
        NormalisationMode::Off => return 0.0,
        NormalisationMode::Track => track,
        NormalisationMode::Album => album.or(track),
        NormalisationMode::Auto if album_in_order => album.or(track),
        NormalisationMode::Auto => track,
    };
    let Some(level) = level.filter(|l| l.lufs.is_finite()) else {
        return 0.0;
    };
    let mut gain = (setting.target_lufs as f32 - level.lufs).min(MAX_BOOST_DB);
    if let Some(peak) = level.peak.filter(|p| *p > 0.0 && p.is_finite()) {
        gain = gain.min(PEAK_CEILING_DB - 20.0 * peak.log10());
    }
    gain.max(MAX_CUT_DB)
}

/// dB as a linear factor.
pub fn linear(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Where a track sits in its album, for [`album_in_order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    pub album: &'a str,
    pub album_artist: &'a str,
    pub disc: u32,
    pub track: u32,
}

impl<'a> Place<'a> {
    pub fn of(track: &'a Track) -> Self {
        Self {
            album: &track.album,
            album_artist: &track.album_artist,
            disc: track.disc_no.unwrap_or(1),
            track: track.track_no.unwrap_or(0),
        }
    }
}

/// Whether `current` is being played as part of its album: shuffle off, and the entry before
/// it or after it in the queue is the neighbouring track of the same album.
pub fn album_in_order(
    previous: Option<Place>,
    current: Place,
    next: Option<Place>,
    shuffle: bool,
) -> bool {
    if shuffle || current.album.is_empty() {
        return false;
    }
    let same = |t: &Place| t.album == current.album && t.album_artist == current.album_artist;
    let order = |t: &Place| (t.disc, t.track);
    previous.is_some_and(|p| same(&p) && order(&p) < order(&current))
        || next.is_some_and(|n| same(&n) && order(&n) > order(&current))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(lufs: f32, peak: Option<f32>) -> Option<Level> {
        Some(Level { lufs, peak })
    }

    #[test]
    fn the_gain_brings_the_level_to_the_target_under_the_peak_ceiling() {
        let setting = Setting {
            mode: NormalisationMode::Track,
            target_lufs: -14,
        };
        assert_eq!(gain_db(setting, level(-8.0, Some(1.0)), None, false), -6.0);
        // −20 LUFS wants +6 dB; a peak at −12 dBFS allows up to +11.
        let quiet = gain_db(setting, level(-20.0, Some(linear(-12.0))), None, false);
        assert!((quiet - 6.0).abs() < 1e-4, "{quiet}");
        // A peak at 0 dBFS allows no boost at all: held to −1 dB.
        assert_eq!(gain_db(setting, level(-20.0, Some(1.0)), None, false), -1.0);
        // Unknown peak: the renderer's limiter is the only guard; the boost is still bounded.
        assert_eq!(gain_db(setting, level(-60.0, None), None, false), 24.0);
        // Absurd levels or peaks (bad tags) cannot silence a track: −30 dB at most.
        assert_eq!(gain_db(setting, level(42.0, None), None, false), -30.0);
        assert_eq!(
            gain_db(setting, level(-14.0, Some(1e6)), None, false),
            -30.0
        );
        // Unknown level: no change.
        assert_eq!(gain_db(setting, None, None, false), 0.0);
        let off = Setting {
            mode: NormalisationMode::Off,
            ..setting
        };
        assert_eq!(gain_db(off, level(-8.0, None), None, false), 0.0);
    }

    #[test]
    fn auto_uses_the_album_gain_only_for_an_album_played_in_order() {
        let auto = Setting::default();
        let track = level(-10.0, None);
        let album = level(-12.0, None);
        assert_eq!(gain_db(auto, track, album, true), -2.0);
        assert_eq!(gain_db(auto, track, album, false), -4.0);
        assert_eq!(
            gain_db(auto, track, None, true),
            -4.0,
            "no album level yet: the track's"
        );
        let album_mode = Setting {
            mode: NormalisationMode::Album,
            ..auto
        };
        assert_eq!(gain_db(album_mode, track, album, false), -2.0);

        let t = |album: &'static str, track: u32| Place {
            album,
            album_artist: "A",
            disc: 1,
            track,
        };
        assert!(album_in_order(
            Some(t("X", 1)),
            t("X", 2),
            Some(t("X", 3)),
            false
        ));
        assert!(album_in_order(None, t("X", 1), Some(t("X", 2)), false));
        assert!(!album_in_order(
            Some(t("Y", 1)),
            t("X", 2),
            Some(t("Z", 3)),
            false
        ));
        assert!(
            !album_in_order(Some(t("X", 1)), t("X", 2), None, true),
            "shuffled"
        );
        assert!(
            !album_in_order(Some(t("X", 3)), t("X", 2), Some(t("X", 1)), false),
            "backwards"
        );
    }
}
