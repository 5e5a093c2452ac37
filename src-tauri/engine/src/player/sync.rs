//! Keeping scheduled playback on time (design §7), as a pure controller.
//!
//! A [`Schedule`] says "stream frame `frame` leaves the output device at `at_ns`". Once per output
//! buffer the renderer measures the error — when the stream position at the head of the buffer
//! will actually leave the device (on the renderer's smoothed device timeline) minus when it
//! should — and asks the [`Corrector`] for a [`Step`]:
//!
//! - a **jump** of the read position, only at the start (which is how a scheduled start lands on
//!   its exact instant, to a fraction of a frame: silence first when early, frames skipped when
//!   late), when the error reaches [`JUMP_NS`] (a schedule moved far, a long stall), and when it
//!   reaches [`SETTLE_JUMP_NS`] in the first [`SETTLE_S`] after a start (a sound server's
//!   latency that settles late) or the first [`STEP_SETTLE_S`] after the device's timeline
//!   stepped ([`Corrector::device_stepped`]: the sound server stalled and played silence, or
//!   dropped audio — heard already; slewing the milliseconds it leaves would keep the peers
//!   apart for as many seconds) or its stream ran dry and restarted
//!   ([`Corrector::device_restarted`], for [`SETTLE_S`]);
//! - otherwise a **playback ratio** — stream frames read per output frame — that the renderer
//!   follows by interpolating between frames. It is a PI controller on the error with a dead
//!   band: an error inside [`DEAD_BAND_NS`] asks for nothing, so a device whose clock is the
//!   engine's own plays at exactly 1.0 and is never touched; beyond it the ratio moves by parts
//!   per million, never more than [`MAX_PPM`] (or [`MAX_CONVERGING_PPM`] while more than
//!   [`CONVERGING_NS`] off), and never faster than [`SLEW_PPM_PER_S`]. The integral learns a
//!   device that drifts against the engine clock (sound cards are ±100 ppm apart) and then holds
//!   that ratio.
//!
//! Dropping or doubling single frames, which this replaced, is audible on tonal music; a ratio of
//! a few hundred ppm is not.
//!
//! The error is first taken as the median of the last [`WINDOW`] measurements: the device
//! timeline is already smoothed, this removes what jitter is left.
//!
//! No allocation, locking or time source here: the caller passes every value in, so the audio
//! callback can use it and tests can replay any timeline.

/// Frame `frame` of the output stream must leave the device at `at_ns` (engine clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub frame: u64,
    pub at_ns: u64,
    pub rate: u32,
}

impl Schedule {
    /// When `frame` is due, in nanoseconds on the engine clock (may precede `at_ns`).
    pub fn due_ns(&self, frame: u64) -> i128 {
        let frames = frame as i128 - self.frame as i128;
        self.at_ns as i128 + frames * 1_000_000_000 / self.rate.max(1) as i128
    }

    /// The same schedule, `shift_ns` later (earlier if negative).
    pub fn shifted(&self, shift_ns: i64) -> Schedule {
        Schedule {
            at_ns: (self.at_ns as i128 + shift_ns as i128).clamp(0, u64::MAX as i128) as u64,
            ..*self
        }
    }
}

/// What to do with the next buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Move the read position by this many stream frames before the buffer: positive skips
    /// (late), negative plays that much silence first (early). Zero but for a start or a jump.
    pub jump_frames: f64,
    /// Stream frames to read per output frame over this buffer (1.0: untouched).
    pub ratio: f64,
}

