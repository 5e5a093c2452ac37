//! The output side of the player: what runs inside the audio device's callback (conventions 5).
//!
//! The decoder thread pushes interleaved samples, already at the device's rate and channel count,
//! into a lock-free SPSC ring ([`rtrb`]). [`Renderer::render`] — called by the output for every
//! buffer — only copies samples (times the volume) or silence, and publishes through atomics in
//! [`Shared`] which stream frame was at the head of the buffer and when that frame leaves the
//! device. With a [`Schedule`] set, it also keeps that frame on time by asking the pure
//! [`Corrector`] how many frames to skip, pad, drop or duplicate. No locks, allocation, logging
//! or I/O happen here.
//!
//! "Stream frame" counts every frame that ever entered the ring, so it never goes backwards: the
//! decoder thread knows which stream frame holds which track frame, and the callback knows which
//! stream frame is at the head of each buffer.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::*};

use rtrb::Consumer;

use super::sync::{Correction, Corrector, Schedule};

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
    /// The schedule, written under a sequence lock: odd `schedule_seq` while being written.
    schedule_seq: AtomicU64,
    schedule_frame: AtomicU64,
    schedule_at: AtomicU64,
    /// 0 = no schedule.
    schedule_rate: AtomicU32,
    /// What the corrector reports, for `sync_report` events.
    pub error_ns: AtomicI64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub jumps: AtomicU32,
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

    /// Sets (or with `None` clears) the schedule. Called by the decoder thread only.
    pub fn set_schedule(&self, schedule: Option<Schedule>) {
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
        self.schedule_seq.store(seq + 2, Release);
    }

    /// The schedule and its version, or None while it is being written or unset.
    fn schedule(&self) -> Option<(u64, Option<Schedule>)> {
        let before = self.schedule_seq.load(Acquire);
        if before % 2 == 1 {
            return None;
        }
        let rate = self.schedule_rate.load(Relaxed);
        let frame = self.schedule_frame.load(Relaxed);
        let at_ns = self.schedule_at.load(Relaxed);
        std::sync::atomic::fence(Acquire);
        if self.schedule_seq.load(Relaxed) != before {
            return None;
        }
        Some((
            before,
            (rate != 0).then_some(Schedule { frame, at_ns, rate }),
        ))
    }
}

/// Lives in the output callback; owns the ring's consumer end.
pub struct Renderer {
    ring: Consumer<f32>,
    shared: std::sync::Arc<Shared>,
    channels: usize,
    rate: u32,
    corrector: Corrector,
    /// The schedule version the corrector belongs to.
    schedule_seq: u64,
    /// The last frame played, for duplicating.
    last: [f32; 8],
    /// Frames handed to the device so far (samples and silence alike).
    rendered: u64,
    /// Recent estimates of when frame 0 of `rendered` left the device (ns): the device plays
    /// at a steady rate, so `playback − rendered/rate` is constant but for the timestamps'
    /// jitter, and its median gives a clean timeline.
    timeline: [i64; TIMELINE],
    timeline_len: usize,
    timeline_next: usize,
}

