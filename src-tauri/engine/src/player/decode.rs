//! A track decoder for the player: symphonia packets → interleaved f32 at the output's rate and
//! channel count. Resampling (rubato's FFT resampler) is only set up when the file's rate differs
//! from the device's. A damaged packet is skipped, not fatal; seeking is frame-accurate where the
//! format allows (the decoder lands before the target and the surplus frames are dropped).

use std::path::Path;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};
use symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatReader, SeekMode, SeekTo};
use symphonia::core::units::Time;

use crate::media::mp4::{self, Gapless};
use crate::media::{self, ProbeError};

/// Input frames per resampler chunk.
const RESAMPLE_CHUNK: usize = 1024;
/// Consecutive undecodable packets after which the file is given up as damaged.
const MAX_BAD_PACKETS: u32 = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Open(#[from] ProbeError),
    #[error("the file is damaged beyond playing: {0}")]
    Damaged(String),
    #[error("cannot seek in this file: {0}")]
    Seek(String),
}

pub struct Decoder {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    time_base: Option<symphonia::core::units::TimeBase>,
    source_rate: u32,
    source_channels: usize,
    out_channels: usize,
    resampler: Option<Resampling>,
    /// Decoded samples (source layout) not yet converted.
    decoded: Vec<f32>,
    /// After a seek: the frame asked for. Decoders land before it; whatever comes before is
    /// dropped, measured from each packet's own timestamp.
    seek_target: Option<u64>,
    /// The next output frame's position in the track, in source frames.
    position: u64,
    finished: bool,
    /// Encoder delay and music length the container states but symphonia does not apply (AAC
    /// in MP4): packet timestamps run `delay` frames ahead of the track's frames, and frames
    /// past `delay + frames` are padding.
    gapless: Option<Gapless>,
}

struct Resampling {
    resampler: Fft<f32>,
    /// Input frames waiting for a full chunk (out_channels interleaved).
    pending: Vec<f32>,
    /// Output frames still to trim (the resampler's start-up delay).
    trim: usize,
    output: Vec<f32>,
    flushed: bool,
    /// Input frames given and output frames delivered, so the padded tail is cut to length.
    fed: u64,
    emitted: u64,
    ratio: f64,
}

impl Decoder {
    /// Opens `path` for output at `out_rate` Hz with `out_channels` channels.
    pub fn open(path: &Path, out_rate: u32, out_channels: usize) -> Result<Self, DecodeError> {
        let format = media::open_format(path)?;
        let (track, params) = media::audio_track(&*format)?;
        let params = &params;
        let decoder = media::codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(|e| ProbeError::UnsupportedCodec(e.to_string()))?;
        let source_rate = params
            .sample_rate
            .ok_or_else(|| ProbeError::Damaged("the sample rate is missing".into()))?;
        let gapless = (format.format_info().short_name == "isomp4" && params.codec == CODEC_ID_AAC)
            .then(|| std::fs::File::open(path).ok())
            .flatten()
            .and_then(|mut file| mp4::gapless(&mut file))
            .filter(|g| g.delay > 0 || g.frames.is_some());
        let source_channels = params.channels.as_ref().map_or(2, |c| c.count()).max(1);
        let resampler = if source_rate != out_rate {
            let resampler = Fft::<f32>::new(
                source_rate as usize,
                out_rate as usize,
                RESAMPLE_CHUNK,
                out_channels,
                FixedSync::Input,
            )
            .map_err(|e| DecodeError::Damaged(format!("cannot resample: {e}")))?;
            let trim = resampler.output_delay();
            let output = vec![0.0; resampler.output_frames_max() * out_channels];
            Some(Resampling {
                resampler,
                pending: Vec::new(),
                trim,
                output,
                flushed: false,
                fed: 0,
                emitted: 0,
                ratio: out_rate as f64 / source_rate as f64,
            })
        } else {
            None
        };
        Ok(Self {
            format,
            decoder,
            track_id: track.id,
            time_base: track.time_base,
            source_rate,
            source_channels,
            out_channels,
            resampler,
            decoded: Vec::new(),
            // The encoder's delay is cut as a seek to the music's first frame would cut it.
            seek_target: gapless.map(|g| g.delay).filter(|d| *d > 0),
            position: 0,
            finished: false,
            gapless,
        })
    }

