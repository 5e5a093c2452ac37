//! Jam: listening together in sync, with a shared queue (design §7).
//!
//! ```text
//!  API ─▶ Jam (this service) ──── /earshot/jam/1 ────▶ the host's Jam service
//!            │  session (host: authoritative; guests: the host's last state)
//!            ├─ clock task: /earshot/clock/1 stream to the host → ClockEstimator
//!            └─ playback: the timeline on the host's clock → the player, on ours
//! ```
//!
//! The host keeps the [`session::Session`] and is the only one to change it: guests send it
//! [`session::Op`]s and it answers with its new state, pushed to everyone (one push in flight
//! per participant, the latest state computed when it is sent). Each participant measures its
//! clock against the host's ([`clock::ClockEstimator`]: a burst at join, then three exchanges
//! back to back four times a second, on one stream: `net/clock.rs`) and plays the timeline
//! converted onto its own clock ([`playback`]); as the estimate moves, the player's schedule is
//! shifted (slewed inaudibly, never reloaded). Guests report how they stand; the host drops a
//! guest it has not heard from for [`GHOST_AFTER`].
//!
//! When the host leaves, it names the longest-present participant host in its last state; when
//! the host vanishes, every participant comes to the same conclusion on its own once the host has
//! been silent for [`HOST_LOST_AFTER`], and the new host carries the timeline over onto its own
//! clock with the offset it measured to the old one. A guest keeps playing as it was until the
//! new host's own timeline arrives (a timeline is followed only on the clock it is on).
//!
//! Invitations and requests expire after two minutes, on both sides ([`invites`]). Everything a
//! peer sends is validated ([`wire::validate`]) and checked against the state before it acts.

mod actions;
pub mod clock;
mod inbound;
pub mod invites;
mod playback;
pub mod session;
mod view;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use libp2p::PeerId;
use tokio::sync::{broadcast, mpsc, Notify};

use crate::api::{
    ApiError, ErrorKind, Event, JamEnd, JamEntry, JamInvite, JamInviteKind, JamParticipant,
    JamState, Request, Response, SyncState, Track,
};
use crate::chat::Chat;
use crate::library::Library;
use crate::net::{Client, JamNetEvent};
use crate::player::Player;
use crate::store::Store;
use crate::{clock as engine_clock, profile};

use clock::ClockEstimator;
use invites::{Direction, Invites, Kind, Pending};
use session::{JamTrack, Op, Participant, Refusal, Session, Standing};
use wire::{JamRequest, JamResponse};

/// Clock exchanges at join (or when the host changes), this far apart.
const BURST: usize = 16;
const BURST_EVERY: Duration = Duration::from_millis(30);
/// Clock exchanges per round, back to back.
const EXCHANGES_PER_ROUND: usize = 3;
/// A host that does not answer a clock exchange is asked again after this.
const HOST_RETRY: Duration = Duration::from_secs(1);
/// Then one exchange this often (the estimator keeps the fastest eighth of two minutes' worth).
const EXCHANGE_EVERY: Duration = Duration::from_millis(250);
/// Samples needed before the offset is trusted enough to play.
const MIN_SAMPLES: usize = 5;
/// A host silent this long (every clock exchange failing) is taken to be gone.
const HOST_LOST_AFTER: Duration = Duration::from_secs(8);
/// The host sends its state this often even when nothing changed (a guest who missed one).
const STATE_EVERY: Duration = Duration::from_secs(5);
/// How often the service wakes while a jam is on (track ends, sync reports).
const TICK: Duration = Duration::from_millis(100);
/// The player is checked against the timeline this often (the clock estimate moves).
const APPLY_EVERY: Duration = Duration::from_secs(1);
/// A participant tells the host how it stands this often (and at once when its state changes).
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// A guest not heard from for this long is taken to have gone.
const GHOST_AFTER: Duration = Duration::from_secs(20);
/// The host pushes news of guests' standing at most this often.
const STANDING_PUSH_EVERY: Duration = Duration::from_secs(2);
/// Jam messages handled at once; more are answered `Busy`.
const INBOUND_AT_ONCE: usize = 32;
/// Output offsets allowed (ms).
const MAX_OUTPUT_OFFSET_MS: i32 = 500;

