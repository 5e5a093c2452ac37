//! `/earshot/transfer/1`: audio bytes by content hash (design §6).
//!
//! Serving: a friend may fetch any track of our library; a fellow member only a track we shared in
//! a conversation they belong to. Fetching: first the file's outline (`outline.rs`: its 512 KiB
//! groups' BLAKE3 chaining values), which must combine into the hash asked for; then the ranges,
//! [`IN_FLIGHT`] at a time, each checked against its group's value as it arrives — a damaged
//! range is asked for again (with a growing pause, [`RANGE_TRIES`] times) and never written.
//! Verified ranges are appended to `<data dir>/cache/audio/<hash>.part`, so a restart or a dropped
//! connection resumes where it stopped (the part is checked again against the outline first);
//! when complete it is renamed into place and playable. A failed or cancelled fetch leaves
//! nothing in the library (the cache is not the library).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use blake3::hazmat::ChainingValue;
use futures::StreamExt;

use libp2p::PeerId;

use super::log::{self, Hash32};
use super::outline::{self, GROUP};
use super::JamGrant;
use super::{lock, store, Chat};
use crate::api::{ApiError, ErrorKind, Event};
use crate::net::protocol::{
    TransferRefusal, TransferRequest, TransferResponse, MAX_CHUNK, MAX_TRANSFER_FILE,
};
use crate::net::{NetError, TransferReply};

impl Chat {
    /// Answers a peer's request for a track's outline or a range of it.
    pub(super) async fn serve(&self, peer: PeerId, request: TransferRequest, reply: TransferReply) {
        let hash = match &request {
            TransferRequest::Outline { hash } | TransferRequest::Range { hash, .. } => *hash,
        };
        let me = self.shared.me;
        let hex = hash.to_hex();
        let messages_off = self.messages_off();
        let grant = self.jam_grant(&peer, &hex);
        let found = if grant == JamGrant::Relay {
            // Passed on from what we received ourselves: the cache's complete, verified file.
            Ok(self
                .cache_dir()
                .ok()
                .and_then(|dir| find_cached(&dir, &hex))
                .ok_or(TransferRefusal::NotFound))
        } else {
            let jam_grant = grant == JamGrant::Own;
            let hex = hex.clone();
            self.shared
                .store
                .call(move |c| {
                    let friend = store::is_friend(c, &peer)?;
                    // With Messages off, shares reach no one but friends.
                    let shared = jam_grant || store::may_fetch(c, &me, &peer, &hex)?;
                    if (messages_off && !friend && !jam_grant) || !shared {
                        return Ok(Err(TransferRefusal::NotAllowed));
                    }
                    Ok(crate::library::store::track_by_hash(c, &hex)?
                        .map(|t| PathBuf::from(t.path))
                        .ok_or(TransferRefusal::NotFound))
                })
                .await
        };
        let not_found = TransferResponse::Refused {
            reason: TransferRefusal::NotFound,
        };
        let response = match found {
            Ok(Ok(path)) => match request {
                TransferRequest::Range { offset, length, .. } => {
                    let length = length.min(MAX_CHUNK);
                    match tokio::task::spawn_blocking(move || read_range(&path, offset, length))
                        .await
                    {
                        Ok(Ok((total, extension, data))) => TransferResponse::Bytes {
                            total,
                            extension,
                            data,
                        },
                        Ok(Err(_)) | Err(_) => not_found,
                    }
                }
                TransferRequest::Outline { .. } => match self.outline(hash, path).await {
                    Ok((total, extension, cvs)) => TransferResponse::Outline {
                        total,
                        extension,
                        groups: outline::pack(&cvs),
                    },
                    Err(reason) => TransferResponse::Refused { reason },
                },
            },
            Ok(Err(reason)) => {
                if reason == TransferRefusal::NotAllowed {
                    tracing::debug!(%peer, "a transfer of a track not shared with them was refused");
                }
                TransferResponse::Refused { reason }
            }
            Err(_) => TransferResponse::Refused {
                reason: TransferRefusal::Busy,
            },
        };
        reply.send(response).await;
    }

