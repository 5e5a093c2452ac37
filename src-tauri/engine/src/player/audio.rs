//! The player's audio thread: owns the output device, the decoders and the producer end of the
//! ring. It decodes ahead of the device, chains the next track's samples straight after the
//! current one's (gapless: the next file is opened before the current one runs out), and works out
//! from the callback's published timestamps which track and frame the listener hears right now.
//!
//! It takes [`Command`]s from the player actor on a bounded channel and answers with [`Report`]s.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering::*;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::decode::Decoder;
use super::output::{self, Output, OutputKind, Timing};
use super::render::{Renderer, Shared};
use super::sync::Schedule;
use crate::clock;

/// Audio queued ahead of the device.
const RING_SECONDS: f32 = 0.5;
/// How often the listener's position is reported.
const POSITION_EVERY: Duration = Duration::from_millis(100);
/// How often scheduled playback reports its error.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// The longest a device just opened is given to start flowing before the music starts anyway.
const FLOW_WAIT: Duration = Duration::from_millis(300);

#[derive(Debug)]
pub enum Command {
    /// Play `path` from source frame `start`, now (or paused), or so that `start` leaves the
    /// device at `at_ns`, at loudness-normalisation `gain` (linear; 1.0 = unchanged), on a
    /// device opened for `timing` (reopened if it is open for the other). Discards whatever
    /// was queued.
    Load {
        id: u64,
        path: PathBuf,
        start: u64,
        paused: bool,
        at_ns: Option<u64>,
        gain: f32,
        timing: Timing,
    },
    /// The track to chain after the current one ends (gapless), or none. The gain travels with
    /// the track (never as a command of its own, which the mailbox could drop under backlog).
    SetNext(Option<Next>),
    /// Pause (true) or play on (false); either cancels a pending [`Command::PauseAt`]. With a
    /// schedule, playing on lands exactly on it, as a start does: the time paused is skipped,
    /// unless a [`Command::Retime`] moved the schedule on by the pause's length first (then
    /// playing on a little ahead of the instant waits for it in silence).
    Pause(bool),
    /// Moves the current schedule `shift_ns` later (earlier if negative) without resetting its
    /// controller: a shift below the jump threshold (5 ms) is slewed away by the playback ratio
    /// (at most 1000 ppm: 1 ms takes about a second), a larger one jumps. Nothing without a
    /// schedule.
    Retime {
        shift_ns: i64,
    },
    /// Pauses at exactly the frame that leaves the device at `at_ns` (engine clock; with a
    /// schedule, the frame due then): the frames before it play, then silence, and the player
    /// is paused as by `Pause(true)` with the samples still queued, and says so with
    /// [`Report::Paused`]. An instant already past pauses at once. Ignored while paused.
    PauseAt {
        at_ns: u64,
    },
    Volume(f32),
    /// Close the device (reopened with `device` on the next load).
    SetDevice(Option<String>),
    Stop,
    Shutdown,
}

/// A track to chain: its load id, its file, and its loudness-normalisation gain (linear), which
/// takes effect at the track's first stream frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Next {
    pub id: u64,
    pub path: PathBuf,
    pub gain: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// The listener now hears this track (from a load or a gapless transition).
    Started { id: u64 },
    /// The chained track `id` was taken: its samples are being queued behind the current
    /// track's, so it plays next whatever `SetNext` says from now on.
    Chained { id: u64 },
    /// Where the listener is in the current track, in milliseconds.
    Position { id: u64, ms: u64 },
    /// The last queued track played out; nothing follows.
    Finished { id: u64 },
    /// The track could not be played.
    Failed { id: u64, message: String },
    /// The device was opened (name) or lost (error). `instead_of`: the chosen device's id, when
    /// it could not be opened and the system default was opened in its place.
    Device {
        name: Option<String>,
        error: Option<String>,
        instead_of: Option<String>,
    },
    /// Scheduled playback's time keeping, every second: the median error of the frame at the
    /// head of the buffer (ns, positive: late); frames skipped (`dropped`) and padded with
    /// silence (`duplicated`) by jumps after the start, and those jumps; the playback ratio's
    /// distance from 1.0 in parts per million (positive: reading faster).
    Sync {
        error_ns: i64,
        dropped: u64,
        duplicated: u64,
        jumps: u32,
        restarts: u32,
        ratio_ppm: f64,
    },
    /// A [`Command::PauseAt`] took effect: the listener stopped at this point of track `id`.
    Paused { id: u64, ms: u64 },
}

