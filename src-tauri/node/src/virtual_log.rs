//! What leaves a virtual sink, and when: `--virtual-log FILE` (with `--virtual-audio`).
//!
//! The test signal ([`write_ramp_wav`]) is a 32-bit float stereo WAV whose left channel is the
//! frame index times [`RAMP_STEP`] and whose right channel is a constant naming the track
//! ([`tag`]). A resampler interpolating it (a slowly varying ratio) leaves it decodable: the
//! ramp stays a ramp and the constant a constant; a fade scales both, so the index is read as
//! `left / right × tag / RAMP_STEP`, and a frame counts as decodable only while `right` is within
//! 1 % of a tag (full gain). A fade of a track passes through the lower tracks' constants, so for
//! a frame or two it reads as one of them (a break to that track and on): whoever reads the log
//! looks for the track it expects, never for "any other track".
//!
//! A thread drains the sink's `played` samples and their playback `instants` a few times a
//! second (so a run of any length keeps little in memory) and writes text lines:
//!
//! ```text
//! h <rate> <drift_ppm> <clock_offset_ns> <frame_ns>      once, first
//! p <instant_ns> <frame> <tag>     a buffer decodable and continuous throughout: the source
//!                                  frame (fractional) leaving the device at its first instant
//! b <instant_ns> <from_tag> <from_frame> <to_tag> <to_frame>
//!                                  a break: the first frame that does not continue the one
//!                                  before (a jump, another track, a fade or silence: tag -1)
//! ```
//!
//! Instants are this process's engine clock (with its `EARSHOT_CLOCK_OFFSET_MS`), in ns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use earshot_engine::player::VirtualSink;

/// The ramp's step per frame: 2^-25, so 699 s at 48 kHz stay below 1.0.
pub const RAMP_STEP: f64 = 1.0 / 33_554_432.0;
/// How many distinct tracks the signal can name.
pub const TAGS: usize = 6;
/// A frame that moves by more than this many frames (0.5 ms) from the one before is a break.
/// The resampler's ratio moves it by ~1 ± 0.01, but its float arithmetic on ramp values near 1.0
/// (above 2^24 frames, 6 minutes, one ulp is 2 frames) makes single frames wander by up to ~12:
/// a 9-minute run counted thousands of such "jumps" of ≤ 0.26 ms with 8 frames here, while the
/// per-buffer positions (means of 480 frames) stayed within 0.02 ms.
const BREAK_FRAMES: f64 = 24.0;

/// The right channel's constant for track `k`.
pub fn tag(k: usize) -> f32 {
    0.2 + 0.1 * k as f32
}

/// The track and source frame a stereo frame carries, if it is at full gain.
pub fn decode(left: f32, right: f32) -> Option<(usize, f64)> {
    (0..TAGS).find_map(|k| {
        let t = tag(k);
        ((right / t - 1.0).abs() < 0.01)
            .then(|| (k, left as f64 / right as f64 * t as f64 / RAMP_STEP))
    })
}

/// Writes `seconds` of the ramp signal for track `k` at `rate` Hz (32-bit float stereo WAV).
pub fn write_ramp_wav(path: &Path, seconds: f64, rate: u32, k: usize) -> anyhow::Result<()> {
    let frames = (seconds * rate as f64) as u64;
    anyhow::ensure!(
        (frames as f64) * RAMP_STEP < 1.0,
        "{seconds} s is longer than the ramp can count"
    );
    let bytes = frames * 8;
    anyhow::ensure!(bytes < u32::MAX as u64 - 64, "a WAV holds under 4 GiB");
    let file = std::fs::File::create(path).with_context(|| format!("cannot write {path:?}"))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    out.write_all(b"RIFF")?;
    out.write_all(&(4 + 26 + 12 + 8 + bytes as u32).to_le_bytes())?;
    out.write_all(b"WAVEfmt ")?;
    out.write_all(&18u32.to_le_bytes())?;
    out.write_all(&3u16.to_le_bytes())?; // IEEE float
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&rate.to_le_bytes())?;
    out.write_all(&(rate * 8).to_le_bytes())?;
    out.write_all(&8u16.to_le_bytes())?;
    out.write_all(&32u16.to_le_bytes())?;
    out.write_all(&0u16.to_le_bytes())?; // cbSize
    out.write_all(b"fact")?;
    out.write_all(&4u32.to_le_bytes())?;
    out.write_all(&(frames as u32).to_le_bytes())?;
    out.write_all(b"data")?;
    out.write_all(&(bytes as u32).to_le_bytes())?;
    let right = tag(k).to_le_bytes();
    for n in 0..frames {
        out.write_all(&((n as f64 * RAMP_STEP) as f32).to_le_bytes())?;
        out.write_all(&right)?;
    }
    out.flush()?;
    Ok(())
}

