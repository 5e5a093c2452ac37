//! The output side of the player: what runs inside the audio device's callback (conventions 5).
//!
//! The decoder thread pushes interleaved samples, already at the device's rate and channel count,
//! into a lock-free SPSC ring ([`rtrb`]). [`Renderer::render`] — called by the output for every
//! buffer — reads them (times the volume) or plays silence, and publishes through atomics in
//! [`Shared`] which stream frame was at the head of the buffer and when that frame leaves the
//! device. No locks, allocation, logging or I/O happen here.
//!
//! The read position is fractional: the renderer reads `ratio` stream frames per output frame,
//! interpolating between frames (4-point cubic Lagrange) — with no schedule the
//! ratio is exactly 1.0 and the position a whole frame, so samples are copied unchanged. With a
//! [`Schedule`] set, the pure [`Corrector`] keeps the position on time: it jumps it at a start
//! (landing to a fraction of a frame) and sets a ratio a few ppm away from 1.0 to slew small
//! errors away and follow a device that drifts. Interpolating a 1 kHz tone this way costs nothing
//! measurable; dropping or doubling single frames, which it replaced, was audible.
//!
//! Loudness normalisation is one multiplication per sample and adds no latency (so a jam's
//! peers, each with its own gains, stay on the same timeline): the decoder thread posts each
//! track's gain with the stream frame where the track begins ([`Shared::gain_from`]), and the
//! callback moves to it from that frame on by a linear ramp over 5 ms that ends on the target
//! exactly, so a gapless join between tracks with different gains does not click and a gain of
//! 1.0 after the join is exactly 1.0. A gain above 1.0 also goes through a soft limiter
//! ([`limit`]): a per-sample knee above −1 dBFS that bends every sample under full scale, for
//! what the gain's peak ceiling cannot promise (a track whose peak is not known, the overshoot of
//! resampling and interpolation). A gain below 1.0 cannot take a sample in range past full
//! scale, so it is a plain multiplication. With normalisation off every gain is exactly 1.0 and
//! samples pass bit for bit, as before.
//!
//! "Stream frame" counts every frame that ever entered the ring, so it never goes backwards: the
//! decoder thread knows which stream frame holds which track frame, and the callback knows which
//! stream frame is at the head of each buffer.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::*};

use rtrb::Consumer;

use super::sync::{Corrector, Schedule};

/// State shared between the decoder thread and the callback; atomics only.
#[derive(Debug, Default)]
pub struct Shared {
    pub paused: AtomicBool,
    /// False while a new stream is being queued: the callback plays silence and takes nothing,
    /// so playback starts with a full ring rather than racing the decoder.
    pub primed: AtomicBool,
    /// Volume as f32 bits (0.0–1.0).
    volume: AtomicU32,
    /// Bumped by the decoder thread to have the callback discard everything queued.
    pub flush_request: AtomicU64,
    /// Set by the callback to the request it carried out.
    pub flush_done: AtomicU64,
    /// Stream frames taken from the ring so far (played, skipped or discarded).
    pub consumed: AtomicU64,
    /// The head of the last buffer: its stream frame and when it leaves the device (engine ns).
    pub head_frame: AtomicU64,
    pub head_ns: AtomicU64,
    /// When the last frame taken from the ring so far leaves the device (engine ns): once the
    /// stream runs dry, the end of the music is heard then.
    pub drained_ns: AtomicU64,
    /// Buffers rendered, for the decoder thread to see that the output is alive.
    pub buffers: AtomicU64,
    /// Buffers that ran out of samples (the decoder fell behind).
    pub underruns: AtomicU64,
    /// Pause at this instant (engine ns; 0: no pause pending): see [`Shared::pause_at`].
    pause_at: AtomicU64,
    /// Bumped by the callback each time a pending pause took effect, with the stream frame it
    /// stopped at.
    pub pauses: AtomicU64,
    pub paused_frame: AtomicU64,
    /// The schedule, written under a sequence lock: odd `schedule_seq` while being written.
    schedule_seq: AtomicU64,
    schedule_frame: AtomicU64,
    schedule_at: AtomicU64,
    /// 0 = no schedule.
    schedule_rate: AtomicU32,
    /// Bumped for a new schedule (a new controller), not when one is shifted.
    schedule_epoch: AtomicU64,
    /// What the corrector reports, for `sync_report` events: the median error, the frames
    /// skipped and padded with silence by jumps after the start, the jumps, and the ratio's
    /// distance from 1.0 in ppm (f64 bits).
    pub error_ns: AtomicI64,
    pub skipped: AtomicU64,
    pub padded: AtomicU64,
    pub jumps: AtomicU32,
    ratio_ppm: AtomicU64,
    /// Times the device's stream ran dry and was restarted (an xrun, which cpal's error callback
    /// reports): what it played was interrupted, and behind it the sound server may have built a
    /// new stream with a latency of its own, so the renderer's timeline starts afresh.
    pub restarts: AtomicU32,
    /// Gain changes, written by the decoder thread into a ring of [`GAIN_SLOTS`]: slot
    /// `n % GAIN_SLOTS` holds change `n` (the stream frame it starts at, the gain as f32 bits);
    /// `gain_written` counts the changes written.
    gain_frames: [AtomicU64; GAIN_SLOTS],
    gain_values: [AtomicU32; GAIN_SLOTS],
    /// Whether the change is taken at once (a new load, which starts from silence) rather than
    /// ramped (a gapless join).
    gain_jumps: [AtomicBool; GAIN_SLOTS],
    gain_written: AtomicU64,
}

/// Gain changes the callback may lag behind (one per track start; the ring holds 0.5 s).
const GAIN_SLOTS: usize = 16;
/// Where the soft limiter's knee starts: −1 dBFS.
const KNEE: f32 = 0.891_250_9;
/// The most the limiter lets out: the largest 16-bit sample (32767/32768), so no conversion
/// downstream can overflow.
const CEILING: f32 = 32767.0 / 32768.0;
/// How long a gain change takes: a linear ramp over 5 ms of frames that ends by assigning the
/// target exactly (so a track whose gain is 1.0 is bit for bit again once it is over), short
/// enough to sit inside a track's first notes, long enough not to click.
const GAIN_RAMP_SECONDS: f64 = 0.005;

/// The soft limiter: samples up to −1 dBFS pass unchanged; above, `tanh` bends them towards full
/// scale, which none reaches (held at [`CEILING`]; the curve meets the straight line with the
/// same slope, so the knee adds no edge of its own).
pub fn limit(x: f32) -> f32 {
    let a = x.abs();
    if a <= KNEE {
        return x;
    }
    let over = (a - KNEE) / (1.0 - KNEE);
    (KNEE + (1.0 - KNEE) * over.tanh()).min(CEILING).copysign(x)
}

