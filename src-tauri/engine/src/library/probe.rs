//! Reading one audio file for the library: tags, stream facts, cover art and the BLAKE3 hash of
//! the file's bytes. Symphonia does the format work, opened through [`crate::media`] (which the
//! player shares, with libopus for Opus), lofty reads the tags (`tags.rs`); this module turns
//! their answers (or their errors) into what the library stores, with reasons a person can act on.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatReader, Track};
use symphonia::core::meta::{MetadataRevision, StandardTag, StandardVisualKey};

use crate::media::{audio_track, codecs, open_format, ProbeError};

/// Largest cover image kept (bigger embedded images are ignored rather than bloating the store).
pub(super) const MAX_ART_BYTES: usize = 8 * 1024 * 1024;
/// Thumbnail edge, in pixels.
const THUMB_EDGE: u32 = 160;
/// File names looked for beside a track without embedded art, in this order of preference; the
/// case of the name on disk does not matter ("Cover.JPG", "FOLDER.jpg").
const FOLDER_COVERS: &[&str] = &[
    "cover.jpg",
    "cover.jpeg",
    "cover.png",
    "folder.jpg",
    "folder.jpeg",
    "folder.png",
    "front.jpg",
    "front.jpeg",
    "front.png",
    "album.jpg",
    "album.png",
    "albumart.jpg",
];

/// Tags as read (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    pub title: Option<String>,
    pub artists: Vec<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub track_no: Option<u32>,
    pub disc_no: Option<u32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
    pub track_total: Option<u32>,
    pub disc_total: Option<u32>,
    /// The compilation flag (TCMP, cpil, COMPILATION=1): a various-artists album.
    pub compilation: bool,
    pub sort: SortNames,
}

/// The names to sort by, when the tags give them ("Beatles, The").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortNames {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
}

/// Facts about the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: Option<u64>,
    pub duration_ms: u64,
}

/// An image as found (in the tags or beside the file): its MIME type and bytes.
pub(super) type Picture = (String, Vec<u8>);

/// A cover image and its small version.
#[derive(Debug, Clone)]
pub struct Art {
    pub hash: String,
    pub mime: String,
    pub data: Vec<u8>,
    pub thumb: Option<Vec<u8>>,
}

#[derive(Debug)]
pub struct Probed {
    pub tags: Tags,
    pub stream: Stream,
    pub art: Option<Art>,
    pub hash: String,
}

/// What the header says of the audio: codec, rate, channels, and the length when the container
/// states it (`frames`, `duration_ms` 0 when it does not).
fn header_facts(track: &Track, params: &AudioCodecParameters) -> Result<Stream, ProbeError> {
    let sample_rate = params
        .sample_rate
        .ok_or_else(|| ProbeError::Damaged("the sample rate is missing".into()))?;
    let channels = params.channels.as_ref().map_or(0, |c| c.count()) as u16;
    let codec = match codecs().get_audio_decoder(params.codec) {
        Some(registered) => registered.codec.info.short_name.to_string(),
        None => return Err(ProbeError::UnsupportedCodec(codec_name(params.codec))),
    };
    let frames = track.num_frames;
    let duration_ms = match (frames, track.time_base, track.duration) {
        // A frame count from a file (a friend's, perhaps): no overflow whatever it claims.
        (Some(n), _, _) => (n as u128 * 1000 / sample_rate as u128).min(u64::MAX as u128) as u64,
        (None, Some(tb), Some(d)) => tb
            .calc_duration(d)
            .map_or(0, |t| (t.as_nanos() / 1_000_000).max(0) as u64),
        _ => 0,
    };
    Ok(Stream {
        codec,
        sample_rate,
        channels,
        frames,
        duration_ms,
    })
}

/// The header's facts only, reading no further than the header: for a track still arriving.
pub fn stream_facts(path: &Path) -> Result<Stream, ProbeError> {
    let format = open_format(path)?;
    let (track, params) = audio_track(&*format)?;
    header_facts(&track, &params)
}

/// Reads everything the library keeps about one file.
pub fn read(path: &Path) -> Result<Probed, ProbeError> {
    // Tags and embedded art from lofty when it knows the format; symphonia's own (read while
    // probing whatever we ask: its metadata limits are not applied by 0.6.1's readers) stand in
    // for the others.
    let from_lofty = super::tags::read(path);
    let mut format = open_format(path)?;
    let (track, params) = audio_track(&*format)?;
    let Stream {
        codec,
        sample_rate,
        channels,
        mut frames,
        mut duration_ms,
    } = header_facts(&track, &params)?;

    // The frame count: from the container when it says, else by counting packets (MP3 without a
    // Xing header, some Ogg files). Counting also proves the packets can be read to the end.
    if frames.is_none() && duration_ms == 0 {
        let opus = params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
        let counted = count_frames(&mut *format, track.id, sample_rate, track.time_base, opus)?;
        frames = Some(counted);
        duration_ms = counted * 1000 / sample_rate as u64;
    }

    if frames.is_some() && duration_ms > 2000 {
        check_tail(&mut *format, track.id, duration_ms)?;
    }

    let (tags, art) = match from_lofty {
        Some(read) => read,
        None => symphonia_tags(&mut *format, track.id),
    };
    let art = art.or_else(|| folder_cover(path)).map(make_art);
    let hash = hash_file(path)?;
    Ok(Probed {
        tags,
        stream: Stream {
            codec,
            sample_rate,
            channels,
            frames,
            duration_ms,
        },
        art,
        hash,
    })
}

