//! Gapless facts of an MP4/M4A audio track that symphonia 0.6 reads but does not apply: how
//! many frames the encoder put before the music (its delay, "priming") and how many frames of
//! music there are (the rest is padding to fill the last packet).
//!
//! Two places carry them. iTunes and most taggers write an `iTunSMPB` comment
//! (`moov/udta/meta/ilst/----` with name `iTunSMPB`: hex fields, the second the delay, the third
//! the padding, the fourth the music's length); ffmpeg and Apple's own encoders write an edit list
//! (`moov/trak/edts/elst`: the first edit that is not empty starts at media time = the delay and
//! lasts the music's length, in the movie's time scale). The comment wins when both are there.
//!
//! Only the boxes on the way are read, each checked against its parent's size; a malformed or
//! truncated file gives `None` (played as before, with its priming), never an error or a panic.

use std::io::{Read, Seek, SeekFrom};

/// Frames (at the track's sample rate) to drop at the start, and how many to play after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gapless {
    pub delay: u64,
    /// Frames of music; `None` when only the delay is known.
    pub frames: Option<u64>,
}

/// A `moov` larger than this is not read (its sample tables would be; we need a few boxes).
const MAX_MOOV: u64 = 64 * 1024 * 1024;

/// The gapless facts of the first audio track of the MP4 file `file`, if it has any.
pub fn gapless<R: Read + Seek>(file: &mut R) -> Option<Gapless> {
    let moov = find_top_level(file, b"moov")?;
    let from_comment = itunsmpb(&moov);
    let from_edits = edit_list(&moov);
    from_comment.or(from_edits)
}

/// The body of the first top-level box of type `kind`, skipping others without reading them.
fn find_top_level<R: Read + Seek>(file: &mut R, kind: &[u8; 4]) -> Option<Vec<u8>> {
    let end = file.seek(SeekFrom::End(0)).ok()?;
    let mut at = 0u64;
    while at + 8 <= end {
        file.seek(SeekFrom::Start(at)).ok()?;
        let mut head = [0u8; 16];
        file.read_exact(&mut head[..8]).ok()?;
        let mut size = u32::from_be_bytes(head[..4].try_into().ok()?) as u64;
        let mut header = 8u64;
        if size == 1 {
            file.read_exact(&mut head[8..16]).ok()?;
            size = u64::from_be_bytes(head[8..16].try_into().ok()?);
            header = 16;
        } else if size == 0 {
            size = end - at;
        }
        if size < header || at.checked_add(size)? > end {
            return None;
        }
        if &head[4..8] == kind {
            let body = size - header;
            if body > MAX_MOOV {
                return None;
            }
            let mut bytes = vec![0u8; body as usize];
            file.read_exact(&mut bytes).ok()?;
            return Some(bytes);
        }
        at += size;
    }
    None
}

/// The boxes directly inside `body`, as (type, body) pairs; stops at the first malformed one.
fn children(body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.len() < 8 {
            return None;
        }
        let size = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        let kind: [u8; 4] = rest[4..8].try_into().ok()?;
        let (header, size) = match size {
            0 => (8, rest.len()),
            1 => {
                let large = u64::from_be_bytes(rest.get(8..16)?.try_into().ok()?);
                (16, usize::try_from(large).ok()?)
            }
            n => (8, n),
        };
        if size < header || size > rest.len() {
            rest = &[];
            return None;
        }
        let child = &rest[header..size];
        rest = &rest[size..];
        Some((kind, child))
    })
}

