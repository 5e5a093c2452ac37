//! Reading a file's tags with lofty: ID3v1/v2 (also inside WAV and AIFF), Vorbis comments (FLAC,
//! Ogg Vorbis, Opus), MP4 ilst, APE and RIFF INFO, with their pictures. Symphonia decodes; its
//! metadata misses RIFF INFO and more, so it only stands in for the containers lofty does not
//! read (Matroska/WebM, CAF: `probe.rs`).
//!
//! One pass per file: lofty is told to skip the audio properties (symphonia has them) and reads
//! only the tags and their pictures. A file with several tags (an MP3 with ID3v2 and ID3v1, a WAV
//! with RIFF INFO and ID3v2) fills each field from the format's primary tag first, then from the
//! others.
//!
//! [`read_loudness`] reads the ReplayGain / R128 tags, for the loudness analysis (`loudness.rs`).

use std::path::Path;

use lofty::config::{ParseOptions, ParsingMode};
use lofty::file::{AudioFile, TaggedFileExt};
use lofty::picture::{MimeType, PictureType};
use lofty::tag::{Accessor, ItemKey, Tag};

use super::loudness::{Level, TagLoudness};
use super::probe::{split_artists, Picture, Tags, MAX_ART_BYTES};

/// The tags of `path` and its embedded cover (mime, bytes), or None when lofty does not know the
/// format or cannot parse it (the caller then asks symphonia).
pub fn read(path: &Path) -> Option<(Tags, Option<Picture>)> {
    let options = ParseOptions::new()
        .read_properties(false)
        .read_cover_art(true)
        .parsing_mode(ParsingMode::Relaxed);
    let file = lofty::probe::Probe::open(path)
        .ok()?
        .options(options)
        .guess_file_type()
        .ok()?
        .read()
        .ok()?;
    let primary = file.primary_tag_type();
    let mut ordered: Vec<&Tag> = file.tags().iter().collect();
    // The primary tag first; the sort is stable, so the others keep the file's order.
    ordered.sort_by_key(|tag| tag.tag_type() != primary);

    let mut tags = Tags::default();
    let mut art = None;
    for tag in ordered {
        fill(&mut tags, tag);
        if art.is_none() {
            art = cover(tag);
        }
    }
    Some((tags, art))
}

/// What the tags of `path` say about its loudness (ReplayGain in Vorbis comments, ID3v2 TXXX,
/// APE and MP4 freeform `----:com.apple.iTunes:replaygain_*`; R128_TRACK_GAIN / R128_ALBUM_GAIN
/// in Opus), or None when lofty cannot read the file. Read by the loudness analysis, not the
/// scan: the scan stays as fast as before, and a library scanned before this existed gets its
/// tags read without a rescan.
pub fn read_loudness(path: &Path) -> Option<TagLoudness> {
    let options = ParseOptions::new()
        .read_properties(false)
        .read_cover_art(false)
        .parsing_mode(ParsingMode::Relaxed);
    let is_opus = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("opus") || e.eq_ignore_ascii_case("ogg"));
    if is_opus {
        // lofty's generic tag drops keys it does not know, R128_* among them: read the comments.
        let mut file = std::fs::File::open(path).ok()?;
        if let Ok(opus) = lofty::ogg::OpusFile::read_from(&mut file, options) {
            let comments = opus.vorbis_comments();
            let items = comments.items();
            let tags = TagLoudness::from_items(items);
            let gain = opus_output_gain(path).unwrap_or(0.0);
            return Some(without_output_gain(tags, gain));
        }
    }
    let file = lofty::probe::Probe::open(path)
        .ok()?
        .options(options)
        .guess_file_type()
        .ok()?
        .read()
        .ok()?;
    let mut items = Vec::new();
    for tag in file.tags() {
        for item in tag.items() {
            let name = match item.key() {
                ItemKey::ReplayGainTrackGain => "REPLAYGAIN_TRACK_GAIN",
                ItemKey::ReplayGainTrackPeak => "REPLAYGAIN_TRACK_PEAK",
                ItemKey::ReplayGainAlbumGain => "REPLAYGAIN_ALBUM_GAIN",
                ItemKey::ReplayGainAlbumPeak => "REPLAYGAIN_ALBUM_PEAK",
                _ => continue,
            };
            if let Some(text) = item.value().text() {
                items.push((name, text));
            }
        }
    }
    Some(TagLoudness::from_items(items))
}