/// The drain thread; dropping it drains the last buffers and closes the file.
pub struct VirtualLog {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl VirtualLog {
    /// Starts logging `sink` (whose `keep` must hold a second or more) to `path`.
    pub fn start(sink: &VirtualSink, path: &Path) -> anyhow::Result<VirtualLog> {
        let file = std::fs::File::create(path).with_context(|| format!("cannot write {path:?}"))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        let frame_ns = sink.frame_ns();
        writeln!(
            out,
            "h {} {} {} {}",
            sink.rate,
            sink.drift_ppm,
            earshot_engine::clock::offset_ns(),
            frame_ns
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let sink = sink.clone();
        let path: PathBuf = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("earshot-virtual-log".into())
            .spawn(move || {
                let mut decoder = Decoder::new(sink.channels, sink.buffer, frame_ns);
                loop {
                    let last = stopping.load(Ordering::Acquire);
                    let (played, instants) = {
                        let Ok(mut played) = sink.played.lock() else {
                            return;
                        };
                        let Ok(mut instants) = sink.instants.lock() else {
                            return;
                        };
                        (std::mem::take(&mut *played), std::mem::take(&mut *instants))
                    };
                    if let Err(e) = decoder.feed(&played, &instants, &mut out) {
                        eprintln!("earshot-node: cannot write {path:?}: {e}");
                        return;
                    }
                    if last {
                        let _ = out.flush();
                        return;
                    }
                    let _ = out.flush();
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
            .context("cannot start the virtual log's thread")?;
        Ok(VirtualLog {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for VirtualLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Turns buffers into `p` and `b` lines, remembering the last frame across buffers.
struct Decoder {
    channels: usize,
    buffer: usize,
    frame_ns: f64,
    /// The last frame seen: its track and source frame, or `None` when it was not decodable.
    last: Option<Option<(usize, f64)>>,
}

impl Decoder {
    fn new(channels: usize, buffer: usize, frame_ns: f64) -> Decoder {
        Decoder {
            channels,
            buffer,
            frame_ns,
            last: None,
        }
    }

    fn feed(
        &mut self,
        played: &[f32],
        instants: &[u64],
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let step = self.buffer * self.channels;
        if self.channels < 2 {
            return Ok(());
        }
        for (i, &instant) in instants.iter().enumerate() {
            let Some(samples) = played.get(i * step..(i + 1) * step) else {
                break;
            };
            let mut whole = true;
            let mut sum = 0.0f64;
            let mut tag_of_buffer = None;
            for (j, frame) in samples.chunks_exact(self.channels).enumerate() {
                let now = decode(frame[0], frame[1]);
                let broke = match (self.last, now) {
                    (None, _) => false,
                    (Some(None), None) => false,
                    (Some(Some((a, x))), Some((b, y))) => {
                        a != b || (y - x - 1.0).abs() > BREAK_FRAMES
                    }
                    (Some(_), _) => true,
                };
                if broke {
                    let at = instant as f64 + j as f64 * self.frame_ns;
                    let (ft, ff) = self
                        .last
                        .flatten()
                        .map_or((-1, 0.0), |(t, f)| (t as i64, f));
                    let (tt, tf) = now.map_or((-1, 0.0), |(t, f)| (t as i64, f));
                    writeln!(out, "b {} {ft} {ff:.2} {tt} {tf:.2}", at.round() as u64)?;
                    if j > 0 {
                        whole = false;
                    }
                }
                match now {
                    Some((t, f)) if tag_of_buffer.is_none_or(|b| b == t) => {
                        tag_of_buffer = Some(t);
                        sum += f - j as f64;
                    }
                    _ => whole = false,
                }
                self.last = Some(now);
            }
            if whole {
                if let Some(t) = tag_of_buffer {
                    let frames = samples.len() / self.channels;
                    writeln!(out, "p {instant} {:.3} {t}", sum / frames as f64)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_decodes_to_its_track_and_index_even_faded() {
        let n = 1_234_567.0;
        let left = (n * RAMP_STEP) as f32;
        let (k, f) = decode(left, tag(2)).unwrap();
        assert_eq!(k, 2);
        assert!((f - n).abs() < 2.0, "{f}");
        let (k, f) = decode(left * 0.995, tag(2) * 0.995).unwrap();
        assert_eq!(k, 2);
        assert!((f - n).abs() < 2.0, "{f}");
        assert_eq!(decode(left * 0.6, tag(2) * 0.6), None);
        assert_eq!(decode(0.0, 0.0), None);
    }

    #[test]
    fn buffers_become_positions_and_a_jump_a_break() {
        let buffer = 4;
        let mut decoder = Decoder::new(2, buffer, 1000.0);
        let mut played = Vec::new();
        for n in [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 900.0, 901.0] {
            played.push((n * RAMP_STEP) as f32);
            played.push(tag(1));
        }
        let mut out = Vec::new();
        decoder.feed(&played, &[5_000, 9_000], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "p 5000 10.000 1");
        assert_eq!(lines[1], "b 11000 1 15.00 1 900.00");
        assert_eq!(lines.len(), 2, "{text}");
    }
}