/// A stretch of the output stream that belongs to one track.
#[derive(Debug, Clone)]
struct Segment {
    id: u64,
    /// The stream frame where this track begins.
    stream_start: u64,
    /// The track frame (source rate) at `stream_start`.
    source_start: u64,
    source_rate: u32,
    /// Set once the track's last sample is queued.
    stream_end: Option<u64>,
}

pub struct AudioThread {
    kind: OutputKind,
    device: Option<String>,
    commands: Receiver<Command>,
    reports: mpsc::Sender<Report>,
    shared: Arc<Shared>,
    output: Option<(Output, rtrb::Producer<f32>)>,
    /// What the device is (or will next be) opened for.
    timing: Timing,
    decoder: Option<(u64, Decoder)>,
    next: Option<Next>,
    /// Decoded samples not yet in the ring, and how many of them went in.
    pending: Vec<f32>,
    pending_at: usize,
    /// Stream frames ever pushed into the ring.
    pushed: u64,
    segments: VecDeque<Segment>,
    /// The id last reported as started, and whether its end was reported.
    announced: Option<u64>,
    finished_reported: bool,
    last_position: Instant,
    last_sync: Instant,
    /// The current schedule, if playback is scheduled.
    schedule: Option<Schedule>,
    /// The callback's count of pauses at an instant already reported.
    pauses_seen: u64,
}

impl AudioThread {
    pub fn spawn(
        kind: OutputKind,
        commands: Receiver<Command>,
        reports: mpsc::Sender<Report>,
        shared: Arc<Shared>,
    ) -> std::thread::JoinHandle<()> {
        let thread = AudioThread {
            kind,
            device: None,
            commands,
            reports,
            shared,
            output: None,
            timing: Timing::default(),
            decoder: None,
            next: None,
            pending: Vec::new(),
            pending_at: 0,
            pushed: 0,
            segments: VecDeque::new(),
            announced: None,
            finished_reported: true,
            last_position: Instant::now(),
            last_sync: Instant::now(),
            schedule: None,
            pauses_seen: 0,
        };
        std::thread::Builder::new()
            .name("earshot-audio".into())
            .spawn(move || thread.run())
            .expect("to start the audio thread")
    }

    fn run(mut self) {
        loop {
            let busy = self.fill();
            // With no device open there is nothing to fill or watch: sleep until a command
            // comes (an idle peer's audio thread costs nothing). Otherwise keep the ring fed.
            let command = if self.output.is_none() {
                self.commands
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected)
            } else if busy {
                self.commands.recv_timeout(Duration::ZERO)
            } else {
                self.commands.recv_timeout(self.timing.idle_wait())
            };
            match command {
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.watch();
        }
        self.output = None;
    }