/// Errors beyond this are fixed at once rather than slewed.
pub const JUMP_NS: i64 = 5_000_000;
/// For the first [`SETTLE_S`] after a start, a smaller error is jumped too: a sound server's
/// reported latency can settle seconds after a stream opens, and slewing a few milliseconds at an
/// inaudible ratio would take as many seconds as milliseconds (a jump at a start is expected).
pub const SETTLE_JUMP_NS: i64 = 1_500_000;
pub const SETTLE_S: f64 = 10.0;
/// After a step of the device's timeline, errors from [`SETTLE_JUMP_NS`] are jumped for this
/// long: time for the measurements after the step to fill the window (a stall can also step
/// the timeline twice, as the sound server catches up).
pub const STEP_SETTLE_S: f64 = 2.0;
/// Errors within this are left alone: what is left of timestamp jitter after smoothing.
pub const DEAD_BAND_NS: f64 = 60_000.0;
/// The largest ratio change once on time (parts per million).
pub const MAX_PPM: f64 = 500.0;
/// The largest while more than [`CONVERGING_NS`] off (after a shifted schedule).
pub const MAX_CONVERGING_PPM: f64 = 1000.0;
pub const CONVERGING_NS: f64 = 1_000_000.0;
/// How fast the ratio may change, ppm per second of audio.
pub const SLEW_PPM_PER_S: f64 = 2000.0;
/// Proportional gain: ratio change per second of error (1 ms beyond the dead band: 1000 ppm).
const KP: f64 = 1.0;
/// Integral gain, per second²: well below critical damping (KP²/4), so that what a transient
/// leaves in the integral does not carry the error across the dead band; it only has to learn a
/// drift, which takes ~KP/KI = 10 s.
const KI: f64 = 0.1;
/// The integral decays towards 1.0 with this time constant (s), so a transient does not leave a
/// matched device resampling for ever; a real drift keeps it fed from just outside the dead band.
const LEAK_S: f64 = 120.0;
/// The integral only learns from errors this far beyond the dead band.
const INTEGRATE_NS: f64 = 400_000.0;
/// Measurements the error is the median of.
const WINDOW: usize = 16;

/// The error controller: one per schedule (a [`Schedule::shifted`] keeps it).
///
/// The ratio is `pace` (the device's fitted drift, from the renderer) plus a correction of at
/// most [`MAX_PPM`] ([`MAX_CONVERGING_PPM`] while converging).
#[derive(Debug, Clone)]
pub struct Corrector {
    window: [i64; WINDOW],
    len: usize,
    next: usize,
    /// Whether the schedule's start has been placed.
    started: bool,
    median: i64,
    /// The integral term, as a ratio offset (≈ the device's drift once learnt).
    integral: f64,
    /// The ratio handed out last.
    ratio: f64,
    /// Seconds of audio left in which an error from [`SETTLE_JUMP_NS`] is jumped (after a start,
    /// a restart or a step of the device's timeline).
    settle_left_s: f64,
    /// Jumps after the start, and the frames they skipped or padded with silence.
    pub jumps: u32,
    pub skipped: u64,
    pub padded: u64,
}

impl Default for Corrector {
    fn default() -> Self {
        Self {
            window: [0; WINDOW],
            len: 0,
            next: 0,
            started: false,
            median: 0,
            integral: 0.0,
            ratio: 1.0,
            settle_left_s: SETTLE_S,
            jumps: 0,
            skipped: 0,
            padded: 0,
        }
    }
}