/// The tags symphonia read while opening the file (for the formats lofty does not read).
fn symphonia_tags(format: &mut dyn FormatReader, track_id: u32) -> (Tags, Option<Picture>) {
    let mut tags = Tags::default();
    let mut art = None;
    {
        // Every revision counts (ID3 tags found while probing come before the container's own);
        // the newest is read first, so its values win.
        let mut metadata = format.metadata();
        let mut older = Vec::new();
        while let Some(revision) = metadata.pop() {
            older.push(revision);
        }
        if let Some(latest) = metadata.current() {
            read_tags(latest, track_id, &mut tags, &mut art);
        }
        for revision in older.iter().rev() {
            read_tags(revision, track_id, &mut tags, &mut art);
        }
    }
    (tags, art)
}

/// A file cut short still has a header promising the full length: look for audio near the end.
fn check_tail(
    format: &mut dyn FormatReader,
    track_id: u32,
    duration_ms: u64,
) -> Result<(), ProbeError> {
    use symphonia::core::formats::{SeekMode, SeekTo};
    let near_end = symphonia::core::units::Time::from_millis_u64(duration_ms.saturating_sub(1000));
    let truncated = || {
        ProbeError::Damaged(format!(
            "it is truncated: the header promises {} but the audio stops before the end",
            minutes(duration_ms)
        ))
    };
    match format.seek(
        SeekMode::Coarse,
        SeekTo::Time {
            time: near_end,
            track_id: Some(track_id),
        },
    ) {
        Ok(_) => {}
        Err(SymphoniaError::IoError(_)) | Err(SymphoniaError::SeekError(_)) => {
            return Err(truncated())
        }
        Err(e) => return Err(ProbeError::Damaged(e.to_string())),
    }
    loop {
        match format.next_packet() {
            Ok(Some(packet)) if packet.track_id == track_id => return Ok(()),
            Ok(Some(_)) => {}
            Ok(None) | Err(SymphoniaError::IoError(_)) => return Err(truncated()),
            Err(SymphoniaError::DecodeError(_)) => {}
            Err(e) => return Err(ProbeError::Damaged(e.to_string())),
        }
    }
}

fn minutes(ms: u64) -> String {
    format!("{}:{:02}", ms / 60_000, ms / 1000 % 60)
}