    fn report(&self, report: Report) {
        match report {
            // Positions are frequent and replaced by the next one; never wait for them.
            Report::Position { .. } | Report::Sync { .. } => {
                let _ = self.reports.try_send(report);
            }
            // Waiting is safe: the actor never waits on this thread (its commands go through a
            // mailbox that cannot block), and it drops the reports before joining us.
            other => {
                let _ = self.reports.blocking_send(other);
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Load {
                id,
                path,
                start,
                paused,
                at_ns,
                gain,
                timing,
            } => {
                if timing != self.timing {
                    // The device's buffer is chosen when it opens: open it anew (the load
                    // discards what was queued anyway).
                    self.timing = timing;
                    self.output = None;
                }
                self.load(id, path, start, paused, at_ns, gain)
            }
            Command::SetNext(next) => self.set_next(next),
            Command::Pause(paused) => {
                self.shared.pause_at(None);
                self.shared.paused.store(paused, Relaxed);
            }
            Command::Retime { shift_ns } => {
                if let Some(schedule) = self.schedule {
                    let shifted = schedule.shifted(shift_ns);
                    self.shared.retime(shifted);
                    self.schedule = Some(shifted);
                }
            }
            Command::PauseAt { at_ns } => {
                if !self.shared.paused.load(Relaxed) {
                    self.pauses_seen = self.shared.pauses.load(Acquire);
                    self.shared.pause_at(Some(at_ns));
                }
            }
            Command::Volume(volume) => self.shared.set_volume(volume),
            Command::SetDevice(device) => {
                self.device = device;
                self.close();
            }
            Command::Stop => self.close(),
            Command::Shutdown => {}
        }
    }

    /// Closes the device and forgets everything queued.
    fn close(&mut self) {
        self.output = None;
        self.decoder = None;
        self.pending.clear();
        self.pending_at = 0;
        self.segments.clear();
        self.shared.set_schedule(None);
        self.shared.pause_at(None);
        self.schedule = None;
        self.finished_reported = true;
    }

    /// Opens the output if needed; false (reported) if it cannot be.
    fn ensure_output(&mut self, id: u64) -> bool {
        if self.output.is_some() {
            return true;
        }
        let mut producer = None;
        let mut make_renderer = |rate: u32, channels: usize| {
            let capacity = ((rate as f32 * RING_SECONDS) as usize).max(1024) * channels;
            let (p, c) = rtrb::RingBuffer::new(capacity);
            producer = Some(p);
            Renderer::new(c, Arc::clone(&self.shared), channels, rate)
        };
        let timing = self.timing;
        let mut opened = output::open(
            &self.kind,
            self.device.as_deref(),
            timing,
            &mut make_renderer,
        );
        let mut instead_of = None;
        if let (Err(error), Some(chosen)) = (&opened, &self.device) {
            // The chosen device is gone (unplugged since): the system default will do, and the
            // listener is told. The choice stays: the next opening tries it first again.
            tracing::info!(device = %chosen, %error, "the chosen audio device cannot be opened; using the default");
            instead_of = Some(chosen.clone());
            opened = output::open(&self.kind, None, timing, &mut make_renderer);
        }
        match opened {
            Ok(output) => {
                let name = output.opened().device.clone();
                tracing::info!(device = %name, rate = output.opened().rate, channels = output.opened().channels, "audio output opened");
                // A new ring starts empty: the stream position continues from what was consumed.
                self.pushed = self.shared.consumed.load(Relaxed);
                self.output = Some((output, producer.expect("the renderer to be made")));
                self.report(Report::Device {
                    name: Some(name),
                    error: None,
                    instead_of,
                });
                true
            }
            Err(error) => {
                self.report(Report::Failed {
                    id,
                    message: format!(
                        "No audio output could be opened: {}.",
                        error.trim_end_matches('.')
                    ),
                });
                false
            }
        }
    }

    /// Has the callback drop everything queued, and waits until it has (or reopens the device
    /// if the callback is not running).
    fn flush(&mut self) {
        self.pending.clear();
        self.pending_at = 0;
        if self.output.is_none() {
            return;
        }
        let request = self.shared.flush_request.fetch_add(1, AcqRel) + 1;
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.shared.flush_done.load(Acquire) != request {
            if Instant::now() > deadline {
                tracing::warn!("the audio device stopped calling back; reopening it");
                self.output = None;
                self.shared.flush_done.store(request, Release);
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.pushed = self.shared.consumed.load(Acquire);
    }

    fn load(
        &mut self,
        id: u64,
        path: PathBuf,
        start: u64,
        paused: bool,
        at_ns: Option<u64>,
        gain: f32,
    ) {
        self.shared.primed.store(false, Release);
        self.shared.set_schedule(None);
        self.shared.pause_at(None);
        self.schedule = None;
        self.flush();
        self.decoder = None;
        self.segments.clear();
        let fresh = self.output.is_none();
        let buffers_before = self.shared.buffers.load(Acquire);
        if !self.ensure_output(id) {
            return;
        }
        let (rate, channels) = {
            let opened = self
                .output
                .as_ref()
                .expect("the output just opened")
                .0
                .opened();
            (opened.rate, opened.channels)
        };
        let mut decoder = match Decoder::open(&path, rate, channels) {
            Ok(d) => d,
            Err(e) => {
                self.report(Report::Failed {
                    id,
                    message: e.to_string(),
                });
                return;
            }
        };
        let landed = if start > 0 {
            match decoder.seek(start) {
                Ok(frame) => frame,
                Err(e) => {
                    self.report(Report::Failed {
                        id,
                        message: e.to_string(),
                    });
                    return;
                }
            }
        } else {
            0
        };
        let source_rate = decoder.source_rate();
        self.shared.gain_from(self.pushed, gain, true);
        self.segments.push_back(Segment {
            id,
            stream_start: self.pushed,
            source_start: landed,
            source_rate,
            stream_end: None,
        });
        if let Some(at_ns) = at_ns {
            // If the decoder landed off the asked frame, shift the instant to match.
            let shift = (landed as i128 - start as i128) * 1_000_000_000 / source_rate as i128;
            let schedule = Schedule {
                frame: self.pushed,
                at_ns: (at_ns as i128 + shift).max(0) as u64,
                rate,
            };
            self.shared.set_schedule(Some(schedule));
            self.schedule = Some(schedule);
        }
        self.decoder = Some((id, decoder));
        self.announced = None;
        self.finished_reported = false;
        self.shared.paused.store(paused, Relaxed);
        // Fill the ring before the callback may take from it: playback starts with a cushion
        // (and a scheduled start has its samples waiting).
        while self.fill() {}
        if fresh {
            self.wait_until_flowing(buffers_before);
        }
        self.shared.primed.store(true, Release);
    }

    /// A device just opened plays silence until its stream flows: until the instant the first
    /// buffer leaves it has passed (the device's latency, ~20 ms for exact timing, ~90 ms
    /// relaxed), at most [`FLOW_WAIT`]. A stream's first moments are when a sound server is
    /// likeliest to run dry (its client not yet warm, the server still sizing its buffer): behind
    /// a loaded machine, the first 2.5–4.6 ms of a queue were lost there in 3 of 19 runs (the
    /// rest of the track on time), and silence is what such a loss should take.
    fn wait_until_flowing(&self, buffers_before: u64) {
        let deadline = Instant::now() + FLOW_WAIT;
        let mut first_ns = None;
        while Instant::now() < deadline {
            if first_ns.is_none() && self.shared.buffers.load(Acquire) > buffers_before {
                first_ns = Some(self.shared.head_ns.load(Relaxed));
            }
            if first_ns.is_some_and(|ns| clock::now_ns() >= ns) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Moves decoded audio into the ring while there is room. True if it did any work.
    fn fill(&mut self) -> bool {
        let Some((output, producer)) = &mut self.output else {
            return false;
        };
        let channels = output.opened().channels;
        let rate = output.opened().rate;
        if self.pending_at >= self.pending.len() {
            self.pending.clear();
            self.pending_at = 0;
            let Some((id, decoder)) = &mut self.decoder else {
                return false;
            };
            let id = *id;
            // Decode only when the ring has room for a good slice.
            if producer.slots() < producer.buffer().capacity() / 4 {
                return false;
            }
            match decoder.next_chunk(&mut self.pending) {
                Ok(true) => {}
                Ok(false) => {
                    if let Some(segment) = self.segments.back_mut() {
                        segment.stream_end = Some(self.pushed);
                    }
                    self.decoder = None;
                    self.chain_next(rate, channels);
                    return true;
                }
                Err(e) => {
                    if let Some(segment) = self.segments.back_mut() {
                        segment.stream_end = Some(self.pushed);
                    }
                    self.decoder = None;
                    self.report(Report::Failed {
                        id,
                        message: e.to_string(),
                    });
                    return true;
                }
            }
        }
        let Some((_, producer)) = &mut self.output else {
            return false;
        };
        let remaining = self.pending.len() - self.pending_at;
        let room = producer.slots() / channels * channels;
        let n = remaining.min(room);
        if n == 0 {
            return false;
        }
        let mut chunk = producer.write_chunk(n).expect("the slots just counted");
        let (first, second) = chunk.as_mut_slices();
        let source = &self.pending[self.pending_at..self.pending_at + n];
        first.copy_from_slice(&source[..first.len()]);
        second.copy_from_slice(&source[first.len()..]);
        chunk.commit_all();
        self.pending_at += n;
        self.pushed += (n / channels) as u64;
        true
    }

    /// What follows the current track. A track not taken yet is replaced. The load id already
    /// taken for chaining (its samples queued behind the current track's) is never queued a
    /// second time: naming it again only updates its gain, from its first frame (or from now,
    /// if that frame is already playing).
    fn set_next(&mut self, next: Option<Next>) {
        if let Some(wanted) = &next {
            if self.next.as_ref().map(|n| n.id) != Some(wanted.id) {
                if let Some(taken) = self.segments.iter().find(|s| s.id == wanted.id) {
                    if self.announced != Some(wanted.id) {
                        self.shared
                            .gain_from(taken.stream_start, wanted.gain, false);
                    }
                    return;
                }
            }
        }
        self.next = next;
        // A current track shorter than the ring was all queued before its next one was named:
        // chain it now, right behind it (still gapless unless the ring ran dry meanwhile).
        if self.decoder.is_none() && !self.finished_reported && !self.segments.is_empty() {
            if let Some((output, _)) = &self.output {
                let (rate, channels) = (output.opened().rate, output.opened().channels);
                self.chain_next(rate, channels);
            }
        }
    }

    /// The current track's samples are all queued: open the next one right behind them.
    fn chain_next(&mut self, rate: u32, channels: usize) {
        let Some(Next { id, path, gain }) = self.next.take() else {
            return;
        };
        match Decoder::open(&path, rate, channels) {
            Ok(decoder) => {
                self.shared.gain_from(self.pushed, gain, false);
                self.segments.push_back(Segment {
                    id,
                    stream_start: self.pushed,
                    source_start: 0,
                    source_rate: decoder.source_rate(),
                    stream_end: None,
                });
                self.decoder = Some((id, decoder));
                self.finished_reported = false;
                self.report(Report::Chained { id });
            }
            Err(e) => self.report(Report::Failed {
                id,
                message: e.to_string(),
            }),
        }
    }

    /// Works out what the listener hears now; reports track changes, the end, the position and
    /// device failures.
    fn watch(&mut self) {
        let Some((output, _)) = &self.output else {
            return;
        };
        if let Some(error) = output.failure() {
            tracing::warn!(%error, "the audio device failed");
            self.close();
            self.shared.paused.store(true, Relaxed);
            self.report(Report::Device {
                name: None,
                error: Some(error),
                instead_of: None,
            });
            return;
        }
        let rate = output.opened().rate as i128;
        if self.shared.buffers.load(Acquire) == 0 {
            return;
        }
        let head = self.shared.head_frame.load(Relaxed);
        let head_ns = self.shared.head_ns.load(Relaxed);
        let hearing = if self.shared.paused.load(Relaxed) {
            head
        } else {
            let ahead = (clock::now_ns() as i128 - head_ns as i128) * rate / 1_000_000_000;
            (head as i128 + ahead).clamp(0, head as i128 + rate) as u64
        };
        // Drop segments the listener has moved past.
        while self.segments.len() > 1 && self.segments[1].stream_start <= hearing {
            self.segments.pop_front();
        }
        let Some(segment) = self.segments.front().cloned() else {
            return;
        };
        let pauses = self.shared.pauses.load(Acquire);
        if pauses != self.pauses_seen {
            self.pauses_seen = pauses;
            let frame = self.shared.paused_frame.load(Relaxed);
            let at = self
                .segments
                .iter()
                .rev()
                .find(|s| s.stream_start <= frame)
                .unwrap_or(&segment);
            let played = frame.saturating_sub(at.stream_start) as u128;
            let ms = at.source_start as u128 * 1000 / at.source_rate.max(1) as u128
                + played * 1000 / rate.max(1) as u128;
            self.report(Report::Paused {
                id: at.id,
                ms: ms as u64,
            });
        }
        if hearing >= segment.stream_start && self.announced != Some(segment.id) {
            self.announced = Some(segment.id);
            self.report(Report::Started { id: segment.id });
        }
        if let Some(end) = segment.stream_end {
            let drained = self.shared.consumed.load(Relaxed) >= end
                && clock::now_ns() >= self.shared.drained_ns.load(Relaxed);
            if drained && self.segments.len() == 1 && self.decoder.is_none() {
                if !self.finished_reported {
                    self.finished_reported = true;
                    self.report(Report::Finished { id: segment.id });
                }
                return;
            }
        }
        if self.last_position.elapsed() >= POSITION_EVERY && self.announced == Some(segment.id) {
            self.last_position = Instant::now();
            let played = hearing.saturating_sub(segment.stream_start) as u128;
            let ms = segment.source_start as u128 * 1000 / segment.source_rate as u128
                + played * 1000 / rate as u128;
            self.report(Report::Position {
                id: segment.id,
                ms: ms as u64,
            });
        }
        if self.schedule.is_some() && self.last_sync.elapsed() >= SYNC_EVERY {
            self.last_sync = Instant::now();
            self.report(Report::Sync {
                error_ns: self.shared.error_ns.load(Relaxed),
                dropped: self.shared.skipped.load(Relaxed),
                duplicated: self.shared.padded.load(Relaxed),
                jumps: self.shared.jumps.load(Relaxed),
                restarts: self.shared.restarts.load(Relaxed),
                ratio_ppm: self.shared.ratio_ppm(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::output::VirtualSink;

    const RATE: u32 = 48_000;

    /// A 16-bit stereo WAV at 48 kHz whose frame `n` holds `((first + n) mod 65536) − 32768`:
    /// a ramp, so each played sample says which (fractional) stream frame it was read at.
    fn write_ramp(path: &std::path::Path, first: u32, frames: u32) {
        let ramp = (first..first + frames).map(|n| ((n % 65_536) as i32 - 32_768) as i16);
        let samples = crate::media::wav::stereo(ramp);
        std::fs::write(path, crate::media::wav::pcm16(RATE, 2, &samples)).unwrap();
    }

    /// An audio thread playing into `sink`: where to send it commands, its reports, its handle.
    fn spawn_on(
        sink: &VirtualSink,
    ) -> (
        std::sync::mpsc::SyncSender<Command>,
        mpsc::Receiver<Report>,
        std::thread::JoinHandle<()>,
    ) {
        let (commands, receiver) = std::sync::mpsc::sync_channel(16);
        let (sender, reports) = mpsc::channel(1024);
        let thread = AudioThread::spawn(
            OutputKind::Virtual(sink.clone()),
            receiver,
            sender,
            Arc::new(Shared::new()),
        );
        (commands, reports, thread)
    }

    /// The thread's reports until track `id` finished (a guard against a hang, not a timing
    /// assertion: the tests' tracks last seconds).
    fn reports_until_finished(reports: &mut mpsc::Receiver<Report>, id: u64) -> Vec<Report> {
        let mut seen = Vec::new();
        let give_up = Instant::now() + Duration::from_secs(30);
        while !seen.contains(&Report::Finished { id }) {
            assert!(Instant::now() < give_up, "no end in sight: {seen:?}");
            match reports.try_recv() {
                Ok(report) => seen.push(report),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        seen
    }

    /// Plays two ramp tracks back to back (gapless, one continuous ramp) scheduled 300 ms
    /// ahead on a virtual device drifting by `drift_ppm`; returns, for every frame the device
    /// played, how late it left the device against the schedule (ns), and the thread's reports.
    fn scheduled_across_a_transition(drift_ppm: f64) -> (Vec<f64>, Vec<Report>) {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
        write_ramp(&a, 0, RATE);
        write_ramp(&b, RATE, RATE);
        let sink = VirtualSink {
            drift_ppm,
            ..VirtualSink::new(RATE, 2)
        };
        let (commands, mut reports, thread) = spawn_on(&sink);
        let at_ns = clock::now_ns() + 300_000_000;
        commands
            .send(Command::Load {
                id: 1,
                path: a,
                start: 0,
                paused: false,
                at_ns: Some(at_ns),
                gain: 1.0,
                timing: Timing::Exact,
            })
            .unwrap();
        commands
            .send(Command::SetNext(Some(Next {
                id: 2,
                path: b,
                gain: 1.0,
            })))
            .unwrap();
        let seen = reports_until_finished(&mut reports, 2);
        commands.send(Command::Shutdown).unwrap();
        thread.join().unwrap();

        // Every frame that sits on the ramp (re-anchored after its wraps), up to the music's end.
        let errors: Vec<f64> = ramp_positions(&sink)
            .into_iter()
            .take_while(|(position, _)| *position < 2.0 * RATE as f64 - 3.0)
            .map(|(position, instant)| instant - (at_ns as f64 + position * 1e9 / RATE as f64))
            .collect();
        // Both tracks were heard: nearly two seconds of frames checked.
        assert!(errors.len() > 2 * RATE as usize - 2000, "{}", errors.len());
        (errors, seen)
    }

    fn jumps(reports: &[Report]) -> u32 {
        reports
            .iter()
            .filter_map(|r| match r {
                Report::Sync { jumps, .. } => Some(*jumps),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_schedule_holds_across_a_gapless_transition() {
        let (errors, reports) = scheduled_across_a_transition(0.0);
        let worst = errors.iter().fold(0.0f64, |m, e| m.max(e.abs()));
        // The start lands to a fraction of a frame, and a matching device needs no correction.
        assert!(worst < 1_000.0, "worst {worst} ns");
        assert_eq!(jumps(&reports), 0);
        assert!(reports.contains(&Report::Started { id: 2 }));
    }

    #[test]
    fn a_drifting_device_is_followed_without_jumps() {
        let (errors, reports) = scheduled_across_a_transition(100.0);
        let worst = errors.iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(worst < 200_000.0, "worst {worst} ns");
        assert_eq!(jumps(&reports), 0);
    }

    /// Where each played frame of a ramp came from: (stream position, instant it left the
    /// device) for the frames that sit on the ramp (not the ones interpolated across its wrap
    /// or a start), in order.
    #[test]
    fn a_device_just_opened_plays_silence_until_its_first_buffer_has_left_it() {
        let dir = tempfile::tempdir().unwrap();
        let track = dir.path().join("a.wav");
        // A ramp that starts at 1, so every frame of the music is non-zero.
        write_ramp(&track, 32_769, RATE / 2);
        let sink = VirtualSink {
            latency: Duration::from_millis(60),
            ..VirtualSink::new(RATE, 2)
        };
        let (commands, mut reports, thread) = spawn_on(&sink);
        commands
            .send(Command::Load {
                id: 1,
                path: track,
                start: 0,
                paused: false,
                at_ns: None,
                gain: 1.0,
                timing: Timing::Relaxed,
            })
            .unwrap();
        reports_until_finished(&mut reports, 1);
        commands.send(Command::Shutdown).unwrap();
        thread.join().unwrap();

        let played = sink.played.lock().unwrap().clone();
        let instants = sink.instants.lock().unwrap().clone();
        let first_music = played.iter().position(|s| *s != 0.0).unwrap() / 2;
        let buffer = first_music / sink.buffer;
        // Silence went out first, and the music's first buffer was rendered only once the
        // first buffer's instant had come (the sink renders each buffer `latency` before it
        // leaves, so the music's buffer leaves at least that long after the first).
        assert!(buffer > 0, "the music started in the device's first buffer");
        assert!(
            instants[buffer] >= instants[0] + sink.latency.as_nanos() as u64,
            "the music left {} ms after the first buffer",
            (instants[buffer] - instants[0]) / 1_000_000
        );
        // And the music itself starts on its first frame (the ramp's 1).
        assert_eq!(played[first_music * 2], 1.0 / 32_768.0);
    }

    fn ramp_positions(sink: &VirtualSink) -> Vec<(f64, f64)> {
        let played = sink.played.lock().unwrap().clone();
        let instants = sink.instants.lock().unwrap().clone();
        let frame_ns = sink.frame_ns();
        let mut out = Vec::new();
        let mut anchor: Option<(usize, f64)> = None;
        for k in 1..played.len() / 2 - 1 {
            let (before, x, after) = (played[2 * k - 2], played[2 * k], played[2 * k + 2]);
            if x == 0.0 || before == 0.0 || after == 0.0 {
                anchor = None;
                continue;
            }
            let raw = x as f64 * 32_768.0 + 32_768.0;
            let expected = anchor.map_or(raw, |(at, p)| p + (k - at) as f64);
            let position = raw + 65_536.0 * ((expected - raw) / 65_536.0).round();
            let steady = ((before as f64 - x as f64) * 32_768.0 + 1.0).abs() < 0.01
                && ((after as f64 - x as f64) * 32_768.0 - 1.0).abs() < 0.01;
            if steady {
                anchor = Some((k, position));
                let instant =
                    instants[k / sink.buffer] as f64 + (k % sink.buffer) as f64 * frame_ns;
                out.push((position, instant));
            }
        }
        out
    }

    #[test]
    fn a_pause_at_an_instant_and_a_retimed_resume_land_on_exact_frames() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.wav");
        write_ramp(&a, 0, 2 * RATE);
        let sink = VirtualSink::new(RATE, 2);
        let (commands, mut reports, thread) = spawn_on(&sink);
        let at_ns = clock::now_ns() + 300_000_000;
        let wait_until = |ns: u64| {
            while clock::now_ns() < ns {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        commands
            .send(Command::Load {
                id: 1,
                path: a,
                start: 0,
                paused: false,
                at_ns: Some(at_ns),
                gain: 1.0,
                timing: Timing::Exact,
            })
            .unwrap();
        // Pause 0.8 s into the track (sent 0.5 s ahead), for 1 s: the schedule moves on by
        // that second before playing on, which is sent 0.6 s ahead of the instant (margins for
        // a loaded machine: the landing is exact however early they arrive).
        wait_until(at_ns + 300_000_000);
        commands
            .send(Command::PauseAt {
                at_ns: at_ns + 800_000_000,
            })
            .unwrap();
        let give_up = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        let mut next = |seen: &mut Vec<Report>| {
            assert!(Instant::now() < give_up, "{seen:?}");
            match reports.try_recv() {
                Ok(report) => seen.push(report),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        while !seen.iter().any(|r| matches!(r, Report::Paused { .. })) {
            next(&mut seen);
        }
        assert!(
            seen.contains(&Report::Paused { id: 1, ms: 800 }),
            "{seen:?}"
        );
        commands
            .send(Command::Retime {
                shift_ns: 1_000_000_000,
            })
            .unwrap();
        wait_until(at_ns + 1_200_000_000);
        commands.send(Command::Pause(false)).unwrap();
        while !seen.contains(&Report::Finished { id: 1 }) {
            next(&mut seen);
        }
        commands.send(Command::Shutdown).unwrap();
        thread.join().unwrap();

        let positions = ramp_positions(&sink);
        let pause_frame = 0.8 * RATE as f64;
        let mut before = 0;
        let mut after = 0;
        for (position, instant) in positions {
            let due = if position < pause_frame {
                before += 1;
                at_ns as f64 + position * 1e9 / RATE as f64
            } else {
                after += 1;
                at_ns as f64 + 1e9 + position * 1e9 / RATE as f64
            };
            assert!(
                (instant - due).abs() < 1_000.0,
                "frame {position}: {} ns off",
                instant - due
            );
        }
        // Every frame was heard, on time, on either side of the pause.
        assert!(before > 38_000 && after > 57_000, "{before} + {after}");
    }
}
