//! Playing the jam's timeline here: the host's instants converted onto our clock, the tracks
//! found in our library or streamed from the jam, and the player told as little as possible.
//!
//! The player is reloaded only when the music really moves (a new track, a seek, play after a
//! pause, a join). A new clock estimate only shifts the player's schedule by the difference
//! (`Retime`, slewed inaudibly by the renderer); a pause is scheduled on its exact frame
//! (`PauseAt`); the next track needs nothing, since the player chains it gaplessly on the same
//! schedule already.

use libp2p::PeerId;

use super::{lock, Jam, SyncState};
use crate::api::Track;
use crate::chat::log::Hash32;
use crate::clock as engine_clock;
use crate::player::JamCommand;
use crate::presence::actions::{stream_from, Heard};

/// A change of the schedule smaller than this is left alone (about one frame).
const RETIME_MIN_NS: i64 = 20_000;
/// Beyond this a schedule is not shifted but reloaded (a seek moves it by far more; a new clock
/// estimate by far less — the renderer slews or, beyond 5 ms, jumps the difference itself).
const RETIME_MAX_NS: i64 = 50_000_000;
/// A fetch that failed is tried again after this.
const FETCH_RETRY: std::time::Duration = std::time::Duration::from_secs(3);
/// A load is scheduled at least this far ahead, for the device to open and the decoder to fill.
const LOAD_MARGIN_NS: u64 = 120_000_000;

/// What the player was told last.
#[derive(Debug, Clone)]
pub(super) struct Applied {
    entry: u32,
    /// Source frame `frame` plays at `local_at` (our clock), when playing.
    frame: u64,
    local_at: u64,
    playing: bool,
    rate: u32,
    /// When the entry ends on our clock (playing).
    ends_at: Option<u64>,
    /// The hashes handed to the player as its queue, current first.
    queue: Vec<String>,
}

impl Applied {
    /// What this player does, as a timeline on our clock anchored at `at` (a handover with no
    /// clock estimate carries on from it).
    pub(super) fn timeline_at(&self, at: u64) -> super::session::Timeline {
        let frame = if self.playing {
            let since = at.saturating_sub(self.local_at) as u128;
            self.frame + (since * self.rate as u128 / 1_000_000_000) as u64
        } else {
            self.frame
        };
        super::session::Timeline {
            entry: Some(self.entry),
            frame,
            at_ns: at,
            playing: self.playing,
        }
    }

    /// When source frame `frame` plays under this mapping (our clock, may be before 0).
    fn instant_of(&self, frame: u64) -> i128 {
        let frames = frame as i128 - self.frame as i128;
        self.local_at as i128 + frames * 1_000_000_000 / self.rate.max(1) as i128
    }
}

/// The timeline converted onto our clock, and the tracks to play.
struct Plan {
    entry: u32,
    frame: u64,
    local_at: u64,
    playing: bool,
    rate: u32,
    duration_ms: u64,
    tracks: Vec<Track>,
}

/// What to tell the player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Shift the schedule (the renderer slews it).
    Retime(i64),
    /// Pause on the frame that plays at this instant.
    PauseAt(u64),
    /// The queue after the current entry changed: chain anew.
    Queue,
    /// Play from `frame`, so that it leaves the device at `at_ns` (paused there without).
    Load { frame: u64, at_ns: Option<u64> },
}