impl Corrector {
    /// Decides the step for a buffer of `frames` frames whose head is `error_ns` late (negative:
    /// early), at `rate` frames per second. `pace` is the ratio that keeps up with the device
    /// as far as its timeline's fitted drift tells (1.0: none, or none known); the controller
    /// corrects around it.
    pub fn on_buffer(&mut self, error_ns: i64, rate: u32, frames: usize, pace: f64) -> Step {
        let pace = pace.clamp(1.0 - MAX_PPM * 1e-6, 1.0 + MAX_PPM * 1e-6);
        let rate = rate.max(1) as f64;
        let to_frames = |ns: i64| ns as f64 * rate / 1e9;
        if !self.started {
            // The start: land exactly on the scheduled instant, silence first if early.
            self.started = true;
            self.settle_left_s = SETTLE_S;
            return Step {
                jump_frames: to_frames(error_ns),
                ratio: self.ratio,
            };
        }
        self.window[self.next] = error_ns;
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        let mut sorted = self.window;
        let values = &mut sorted[..self.len];
        let middle = values.len() / 2;
        let (_, median, _) = values.select_nth_unstable(middle);
        let median = *median;
        self.median = median;
        self.settle_left_s = (self.settle_left_s - frames as f64 / rate).max(0.0);
        let settling = self.settle_left_s > 0.0 && self.len >= WINDOW / 2;
        if median.abs() >= JUMP_NS || (settling && median.abs() >= SETTLE_JUMP_NS) {
            self.jumps += 1;
            let jump = to_frames(median);
            if median > 0 {
                self.skipped += jump as u64;
            } else {
                self.padded += (-jump) as u64;
            }
            self.len = 0;
            self.next = 0;
            self.median = 0;
            return Step {
                jump_frames: jump,
                ratio: self.ratio,
            };
        }
        let dt = frames as f64 / rate;
        // Too few measurements since the start or a jump: keep the ratio.
        if self.len < WINDOW / 2 {
            return Step {
                jump_frames: 0.0,
                ratio: self.ratio,
            };
        }
        let error = median as f64;
        let outside = (error.abs() - DEAD_BAND_NS).max(0.0).copysign(error) / 1e9;
        let limit = if error.abs() > CONVERGING_NS {
            MAX_CONVERGING_PPM
        } else {
            MAX_PPM
        } * 1e-6;
        let wanted = KP * outside + self.integral;
        // The integral learns a drift, which shows as an error just beyond the dead band; a
        // larger one (a shifted schedule) is the proportional term's to slew away, and winding the
        // integral up on it would carry the error across the dead band afterwards.
        let pinned = wanted.abs() >= limit && wanted.signum() == outside.signum();
        if outside.abs() < INTEGRATE_NS / 1e9 && !pinned {
            self.integral += KI * outside * dt;
        }
        self.integral -= self.integral * (dt / LEAK_S).min(1.0);
        self.integral = self.integral.clamp(-MAX_PPM * 1e-6, MAX_PPM * 1e-6);
        if self.integral.abs() < 1e-8 && outside == 0.0 {
            self.integral = 0.0;
        }
        let target = pace + (KP * outside + self.integral).clamp(-limit, limit);
        let slew = SLEW_PPM_PER_S * 1e-6 * dt;
        self.ratio += (target - self.ratio).clamp(-slew, slew);
        if (self.ratio - 1.0).abs() < 1e-9 {
            self.ratio = 1.0;
        }
        Step {
            jump_frames: 0.0,
            ratio: self.ratio,
        }
    }

    /// Playback resumes after a pause: the next buffer lands on the schedule exactly, as a
    /// start does (the time paused is skipped, or a schedule moved on by the pause's length is
    /// waited for in silence). What was learnt of the device (ratio, integral) is kept.
    pub fn restart(&mut self) {
        self.started = false;
        self.len = 0;
        self.next = 0;
        self.median = 0;
    }

    /// The device's timeline stepped (see [`super::render::DeviceTimeline::steps`]): the sound
    /// server stalled and played silence, or dropped audio. What was measured before no longer
    /// holds, and the error the step leaves is jumped as soon as it is measured, as after a
    /// start: the step was heard already, and slewing it away would take as many seconds as it
    /// is milliseconds. What was learnt of the device (ratio, integral) is kept.
    pub fn device_stepped(&mut self) {
        self.discontinuity(STEP_SETTLE_S);
    }

    /// The device's stream ran dry and was restarted (an xrun): as [`Self::device_stepped`], but
    /// behind it the sound server may have built a new stream, whose latency settles as a new
    /// one's does, so errors from [`SETTLE_JUMP_NS`] are jumped for [`SETTLE_S`].
    pub fn device_restarted(&mut self) {
        self.discontinuity(SETTLE_S);
    }

    fn discontinuity(&mut self, settle_s: f64) {
        if !self.started {
            return;
        }
        self.len = 0;
        self.next = 0;
        self.median = 0;
        self.settle_left_s = self.settle_left_s.max(settle_s);
    }

    /// The current (median) error, in nanoseconds.
    pub fn error_ns(&self) -> i64 {
        self.median
    }

