//! Jam: listening together in sync, with a shared queue (design §7).
//!
//! ```text
//!  API ─▶ Jam (this service) ──── /earshot/jam/1 ────▶ the host's Jam service
//!            │  session (host: authoritative; guests: the host's last state)
//!            ├─ clock task: /earshot/clock/1 exchanges with the host → ClockEstimator
//!            └─ playback: the timeline on the host's clock → the player, on ours
//! ```
//!
//! The host keeps the [`session::Session`] and is the only one to change it: guests send it
//! [`session::Op`]s and it answers with its new state, pushed to everyone (one push in flight
//! per participant, the latest state computed when it is sent). Each participant measures its
//! clock against the host's ([`clock::ClockEstimator`]: a burst at join, then one exchange a
//! second) and plays the timeline converted onto its own clock ([`playback`]); as the estimate
//! moves, the player's schedule is shifted (slewed inaudibly, never reloaded).
//!
//! When the host leaves, it names the longest-present participant host in its last state; when
//! the host vanishes, every participant comes to the same conclusion on its own once the host has
//! been silent for [`HOST_LOST_AFTER`], and the new host carries the timeline over onto its own
//! clock with the offset it measured to the old one.
//!
//! Invitations and requests expire after two minutes, on both sides ([`invites`]). Everything a
//! peer sends is validated ([`wire::validate`]) and checked against the state before it acts.

pub mod clock;
pub mod invites;
mod playback;
pub mod session;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
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
use session::{JamTrack, Op, Participant, Refusal, Session};
use wire::{JamRequest, JamResponse};

/// Clock exchanges at join (or when the host changes), this far apart.
const BURST: usize = 16;
const BURST_EVERY: Duration = Duration::from_millis(30);
/// Then one exchange this often.
const EXCHANGE_EVERY: Duration = Duration::from_secs(1);
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
/// Output offsets allowed (ms).
const MAX_OUTPUT_OFFSET_MS: i32 = 500;

/// What the jam service needs from the engine.
pub struct Parts {
    pub store: Store,
    pub net: Client,
    pub library: Library,
    pub chat: Chat,
    pub player: Player,
    pub events: broadcast::Sender<Event>,
}

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
}

