//! The demo friend's own music: a short album it plays on repeat and shares as its Listening
//! Activity, so a newcomer sees a friend's status change live and can play, add or react to
//! tracks their own library does not hold.
//!
//! Synthesised here, not shipped or downloaded: three pentatonic arpeggios over a soft pad (the
//! recipe of `tools/make-demo-library`, different notes), written as 16-bit mono WAV files led
//! by an ID3v2.4 tag (title, artist, album, track number, genre and a generated cover), so the
//! cover and tags travel with the file when a friend adds it to their library. (Not RIFF `INFO`
//! tags: symphonia 0.6.1's WAV reader parses them and then drops them; its probe reads a leading
//! ID3v2 tag for any format.) ~2 MB per track; written once, then found again on the next start.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The album every demo track belongs to, and its artist.
pub const ALBUM: &str = "Robin's Radio";
pub const ARTIST: &str = "Robin";
/// Long enough to hear, short enough that a newcomer sees the status change within a minute.
pub const SECONDS: u32 = 40;
/// Mono at 24 kHz: small files (the friend's track is fetched in well under a second on a LAN).
const RATE: u32 = 24_000;

/// One demo track: its title and the melody's root note, notes per second and first step.
pub struct Tune {
    pub title: &'static str,
    root_hz: f64,
    rate: f64,
    seed: u32,
}

pub const TUNES: &[Tune] = &[
    Tune {
        title: "Morning Ferry",
        root_hz: 233.08,
        rate: 4.0,
        seed: 2,
    },
    Tune {
        title: "Kites",
        root_hz: 277.18,
        rate: 6.0,
        seed: 5,
    },
    Tune {
        title: "Last Light",
        root_hz: 185.0,
        rate: 3.0,
        seed: 1,
    },
];

/// The file name of tune `index` (1-based track numbers, like an album's).
pub fn file_name(index: usize) -> String {
    format!("{:02} {}.wav", index + 1, TUNES[index].title)
}

/// Writes the album into `folder` (made if missing); files already there are kept. Returns the
/// tracks' paths in album order.
pub fn write_album(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(folder)?;
    let mut paths = Vec::with_capacity(TUNES.len());
    for (index, tune) in TUNES.iter().enumerate() {
        let path = folder.join(file_name(index));
        if !path.exists() {
            write_atomically(&path, &wav(tune, index as u32 + 1))?;
        }
        paths.push(path);
    }
    Ok(paths)
}

/// Through a hidden temporary name, so the folder's watcher never scans half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = path.with_file_name(format!(".{name}.partial"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// The samples of `tune`: a plucked pentatonic arpeggio (8 steps, each decaying) over a pad,
/// faded in and out.
fn samples(tune: &Tune) -> Vec<i16> {
    const STEPS: [f64; 8] = [0.0, 3.0, 5.0, 7.0, 10.0, 12.0, 10.0, 7.0];
    let length = SECONDS as f64;
    (0..RATE * SECONDS)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let step = ((t * tune.rate).floor() as u64 + tune.seed as u64) % 8;
            let note = tune.root_hz * 2f64.powf(STEPS[step as usize] / 12.0);
            let since = t % (1.0 / tune.rate);
            let pluck = 0.35 * (std::f64::consts::TAU * note * t).sin() * (-4.0 * since).exp();
            let pad = 0.08 * (std::f64::consts::TAU * tune.root_hz / 2.0 * t).sin()
                + 0.05 * (std::f64::consts::TAU * tune.root_hz * 0.75 * t).sin();
            let fade = (t / 0.5).min(1.0) * ((length - t) / 1.5).min(1.0);
            ((pluck + pad) * fade * i16::MAX as f64) as i16
        })
        .collect()
}

/// A 16-bit mono PCM WAV of `tune`, led by its ID3v2 tag.
fn wav(tune: &Tune, track_no: u32) -> Vec<u8> {
    let samples = samples(tune);
    let data_len = (samples.len() * 2) as u32;
    let mut wav = id3v2(tune, track_no);
    wav.reserve(44 + data_len as usize);
    wav.extend_from_slice(&earshot_engine::media::wav::pcm16_header(RATE, 1, data_len));
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    wav
}