/// The least that brings the player from `old` to `plan` at `now` (our clock), and what it
/// then plays. Pure, for the tests below.
fn decide(plan: &Plan, old: Option<&Applied>, now: u64) -> (Vec<Step>, Applied) {
    let queue: Vec<String> = plan.tracks.iter().map(|t| t.hash.clone()).collect();
    let frames = plan.duration_ms * plan.rate as u64 / 1000;
    let ends = |local_at: u64, frame: u64| {
        let left = frames.saturating_sub(frame) as u128;
        local_at + (left * 1_000_000_000 / plan.rate.max(1) as u128) as u64
    };
    let mut next = Applied {
        entry: plan.entry,
        frame: plan.frame,
        local_at: plan.local_at,
        playing: plan.playing,
        rate: plan.rate,
        ends_at: plan.playing.then(|| ends(plan.local_at, plan.frame)),
        queue: queue.clone(),
    };
    if let Some(old) = old {
        let same_entry = old.entry == plan.entry;
        let requeue = |old_queue: &[String]| {
            if old_queue != &queue[..] {
                vec![Step::Queue]
            } else {
                Vec::new()
            }
        };
        if same_entry && old.playing && plan.playing {
            let shift = plan.local_at as i128 - old.instant_of(plan.frame);
            if shift.abs() < RETIME_MAX_NS as i128 {
                let mut steps = Vec::new();
                if shift.abs() > RETIME_MIN_NS as i128 {
                    steps.push(Step::Retime(shift as i64));
                } else {
                    // Nothing moved: keep the old mapping (no drift from rounding).
                    next.frame = old.frame;
                    next.local_at = old.local_at;
                    next.ends_at = old.ends_at;
                }
                steps.extend(requeue(&old.queue));
                return (steps, next);
            }
        }
        // The next entry, starting where the last one ends: the player chained it already.
        let follows = old.playing
            && plan.playing
            && plan.frame == 0
            && old.queue.get(1) == queue.first()
            && old.ends_at.is_some_and(|end| {
                (end as i128 - plan.local_at as i128).abs() < RETIME_MAX_NS as i128
            });
        if follows {
            return (requeue(old.queue.get(1..).unwrap_or_default()), next);
        }
        if same_entry && old.playing && !plan.playing {
            return (vec![Step::PauseAt(plan.local_at)], next);
        }
        if same_entry && !old.playing && !plan.playing && old.frame == plan.frame {
            return (requeue(&old.queue), next);
        }
    }
    if plan.playing {
        // Joining late (or a start already due): begin where the timeline is by then.
        let at = plan.local_at.max(now + LOAD_MARGIN_NS);
        let late = (at - plan.local_at) as u128;
        let frame = plan.frame + (late * plan.rate as u128 / 1_000_000_000) as u64;
        next.frame = frame;
        next.local_at = at;
        (
            vec![Step::Load {
                frame,
                at_ns: Some(at),
            }],
            next,
        )
    } else {
        (
            vec![Step::Load {
                frame: plan.frame,
                at_ns: None,
            }],
            next,
        )
    }
}

impl Jam {
    /// Brings the player in line with the jam's timeline.
    pub(super) async fn apply(&self) {
        let me = self.me();
        let Some(session) = lock(&self.shared.state)
            .live
            .as_ref()
            .map(|l| l.session.clone())
        else {
            return;
        };
        // Which of the queue's tracks our library holds (one trip to the store).
        let all = session.queue.iter().map(|e| e.track.hash.clone()).collect();
        let held = self.shared.library.held(all).await.unwrap_or_default();
        let snapshot = {
            let mut state = lock(&self.shared.state);
            let output_offset_ns = state.output_offset_ms as i64 * 1_000_000;
            let Some(live) = state.live.as_mut().filter(|l| l.session.id == session.id) else {
                return;
            };
            live.held = held;
            let hosting = live.hosting(&me);
            let offset = if hosting {
                Some(0)
            } else if live.timeline_clock != live.clock_of {
                // The timeline is on a clock we no longer measure (a new host has not sent
                // its own yet): whatever plays goes on as it was.
                None
            } else {
                live.offset(engine_clock::now_ns())
            };
            let Some(offset) = offset else {
                // Until the host's clock is known, whatever plays goes on as it was.
                live.sync = SyncState::Measuring;
                return;
            };
            (
                live.session.clone(),
                offset + output_offset_ns,
                live.applied.clone(),
            )
        };
        let (session, offset, applied) = snapshot;
        let Some((index, entry)) = session.current() else {
            if applied.is_some() && self.still_in(&session.id) {
                let _ = self.shared.player.jam(JamCommand::Stop).await;
            }
            self.set_applied(&session.id, None, SyncState::Idle);
            return;
        };
        // Our copy, or the bytes streaming in from the jam: the current entry, and the next
        // one (for a gapless change) once the current one is all here.
        let mut tracks = Vec::new();
        for e in session.queue[index..].iter().take(2) {
            match self.shared.library.track(&e.track.hash).await {
                Ok(track) => tracks.push(track),
                Err(_) => {
                    let current_complete = tracks.first().is_some_and(|t: &Track| {
                        crate::media::growing::arriving_hash(&t.hash).is_none()
                    });
                    if tracks.is_empty() || current_complete {
                        self.fetch(&session, e);
                    }
                    break;
                }
            }
        }
        if tracks.is_empty() {
            // Still arriving: what played before must not go on over the new entry.
            if applied
                .as_ref()
                .is_some_and(|a| a.playing && a.entry != entry.id)
                && self.still_in(&session.id)
            {
                let _ = self.shared.player.jam(JamCommand::PauseAt(0)).await;
                if let Some(a) = applied.clone() {
                    self.set_applied(
                        &session.id,
                        Some(Applied {
                            playing: false,
                            ..a
                        }),
                        SyncState::Buffering,
                    );
                }
            }
            self.set_buffering(&session.id);
            return;
        }
        let t = session.timeline;
        let local_at = (t.at_ns as i128 - offset as i128).max(0) as u64;
        let plan = Plan {
            entry: entry.id,
            frame: t.frame,
            local_at,
            playing: t.playing,
            rate: entry.track.sample_rate,
            duration_ms: entry.track.duration_ms,
            tracks,
        };
        // The jam may have ended while the store and the library were asked.
        if !self.still_in(&session.id) {
            return;
        }
        let next = self.carry_out(plan, applied).await;
        self.set_applied(&session.id, next, SyncState::InSync);
    }