    pub fn source_rate(&self) -> u32 {
        self.source_rate
    }

    /// The track position (source frames) of the next frame this decoder will output.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Moves to source frame `frame`. Returns the frame it landed on (the same, unless the
    /// format can only seek coarsely).
    pub fn seek(&mut self, frame: u64) -> Result<u64, DecodeError> {
        let delay = self.delay();
        let frame = frame + delay;
        // Rounded up: rounded down, the format's timestamp for it can come out a frame early.
        let nanos = (frame as u128 * 1_000_000_000).div_ceil(self.source_rate as u128);
        let time = Time::from_nanos_u64(nanos as u64);
        let seeked = self
            .format
            .seek(
                SeekMode::Accurate,
                SeekTo::Time {
                    time,
                    track_id: Some(self.track_id),
                },
            )
            .map_err(|e| DecodeError::Seek(e.to_string()))?;
        self.decoder.reset();
        self.decoded.clear();
        self.finished = false;
        if let Some(r) = &mut self.resampler {
            r.resampler.reset();
            r.pending.clear();
            r.trim = r.resampler.output_delay();
            r.flushed = false;
            r.fed = 0;
            r.emitted = 0;
        }
        let landed = self.to_frames(seeked.actual_ts);
        // Never before the music starts (a seek to 0 of a file with a delay).
        let required = self.to_frames(seeked.required_ts).max(landed).max(delay);
        self.seek_target = Some(required);
        self.position = required - delay;
        Ok(self.position)
    }

    /// Frames of encoder delay at the start of the packets' timeline (0 for most formats).
    fn delay(&self) -> u64 {
        self.gapless.map_or(0, |g| g.delay)
    }

    /// A timestamp of the track as a frame index (at the source rate).
    fn to_frames(&self, ts: symphonia::core::units::Timestamp) -> u64 {
        match self.time_base {
            Some(tb) => tb.calc_time(ts).map_or(0, |t| {
                ((t.as_nanos() * self.source_rate as i128 + 500_000_000) / 1_000_000_000).max(0)
                    as u64
            }),
            None => ts.get().max(0) as u64,
        }
    }