    /// The outline of our file of track `hash`: remembered while the file's size and time are
    /// unchanged; `None` when the file is unreadable or no longer matches its hash (changed or
    /// damaged since the scan: a rescan sorts it out).
    async fn outline(
        &self,
        hash: Hash32,
        path: PathBuf,
    ) -> Result<(u64, String, Arc<Vec<ChainingValue>>), TransferRefusal> {
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|_| TransferRefusal::NotFound)?;
        let stamp = (meta.len(), meta.modified().ok());
        let extension = extension_of(&path);
        if let Some(cvs) = lock(&self.shared.outlines).get(&hash, stamp) {
            return Ok((stamp.0, extension, cvs));
        }
        let total = stamp.0;
        if total > MAX_TRANSFER_FILE {
            return Err(TransferRefusal::NotFound);
        }
        // Reading a whole file is dear: two at a time, and whoever asks beyond that waits.
        let Ok(_permit) = self.shared.outline_work.try_acquire() else {
            return Err(TransferRefusal::Busy);
        };
        let computed = tokio::task::spawn_blocking(move || {
            let file = std::io::BufReader::new(std::fs::File::open(&path)?);
            outline::outline_of(file, total)
        })
        .await
        .map_err(|_| TransferRefusal::NotFound)?;
        match computed {
            Ok((root, cvs)) if root == hash => {
                let cvs = Arc::new(cvs);
                lock(&self.shared.outlines).put(hash, stamp, cvs.clone());
                Ok((total, extension, cvs))
            }
            Ok(_) => {
                tracing::warn!(hash = %hash.to_hex(), "a library file no longer matches its hash; it is not served until a rescan");
                Err(TransferRefusal::NotFound)
            }
            Err(error) => {
                tracing::warn!(hash = %hash.to_hex(), %error, "a library file could not be read");
                Err(TransferRefusal::NotFound)
            }
        }
    }

    /// Makes the tracks of a share card playable: those in our library as they are, the others
    /// fetched from the sharer into the audio cache. Returns the hashes, in the card's order.
    pub async fn fetch_shared(
        &self,
        conversation: &str,
        entry: &str,
    ) -> Result<Vec<String>, ApiError> {
        let conv = Hash32::from_hex(conversation)
            .ok_or_else(|| ApiError::invalid_input("That is not a conversation id."))?;
        let entry = Hash32::from_hex(entry)
            .ok_or_else(|| ApiError::invalid_input("That is not a message id."))?;
        let found: Option<(String, Option<Vec<u8>>)> = self
            .shared
            .store
            .call(move |c| {
                use rusqlite::OptionalExtension;
                c.query_row(
                    "SELECT author, detail FROM chat_messages
                     WHERE entry = ?1 AND conversation = ?2 AND kind = 'share' AND deleted = 0",
                    rusqlite::params![&entry.0[..], &conv.0[..]],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await?;
        let (author, detail) =
            found.ok_or_else(|| super::not_found("No such shared music here."))?;
        let share: log::Share = detail
            .and_then(|d| cbor4ii::serde::from_slice(&d).ok())
            .ok_or_else(|| super::not_found("No such shared music here."))?;
        let sharer: PeerId = author
            .parse()
            .map_err(|_| ApiError::new(ErrorKind::Internal, "A stored author is not a peer id."))?;
        let mut hashes = Vec::new();
        for hash in &share.hashes {
            let hex = hash.to_hex();
            let known = self.shared.library.track(&hex).await.is_ok();
            if !known {
                if sharer == self.shared.me {
                    return Err(super::not_found("That track is no longer in your library."));
                }
                let path = self.fetch(*hash, sharer).await?;
                let (title, artist) = match share.kind {
                    log::ShareKind::Track => (share.title.as_str(), share.artist.as_str()),
                    log::ShareKind::Album | log::ShareKind::Playlist => ("", share.artist.as_str()),
                };
                self.shared
                    .library
                    .add_streamed(path, title, artist)
                    .await?;
            }
            hashes.push(hex);
        }
        Ok(hashes)
    }

    fn cache_dir(&self) -> Result<PathBuf, ApiError> {
        self.shared
            .store
            .path()
            .parent()
            .map(|d| d.join("cache").join("audio"))
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "The data directory is unknown."))
    }

    /// Fetches the track `hash` from `from` into the audio cache and verifies it.
    pub async fn fetch(&self, hash: Hash32, from: PeerId) -> Result<PathBuf, ApiError> {
        let hex = hash.to_hex();
        let dir = self.cache_dir()?;
        // One fetch per track: a second caller (play, then "add to library") waits for the
        // first and takes its file, or fetches itself when the first failed.
        loop {
            if let Some(done) = find_cached(&dir, &hex) {
                return Ok(done);
            }
            if lock(&self.shared.fetching).insert(hex.clone()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Cleared however the fetch ends, a dropped (cancelled) call included.
        let fetching = Arc::new(Fetching {
            shared: self.shared.clone(),
            hash: hex,
        });
        self.fetch_unlocked(hash, from, &dir, &fetching).await
    }

    async fn fetch_unlocked(
        &self,
        hash: Hash32,
        from: PeerId,
        dir: &Path,
        fetching: &Arc<Fetching>,
    ) -> Result<PathBuf, ApiError> {
        let hex = hash.to_hex();
        let name = self.display_name(from).await;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| storage(dir, e))?;
        let part = dir.join(format!("{hex}.part"));
        let (total, done) = self.download(hash, from, &part, &name, fetching).await?;
        tracing::info!(hash = %hex, bytes = total, "fetched and verified");
        // The cache is not the library: it is kept within its size, oldest out first.
        let (dir, keep) = (dir.to_path_buf(), done.clone());
        let fetching: Vec<String> = lock(&self.shared.fetching).iter().cloned().collect();
        tokio::task::spawn_blocking(move || trim_cache(&dir, &keep, &fetching, SystemTime::now()));
        Ok(done)
    }

    /// Downloads into `part`, every range checked against the outline, resuming after what is
    /// already there (checked again first), and renames it into place; returns the size and the
    /// file.
    async fn download(
        &self,
        hash: Hash32,
        from: PeerId,
        part: &Path,
        name: &str,
        fetching: &Arc<Fetching>,
    ) -> Result<(u64, PathBuf), ApiError> {
        let (total, extension, cvs) = match self
            .ask(from, TransferRequest::Outline { hash }, name)
            .await?
        {
            TransferResponse::Outline {
                total,
                extension,
                groups,
            } => (total, extension, groups),
            TransferResponse::Bytes { .. } | TransferResponse::Refused { .. } => {
                return Err(mismatch(name))
            }
        };
        if total > MAX_TRANSFER_FILE {
            return Err(ApiError::invalid_input(format!(
                "That file is larger than {} GiB; it was not fetched.",
                MAX_TRANSFER_FILE >> 30
            )));
        }
        // No audio file is empty, and only an audio extension may reach the library.
        if total == 0 || !crate::library::scan::AUDIO_EXTENSIONS.contains(&extension.as_str()) {
            return Err(ApiError::new(
                ErrorKind::Unplayable,
                format!("{name} offered something that is not an audio file. Nothing was kept."),
            ));
        }
        let cvs = outline::unpack(&cvs).ok_or_else(|| mismatch(name))?;
        if outline::outlined(total) && outline::root_of(&cvs, total) != Some(hash) {
            return Err(mismatch(name));
        }
        let cvs = Arc::new(cvs);
        // What is already here: kept up to the first group that does not check out.
        let mut offset = {
            let (owned, cvs, fetching) = (part.to_path_buf(), cvs.clone(), fetching.clone());
            tokio::task::spawn_blocking(move || {
                let _fetching = fetching;
                verified_prefix(&owned, total, &hash, &cvs)
            })
            .await
            .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?
            .map_err(|e| storage(part, e))?
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(part)
            .map_err(|e| storage(part, e))?;
        // Readers (the player, streaming this track) follow the verified bytes as they land; they
        // open it by the name it will have when complete.
        let done = done_path(part, &hash, &extension);
        let arriving = crate::media::growing::register(&done, part, &hash.to_hex(), total, offset);
        let offsets: Vec<u64> = (offset..total).step_by(GROUP as usize).collect();
        let mut ranges = futures::stream::iter(offsets)
            .map(|at| {
                let request = TransferRequest::Range {
                    hash,
                    offset: at,
                    length: MAX_CHUNK,
                };
                async move { (at, self.ask(from, request, name).await) }
            })
            .buffered(IN_FLIGHT);
        while let Some((at, answer)) = ranges.next().await {
            let mut answer = answer?;
            let mut tries = 1;
            let data = loop {
                match answer {
                    TransferResponse::Bytes { total: t, data, .. } if t == total => {
                        if outline::group_ok(&data, at, total, &hash, &cvs) {
                            break data;
                        }
                    }
                    // The file changed size under us: what we hold may not fit any more.
                    // (What is already written was checked against the hash: it stays.)
                    TransferResponse::Bytes { .. } | TransferResponse::Outline { .. } => {
                        return Err(ApiError::new(
                            ErrorKind::Unreachable,
                            format!("{name}'s copy changed while it was being fetched. Try again."),
                        ));
                    }
                    TransferResponse::Refused { reason } => return Err(refusal(name, reason)),
                }
                // Damaged on the way or at the source: never written; asked for again.
                self.shared
                    .counters
                    .bad_ranges
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(hash = %hash.to_hex(), offset = at, tries, "a fetched range did not match the track's hash");
                if tries >= RANGE_TRIES {
                    return Err(ApiError::new(
                        ErrorKind::Unplayable,
                        format!("{name}'s copy of this track is damaged (a part of it does not match). What was fetched correctly is kept."),
                    ));
                }
                tokio::time::sleep(RANGE_RETRY_PAUSE * (1 << (tries - 1))).await;
                tries += 1;
                let request = TransferRequest::Range {
                    hash,
                    offset: at,
                    length: MAX_CHUNK,
                };
                answer = self.ask(from, request, name).await?;
            };
            file.write_all(&data).map_err(|e| storage(part, e))?;
            offset = at + data.len() as u64;
            arriving.arrival().advance(offset);
            let _ = self.shared.events.send(Event::TransferProgress {
                hash: hash.to_hex(),
                received: offset,
                total,
            });
        }
        if offset < total {
            return Err(mismatch(name));
        }
        let synced = {
            let fetching = fetching.clone();
            tokio::task::spawn_blocking(move || {
                let _fetching = fetching;
                file.sync_all()?;
                file.metadata().map(|m| m.len())
            })
            .await
            .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?
            .map_err(|e| storage(part, e))?
        };
        if synced != total {
            let _ = tokio::fs::remove_file(part).await;
            return Err(mismatch(name));
        }
        // Renamed while still registered: a reader opening it meanwhile finds one or the other.
        tokio::fs::rename(part, &done)
            .await
            .map_err(|e| storage(&done, e))?;
        drop(arriving);
        Ok((total, done))
    }

    /// One request to `from`; a refusal becomes the error the user sees.
    async fn ask(
        &self,
        from: PeerId,
        request: TransferRequest,
        name: &str,
    ) -> Result<TransferResponse, ApiError> {
        // "Busy" (the friend's limit, or its queue) is waited out, a little longer each time.
        let mut pause = BUSY_PAUSE;
        loop {
            let response = self
                .shared
                .net
                .send_transfer(from, request.clone())
                .await
                .map_err(|e| unreachable(name, e))?;
            match response {
                TransferResponse::Refused {
                    reason: TransferRefusal::Busy,
                } if pause <= MAX_BUSY_PAUSE => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                TransferResponse::Refused { reason } => return Err(refusal(name, reason)),
                TransferResponse::Bytes { .. } | TransferResponse::Outline { .. } => {
                    return Ok(response)
                }
            }
        }
    }

    async fn display_name(&self, peer: PeerId) -> String {
        let me = self.shared.me;
        self.shared
            .store
            .call(move |c| Ok(super::view::Names::new(c, me)?.name(&peer)))
            .await
            .unwrap_or_else(|_| crate::friends::short_id(&peer))
    }
}

/// Marks a track as being fetched while alive. Shared with the blocking work on its part file,
/// so a cancelled fetch keeps the mark until that work has finished too.
struct Fetching {
    shared: Arc<super::Shared>,
    hash: String,
}

impl Drop for Fetching {
    fn drop(&mut self) {
        lock(&self.shared.fetching).remove(&self.hash);
    }
}

/// Ranges asked for at once: enough to keep a fast link busy, few enough to stay fair.
const IN_FLIGHT: usize = 4;
/// How often a range that does not match is asked for in all, and the first pause between.
const RANGE_TRIES: u32 = 5;
const RANGE_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// The first pause after a "busy" answer, doubling up to the last (≈ 6 s in all).
const BUSY_PAUSE: Duration = Duration::from_millis(100);
const MAX_BUSY_PAUSE: Duration = Duration::from_millis(3200);
/// Outlines remembered for serving.
const OUTLINES_KEPT: usize = 64;

/// A file's size and modification time: an outline is good while they stay the same.
type Stamp = (u64, Option<SystemTime>);

/// The outlines of tracks served lately, each valid while its file's size and time stay as
/// they were; the one used longest ago makes room for a new one.
#[derive(Default)]
pub(super) struct Outlines {
    entries: HashMap<Hash32, (Stamp, Arc<Vec<ChainingValue>>, u64)>,
    uses: u64,
}

impl Outlines {
    fn get(&mut self, hash: &Hash32, stamp: Stamp) -> Option<Arc<Vec<ChainingValue>>> {
        self.uses += 1;
        let uses = self.uses;
        let (kept, cvs, used) = self.entries.get_mut(hash)?;
        if *kept != stamp {
            return None;
        }
        *used = uses;
        Some(cvs.clone())
    }

    fn put(&mut self, hash: Hash32, stamp: Stamp, cvs: Arc<Vec<ChainingValue>>) {
        if self.entries.len() >= OUTLINES_KEPT && !self.entries.contains_key(&hash) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(h, _)| *h);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.uses += 1;
        self.entries.insert(hash, (stamp, cvs, self.uses));
    }
}

/// How much of `part` (a file of `total` bytes being fetched) checks out against the outline:
/// the part is cut back to the end of the last good group, and that length returned.
fn verified_prefix(
    part: &Path,
    total: u64,
    hash: &Hash32,
    cvs: &[ChainingValue],
) -> std::io::Result<u64> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(part)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let held = file.metadata()?.len().min(total);
    let mut good = 0u64;
    let mut buffer = vec![0u8; GROUP as usize];
    while good < held {
        let length = GROUP.min(total - good);
        if good + length > held {
            break;
        }
        file.read_exact(&mut buffer[..length as usize])?;
        if !outline::group_ok(&buffer[..length as usize], good, total, hash, cvs) {
            break;
        }
        good += length;
    }
    file.set_len(good)?;
    Ok(good)
}

