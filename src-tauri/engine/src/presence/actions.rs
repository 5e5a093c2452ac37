//! What the user does with a friend's status: play it, queue it, add it to the library, react.

use std::path::{Path, PathBuf};

use libp2p::PeerId;

use super::{lock, Presence};
use crate::api::{ApiError, ChatMessage, ErrorKind, Event, Response, Track, ACTIVITY_EMOJIS};
use crate::chat::log::{Hash32, Share, ShareKind};

/// Where tracks added from friends go, inside the first library folder.
pub const FROM_FRIENDS: &str = "From friends";
/// How much of a friend's track must have arrived before it starts to play.
const STREAM_START: u64 = 1024 * 1024;

fn internal(error: tokio::task::JoinError) -> ApiError {
    ApiError::new(ErrorKind::Internal, error.to_string())
}

impl Presence {
    /// Plays a friend's track now: our own copy when we have one, else theirs, fetched and
    /// verified first.
    pub async fn play_friend_track(&self, peer_id: &str, hash: &str) -> Result<Response, ApiError> {
        let hash = self.playable(peer_id, hash).await?;
        let tracks = self.shared.library.tracks_by_hash(&[hash]).await?;
        self.shared
            .player
            .load(crate::player::Load::Play { tracks, start: 0 })
            .await
    }

    /// Adds a friend's track to the end of the queue (fetched first when we lack it).
    pub async fn queue_friend_track(
        &self,
        peer_id: &str,
        hash: &str,
    ) -> Result<Response, ApiError> {
        let hash = self.playable(peer_id, hash).await?;
        let tracks = self.shared.library.tracks_by_hash(&[hash]).await?;
        self.shared
            .player
            .load(crate::player::Load::AddToQueue(tracks))
            .await
    }

    /// A friend's track, playable here (our copy, or streaming in from them).
    pub async fn friend_track(&self, peer_id: &str, hash: &str) -> Result<Track, ApiError> {
        let hash = self.playable(peer_id, hash).await?;
        self.shared.library.track(&hash).await
    }

    /// The hash of a friend's track once it can be played here (see [`stream_from`]).
    async fn playable(&self, peer_id: &str, hash: &str) -> Result<String, ApiError> {
        let (peer, hash) = self.friend_and_hash(peer_id, hash).await?;
        let (title, artist) = self.heard_names(peer, hash);
        let duration_ms = self.heard(peer, hash).map_or(0, |a| a.duration_ms);
        let s = &self.shared;
        let names = Heard {
            title,
            artist,
            duration_ms,
        };
        stream_from(&s.library, &s.chat, &s.events, peer, hash, names).await
    }

    /// Downloads a friend's track into the library: fetched into the audio cache and verified by
    /// hash, then copied under `<first library folder>/From friends/<artist>/<album>/` (a
    /// temporary name first, so a failure leaves nothing in the library) and scanned.
    pub async fn add_friend_track(&self, peer_id: &str, hash: &str) -> Result<Track, ApiError> {
        let (peer, hash) = self.friend_and_hash(peer_id, hash).await?;
        let hex = hash.to_hex();
        if let Some(track) = self.in_library(&hex).await? {
            return Ok(track);
        }
        let cached = self.shared.chat.fetch(hash, peer).await?;
        let probed = {
            let cached = cached.clone();
            tokio::task::spawn_blocking(move || crate::library::probe::read(&cached))
                .await
                .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?
                .map_err(|e| ApiError::new(ErrorKind::Unplayable, e.to_string()))?
        };
        let (title, artist) = self.heard_names(peer, hash);
        let artist = probed
            .tags
            .album_artist
            .clone()
            .or_else(|| probed.tags.artists.first().cloned())
            .unwrap_or(artist);
        let title = probed.tags.title.clone().unwrap_or(title);
        let album = probed.tags.album.clone().unwrap_or_default();
        let root = self.friends_folder().await?;
        let extension = cached
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("audio")
            .to_string();
        let target = filed_path(&root, &artist, &album, &title, &extension, &hex, |p| {
            p.exists()
        });
        let placed = copy_into_place(&cached, &target).await?;
        self.shared.library.rescan().await?;
        self.shared.library.scans_settled().await;
        let Some(track) = self.in_library(&hex).await? else {
            // Nothing the library would not keep stays in its folders.
            if placed {
                let _ = tokio::fs::remove_file(&target).await;
            }
            return Err(ApiError::new(
                ErrorKind::Unplayable,
                "The library could not take that track in; nothing was kept.",
            ));
        };
        tracing::info!(hash = %hex, path = %target.display(), "added a friend's track to the library");
        let _ = self
            .shared
            .events
            .send(Event::TrackAdded(Box::new(track.clone())));
        self.publish(peer).await;
        Ok(track)
    }