/// Playback timestamps the device timeline is the median of (about 0.7 s at 512 frames).
const TIMELINE: usize = 64;

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
            schedule_seq: u64::MAX,
            last: [0.0; 8],
            rendered: 0,
            timeline: [0; TIMELINE],
            timeline_len: 0,
            timeline_next: 0,
        }
    }

    /// The playback instant of the next buffer on the device's steady timeline, from the
    /// jittery one reported.
    fn smooth(&mut self, playback_ns: u64) -> u64 {
        let elapsed = (self.rendered as u128 * 1_000_000_000 / self.rate.max(1) as u128) as i128;
        let base = (playback_ns as i128 - elapsed) as i64;
        self.timeline[self.timeline_next] = base;
        self.timeline_next = (self.timeline_next + 1) % TIMELINE;
        self.timeline_len = (self.timeline_len + 1).min(TIMELINE);
        let mut sorted = self.timeline;
        let values = &mut sorted[..self.timeline_len];
        let middle = values.len() / 2;
        let (_, median, _) = values.select_nth_unstable(middle);
        (*median as i128 + elapsed).max(0) as u64
    }

    /// Fills `out` (interleaved, `channels` per frame); `playback_ns` is when its first frame
    /// leaves the device, on the engine clock.
    pub fn render(&mut self, out: &mut [f32], playback_ns: u64) {
        let channels = self.channels;
        let frames = out.len() / channels;
        let playback_ns = self.smooth(playback_ns);
        self.rendered += frames as u64;
        let shared = &*self.shared;

        let request = shared.flush_request.load(Acquire);
        if shared.flush_done.load(Relaxed) != request {
            let queued = self.ring.slots();
            if let Ok(chunk) = self.ring.read_chunk(queued) {
                chunk.commit_all();
            }
            shared
                .consumed
                .fetch_add((queued / channels) as u64, Relaxed);
            shared.flush_done.store(request, Release);
        }

        let head = shared.consumed.load(Relaxed);
        shared.head_frame.store(head, Relaxed);
        shared.head_ns.store(playback_ns, Relaxed);
        shared.buffers.fetch_add(1, Release);

        if shared.paused.load(Relaxed) || !shared.primed.load(Acquire) {
            out.fill(0.0);
            return;
        }

        let mut correction = Correction::None;
        if let Some((seq, schedule)) = shared.schedule() {
            if seq != self.schedule_seq {
                self.schedule_seq = seq;
                self.corrector = Corrector::default();
            }
            if let Some(schedule) = schedule {
                let error = playback_ns as i128 - schedule.due_ns(head);
                let error = error.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
                correction = self.corrector.on_buffer(error, self.rate, frames);
                shared.error_ns.store(self.corrector.error_ns(), Relaxed);
                shared.dropped.store(self.corrector.dropped, Relaxed);
                shared.duplicated.store(self.corrector.duplicated, Relaxed);
                shared.jumps.store(self.corrector.jumps, Relaxed);
            }
        }

        let mut written = 0; // frames of `out` filled
        match correction {
            Correction::Silence(n) => {
                let n = (n as usize).min(frames);
                out[..n * channels].fill(0.0);
                written = n;
            }
            Correction::Skip(n) => {
                let available = self.ring.slots() / channels;
                let n = (n as usize).min(available);
                if let Ok(chunk) = self.ring.read_chunk(n * channels) {
                    chunk.commit_all();
                }
                shared.consumed.fetch_add(n as u64, Relaxed);
            }
            _ => {}
        }
        // Single frames dropped or duplicated are spread evenly over the rest of the buffer.
        let (slews, drop) = match correction {
            Correction::Drop(n) => (n as usize, true),
            Correction::Duplicate(n) => (n as usize, false),
            _ => (0, false),
        };
        let base = written;
        let span = frames - written;
        let mut slew_index = 0;
        let slew_point = |i: usize| base + (i + 1) * span / (slews + 1);
        let volume = shared.volume();
        let mut taken = 0u64;
        while written < frames {
            if slew_index < slews && written == slew_point(slew_index) {
                slew_index += 1;
                if drop {
                    if self.ring.slots() >= channels {
                        if let Ok(chunk) = self.ring.read_chunk(channels) {
                            chunk.commit_all();
                        }
                        taken += 1;
                    }
                } else {
                    let frame = &mut out[written * channels..(written + 1) * channels];
                    for (o, s) in frame.iter_mut().zip(self.last.iter()) {
                        *o = *s * volume;
                    }
                    written += 1;
                    continue;
                }
            }
            let until = if slew_index < slews {
                slew_point(slew_index).max(written + 1)
            } else {
                frames
            };
            let want = until.min(frames) - written;
            let available = self.ring.slots() / channels;
            let n = want.min(available);
            if n == 0 {
                // Underrun: silence for the rest; the stream position does not move.
                out[written * channels..].fill(0.0);
                shared.underruns.fetch_add(1, Relaxed);
                break;
            }
            let chunk = self
                .ring
                .read_chunk(n * channels)
                .expect("the slots just counted to be readable");
            let (first, second) = chunk.as_slices();
            let target = &mut out[written * channels..(written + n) * channels];
            let (a, b) = target.split_at_mut(first.len());
            for (o, s) in a.iter_mut().zip(first) {
                *o = *s * volume;
            }
            for (o, s) in b.iter_mut().zip(second) {
                *o = *s * volume;
            }
            // Keep the last frame unscaled, for a duplicate later.
            for (c, slot) in self.last[..channels].iter_mut().enumerate() {
                let from_end = channels - c;
                *slot = if second.len() >= from_end {
                    second[second.len() - from_end]
                } else {
                    first[first.len() - (from_end - second.len())]
                };
            }
            chunk.commit_all();
            written += n;
            taken += n as u64;
        }
        if taken > 0 {
            let heard = (playback_ns as u128
                + written as u128 * 1_000_000_000 / self.rate.max(1) as u128)
                as u64;
            shared.drained_ns.store(heard, Relaxed);
        }
        shared.consumed.fetch_add(taken, Relaxed);
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
}