fn extension_of(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn refusal(name: &str, reason: TransferRefusal) -> ApiError {
    match reason {
        TransferRefusal::NotFound => ApiError::new(
            ErrorKind::NotFound,
            format!("{name} no longer has that track."),
        ),
        TransferRefusal::NotAllowed => ApiError::new(
            ErrorKind::Unreachable,
            format!("{name} does not share that track with you."),
        ),
        TransferRefusal::Busy => ApiError::new(
            ErrorKind::Unreachable,
            format!("{name} is busy. Try again in a moment."),
        ),
    }
}

fn mismatch(name: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Unplayable,
        format!("What {name} sent does not match the track that was shared (it may have changed). Nothing was kept."),
    )
}

/// The most the audio cache keeps of complete files.
const CACHE_LIMIT: u64 = 2 * 1024 * 1024 * 1024;
/// A part file left this long (an abandoned fetch) is deleted.
const STALE_PART: Duration = Duration::from_secs(7 * 24 * 3600);

/// Deletes the oldest complete files of the audio cache beyond [`CACHE_LIMIT`] (never `keep`,
/// just fetched) and parts abandoned for a week (never one being fetched).
fn trim_cache(dir: &Path, keep: &Path, fetching: &[String], now: SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut complete = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        let modified = meta.modified().unwrap_or(now);
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(hash) = name.strip_suffix(".part") {
            let stale = now.duration_since(modified).unwrap_or_default() > STALE_PART;
            if stale && !fetching.iter().any(|f| f == hash) {
                let _ = std::fs::remove_file(&path);
            }
        } else if path != keep {
            complete.push((modified, meta.len(), path));
        }
    }
    let keep_len = std::fs::metadata(keep).map_or(0, |m| m.len());
    let mut held: u64 = complete.iter().map(|(_, len, _)| len).sum::<u64>() + keep_len;
    complete.sort();
    for (_, len, path) in complete {
        if held <= CACHE_LIMIT {
            break;
        }
        // A file being played on a system that refuses to delete it stays for next time.
        if std::fs::remove_file(&path).is_ok() {
            held -= len;
        }
    }
}

