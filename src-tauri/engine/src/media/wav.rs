//! 16-bit PCM WAV files written from samples: the demo library, benchmarks and tests make their
//! sound with this rather than each with a RIFF writer of its own.

/// The 44-byte header of a 16-bit PCM WAV of `channels` at `rate` whose sample data is
/// `data_len` bytes (the data follows it, interleaved little-endian `i16`).
pub fn pcm16_header(rate: u32, channels: u16, data_len: u32) -> [u8; 44] {
    let block_align = channels * 2;
    let mut header = [0u8; 44];
    let fields: [&[u8]; 13] = [
        b"RIFF",
        &(36u32.saturating_add(data_len)).to_le_bytes(),
        b"WAVEfmt ",
        &16u32.to_le_bytes(),
        &1u16.to_le_bytes(), // PCM
        &channels.to_le_bytes(),
        &rate.to_le_bytes(),
        &(rate * u32::from(block_align)).to_le_bytes(),
        &block_align.to_le_bytes(),
        &16u16.to_le_bytes(),
        b"data",
        &data_len.to_le_bytes(),
        &[],
    ];
    let mut at = 0;
    for field in fields {
        header[at..at + field.len()].copy_from_slice(field);
        at += field.len();
    }
    header
}

/// A whole 16-bit PCM WAV of interleaved `samples` (`channels` per frame) at `rate`.
pub fn pcm16(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut wav = Vec::with_capacity(44 + samples.len() * 2);
    wav.extend_from_slice(&pcm16_header(rate, channels, data_len));
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    wav
}

/// Each of `frames` in both channels of a stereo stream (the tests' and benches' usual shape).
pub fn stereo(frames: impl IntoIterator<Item = i16>) -> Vec<i16> {
    frames.into_iter().flat_map(|s| [s, s]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_wav_reads_back_as_its_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let samples = stereo([0, 1000, -1000, i16::MAX, i16::MIN]);
        std::fs::write(&path, pcm16(48_000, 2, &samples)).unwrap();
        let format = crate::media::open_format(&path).unwrap();
        let (_, params) = crate::media::audio_track(format.as_ref()).unwrap();
        assert_eq!(params.sample_rate, Some(48_000));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 44 + samples.len() * 2);
        assert_eq!(&bytes[40..44], &20u32.to_le_bytes(), "data length");
        assert_eq!(&bytes[44 + 6..44 + 8], &1000i16.to_le_bytes());
    }
}
