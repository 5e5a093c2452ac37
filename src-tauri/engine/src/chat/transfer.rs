//! `/earshot/transfer/1`: audio bytes by content hash (design §6).
//!
//! Serving: a friend may fetch any track of our library; a fellow member only a track we shared in
//! a conversation they belong to. Fetching: ranges of 512 KiB, written to
//! `<data dir>/cache/audio/<hash>.part` (a restart or a dropped connection resumes where it
//! stopped); when complete, the whole file's BLAKE3 must equal the hash asked for, else the file is
//! deleted and fetched once more from the start; only then is it renamed into place and playable.
//! A failed or cancelled fetch leaves nothing in the library (the cache is not the library).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use libp2p::PeerId;

use super::log::{self, Hash32};
use super::{lock, store, Chat};
use crate::api::{ApiError, ErrorKind, Event};
use crate::net::protocol::{
    TransferRefusal, TransferRequest, TransferResponse, MAX_CHUNK, MAX_TRANSFER_FILE,
};
use crate::net::{NetError, TransferReply};

impl Chat {
    /// Answers a peer's request for a range of a track.
    pub(super) async fn serve(&self, peer: PeerId, request: TransferRequest, reply: TransferReply) {
        let TransferRequest::Range {
            hash,
            offset,
            length,
        } = request;
        let me = self.shared.me;
        let hex = hash.to_hex();
        let messages_off = self.messages_off();
        let found = self
            .shared
            .store
            .call(move |c| {
                let friend = store::is_friend(c, &peer)?;
                // With Messages off, shares reach no one but friends.
                if (messages_off && !friend) || !store::may_fetch(c, &me, &peer, &hex)? {
                    return Ok(Err(TransferRefusal::NotAllowed));
                }
                Ok(crate::library::store::track_by_hash(c, &hex)?
                    .map(|t| PathBuf::from(t.path))
                    .ok_or(TransferRefusal::NotFound))
            })
            .await;
        let response = match found {
            Ok(Ok(path)) => {
                let length = length.min(MAX_CHUNK);
                match tokio::task::spawn_blocking(move || read_range(&path, offset, length)).await {
                    Ok(Ok((total, extension, data))) => TransferResponse::Bytes {
                        total,
                        extension,
                        data,
                    },
                    Ok(Err(_)) | Err(_) => TransferResponse::Refused {
                        reason: TransferRefusal::NotFound,
                    },
                }
            }
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

    /// Fetches the track `hash` from `from` into the audio cache and verifies it.
    pub async fn fetch(&self, hash: Hash32, from: PeerId) -> Result<PathBuf, ApiError> {
        let hex = hash.to_hex();
        let dir = self
            .shared
            .store
            .path()
            .parent()
            .map(|d| d.join("cache").join("audio"))
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "The data directory is unknown."))?;
        if let Some(done) = find_cached(&dir, &hex) {
            return Ok(done);
        }
        if !lock(&self.shared.fetching).insert(hex.clone()) {
            return Err(ApiError::invalid_input("That track is already on its way."));
        }
        // Cleared however the fetch ends, a dropped (cancelled) call included.
        let _fetching = Fetching {
            chat: self,
            hash: hex,
        };
        self.fetch_unlocked(hash, from, &dir).await
    }

    async fn fetch_unlocked(
        &self,
        hash: Hash32,
        from: PeerId,
        dir: &Path,
    ) -> Result<PathBuf, ApiError> {
        let hex = hash.to_hex();
        let name = self.display_name(from).await;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| storage(dir, e))?;
        let part = dir.join(format!("{hex}.part"));
        for attempt in 0..2 {
            let (total, extension) = self.download(hash, from, &part, &name).await?;
            let verified = tokio::task::spawn_blocking({
                let part = part.clone();
                move || crate::library::probe::hash_file(&part).map(|h| h == hex_of(&hash))
            })
            .await
            .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?
            .unwrap_or(false);
            if verified {
                let extension: String = extension
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(8)
                    .collect();
                let done = dir.join(if extension.is_empty() {
                    hex.clone()
                } else {
                    format!("{hex}.{extension}")
                });
                tokio::fs::rename(&part, &done)
                    .await
                    .map_err(|e| storage(&done, e))?;
                tracing::info!(hash = %hex, bytes = total, "fetched and verified");
                return Ok(done);
            }
            // Damaged on the way or changed at the source: never kept, fetched once more.
            tracing::warn!(hash = %hex, attempt, "a fetched file did not match its hash");
            let _ = tokio::fs::remove_file(&part).await;
        }
        Err(ApiError::new(
            ErrorKind::Unplayable,
            format!("The file {name} sent does not match the track that was shared (it may have changed). Nothing was kept."),
        ))
    }

    /// Downloads into `part`, resuming from its length; returns the size and the extension.
    async fn download(
        &self,
        hash: Hash32,
        from: PeerId,
        part: &Path,
        name: &str,
    ) -> Result<(u64, String), ApiError> {
        let mut offset = tokio::fs::metadata(part)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(part)
            .map_err(|e| storage(part, e))?;
        loop {
            let request = TransferRequest::Range {
                hash,
                offset,
                length: MAX_CHUNK,
            };
            let response = self
                .shared
                .net
                .send_transfer(from, request)
                .await
                .map_err(|e| unreachable(name, e))?;
            let (total, ext, data) = match response {
                TransferResponse::Bytes {
                    total,
                    extension,
                    data,
                } => (total, extension, data),
                TransferResponse::Refused { reason } => {
                    return Err(match reason {
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
                    })
                }
            };
            if total > MAX_TRANSFER_FILE {
                let _ = std::fs::remove_file(part);
                return Err(ApiError::invalid_input(format!(
                    "That file is larger than {} GiB; it was not fetched.",
                    MAX_TRANSFER_FILE >> 30
                )));
            }
            if offset > total || (data.is_empty() && offset < total) {
                // The source shrank, or sent nothing: start again from scratch next time.
                let _ = std::fs::remove_file(part);
                return Err(ApiError::new(
                    ErrorKind::Unreachable,
                    format!("{name}'s copy changed while it was being fetched. Try again."),
                ));
            }
            let room = (total - offset).min(data.len() as u64) as usize;
            file.write_all(&data[..room])
                .map_err(|e| storage(part, e))?;
            offset += room as u64;
            let _ = self.shared.events.send(Event::TransferProgress {
                hash: hash.to_hex(),
                received: offset,
                total,
            });
            if offset >= total {
                file.sync_all().map_err(|e| storage(part, e))?;
                return Ok((total, ext));
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

/// Marks a track as being fetched while alive.
struct Fetching<'a> {
    chat: &'a Chat,
    hash: String,
}

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        lock(&self.chat.shared.fetching).remove(&self.hash);
    }
}

fn hex_of(hash: &Hash32) -> String {
    hash.to_hex()
}

/// A verified file of the cache, whatever its extension.
fn find_cached(dir: &Path, hex: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        (name == hex || name.starts_with(&format!("{hex}."))) && !name.ends_with(".part")
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
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok((total, extension, data))
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
