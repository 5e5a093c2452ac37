//! Opus: libopus (through `symphonia-adapter-libopus`, which builds libopus from its bundled
//! source) registered beside symphonia's own decoders, and the start of an Opus stream made
//! sample-accurate.
//!
//! An Opus encoder puts `pre_skip` frames (OpusHead; 312 from libopus, 6.5 ms) of warm-up before
//! the audio. Ogg counts granule positions with the pre-skip included (the first packet starts at
//! 0, the audio at frame 312), and symphonia's Ogg reader passes them on unchanged; the adapter
//! trims the pre-skip off the first packet it decodes after being made, but not after a seek (a
//! return to the start plays the warm-up). [`PreSkip`] puts Ogg Opus on the footing the player
//! expects of every format: timestamps are track time (frame 0 is the first frame of audio),
//! frames before 0 are marked for trimming on their packets (`trim_start`, so the decoder drops
//! them wherever decoding starts; the decoder is told of no pre-skip of its own), and a seek
//! starts decoding 80 ms early, as RFC 7845 asks, so the decoder has converged at the target.
//!
//! Matroska/WebM subtract their CodecDelay from the timestamps themselves, but count in
//! milliseconds (the default TimestampScale): there the adapter's own first-packet trim is kept,
//! and a seek lands to the millisecond (a return to the very start keeps the 6.5 ms warm-up).

use std::sync::OnceLock;

use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::errors::Result as SymphoniaResult;
use symphonia::core::formats::well_known::FORMAT_ID_OGG;
use symphonia::core::formats::{
    Attachment, FormatInfo, FormatReader, SeekMode, SeekTo, SeekedTo, Track,
};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{ChapterGroup, Metadata};
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, Timestamp};

/// Frames decoded before a seek target so the decoder has converged there: 80 ms at 48 kHz
/// (RFC 7845 §4.6: "at least 80 ms" of pre-roll).
const PRE_ROLL: i64 = 3840;

/// Byte offset of the little-endian u16 pre-skip in an OpusHead packet ("OpusHead", version,
/// channel count, pre-skip).
const PRE_SKIP_OFFSET: usize = 10;

/// The decoders Earshot uses: every codec symphonia was built with, and Opus.
pub fn codecs() -> &'static CodecRegistry {
    static CODECS: OnceLock<CodecRegistry> = OnceLock::new();
    CODECS.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
        registry
    })
}

/// `format` with its Ogg Opus track (if any) on track time; any other format unchanged.
pub fn on_track_time(format: Box<dyn FormatReader>) -> Box<dyn FormatReader> {
    if format.format_info().format != FORMAT_ID_OGG {
        return format;
    }
    let opus = format
        .tracks()
        .iter()
        .find_map(|track| match &track.codec_params {
            Some(CodecParameters::Audio(params)) if params.codec == CODEC_ID_OPUS => {
                let head = params.extra_data.as_deref()?;
                let pre_skip = head.get(PRE_SKIP_OFFSET..PRE_SKIP_OFFSET + 2)?;
                Some((track.id, u16::from_le_bytes([pre_skip[0], pre_skip[1]])))
            }
            _ => None,
        });
    let Some((track_id, pre_skip)) = opus else {
        return format;
    };
    let shift = u64::from(pre_skip);
    let tracks = format
        .tracks()
        .iter()
        .cloned()
        .map(|mut track| {
            if track.id == track_id {
                untrimmed_head(&mut track);
                track.start_ts = Timestamp::new(track.start_ts.get().saturating_sub(shift as i64));
                track.num_frames = track.num_frames.map(|n| n.saturating_sub(shift));
                track.duration = track
                    .duration
                    .map(|d| Duration::new(d.get().saturating_sub(shift)));
            }
            track
        })
        .collect();
    Box::new(PreSkip {
        inner: format,
        tracks,
        track_id,
        shift,
    })
}

