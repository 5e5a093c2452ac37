//! Opening a media file for reading, shared by the library (which reads tags and stream facts)
//! and the player (which decodes): the format reader chosen by content, the audio track in it,
//! and the decoders that can play it (symphonia's own and Opus, [`super::opus`]). A file still
//! arriving from a friend is opened through [`super::growing`], so it reads as it arrives.

use std::path::Path;

use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// Why a file could not be read. Each message names the problem in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the file is empty")]
    Empty,
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    #[error("not a recognised audio format (the contents do not match its name, or the format is not supported)")]
    UnknownFormat,
    #[error("the file has no audio track")]
    NoAudio,
    #[error("{0} is not supported yet: Earshot cannot play this file")]
    UnsupportedCodec(String),
    #[error("the file is damaged: {0}")]
    Damaged(String),
}

/// The decoders for what [`open_format`] opens: symphonia's and Opus.
pub fn codecs() -> &'static symphonia::core::codecs::registry::CodecRegistry {
    super::opus::codecs()
}

/// Opens `path` with symphonia, choosing the reader by content (the extension is only a hint).
/// An Opus track comes out on track time like every other format (`opus.rs`).
pub fn open_format(path: &Path) -> Result<Box<dyn FormatReader>, ProbeError> {
    // A track still arriving from a friend is read as it arrives.
    let source = super::growing::open(path).map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    if source.byte_len() == Some(0) {
        return Err(ProbeError::Empty);
    }
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let stream = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
    symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map(super::opus::on_track_time)
        .map_err(|e| match e {
            SymphoniaError::Unsupported(_) => ProbeError::UnknownFormat,
            SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                ProbeError::Damaged("it ends before its header does".into())
            }
            SymphoniaError::IoError(e) => ProbeError::Unreadable(e.to_string()),
            other => ProbeError::Damaged(other.to_string()),
        })
}

/// The file's audio track (the default one, else the first) and its codec parameters.
pub fn audio_track(format: &dyn FormatReader) -> Result<(Track, AudioCodecParameters), ProbeError> {
    let track = format
        .default_track(TrackType::Audio)
        .or_else(|| format.first_track(TrackType::Audio))
        .ok_or(ProbeError::NoAudio)?
        .clone();
    let Some(CodecParameters::Audio(params)) = &track.codec_params else {
        return Err(ProbeError::NoAudio);
    };
    let mut params = params.clone();
    if params.sample_rate.unwrap_or(0) == 0 {
        // symphonia 0.6 reads no rate from some MP4s (AAC at 96 kHz); their media time base is
        // 1/rate, so that names it.
        params.sample_rate = track
            .time_base
            .filter(|tb| tb.numer.get() == 1 && tb.denom.get() >= 8000)
            .map(|tb| tb.denom.get());
    }
    Ok((track, params))
}