/// What the jam service needs from the engine: the same handles as the presence service.
pub use crate::presence::Parts;

/// Handle on the jam service. Cheap to clone.
#[derive(Clone)]
pub struct Jam {
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    net: Client,
    library: Library,
    chat: Chat,
    player: Player,
    events: broadcast::Sender<Event>,
    me: PeerId,
    state: Mutex<State>,
    /// Wakes the run loop (a change to apply, a deadline moved).
    wake: Notify,
}

#[derive(Default)]
struct State {
    live: Option<Live>,
    invites: Invites,
    /// Names of peers in invitations (peer id → name).
    names: HashMap<String, String>,
    output_offset_ms: i32,
    /// The queue of the jam that ended last, with who added what, for "save as playlist".
    last_queue: Vec<(JamEntry, String)>,
    /// Participants with a state push under way; `true`: the state changed since it was sent.
    pushes: HashMap<String, bool>,
    /// Tracks being fetched for the jam (hex).
    fetching: HashSet<String>,
    /// When the player was last brought in line (engine ns); sooner after a change.
    applied_at: u64,
}

/// The jam this peer is in.
struct Live {
    session: Session,
    /// Measures the host's clock (unused while hosting).
    clock: ClockEstimator,
    /// The host `clock` measures.
    clock_of: String,
    /// When an exchange with the host last succeeded (engine ns).
    heard_host: u64,
    sync: SyncState,
    /// The player's last measured error against its schedule (µs).
    error_us: Option<i64>,
    /// What the player was last told.
    applied: Option<playback::Applied>,
    /// When the host last pushed its state unprompted (engine ns).
    state_sent: u64,
    /// Bumped when the host changes, so a stale clock task stops.
    generation: u64,
    /// What we last told the host of how we stand, and when (engine ns).
    reported: Option<(Standing, u64)>,
    /// Whose clock `session.timeline` is on: the host that sent it (ours once we host). The
    /// player follows it only while that is the clock being measured.
    timeline_clock: String,
    /// Host: when each guest last reported (engine ns); a guest silent for [`GHOST_AFTER`] is
    /// taken to be gone.
    seen: HashMap<String, u64>,
    /// Host: a guest's standing changed since the state was last pushed.
    standing_news: bool,
    /// Hashes of the queue our library holds (for the window).
    held: HashSet<String>,
}

impl Live {
    fn new(session: Session, me: &str) -> Live {
        let now = engine_clock::now_ns();
        let hosting = session.host == me;
        Live {
            clock_of: session.host.clone(),
            timeline_clock: session.host.clone(),
            seen: session
                .participants
                .iter()
                .map(|p| (p.peer.clone(), now))
                .collect(),
            session,
            clock: ClockEstimator::default(),
            heard_host: now,
            sync: if hosting {
                SyncState::Idle
            } else {
                SyncState::Measuring
            },
            error_us: None,
            applied: None,
            state_sent: now,
            generation: next_generation(),
            reported: None,
            standing_news: false,
            held: HashSet::new(),
        }
    }

    fn hosting(&self, me: &str) -> bool {
        self.session.host == me
    }

    /// The host's clock minus ours, once enough exchanges are in to play by it.
    fn offset(&self, now: u64) -> Option<i64> {
        if self.clock.len() < MIN_SAMPLES {
            return None;
        }
        self.clock.estimate(now).map(|e| e.offset_ns)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A number no other jam or host change of this process has had: a clock task measures only
/// while its number is current.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn now_ms() -> u64 {
    engine_clock::now_ns() / 1_000_000
}

fn random_id() -> String {
    let bytes: [u8; 12] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn not_in_jam() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "You are not in a jam.")
}