/// Zeroes the pre-skip in the track's OpusHead: the trimming is the packets' business here.
fn untrimmed_head(track: &mut Track) {
    if let Some(CodecParameters::Audio(params)) = &mut track.codec_params {
        if let Some(head) = &mut params.extra_data {
            let mut bytes = head.to_vec();
            if let Some(pre_skip) = bytes.get_mut(PRE_SKIP_OFFSET..PRE_SKIP_OFFSET + 2) {
                pre_skip.fill(0);
            }
            *head = bytes.into_boxed_slice();
        }
    }
}

/// Frames (at 48 kHz) an Opus packet decodes to, from its TOC byte (RFC 6716 §3.1): for
/// counting the length of a stream whose container states no durations (WebM without
/// BlockDurations).
pub fn packet_frames(packet: &[u8]) -> u64 {
    let Some(&toc) = packet.first() else {
        return 0;
    };
    // Frame size in 1/400 s units (2.5 ms = 120 frames at 48 kHz) by configuration number.
    let config = toc >> 3;
    let frame: u64 = match config {
        0..=11 => [480, 960, 1920, 2880][(config % 4) as usize],
        12..=15 => [480, 960][(config % 2) as usize],
        _ => [120, 240, 480, 960][(config % 4) as usize],
    };
    let count = match toc & 0b11 {
        0 => 1,
        1 | 2 => 2,
        _ => packet.get(1).map_or(0, |b| u64::from(b & 0b11_1111)),
    };
    frame * count
}

/// A reader whose Opus track runs on track time (see the module's header).
struct PreSkip {
    inner: Box<dyn FormatReader>,
    /// The inner reader's tracks, the Opus one adjusted.
    tracks: Vec<Track>,
    track_id: u32,
    /// Frames to take off the inner reader's timestamps: the pre-skip. The track's time base is
    /// 1/48000 (Ogg Opus granules), so timestamps, durations and trims are all in frames.
    shift: u64,
}

impl PreSkip {
    fn adjust(&self, mut packet: Packet) -> Packet {
        if packet.track_id != self.track_id {
            return packet;
        }
        let shift = self.shift as i64;
        packet.pts = Timestamp::new(packet.pts.get().saturating_sub(shift));
        packet.dts = Timestamp::new(packet.dts.get().saturating_sub(shift));
        // The packet's first kept frame; frames before track time 0 are warm-up.
        let first = packet
            .pts
            .get()
            .saturating_add(packet.trim_start.get() as i64);
        if first < 0 {
            let cut = first.unsigned_abs().min(packet.dur.get());
            packet.trim_start = Duration::new(packet.trim_start.get() + cut);
            packet.dur = Duration::new(packet.dur.get() - cut);
        }
        packet
    }
}

impl FormatReader for PreSkip {
    fn format_info(&self) -> &FormatInfo {
        self.inner.format_info()
    }

    fn media_info(&self) -> &symphonia::core::formats::MediaInfo {
        self.inner.media_info()
    }

    fn attachments(&self) -> &[Attachment] {
        self.inner.attachments()
    }

    fn chapters(&self) -> Option<&ChapterGroup> {
        self.inner.chapters()
    }

