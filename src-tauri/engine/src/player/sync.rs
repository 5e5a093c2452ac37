//! Keeping scheduled playback on time (design §7), as a pure controller.
//!
//! A [`Schedule`] says "stream frame `frame` leaves the output device at `at_ns`". Once per output
//! buffer the renderer measures the error — when the buffer's first frame will actually leave the
//! device (cpal's playback timestamp) minus when it should — and asks the [`Corrector`] what to do:
//! a large error is fixed at once by a jump (skip frames when late, play silence when early — which
//! is also how a scheduled start lands on its exact frame), a small one is slewed away by dropping
//! or duplicating single frames, at most one per buffer (≈ 0.2 % at 48 kHz, inaudible). The
//! measurement is smoothed first, because playback timestamps are noisy by tens of microseconds.
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
        self.at_ns as i128 + frames * 1_000_000_000 / self.rate as i128
    }
}

/// What to do with the next buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// On time (within the dead band).
    None,
    /// Early by this many frames: play that much silence first.
    Silence(u64),
    /// Late by this many frames: discard them first.
    Skip(u64),
    /// Slightly early: play this many single frames twice, spread over the buffer.
    Duplicate(u32),
    /// Slightly late: leave this many single frames out, spread over the buffer.
    Drop(u32),
}

/// Errors beyond this are fixed at once rather than slewed.
pub const JUMP_NS: i64 = 5_000_000;
/// Errors within this are left alone (about one frame at 48 kHz).
pub const DEAD_BAND_NS: i64 = 20_000;
/// Measurements the error is the median of. The renderer already puts playback timestamps on a
/// steady timeline; this removes what jitter is left without slowing the response much.
const WINDOW: usize = 16;
/// Most frames dropped or doubled per buffer (about 0.8 % at 512-frame buffers).
const MAX_SLEW: u32 = 4;

/// The error controller: one per schedule.
#[derive(Debug, Clone)]
pub struct Corrector {
    window: [i64; WINDOW],
    len: usize,
    next: usize,
    /// Whether the schedule's first frame has been played.
    started: bool,
    median: i64,
    pub dropped: u64,
    pub duplicated: u64,
    pub jumps: u32,
}

impl Default for Corrector {
    fn default() -> Self {
        Self {
            window: [0; WINDOW],
            len: 0,
            next: 0,
            started: false,
            median: 0,
            dropped: 0,
            duplicated: 0,
            jumps: 0,
        }
    }
}

impl Corrector {
    /// Decides the correction for a buffer of `frames` frames whose first frame is `error_ns`
    /// late (negative: early).
    pub fn on_buffer(&mut self, error_ns: i64, rate: u32, frames: usize) -> Correction {
        let frame_ns = 1_000_000_000 / rate.max(1) as i64;
        let to_frames = |ns: i64| (ns.unsigned_abs() as u128 * rate as u128 / 1_000_000_000) as u64;
        if !self.started {
            // Before the first frame: wait in silence, landing the start on its exact frame.
            if error_ns < -frame_ns / 2 {
                let early = to_frames(error_ns);
                if early < frames as u64 {
                    self.started = true;
                }
                return Correction::Silence(early);
            }
            self.started = true;
            if error_ns >= JUMP_NS {
                self.jumps += 1;
                return Correction::Skip(to_frames(error_ns));
            }
        }
        self.window[self.next] = error_ns;
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        if self.len < WINDOW / 2 {
            return Correction::None;
        }
        let mut sorted = self.window;
        let values = &mut sorted[..self.len];
        let middle = self.len / 2;
        let (_, median, _) = values.select_nth_unstable(middle);
        let median = *median;
        self.median = median;
        if median.abs() >= JUMP_NS {
            self.jumps += 1;
            self.len = 0;
            self.next = 0;
            self.median = 0;
            return if median > 0 {
                Correction::Skip(to_frames(median))
            } else {
                Correction::Silence(to_frames(median))
            };
        }
        if median.abs() <= DEAD_BAND_NS.max(frame_ns / 2) {
            return Correction::None;
        }
        let off_by = (median.abs() / frame_ns.max(1)) as u32;
        let count = (off_by / 16).clamp(1, MAX_SLEW);
        // Later measurements already include this correction; shift the ones taken before it so
        // the median does not keep asking for it (which would overshoot).
        let shift = count as i64 * frame_ns * median.signum();
        for value in &mut self.window[..self.len] {
            *value -= shift;
        }
        if median > 0 {
            self.dropped += count as u64;
            Correction::Drop(count)
        } else {
            self.duplicated += count as u64;
            Correction::Duplicate(count)
        }
    }