impl Shared {
    pub fn new() -> Self {
        let shared = Self::default();
        shared.set_volume(1.0);
        shared.primed.store(true, Relaxed);
        shared
    }

    pub fn set_volume(&self, volume: f32) {
        self.volume.store(volume.clamp(0.0, 1.0).to_bits(), Relaxed);
    }

    pub fn volume(&self) -> f32 {
        f32::from_bits(self.volume.load(Relaxed))
    }

    /// From stream frame `frame` on, samples are multiplied by `gain` (loudness normalisation;
    /// 1.0: unchanged): at once if `jump` (a new load: the stream starts there after a flush),
    /// else ramped from the gain before (a gapless join). Called by the decoder thread only, in
    /// stream order.
    pub fn gain_from(&self, frame: u64, gain: f32, jump: bool) {
        let n = self.gain_written.load(Relaxed);
        let slot = (n % GAIN_SLOTS as u64) as usize;
        self.gain_frames[slot].store(frame, Relaxed);
        self.gain_values[slot].store(gain.to_bits(), Relaxed);
        self.gain_jumps[slot].store(jump, Relaxed);
        self.gain_written.store(n + 1, Release);
    }

    /// The gain change after the `read` ones the callback has taken, if one was written.
    fn gain_change(&self, read: &mut u64) -> Option<(u64, f32, bool)> {
        let written = self.gain_written.load(Acquire);
        if *read >= written {
            return None;
        }
        // Fallen a whole ring behind (cannot happen with tracks longer than the ring): the
        // oldest changes are gone, take the oldest still there.
        *read = (*read).max(written.saturating_sub(GAIN_SLOTS as u64 - 1));
        let slot = (*read % GAIN_SLOTS as u64) as usize;
        let change = (
            self.gain_frames[slot].load(Relaxed),
            f32::from_bits(self.gain_values[slot].load(Relaxed)),
            self.gain_jumps[slot].load(Relaxed),
        );
        *read += 1;
        Some(change)
    }

    /// The corrector's current ratio, in ppm away from 1.0.
    pub fn ratio_ppm(&self) -> f64 {
        f64::from_bits(self.ratio_ppm.load(Relaxed))
    }

    /// Sets (or with `None` clears) the schedule, with a fresh controller. Called by the decoder
    /// thread only.
    pub fn set_schedule(&self, schedule: Option<Schedule>) {
        self.write_schedule(schedule, true);
    }

    /// Replaces the schedule by a shifted one, keeping the controller (and what it learnt of
    /// the device): small shifts are slewed away, large ones jump. Called by the decoder thread.
    pub fn retime(&self, schedule: Schedule) {
        self.write_schedule(Some(schedule), false);
    }

    fn write_schedule(&self, schedule: Option<Schedule>, new_epoch: bool) {
        let seq = self.schedule_seq.load(Relaxed);
        self.schedule_seq.store(seq + 1, Release);
        std::sync::atomic::fence(Release);
        match schedule {
            Some(s) => {
                self.schedule_frame.store(s.frame, Relaxed);
                self.schedule_at.store(s.at_ns, Relaxed);
                self.schedule_rate.store(s.rate, Relaxed);
            }
            None => self.schedule_rate.store(0, Relaxed),
        }
        if new_epoch {
            self.schedule_epoch.fetch_add(1, Relaxed);
        }
        self.schedule_seq.store(seq + 2, Release);
    }

    /// The schedule and its epoch, or None while it is being written.
    fn schedule(&self) -> Option<(u64, Option<Schedule>)> {
        let before = self.schedule_seq.load(Acquire);
        if before % 2 == 1 {
            return None;
        }
        let rate = self.schedule_rate.load(Relaxed);
        let frame = self.schedule_frame.load(Relaxed);
        let at_ns = self.schedule_at.load(Relaxed);
        let epoch = self.schedule_epoch.load(Relaxed);
        std::sync::atomic::fence(Acquire);
        if self.schedule_seq.load(Relaxed) != before {
            return None;
        }
        Some((
            epoch,
            (rate != 0).then_some(Schedule { frame, at_ns, rate }),
        ))
    }

    /// Asks the callback to pause at the frame that leaves the device at `at_ns` (with a
    /// schedule: the frame due then): it plays up to it, then silence, sets `paused`, and bumps
    /// `pauses`. An instant already past pauses at the next buffer's head. `None` cancels.
    pub fn pause_at(&self, at_ns: Option<u64>) {
        self.pause_at
            .store(at_ns.map_or(0, |ns| ns.max(1)), Release);
    }
}

/// Lives in the output callback; owns the ring's consumer end.
pub struct Renderer {
    ring: Consumer<f32>,
    shared: std::sync::Arc<Shared>,
    channels: usize,
    rate: u32,
    corrector: Corrector,
    /// The schedule epoch the corrector belongs to.
    schedule_epoch: u64,
    /// The read position relative to the ring's head (stream frame `consumed`), in frames: the
    /// next output frame is read at `consumed + offset`. Below −2 it is silence before the
    /// stream (a scheduled start waiting); between −2 and 0 it leans on `previous`.
    offset: f64,
    /// The two frames before the ring's head, unscaled: `previous[1]` is stream frame
    /// `consumed − 1`, `previous[0]` the one before (zeros after a flush or a jump back).
    previous: [[f32; 8]; 2],
    /// Frames handed to the device so far (samples and silence alike).
    rendered: u64,
    timeline: DeviceTimeline,
    /// The device's restarts the renderer has seen.
    device_restarts: u32,
    /// Whether the last buffer was silence for a pause (or an unprimed stream).
    held: bool,
    /// The gain now (ramping towards `gain_target`), the next change not yet reached, and the
    /// changes taken from [`Shared`] so far.
    gain: f32,
    gain_target: f32,
    gain_pending: Option<(u64, f32, bool)>,
    gains_read: u64,
    /// The ramp under way: its step per frame, and the frames left (the last one assigns the
    /// target).
    gain_step: f32,
    gain_left: u32,
    /// Frames a ramp lasts at this rate ([`GAIN_RAMP_SECONDS`], at least one).
    gain_ramp: u32,
}

