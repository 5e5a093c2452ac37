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
                        crate::library::growing::arriving_hash(&t.hash).is_none()
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
        if let Some(old) = applied.as_ref() {
            let same_entry = old.entry == plan.entry;
            if same_entry && old.playing && plan.playing {
                let shift = plan.local_at as i128 - old.instant_of(plan.frame);
                if shift.abs() < RETIME_MAX_NS as i128 {
                    if shift.abs() > RETIME_MIN_NS as i128 {
                        let _ = player.jam(JamCommand::Retime(shift as i64)).await;
                    } else {
                        // Nothing moved: keep the old mapping (no drift from rounding).
                        next.frame = old.frame;
                        next.local_at = old.local_at;
                        next.ends_at = old.ends_at;
                    }
                    if old.queue != queue {
                        let _ = player.jam(JamCommand::Queue(plan.tracks)).await;
                    }
                    return Some(next);
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
                if old.queue[1..] != queue[..] {
                    let _ = player.jam(JamCommand::Queue(plan.tracks)).await;
                }
                return Some(next);
            }
            if same_entry && old.playing && !plan.playing {
                let _ = player.jam(JamCommand::PauseAt(plan.local_at)).await;
                return Some(next);
            }
            if same_entry && !old.playing && !plan.playing && old.frame == plan.frame {
                if old.queue != queue {
                    let _ = player.jam(JamCommand::Queue(plan.tracks)).await;
                }
                return Some(next);
            }
        }
        let command = if plan.playing {
            // Joining late (or a start already due): begin where the timeline is by then.
            let at = plan.local_at.max(engine_clock::now_ns() + LOAD_MARGIN_NS);
            let late = (at - plan.local_at) as u128;
            let frame = plan.frame + (late * plan.rate as u128 / 1_000_000_000) as u64;
            next.frame = frame;
            next.local_at = at;
            JamCommand::Load {
                tracks: plan.tracks,
                frame,
                at_ns: Some(at),
            }
        } else {
            JamCommand::Load {
                tracks: plan.tracks,
                frame: plan.frame,
                at_ns: None,
            }
        };
        match player.jam(command).await {
            Ok(()) => Some(next),
            Err(error) => {
                tracing::warn!(%error, "the player did not take the jam's track");
                None
            }
        }
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