/// An ID3v2.4 tag: text frames in UTF-8 and the cover as the front-cover picture.
fn id3v2(tune: &Tune, track_no: u32) -> Vec<u8> {
    let mut frames = Vec::new();
    let mut frame = |id: &[u8; 4], body: &[u8]| {
        frames.extend_from_slice(id);
        frames.extend_from_slice(&syncsafe(body.len() as u32));
        frames.extend_from_slice(&[0, 0]); // no flags
        frames.extend_from_slice(body);
    };
    let track = format!("{track_no}/{}", TUNES.len());
    for (id, text) in [
        (b"TIT2", tune.title),
        (b"TPE1", ARTIST),
        (b"TPE2", ARTIST),
        (b"TALB", ALBUM),
        (b"TRCK", track.as_str()),
        (b"TCON", "Folk"),
        (b"TDRC", "2026"),
    ] {
        let mut body = vec![3]; // UTF-8
        body.extend_from_slice(text.as_bytes());
        frame(id, &body);
    }
    // UTF-8, the MIME type, "front cover", an empty description, the picture.
    let mut picture = vec![3];
    picture.extend_from_slice(b"image/png\0");
    picture.push(3);
    picture.push(0);
    picture.extend_from_slice(&cover_png());
    frame(b"APIC", &picture);
    let mut tag = b"ID3\x04\x00\x00".to_vec(); // version 2.4.0, no flags
    tag.extend_from_slice(&syncsafe(frames.len() as u32));
    tag.extend_from_slice(&frames);
    tag
}

/// ID3v2's sizes: 28 bits in four bytes of seven.
fn syncsafe(n: u32) -> [u8; 4] {
    debug_assert!(n < 1 << 28, "an ID3v2 size over 256 MiB");
    [
        (n >> 21) as u8 & 0x7F,
        (n >> 14) as u8 & 0x7F,
        (n >> 7) as u8 & 0x7F,
        n as u8 & 0x7F,
    ]
}

/// Side of the cover in pixels.
const COVER: u32 = 256;

/// The album cover: a dusk gradient with a low sun, as an uncompressed PNG (stored deflate
/// blocks: no image library needed for 192 KiB of pixels).
fn cover_png() -> Vec<u8> {
    let mut raw = Vec::with_capacity(((COVER * 3 + 1) * COVER) as usize);
    for y in 0..COVER {
        raw.push(0); // filter: none
        let v = y as f64 / COVER as f64;
        for x in 0..COVER {
            let u = x as f64 / COVER as f64;
            let (dx, dy) = (u - 0.5, v - 0.62);
            let sun = (1.0 - ((dx * dx + dy * dy).sqrt() / 0.18)).clamp(0.0, 1.0);
            let sea = if v > 0.68 { 0.55 } else { 1.0 };
            let r = (40.0 + 200.0 * v + 120.0 * sun) * sea;
            let g = (30.0 + 90.0 * v + 150.0 * sun) * sea;
            let b = (90.0 + 40.0 * (1.0 - v) + 40.0 * sun) * sea;
            raw.extend([r, g, b].map(|c| c.clamp(0.0, 255.0) as u8));
        }
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&COVER.to_be_bytes());
    header.extend_from_slice(&COVER.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of `data` in stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(0xFFFF).peekable();
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + byte as u32) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use earshot_engine::library::probe;

    use super::*;

    #[test]
    fn the_album_is_written_once_with_tags_the_scanner_reads_and_a_cover() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_album(dir.path()).unwrap();
        assert_eq!(paths.len(), TUNES.len());
        let first = probe::read(&paths[0]).unwrap();
        assert_eq!(first.tags.title.as_deref(), Some("Morning Ferry"));
        assert_eq!(first.tags.artists, vec![ARTIST.to_string()]);
        assert_eq!(first.tags.album.as_deref(), Some(ALBUM));
        assert_eq!(first.stream.duration_ms, SECONDS as u64 * 1000);
        assert_eq!(first.tags.track_no, Some(1));
        let art = first.art.expect("the embedded cover");
        assert_eq!(art.mime, "image/png");
        assert!(
            probe::thumbnail(&art.data).is_some(),
            "the cover decodes (the thumbnail is what friends see)"
        );

        let written = std::fs::metadata(&paths[1]).unwrap().modified().unwrap();
        let again = write_album(dir.path()).unwrap();
        assert_eq!(again, paths);
        assert_eq!(
            std::fs::metadata(&paths[1]).unwrap().modified().unwrap(),
            written,
            "an existing file is kept"
        );
    }

    #[test]
    fn the_checksums_match_their_standard_check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        // zlib's Adler-32 of "Wikipedia" is 0x11E60398.
        let stream = zlib_stored(b"Wikipedia");
        assert_eq!(&stream[stream.len() - 4..], &0x11E6_0398u32.to_be_bytes());
    }
}