/// Fills the fields still empty in `tags` from `tag`.
/// The output gain (dB) in an Ogg Opus file's ID header (`OpusHead`, bytes 16–17: a signed
/// Q7.8 number, RFC 7845 §5.1), or None when the file does not start with one.
pub fn opus_output_gain(path: &Path) -> Option<f32> {
    use std::io::Read;
    let mut start = Vec::with_capacity(27 + 255 + 19);
    std::fs::File::open(path)
        .ok()?
        .take(27 + 255 + 19)
        .read_to_end(&mut start)
        .ok()?;
    opus_head_gain(&start)
}

/// [`opus_output_gain`] on the file's first bytes: the first Ogg page's first packet.
fn opus_head_gain(start: &[u8]) -> Option<f32> {
    if start.get(..4)? != b"OggS" {
        return None;
    }
    let segments = *start.get(26)? as usize;
    let head = start.get(27 + segments..)?;
    if head.get(..8)? != b"OpusHead" {
        return None;
    }
    let q78 = i16::from_le_bytes([*head.get(16)?, *head.get(17)?]);
    Some(q78 as f32 / 256.0)
}

/// An Opus file's tag levels as the analysis and the player hear the file. R128 gains (and any
/// ReplayGain tag in an Opus file) describe the decoder's output *with* the header's output gain
/// applied (RFC 7845 §5.2.1), but symphonia-adapter-libopus 0.3.0 reads only the pre-skip from
/// `OpusHead` and never sets `OPUS_SET_GAIN`, so the samples we measure and play lack it: what
/// we hear is `gain` dB from what the tags describe. (With normalisation off, such a file plays
/// without its header gain; that is the decoder's, not this.)
pub fn without_output_gain(tags: TagLoudness, gain: f32) -> TagLoudness {
    if gain == 0.0 || !gain.is_finite() {
        return tags;
    }
    let shift = |level: Option<Level>| {
        level.map(|l| Level {
            lufs: l.lufs - gain,
            peak: l.peak.map(|p| p * 10f32.powf(-gain / 20.0)),
        })
    };
    TagLoudness {
        track: shift(tags.track),
        album: shift(tags.album),
    }
}

fn fill(tags: &mut Tags, tag: &Tag) {
    set(&mut tags.title, tag.title().as_deref());
    if tags.artists.is_empty() {
        for value in tag.get_strings(ItemKey::TrackArtist) {
            for name in split_artists(value) {
                if !tags.artists.contains(&name) {
                    tags.artists.push(name);
                }
            }
        }
    }
    set(&mut tags.album, tag.album().as_deref());
    set(&mut tags.album_artist, tag.get_string(ItemKey::AlbumArtist));
    set(&mut tags.genre, tag.genre().as_deref());
    tags.track_no = tags.track_no.or(tag.track().filter(|&n| n > 0));
    tags.track_total = tags.track_total.or(tag.track_total().filter(|&n| n > 0));
    tags.disc_no = tags.disc_no.or(tag.disk().filter(|&n| n > 0));
    tags.disc_total = tags.disc_total.or(tag.disk_total().filter(|&n| n > 0));
    if tags.year.is_none() {
        tags.year = [
            ItemKey::RecordingDate,
            ItemKey::Year,
            ItemKey::ReleaseDate,
            ItemKey::OriginalReleaseDate,
        ]
        .into_iter()
        .filter_map(|key| tag.get_string(key))
        .find_map(year);
    }
    if !tags.compilation {
        tags.compilation = tag
            .get_string(ItemKey::FlagCompilation)
            .is_some_and(|v| matches!(v.trim(), "1" | "true" | "True" | "TRUE" | "yes"));
    }
    set(
        &mut tags.sort.title,
        tag.get_string(ItemKey::TrackTitleSortOrder),
    );
    set(
        &mut tags.sort.artist,
        tag.get_string(ItemKey::TrackArtistSortOrder),
    );
    set(
        &mut tags.sort.album,
        tag.get_string(ItemKey::AlbumTitleSortOrder),
    );
    set(
        &mut tags.sort.album_artist,
        tag.get_string(ItemKey::AlbumArtistSortOrder),
    );
}