/// Reads packets to the end, summing their durations (for Opus without durations from the
/// container, the lengths its packets' TOC bytes give).
fn count_frames(
    format: &mut dyn FormatReader,
    track_id: u32,
    sample_rate: u32,
    time_base: Option<symphonia::core::units::TimeBase>,
    opus: bool,
) -> Result<u64, ProbeError> {
    let mut total_ns: u128 = 0;
    loop {
        match format.next_packet() {
            Ok(Some(packet)) if packet.track_id == track_id => {
                let ns = time_base
                    .and_then(|tb| tb.calc_duration(packet.dur))
                    .map_or(0, |t| t.as_nanos().max(0) as u128);
                total_ns += if ns == 0 && opus {
                    u128::from(crate::media::opus::packet_frames(&packet.data)) * 1_000_000_000
                        / 48_000
                } else {
                    ns
                };
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(SymphoniaError::DecodeError(_)) => {}
            Err(e) => return Err(ProbeError::Damaged(e.to_string())),
        }
    }
    Ok((total_ns * sample_rate as u128 / 1_000_000_000) as u64)
}

fn read_tags(
    revision: &MetadataRevision,
    track_id: u32,
    tags: &mut Tags,
    art: &mut Option<Picture>,
) {
    let per_track = revision
        .per_track
        .iter()
        .filter(|t| t.track_id == track_id as u64)
        .map(|t| &t.metadata);
    for container in std::iter::once(&revision.media).chain(per_track) {
        for tag in &container.tags {
            let Some(std) = &tag.std else { continue };
            match std {
                StandardTag::TrackTitle(v) => set(&mut tags.title, v),
                StandardTag::Artist(v) => {
                    for name in split_artists(v) {
                        if !tags.artists.contains(&name) {
                            tags.artists.push(name);
                        }
                    }
                }
                StandardTag::Album(v) => set(&mut tags.album, v),
                StandardTag::AlbumArtist(v) => set(&mut tags.album_artist, v),
                StandardTag::Genre(v) => set(&mut tags.genre, v),
                StandardTag::TrackNumber(n) if tags.track_no.is_none() => {
                    tags.track_no = u32::try_from(*n).ok()
                }
                StandardTag::DiscNumber(n) if tags.disc_no.is_none() => {
                    tags.disc_no = u32::try_from(*n).ok()
                }
                StandardTag::ReleaseYear(y) | StandardTag::RecordingYear(y) => {
                    tags.year.get_or_insert(*y as i32);
                }
                StandardTag::ReleaseDate(d) | StandardTag::RecordingDate(d)
                    if tags.year.is_none() =>
                {
                    tags.year = d.get(..4).and_then(|y| y.parse().ok());
                }
                _ => {}
            }
        }
        for visual in &container.visuals {
            let front = visual.usage == Some(StandardVisualKey::FrontCover);
            if visual.data.len() > MAX_ART_BYTES || (art.is_some() && !front) {
                continue;
            }
            let mime = visual
                .media_type
                .clone()
                .filter(|m| m.starts_with("image/"))
                .unwrap_or_else(|| sniff_mime(&visual.data).to_string());
            *art = Some((mime, visual.data.to_vec()));
        }
    }
}

fn set(slot: &mut Option<String>, value: &str) {
    let value = value.trim();
    if slot.is_none() && !value.is_empty() {
        *slot = Some(value.to_string());
    }
}

/// "A; B", "A / B" and NUL-separated multi-values become separate artists; "A & B" stays one
/// name (it often is one: "Simon & Garfunkel").
pub(super) fn split_artists(value: &str) -> Vec<String> {
    value
        .split(['\0', ';'])
        .flat_map(|part| part.split(" / "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn sniff_mime(data: &[u8]) -> &'static str {
    if data.starts_with(&[0x89, b'P', b'N', b'G']) {
        "image/png"
    } else {
        "image/jpeg"
    }
}

/// A cover image beside the file (cover.jpg, Folder.PNG, front.jpeg, …).
fn folder_cover(path: &Path) -> Option<Picture> {
    let dir = path.parent()?;
    // One listing of the folder (not a stat per candidate name), matched without regard to case.
    let images: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_ascii_lowercase();
            (name.ends_with(".jpg") || name.ends_with(".jpeg") || name.ends_with(".png"))
                .then(|| (name, entry.path()))
        })
        .collect();
    FOLDER_COVERS.iter().find_map(|wanted| {
        let (_, path) = images.iter().find(|(name, _)| name == wanted)?;
        let data = std::fs::read(path).ok()?;
        (!data.is_empty() && data.len() <= MAX_ART_BYTES)
            .then(|| (sniff_mime(&data).to_string(), data))
    })
}

/// The art without its thumbnail: the scanner makes that once per distinct image.
fn make_art((mime, data): Picture) -> Art {
    Art {
        hash: blake3::hash(&data).to_hex().to_string(),
        thumb: None,
        mime,
        data,
    }
}

/// A small JPEG of the image for lists; None when the image cannot be decoded.
pub fn thumbnail(data: &[u8]) -> Option<Vec<u8>> {
    let image = image::load_from_memory(data).ok()?;
    let small = image.thumbnail(THUMB_EDGE, THUMB_EDGE).to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Jpeg).ok()?;
    Some(out.into_inner())
}

/// BLAKE3 of the file's bytes, hex: the track's identity.
pub fn hash_file(path: &Path) -> Result<String, ProbeError> {
    let mut file = File::open(path).map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| ProbeError::Unreadable(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// A person's name for a codec symphonia found but cannot decode.
fn codec_name(codec: symphonia::core::codecs::audio::AudioCodecId) -> String {
    use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
    if codec == CODEC_ID_OPUS {
        "Opus".to_string()
    } else {
        format!("The audio codec ({codec:?})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_valued_artists_are_split_but_ampersands_kept() {
        assert_eq!(
            split_artists("Simon & Garfunkel; Robin\0Ada / Grace"),
            vec!["Simon & Garfunkel", "Robin", "Ada", "Grace"]
        );
    }

    #[test]
    fn an_empty_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silence.mp3");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(read(&path).unwrap_err(), ProbeError::Empty);
    }

    #[test]
    fn text_with_an_audio_name_is_not_a_recognised_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.flac");
        std::fs::write(&path, "these are my notes, not music\n".repeat(50)).unwrap();
        assert_eq!(read(&path).unwrap_err(), ProbeError::UnknownFormat);
    }
}
