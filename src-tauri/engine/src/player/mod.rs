//! The player (design §3): a queue, play/pause/seek/next/previous, volume, shuffle, repeat,
//! gapless transitions and scheduled playback, through a real output device.
//!
//! ```text
//!  Player (handle) ─▶ actor task: Queue, state, events ─▶ audio thread: decoders ─▶ SPSC ring
//!                          ▲                                   │                      │
//!                          └──────────── reports ──────────────┘        output callback (Renderer)
//! ```
//!
//! The actor owns the queue; the audio thread ([`audio`]) owns the device and the decoders; the
//! output callback ([`render`]) only copies.
//!
//! The player plays what it is handed and never reads the library: the engine resolves the
//! API's track hashes into [`Track`]s first ([`Player::load`]), records a play when the player
//! says a track started ([`PlayerEvent`]), and lends the media controls a way to find cover
//! art ([`CoverArt`]). Files are opened through [`crate::media`], which the library shares.
//! The actor never waits on the audio thread: its commands go through a [`mailbox`] that cannot
//! block, since the audio thread may be waiting to hand it a report.
//!
//! Events: `player_changed` carries the small state (the current track, not the queue) on every
//! change; `queue_changed` carries the whole queue, only when its entries changed.

mod audio;
mod cpal_out;
pub mod decode;
mod mailbox;
mod media_keys;
pub mod output;
pub mod queue;
pub mod render;
pub mod sync;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::api::{
    ApiError, ErrorKind, Event, OutputDevice, PlaybackState, PlayerState, QueueState, Request,
    Response, Track,
};
use crate::api::{NormalisationMode, NormalisationState};
use crate::clock;
use crate::media::loudness;
use crate::store::{settings, Store};

pub use output::{OutputKind, VirtualSink};

use audio::{AudioThread, Command, Report};
use mailbox::Mailbox;
use queue::Queue;

/// Calls waiting for the actor.
const INBOX: usize = 64;
/// Player events waiting for the engine (one per track started; the engine's task only hands
/// each to the store, so a backlog this long means the store is stuck).
const PLAYER_EVENTS: usize = 64;
/// Reports waiting from the audio thread.
const REPORTS: usize = 256;
/// Commands waiting for the audio thread (it takes one every few milliseconds unless it is
/// opening a device or priming a track).
const COMMANDS: usize = 64;
/// How often commands that found the channel full are offered again: a few ms, about one turn
/// of the audio thread's loop.
const BACKLOG_RETRY: Duration = Duration::from_millis(5);
/// Previous restarts the track instead of going back once this far in.
const RESTART_AFTER_MS: u64 = 3000;
/// Preferences kept across restarts (`settings` table).
const VOLUME_KEY: &str = "player.volume";
/// The chosen output device ([`ChosenOutput`]).
const OUTPUT_KEY: &str = "player.output";
/// Where an earlier version kept the chosen device's name (read when `OUTPUT_KEY` is unset).
const LEGACY_DEVICE_KEY: &str = "player.device";

/// The output device chosen in Settings, as remembered: by its stable id, with the name it had
/// (to name it while it is not connected).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct ChosenOutput {
    id: String,
    name: String,
}

type Reply = oneshot::Sender<Result<Response, ApiError>>;

enum Call {
    Request(Request, Reply),
    /// Tracks to play or queue, resolved by the engine.
    Load(Load, Reply),
    /// The jam driving playback (not part of the API: `crate::jam` calls it).
    Jam(JamCommand, oneshot::Sender<()>),
    /// Stop, close the device, end the audio thread; answered when done.
    Shutdown(oneshot::Sender<()>),
}

/// What the jam asks of the player: it plays the jam's queue on the jam's timeline.
#[derive(Debug)]
pub enum JamCommand {
    /// Play `tracks` (the jam's queue from its current entry) from source frame `frame` of the
    /// first, so that frame leaves the device at `at_ns` (engine clock); paused there without
    /// `at_ns`.
    Load {
        tracks: Vec<Track>,
        frame: u64,
        at_ns: Option<u64>,
    },
    /// The queue changed (current entry first), the music did not: chain what follows.
    Queue(Vec<Track>),
    /// Shift the schedule this much later (negative: earlier), slewed, never reloaded.
    Retime(i64),
    /// Pause on the frame that leaves the device at this instant.
    PauseAt(u64),
    /// The jam ended: stop and empty the queue.
    Stop,
}

/// What to play or queue: the API's requests that name tracks (`Play`, `PlayAt`, `PlayNext`,
/// `AddToQueue`) with the hashes already resolved into tracks by the engine.
#[derive(Debug)]
pub enum Load {
    /// Replace the queue with `tracks` and play entry `start`.
    Play { tracks: Vec<Track>, start: u32 },
    /// Play `track` alone from source frame `frame`, so that frame leaves the device at `at_ns`
    /// (engine clock).
    PlayAt {
        track: Box<Track>,
        frame: u64,
        at_ns: u64,
    },
    /// Put `tracks` after the current entry.
    PlayNext(Vec<Track>),
    /// Put `tracks` at the end of the queue.
    AddToQueue(Vec<Track>),
}

/// What the player tells the engine (not the window): facts that other parts act on.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerEvent {
    /// The listener began to hear this track: the first frames of a load of the current entry
    /// (from play, a seek, a gapless transition or a reload on another device) left the device.
    /// A track skipped or failed before that never starts. This is what counts as a play.
    Started(Track),
}

/// Finds the file of a cover image by its hash (`Track::art`), for the OS media controls; the
/// engine lends the library's art cache.
pub type CoverArt =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Option<PathBuf>> + Send>> + Send + Sync>;

/// Handle on the player. Cheap to clone.
#[derive(Clone)]
pub struct Player {
    inbox: mpsc::Sender<Call>,
}