impl Live {
    fn hosting(&self, me: &str) -> bool {
        self.session.host == me
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                message = inbound.recv() => match message {
                    Some(message) => {
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
        let expired = lock(&self.shared.state).invites.expire(now_ms());
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
                let stale = now.saturating_sub(live.state_sent) >= STATE_EVERY.as_nanos() as u64;
                if advanced || stale {
                    live.state_sent = now;
                }
                (advanced || stale, false)
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

    // ── What the API asks ──────────────────────────────────────────────────────────────────

    /// The jam and the invitations.
    pub fn get(&self) -> Response {
        Response::Jam {
            jam: self.view(),
            invites: self.invite_views(),
        }
    }

    /// Starts a jam hosted here with what plays now (if anything).
    pub async fn start_jam(&self) -> Result<Response, ApiError> {
        if lock(&self.shared.state).live.is_some() {
            return Ok(self.get());
        }
        let me = self.me();
        let name = self.my_name().await;
        let addrs = self.my_addrs().await;
        let mut session = Session::new(
            random_id(),
            Participant {
                peer: me.clone(),
                name,
                addrs,
            },
        );
        // What plays now (or the last track played) becomes the jam's first track, where it is.
        let player = match self.shared.player.call(Request::GetPlayer).await {
            Ok(Response::Player(p)) => Some(p),
            _ => None,
        };
        let now = engine_clock::now_ns();
        let current = match player.as_ref().and_then(|p| p.current.clone()) {
            Some(track) => Some((*track, player.as_ref().map_or(0, |p| p.position_ms))),
            None => self.last_played().await.map(|t| (t, 0)),
        };
        if let Some((track, position_ms)) = current {
            let playing = player
                .as_ref()
                .is_none_or(|p| p.state != crate::api::PlaybackState::Paused);
            session
                .apply(&me, Op::Add(jam_track(&track)), now)
                .map_err(refused)?;
            if position_ms > 0 {
                session
                    .apply(&me, Op::Seek { position_ms }, now)
                    .map_err(refused)?;
            }
            if !playing {
                session.apply(&me, Op::Pause, now).map_err(refused)?;
            }
        }
        lock(&self.shared.state).live = Some(Live {
            session,
            clock: ClockEstimator::default(),
            clock_of: me,
            heard_host: engine_clock::now_ns(),
            sync: SyncState::Idle,
            error_us: None,
            applied: None,
            state_sent: now,
            generation: 0,
        });
        self.peers_changed().await;
        self.changed();
        self.shared.wake.notify_one();
        Ok(self.get())
    }

    /// The track played last, for a jam started with nothing playing.
    async fn last_played(&self) -> Option<Track> {
        let plays = self.shared.library.recent_plays(1).await.ok()?;
        let play = plays.into_iter().next()?;
        self.shared.library.track(&play.hash).await.ok()
    }

    /// Invites friends (starting a jam if none is on).
    pub async fn invite(&self, peer_ids: &[String]) -> Result<Response, ApiError> {
        if peer_ids.is_empty() {
            return Err(ApiError::invalid_input("Choose someone to invite."));
        }
        let mut peers = Vec::new();
        for id in peer_ids {
            let peer: PeerId = id
                .parse()
                .map_err(|_| ApiError::invalid_input("That is not a peer id."))?;
            if peer == self.shared.me {
                return Err(ApiError::invalid_input("You are in your own jam already."));
            }
            peers.push(peer);
        }
        if lock(&self.shared.state).live.is_none() {
            self.start_jam().await?;
        }
        let (jam, host_name, playing) = {
            let state = lock(&self.shared.state);
            let live = state.live.as_ref().ok_or_else(not_in_jam)?;
            if !live.hosting(&self.me()) {
                return Err(ApiError::new(
                    ErrorKind::NotAllowed,
                    "Only the host invites; ask them to.",
                ));
            }
            let host_name = live.session.participants[0].name.clone();
            let playing = live.session.current().map(|(_, e)| e.track.clone());
            (live.session.id.clone(), host_name, playing)
        };
        let mut sent = 0;
        let mut last_error = None;
        for peer in peers {
            match self
                .send_invite(peer, &jam, &host_name, playing.clone(), None)
                .await
            {
                Ok(()) => sent += 1,
                Err(error) => last_error = Some(error),
            }
        }
        match (sent, last_error) {
            (0, Some(error)) => Err(error),
            _ => Ok(self.get()),
        }
    }

    async fn send_invite(
        &self,
        peer: PeerId,
        jam: &str,
        host_name: &str,
        playing: Option<JamTrack>,
        answers: Option<String>,
    ) -> Result<(), ApiError> {
        let id = random_id();
        let request = JamRequest::Invite {
            id: id.clone(),
            jam: jam.to_string(),
            host_name: host_name.to_string(),
            playing,
            left_ms: invites::lifetime_ms(),
            answers: answers.clone(),
        };
        {
            let mut state = lock(&self.shared.state);
            state
                .invites
                .add(Pending {
                    id: id.clone(),
                    kind: Kind::Invite,
                    direction: Direction::Outgoing,
                    peer: peer.to_string(),
                    jam: Some(jam.to_string()),
                    answers,
                    expires_at_ms: now_ms() + invites::lifetime_ms(),
                })
                .map_err(|_| ApiError::invalid_input("Too many invitations are waiting."))?;
        }
        self.remember_name(peer).await;
        self.invites_changed();
        match self.shared.net.send_jam(peer, request).await {
            Ok(JamResponse::Ok) => Ok(()),
            Ok(other) => {
                lock(&self.shared.state).invites.take(&id);
                self.invites_changed();
                Err(match other {
                    JamResponse::Refused(reason) => refused(reason),
                    _ => ApiError::new(ErrorKind::Busy, "They are busy; try again."),
                })
            }
            Err(error) => {
                lock(&self.shared.state).invites.take(&id);
                self.invites_changed();
                Err(net_error(error))
            }
        }
    }

    /// Asks a friend to jam: they host, we join.
    pub async fn request(&self, peer_id: &str) -> Result<Response, ApiError> {
        let peer: PeerId = peer_id
            .parse()
            .map_err(|_| ApiError::invalid_input("That is not a peer id."))?;
        if peer == self.shared.me {
            return Err(ApiError::invalid_input("You cannot jam with yourself."));
        }
        let id = random_id();
        let pending = Pending {
            id: id.clone(),
            kind: Kind::Request,
            direction: Direction::Outgoing,
            peer: peer.to_string(),
            jam: None,
            answers: None,
            expires_at_ms: now_ms() + invites::lifetime_ms(),
        };
        lock(&self.shared.state)
            .invites
            .add(pending.clone())
            .map_err(|_| ApiError::invalid_input("Too many requests are waiting."))?;
        self.remember_name(peer).await;
        self.invites_changed();
        let request = JamRequest::Request {
            id: id.clone(),
            left_ms: invites::lifetime_ms(),
        };
        match self.shared.net.send_jam(peer, request).await {
            Ok(JamResponse::Ok) => Ok(Response::JamInvite(self.invite_view(&pending))),
            Ok(other) => {
                lock(&self.shared.state).invites.take(&id);
                self.invites_changed();
                Err(match other {
                    JamResponse::Refused(reason) => refused(reason),
                    _ => ApiError::new(ErrorKind::Busy, "They are busy; try again."),
                })
            }
            Err(error) => {
                lock(&self.shared.state).invites.take(&id);
                self.invites_changed();
                Err(net_error(error))
            }
        }
    }

    /// Accepts an invitation (join its jam) or a request (host a jam for the one asking).
    pub async fn accept(&self, invite_id: &str) -> Result<Response, ApiError> {
        let pending = {
            let mut state = lock(&self.shared.state);
            match state.invites.get(invite_id) {
                Some(p) if p.direction == Direction::Incoming => state.invites.take(invite_id),
                _ => None,
            }
        }
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                "That invitation expired or was withdrawn.",
            )
        })?;
        self.invites_changed();
        let peer: PeerId = pending
            .peer
            .parse()
            .map_err(|_| ApiError::invalid_input("That is not a peer id."))?;
        match pending.kind {
            Kind::Invite => {
                let jam = pending.jam.clone().ok_or_else(not_in_jam)?;
                self.join(peer, &jam, &pending.id).await
            }
            Kind::Request => {
                // We host (or already do), and invite the one who asked; their side joins at once.
                self.leave_if_guest().await;
                self.start_jam().await?;
                let (jam, host_name, playing) = {
                    let state = lock(&self.shared.state);
                    let live = state.live.as_ref().ok_or_else(not_in_jam)?;
                    (
                        live.session.id.clone(),
                        live.session.participants[0].name.clone(),
                        live.session.current().map(|(_, e)| e.track.clone()),
                    )
                };
                self.send_invite(peer, &jam, &host_name, playing, Some(pending.id))
                    .await?;
                Ok(self.get())
            }
        }
    }