fn set(slot: &mut Option<String>, value: Option<&str>) {
    let Some(value) = value.map(str::trim) else {
        return;
    };
    if slot.is_none() && !value.is_empty() {
        *slot = Some(value.to_string());
    }
}

/// The year of a date tag: "2024", "2024-03-01", "2024-03-01T10:00" (the first four digits that
/// make a plausible year).
fn year(date: &str) -> Option<i32> {
    let digits = date.trim().get(..4)?;
    let year: i32 = digits.parse().ok()?;
    (1000..=9999).contains(&year).then_some(year)
}

/// The tag's front cover, else its first picture (within the size limit).
fn cover(tag: &Tag) -> Option<Picture> {
    let pictures = tag.pictures();
    let picture = pictures
        .iter()
        .find(|p| p.pic_type() == PictureType::CoverFront)
        .or_else(|| pictures.first())?;
    let data = picture.data();
    if data.is_empty() || data.len() > MAX_ART_BYTES {
        return None;
    }
    let mime = match picture.mime_type() {
        Some(MimeType::Png) => "image/png".to_string(),
        Some(MimeType::Jpeg) => "image/jpeg".to_string(),
        Some(other) if other.as_str().starts_with("image/") => other.as_str().to_string(),
        _ => super::probe::sniff_mime(data).to_string(),
    };
    Some((mime, data.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opus_header_output_gain_is_taken_out_of_its_tag_levels() {
        // An Ogg page header (27 bytes, one segment of 19) and an OpusHead with +3 dB (768 in
        // Q7.8) of output gain.
        let mut page = b"OggS".to_vec();
        page.extend([0u8; 22]);
        page.push(1);
        page.push(19);
        page.extend(b"OpusHead");
        page.extend([1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0]);
        page.extend(768i16.to_le_bytes());
        page.push(0);
        assert_eq!(opus_head_gain(&page), Some(3.0));
        let negative = {
            let mut p = page.clone();
            let at = p.len() - 3;
            p[at..at + 2].copy_from_slice(&(-1280i16).to_le_bytes());
            p
        };
        assert_eq!(opus_head_gain(&negative), Some(-5.0));
        assert_eq!(opus_head_gain(b"fLaC\0\0\0"), None);
        assert_eq!(opus_head_gain(&page[..30]), None);

        // R128_TRACK_GAIN 0: the output *with* +3 dB header gain is at −23 LUFS, so the samples
        // we decode (without it) are at −26.
        let tags = TagLoudness::from_items([("R128_TRACK_GAIN", "0"), ("R128_ALBUM_GAIN", "256")]);
        let heard = without_output_gain(tags, 3.0);
        assert_eq!(heard.track.map(|l| l.lufs), Some(-26.0));
        assert_eq!(heard.album.map(|l| l.lufs), Some(-27.0));
        assert_eq!(without_output_gain(tags, 0.0), tags);
    }

    #[test]
    fn years_come_from_the_start_of_a_date() {
        assert_eq!(year("2024"), Some(2024));
        assert_eq!(year("1999-03-01T10:00:00"), Some(1999));
        assert_eq!(year(" 2001 "), Some(2001));
        assert_eq!(year("03/01/99"), None);
        assert_eq!(year("99"), None);
    }
}