/// Playback timestamps the device timeline is the median of (about 0.7 s at 512 frames).
const TIMELINE: usize = 64;
/// Every this many buffers, the timeline's median goes into the history the drift is fitted on.
const HISTORY_EVERY: u32 = 32;
/// Medians the drift is fitted on (32 × 32 buffers: 11 s at 512 frames, 7 s at 341).
const HISTORY: usize = 32;
/// A fitted drift below this (parts per million) is taken as none: a device on the engine's
/// own clock is then never resampled; what is left is the dead band's.
const DRIFT_DEAD_PPM: f64 = 3.0;
/// A fitted drift is believed up to this (sound cards are within a few hundred ppm); the
/// controller's own correction (±500 ppm) always outweighs an error in it.
const MAX_DRIFT: f64 = 300e-6;
/// A fit whose points lie further than this from its line (median absolute residual, ns) is
/// not believed.
const FIT_SPREAD_NS: f64 = 100_000.0;
/// A median this far (ns) from where the fitted line puts it is a step, not drift.
const STEP_NS: f64 = 300_000.0;
/// The smoothed timeline moving this far (ns) from where its slope puts it within
/// [`HISTORY_EVERY`] buffers is a step of the device: the sound server stalled and played
/// silence, or dropped audio ([`DeviceTimeline::steps`]). Drift moves it by a few µs in that time,
/// and the median of [`TIMELINE`] timestamps by less than the jitter left after smoothing.
const DEVICE_STEP_NS: f64 = 1_000_000.0;

/// Where the device is: a steady timeline fitted to the jittery playback timestamps.
///
/// A device plays at a steady rate, so `base = playback − rendered/rate` (when frame 0 would
/// have left the device) is constant but for the timestamps' jitter — or, for a device whose
/// clock drifts against the engine's, a straight line. The drift (the line's slope) is a
/// Theil–Sen fit over the last ~10 s of medians, so a step or an outlier does not tilt it; the
/// current base is the median of the last [`TIMELINE`] timestamps, each carried forward along
/// that slope, so a drifting device is followed without lagging. No allocation.
#[derive(Debug, Clone)]
pub struct DeviceTimeline {
    rate: f64,
    /// (frames rendered, base ns) of recent buffers.
    recent: [(u64, i64); TIMELINE],
    recent_len: usize,
    recent_next: usize,
    /// (frames rendered, median base ns) every [`HISTORY_EVERY`] buffers.
    history: [(u64, i64); HISTORY],
    history_len: usize,
    history_next: usize,
    since_history: u32,
    /// The fitted drift: device ns per engine ns, minus one (negative: the device plays
    /// faster than its nominal rate).
    slope: f64,
    /// (frames rendered, smoothed base ns) at the last look for a step, and the steps seen.
    reference: Option<(u64, i64)>,
    since_reference: u32,
    steps: u64,
}

impl DeviceTimeline {
    pub fn new(rate: u32) -> Self {
        Self {
            rate: rate.max(1) as f64,
            recent: [(0, 0); TIMELINE],
            recent_len: 0,
            recent_next: 0,
            history: [(0, 0); HISTORY],
            history_len: 0,
            history_next: 0,
            since_history: 0,
            slope: 0.0,
            reference: None,
            since_reference: 0,
            steps: 0,
        }
    }

    /// Forgets the timestamps (the device's stream restarted: they were another stream's), keeping
    /// the fitted drift, which is the device clock's and still holds.
    pub fn restart(&mut self) {
        *self = Self {
            slope: self.slope,
            steps: self.steps,
            ..Self::new(self.rate as u32)
        };
    }

    /// How many times the smoothed timeline has stepped (moved more than [`DEVICE_STEP_NS`] off
    /// its slope within [`HISTORY_EVERY`] buffers): each is a stall or a loss of the sound
    /// server, heard already, after which the error a schedule measures comes from the device,
    /// not from drift.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Takes the timestamp of the buffer starting at frame `rendered` and returns its playback
    /// instant on the fitted timeline.
    pub fn smooth(&mut self, rendered: u64, playback_ns: u64) -> u64 {
        let elapsed = |frames: u64| frames as f64 * 1e9 / self.rate;
        let base = (playback_ns as f64 - elapsed(rendered)) as i64;
        self.recent[self.recent_next] = (rendered, base);
        self.recent_next = (self.recent_next + 1) % TIMELINE;
        self.recent_len = (self.recent_len + 1).min(TIMELINE);

        self.since_history += 1;
        if self.since_history >= HISTORY_EVERY || self.history_len == 0 {
            self.since_history = 0;
            let mut plain = [0i64; TIMELINE];
            for (slot, (_, b)) in plain.iter_mut().zip(&self.recent[..self.recent_len]) {
                *slot = *b;
            }
            let values = &mut plain[..self.recent_len];
            let middle = values.len() / 2;
            let (_, median, _) = values.select_nth_unstable(middle);
            let median = *median;
            // A step (the sound server lost or inserted audio) is no drift: fit afresh after it,
            // keeping the slope fitted so far meanwhile.
            if self.history_len > 0 {
                let last = (self.history_next + HISTORY - 1) % HISTORY;
                let (at, base) = self.history[last];
                let predicted = base as f64 + self.slope * elapsed(rendered - at);
                if (median as f64 - predicted).abs() > STEP_NS {
                    self.history_len = 0;
                    self.history_next = 0;
                }
            }
            self.history[self.history_next] = (rendered, median);
            self.history_next = (self.history_next + 1) % HISTORY;
            self.history_len = (self.history_len + 1).min(HISTORY);
            if let Some(slope) = self.fit() {
                self.slope = slope;
            }
        }

        // Each recent timestamp, carried forward along the slope to this buffer.
        let mut carried = [0i64; TIMELINE];
        for (slot, (at, b)) in carried.iter_mut().zip(&self.recent[..self.recent_len]) {
            *slot = b + (self.slope * elapsed(rendered - at)) as i64;
        }
        let values = &mut carried[..self.recent_len];
        let middle = values.len() / 2;
        let (_, median, _) = values.select_nth_unstable(middle);
        let median = *median;

        // A step: the smoothed base moved off the slope by more than drift could in this time.
        // Only once the timeline is full: while it fills, its median still wanders.
        if self.recent_len == TIMELINE {
            self.since_reference += 1;
            match self.reference {
                Some((at, base)) => {
                    let predicted = base as f64 + self.slope * elapsed(rendered - at);
                    let stepped = (median as f64 - predicted).abs() > DEVICE_STEP_NS;
                    if stepped {
                        self.steps += 1;
                    }
                    if stepped || self.since_reference >= HISTORY_EVERY {
                        self.reference = Some((rendered, median));
                        self.since_reference = 0;
                    }
                }
                None => self.reference = Some((rendered, median)),
            }
        }
        (median as f64 + elapsed(rendered)).max(0.0) as u64
    }

    /// The device's drift against the engine clock, in parts per million (positive: the
    /// device plays slower than its nominal rate, so each frame lasts longer).
    pub fn drift_ppm(&self) -> f64 {
        self.slope * 1e6
    }