    /// Leaves a jam we are a guest in, before hosting another.
    async fn leave_if_guest(&self) {
        let guest = {
            let state = lock(&self.shared.state);
            state.live.as_ref().is_some_and(|l| !l.hosting(&self.me()))
        };
        if guest {
            let _ = self.leave().await;
        }
    }

    /// Joins `jam` hosted by `host`, accepting invitation `invite`.
    async fn join(&self, host: PeerId, jam: &str, invite: &str) -> Result<Response, ApiError> {
        if lock(&self.shared.state).live.is_some() {
            self.leave().await?;
        }
        let request = JamRequest::Join {
            jam: jam.to_string(),
            invite: invite.to_string(),
            name: self.my_name().await,
            addrs: self.my_addrs().await,
        };
        let session = match self.shared.net.send_jam(host, request).await {
            Ok(JamResponse::Joined(mut session)) => {
                wire::validate_session(&mut session).map_err(|e| {
                    ApiError::new(
                        ErrorKind::Internal,
                        format!("The host sent a jam that cannot be true ({e})."),
                    )
                })?;
                if session.host != host.to_string() || session.id != jam {
                    return Err(ApiError::new(
                        ErrorKind::Internal,
                        "The host answered with another jam.",
                    ));
                }
                *session
            }
            Ok(JamResponse::Refused(reason)) => return Err(refused(reason)),
            Ok(_) => {
                return Err(ApiError::new(
                    ErrorKind::Busy,
                    "The host is busy; try again.",
                ))
            }
            Err(error) => return Err(net_error(error)),
        };
        self.become_guest(session).await;
        Ok(self.get())
    }

    /// Takes a host's state as ours, and starts measuring its clock.
    async fn become_guest(&self, session: Session) {
        let generation = {
            let mut state = lock(&self.shared.state);
            let generation = state.live.as_ref().map_or(0, |l| l.generation + 1);
            state.live = Some(Live {
                clock_of: session.host.clone(),
                session,
                clock: ClockEstimator::default(),
                heard_host: engine_clock::now_ns(),
                sync: SyncState::Measuring,
                error_us: None,
                applied: None,
                state_sent: 0,
                generation,
            });
            generation
        };
        self.peers_changed().await;
        self.spawn_clock(generation);
        self.changed();
        self.shared.wake.notify_one();
    }

    /// Declines an incoming invitation or request, or withdraws an outgoing one.
    pub async fn decline(&self, invite_id: &str) -> Result<Response, ApiError> {
        let pending = lock(&self.shared.state)
            .invites
            .take(invite_id)
            .ok_or_else(|| {
                ApiError::new(ErrorKind::NotFound, "That invitation is no longer waiting.")
            })?;
        self.invites_changed();
        if let Ok(peer) = pending.peer.parse::<PeerId>() {
            let request = JamRequest::Withdraw { id: pending.id };
            // The other side also lets it expire; telling them is a courtesy.
            let net = self.shared.net.clone();
            tokio::spawn(async move {
                let _ = net.send_jam(peer, request).await;
            });
        }
        Ok(Response::Done)
    }

    /// Leaves the jam; a host hands it to the longest-present participant.
    pub async fn leave(&self) -> Result<Response, ApiError> {
        let me = self.me();
        let (session, was_host) = {
            let mut state = lock(&self.shared.state);
            let live = state.live.take().ok_or_else(not_in_jam)?;
            let names: HashMap<String, String> = live
                .session
                .participants
                .iter()
                .map(|p| (p.peer.clone(), p.name.clone()))
                .collect();
            state.last_queue = live
                .session
                .queue
                .iter()
                .map(|e| {
                    let name = names.get(&e.added_by).cloned().unwrap_or_default();
                    (self.entry_view(e, &names, false), name)
                })
                .collect();
            let was_host = live.hosting(&me);
            let gone = state.invites.forget_jam(&live.session.id);
            drop(gone);
            (live.session, was_host)
        };
        let mut rest = session.clone();
        rest.leave(&me);
        let net = self.shared.net.clone();
        if was_host {
            // The last state names the new host; it goes to the new host first.
            let others: Vec<PeerId> = rest
                .participants
                .iter()
                .filter_map(|p| p.peer.parse().ok())
                .collect();
            tokio::spawn(async move {
                for peer in others {
                    let _ = net
                        .send_jam(peer, JamRequest::State(Box::new(rest.clone())))
                        .await;
                }
            });
        } else if let Ok(host) = session.host.parse::<PeerId>() {
            let jam = session.id.clone();
            tokio::spawn(async move {
                let _ = net.send_jam(host, JamRequest::Leave { jam }).await;
            });
        }
        self.stop_playback().await;
        self.peers_changed().await;
        self.invites_changed();
        let _ = self.shared.events.send(Event::JamEnded {
            reason: JamEnd::Left,
        });
        self.changed();
        Ok(Response::Done)
    }