impl Player {
    /// Starts the player; its [`PlayerEvent`]s come out of the receiver returned.
    pub fn start(
        store: Store,
        events: broadcast::Sender<Event>,
        kind: OutputKind,
        levels: Arc<dyn loudness::Levels>,
    ) -> (Self, mpsc::Receiver<PlayerEvent>) {
        let (inbox, calls) = mpsc::channel(INBOX);
        let (player_events, player_events_rx) = mpsc::channel(PLAYER_EVENTS);
        let (reports_tx, reports) = mpsc::channel(REPORTS);
        let (commands, commands_rx) = sync_channel(COMMANDS);
        let shared = Arc::new(render::Shared::new());
        let thread = AudioThread::spawn(kind.clone(), commands_rx, reports_tx, shared);
        let actor = Actor {
            store,
            events,
            player_events,
            kind,
            audio: Mailbox::new(commands),
            thread: Some(thread),
            queue: Queue::new(clock::now_ns()),
            published_queue: 0,
            state: PlaybackState::Stopped,
            position_ms: 0,
            volume: 100,
            device: None,
            chosen_device: None,
            next_id: 1,
            current: None,
            chained: None,
            jamming: false,
            levels,
            normalisation: loudness::Setting::default(),
        };
        // A panic in the player is reported to the window rather than lost.
        crate::supervise::spawn_essential(
            "player",
            actor.events.clone(),
            actor.run(calls, reports),
        );
        (Self { inbox }, player_events_rx)
    }

    /// Shows the player in the OS media controls and obeys their buttons and the media keys;
    /// `art` finds the current track's cover for them.
    pub fn attach_media_controls(&self, events: broadcast::Receiver<Event>, art: CoverArt) {
        media_keys::start(events, self.clone(), art);
    }