    /// Theil–Sen: the median of the slopes between every pair of history points; None while
    /// the history is too short to say more about jitter than about drift.
    fn fit(&self) -> Option<f64> {
        if self.history_len < HISTORY / 2 {
            return None;
        }
        let mut slopes = [0.0f64; HISTORY * (HISTORY - 1) / 2];
        let mut n = 0;
        let points = &self.history[..self.history_len];
        for (i, (ni, bi)) in points.iter().enumerate() {
            for (nj, bj) in &points[i + 1..] {
                let dt = (*nj as f64 - *ni as f64) * 1e9 / self.rate;
                if dt != 0.0 {
                    slopes[n] = (*bj - *bi) as f64 / dt;
                    n += 1;
                }
            }
        }
        if n == 0 {
            return None;
        }
        let values = &mut slopes[..n];
        let middle = n / 2;
        let (_, median, _) = values.select_nth_unstable_by(middle, |a, b| a.total_cmp(b));
        let slope = *median;
        // A line is believed only if the medians lie on it: a timeline still settling (a new
        // stream's latency, in its first seconds) bends, and its slope means nothing.
        let mut residuals = [0.0f64; HISTORY];
        let (n0, b0) = points[0];
        let mut offsets = [0.0f64; HISTORY];
        for (slot, (ni, bi)) in offsets.iter_mut().zip(points) {
            *slot = (*bi - b0) as f64 - slope * (*ni as f64 - n0 as f64) * 1e9 / self.rate;
        }
        let offsets = &mut offsets[..points.len()];
        let middle = offsets.len() / 2;
        let (_, center, _) = offsets.select_nth_unstable_by(middle, |a, b| a.total_cmp(b));
        let center = *center;
        for (slot, o) in residuals.iter_mut().zip(offsets.iter()) {
            *slot = (o - center).abs();
        }
        let residuals = &mut residuals[..points.len()];
        let (_, spread, _) = residuals.select_nth_unstable_by(middle, |a, b| a.total_cmp(b));
        if *spread > FIT_SPREAD_NS {
            return None;
        }
        Some(if slope.abs() * 1e6 < DRIFT_DEAD_PPM {
            0.0
        } else {
            slope.clamp(-MAX_DRIFT, MAX_DRIFT)
        })
    }
}

/// 4-point cubic Lagrange interpolation between `x1` (t = 0, returned exactly) and `x2`
/// (t = 1), with `x0` and `x3` the frames either side. Exact on cubics; on a 1 kHz tone at
/// 48 kHz its error is ~−103 dB (Catmull-Rom's, only second-order, is ~−89 dB: the floor of
/// the measurement chain).
#[inline]
fn cubic(x0: f32, x1: f32, x2: f32, x3: f32, t: f32) -> f32 {
    let (a, b, c) = (t + 1.0, t - 1.0, t - 2.0);
    let w0 = -t * b * c / 6.0;
    let w1 = a * b * c / 2.0;
    let w2 = -a * t * c / 2.0;
    let w3 = a * t * b / 6.0;
    x0 * w0 + x1 * w1 + x2 * w2 + x3 * w3
}

impl Renderer {
    pub fn new(
        ring: Consumer<f32>,
        shared: std::sync::Arc<Shared>,
        channels: usize,
        rate: u32,
    ) -> Self {
        Self {
            ring,
            shared,
            channels: channels.clamp(1, 8),
            rate,
            corrector: Corrector::default(),
            schedule_epoch: u64::MAX,
            offset: 0.0,
            previous: [[0.0; 8]; 2],
            rendered: 0,
            timeline: DeviceTimeline::new(rate),
            device_restarts: 0,
            held: false,
            gain: 1.0,
            gain_target: 1.0,
            gain_pending: None,
            gains_read: 0,
            gain_step: 0.0,
            gain_left: 0,
            gain_ramp: ((GAIN_RAMP_SECONDS * rate as f64).round() as u32).max(1),
        }
    }

    /// What the renderer shares with the decoder thread (the output's error callback counts the
    /// device's restarts there).
    pub fn shared(&self) -> std::sync::Arc<Shared> {
        std::sync::Arc::clone(&self.shared)
    }