    /// Asks for a change: carried out here when hosting, else sent to the host.
    pub async fn op(&self, op: Op) -> Result<Response, ApiError> {
        let me = self.me();
        let guest_of = {
            let mut state = lock(&self.shared.state);
            let live = state.live.as_mut().ok_or_else(not_in_jam)?;
            if live.hosting(&me) {
                live.session
                    .apply(&me, op.clone(), engine_clock::now_ns())
                    .map_err(refused)?;
                None
            } else {
                Some((live.session.host.clone(), live.session.id.clone()))
            }
        };
        let Some((host, jam)) = guest_of else {
            self.after_host_change().await;
            return Ok(self.get());
        };
        let host: PeerId = host.parse().map_err(|_| not_in_jam())?;
        match self
            .shared
            .net
            .send_jam(host, JamRequest::Op { jam, op })
            .await
        {
            Ok(JamResponse::Ok) => Ok(self.get()),
            Ok(JamResponse::Refused(reason)) => Err(refused(reason)),
            Ok(_) => Err(ApiError::new(
                ErrorKind::Busy,
                "The host is busy; try again.",
            )),
            Err(error) => Err(net_error(error)),
        }
    }

    /// Adds library tracks to the queue.
    pub async fn add(&self, hashes: &[String]) -> Result<Response, ApiError> {
        let tracks = self.shared.library.tracks_by_hash(hashes).await?;
        if tracks.is_empty() {
            return Err(ApiError::invalid_input("Choose at least one track to add."));
        }
        let mut last = Ok(Response::Done);
        for track in tracks {
            last = self.op(Op::Add(jam_track(&track))).await;
            last.as_ref().map_err(Clone::clone)?;
        }
        last
    }

    /// Adds a track known only by what a friend said of it (their activity).
    pub async fn add_heard(&self, track: JamTrack) -> Result<Response, ApiError> {
        self.op(Op::Add(track)).await
    }

    /// Plays these library tracks in the jam: added, and the first jumped to (or only added,
    /// for a guest without controls).
    pub async fn play(&self, hashes: &[String]) -> Result<Response, ApiError> {
        let before: HashSet<u32> = self.entry_ids();
        self.add(hashes).await?;
        let first_new = {
            let state = lock(&self.shared.state);
            state.live.as_ref().and_then(|l| {
                l.session
                    .queue
                    .iter()
                    .find(|e| !before.contains(&e.id))
                    .map(|e| e.id)
            })
        };
        match first_new {
            Some(entry) if self.may_control() => self.op(Op::Jump { entry }).await,
            _ => Ok(self.get()),
        }
    }

    fn entry_ids(&self) -> HashSet<u32> {
        let state = lock(&self.shared.state);
        state
            .live
            .as_ref()
            .map(|l| l.session.queue.iter().map(|e| e.id).collect())
            .unwrap_or_default()
    }

    fn may_control(&self) -> bool {
        let state = lock(&self.shared.state);
        state
            .live
            .as_ref()
            .is_some_and(|l| l.hosting(&self.shared.me.to_string()) || l.session.guest_controls)
    }

    /// Whether a jam is on (the transport then acts on it).
    pub fn active(&self) -> bool {
        lock(&self.shared.state).live.is_some()
    }

    pub fn set_output_offset(&self, ms: i32) -> Result<Response, ApiError> {
        if !(-MAX_OUTPUT_OFFSET_MS..=MAX_OUTPUT_OFFSET_MS).contains(&ms) {
            return Err(ApiError::invalid_input(
                "The output offset must be between −500 and 500 ms.",
            ));
        }
        lock(&self.shared.state).output_offset_ms = ms;
        self.changed();
        self.shared.wake.notify_one();
        Ok(self.get())
    }