    /// Whether we are still in jam `id`.
    fn still_in(&self, id: &str) -> bool {
        lock(&self.shared.state)
            .live
            .as_ref()
            .is_some_and(|l| l.session.id == id)
    }

    /// Tells the player; returns what it now plays.
    async fn carry_out(&self, plan: Plan, applied: Option<Applied>) -> Option<Applied> {
        let player = &self.shared.player;
        let (steps, next) = decide(&plan, applied.as_ref(), engine_clock::now_ns());
        let Plan { tracks, .. } = plan;
        let mut tracks = Some(tracks);
        for step in steps {
            let command = match step {
                Step::Retime(shift) => JamCommand::Retime(shift),
                Step::PauseAt(at) => JamCommand::PauseAt(at),
                Step::Queue => JamCommand::Queue(tracks.take().unwrap_or_default()),
                Step::Load { frame, at_ns } => JamCommand::Load {
                    tracks: tracks.take().unwrap_or_default(),
                    frame,
                    at_ns,
                },
            };
            let load = matches!(command, JamCommand::Load { .. });
            if let Err(error) = player.jam(command).await {
                tracing::warn!(%error, "the player did not take the jam's command");
                if load {
                    return None;
                }
            }
        }
        Some(next)
    }

    fn set_applied(&self, id: &str, applied: Option<Applied>, sync: SyncState) {
        let changed = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut().filter(|l| l.session.id == id) else {
                return;
            };
            let changed = live.sync != sync;
            live.sync = sync;
            live.applied = applied;
            changed
        };
        if changed {
            self.changed();
        }
    }

    fn set_buffering(&self, id: &str) {
        let changed = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut().filter(|l| l.session.id == id) else {
                return;
            };
            let changed = live.sync != SyncState::Buffering;
            live.sync = SyncState::Buffering;
            changed
        };
        if changed {
            self.changed();
        }
    }

    /// Starts fetching an entry's track (from who added it, else the host), once.
    fn fetch(&self, session: &super::Session, entry: &super::session::Entry) {
        let me = self.me();
        let hash = entry.track.hash.clone();
        if !lock(&self.shared.state).fetching.insert(hash.clone()) {
            return;
        }
        let mut sources: Vec<PeerId> = Vec::new();
        for candidate in [&entry.added_by, &session.host] {
            if *candidate != me {
                if let Ok(peer) = candidate.parse::<PeerId>() {
                    if !sources.contains(&peer) {
                        sources.push(peer);
                    }
                }
            }
        }
        let Some(hash32) = Hash32::from_hex(&hash) else {
            return;
        };
        let heard = entry.track.clone();
        let this = self.clone();
        tokio::spawn(async move {
            let mut result = Err(crate::api::ApiError::new(
                crate::api::ErrorKind::NotFound,
                "No one in the jam has that track.",
            ));
            for peer in sources {
                let names = Heard {
                    title: heard.title.clone(),
                    artist: heard.artist.clone(),
                    duration_ms: heard.duration_ms,
                };
                let s = &this.shared;
                result = stream_from(&s.library, &s.chat, &s.events, peer, hash32, names).await;
                if result.is_ok() {
                    break;
                }
            }
            if let Err(error) = result {
                tracing::warn!(%error, hash = %heard.hash, "a jam track could not be fetched");
                // Asked again a little later, not on every tick.
                tokio::time::sleep(FETCH_RETRY).await;
            }
            lock(&this.shared.state).fetching.remove(&hash);
            this.shared.wake.notify_one();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const NOW: u64 = 1_000_000 * MS;

    fn track(hash: &str) -> Track {
        Track {
            hash: hash.into(),
            path: format!("/music/{hash}.flac"),
            title: hash.into(),
            artists: vec![],
            artist: String::new(),
            album: String::new(),
            album_artist: String::new(),
            track_no: None,
            disc_no: None,
            track_total: None,
            disc_total: None,
            compilation: false,
            year: None,
            genre: String::new(),
            duration_ms: 60_000,
            sample_rate: 48_000,
            channels: 2,
            codec: "flac".into(),
            art: None,
        }
    }

    /// Entry 1 ("a", then "b" queued), frame `frame` at `local_at`.
    fn plan(frame: u64, local_at: u64, playing: bool) -> Plan {
        Plan {
            entry: 1,
            frame,
            local_at,
            playing,
            rate: 48_000,
            duration_ms: 60_000,
            tracks: vec![track("a"), track("b")],
        }
    }

    fn playing_since(local_at: u64) -> Applied {
        decide(&plan(0, local_at, true), None, local_at - 200 * MS).1
    }

    #[test]
    fn a_first_start_loads_on_the_instant() {
        let (steps, applied) = decide(&plan(0, NOW + 250 * MS, true), None, NOW);
        assert_eq!(
            steps,
            [Step::Load {
                frame: 0,
                at_ns: Some(NOW + 250 * MS)
            }]
        );
        assert_eq!(applied.ends_at, Some(NOW + 250 * MS + 60_000 * MS));
    }

    #[test]
    fn a_late_joiner_starts_where_the_timeline_is_by_then() {
        // The anchor was 10 s ago: load a margin ahead, that much further in.
        let (steps, _) = decide(&plan(0, NOW - 10_000 * MS, true), None, NOW);
        let at = NOW + LOAD_MARGIN_NS;
        let frame = (10_000 * MS + LOAD_MARGIN_NS) * 48 / MS;
        assert_eq!(
            steps,
            [Step::Load {
                frame,
                at_ns: Some(at)
            }]
        );
    }

    #[test]
    fn a_new_clock_estimate_shifts_the_schedule_and_never_reloads() {
        let old = playing_since(NOW);
        // 300 µs later than before, seen at a later frame of the same mapping.
        let frame = 48_000;
        let (steps, next) = decide(
            &plan(frame, NOW + 1_000 * MS + 300_000, true),
            Some(&old),
            NOW,
        );
        assert_eq!(steps, [Step::Retime(300_000)]);
        assert_eq!(next.local_at, NOW + 1_000 * MS + 300_000);
        // Even 30 ms is slewed or jumped by the renderer, not reloaded.
        let (steps, _) = decide(&plan(frame, NOW + 1_030 * MS, true), Some(&old), NOW);
        assert_eq!(steps, [Step::Retime(30 * MS as i64)]);
    }

    #[test]
    fn a_change_below_a_frame_is_left_alone() {
        let old = playing_since(NOW);
        let (steps, next) = decide(
            &plan(48_000, NOW + 1_000 * MS + 5_000, true),
            Some(&old),
            NOW,
        );
        assert!(steps.is_empty(), "{steps:?}");
        assert_eq!(
            (next.frame, next.local_at),
            (0, NOW),
            "the old mapping is kept"
        );
    }

    #[test]
    fn a_seek_reloads() {
        let old = playing_since(NOW);
        let (steps, _) = decide(&plan(30 * 48_000, NOW + 2_000 * MS, true), Some(&old), NOW);
        assert!(
            matches!(steps[..], [Step::Load { at_ns: Some(_), .. }]),
            "{steps:?}"
        );
    }

    #[test]
    fn a_pause_lands_on_its_instant() {
        let old = playing_since(NOW);
        let (steps, next) = decide(&plan(96_000, NOW + 2_000 * MS, false), Some(&old), NOW);
        assert_eq!(steps, [Step::PauseAt(NOW + 2_000 * MS)]);
        assert!(!next.playing);
    }

    #[test]
    fn the_next_entry_at_the_end_needs_nothing_the_player_chained_it() {
        let old = playing_since(NOW);
        let end = old.ends_at.unwrap();
        let mut following = plan(0, end, true);
        following.entry = 2;
        following.tracks = vec![track("b")];
        let (steps, next) = decide(&following, Some(&old), NOW);
        assert!(steps.is_empty(), "{steps:?}");
        assert_eq!(next.entry, 2);
    }

    #[test]
    fn a_queue_edit_rechains_without_touching_the_music() {
        let old = playing_since(NOW);
        let mut edited = plan(48_000, NOW + 1_000 * MS, true);
        edited.tracks = vec![track("a"), track("c")];
        let (steps, _) = decide(&edited, Some(&old), NOW);
        assert_eq!(steps, [Step::Queue]);
    }
}