    /// The current ratio's distance from 1.0, in parts per million.
    pub fn ratio_ppm(&self) -> f64 {
        (self.ratio - 1.0) * 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    const BUFFER: u64 = 512;

    /// A simulated output device and a reader that follows the corrector's steps exactly as the
    /// renderer does (fractional read position).
    struct Sim {
        schedule: Schedule,
        corrector: Corrector,
        /// The stream position at the head of the next buffer (fractional frames).
        position: f64,
        /// When the next buffer leaves the device (engine ns, exact).
        playback_ns: f64,
        /// The device's drift against the engine clock: it plays `rate × (1 + drift)` frames
        /// per engine second.
        drift_ppm: f64,
        /// What the renderer's timeline would say the pace is (1.0: nothing known).
        pace: f64,
        buffers: u64,
    }

    impl Sim {
        fn new(schedule: Schedule, start_ns: u64, drift_ppm: f64) -> Self {
            Self {
                schedule,
                corrector: Corrector::default(),
                position: 0.0,
                playback_ns: start_ns as f64,
                drift_ppm,
                pace: 1.0,
                buffers: 0,
            }
        }

        fn true_error_ns(&self) -> f64 {
            let due = self.schedule.at_ns as f64
                + (self.position - self.schedule.frame as f64) * 1e9 / RATE as f64;
            self.playback_ns - due
        }

        /// Runs one buffer with `noise_ns` added to the measurement; returns the step taken.
        fn buffer(&mut self, noise_ns: i64) -> Step {
            let measured = self.true_error_ns().round() as i64 + noise_ns;
            let step = self
                .corrector
                .on_buffer(measured, RATE, BUFFER as usize, self.pace);
            self.position += step.jump_frames + step.ratio * BUFFER as f64;
            self.playback_ns += BUFFER as f64 * 1e9 / (RATE as f64 * (1.0 + self.drift_ppm * 1e-6));
            self.buffers += 1;
            step
        }
    }

    fn schedule_at(at_ns: u64) -> Schedule {
        Schedule {
            frame: 0,
            at_ns,
            rate: RATE,
        }
    }

    /// A deterministic pseudo-random jitter in ±`amplitude_ns` (none on the first buffer: the
    /// start is as good as its first measurement, which the renderer's timeline cannot smooth).
    fn jitter(i: u64, amplitude_ns: i64) -> i64 {
        if i == 0 {
            return 0;
        }
        let x = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % (2 * amplitude_ns as u64 + 1)) as i64 - amplitude_ns
    }

    /// Runs `buffers` buffers; checks that nothing jumps after the first and the ratio stays in
    /// bounds; returns the true errors after each buffer.
    fn run(sim: &mut Sim, buffers: u64, noise: impl Fn(u64) -> i64) -> Vec<f64> {
        let mut errors = Vec::new();
        for i in 0..buffers {
            let first = sim.buffers == 0;
            let step = sim.buffer(noise(i));
            if !first {
                assert_eq!(
                    step.jump_frames, 0.0,
                    "no jump after the start (buffer {i})"
                );
            }
            assert!(
                (step.ratio - 1.0).abs() <= MAX_CONVERGING_PPM * 1e-6 + 1e-12,
                "ratio {} out of bounds",
                step.ratio
            );
            errors.push(sim.true_error_ns());
        }
        errors
    }

    fn worst(errors: &[f64]) -> f64 {
        errors.iter().fold(0.0, |m, e| m.max(e.abs()))
    }

    #[test]
    fn a_frame_is_due_at_its_distance_from_the_anchor() {
        let s = Schedule {
            frame: 48_000,
            at_ns: 10_000_000_000,
            rate: RATE,
        };
        assert_eq!(s.due_ns(96_000), 11_000_000_000);
        assert_eq!(s.due_ns(0), 9_000_000_000);
        assert_eq!(s.shifted(-250).due_ns(48_000), 9_999_999_750);
    }

    #[test]
    fn an_early_start_lands_exactly_and_then_nothing_is_corrected() {
        // The device starts 100.01 ms before the scheduled instant (not a whole frame).
        let mut sim = Sim::new(schedule_at(1_100_010_000), 1_000_000_000, 0.0);
        let first = sim.buffer(0);
        assert!(first.jump_frames < 0.0, "silence first: {first:?}");
        let errors = run(&mut sim, 2000, |_| 0);
        assert!(worst(&errors) < 1.0, "exact to the ns: {}", worst(&errors));
        assert_eq!(
            sim.corrector.ratio, 1.0,
            "a matching clock is never resampled"
        );
        assert_eq!(sim.corrector.jumps, 0);
    }