fn refused(reason: Refusal) -> ApiError {
    let message = match reason {
        Refusal::NotAllowed => "Only the host can do that (unless guest controls are on).",
        Refusal::Full => "That jam is full (32 people).",
        Refusal::NoEntry => "That track is no longer in the jam's queue.",
        Refusal::QueueFull => "The jam's queue is full.",
        Refusal::NotInJam => "That jam is over, or you are no longer in it.",
    };
    let kind = match reason {
        Refusal::NotAllowed => ErrorKind::NotAllowed,
        Refusal::NoEntry | Refusal::NotInJam => ErrorKind::NotFound,
        Refusal::Full | Refusal::QueueFull => ErrorKind::InvalidInput,
    };
    ApiError::new(kind, message)
}

fn net_error(error: crate::net::NetError) -> ApiError {
    ApiError::new(
        ErrorKind::Unreachable,
        format!("Could not reach them ({error})."),
    )
}

/// A library track as a jam track.
fn jam_track(track: &Track) -> JamTrack {
    JamTrack {
        hash: track.hash.clone(),
        title: track.title.clone(),
        artist: track.artist.clone(),
        album: track.album.clone(),
        duration_ms: track.duration_ms,
        sample_rate: track.sample_rate,
    }
}

impl Jam {
    /// Starts the service: it answers jam messages from `inbound` and follows the engine's events.
    pub fn start(parts: Parts, inbound: mpsc::Receiver<JamNetEvent>) -> Jam {
        let Parts {
            store,
            net,
            library,
            chat,
            player,
            events,
        } = parts;
        let me = net.local_peer_id();
        let jam = Jam {
            shared: Arc::new(Shared {
                store,
                net,
                library,
                chat,
                player,
                events,
                me,
                state: Mutex::new(State::default()),
                wake: Notify::new(),
            }),
        };
        let bus = jam.shared.events.subscribe();
        let runner = jam.clone();
        crate::supervise::spawn("jam", jam.shared.events.clone(), runner.run(bus, inbound));
        jam
    }

    fn me(&self) -> String {
        self.shared.me.to_string()
    }