    /// Reacts to a friend's track with one of the six emojis: a card of the track carrying the
    /// emoji, in the 1:1 chat.
    pub async fn react_to_activity(
        &self,
        peer_id: &str,
        hash: &str,
        emoji: &str,
    ) -> Result<ChatMessage, ApiError> {
        if !ACTIVITY_EMOJIS.contains(&emoji) {
            return Err(ApiError::invalid_input(format!(
                "React with one of {}.",
                ACTIVITY_EMOJIS.join(" ")
            )));
        }
        let (peer, hash) = self.friend_and_hash(peer_id, hash).await?;
        let share = match self.heard(peer, hash) {
            Some(a) => Share {
                kind: ShareKind::Track,
                title: a.title,
                artist: a.artist,
                duration_ms: a.duration_ms,
                hashes: vec![hash],
                cover_jpeg: a.cover_jpeg,
                reaction: Some(emoji.to_string()),
            },
            None => {
                // They moved on since the window drew it; our own copy still names the track.
                let track = self.in_library(&hash.to_hex()).await?.ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::NotFound,
                        "Your friend is no longer listening to that track.",
                    )
                })?;
                Share {
                    kind: ShareKind::Track,
                    title: track.title,
                    artist: track.artist,
                    duration_ms: track.duration_ms,
                    hashes: vec![hash],
                    cover_jpeg: Vec::new(),
                    reaction: Some(emoji.to_string()),
                }
            }
        };
        self.shared.chat.react_to_track(peer_id, share).await
    }

    /// A friend's peer id and a track hash, checked.
    async fn friend_and_hash(
        &self,
        peer_id: &str,
        hash: &str,
    ) -> Result<(PeerId, Hash32), ApiError> {
        let peer: PeerId = peer_id
            .parse()
            .map_err(|_| ApiError::invalid_input("That is not a peer id."))?;
        let hash = Hash32::from_hex(hash)
            .ok_or_else(|| ApiError::invalid_input("That is not a track hash."))?;
        let friend = self
            .shared
            .store
            .call(move |c| crate::chat::store::is_friend(c, &peer))
            .await?;
        if !friend {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "Only a friend's tracks can be played or added from their status.",
            ));
        }
        Ok((peer, hash))
    }

    /// The friend's latest status, when it is about `hash`.
    fn heard(&self, peer: PeerId, hash: Hash32) -> Option<super::wire::WireActivity> {
        let state = lock(&self.shared.state);
        state
            .friends
            .get(&peer)
            .and_then(|k| k.heard.as_ref())
            .filter(|(a, _)| a.hash == hash)
            .map(|(a, _)| a.clone())
    }

    /// The title and artist a friend's status gave for `hash` (stand-ins for missing tags).
    fn heard_names(&self, peer: PeerId, hash: Hash32) -> (String, String) {
        self.heard(peer, hash)
            .map(|a| (a.title, a.artist))
            .unwrap_or_else(|| ("Unknown track".into(), "Unknown artist".into()))
    }

    /// The scanned library's track (not a streamed copy in the cache).
    async fn in_library(&self, hex: &str) -> Result<Option<Track>, ApiError> {
        let hex = hex.to_string();
        Ok(self
            .shared
            .store
            .call(move |c| crate::library::store::track_by_hash(c, &hex))
            .await?)
    }

    /// `<first library folder>/From friends`, or `<data dir>/From friends` added as a library
    /// folder when there is none yet.
    async fn friends_folder(&self) -> Result<PathBuf, ApiError> {
        let folders = self.shared.library.folders().await?;
        if let Some(first) = folders.first() {
            return Ok(Path::new(first).join(FROM_FRIENDS));
        }
        let data = self
            .shared
            .store
            .path()
            .parent()
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "The data directory is unknown."))?
            .join(FROM_FRIENDS);
        tokio::fs::create_dir_all(&data)
            .await
            .map_err(|e| io_error(&data, e))?;
        self.shared
            .library
            .add_folder(&data.to_string_lossy())
            .await?;
        Ok(data)
    }
}