    /// The current (median) error, in nanoseconds.
    pub fn error_ns(&self) -> i64 {
        self.median
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    const BUFFER: u64 = 512;

    /// Simulates an output device: buffers of 512 frames leave the device one after another at
    /// `latency_ns` after they are rendered, with optional timestamp noise; returns the true
    /// error (ns) of the frame at the head of each buffer after the corrector acts.
    fn run(
        schedule: Schedule,
        start_ns: u64,
        buffers: usize,
        noise_ns: impl Fn(usize) -> i64,
    ) -> (Vec<i64>, Corrector) {
        let mut corrector = Corrector::default();
        let mut head = 0u64; // next stream frame to play
        let mut errors = Vec::new();
        for i in 0..buffers {
            let playback = start_ns + i as u64 * BUFFER * 1_000_000_000 / RATE as u64;
            let true_error = playback as i128 - schedule.due_ns(head);
            let measured = true_error as i64 + noise_ns(i);
            let mut played_from_stream = BUFFER;
            match corrector.on_buffer(measured, RATE, BUFFER as usize) {
                Correction::Silence(n) => {
                    let n = n.min(BUFFER);
                    played_from_stream -= n;
                }
                Correction::Skip(n) => head += n,
                Correction::Drop(n) => head += n as u64,
                Correction::Duplicate(n) => played_from_stream -= n as u64,
                Correction::None => {}
            }
            head += played_from_stream;
            if i > 0 {
                errors.push(true_error as i64);
            }
        }
        (errors, corrector)
    }

    fn schedule_at(at_ns: u64) -> Schedule {
        Schedule {
            frame: 0,
            at_ns,
            rate: RATE,
        }
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
    }

    #[test]
    fn an_early_start_plays_silence_until_the_exact_instant() {
        // The device starts 100 ms before the scheduled instant.
        let (errors, corrector) = run(schedule_at(1_100_000_000), 1_000_000_000, 100, |_| 0);
        let settled = &errors[20..];
        assert!(
            settled.iter().all(|e| e.abs() < 21_000),
            "within one frame once started: {settled:?}"
        );
        assert_eq!(corrector.jumps, 0, "a start on time needs no correction");
    }

    #[test]
    fn a_late_start_skips_ahead_to_where_the_schedule_is() {
        let (errors, _) = run(schedule_at(1_000_000_000), 1_250_000_000, 50, |_| 0);
        assert!(errors[5..].iter().all(|e| e.abs() < 21_000), "{errors:?}");
    }

    #[test]
    fn a_small_error_is_slewed_away_one_frame_per_buffer() {
        // 1 ms late: below the jump threshold, so dropped a few frames per buffer (48 frames).
        let (errors, corrector) = run(schedule_at(999_000_000), 1_000_000_000, 300, |_| 0);
        assert_eq!(corrector.jumps, 0);
        assert!(
            (45..=52).contains(&corrector.dropped),
            "dropped {}",
            corrector.dropped
        );
        assert!(
            errors[200..].iter().all(|e| e.abs() < 21_000),
            "{:?}",
            &errors[200..]
        );
    }

    #[test]
    fn timestamp_noise_does_not_make_it_wander() {
        // Timestamps jittering by ±1 ms at random from buffer to buffer. The true error must
        // stay well inside half a millisecond, and nothing may jump.
        let noise = |i: usize| ((i as i64 * 7919) % 2_001 - 1_000) * 1000;
        let (errors, corrector) = run(schedule_at(1_000_000_000), 1_000_000_000, 3000, noise);
        let worst = errors[100..].iter().map(|e| e.abs()).max().unwrap();
        assert!(worst < 250_000, "worst true error {worst} ns");
        assert_eq!(corrector.jumps, 0);
    }
}