    /// Saves the queue of the jam (on, or ended last) as a playlist; each entry's note says who
    /// added it.
    pub async fn save_queue(&self, name: &str) -> Result<Response, ApiError> {
        let entries: Vec<(String, String)> = {
            let state = lock(&self.shared.state);
            match state.live.as_ref() {
                Some(live) => {
                    let names: HashMap<&str, &str> = live
                        .session
                        .participants
                        .iter()
                        .map(|p| (p.peer.as_str(), p.name.as_str()))
                        .collect();
                    live.session
                        .queue
                        .iter()
                        .map(|e| {
                            let who = names.get(e.added_by.as_str()).copied().unwrap_or("");
                            (e.track.hash.clone(), who.to_string())
                        })
                        .collect()
                }
                None => state
                    .last_queue
                    .iter()
                    .map(|(e, who)| (e.hash.clone(), who.clone()))
                    .collect(),
            }
        };
        if entries.is_empty() {
            return Err(ApiError::invalid_input("The jam's queue is empty."));
        }
        let playlist = self
            .shared
            .library
            .save_credited_playlist(name, entries)
            .await?;
        Ok(Response::Playlist {
            items: self.shared.library.playlist(playlist.id).await?.1,
            playlist,
        })
    }

    // ── What peers send ────────────────────────────────────────────────────────────────────