/// `<root>/<artist>/<album>/<title>.<ext>`, each part made safe for every file system; when that
/// name is `taken`, the hash's first characters keep two files of one title apart (the scanner
/// takes an untagged file's title from its name, so the plain name comes first).
pub fn filed_path(
    root: &Path,
    artist: &str,
    album: &str,
    title: &str,
    extension: &str,
    hash: &str,
    taken: impl Fn(&Path) -> bool,
) -> PathBuf {
    let artist = safe_part(artist, "Unknown artist");
    let album = safe_part(album, "Unknown album");
    let title = safe_part(title, "Unknown track");
    let extension: String = extension
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    let folder = root.join(artist).join(album);
    let plain = folder.join(format!("{title}.{extension}"));
    if !taken(&plain) {
        return plain;
    }
    let short = &hash[..hash.len().min(8)];
    folder.join(format!("{title} [{short}].{extension}"))
}

/// One path component: no separators, reserved characters, control characters or leading dots
/// (a hidden file would never be scanned), no name Windows reserves (`CON`, `COM1`…), at most
/// [`MAX_PART_BYTES`] bytes (file systems count bytes: 80 CJK characters would not fit).
fn safe_part(text: &str, fallback: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() || crate::profile::is_forbidden_in_name(c) => '_',
            c => c,
        })
        .collect();
    let mut clipped = String::new();
    for c in cleaned.trim().trim_start_matches('.').chars() {
        if clipped.len() + c.len_utf8() > MAX_PART_BYTES {
            break;
        }
        clipped.push(c);
    }
    let trimmed = clipped.trim_end_matches(['.', ' ']);
    if trimmed.is_empty() {
        return fallback.to_string();
    }
    let stem = trimmed.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        format!("_{trimmed}")
    } else {
        trimmed.to_string()
    }
}

/// The longest name part kept, in bytes (the name also carries ` [hash8].ext`, and the
/// temporary copy a prefix and a suffix, within the usual 255).
const MAX_PART_BYTES: usize = 120;

/// Copies `from` to `to` through a temporary name beside it (one per copy), so the library never
/// sees half a file; an existing `to` (the same track filed before) is kept. Returns whether it
/// placed the file.
async fn copy_into_place(from: &Path, to: &Path) -> Result<bool, ApiError> {
    if tokio::fs::metadata(to).await.is_ok() {
        return Ok(false);
    }
    let dir = to
        .parent()
        .ok_or_else(|| ApiError::new(ErrorKind::Internal, "A filed track has no folder."))?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| io_error(dir, e))?;
    static COPIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let copy = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = dir.join(format!(".earshot-{}-{copy}.partial", std::process::id()));
    let copied = async {
        tokio::fs::copy(from, &temporary).await?;
        tokio::fs::File::open(&temporary).await?.sync_all().await?;
        tokio::fs::rename(&temporary, to).await
    }
    .await;
    if let Err(e) = copied {
        let _ = tokio::fs::remove_file(&temporary).await;
        return Err(io_error(to, e));
    }
    Ok(true)
}

fn io_error(path: &Path, error: std::io::Error) -> ApiError {
    ApiError::new(
        ErrorKind::Storage,
        format!("Could not write {}: {error}", path.display()),
    )
}

/// What is known of a track before its file arrives (shown until its own tags are read).
pub(crate) struct Heard {
    pub title: String,
    pub artist: String,
    pub duration_ms: u64,
}