    fn metadata(&mut self) -> Metadata<'_> {
        self.inner.metadata()
    }

    fn seek(&mut self, mode: SeekMode, to: SeekTo) -> SymphoniaResult<SeekedTo> {
        let shift = self.shift as i64;
        // The target on track time, when it is on the Opus track.
        let target = match &to {
            SeekTo::Timestamp { ts, track_id } if *track_id == self.track_id => Some(*ts),
            SeekTo::Time { time, track_id } if track_id.is_none_or(|id| id == self.track_id) => {
                self.tracks
                    .iter()
                    .find(|t| t.id == self.track_id)
                    .and_then(|t| t.time_base)
                    .and_then(|tb| tb.calc_timestamp(*time))
            }
            _ => None,
        };
        let Some(target) = target else {
            return self.inner.seek(mode, to);
        };
        // Decode from PRE_ROLL before the target (never before the stream's start); the caller
        // drops what comes before `required_ts`.
        let from = target.get().saturating_sub(PRE_ROLL).max(-shift);
        let mut seeked = self.inner.seek(
            mode,
            SeekTo::Timestamp {
                ts: Timestamp::new(from.saturating_add(shift)),
                track_id: self.track_id,
            },
        )?;
        seeked.actual_ts = Timestamp::new(seeked.actual_ts.get().saturating_sub(shift));
        seeked.required_ts = target.max(seeked.actual_ts);
        Ok(seeked)
    }

    fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    fn next_packet(&mut self) -> SymphoniaResult<Option<Packet>> {
        Ok(self.inner.next_packet()?.map(|p| self.adjust(p)))
    }

    fn into_inner<'s>(self: Box<Self>) -> MediaSourceStream<'s>
    where
        Self: 's,
    {
        self.inner.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pts: i64, dur: u64) -> Packet {
        Packet::new(0, Timestamp::new(pts), Duration::new(dur), vec![0xfc])
    }

    fn reader(shift: u64) -> PreSkip {
        PreSkip {
            inner: Box::new(Nothing),
            tracks: Vec::new(),
            track_id: 0,
            shift,
        }
    }

    #[test]
    fn ogg_warm_up_frames_are_trimmed_from_the_first_packets_and_time_starts_at_zero() {
        let ogg = reader(312);
        let first = ogg.adjust(packet(0, 960));
        assert_eq!(first.pts.get(), -312);
        assert_eq!(first.trim_start.get(), 312);
        assert_eq!(first.dur.get(), 648, "the frames of audio the packet holds");
        let second = ogg.adjust(packet(960, 960));
        assert_eq!((second.pts.get(), second.trim_start.get()), (648, 0));
    }

    #[test]
    fn a_pre_skip_longer_than_a_packet_trims_every_packet_it_covers() {
        let ogg = reader(312);
        let first = ogg.adjust(packet(0, 120));
        assert_eq!((first.trim_start.get(), first.dur.get()), (120, 0));
        let third = ogg.adjust(packet(240, 120));
        assert_eq!((third.trim_start.get(), third.dur.get()), (72, 48));
    }

    #[test]
    fn packet_lengths_come_from_the_toc_byte() {
        assert_eq!(packet_frames(&[0xfc]), 960, "CELT 20 ms, one frame");
        assert_eq!(
            packet_frames(&[0x0b << 3 | 1]),
            5760,
            "SILK 60 ms, two frames"
        );
        assert_eq!(
            packet_frames(&[0x10 << 3 | 3, 6]),
            720,
            "CELT 2.5 ms, six frames"
        );
        assert_eq!(packet_frames(&[]), 0);
    }

    /// A reader with nothing in it, for the pure timestamp tests.
    struct Nothing;

    impl FormatReader for Nothing {
        fn format_info(&self) -> &FormatInfo {
            unreachable!("not called by the timestamp tests")
        }
        fn media_info(&self) -> &symphonia::core::formats::MediaInfo {
            unreachable!("not called by the timestamp tests")
        }
        fn metadata(&mut self) -> Metadata<'_> {
            unreachable!("not called by the timestamp tests")
        }
        fn seek(&mut self, _: SeekMode, _: SeekTo) -> SymphoniaResult<SeekedTo> {
            unreachable!("not called by the timestamp tests")
        }
        fn tracks(&self) -> &[Track] {
            &[]
        }
        fn next_packet(&mut self) -> SymphoniaResult<Option<Packet>> {
            Ok(None)
        }
        fn into_inner<'s>(self: Box<Self>) -> MediaSourceStream<'s>
        where
            Self: 's,
        {
            unreachable!("not called by the timestamp tests")
        }
    }
}