    async fn on_message(&self, peer: PeerId, request: JamRequest) -> JamResponse {
        let from = peer.to_string();
        match request {
            JamRequest::Invite {
                id,
                jam,
                host_name,
                playing,
                left_ms,
                answers,
            } => {
                // The answer to our own request: join at once.
                let ours = answers.as_deref().is_some_and(|a| {
                    let mut state = lock(&self.shared.state);
                    let mine = state.invites.get(a).is_some_and(|p| {
                        p.direction == Direction::Outgoing
                            && p.kind == Kind::Request
                            && p.peer == from
                    });
                    if mine {
                        state.invites.take(a);
                    }
                    mine
                });
                if ours {
                    self.invites_changed();
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Err(error) = this.join(peer, &jam, &id).await {
                            tracing::warn!(%error, "could not join the jam we asked for");
                            let _ = this.shared.events.send(Event::PlayerMessage {
                                message: format!("Could not join the jam: {error}"),
                            });
                        }
                    });
                    return JamResponse::Ok;
                }
                let name = self.name_of(peer, &host_name).await;
                let pending = Pending {
                    id,
                    kind: Kind::Invite,
                    direction: Direction::Incoming,
                    peer: from.clone(),
                    jam: Some(jam),
                    answers: None,
                    expires_at_ms: now_ms() + left_ms,
                };
                self.incoming(pending, name, playing.map(|t| t.title))
            }
            JamRequest::Request { id, left_ms } => {
                let name = self.name_of(peer, "").await;
                let pending = Pending {
                    id,
                    kind: Kind::Request,
                    direction: Direction::Incoming,
                    peer: from,
                    jam: None,
                    answers: None,
                    expires_at_ms: now_ms() + left_ms,
                };
                self.incoming(pending, name, None)
            }
            JamRequest::Withdraw { id } => {
                let taken = {
                    let mut state = lock(&self.shared.state);
                    match state.invites.get(&id) {
                        Some(p) if p.peer == from => state.invites.take(&id),
                        _ => None,
                    }
                };
                if taken.is_some() {
                    self.invites_changed();
                }
                JamResponse::Ok
            }
            JamRequest::Join {
                jam,
                invite,
                name,
                addrs,
            } => self.on_join(from, jam, invite, name, addrs).await,
            JamRequest::Leave { jam } => {
                let changed = {
                    let mut state = lock(&self.shared.state);
                    match state.live.as_mut() {
                        Some(live) if live.session.id == jam && live.hosting(&self.me()) => {
                            live.session.leave(&from);
                            true
                        }
                        _ => false,
                    }
                };
                if changed {
                    self.after_host_change().await;
                }
                JamResponse::Ok
            }
            JamRequest::Op { jam, op } => {
                let result = {
                    let mut state = lock(&self.shared.state);
                    match state.live.as_mut() {
                        Some(live) if live.session.id == jam && live.hosting(&self.me()) => {
                            live.session.apply(&from, op, engine_clock::now_ns())
                        }
                        _ => Err(Refusal::NotInJam),
                    }
                };
                match result {
                    Ok(()) => {
                        self.after_host_change().await;
                        JamResponse::Ok
                    }
                    Err(reason) => JamResponse::Refused(reason),
                }
            }
            JamRequest::State(session) => self.on_state(from, *session).await,
            JamRequest::End { jam } => {
                let ended = {
                    let state = lock(&self.shared.state);
                    state
                        .live
                        .as_ref()
                        .is_some_and(|l| l.session.id == jam && l.session.host == from)
                };
                if ended {
                    self.end(JamEnd::Ended).await;
                }
                JamResponse::Ok
            }
        }
    }

    fn incoming(&self, pending: Pending, name: String, playing: Option<String>) -> JamResponse {
        let view = {
            let mut state = lock(&self.shared.state);
            if let Err(reason) = state.invites.add(pending.clone()) {
                tracing::debug!(?reason, "an invitation refused");
                return JamResponse::Busy;
            }
            state.names.insert(pending.peer.clone(), name);
            let mut view = self.invite_view_locked(&state, &pending);
            view.playing = playing;
            view
        };
        let _ = self.shared.events.send(Event::JamInvited(view));
        self.invites_changed();
        self.shared.wake.notify_one();
        JamResponse::Ok
    }

    async fn on_join(
        &self,
        from: String,
        jam: String,
        invite: String,
        name: String,
        addrs: Vec<String>,
    ) -> JamResponse {
        let result = {
            let mut state = lock(&self.shared.state);
            let me = self.me();
            let invited = state.invites.get(&invite).is_some_and(|p| {
                p.direction == Direction::Outgoing
                    && p.peer == from
                    && p.jam.as_deref() == Some(jam.as_str())
            });
            match state.live.as_mut() {
                Some(live) if live.session.id == jam && live.hosting(&me) => {
                    // An invitation of ours, or someone already in (a reconnect).
                    if !invited && !live.session.is_in(&from) {
                        Err(Refusal::NotAllowed)
                    } else {
                        let joined = live.session.join(Participant {
                            peer: from.clone(),
                            name,
                            addrs,
                        });
                        joined.map(|()| live.session.clone())
                    }
                }
                _ => Err(Refusal::NotInJam),
            }
            .inspect(|_| {
                state.invites.take(&invite);
            })
        };
        match result {
            Ok(session) => {
                self.invites_changed();
                self.after_host_change().await;
                JamResponse::Joined(Box::new(session))
            }
            Err(reason) => JamResponse::Refused(reason),
        }
    }

    /// A state from the host (or from the old host, naming a new one).
    async fn on_state(&self, from: String, mut session: Session) -> JamResponse {
        let me = self.me();
        enum Next {
            Ignore,
            Apply,
            TakeOver(i64),
            NewHost(u64),
            Removed,
        }
        let next = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut() else {
                return JamResponse::Refused(Refusal::NotInJam);
            };
            if live.session.id != session.id || live.hosting(&me) {
                return JamResponse::Refused(Refusal::NotInJam);
            }
            // Only the host we know speaks for the jam (also when naming its successor).
            if from != live.session.host {
                return JamResponse::Refused(Refusal::NotAllowed);
            }
            if !session.is_in(&me) {
                Next::Removed
            } else if session.host == me {
                // The host handed the jam to us: its timeline, moved onto our clock.
                let offset = live
                    .clock
                    .estimate(engine_clock::now_ns())
                    .map_or(0, |e| e.offset_ns);
                Next::TakeOver(offset)
            } else if session.host != live.session.host {
                live.generation += 1;
                live.clock = ClockEstimator::default();
                live.clock_of = session.host.clone();
                live.heard_host = engine_clock::now_ns();
                live.sync = SyncState::Measuring;
                live.session = session.clone();
                Next::NewHost(live.generation)
            } else if session.seq > live.session.seq {
                live.heard_host = engine_clock::now_ns();
                live.session = session.clone();
                Next::Apply
            } else {
                Next::Ignore
            }
        };
        match next {
            Next::Ignore => {}
            Next::Apply => {
                self.peers_changed().await;
                self.changed();
                self.shared.wake.notify_one();
            }
            Next::TakeOver(offset) => {
                // Their clock minus ours: a host instant h is ours at h − offset.
                session.rebase(-offset);
                self.take_over(session).await;
            }
            Next::NewHost(generation) => {
                self.dial_host(&session).await;
                self.peers_changed().await;
                self.spawn_clock(generation);
                self.changed();
            }
            Next::Removed => self.end(JamEnd::Ended).await,
        }
        JamResponse::Ok
    }

    /// Hosting from now on, with `session` (already on our clock).
    async fn take_over(&self, session: Session) {
        {
            let mut state = lock(&self.shared.state);
            if let Some(live) = state.live.as_mut() {
                live.session = session;
                live.generation += 1;
                live.clock_of = self.me();
                live.state_sent = engine_clock::now_ns();
                // The player's schedule was on the old host's clock converted to ours; the
                // converted timeline is the same instants, so nothing needs reloading.
            }
        }
        let _ = self.shared.events.send(Event::PlayerMessage {
            message: "The host left; you host the jam now.".into(),
        });
        self.after_host_change().await;
    }

    /// Every clock exchange with the host failed for a while: it is gone. Everyone left works
    /// out the same successor (the longest present).
    async fn host_lost(&self) {
        let me = self.me();
        let (session, offset, generation) = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut() else {
                return;
            };
            let old = live.session.host.clone();
            let offset = live
                .clock
                .estimate(engine_clock::now_ns())
                .map_or(0, |e| e.offset_ns);
            live.session.leave(&old);
            if live.session.participants.is_empty() {
                (None, 0, 0)
            } else {
                live.generation += 1;
                live.clock = ClockEstimator::default();
                live.clock_of = live.session.host.clone();
                live.heard_host = engine_clock::now_ns();
                (Some(live.session.clone()), offset, live.generation)
            }
        };
        let Some(mut session) = session else {
            return self.end(JamEnd::Lost).await;
        };
        if session.host == me {
            session.rebase(-offset);
            self.take_over(session).await;
        } else {
            if let Some(live) = lock(&self.shared.state).live.as_mut() {
                live.sync = SyncState::Measuring;
            }
            self.dial_host(&session).await;
            self.peers_changed().await;
            self.spawn_clock(generation);
            self.changed();
        }
    }

    async fn dial_host(&self, session: &Session) {
        let Some(host) = session.participants.iter().find(|p| p.peer == session.host) else {
            return;
        };
        let Ok(peer) = host.peer.parse::<PeerId>() else {
            return;
        };
        let addrs: Vec<Multiaddr> = host.addrs.iter().filter_map(|a| a.parse().ok()).collect();
        let _ = self.shared.net.dial(peer, addrs).await;
    }

    /// The jam is over for us.
    async fn end(&self, reason: JamEnd) {
        let ended = lock(&self.shared.state).live.take();
        if ended.is_none() {
            return;
        }
        self.stop_playback().await;
        self.peers_changed().await;
        let _ = self.shared.events.send(Event::JamEnded { reason });
        self.changed();
    }

    async fn stop_playback(&self) {
        if let Err(error) = self
            .shared
            .player
            .jam(crate::player::JamCommand::Stop)
            .await
        {
            tracing::debug!(%error, "the player did not stop for the jam's end");
        }
    }

    /// After the host's session changed: tell everyone, and play it here.
    async fn after_host_change(&self) {
        self.push_state();
        self.peers_changed().await;
        self.changed();
        self.shared.wake.notify_one();
    }

    /// Sends the current state to every participant: one push in flight per participant, the
    /// latest state taken when it is sent.
    fn push_state(&self) {
        let me = self.me();
        let peers: Vec<String> = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_ref() else {
                return;
            };
            if !live.hosting(&me) {
                return;
            }
            let peers: Vec<String> = live
                .session
                .participants
                .iter()
                .map(|p| p.peer.clone())
                .filter(|p| *p != me)
                .collect();
            let mut start = Vec::new();
            for peer in peers {
                match state.pushes.get_mut(&peer) {
                    Some(dirty) => *dirty = true,
                    None => {
                        state.pushes.insert(peer.clone(), false);
                        start.push(peer);
                    }
                }
            }
            start
        };
        for peer in peers {
            let this = self.clone();
            tokio::spawn(async move { this.push_to(peer).await });
        }
    }

    async fn push_to(&self, peer: String) {
        let Ok(peer_id) = peer.parse::<PeerId>() else {
            lock(&self.shared.state).pushes.remove(&peer);
            return;
        };
        loop {
            let session = {
                let mut state = lock(&self.shared.state);
                let current = state
                    .live
                    .as_ref()
                    .filter(|l| l.hosting(&self.me()) && l.session.is_in(&peer))
                    .map(|l| l.session.clone());
                match current {
                    Some(s) => {
                        state.pushes.insert(peer.clone(), false);
                        s
                    }
                    None => {
                        state.pushes.remove(&peer);
                        return;
                    }
                }
            };
            let sent = self
                .shared
                .net
                .send_jam(peer_id, JamRequest::State(Box::new(session)))
                .await;
            if let Err(error) = &sent {
                tracing::debug!(%peer, %error, "a jam state did not arrive");
            }
            let mut state = lock(&self.shared.state);
            let dirty = state.pushes.get(&peer).copied().unwrap_or(false);
            if !dirty {
                state.pushes.remove(&peer);
                return;
            }
        }
    }

    /// Measures the host's clock while `generation` is current: a burst, then one a second.
    fn spawn_clock(&self, generation: u64) {
        let this = self.clone();
        crate::supervise::spawn("jam clock", self.shared.events.clone(), async move {
            let mut done = 0usize;
            loop {
                let host = {
                    let state = lock(&this.shared.state);
                    match state.live.as_ref() {
                        Some(l) if l.generation == generation && !l.hosting(&this.me()) => {
                            l.clock_of.clone()
                        }
                        _ => return,
                    }
                };
                let Ok(peer) = host.parse::<PeerId>() else {
                    return;
                };
                if let Ok(exchange) = this.shared.net.clock_exchange(peer).await {
                    let mut state = lock(&this.shared.state);
                    if let Some(live) = state.live.as_mut().filter(|l| l.generation == generation) {
                        live.clock.add(exchange);
                        live.heard_host = engine_clock::now_ns();
                    }
                    done += 1;
                }
                let pause = if done < BURST {
                    BURST_EVERY
                } else {
                    EXCHANGE_EVERY
                };
                tokio::time::sleep(pause).await;
            }
        });
    }

    // ── Views and helpers ──────────────────────────────────────────────────────────────────

    /// Who may talk jam with us, and fetch the queue's tracks.
    async fn peers_changed(&self) {
        let (peers, hashes) = {
            let state = lock(&self.shared.state);
            match state.live.as_ref() {
                Some(live) => (
                    live.session
                        .participants
                        .iter()
                        .filter_map(|p| p.peer.parse::<PeerId>().ok())
                        .filter(|p| *p != self.shared.me)
                        .collect::<HashSet<_>>(),
                    live.session
                        .queue
                        .iter()
                        .map(|e| e.track.hash.clone())
                        .collect::<HashSet<_>>(),
                ),
                None => (HashSet::new(), HashSet::new()),
            }
        };
        self.shared.chat.set_jam_grants(peers.clone(), hashes);
        if let Err(error) = self.shared.net.set_jam_peers(peers).await {
            tracing::debug!(%error, "the network did not take the jam's participants");
        }
    }

    async fn my_name(&self) -> String {
        match profile::get(&self.shared.store).await {
            Ok(p) => p.display_name,
            Err(_) => profile::default_display_name(),
        }
    }

    async fn my_addrs(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self
            .shared
            .net
            .addresses()
            .await
            .unwrap_or_default()
            .iter()
            .map(|a| a.to_string())
            .collect();
        addrs.truncate(8);
        addrs
    }

    /// A friend's (or co-member's) name as we know it, else what they call themselves.
    async fn name_of(&self, peer: PeerId, fallback: &str) -> String {
        let known = self
            .shared
            .store
            .call(move |c| crate::friends::store::get(c, &peer))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.display_name);
        match known {
            Some(name) => name,
            None if !fallback.is_empty() => fallback.to_string(),
            None => "Someone".to_string(),
        }
    }

    async fn remember_name(&self, peer: PeerId) {
        let name = self.name_of(peer, "").await;
        lock(&self.shared.state)
            .names
            .insert(peer.to_string(), name);
    }

    fn changed(&self) {
        let jam = self.view().map(Box::new);
        let _ = self.shared.events.send(Event::JamChanged { jam });
    }

    fn invites_changed(&self) {
        let invites = self.invite_views();
        let _ = self
            .shared
            .events
            .send(Event::JamInvitesChanged { invites });
    }

    fn invite_views(&self) -> Vec<JamInvite> {
        let state = lock(&self.shared.state);
        state
            .invites
            .all()
            .iter()
            .map(|p| self.invite_view_locked(&state, p))
            .collect()
    }

    fn invite_view(&self, pending: &Pending) -> JamInvite {
        let state = lock(&self.shared.state);
        self.invite_view_locked(&state, pending)
    }

    fn invite_view_locked(&self, state: &State, p: &Pending) -> JamInvite {
        JamInvite {
            invite_id: p.id.clone(),
            kind: match p.kind {
                Kind::Invite => JamInviteKind::Invite,
                Kind::Request => JamInviteKind::Request,
            },
            incoming: p.direction == Direction::Incoming,
            peer_id: p.peer.clone(),
            display_name: state
                .names
                .get(&p.peer)
                .cloned()
                .unwrap_or_else(|| "Someone".into()),
            playing: None,
            expires_in_ms: p.left_ms(now_ms()),
        }
    }

    fn entry_view(
        &self,
        e: &session::Entry,
        names: &HashMap<String, String>,
        in_library: bool,
    ) -> JamEntry {
        JamEntry {
            entry_id: e.id,
            hash: e.track.hash.clone(),
            title: e.track.title.clone(),
            artist: e.track.artist.clone(),
            album: e.track.album.clone(),
            duration_ms: e.track.duration_ms,
            added_by: e.added_by.clone(),
            added_by_name: names.get(&e.added_by).cloned().unwrap_or_default(),
            in_library,
        }
    }

    /// The jam as the window shows it.
    fn view(&self) -> Option<JamState> {
        let me = self.me();
        let state = lock(&self.shared.state);
        let live = state.live.as_ref()?;
        let s = &live.session;
        let names: HashMap<String, String> = s
            .participants
            .iter()
            .map(|p| (p.peer.clone(), p.name.clone()))
            .collect();
        let hosting = live.hosting(&me);
        let estimate = if hosting {
            None
        } else {
            live.clock.estimate(engine_clock::now_ns())
        };
        // The host's "now" on its clock, for the position.
        let host_now = (engine_clock::now_ns() as i128
            + estimate.map_or(0, |e| e.offset_ns) as i128)
            .max(0) as u64;
        let have = live
            .applied
            .as_ref()
            .map(|a| a.in_library.clone())
            .unwrap_or_default();
        Some(JamState {
            jam_id: s.id.clone(),
            host_peer_id: s.host.clone(),
            host_name: names.get(&s.host).cloned().unwrap_or_default(),
            you_host: hosting,
            participants: s
                .participants
                .iter()
                .map(|p| JamParticipant {
                    peer_id: p.peer.clone(),
                    display_name: p.name.clone(),
                    is_host: p.peer == s.host,
                    is_you: p.peer == me,
                })
                .collect(),
            queue: s
                .queue
                .iter()
                .map(|e| self.entry_view(e, &names, have.contains(&e.track.hash)))
                .collect(),
            current: s.timeline.entry,
            playing: s.timeline.playing,
            position_ms: s.position_ms(host_now),
            as_of: crate::store::now_millis(),
            guest_controls: s.guest_controls,
            can_control: hosting || s.guest_controls,
            sync: live.sync,
            // Ours minus the host's, as the window says "your clock is N ms ahead".
            offset_to_host_us: estimate.map(|e| -e.offset_ns / 1000),
            rtt_us: estimate.map(|e| e.rtt_ns / 1000),
            error_us: live.error_us,
            output_offset_ms: state.output_offset_ms,
        })
    }
}