/// Where a fetched file lives once complete: `<hash>.<extension>` beside its part.
fn done_path(part: &Path, hash: &Hash32, extension: &str) -> PathBuf {
    let extension: String = extension
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    let hex = hash.to_hex();
    part.with_file_name(if extension.is_empty() {
        hex
    } else {
        format!("{hex}.{extension}")
    })
}

/// A verified file of the cache, whatever its extension.
fn find_cached(dir: &Path, hex: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        (name == hex || name.starts_with(&format!("{hex}.")))
            && !name.ends_with(".part")
            && p.metadata().is_ok_and(|m| m.len() > 0)
    })
}

/// `length` bytes from `offset` of a file, its size, and its extension.
fn read_range(path: &Path, offset: u64, length: u32) -> std::io::Result<(u64, String, Vec<u8>)> {
    let mut file = std::fs::File::open(path)?;
    let total = file.metadata()?.len();
    let mut data = Vec::new();
    if offset < total {
        file.seek(SeekFrom::Start(offset))?;
        file.take(length as u64).read_to_end(&mut data)?;
    }
    Ok((total, extension_of(path), data))
}

fn storage(path: &Path, error: std::io::Error) -> ApiError {
    ApiError::new(
        ErrorKind::Storage,
        format!("Cannot write {}: {error}", path.display()),
    )
}