    /// Appends the next stretch of output samples to `out`. Returns false once the track has
    /// ended and everything has been delivered.
    pub fn next_chunk(&mut self, out: &mut Vec<f32>) -> Result<bool, DecodeError> {
        if self.finished {
            return Ok(self.flush_resampler(out));
        }
        let mut bad = 0;
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => {
                    self.finished = true;
                    return Ok(self.flush_resampler(out));
                }
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    // A truncated file: play what there was.
                    self.finished = true;
                    return Ok(self.flush_resampler(out));
                }
                Err(SymphoniaError::DecodeError(e)) => {
                    bad += 1;
                    if bad > MAX_BAD_PACKETS {
                        return Err(DecodeError::Damaged(e.to_string()));
                    }
                    continue;
                }
                Err(e) => return Err(DecodeError::Damaged(e.to_string())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(decoded) => decoded,
                Err(SymphoniaError::DecodeError(e)) => {
                    bad += 1;
                    tracing::debug!(error = e, "skipped an undecodable packet");
                    if bad > MAX_BAD_PACKETS {
                        return Err(DecodeError::Damaged(e.to_string()));
                    }
                    continue;
                }
                Err(e) => return Err(DecodeError::Damaged(e.to_string())),
            };
            let channels = decoded.spec().channels().count().max(1);
            self.decoded.clear();
            decoded.copy_to_vec_interleaved(&mut self.decoded);
            self.source_channels = channels;
            let mut frames = self.decoded.len() / channels;
            let mut start = 0;
            let end = self.gapless.and_then(|g| Some(g.delay + g.frames?));
            if self.seek_target.is_some() || end.is_some() {
                // The packet's first output frame, after the decoder's own (gapless) trimming.
                let first = self.to_frames(packet.pts.saturating_add(packet.trim_start));
                if let Some(target) = self.seek_target {
                    let dropped = (target.saturating_sub(first) as usize).min(frames);
                    if first + (frames as u64) > target {
                        self.seek_target = None;
                    }
                    start = dropped * channels;
                    frames -= dropped;
                }
                if let Some(end) = end {
                    // The padding after the music's last frame is cut, and the file ends there.
                    let first = first + (start / channels) as u64;
                    if first + frames as u64 >= end {
                        self.finished = true;
                        frames = end.saturating_sub(first) as usize;
                    }
                }
            }
            if frames == 0 {
                if self.finished {
                    return Ok(self.flush_resampler(out));
                }
                continue;
            }
            self.position += frames as u64;
            let decoded = std::mem::take(&mut self.decoded);
            self.convert(&decoded[start..start + frames * channels], out);
            self.decoded = decoded;
            return Ok(true);
        }
    }

    /// Maps source channels to the output's and resamples if needed.
    fn convert(&mut self, samples: &[f32], out: &mut Vec<f32>) {
        let (src, dst) = (self.source_channels, self.out_channels);
        let target = match &mut self.resampler {
            Some(r) => {
                r.fed += (samples.len() / src) as u64;
                &mut r.pending
            }
            None => &mut *out,
        };
        for frame in samples.chunks_exact(src) {
            if dst == src {
                target.extend_from_slice(frame);
            } else if dst == 1 {
                target.push(frame.iter().sum::<f32>() / src as f32);
            } else if src == 1 {
                target.extend(std::iter::repeat_n(frame[0], dst));
            } else {
                target.extend((0..dst).map(|c| if c < src { frame[c] } else { 0.0 }));
            }
        }
        if self.resampler.is_some() {
            self.resample(out, false);
        }
    }

    /// Runs full chunks through the resampler (and, when `last`, the padded remainder).
    fn resample(&mut self, out: &mut Vec<f32>, last: bool) {
        let channels = self.out_channels;
        let Some(r) = &mut self.resampler else { return };
        loop {
            let need = r.resampler.input_frames_next();
            let have = r.pending.len() / channels;
            if have < need && !(last && have > 0) {
                return;
            }
            let take = have.min(need);
            let input = InterleavedSlice::new(&r.pending[..], channels, have)
                .expect("the pending buffer to hold whole frames");
            let frames_out = r.resampler.output_frames_max();
            let mut output = InterleavedSlice::new_mut(&mut r.output[..], channels, frames_out)
                .expect("the output buffer to be sized for the resampler");
            let indexing = Indexing {
                input_offset: 0,
                output_offset: 0,
                partial_len: (take < need).then_some(take),
                active_channels_mask: None,
            };
            let Ok((used, produced)) =
                r.resampler
                    .process_into_buffer(&input, &mut output, Some(&indexing))
            else {
                r.pending.clear();
                return;
            };
            r.pending.drain(..used.min(have) * channels);
            let skip = r.trim.min(produced);
            r.trim -= skip;
            let allowed = ((r.fed as f64 * r.ratio).round() as u64).saturating_sub(r.emitted);
            let end = produced.min(skip + allowed as usize);
            r.emitted += (end - skip) as u64;
            out.extend_from_slice(&r.output[skip * channels..end * channels]);
        }
    }

    /// At the end of the track: pushes the resampler's tail out. Returns whether anything came.
    fn flush_resampler(&mut self, out: &mut Vec<f32>) -> bool {
        let channels = self.out_channels;
        let Some(r) = &mut self.resampler else {
            return false;
        };
        if r.flushed {
            return false;
        }
        r.flushed = true;
        // The real tail, then silence to push the delay line out; the output is cut to the
        // length the input implies.
        let delay = r.resampler.output_delay();
        r.pending.extend(std::iter::repeat_n(
            0.0,
            (delay + RESAMPLE_CHUNK) * channels,
        ));
        let before = out.len();
        self.resample(out, true);
        out.len() > before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_reported_as_unreadable() {
        let error = Decoder::open(Path::new("/nonexistent/song.flac"), 48_000, 2)
            .err()
            .expect("a missing file to fail");
        assert!(
            matches!(error, DecodeError::Open(ProbeError::Unreadable(_))),
            "{error}"
        );
    }
}