    #[test]
    fn a_late_start_skips_ahead_to_where_the_schedule_is() {
        let mut sim = Sim::new(schedule_at(1_000_000_000), 1_250_000_000, 0.0);
        let first = sim.buffer(0);
        assert!((first.jump_frames - 12_000.0).abs() < 1e-6, "{first:?}");
        let errors = run(&mut sim, 500, |_| 0);
        assert!(worst(&errors) < 1.0, "{}", worst(&errors));
    }

    #[test]
    fn timestamp_jitter_inside_the_dead_band_is_never_chased() {
        let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, 0.0);
        let errors = run(&mut sim, 6000, |i| jitter(i, 50_000));
        assert_eq!(sim.corrector.ratio, 1.0);
        assert!(worst(&errors) < 1.0);
    }

    #[test]
    fn heavy_jitter_does_not_make_it_wander() {
        // ±1 ms at random from buffer to buffer, far beyond the dead band: the median keeps the
        // true error small and nothing jumps.
        let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, 0.0);
        let errors = run(&mut sim, 6000, |i| jitter(i, 1_000_000));
        assert!(worst(&errors) < 250_000.0, "{}", worst(&errors));
    }

    #[test]
    fn a_drifting_device_is_followed_by_a_steady_ratio() {
        for drift in [100.0, -100.0] {
            // 2 minutes of a device 100 ppm fast (slow), with timestamp jitter.
            let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, drift);
            let errors = run(&mut sim, 11_250, |i| jitter(i, 30_000));
            // The ratio settles against the drift: a device that plays fast takes fewer stream
            // frames per output frame to stay on the engine clock.
            let ppm = sim.corrector.ratio_ppm();
            assert!((ppm + drift).abs() < 10.0, "drift {drift}: ratio {ppm} ppm");
            let settled = &errors[2000..];
            let bound = DEAD_BAND_NS + 40_000.0;
            assert!(worst(settled) < bound, "drift {drift}: {}", worst(settled));
            assert!(
                worst(&errors) < 300_000.0,
                "drift {drift}: {}",
                worst(&errors)
            );
        }
    }

    #[test]
    fn a_shifted_schedule_is_slewed_away_without_a_jump() {
        for shift in [2_000_000i64, -2_000_000, 300_000, -80_000] {
            let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, 0.0);
            // Past the settling seconds, where a shift this size would be jumped.
            run(&mut sim, 1_000, |_| 0);
            sim.schedule = sim.schedule.shifted(shift);
            let errors = run(&mut sim, 2000, |i| jitter(i, 20_000));
            let end = &errors[1500..];
            // Within the dead band, give or take the measurements' jitter.
            assert!(
                worst(end) <= DEAD_BAND_NS + 20_000.0,
                "shift {shift}: {}",
                worst(end)
            );
            // It does not overshoot past the dead band on the other side.
            // (Moved later, the player is early: its error starts negative.)
            let overshoot = errors
                .iter()
                .map(|e| e * shift.signum() as f64)
                .fold(0.0, f64::max);
            assert!(
                overshoot < DEAD_BAND_NS + shift.abs() as f64 * 0.1,
                "shift {shift}: overshoot {overshoot}"
            );
            // Slewing at ≤ 1000 ppm takes at least shift / 1000 ppm.
            let first_close = errors
                .iter()
                .position(|e| e.abs() < DEAD_BAND_NS + 20_000.0)
                .unwrap();
            let seconds = first_close as f64 * BUFFER as f64 / RATE as f64;
            assert!(
                seconds + 0.05 >= (shift.abs() as f64 - DEAD_BAND_NS) / 1e9 / 1e-3,
                "shift {shift}: too fast ({seconds} s)"
            );
        }
    }

    #[test]
    fn an_error_that_appears_while_settling_is_jumped_at_once() {
        let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, 0.0);
        run(&mut sim, 200, |_| 0);
        // Two seconds in, the device's reported latency grows by 3 ms.
        sim.schedule = sim.schedule.shifted(-3_000_000);
        let mut jumped = 0;
        for _ in 0..100 {
            if sim.buffer(0).jump_frames != 0.0 {
                jumped += 1;
            }
        }
        assert_eq!(jumped, 1, "one jump, not seconds of slewing");
        assert!(
            sim.true_error_ns().abs() < 60_000.0,
            "{}",
            sim.true_error_ns()
        );
    }

    #[test]
    fn the_error_a_step_of_the_device_leaves_is_jumped_once_measured_even_after_settling() {
        for stall in [3_000_000.0, -2_000_000.0] {
            let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, 0.0);
            // Past the settling seconds, where an error this size would be slewed.
            run(&mut sim, 1_500, |_| 0);
            // The sound server stalls (its timeline steps later) or drops audio (earlier).
            sim.playback_ns += stall;
            sim.corrector.device_stepped();
            let mut jumps = Vec::new();
            for i in 0..200usize {
                if sim.buffer(0).jump_frames != 0.0 {
                    jumps.push(i);
                }
            }
            assert_eq!(jumps.len(), 1, "{stall}: one jump, not seconds of slewing");
            assert!(
                jumps[0] <= WINDOW / 2,
                "{stall}: jumped once the window held enough measurements, not at buffer {}",
                jumps[0]
            );
            assert!(
                sim.true_error_ns().abs() < 60_000.0,
                "{stall}: {} ns off",
                sim.true_error_ns()
            );
        }
    }

    #[test]
    fn after_a_step_has_settled_a_small_error_is_slewed_again() {
        let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, 0.0);
        run(&mut sim, 1_500, |_| 0);
        sim.corrector.device_stepped();
        // Past the seconds a step opens.
        run(
            &mut sim,
            (STEP_SETTLE_S * RATE as f64 / BUFFER as f64) as u64 + 10,
            |_| 0,
        );
        sim.schedule = sim.schedule.shifted(2_000_000);
        run(&mut sim, 1_000, |_| 0);
        assert_eq!(sim.corrector.jumps, 0);
    }

    #[test]
    fn a_step_before_the_start_changes_nothing() {
        let mut corrector = Corrector::default();
        corrector.device_stepped();
        let step = corrector.on_buffer(-1_000_000, RATE, BUFFER as usize, 1.0);
        assert_eq!(step.jump_frames, -48.0, "the start lands on its instant");
        assert_eq!(corrector.jumps, 0);
    }

    #[test]
    fn a_shift_beyond_the_jump_threshold_jumps_once() {
        let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, 0.0);
        run(&mut sim, 100, |_| 0);
        sim.schedule = sim.schedule.shifted(-20_000_000);
        let mut jumped = 0;
        for _ in 0..500 {
            if sim.buffer(0).jump_frames != 0.0 {
                jumped += 1;
            }
        }
        assert_eq!(jumped, 1);
        assert_eq!(sim.corrector.jumps, 1);
        assert!(sim.true_error_ns().abs() < 1.0);
        assert_eq!(sim.corrector.skipped, 960);
    }

    #[test]
    fn the_ratio_changes_smoothly_from_buffer_to_buffer() {
        let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, 0.0);
        run(&mut sim, 100, |_| 0);
        sim.schedule = sim.schedule.shifted(4_000_000);
        let mut last = 1.0;
        let most = SLEW_PPM_PER_S * 1e-6 * BUFFER as f64 / RATE as f64 + 1e-12;
        for _ in 0..3000 {
            let step = sim.buffer(0);
            assert!(
                (step.ratio - last).abs() <= most,
                "{} → {}",
                last,
                step.ratio
            );
            last = step.ratio;
        }
    }

    #[test]
    fn a_known_drift_is_followed_by_the_pace_alone() {
        // The renderer's timeline has fitted the device's drift: the ratio is that pace and
        // the error never leaves the dead band.
        let mut sim = Sim::new(schedule_at(1_000_000_000), 1_000_000_000, 150.0);
        sim.pace = 1.0 / (1.0 + 150e-6);
        let errors = run(&mut sim, 6000, |i| jitter(i, 30_000));
        // While the ratio slews to the pace, the first buffers lose a few µs; then not a ns.
        assert!(worst(&errors) < 30_000.0, "{}", worst(&errors));
        let settled = &errors[100..];
        let spread = settled.iter().fold(f64::MIN, |m, e| m.max(*e))
            - settled.iter().fold(f64::MAX, |m, e| m.min(*e));
        assert!(spread < 1_000.0, "{spread}");
        assert!((sim.corrector.ratio - sim.pace).abs() < 1e-12);
    }
}