/// The body of the first box along `path` from `body`.
fn descend<'a>(body: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    path.iter().try_fold(body, |inside, kind| {
        children(inside).find(|(k, _)| k == *kind).map(|(_, b)| b)
    })
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// `iTunSMPB`: " 00000000 00000840 000001CA 00000000003F31F6 …" (hex; delay, padding, length).
fn itunsmpb(moov: &[u8]) -> Option<Gapless> {
    let meta = descend(moov, &[b"udta", b"meta"])?;
    // `meta` is a full box (4 bytes of version and flags) in the MP4 family of files; QuickTime
    // files leave them out. Its first child is `hdlr` either way.
    let meta = if meta.get(4..8) == Some(b"hdlr") {
        meta
    } else {
        meta.get(4..)?
    };
    let ilst = descend(meta, &[b"ilst"])?;
    let text = children(ilst)
        .filter(|(kind, _)| kind == b"----")
        .find_map(|(_, item)| {
            let named = children(item)
                .any(|(kind, b)| &kind == b"name" && b.get(4..) == Some(&b"iTunSMPB"[..]));
            let data = children(item).find(|(kind, _)| kind == b"data")?.1;
            // `data`: 4 bytes of type, 4 of locale, then the value.
            named.then(|| String::from_utf8_lossy(data.get(8..).unwrap_or_default()).into_owned())
        })?;
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(|f| u64::from_str_radix(f, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let (delay, length) = (*fields.get(1)?, *fields.get(3)?);
    (delay > 0 || length > 0).then_some(Gapless {
        delay,
        frames: (length > 0).then_some(length),
    })
}

/// The first audio track's edit list, converted to frames of its media time scale (an audio
/// track's time scale is its sample rate as written by every encoder we know of).
fn edit_list(moov: &[u8]) -> Option<Gapless> {
    let movie_scale = descend(moov, &[b"mvhd"]).and_then(|mvhd| match mvhd.first()? {
        1 => be_u32(mvhd, 20),
        _ => be_u32(mvhd, 12),
    })?;
    let trak = children(moov)
        .filter(|(kind, _)| kind == b"trak")
        .map(|(_, body)| body)
        .find(|trak| {
            descend(trak, &[b"mdia", b"hdlr"]).and_then(|hdlr| hdlr.get(8..12)) == Some(b"soun")
        })?;
    let mdhd = descend(trak, &[b"mdia", b"mdhd"])?;
    let media_scale = match mdhd.first()? {
        1 => be_u32(mdhd, 20)?,
        _ => be_u32(mdhd, 12)?,
    };
    let elst = descend(trak, &[b"edts", b"elst"])?;
    let version = *elst.first()?;
    let count = be_u32(elst, 4)? as usize;
    let entry = if version == 1 { 20 } else { 12 };
    (0..count.min(1024)).find_map(|i| {
        let at = 8 + i * entry;
        let (duration, media_time) = if version == 1 {
            (be_u64(elst, at)?, be_u64(elst, at + 8)? as i64)
        } else {
            (
                be_u32(elst, at)? as u64,
                be_u32(elst, at + 4)? as i32 as i64,
            )
        };
        // An empty edit (media time −1) delays the track's start; it is not the encoder's.
        if media_time < 0 {
            return None;
        }
        let frames = (duration > 0 && movie_scale > 0)
            .then(|| (duration as u128 * media_scale as u128 / movie_scale as u128) as u64);
        Some(Gapless {
            delay: media_time as u64,
            frames,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn full(version: u8, rest: &[u8]) -> Vec<u8> {
        let mut out = vec![version, 0, 0, 0];
        out.extend_from_slice(rest);
        out
    }

    /// mvhd (v0): creation, modification, time scale, duration.
    fn mvhd(scale: u32) -> Vec<u8> {
        let mut rest = vec![0u8; 8];
        rest.extend_from_slice(&scale.to_be_bytes());
        rest.extend_from_slice(&[0u8; 4]);
        boxed(b"mvhd", &full(0, &rest))
    }

    fn audio_trak(media_scale: u32, edits: &[(u32, i32)]) -> Vec<u8> {
        let mut mdhd = vec![0u8; 8];
        mdhd.extend_from_slice(&media_scale.to_be_bytes());
        mdhd.extend_from_slice(&[0u8; 8]);
        let mut hdlr = vec![0u8; 4];
        hdlr.extend_from_slice(b"soun");
        hdlr.extend_from_slice(&[0u8; 12]);
        let mdia = [
            boxed(b"mdhd", &full(0, &mdhd)),
            boxed(b"hdlr", &full(0, &hdlr)),
        ]
        .concat();
        let mut elst = (edits.len() as u32).to_be_bytes().to_vec();
        for (duration, media_time) in edits {
            elst.extend_from_slice(&duration.to_be_bytes());
            elst.extend_from_slice(&media_time.to_be_bytes());
            elst.extend_from_slice(&[0, 1, 0, 0]);
        }
        let edts = boxed(b"elst", &full(0, &elst));
        boxed(
            b"trak",
            &[boxed(b"edts", &edts), boxed(b"mdia", &mdia)].concat(),
        )
    }

    fn smpb(text: &str) -> Vec<u8> {
        let mean = boxed(b"mean", &full(0, b"com.apple.iTunes"));
        let name = boxed(b"name", &full(0, b"iTunSMPB"));
        let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
        data.extend_from_slice(text.as_bytes());
        let item = boxed(b"----", &[mean, name, boxed(b"data", &data)].concat());
        let hdlr = boxed(b"hdlr", &full(0, &[0u8; 20]));
        let meta = boxed(b"meta", &full(0, &[hdlr, boxed(b"ilst", &item)].concat()));
        boxed(b"udta", &meta)
    }

    fn file(moov_children: &[Vec<u8>]) -> Cursor<Vec<u8>> {
        let ftyp = boxed(b"ftyp", b"M4A \0\0\0\0");
        let mdat = boxed(b"mdat", &[0u8; 64]);
        Cursor::new([ftyp, mdat, boxed(b"moov", &moov_children.concat())].concat())
    }

    #[test]
    fn an_edit_list_gives_the_delay_and_the_length_in_frames() {
        // ffmpeg: movie time scale 1000, media 44100; 1 s of music after 1024 frames of priming.
        let mut f = file(&[mvhd(1000), audio_trak(44_100, &[(1000, 1024)])]);
        assert_eq!(
            gapless(&mut f),
            Some(Gapless {
                delay: 1024,
                frames: Some(44_100)
            })
        );
    }

    #[test]
    fn an_empty_edit_before_the_music_is_not_the_encoders_delay() {
        let mut f = file(&[mvhd(1000), audio_trak(48_000, &[(500, -1), (2000, 2112)])]);
        assert_eq!(
            gapless(&mut f),
            Some(Gapless {
                delay: 2112,
                frames: Some(96_000)
            })
        );
    }

    #[test]
    fn itunsmpb_wins_over_the_edit_list() {
        let text = " 00000000 00000840 000001CA 00000000003F31F6 00000000 00000000";
        let mut f = file(&[mvhd(1000), audio_trak(44_100, &[(1000, 1024)]), smpb(text)]);
        assert_eq!(
            gapless(&mut f),
            Some(Gapless {
                delay: 0x840,
                frames: Some(0x3F31F6)
            })
        );
    }

    #[test]
    fn a_file_without_either_has_no_gapless_facts() {
        assert_eq!(gapless(&mut file(&[mvhd(1000)])), None);
        assert_eq!(
            gapless(&mut Cursor::new(b"not an mp4 at all".to_vec())),
            None
        );
    }

    #[test]
    fn malformed_and_truncated_boxes_give_none_not_a_panic() {
        let good = file(&[mvhd(1000), audio_trak(44_100, &[(1000, 1024)])]).into_inner();
        for cut in (0..good.len()).step_by(7) {
            let _ = gapless(&mut Cursor::new(good[..cut].to_vec()));
        }
        let mut lying = good.clone();
        // moov's size (after ftyp and mdat) claims more than the file holds.
        let at = 16 + 72;
        lying[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(gapless(&mut Cursor::new(lying)), None);
        let mut inner = good;
        // Corrupt every byte in turn: never a panic.
        for i in 0..inner.len() {
            let keep = inner[i];
            inner[i] = 0xFF;
            let _ = gapless(&mut Cursor::new(inner.clone()));
            inner[i] = keep;
        }
    }
}