fn unreachable(name: &str, error: NetError) -> ApiError {
    ApiError::new(
        ErrorKind::Unreachable,
        format!("{name} could not be reached to fetch the track ({error}). It plays once they are online."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_past_the_end_is_empty_and_a_short_one_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.FLAC");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(
            read_range(&path, 8, 100).unwrap(),
            (10, "flac".into(), b"89".to_vec())
        );
        assert_eq!(read_range(&path, 10, 100).unwrap().2, Vec::<u8>::new());
        assert_eq!(read_range(&path, 2, 3).unwrap().2, b"234".to_vec());
    }

    #[test]
    fn the_cache_keeps_within_its_size_oldest_out_and_drops_abandoned_parts() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let write = |name: &str, len: u64, age_days: u64| {
            let path = dir.path().join(name);
            let file = std::fs::File::create(&path).unwrap();
            file.set_len(len).unwrap();
            file.set_modified(now - Duration::from_secs(age_days * 24 * 3600))
                .unwrap();
            path
        };
        let gib = 1024 * 1024 * 1024;
        write("old.flac", gib, 3);
        write("mid.flac", gib, 2);
        let just = write("new.flac", gib, 0);
        write("gone.part", 10, 8);
        write("fetching.part", 10, 8);
        write("recent.part", 10, 1);
        trim_cache(dir.path(), &just, &["fetching".to_string()], now);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["fetching.part", "mid.flac", "new.flac", "recent.part"]
        );
    }

    #[test]
    fn only_finished_files_count_as_cached() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("abc.part"), b"x").unwrap();
        assert_eq!(find_cached(dir.path(), "abc"), None);
        std::fs::write(dir.path().join("abc.flac"), b"x").unwrap();
        assert_eq!(
            find_cached(dir.path(), "abc"),
            Some(dir.path().join("abc.flac"))
        );
    }
}