/// The hash of a peer's track once it can be played here: at once from our own copy; else as
/// soon as its first [`STREAM_START`] bytes have arrived from `peer` (verified), the rest
/// following behind the play head (`media/growing.rs`).
pub(crate) async fn stream_from(
    library: &crate::library::Library,
    chat: &crate::chat::Chat,
    events: &tokio::sync::broadcast::Sender<Event>,
    peer: PeerId,
    hash: Hash32,
    heard: Heard,
) -> Result<String, ApiError> {
    let hex = hash.to_hex();
    if library.track(&hex).await.is_ok() {
        return Ok(hex);
    }
    let Heard {
        title,
        artist,
        duration_ms: heard_duration,
    } = heard;
    let chat = chat.clone();
    let mut fetch = tokio::spawn(async move { chat.fetch(hash, peer).await });
    let arriving = loop {
        if fetch.is_finished() {
            break None;
        }
        if let Some(arrival) = crate::media::growing::arriving_hash(&hex)
            .filter(|a| a.received() >= STREAM_START.min(a.total()))
        {
            break Some(arrival.path().to_path_buf());
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let facts = match arriving {
        Some(path) => tokio::task::spawn_blocking(move || {
            crate::library::probe::stream_facts(&path).map(|facts| (path, facts))
        })
        .await
        .ok()
        .and_then(Result::ok),
        None => None,
    };
    let library = library.clone();
    let Some((path, facts)) = facts else {
        // Complete already (or not streamable from its start): play the whole file.
        let path = (&mut fetch).await.map_err(internal)??;
        library.add_streamed(path, &title, &artist).await?;
        return Ok(hex);
    };
    library.stream_arriving(Track {
        hash: hex.clone(),
        path: path.to_string_lossy().into_owned(),
        title: title.clone(),
        artists: vec![artist.clone()],
        artist: artist.clone(),
        album: String::new(),
        album_artist: artist.clone(),
        track_no: None,
        disc_no: None,
        track_total: None,
        disc_total: None,
        compilation: false,
        year: None,
        genre: String::new(),
        duration_ms: if facts.duration_ms > 0 {
            facts.duration_ms
        } else {
            heard_duration
        },
        sample_rate: facts.sample_rate,
        channels: facts.channels,
        codec: facts.codec,
        art: None,
    });
    // Once complete and verified, the track is read from its final place (with its tags);
    // if the fetch fails the player stops it, and it is forgotten.
    let events = events.clone();
    crate::supervise::spawn("stream", events, async move {
        match fetch.await {
            Ok(Ok(path)) => {
                if let Err(error) = library.add_streamed(path, &title, &artist).await {
                    tracing::warn!(%error, "a streamed track could not be read when complete");
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "a streamed track stopped arriving");
                library.forget_streamed(&hash.to_hex());
            }
            Err(error) => {
                tracing::warn!(%error, "a streamed track's fetch ended abruptly");
                library.forget_streamed(&hash.to_hex());
            }
        }
    });
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filed_track_lands_in_artist_and_album_folders_with_safe_names() {
        let free = |_: &Path| false;
        let path = filed_path(
            Path::new("/music/From friends"),
            "AC/DC",
            "..\\..\\etc",
            "Who? \u{202E}Me\u{7}",
            "fl.ac",
            "0123456789abcdef",
            free,
        );
        assert_eq!(
            path,
            Path::new("/music/From friends/AC_DC/_.._etc/Who_ _Me_.flac")
        );
        let empty = filed_path(Path::new("/m"), " ", "...", "", "mp3", "ab", free);
        assert_eq!(
            empty,
            Path::new("/m/Unknown artist/Unknown album/Unknown track.mp3")
        );
        let taken = |p: &Path| p.ends_with("Gulls.mp3");
        let other = filed_path(
            Path::new("/m"),
            "A",
            "B",
            "Gulls",
            "mp3",
            "0123456789",
            taken,
        );
        assert_eq!(
            other,
            Path::new("/m/A/B/Gulls [01234567].mp3"),
            "another file of that title"
        );
    }

    #[test]
    fn long_names_fit_a_file_system_and_reserved_ones_are_avoided() {
        let long = "海".repeat(100);
        let part = safe_part(&long, "x");
        assert!(part.len() <= MAX_PART_BYTES, "{} bytes", part.len());
        assert!(long.starts_with(&part), "clipped at a character boundary");
        assert_eq!(safe_part("CON", "x"), "_CON");
        assert_eq!(safe_part("com1.txt", "x"), "_com1.txt");
        assert_eq!(safe_part("Console", "x"), "Console");
    }
}