    async fn run(
        self,
        mut bus: broadcast::Receiver<Event>,
        mut inbound: mpsc::Receiver<JamNetEvent>,
    ) {
        let at_once = Arc::new(tokio::sync::Semaphore::new(INBOUND_AT_ONCE));
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                message = inbound.recv() => match message {
                    Some(message) => {
                        let Ok(permit) = Arc::clone(&at_once).try_acquire_owned() else {
                            tokio::spawn(message.reply.send(JamResponse::Busy));
                            continue;
                        };
                        let this = self.clone();
                        // Answered on its own task: a join waits on nothing of the loop's.
                        tokio::spawn(async move {
                            let mut request = message.request;
                            let response = match wire::validate(&mut request) {
                                Ok(()) => this.on_message(message.peer, request).await,
                                Err(error) => {
                                    tracing::debug!(peer = %message.peer, %error, "a malformed jam message");
                                    JamResponse::Refused(Refusal::NotAllowed)
                                }
                            };
                            message.reply.send(response).await;
                            drop(permit);
                        });
                    }
                    None => return,
                },
                event = bus.recv() => match event {
                    Ok(event) => self.on_event(event),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = self.shared.wake.notified() => {
                    self.tick(true).await;
                    continue;
                }
                () = tokio::time::sleep(deadline) => {}
            }
            self.tick(false).await;
        }
    }

    /// How long the loop may sleep: a tick while a jam is on, else until an invitation expires.
    fn next_deadline(&self) -> Duration {
        let state = lock(&self.shared.state);
        if state.live.is_some() {
            return TICK;
        }
        match state.invites.next_expiry() {
            Some(at) => Duration::from_millis(at.saturating_sub(now_ms()).max(1)),
            None => Duration::from_secs(3600),
        }
    }

    fn on_event(&self, event: Event) {
        match event {
            Event::SyncReport { error_us, .. } => {
                let mut state = lock(&self.shared.state);
                if let Some(live) = state.live.as_mut() {
                    live.error_us = Some(error_us as i64);
                }
            }
            Event::FriendRemoved { peer_id } => {
                let gone = lock(&self.shared.state).invites.forget_peer(&peer_id);
                if !gone.is_empty() {
                    self.invites_changed();
                }
            }
            // Everything else is some other service's news.
            _ => {}
        }
    }

    /// Expires invitations, moves the host's timeline on at a track's end, re-sends the state
    /// now and then, and keeps the player on the timeline.
    async fn tick(&self, woken: bool) {
        let expired = {
            let mut state = lock(&self.shared.state);
            let expired = state.invites.expire(now_ms());
            if !expired.is_empty() {
                // Names are kept only for peers something is pending with.
                let pending: HashSet<String> =
                    state.invites.all().iter().map(|p| p.peer.clone()).collect();
                state.names.retain(|peer, _| pending.contains(peer));
            }
            expired
        };
        if !expired.is_empty() {
            self.invites_changed();
        }
        let me = self.me();
        let (push, lost) = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut() else {
                return;
            };
            let now = engine_clock::now_ns();
            if live.hosting(&me) {
                let advanced = live.session.advance(now);
                // Guests gone without a word (killed, asleep, cut off).
                let gone: Vec<String> = live
                    .seen
                    .iter()
                    .filter(|(peer, at)| {
                        **peer != me && now.saturating_sub(**at) >= GHOST_AFTER.as_nanos() as u64
                    })
                    .map(|(peer, _)| peer.clone())
                    .collect();
                for peer in &gone {
                    live.seen.remove(peer);
                    live.session.leave(peer);
                }
                let since = now.saturating_sub(live.state_sent);
                let standing = live.standing_news && since >= STANDING_PUSH_EVERY.as_nanos() as u64;
                let stale = since >= STATE_EVERY.as_nanos() as u64;
                let push = advanced || stale || standing || !gone.is_empty();
                if push {
                    live.state_sent = now;
                    live.standing_news = false;
                }
                (push, false)
            } else {
                let silent = now.saturating_sub(live.heard_host);
                (false, silent >= HOST_LOST_AFTER.as_nanos() as u64)
            }
        };
        if lost {
            self.host_lost().await;
        }
        if push {
            self.push_state();
        }
        self.report_standing();
        // Once a second (a new clock estimate), or at once after a change (`wake`).
        let due = {
            let mut state = lock(&self.shared.state);
            let now = engine_clock::now_ns();
            let due =
                woken || now.saturating_sub(state.applied_at) >= APPLY_EVERY.as_nanos() as u64;
            if due {
                state.applied_at = now;
            }
            due
        };
        if due {
            self.apply().await;
        }
    }

    /// Tells the others how we stand: the host notes its own; a guest tells the host every
    /// [`REPORT_EVERY`], and at once when its sync state changes.
    fn report_standing(&self) {
        let me = self.me();
        let now = engine_clock::now_ns();
        let (to_host, news) = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut() else {
                return;
            };
            let standing = Standing {
                sync: live.sync,
                error_us: live
                    .error_us
                    .unwrap_or(0)
                    .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            };
            let due = live.reported.is_none_or(|(last, at)| {
                last.sync != standing.sync
                    || now.saturating_sub(at) >= REPORT_EVERY.as_nanos() as u64
            });
            if !due {
                return;
            }
            live.reported = Some((standing, now));
            if live.hosting(&me) {
                (None, live.session.report(&me, standing))
            } else {
                let host = live.session.host.parse::<PeerId>().ok();
                (host.map(|h| (h, live.session.id.clone(), standing)), false)
            }
        };
        if news {
            self.push_state();
            self.changed();
        }
        if let Some((host, jam, standing)) = to_host {
            let net = self.shared.net.clone();
            tokio::spawn(async move {
                let _ = net
                    .send_jam(host, JamRequest::Report { jam, standing })
                    .await;
            });
        }
    }
}