    /// Carries out one player request.
    pub async fn call(&self, request: Request) -> Result<Response, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(Call::Request(request, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Plays or queues tracks the engine resolved (see [`Load`]).
    pub async fn load(&self, load: Load) -> Result<Response, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(Call::Load(load, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Carries out what the jam asks.
    pub async fn jam(&self, command: JamCommand) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(Call::Jam(command, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())
    }

    /// Stops playback and closes the device.
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        // A closed inbox means it is already down.
        if self.inbox.send(Call::Shutdown(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

fn stopped() -> ApiError {
    ApiError::new(ErrorKind::ShuttingDown, "The player has stopped.")
}

struct Actor {
    store: Store,
    events: broadcast::Sender<Event>,
    /// Tracks started, for the engine (plays).
    player_events: mpsc::Sender<PlayerEvent>,
    kind: OutputKind,
    audio: Mailbox,
    thread: Option<std::thread::JoinHandle<()>>,
    queue: Queue,
    /// The queue version last sent out with `queue_changed` (0: the empty queue at start).
    published_queue: u64,
    state: PlaybackState,
    position_ms: u64,
    volume: u8,
    /// The device in use (its name), and the one the listener chose (None: the system default).
    device: Option<String>,
    chosen_device: Option<ChosenOutput>,
    next_id: u64,
    /// The load id of what plays now.
    current: Option<u64>,
    /// What the audio thread was told follows the current track.
    chained: Option<Chained>,
    /// A jam drives playback: the queue and the transport are the jam's.
    jamming: bool,
    /// Every track's loudness (the library's table, lent by the engine), and the listener's
    /// normalisation setting: each load and chained track gets its gain from them.
    levels: Arc<dyn loudness::Levels>,
    normalisation: loudness::Setting,
}

/// The entry chained after the current one: the load id the audio thread knows it by, its queue
/// index, which track it is, its gain, and whether the audio thread has taken it (its samples
/// are being queued behind the current track's: it plays next, whatever is sent from then on).
/// Entries are told apart by track, not only by index: "play next" puts a new track at the index
/// already chained.
#[derive(Debug, Clone, PartialEq)]
struct Chained {
    id: u64,
    index: usize,
    track: Track,
    gain: f32,
    taken: bool,
}

impl Chained {
    fn is(&self, track: &Track) -> bool {
        self.track.hash == track.hash && self.track.path == track.path
    }
}

impl Actor {
    async fn run(mut self, mut calls: mpsc::Receiver<Call>, mut reports: mpsc::Receiver<Report>) {
        self.restore_preferences().await;
        self.restore_normalisation().await;
        loop {
            tokio::select! {
                call = calls.recv() => match call {
                    None => return self.end(reports).await,
                    Some(Call::Shutdown(done)) => {
                        self.end(reports).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(Call::Request(request, reply)) => {
                        let answer = self.handle(request).await;
                        let _ = reply.send(answer);
                    }
                    Some(Call::Load(load, reply)) => {
                        let _ = reply.send(self.load(load));
                    }
                    Some(Call::Jam(command, done)) => {
                        self.jam(command);
                        let _ = done.send(());
                    }
                },
                Some(report) = reports.recv() => self.on_report(report).await,
                () = tokio::time::sleep(BACKLOG_RETRY), if self.audio.backlogged() => {
                    self.audio.flush();
                }
            }
        }
    }

    /// The volume and output device chosen in an earlier run.
    async fn restore_preferences(&mut self) {
        let saved = self
            .store
            .call(|c| {
                Ok((
                    settings::get::<u8>(c, VOLUME_KEY)?,
                    settings::get::<ChosenOutput>(c, OUTPUT_KEY)?,
                    settings::get::<String>(c, LEGACY_DEVICE_KEY)?,
                ))
            })
            .await;
        if let Ok((volume, chosen, legacy)) = saved {
            if let Some(volume) = volume {
                self.apply_volume(volume);
            }
            let chosen = match (chosen, legacy) {
                (Some(chosen), _) => Some(chosen),
                // An earlier version kept a name (often an ALSA plugin's description): the
                // device of that name now, by id, or none (the default, without a notice on
                // every start about a device that can never come back).
                (None, Some(name)) => {
                    let found = self
                        .output_devices()
                        .await
                        .into_iter()
                        .find(|d| d.name == name)
                        .map(|d| ChosenOutput {
                            id: d.id,
                            name: d.name,
                        });
                    self.remember(OUTPUT_KEY, found.clone());
                    self.remember(LEGACY_DEVICE_KEY, Option::<String>::None);
                    found
                }
                (None, None) => None,
            };
            if let Some(chosen) = chosen {
                self.send(Command::SetDevice(Some(chosen.id.clone())));
                self.chosen_device = Some(chosen);
            }
        }
    }

    fn apply_volume(&mut self, volume: u8) {
        self.volume = volume.min(100);
        // A perceptual curve: half the slider is about a quarter of the power.
        let gain = (self.volume as f32 / 100.0).powi(2);
        self.send(Command::Volume(gain));
    }

    /// Remembers a preference; failing to is logged, not fatal.
    fn remember<T: serde::Serialize + Send + 'static>(&self, key: &'static str, value: T) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.call(move |c| settings::put(c, key, &value)).await {
                tracing::warn!(%error, key, "could not save a player preference");
            }
        });
    }

    /// Stops the audio thread. The reports are dropped first, so a thread blocked handing one
    /// over is released rather than waited for forever; then whatever commands still wait for
    /// room (the last being `Shutdown`) are delivered with blocking sends, off the async workers.
    async fn end(&mut self, reports: mpsc::Receiver<Report>) {
        drop(reports);
        self.send(Command::Stop);
        self.send(Command::Shutdown);
        let (channel, waiting) = self.audio.take();
        let thread = self.thread.take();
        let _ = tokio::task::spawn_blocking(move || {
            for command in waiting {
                if channel.send(command).is_err() {
                    break;
                }
            }
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        })
        .await;
    }

    /// Hands a command to the audio thread without ever waiting (see [`mailbox`]).
    fn send(&mut self, command: Command) {
        self.audio.send(command);
    }

    fn snapshot(&self) -> PlayerState {
        PlayerState {
            state: self.state,
            index: self.queue.index().map(|i| i as u32),
            current: self.queue.current().cloned().map(Box::new),
            queue_len: self.queue.items().len() as u32,
            queue_version: self.queue.version(),
            position_ms: self.position_ms,
            volume: self.volume,
            shuffle: self.queue.shuffle(),
            repeat: self.queue.repeat(),
            device: self.device.clone(),
            chosen_device: self.chosen_device.as_ref().map(|c| c.id.clone()),
        }
    }

    fn queue_state(&self) -> QueueState {
        QueueState {
            tracks: self.queue.items().to_vec(),
            index: self.queue.index().map(|i| i as u32),
            version: self.queue.version(),
        }
    }

    /// Tells subscribers what changed: the queue first if its entries did (the one event that
    /// carries it), then the player's state; the state is also the answer to the call.
    fn changed(&mut self) -> Response {
        if self.queue.version() != self.published_queue {
            self.published_queue = self.queue.version();
            let _ = self.events.send(Event::QueueChanged(self.queue_state()));
        }
        let state = self.snapshot();
        let _ = self.events.send(Event::PlayerChanged(state.clone()));
        Response::Player(state)
    }

    fn message(&self, message: String) {
        tracing::info!(%message, "player");
        let _ = self.events.send(Event::PlayerMessage { message });
    }

    /// The normalisation setting chosen in an earlier run.
    async fn restore_normalisation(&mut self) {
        let saved = self
            .store
            .call(|c| settings::get::<loudness::Setting>(c, loudness::SETTING_KEY))
            .await;
        if let Ok(Some(setting)) = saved {
            self.normalisation = setting;
        }
    }

    fn normalisation_state(&self) -> NormalisationState {
        let progress = self.levels.progress();
        NormalisationState {
            mode: self.normalisation.mode,
            target_lufs: self.normalisation.target_lufs,
            tracks: progress.total,
            known: progress.known,
            unmeasurable: progress.unmeasurable,
            measuring: progress.busy,
        }
    }

    /// The gain (linear) queue entry `index` plays at, sent with its `Load` or `SetNext`: from
    /// its level, its album's when it plays as part of its album, and the setting.
    fn gain(&self, index: usize) -> f32 {
        let items = self.queue.items();
        let Some(track) = items.get(index) else {
            return 1.0;
        };
        let place = |i: Option<usize>| i.and_then(|i| items.get(i)).map(loudness::Place::of);
        let in_order = loudness::album_in_order(
            place(index.checked_sub(1)),
            loudness::Place::of(track),
            place(Some(index + 1)),
            self.queue.shuffle(),
        );
        let (level, album) = match self.normalisation.mode {
            NormalisationMode::Off => (None, None),
            NormalisationMode::Track | NormalisationMode::Album | NormalisationMode::Auto => {
                self.levels.levels(&track.hash)
            }
        };
        let db = loudness::gain_db(self.normalisation, level, album, in_order);
        tracing::debug!(index, db, in_order, "track gain");
        loudness::linear(db)
    }

    /// Starts the current queue entry from `position_ms`.
    fn load_current(&mut self, position_ms: u64, at_ns: Option<u64>, frame: Option<u64>) {
        let Some(track) = self.queue.current().cloned() else {
            self.stop();
            return;
        };
        let id = self.next_id;
        self.next_id += 1;
        self.current = Some(id);
        self.chained = None;
        self.position_ms = position_ms;
        let start = frame.unwrap_or(position_ms * track.sample_rate as u64 / 1000);
        let gain = self.queue.index().map_or(1.0, |index| self.gain(index));
        self.send(Command::Load {
            id,
            path: PathBuf::from(&track.path),
            start,
            paused: self.state == PlaybackState::Paused,
            at_ns,
            gain,
            // A jam keeps exact time even while paused, so playing on does not reopen the
            // device; so does playback scheduled at an instant.
            timing: if self.jamming || at_ns.is_some() {
                output::Timing::Exact
            } else {
                output::Timing::Relaxed
            },
        });
        self.chain();
    }

    /// Tells the audio thread what follows the current track, for a gapless transition.
    fn chain(&mut self) {
        let next = self
            .queue
            .peek_after_end()
            .map(|(index, track)| (index, track.clone()));
        let taken = self.chained.as_ref().is_some_and(|c| c.taken);
        match next {
            Some((index, track)) => {
                let gain = self.gain(index);
                if let Some(chained) = &mut self.chained {
                    if chained.is(&track) {
                        // The same track follows (perhaps moved up or down the queue): nothing
                        // to re-send unless its gain changed, under the same load id (the audio
                        // thread never queues one id twice).
                        chained.index = index;
                        if chained.gain != gain {
                            chained.gain = gain;
                            let update = audio::Next {
                                id: chained.id,
                                path: PathBuf::from(&track.path),
                                gain,
                            };
                            self.send(Command::SetNext(Some(update)));
                        }
                        return;
                    }
                }
                if taken {
                    // Too late to replace: it plays next, and what follows it is chained once
                    // it starts (see `Report::Started`).
                    return;
                }
                let id = self.next_id;
                self.next_id += 1;
                let path = PathBuf::from(&track.path);
                self.chained = Some(Chained {
                    id,
                    index,
                    track,
                    gain,
                    taken: false,
                });
                self.send(Command::SetNext(Some(audio::Next { id, path, gain })));
            }
            None if taken => {}
            None => {
                self.chained = None;
                self.send(Command::SetNext(None));
            }
        }
    }

    /// The queue index of the chained entry, now that it is heard: where it was chained, or
    /// (the queue changed after the audio thread took it) the same track moved to follow the
    /// current entry, or put back there if it was removed.
    fn chained_index(&mut self, chained: &Chained) -> usize {
        let items = self.queue.items();
        if items.get(chained.index).is_some_and(|t| chained.is(t)) {
            return chained.index;
        }
        let after = self.queue.index().map_or(0, |i| i + 1);
        let found = items
            .iter()
            .enumerate()
            .skip(after)
            .chain(items.iter().enumerate().take(after))
            .find(|(_, t)| chained.is(t))
            .map(|(j, _)| j);
        match found {
            Some(j) => {
                self.queue
                    .move_item(j, if j < after { after - 1 } else { after });
            }
            None => self.queue.play_next(vec![chained.track.clone()]),
        }
        self.queue.index().map_or(0, |i| i + 1)
    }

    fn stop(&mut self) {
        self.state = PlaybackState::Stopped;
        self.current = None;
        self.chained = None;
        self.position_ms = 0;
        self.send(Command::Stop);
    }

    fn jam(&mut self, command: JamCommand) {
        self.jamming = !matches!(command, JamCommand::Stop);
        match command {
            JamCommand::Load {
                tracks,
                frame,
                at_ns,
            } => {
                // Everyone plays the jam's order: no shuffle, no repeat here.
                self.queue.set_shuffle(false);
                self.queue.set_repeat(crate::api::RepeatMode::Off);
                if self.queue.replace(tracks, 0).is_none() {
                    self.stop();
                } else {
                    self.state = if at_ns.is_some() {
                        PlaybackState::Playing
                    } else {
                        PlaybackState::Paused
                    };
                    self.send(Command::Pause(at_ns.is_none()));
                    let rate = self.queue.current().map_or(1, |t| t.sample_rate.max(1)) as u64;
                    self.load_current(frame * 1000 / rate, at_ns, Some(frame));
                }
            }
            JamCommand::Queue(tracks) => {
                self.queue.replace(tracks, 0);
                // The current entry plays on; what follows is chained anew if it changed.
                self.chain();
            }
            JamCommand::Retime(shift_ns) => self.send(Command::Retime { shift_ns }),
            JamCommand::PauseAt(at_ns) => {
                if self.state == PlaybackState::Playing {
                    self.state = PlaybackState::Paused;
                    self.send(Command::PauseAt { at_ns });
                }
            }
            JamCommand::Stop => {
                self.queue.clear();
                self.stop();
            }
        }
        self.changed();
    }

    /// Plays or queues resolved tracks.
    fn load(&mut self, load: Load) -> Result<Response, ApiError> {
        // Like the transport calls (see `handle`): in a jam, the jam's controls act.
        if self.jamming {
            return Err(jam_is_on());
        }
        match load {
            Load::Play { tracks, start } => {
                if tracks.is_empty() {
                    return Err(ApiError::invalid_input(
                        "Choose at least one track to play.",
                    ));
                }
                let start = start as usize;
                if start >= tracks.len() {
                    return Err(ApiError::invalid_input(format!(
                        "There is no track {start} in what was given."
                    )));
                }
                self.queue.replace(tracks, start);
                self.state = PlaybackState::Playing;
                self.send(Command::Pause(false));
                self.load_current(0, None, None);
                Ok(self.changed())
            }
            Load::PlayAt {
                track,
                frame,
                at_ns,
            } => {
                self.queue.replace(vec![*track], 0);
                self.state = PlaybackState::Playing;
                self.send(Command::Pause(false));
                self.load_current(0, Some(at_ns), Some(frame));
                Ok(self.changed())
            }
            Load::PlayNext(tracks) => {
                self.queue.play_next(tracks);
                self.chain();
                Ok(self.changed())
            }
            Load::AddToQueue(tracks) => {
                self.queue.append(tracks);
                self.chain();
                Ok(self.changed())
            }
        }
    }

    async fn handle(&mut self, request: Request) -> Result<Response, ApiError> {
        // In a jam the engine sends these to the jam; what still arrives here (the OS media
        // controls) would play this peer out of step with everyone.
        if self.jamming && transport_or_queue(&request) {
            return Err(jam_is_on());
        }
        match request {
            Request::Play { .. }
            | Request::PlayAt { .. }
            | Request::PlayNext { .. }
            | Request::AddToQueue { .. } => Err(ApiError::new(
                ErrorKind::Internal,
                "tracks reach the player resolved (Player::load), not as hashes",
            )),
            Request::PlayQueueIndex { index } => {
                if self.queue.jump(index as usize).is_none() {
                    return Err(no_entry(index));
                }
                self.state = PlaybackState::Playing;
                self.send(Command::Pause(false));
                self.load_current(0, None, None);
                Ok(self.changed())
            }
            Request::MoveInQueue { from, to } => {
                if !self.queue.move_item(from as usize, to as usize) {
                    return Err(no_entry(from.max(to)));
                }
                self.chain();
                Ok(self.changed())
            }
            Request::RemoveFromQueue { index } => {
                match self.queue.remove(index as usize) {
                    None => return Err(no_entry(index)),
                    Some(true) if self.state != PlaybackState::Stopped => {
                        self.load_current(0, None, None)
                    }
                    Some(_) => self.chain(),
                }
                Ok(self.changed())
            }
            Request::ClearQueue => {
                self.queue.clear();
                self.stop();
                Ok(self.changed())
            }
            Request::Pause => {
                if self.state == PlaybackState::Playing {
                    self.state = PlaybackState::Paused;
                    self.send(Command::Pause(true));
                }
                Ok(self.changed())
            }
            Request::Resume => {
                self.resume();
                Ok(self.changed())
            }
            Request::TogglePause => {
                if self.state == PlaybackState::Playing {
                    self.state = PlaybackState::Paused;
                    self.send(Command::Pause(true));
                } else {
                    self.resume();
                }
                Ok(self.changed())
            }
            Request::Next => {
                if self.queue.forward().is_some() {
                    self.load_current(0, None, None);
                } else {
                    self.stop();
                }
                Ok(self.changed())
            }
            Request::Previous => {
                if self.position_ms < RESTART_AFTER_MS {
                    self.queue.back();
                }
                if self.queue.current().is_some() {
                    if self.state == PlaybackState::Stopped {
                        self.state = PlaybackState::Playing;
                    }
                    self.load_current(0, None, None);
                }
                Ok(self.changed())
            }
            Request::Seek { position_ms } => {
                let Some(track) = self.queue.current() else {
                    return Err(ApiError::invalid_input("Nothing is playing."));
                };
                let position_ms = position_ms.min(track.duration_ms);
                if self.state == PlaybackState::Stopped {
                    self.state = PlaybackState::Paused;
                }
                self.load_current(position_ms, None, None);
                Ok(self.changed())
            }
            Request::SetVolume { volume } => {
                self.apply_volume(volume);
                self.remember(VOLUME_KEY, self.volume);
                Ok(self.changed())
            }
            Request::SetShuffle { on } => {
                self.queue.set_shuffle(on);
                self.chain();
                Ok(self.changed())
            }
            Request::SetRepeat { mode } => {
                self.queue.set_repeat(mode);
                self.chain();
                Ok(self.changed())
            }
            Request::GetPlayer => Ok(Response::Player(self.snapshot())),
            Request::GetNormalisation => Ok(Response::Normalisation(self.normalisation_state())),
            Request::SetNormalisation { mode, target_lufs } => {
                let target_lufs = target_lufs.unwrap_or(self.normalisation.target_lufs);
                if !loudness::TARGET_RANGE.contains(&target_lufs) {
                    return Err(ApiError::invalid_input(format!(
                        "The target level must be between {} and {} LUFS.",
                        loudness::TARGET_RANGE.start(),
                        loudness::TARGET_RANGE.end()
                    )));
                }
                self.normalisation = loudness::Setting { mode, target_lufs };
                self.remember(loudness::SETTING_KEY, self.normalisation);
                // The track chained next gets the new gain; the one playing keeps its own
                // (gain changes only between tracks).
                self.chain();
                Ok(Response::Normalisation(self.normalisation_state()))
            }
            Request::GetQueue => Ok(Response::Queue(self.queue_state())),
            Request::ListOutputDevices => {
                let mut devices = self.output_devices().await;
                // The chosen device while it is unplugged: listed, so Settings can say so.
                if let Some(chosen) = &self.chosen_device {
                    if !devices.iter().any(|d| d.id == chosen.id) {
                        devices.push(OutputDevice {
                            id: chosen.id.clone(),
                            name: chosen.name.clone(),
                            default: false,
                            connected: false,
                        });
                    }
                }
                Ok(Response::OutputDevices { devices })
            }
            Request::SetOutputDevice { id } => {
                let chosen = match id {
                    None => None,
                    Some(wanted) => {
                        let devices = self.output_devices().await;
                        let Some(device) = devices.into_iter().find(|d| d.id == wanted) else {
                            return Err(ApiError::new(
                                ErrorKind::NoAudioDevice,
                                "That audio device is not connected: refresh the list and choose another.",
                            ));
                        };
                        Some(ChosenOutput {
                            id: device.id,
                            name: device.name,
                        })
                    }
                };
                let id = chosen.as_ref().map(|c| c.id.clone());
                self.remember(OUTPUT_KEY, chosen.clone());
                // Cleared, or "none chosen" (null above) would bring an old name back.
                self.remember(LEGACY_DEVICE_KEY, Option::<String>::None);
                self.chosen_device = chosen;
                self.send(Command::SetDevice(id));
                if self.state != PlaybackState::Stopped {
                    let at = self.position_ms;
                    self.load_current(at, None, None);
                }
                Ok(self.changed())
            }
            other => Err(ApiError::new(
                ErrorKind::Internal,
                format!("the player cannot answer {other:?}"),
            )),
        }
    }

    /// The devices a person can pick now (listing can block on the sound server: off the actor).
    async fn output_devices(&self) -> Vec<OutputDevice> {
        let kind = self.kind.clone();
        tokio::task::spawn_blocking(move || output::devices(&kind))
            .await
            .unwrap_or_default()
    }

    fn resume(&mut self) {
        match self.state {
            PlaybackState::Paused => {
                self.state = PlaybackState::Playing;
                if self.current.is_some() && self.device.is_some() {
                    self.send(Command::Pause(false));
                } else {
                    // The device went away (or never opened): start again where we were.
                    let at = self.position_ms;
                    self.load_current(at, None, None);
                }
            }
            PlaybackState::Stopped if !self.queue.items().is_empty() => {
                // After the queue ran out, play starts it again from the top.
                if self.queue.current().is_none() {
                    self.queue.jump(0);
                }
                self.state = PlaybackState::Playing;
                self.send(Command::Pause(false));
                self.load_current(0, None, None);
            }
            _ => {}
        }
    }

    async fn on_report(&mut self, report: Report) {
        match report {
            Report::Started { id } => {
                if let Some(chained) = self.chained.clone() {
                    if chained.id == id {
                        // Gapless transition: the next entry is now current.
                        let index = self.chained_index(&chained);
                        self.queue.jump(index);
                        self.current = Some(id);
                        self.chained = None;
                        self.position_ms = 0;
                        self.chain();
                    }
                }
                if Some(id) == self.current {
                    if let Some(track) = self.queue.current().cloned() {
                        self.tell(PlayerEvent::Started(track));
                    }
                    self.changed();
                }
            }
            Report::Chained { id } => {
                if let Some(chained) = &mut self.chained {
                    if chained.id == id {
                        chained.taken = true;
                    }
                }
            }
            Report::Position { id, ms } => {
                if Some(id) == self.current {
                    self.position_ms = ms;
                    let duration_ms = self.queue.current().map_or(0, |t| t.duration_ms);
                    let _ = self.events.send(Event::PlayerPosition {
                        position_ms: ms.min(duration_ms.max(ms)),
                        duration_ms,
                    });
                }
            }
            Report::Finished { id } => {
                if Some(id) == self.current {
                    self.queue.advance_after_end();
                    self.stop();
                    self.changed();
                }
            }
            Report::Failed { id, message } => {
                let message = message.trim_end_matches('.').to_string();
                let title = |t: Option<&Track>| {
                    t.map_or("a track".to_string(), |t| format!("\"{}\"", t.title))
                };
                if Some(id) == self.current {
                    let what = title(self.queue.current());
                    if message.starts_with("No audio output") {
                        self.message(format!("{message}."));
                        self.state = PlaybackState::Paused;
                        self.device = None;
                        self.changed();
                        return;
                    }
                    self.message(format!(
                        "Cannot play {what}: {message}. Skipping to the next track."
                    ));
                    if self.queue.forward().is_some() {
                        self.load_current(0, None, None);
                    } else {
                        self.stop();
                    }
                    self.changed();
                } else if let Some(chained) = self.chained.clone() {
                    if chained.id == id {
                        let what = title(Some(&chained.track));
                        self.message(format!(
                            "Cannot play {what}: {message}. It will be skipped."
                        ));
                        // Skip it: the entry after it follows the current track instead.
                        let index = chained.index;
                        if self.queue.items().get(index).is_some_and(|t| chained.is(t)) {
                            self.queue.remove(index);
                        }
                        self.chained = None;
                        self.chain();
                        self.changed();
                    }
                }
            }
            Report::Device {
                name,
                error,
                instead_of,
            } => {
                if let (Some(opened), Some(chosen)) = (&name, &self.chosen_device) {
                    if instead_of.as_ref() == Some(&chosen.id) {
                        self.message(format!(
                            "\"{}\" is not connected: playing through the system default ({opened}). It stays your choice and is tried again the next time playback starts after a stop or a device failure.",
                            chosen.name
                        ));
                    }
                }
                self.device = name;
                if let Some(error) = error {
                    if self.state == PlaybackState::Playing {
                        self.state = PlaybackState::Paused;
                    }
                    self.current = None;
                    self.message(format!(
                        "The audio device stopped working ({error}); playback is paused. Press play to continue on another device."
                    ));
                }
                self.changed();
            }
            Report::Sync {
                error_ns,
                dropped,
                duplicated,
                jumps,
                restarts,
                ratio_ppm,
            } => {
                let _ = self.events.send(Event::SyncReport {
                    error_us: (error_ns / 1000).clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                    dropped,
                    duplicated,
                    restarts,
                    jumps,
                    ratio_ppm: ratio_ppm.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32,
                });
            }
            // A jam's pause landed: the position is where everyone stopped.
            Report::Paused { id, ms } => {
                if Some(id) == self.current {
                    self.position_ms = ms;
                    self.changed();
                }
            }
        }
    }

    /// Tells the engine, never waiting: the actor must not stall on whoever listens.
    fn tell(&self, event: PlayerEvent) {
        match self.player_events.try_send(event) {
            Ok(()) => {}
            // Nobody listens (a player without an engine): nothing to tell.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(PlayerEvent::Started(track))) => {
                tracing::warn!(hash = %track.hash, "the engine is behind: a play goes unrecorded");
            }
        }
    }
}

/// Calls that move the music or change the queue.
fn transport_or_queue(request: &Request) -> bool {
    matches!(
        request,
        Request::Play { .. }
            | Request::PlayAt { .. }
            | Request::PlayNext { .. }
            | Request::AddToQueue { .. }
            | Request::PlayQueueIndex { .. }
            | Request::MoveInQueue { .. }
            | Request::RemoveFromQueue { .. }
            | Request::ClearQueue
            | Request::Pause
            | Request::Resume
            | Request::TogglePause
            | Request::Next
            | Request::Previous
            | Request::Seek { .. }
            | Request::SetShuffle { .. }
            | Request::SetRepeat { .. }
    )
}

fn jam_is_on() -> ApiError {
    ApiError::new(
        ErrorKind::NotAllowed,
        "A jam is on: use the jam's controls, which act for everyone.",
    )
}

fn no_entry(index: u32) -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        format!("The queue has no entry {index}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::DataKey;
    use crate::media::loudness::{Level, Progress};
    use crate::store::StoreOptions;
    use output::Timing;

    /// No loudness known: every track plays at unity gain.
    struct Unmeasured;

    impl loudness::Levels for Unmeasured {
        fn levels(&self, _hash: &str) -> (Option<Level>, Option<Level>) {
            (None, None)
        }
        fn progress(&self) -> Progress {
            Progress::default()
        }
    }

    /// Half a second of a quiet 16-bit stereo square wave at 48 kHz.
    fn write_wav(path: &std::path::Path) {
        let square = (0..24_000u32).map(|n| if n / 48 % 2 == 0 { 2000 } else { -2000 });
        let samples = crate::media::wav::stereo(square);
        std::fs::write(path, crate::media::wav::pcm16(48_000, 2, &samples)).unwrap();
    }

    /// A 16-bit stereo WAV at 48 kHz, `frames` long, holding a square wave of `amplitude`
    /// (its own level, so the sink's samples say which file is heard).
    fn write_level(path: &std::path::Path, amplitude: i16, frames: u32) {
        write_wav(path);
        let mut wav = std::fs::read(path).unwrap();
        wav.truncate(44);
        let mut data = Vec::with_capacity(frames as usize * 4);
        for n in 0..frames {
            let sample = if n / 48 % 2 == 0 {
                amplitude
            } else {
                -amplitude
            };
            data.extend_from_slice(&sample.to_le_bytes());
            data.extend_from_slice(&sample.to_le_bytes());
        }
        wav[4..8].copy_from_slice(&(36 + data.len() as u32).to_le_bytes());
        wav[40..44].copy_from_slice(&(data.len() as u32).to_le_bytes());
        wav.extend_from_slice(&data);
        std::fs::write(path, wav).unwrap();
    }

    /// The levels the sink played, in order, each once (silence left out).
    fn levels_heard(sink: &VirtualSink) -> Vec<i16> {
        let mut heard: Vec<i16> = Vec::new();
        for s in sink.played.lock().unwrap().iter() {
            let level = (s.abs() * 32_768.0).round() as i16;
            if level != 0 && heard.last() != Some(&level) {
                heard.push(level);
            }
        }
        heard
    }

    async fn next_started(events: &mut mpsc::Receiver<PlayerEvent>) -> String {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("a track to start within 20 s")
            .expect("the player to be running");
        let PlayerEvent::Started(track) = event;
        track.hash
    }

    #[tokio::test]
    async fn play_next_while_a_track_plays_is_the_track_heard_next() {
        let dir = tempfile::tempdir().unwrap();
        let sink = VirtualSink::new(48_000, 2);
        let (player, mut player_events) = player_on(dir.path(), &sink).await;
        let (a, b, x) = (
            dir.path().join("a.wav"),
            dir.path().join("b.wav"),
            dir.path().join("x.wav"),
        );
        // A lasts 3 s: "play next" arrives well before its end is decoded.
        write_level(&a, 1000, 3 * 48_000);
        // Each longer than the ring, so what follows it is chained while it plays.
        write_level(&b, 2000, 48_000);
        write_level(&x, 3000, 48_000);
        play_all(&player, vec![track("a", &a), track("b", &b)]).await;
        assert_eq!(next_started(&mut player_events).await, "a");
        player
            .load(Load::PlayNext(vec![track("x", &x)]))
            .await
            .unwrap();
        assert_eq!(next_started(&mut player_events).await, "x");
        assert_eq!(next_started(&mut player_events).await, "b");
        player.shutdown().await;
        assert_eq!(
            levels_heard(&sink),
            vec![1000, 3000, 2000],
            "A, then the track put next, then B"
        );
    }

    #[tokio::test]
    async fn the_device_opens_for_exact_timing_in_a_jam_and_relaxed_timing_alone() {
        let dir = tempfile::tempdir().unwrap();
        let sink = VirtualSink::new(48_000, 2);
        let (player, mut player_events) = player_on(dir.path(), &sink).await;
        let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
        write_level(&a, 1000, 48_000);
        write_level(&b, 2000, 48_000);
        play_all(&player, vec![track("a", &a)]).await;
        assert_eq!(next_started(&mut player_events).await, "a");
        player
            .jam(JamCommand::Load {
                tracks: vec![track("b", &b)],
                frame: 0,
                at_ns: Some(clock::now_ns() + 200_000_000),
            })
            .await
            .unwrap();
        assert_eq!(next_started(&mut player_events).await, "b");
        // Paused in the jam: still exact, so playing on needs no new device.
        player
            .jam(JamCommand::Load {
                tracks: vec![track("b", &b)],
                frame: 0,
                at_ns: None,
            })
            .await
            .unwrap();
        player.jam(JamCommand::Stop).await.unwrap();
        play_all(&player, vec![track("a", &a)]).await;
        assert_eq!(next_started(&mut player_events).await, "a");
        player.shutdown().await;
        assert_eq!(
            *sink.openings.lock().unwrap(),
            vec![Timing::Relaxed, Timing::Exact, Timing::Relaxed],
            "alone, then the jam (reopened once), then alone again"
        );
    }

    /// Replaces the queue with `tracks` and plays the first.
    async fn play_all(player: &Player, tracks: Vec<Track>) {
        player.load(Load::Play { tracks, start: 0 }).await.unwrap();
    }

    /// A player on a virtual 48 kHz device, with no loudness known.
    async fn player_on(
        dir: &std::path::Path,
        sink: &VirtualSink,
    ) -> (Player, mpsc::Receiver<PlayerEvent>) {
        let (store, _closed) = Store::open(
            &dir.join("store.db"),
            StoreOptions::default(),
            &DataKey::from_bytes_for_tests([7; 32]),
        )
        .await
        .unwrap();
        let (events, _) = broadcast::channel(64);
        let kind = OutputKind::Virtual(sink.clone());
        Player::start(store, events, kind, Arc::new(Unmeasured))
    }

    /// Waits until the queue has played out (a guard against a hang, not a timing assertion).
    async fn until_stopped(player: &Player) {
        let give_up = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let Ok(Response::Player(state)) = player.call(Request::GetPlayer).await else {
                panic!("the player to answer");
            };
            if state.state == PlaybackState::Stopped {
                return;
            }
            assert!(std::time::Instant::now() < give_up, "still playing");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Samples the sink played at `level`.
    fn samples_at(sink: &VirtualSink, level: i16) -> usize {
        let played = sink.played.lock().unwrap();
        played
            .iter()
            .filter(|s| (s.abs() * 32_768.0).round() as i16 == level)
            .count()
    }

    #[tokio::test]
    async fn settings_changed_once_the_next_track_is_queued_do_not_play_it_twice() {
        let dir = tempfile::tempdir().unwrap();
        let sink = VirtualSink::new(48_000, 2);
        let (player, mut player_events) = player_on(dir.path(), &sink).await;
        let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
        // A is shorter than the ring: B is queued behind it before A is even heard.
        write_level(&a, 1000, 12_000);
        write_level(&b, 2000, 48_000);
        play_all(&player, vec![track("a", &a), track("b", &b)]).await;
        assert_eq!(next_started(&mut player_events).await, "a");
        // Each of these chains what follows A anew: B again, unchanged.
        player
            .call(Request::SetNormalisation {
                mode: NormalisationMode::Track,
                target_lufs: None,
            })
            .await
            .unwrap();
        player
            .call(Request::SetRepeat {
                mode: crate::api::RepeatMode::Off,
            })
            .await
            .unwrap();
        player
            .call(Request::SetShuffle { on: false })
            .await
            .unwrap();
        assert_eq!(next_started(&mut player_events).await, "b");
        until_stopped(&player).await;
        assert!(
            player_events.try_recv().is_err(),
            "B is told as started once"
        );
        player.shutdown().await;
        assert_eq!(levels_heard(&sink), vec![1000, 2000]);
        assert_eq!(
            samples_at(&sink, 2000),
            48_000 * 2,
            "B is heard once, whole"
        );
    }

    #[tokio::test]
    async fn play_next_once_the_next_track_is_queued_plays_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let sink = VirtualSink::new(48_000, 2);
        let (player, mut player_events) = player_on(dir.path(), &sink).await;
        let (a, b, x) = (
            dir.path().join("a.wav"),
            dir.path().join("b.wav"),
            dir.path().join("x.wav"),
        );
        // A is shorter than the ring: B is queued behind it before "play next" arrives.
        write_level(&a, 1000, 12_000);
        write_level(&b, 2000, 48_000);
        write_level(&x, 3000, 48_000);
        play_all(&player, vec![track("a", &a), track("b", &b)]).await;
        assert_eq!(next_started(&mut player_events).await, "a");
        // The audio thread takes B (and says so) before it reports any position past A's start:
        // once the player shows 100 ms into A, or B playing, B is queued behind A.
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let Ok(Response::Player(state)) = player.call(Request::GetPlayer).await else {
                panic!("the player to answer");
            };
            let on_a = state.current.as_ref().is_some_and(|t| t.hash == "a");
            if !on_a || state.position_ms >= 100 {
                break;
            }
            assert!(std::time::Instant::now() < give_up, "A never got 100 ms in");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        player
            .load(Load::PlayNext(vec![track("x", &x)]))
            .await
            .unwrap();
        // What is heard and what is told agree: B (already queued), then X.
        assert_eq!(next_started(&mut player_events).await, "b");
        assert_eq!(next_started(&mut player_events).await, "x");
        until_stopped(&player).await;
        player.shutdown().await;
        assert_eq!(levels_heard(&sink), vec![1000, 2000, 3000]);
        assert_eq!(
            samples_at(&sink, 2000),
            48_000 * 2,
            "B is heard once, whole"
        );
    }

    fn track(hash: &str, path: &std::path::Path) -> Track {
        Track {
            duration_ms: 500,
            codec: "pcm_s16le".into(),
            ..Track::for_tests(hash, &path.display().to_string(), hash)
        }
    }

    #[tokio::test]
    async fn only_a_track_the_listener_hears_is_told_as_started_not_one_skipped_before() {
        let dir = tempfile::tempdir().unwrap();
        let (player, mut player_events) = player_on(dir.path(), &VirtualSink::new(48_000, 2)).await;
        // The first cannot be decoded: the player skips it before a frame of it is heard.
        let damaged = dir.path().join("damaged.wav");
        std::fs::write(&damaged, "not audio at all\n".repeat(100)).unwrap();
        let good = dir.path().join("good.wav");
        write_wav(&good);
        play_all(
            &player,
            vec![track("damaged", &damaged), track("good", &good)],
        )
        .await;
        let first = tokio::time::timeout(Duration::from_secs(20), player_events.recv())
            .await
            .expect("a track to start within 20 s")
            .expect("the player to be running");
        let PlayerEvent::Started(started) = first;
        assert_eq!(
            started.hash, "good",
            "the first track told as started is the one heard, not the skipped one"
        );
        player.shutdown().await;
    }
}