    /// Fills `out` (interleaved, `channels` per frame); `playback_ns` is when its first frame
    /// leaves the device, on the engine clock.
    pub fn render(&mut self, out: &mut [f32], playback_ns: u64) {
        let channels = self.channels;
        let frames = out.len() / channels;
        let shared = &*self.shared;
        // The stream ran dry and restarted since the last buffer: the timestamps before it are
        // of another stream (the slope, the device's clock, still holds).
        let restarts = shared.restarts.load(Relaxed);
        let restarted = restarts != self.device_restarts;
        if restarted {
            self.device_restarts = restarts;
            self.timeline.restart();
        }
        let steps = self.timeline.steps();
        let playback_ns = self.timeline.smooth(self.rendered, playback_ns);
        let stepped = self.timeline.steps() != steps;
        self.rendered += frames as u64;
        let rate = self.rate.max(1) as f64;

        let request = shared.flush_request.load(Acquire);
        if shared.flush_done.load(Relaxed) != request {
            let queued = self.ring.slots();
            if let Ok(chunk) = self.ring.read_chunk(queued) {
                chunk.commit_all();
            }
            shared
                .consumed
                .fetch_add((queued / channels) as u64, Relaxed);
            self.offset = 0.0;
            self.previous = [[0.0; 8]; 2];
            shared.flush_done.store(request, Release);
        }

        let consumed = shared.consumed.load(Relaxed);
        let head = (consumed as i128 + self.offset.floor() as i128).max(0) as u64;
        shared.head_frame.store(head, Relaxed);
        shared.head_ns.store(playback_ns, Relaxed);
        shared.buffers.fetch_add(1, Release);

        if shared.paused.load(Relaxed) || !shared.primed.load(Acquire) {
            out.fill(0.0);
            self.held = true;
            return;
        }
        let resumed = std::mem::take(&mut self.held);

        let mut ratio = 1.0;
        let mut schedule = None;
        if let Some((epoch, current)) = shared.schedule() {
            if epoch != self.schedule_epoch {
                self.schedule_epoch = epoch;
                self.corrector = Corrector::default();
            } else if resumed {
                self.corrector.restart();
            }
            schedule = current;
        }
        if let Some(schedule) = schedule {
            if restarted {
                self.corrector.device_restarted();
            } else if stepped {
                self.corrector.device_stepped();
            }
            let due = schedule.due_ns(consumed) as f64 + self.offset * 1e9 / rate;
            let error = (playback_ns as f64 - due).clamp(i64::MIN as f64, i64::MAX as f64) as i64;
            // The fitted drift, as the ratio that keeps pace with the device: it plays
            // (1 + slope) engine ns per nominal ns, so that many stream frames per output frame.
            let pace = 1.0 + self.timeline.drift_ppm() * 1e-6;
            let step = self.corrector.on_buffer(error, self.rate, frames, pace);
            if step.jump_frames < 0.0 && self.offset + step.jump_frames < -2.0 {
                // Silence first: the frames played before are not heard again.
                self.previous = [[0.0; 8]; 2];
            }
            self.offset += step.jump_frames;
            ratio = step.ratio;
            shared.error_ns.store(self.corrector.error_ns(), Relaxed);
            shared.skipped.store(self.corrector.skipped, Relaxed);
            shared.padded.store(self.corrector.padded, Relaxed);
            shared.jumps.store(self.corrector.jumps, Relaxed);
            shared
                .ratio_ppm
                .store(self.corrector.ratio_ppm().to_bits(), Relaxed);
        }

        // Where a pending pause stops the read position (relative to the ring's head).
        let pause_at = shared.pause_at.load(Acquire);
        let stop = (pause_at != 0).then(|| match schedule {
            Some(s) => (pause_at as i128 - s.due_ns(consumed)) as f64 * rate / 1e9,
            None => self.offset + (pause_at as f64 - playback_ns as f64) * rate / 1e9 * ratio,
        });

        let available = self.ring.slots() / channels;
        let chunk = self
            .ring
            .read_chunk(available * channels)
            .expect("the slots just counted to be readable");
        let (first, second) = chunk.as_slices();
        let previous = self.previous;
        // Frame `j` relative to the ring's head, channel `c`; silence outside what exists.
        let sample = |j: i64, c: usize| -> f32 {
            if j >= 0 {
                let j = j as usize;
                if j >= available {
                    return 0.0;
                }
                let k = j * channels + c;
                if k < first.len() {
                    first[k]
                } else {
                    second[k - first.len()]
                }
            } else if j >= -2 {
                previous[(j + 2) as usize][c]
            } else {
                0.0
            }
        };
        let volume = shared.volume();
        let mut gain = self.gain;
        let mut gain_target = self.gain_target;
        let mut gain_pending = self.gain_pending;
        let mut gains_read = self.gains_read;
        if gain_pending.is_none() {
            gain_pending = shared.gain_change(&mut gains_read);
        }
        let mut gain_step = self.gain_step;
        let mut gain_left = self.gain_left;
        let gain_ramp = self.gain_ramp;
        let mut offset = self.offset;
        let mut last_heard = None;
        let mut paused = false;
        let mut written = 0;
        while written < frames {
            if stop.is_some_and(|stop| offset >= stop) {
                paused = true;
                break;
            }
            let whole = offset.floor();
            let i = whole as i64;
            if i >= available as i64 {
                // Underrun: silence for the rest; the stream position waits at the next frame.
                shared.underruns.fetch_add(1, Relaxed);
                offset = available as f64;
                break;
            }
            // Gain changes due by this stream frame; then one step of the ramp.
            let stream_frame = consumed as i64 + i;
            while let Some((at, value, jump)) = gain_pending {
                if stream_frame < at as i64 {
                    break;
                }
                gain_target = value;
                if jump {
                    gain = value;
                    gain_left = 0;
                } else {
                    gain_left = gain_ramp;
                    gain_step = (gain_target - gain) / gain_left as f32;
                }
                gain_pending = shared.gain_change(&mut gains_read);
            }
            if gain_left > 0 {
                gain_left -= 1;
                gain = if gain_left == 0 {
                    gain_target
                } else {
                    gain + gain_step
                };
            }
            let frame = &mut out[written * channels..(written + 1) * channels];
            if i < -4 {
                // Before the stream (and the two frames kept): silence.
                frame.fill(0.0);
            } else {
                let t = (offset - whole) as f32;
                for (c, o) in frame.iter_mut().enumerate() {
                    let x1 = sample(i, c);
                    let x = if t == 0.0 {
                        x1
                    } else {
                        cubic(sample(i - 1, c), x1, sample(i + 1, c), sample(i + 2, c), t)
                    };
                    *o = if gain == 1.0 {
                        x
                    } else if gain > 1.0 {
                        limit(x * gain)
                    } else {
                        // Attenuation cannot take a sample in range past full scale: no limiter.
                        x * gain
                    } * volume;
                }
                if i >= 0 {
                    last_heard = Some(written);
                }
            }
            offset += ratio;
            written += 1;
        }
        out[written * channels..].fill(0.0);
        self.gain = gain;
        self.gain_target = gain_target;
        self.gain_pending = gain_pending;
        self.gains_read = gains_read;
        self.gain_step = gain_step;
        self.gain_left = gain_left;
        // Consume the whole frames the position moved past, keeping the last two.
        let taken = offset.floor().clamp(0.0, available as f64) as i64;
        let mut kept = [[0.0f32; 8]; 2];
        for (slot, j) in kept.iter_mut().zip([taken - 2, taken - 1]) {
            for (c, s) in slot[..channels].iter_mut().enumerate() {
                *s = sample(j, c);
            }
        }
        self.previous = kept;
        chunk.commit(taken as usize * channels);
        self.offset = offset - taken as f64;
        shared.consumed.fetch_add(taken as u64, Relaxed);
        if let Some(last) = last_heard {
            let heard = (playback_ns as u128
                + (last + 1) as u128 * 1_000_000_000 / self.rate.max(1) as u128)
                as u64;
            shared.drained_ns.store(heard, Relaxed);
        }
        if paused {
            self.held = true;
            shared.paused.store(true, Relaxed);
            let _ = shared
                .pause_at
                .compare_exchange(pause_at, 0, AcqRel, Relaxed);
            let frame = ((consumed + taken as u64) as f64 + self.offset).max(0.0) as u64;
            shared.paused_frame.store(frame, Relaxed);
            shared.pauses.fetch_add(1, Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn renderer(capacity: usize) -> (rtrb::Producer<f32>, Renderer, Arc<Shared>) {
        let (producer, consumer) = rtrb::RingBuffer::new(capacity);
        let shared = Arc::new(Shared::new());
        (
            producer,
            Renderer::new(consumer, Arc::clone(&shared), 1, 1000),
            shared,
        )
    }

    fn push(producer: &mut rtrb::Producer<f32>, samples: impl IntoIterator<Item = f32>) {
        for s in samples {
            producer.push(s).unwrap();
        }
    }

    #[test]
    fn queued_samples_are_copied_then_silence_fills_an_underrun() {
        let (mut producer, mut r, shared) = renderer(64);
        push(&mut producer, [1.0, 2.0, 3.0]);
        let mut out = [9.0; 5];
        r.render(&mut out, 0);
        assert_eq!(out, [1.0, 2.0, 3.0, 0.0, 0.0]);
        assert_eq!(shared.consumed.load(Relaxed), 3);
        assert_eq!(shared.underruns.load(Relaxed), 1);
    }

    #[test]
    fn pausing_plays_silence_and_keeps_the_samples() {
        let (mut producer, mut r, shared) = renderer(64);
        push(&mut producer, [1.0, 2.0]);
        shared.paused.store(true, Relaxed);
        let mut out = [9.0; 2];
        r.render(&mut out, 0);
        assert_eq!(out, [0.0, 0.0]);
        shared.paused.store(false, Relaxed);
        r.render(&mut out, 0);
        assert_eq!(out, [1.0, 2.0]);
    }

    #[test]
    fn nothing_is_taken_until_the_stream_is_primed() {
        let (mut producer, mut r, shared) = renderer(64);
        push(&mut producer, [1.0, 2.0]);
        shared.primed.store(false, Relaxed);
        let mut out = [9.0; 2];
        r.render(&mut out, 0);
        assert_eq!(out, [0.0, 0.0]);
        assert_eq!(shared.consumed.load(Relaxed), 0);
        shared.primed.store(true, Relaxed);
        r.render(&mut out, 0);
        assert_eq!(out, [1.0, 2.0]);
    }

    #[test]
    fn volume_scales_every_sample() {
        let (mut producer, mut r, shared) = renderer(64);
        push(&mut producer, [1.0, -1.0]);
        shared.set_volume(0.5);
        let mut out = [0.0; 2];
        r.render(&mut out, 0);
        assert_eq!(out, [0.5, -0.5]);
    }

    #[test]
    fn a_gain_of_one_passes_samples_bit_for_bit() {
        let (mut producer, mut r, shared) = renderer(64);
        let samples = [0.3, -0.7, 0.99, -1.0, 0.123_456_7];
        push(&mut producer, samples);
        shared.gain_from(0, 1.0, true);
        let mut out = [0.0; 5];
        r.render(&mut out, 0);
        assert_eq!(out, samples, "no gain stage, no limiter");
    }

    #[test]
    fn a_gain_starts_on_its_frame_and_ramps_in_without_a_step() {
        let (mut producer, mut r, shared) = renderer(1024);
        push(&mut producer, std::iter::repeat_n(0.8, 400));
        shared.gain_from(0, 1.0, true);
        shared.gain_from(100, 0.25, false);
        let mut out = [0.0; 400];
        r.render(&mut out, 0);
        assert!(
            out[..100].iter().all(|&s| s == 0.8),
            "frames before the change are untouched"
        );
        assert!(out[100] < 0.8, "the change starts on its frame");
        let largest_step = out
            .windows(2)
            .map(|w| (w[0] - w[1]).abs())
            .fold(0.0, f32::max);
        assert!(largest_step < 0.15, "a ramp, not a step: {largest_step}");
        assert_eq!(out[399], 0.2, "then the gain holds: 0.8 × 0.25");
    }

    /// A mono renderer at 48 kHz and a ring of a second.
    fn renderer_48k() -> (rtrb::Producer<f32>, Renderer, Arc<Shared>) {
        let (producer, consumer) = rtrb::RingBuffer::new(48_000);
        let shared = Arc::new(Shared::new());
        (
            producer,
            Renderer::new(consumer, Arc::clone(&shared), 1, 48_000),
            shared,
        )
    }

    /// A quiet-to-loud test signal: a 440 Hz sine at 48 kHz peaking at 0 dBFS.
    fn sine_48k(frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| (i as f64 * 440.0 / 48_000.0 * std::f64::consts::TAU).sin() as f32)
            .collect()
    }

    #[test]
    fn at_48_khz_a_ramp_into_a_gain_of_one_ends_bit_for_bit_after_5_ms() {
        // A gapless join from a normalised track (0.5) into one played unchanged (1.0).
        let (mut producer, mut r, shared) = renderer_48k();
        let input = sine_48k(24_000);
        push(&mut producer, input.iter().copied());
        shared.gain_from(0, 0.5, true);
        shared.gain_from(4_800, 1.0, false);
        let mut out = vec![0.0; 24_000];
        for buffer in out.chunks_mut(512) {
            r.render(buffer, 0);
        }
        assert!(
            out[..4_800].iter().zip(&input).all(|(o, x)| *o == x * 0.5),
            "the first track plays at its gain"
        );
        let ramp_end = 4_800 + 240;
        assert!(
            out[4_800..ramp_end]
                .iter()
                .zip(&input[4_800..])
                .any(|(o, x)| o != x),
            "the join ramps"
        );
        assert_eq!(
            &out[ramp_end..],
            &input[ramp_end..],
            "5 ms after the join the new track is bit for bit (no gain stage, no limiter)"
        );
    }

    #[test]
    fn at_48_khz_a_ramp_down_from_a_boost_ends_exactly_on_its_target() {
        let (mut producer, mut r, shared) = renderer_48k();
        let input: Vec<f32> = sine_48k(9_600).iter().map(|x| x * 0.25).collect();
        push(&mut producer, input.iter().copied());
        shared.gain_from(0, 2.0, true);
        shared.gain_from(2_400, 0.7, false);
        let mut out = vec![0.0; 9_600];
        for buffer in out.chunks_mut(480) {
            r.render(buffer, 0);
        }
        let largest_step = out
            .windows(2)
            .map(|w| (w[0] - w[1]).abs())
            .fold(0.0, f32::max);
        assert!(largest_step < 0.1, "a ramp, not a step: {largest_step}");
        for (o, x) in out[2_400 + 240..].iter().zip(&input[2_400 + 240..]) {
            assert_eq!(*o, x * 0.7, "the target gain, exactly");
        }
    }

    #[test]
    fn attenuation_is_a_plain_multiplication_that_never_engages_the_limiter() {
        // −0.5 dB on a master that peaks at 0 dBFS: nothing can clip, so nothing is bent.
        let (mut producer, mut r, shared) = renderer_48k();
        let input = sine_48k(4_800);
        push(&mut producer, input.iter().copied());
        let gain = 0.944_060_9;
        shared.gain_from(0, gain, true);
        let mut out = vec![0.0; 4_800];
        r.render(&mut out, 0);
        for (o, x) in out.iter().zip(&input) {
            assert_eq!(*o, x * gain);
        }
        assert!(out.iter().any(|o| o.abs() > KNEE), "samples above the knee");
    }

    #[test]
    fn a_boost_never_takes_a_sample_past_full_scale() {
        let (mut producer, mut r, shared) = renderer(4096);
        // A full-scale sine, boosted 12 dB: the limiter bends it under 1.0.
        let sine: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.05).sin()).collect();
        push(&mut producer, sine.iter().copied());
        shared.gain_from(0, 3.98, true);
        let mut out = vec![0.0; 2000];
        r.render(&mut out, 0);
        let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak < 1.0, "peak {peak}");
        assert!(peak > 0.99, "still loud: {peak}");
        // Below the knee the gain is exact.
        assert_eq!(limit(0.5), 0.5);
        assert_eq!(limit(-0.8), -0.8);
        assert!(limit(100.0) < 1.0 && limit(-100.0) > -1.0);
    }

    #[test]
    fn a_flush_discards_what_was_queued_and_is_acknowledged() {
        let (mut producer, mut r, shared) = renderer(64);
        push(&mut producer, [1.0, 2.0, 3.0]);
        shared.flush_request.fetch_add(1, Release);
        let mut out = [9.0; 2];
        r.render(&mut out, 0);
        assert_eq!(out, [0.0, 0.0]);
        assert_eq!(shared.flush_done.load(Acquire), 1);
        assert_eq!(
            shared.consumed.load(Relaxed),
            3,
            "flushed frames still count as consumed"
        );
    }

    #[test]
    fn a_scheduled_start_begins_on_the_exact_frame() {
        // 1000 frames/s: frame 0 is due at 1.006 s; the buffer leaves the device at 1.000 s.
        let (mut producer, mut r, shared) = renderer(64);
        push(&mut producer, (1..=10).map(|i| i as f32));
        shared.set_schedule(Some(Schedule {
            frame: 0,
            at_ns: 1_006_000_000,
            rate: 1000,
        }));
        let mut out = [9.0; 8];
        r.render(&mut out, 1_000_000_000);
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0]);
        // The next buffer is on time: nothing skipped, padded, dropped or doubled.
        r.render(&mut out, 1_008_000_000);
        assert_eq!(out, [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
    }

    #[test]
    fn cubic_interpolation_is_exact_on_frames_and_on_cubics() {
        assert_eq!(cubic(3.0, -1.0, 7.0, 2.0, 0.0), -1.0);
        assert!((cubic(3.0, -1.0, 7.0, 2.0, 1.0) - 7.0).abs() < 1e-6);
        assert!((cubic(1.0, 2.0, 3.0, 4.0, 0.25) - 2.25).abs() < 1e-6);
        // x³ at −1, 0, 1, 2, read at 0.5.
        assert!((cubic(-1.0, 0.0, 1.0, 8.0, 0.5) - 0.125).abs() < 1e-6);
    }

    #[test]
    fn a_pause_at_an_instant_plays_up_to_its_frame_then_keeps_the_rest() {
        // 1000 frames/s, 8-frame buffers; frame 10 (the 11th) leaves the device at 1.010 s.
        let (mut producer, mut r, shared) = renderer(64);
        push(&mut producer, (1..=20).map(|i| i as f32));
        shared.pause_at(Some(1_010_000_000));
        let mut out = [9.0; 8];
        r.render(&mut out, 1_000_000_000);
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        r.render(&mut out, 1_008_000_000);
        assert_eq!(out, [9.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(shared.paused.load(Relaxed));
        assert_eq!(shared.pauses.load(Relaxed), 1);
        assert_eq!(shared.paused_frame.load(Relaxed), 10);
        r.render(&mut out, 1_016_000_000);
        assert_eq!(out, [0.0; 8]);
        shared.paused.store(false, Relaxed);
        r.render(&mut out, 1_024_000_000);
        assert_eq!(out, [11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0]);
    }

    #[test]
    fn a_pause_at_an_instant_stops_on_the_frame_the_schedule_has_due_then() {
        let (mut producer, mut r, shared) = renderer(64);
        push(&mut producer, (1..=20).map(|i| i as f32));
        shared.set_schedule(Some(Schedule {
            frame: 0,
            at_ns: 1_000_000_000,
            rate: 1000,
        }));
        // Frame 12 is due at 1.012 s, frame 13 at 1.013 s: 12.5 ms stops before frame 13.
        shared.pause_at(Some(1_012_500_000));
        let mut out = [9.0; 8];
        r.render(&mut out, 1_000_000_000);
        r.render(&mut out, 1_008_000_000);
        assert_eq!(out, [9.0, 10.0, 11.0, 12.0, 13.0, 0.0, 0.0, 0.0]);
        assert_eq!(shared.paused_frame.load(Relaxed), 13);
        // Playing on lands back on the schedule (frame 16 is due at 1.016 s), where an instant
        // already past pauses at once.
        shared.paused.store(false, Relaxed);
        shared.pause_at(Some(5));
        r.render(&mut out, 1_016_000_000);
        assert_eq!(out, [0.0; 8]);
        assert_eq!(shared.pauses.load(Relaxed), 2);
        assert_eq!(shared.paused_frame.load(Relaxed), 16);
        // Moved on by the 8 ms paused, the schedule picks up where it stopped.
        shared.retime(Schedule {
            frame: 0,
            at_ns: 1_008_000_000,
            rate: 1000,
        });
        shared.paused.store(false, Relaxed);
        r.render(&mut out, 1_024_000_000);
        assert_eq!(out, [17.0, 18.0, 19.0, 20.0, 0.0, 0.0, 0.0, 0.0]);
    }

    /// Renders `buffers` buffers of a 1 kHz sine at 48 kHz through a schedule starting at the
    /// first buffer, calling `between(buffer index)` before each; returns the output.
    fn sine_through(
        buffers: usize,
        mut between: impl FnMut(usize, &Shared, Schedule),
    ) -> (Vec<f32>, Arc<Shared>) {
        const RATE: u32 = 48_000;
        const FRAMES: usize = 480;
        let (mut producer, consumer) = rtrb::RingBuffer::new(RATE as usize);
        let shared = Arc::new(Shared::new());
        let mut r = Renderer::new(consumer, Arc::clone(&shared), 1, RATE);
        let schedule = Schedule {
            frame: 0,
            at_ns: 1_000_000_000,
            rate: RATE,
        };
        shared.set_schedule(Some(schedule));
        let mut next = 0u64;
        let mut output = Vec::new();
        let mut out = vec![0.0; FRAMES];
        for b in 0..buffers {
            while producer.slots() > 0 {
                let phase = next as f64 * 1000.0 / RATE as f64 * std::f64::consts::TAU;
                producer.push((phase.sin() * 0.5) as f32).unwrap();
                next += 1;
            }
            between(b, &shared, schedule);
            r.render(&mut out, 1_000_000_000 + b as u64 * 10_000_000);
            output.extend_from_slice(&out);
        }
        (output, shared)
    }

    /// The largest second difference: a clean 1 kHz sine of amplitude 0.5 at 48 kHz stays under
    /// 0.5 × (2π/48)² ≈ 0.0086; a dropped or doubled frame makes ~0.065.
    fn roughness(samples: &[f32]) -> f32 {
        samples
            .windows(3)
            .map(|w| (w[0] - 2.0 * w[1] + w[2]).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn a_retimed_schedule_is_slewed_away_by_resampling_without_a_click() {
        let mut seen_ppm = 0.0f64;
        let (output, shared) = sine_through(1_600, |b, shared, schedule| {
            // Past the settling seconds after the start (where this would be jumped).
            if b == 1_000 {
                // 1.5 ms later: early, so the ratio drops below 1 for a second or two.
                shared.retime(schedule.shifted(1_500_000));
            }
            seen_ppm = seen_ppm.min(shared.ratio_ppm());
        });
        assert!(roughness(&output) < 0.009, "{}", roughness(&output));
        assert_eq!(shared.jumps.load(Relaxed), 0);
        assert!(seen_ppm < -400.0, "{seen_ppm}");
        let error = shared.error_ns.load(Relaxed);
        assert!(error.abs() <= 65_000, "{error}");
    }

    #[test]
    fn a_new_schedule_resets_the_controller_but_a_retime_does_not() {
        let (_, shared) = sine_through(100, |b, shared, schedule| {
            if b == 50 {
                shared.retime(schedule.shifted(-300_000));
            }
        });
        assert_eq!(shared.jumps.load(Relaxed), 0, "a retime is slewed");
        let (output, shared) = sine_through(100, |b, shared, schedule| {
            if b == 50 {
                shared.set_schedule(Some(schedule.shifted(-300_000)));
            }
        });
        // A new schedule starts over: the start lands by a jump, which is heard.
        assert!(roughness(&output) > 0.05);
        assert_eq!(shared.error_ns.load(Relaxed), 0);
    }

    /// A device timeline: buffers of 512 frames at 48 kHz whose true playback instant drifts by
    /// `drift_ppm`, reported with ±`jitter_ns` of noise and a `step_ns` shift at buffer 1500;
    /// returns the timeline and the worst distance of its smoothed instant from the truth over
    /// the last `check` buffers.
    fn timeline_run(
        drift_ppm: f64,
        jitter_ns: i64,
        step_ns: i64,
        buffers: u64,
        check: u64,
    ) -> (DeviceTimeline, f64) {
        let mut timeline = DeviceTimeline::new(48_000);
        let mut worst = 0.0f64;
        for i in 0..buffers {
            let rendered = i * 512;
            let truth = 5e9
                + rendered as f64 * 1e9 / 48_000.0 * (1.0 + drift_ppm * 1e-6)
                + if i >= 1500 { step_ns as f64 } else { 0.0 };
            let x = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((x >> 33) % (2 * jitter_ns as u64 + 1)) as i64 - jitter_ns;
            let smoothed = timeline.smooth(rendered, (truth as i64 + noise) as u64);
            if i >= buffers - check {
                worst = worst.max((smoothed as f64 - truth).abs());
            }
        }
        (timeline, worst)
    }

    #[test]
    fn the_device_timeline_fits_a_drift_through_jitter_and_a_step() {
        for drift in [100.0, -100.0, 250.0] {
            let (timeline, worst) = timeline_run(drift, 1_000_000, 1_000_000, 4000, 1000);
            let fitted = timeline.drift_ppm();
            assert!((fitted - drift).abs() < 10.0, "{drift}: fitted {fitted}");
            assert!(worst < 150_000.0, "{drift}: {worst} ns off");
        }
    }

    #[test]
    fn a_stall_of_the_device_is_a_step_and_jitter_or_drift_never_is() {
        for (drift, jitter) in [(0.0, 100_000), (0.0, 1_000_000), (250.0, 1_000_000)] {
            let (timeline, _) = timeline_run(drift, jitter, 0, 4000, 1000);
            assert_eq!(
                timeline.steps(),
                0,
                "drift {drift} ppm, jitter ±{jitter} ns"
            );
        }
        for (step, jitter) in [
            (3_000_000, 100_000),
            (-2_000_000, 100_000),
            (3_000_000, 1_000_000),
        ] {
            // The step comes at buffer 1500; seen within 0.5 s (47 buffers of 512 frames).
            let (before, _) = timeline_run(0.0, jitter, step, 1500, 1);
            let (after, _) = timeline_run(0.0, jitter, step, 1547, 1);
            assert_eq!(
                before.steps(),
                0,
                "{step} ns, jitter ±{jitter} ns: nothing before"
            );
            assert!(after.steps() >= 1, "{step} ns, jitter ±{jitter} ns: seen");
        }
    }

    /// Renders 2,000 buffers of 10 ms through a schedule; from buffer 1,500 on (past the
    /// settling seconds) every buffer leaves the device `stall_ns` later, and if `restart` the
    /// device reports that its stream restarted there. Returns the errors the corrector
    /// measured after each buffer, and the jumps it made after the start.
    fn through_a_stall(stall_ns: u64, restart: bool) -> (Vec<i64>, u32) {
        const RATE: u32 = 48_000;
        const FRAMES: usize = 480;
        let (mut producer, consumer) = rtrb::RingBuffer::new(RATE as usize);
        let shared = Arc::new(Shared::new());
        let mut r = Renderer::new(consumer, Arc::clone(&shared), 1, RATE);
        shared.set_schedule(Some(Schedule {
            frame: 0,
            at_ns: 1_000_000_000,
            rate: RATE,
        }));
        let mut out = vec![0.0; FRAMES];
        let mut errors = Vec::new();
        for b in 0..2_000u64 {
            while producer.slots() > 0 {
                producer.push(0.25).unwrap();
            }
            let stall = if b >= 1_500 { stall_ns } else { 0 };
            if b == 1_500 && restart {
                r.shared().restarts.fetch_add(1, Relaxed);
            }
            r.render(&mut out, 1_000_000_000 + b * 10_000_000 + stall);
            errors.push(shared.error_ns.load(Relaxed));
        }
        (errors, shared.jumps.load(Relaxed))
    }

    #[test]
    fn after_a_stall_of_the_device_the_schedule_is_back_within_half_a_second() {
        let (errors, jumps) = through_a_stall(3_000_000, false);
        assert_eq!(jumps, 1, "the stall's error jumped once");
        let worst = errors[1_550..].iter().map(|e| e.abs()).max().unwrap();
        assert!(worst <= 65_000, "{worst} ns off after 0.5 s");
    }

    #[test]
    fn after_the_device_restarts_the_schedule_is_back_within_a_fifth_of_a_second() {
        // A restart forgets the old stream's timestamps at once: no waiting for the median of
        // the old and the new to turn.
        for stall in [3_000_000, 2_000_000] {
            let (errors, jumps) = through_a_stall(stall, true);
            assert_eq!(jumps, 1, "{stall} ns: jumped once");
            let worst = errors[1_520..].iter().map(|e| e.abs()).max().unwrap();
            assert!(worst <= 65_000, "{stall} ns: {worst} ns off after 0.2 s");
        }
    }

    #[test]
    fn a_device_on_the_engine_clock_has_no_drift() {
        let (timeline, worst) = timeline_run(0.0, 100_000, 0, 4000, 3000);
        assert_eq!(timeline.drift_ppm(), 0.0);
        assert!(worst < 20_000.0, "{worst} ns off");
        let (timeline, _) = timeline_run(0.0, 1_000_000, 0, 4000, 3000);
        assert!(
            timeline.drift_ppm().abs() < 10.0,
            "{}",
            timeline.drift_ppm()
        );
    }
}
