//! The music library (design §3): folders the user chose, the tracks scanned in them (the BLAKE3
//! hash of each file is its identity across peers), albums and artists derived from the tags,
//! cover art stored once, playlists and the play history.
//!
//! [`Library`] is the handle. One scanner task owns scanning: requests (add a folder, rescan) and
//! changes reported by the folder watcher ([`watch`]) are queued to it and carried out one folder
//! at a time, each file read in parallel ([`scan`]) and stored through the store thread.
//! File-system work (checking a folder, walking it, watching it, writing a cover) runs on tokio's
//! blocking pool, never on an async worker.
//!
//! Events: `scan_progress` while a scan runs; at its end one `library_changed` if the scan added,
//! updated, removed or failed anything (or the folder is new), then `scan_finished`. A window
//! reloads its lists on `library_changed` only, so a scan costs it one reload.

pub mod loudness;
mod playlist_edits;
pub mod probe;
pub mod scan;
pub mod store;
mod tags;
mod watch;

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};

use crate::api::{
    Album, AlbumKey, ApiError, Artist, ErrorKind, Event, Play, Playlist, PlaylistItem, ScanProblem,
    ScanSummary, Track,
};
use crate::store::{now_millis, Store};

use store::TrackFilter;

/// Scan requests waiting; more are coalesced.
const SCAN_QUEUE: usize = 64;
/// A folder changed on disk is rescanned once it has been quiet this long.
const WATCH_SETTLE: Duration = Duration::from_millis(600);
/// Progress events at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Most tracks one call may name (a queue or playlist edit).
const MAX_TRACKS_PER_CALL: usize = 100_000;
/// Longest playlist name, in characters.
const MAX_PLAYLIST_NAME: usize = 100;

#[derive(Debug)]
enum ScanRequest {
    /// Scan one folder; `added` when it was just added (the folder list changed, so the scan
    /// ends with `library_changed` even if it found nothing).
    Folder {
        path: String,
        added: bool,
    },
    All,
    /// Resolves once every earlier request is done (tests and benchmarks wait on it).
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// Handle on the library. Cheap to clone.
#[derive(Clone)]
pub struct Library {
    store: Store,
    events: broadcast::Sender<Event>,
    scans: mpsc::Sender<ScanRequest>,
    watcher: watch::Handle,
    /// Tracks fetched from friends into the audio cache (verified by hash): playable by hash
    /// like library tracks, but not part of the library.
    streamed: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Track>>>,
    /// Every track's loudness, for the player; kept by the background analysis.
    loudness: loudness::Table,
}

impl Library {
    /// Starts the scanner and the folder watcher (watching every stored folder).
    pub async fn start(store: Store, events: broadcast::Sender<Event>) -> Result<Self, ApiError> {
        let (scans, inbox) = mpsc::channel(SCAN_QUEUE);
        let (changed_tx, changed) = mpsc::channel(SCAN_QUEUE);
        let watcher = watch::Handle::start(changed_tx);
        let folders = store.call(|c| store::folders(c)).await?;
        watcher
            .watch(folders.into_iter().map(PathBuf::from).collect())
            .await;
        let scanner = Scanner {
            store: store.clone(),
            events: events.clone(),
            inbox,
            changed,
        };
        // A panic in the scanner is reported to the window (it cannot scan again until restart).
        crate::supervise::spawn_essential("library", events.clone(), scanner.run());
        // Loudness is measured after scans, in the background (and now: an analysis cut short by
        // a restart resumes).
        let loudness = loudness::Table::default();
        loudness::start(store.clone(), events.clone(), loudness.clone());
        Ok(Self {
            store,
            events,
            scans,
            watcher,
            streamed: Default::default(),
            loudness,
        })
    }

    /// Every track's loudness (the player picks its gain from it).
    pub fn loudness(&self) -> loudness::Table {
        self.loudness.clone()
    }

    /// Adds a folder and queues its scan. The path must be an existing directory. The scan's
    /// end announces the change (one `library_changed` for the new folder and its tracks).
    pub async fn add_folder(&self, path: &str) -> Result<Vec<String>, ApiError> {
        let given = path.to_string();
        let path = tokio::task::spawn_blocking(move || folder_path(&given))
            .await
            .map_err(|e| {
                ApiError::new(
                    ErrorKind::Internal,
                    format!("checking the folder failed: {e}"),
                )
            })??;
        let added = {
            let path = path.clone();
            self.store
                .call(move |c| store::add_folder(c, &path, now_millis()))
                .await?
        };
        if added {
            self.watcher.watch(vec![PathBuf::from(&path)]).await;
        }
        self.queue(ScanRequest::Folder { path, added }).await?;
        self.folders().await
    }

    /// Forgets a folder and every track in it.
    pub async fn remove_folder(&self, path: &str) -> Result<Vec<String>, ApiError> {
        let key = path.trim().trim_end_matches('/').to_string();
        let key = if key.is_empty() { "/".to_string() } else { key };
        let owned = key.clone();
        if !self
            .store
            .call(move |c| store::remove_folder(c, &owned))
            .await?
        {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                format!("{key} is not one of your music folders."),
            ));
        }
        self.watcher.unwatch(PathBuf::from(&key)).await;
        self.publish(Event::LibraryChanged);
        self.folders().await
    }

    pub async fn folders(&self) -> Result<Vec<String>, ApiError> {
        Ok(self.store.call(|c| store::folders(c)).await?)
    }

    /// Queues a rescan of every folder.
    pub async fn rescan(&self) -> Result<(), ApiError> {
        self.queue(ScanRequest::All).await
    }

    /// Waits until every scan queued so far has finished.
    pub async fn scans_settled(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.scans.send(ScanRequest::Barrier(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    async fn queue(&self, request: ScanRequest) -> Result<(), ApiError> {
        self.scans
            .send(request)
            .await
            .map_err(|_| ApiError::new(ErrorKind::ShuttingDown, "The library is shutting down."))
    }

    pub async fn report(&self) -> Result<Vec<ScanProblem>, ApiError> {
        Ok(self.store.call(|c| store::problems(c)).await?)
    }

    pub async fn tracks(
        &self,
        query: Option<&str>,
        album: Option<AlbumKey>,
        artist: Option<String>,
    ) -> Result<Vec<Track>, ApiError> {
        let filter = TrackFilter {
            words: query.map(store::search_words).unwrap_or_default(),
            album: album.map(|a| (a.album, a.album_artist)),
            artist,
        };
        Ok(self.store.call(move |c| store::tracks(c, &filter)).await?)
    }

    pub async fn albums(&self) -> Result<Vec<Album>, ApiError> {
        Ok(self.store.call(|c| store::albums(c, &[])).await?)
    }

    pub async fn artists(&self) -> Result<Vec<Artist>, ApiError> {
        Ok(self.store.call(|c| store::artists(c, &[])).await?)
    }

    pub async fn search(
        &self,
        query: &str,
    ) -> Result<(Vec<Track>, Vec<Album>, Vec<Artist>), ApiError> {
        let words = store::search_words(query);
        if words.is_empty() {
            return Ok(Default::default());
        }
        Ok(self
            .store
            .call(move |c| {
                let filter = TrackFilter {
                    words: words.clone(),
                    ..TrackFilter::default()
                };
                Ok((
                    store::tracks(c, &filter)?,
                    store::albums(c, &words)?,
                    store::artists(c, &words)?,
                ))
            })
            .await?)
    }

    /// The track with this hash, or `not_found`.
    pub async fn track(&self, hash: &str) -> Result<Track, ApiError> {
        let owned = hash.to_string();
        self.store
            .call(move |c| store::track_by_hash(c, &owned))
            .await?
            .or_else(|| self.streamed_track(hash))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::NotFound,
                    format!("No track with hash {hash} is in the library."),
                )
            })
    }

    /// Every track named, in order; fails on the first unknown hash.
    pub async fn tracks_by_hash(&self, hashes: &[String]) -> Result<Vec<Track>, ApiError> {
        if hashes.len() > MAX_TRACKS_PER_CALL {
            return Err(ApiError::invalid_input(format!(
                "At most {MAX_TRACKS_PER_CALL} tracks can be given at once."
            )));
        }
        let owned = hashes.to_vec();
        // One trip to the store for the whole list.
        let found = self
            .store
            .call(move |c| {
                owned
                    .iter()
                    .map(|h| store::track_by_hash(c, h))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        found
            .into_iter()
            .zip(hashes)
            .map(|(track, hash)| {
                track.or_else(|| self.streamed_track(hash)).ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::NotFound,
                        format!("No track with hash {hash} is in the library."),
                    )
                })
            })
            .collect()
    }

    /// Which of `hashes` the library itself holds (not merely streamed from a friend).
    pub async fn held(&self, hashes: Vec<String>) -> Result<HashSet<String>, ApiError> {
        Ok(self
            .store
            .call(move |c| {
                let mut held = HashSet::new();
                for hash in hashes {
                    if store::track_by_hash(c, &hash)?.is_some() {
                        held.insert(hash);
                    }
                }
                Ok(held)
            })
            .await?)
    }

    fn streamed_track(&self, hash: &str) -> Option<Track> {
        self.streamed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(hash)
            .cloned()
    }

    /// Makes a verified file of the audio cache playable by its hash: probed like a scanned file;
    /// `title` and `artist` (from the share card) stand in for missing tags.
    pub async fn add_streamed(
        &self,
        path: PathBuf,
        title: &str,
        artist: &str,
    ) -> Result<Track, ApiError> {
        let (title, artist) = (title.to_string(), artist.to_string());
        let probed = tokio::task::spawn_blocking({
            let path = path.clone();
            move || probe::read(&path)
        })
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?
        .map_err(|e| ApiError::new(ErrorKind::Unplayable, e.to_string()))?;
        let artists = if probed.tags.artists.is_empty() {
            vec![artist.clone()]
        } else {
            probed.tags.artists.clone()
        };
        let track = Track {
            hash: probed.hash.clone(),
            path: path.to_string_lossy().into_owned(),
            title: probed.tags.title.clone().unwrap_or(title),
            artist: artists.join(", "),
            artists,
            album: probed.tags.album.clone().unwrap_or_default(),
            album_artist: probed.tags.album_artist.clone().unwrap_or(artist),
            track_no: probed.tags.track_no,
            disc_no: probed.tags.disc_no,
            track_total: probed.tags.track_total,
            disc_total: probed.tags.disc_total,
            compilation: probed.tags.compilation,
            year: probed.tags.year,
            genre: probed.tags.genre.clone().unwrap_or_default(),
            duration_ms: probed.stream.duration_ms,
            sample_rate: probed.stream.sample_rate,
            channels: probed.stream.channels,
            codec: probed.stream.codec.clone(),
            art: None,
        };
        self.streamed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(track.hash.clone(), track.clone());
        Ok(track)
    }

    /// Makes a track still arriving from a friend playable by its hash (its file is read as it
    /// arrives, `media/growing.rs`); replaced by [`Library::add_streamed`] once it is complete.
    pub fn stream_arriving(&self, track: Track) {
        self.streamed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(track.hash.clone(), track);
    }

    /// Forgets a streamed track (its fetch failed).
    pub fn forget_streamed(&self, hash: &str) {
        self.streamed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(hash);
    }

    /// Cover art as a `data:` URL.
    pub async fn art(&self, hash: &str, thumb: bool) -> Result<String, ApiError> {
        let owned = hash.to_string();
        let (mime, data) = self
            .store
            .call(move |c| store::art(c, &owned, thumb))
            .await?
            .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "No such cover art."))?;
        Ok(format!(
            "data:{mime};base64,{}",
            data_encoding::BASE64.encode(&data)
        ))
    }

    /// The cover as a file (for the OS media controls, which take a URL): written once to
    /// `<data dir>/cache/art/<hash>.<ext>`. None when there is no such art or it cannot be written.
    pub async fn art_file(&self, hash: &str) -> Option<PathBuf> {
        if hash.is_empty() || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let dir = self.store.path().parent()?.join("cache").join("art");
        let cached = tokio::task::spawn_blocking({
            let (dir, hash) = (dir.clone(), hash.to_string());
            move || {
                ["jpg", "png"]
                    .iter()
                    .map(|ext| dir.join(format!("{hash}.{ext}")))
                    .find(|path| path.exists())
            }
        })
        .await
        .ok()?;
        if cached.is_some() {
            return cached;
        }
        let owned = hash.to_string();
        let (mime, data) = self
            .store
            .call(move |c| store::art(c, &owned, false))
            .await
            .ok()??;
        let ext = if mime == "image/png" { "png" } else { "jpg" };
        let path = dir.join(format!("{hash}.{ext}"));
        let written = tokio::task::spawn_blocking({
            let path = path.clone();
            move || {
                std::fs::create_dir_all(path.parent().expect("an art path has a folder"))?;
                let partial = path.with_extension("partial");
                std::fs::write(&partial, &data)?;
                std::fs::rename(&partial, &path)
            }
        })
        .await;
        match written {
            Ok(Ok(())) => Some(path),
            _ => None,
        }
    }

    pub async fn playlists(&self) -> Result<Vec<Playlist>, ApiError> {
        Ok(self.store.call(|c| store::playlists(c)).await?)
    }

    pub async fn playlist(&self, id: i64) -> Result<(Playlist, Vec<PlaylistItem>), ApiError> {
        self.store
            .call(move |c| store::playlist(c, id))
            .await?
            .ok_or_else(|| no_playlist(id))
    }

    pub async fn create_playlist(&self, name: &str) -> Result<Playlist, ApiError> {
        let name = playlist_name(name)?;
        let id = self
            .store
            .call(move |c| store::create_playlist(c, &name, now_millis()))
            .await?;
        self.publish(Event::LibraryChanged);
        Ok(self.playlist(id).await?.0)
    }

    /// A new playlist of `entries` (hash, who added it), in order, each credited.
    pub async fn save_credited_playlist(
        &self,
        name: &str,
        entries: Vec<(String, String)>,
    ) -> Result<Playlist, ApiError> {
        let name = playlist_name(name)?;
        let id = self
            .store
            .call(move |c| {
                let now = now_millis();
                let id = store::create_playlist(c, &name, now)?;
                let hashes: Vec<String> = entries.iter().map(|(h, _)| h.clone()).collect();
                store::set_playlist_items(c, id, &hashes, now)?;
                let credits: Vec<(String, String)> = entries
                    .into_iter()
                    .filter(|(_, who)| !who.is_empty())
                    .collect();
                store::credit_playlist(c, id, &credits)?;
                Ok(id)
            })
            .await?;
        self.publish(Event::LibraryChanged);
        Ok(self.playlist(id).await?.0)
    }

    pub async fn rename_playlist(&self, id: i64, name: &str) -> Result<Playlist, ApiError> {
        let name = playlist_name(name)?;
        if !self
            .store
            .call(move |c| store::rename_playlist(c, id, &name, now_millis()))
            .await?
        {
            return Err(no_playlist(id));
        }
        self.publish(Event::LibraryChanged);
        Ok(self.playlist(id).await?.0)
    }

    pub async fn delete_playlist(&self, id: i64) -> Result<(), ApiError> {
        if !self
            .store
            .call(move |c| store::delete_playlist(c, id))
            .await?
        {
            return Err(no_playlist(id));
        }
        self.publish(Event::LibraryChanged);
        Ok(())
    }

    /// Edits a playlist's entries with `edit` (which may refuse with a message) in one step.
    pub async fn edit_playlist(
        &self,
        id: i64,
        edit: impl FnOnce(&mut Vec<String>) -> Result<(), String> + Send + 'static,
    ) -> Result<(Playlist, Vec<PlaylistItem>), ApiError> {
        let outcome = self
            .store
            .call(move |c| {
                let Some(mut hashes) = store::playlist_hashes(c, id)? else {
                    return Ok(None);
                };
                if let Err(message) = edit(&mut hashes) {
                    return Ok(Some(Err(message)));
                }
                store::set_playlist_items(c, id, &hashes, now_millis())?;
                Ok(Some(Ok(())))
            })
            .await?;
        match outcome {
            None => return Err(no_playlist(id)),
            Some(Err(message)) => return Err(ApiError::invalid_input(message)),
            Some(Ok(())) => {}
        }
        self.publish(Event::LibraryChanged);
        self.playlist(id).await
    }

    pub async fn record_play(&self, track: Track) -> Result<(), ApiError> {
        Ok(self
            .store
            .call(move |c| store::add_play(c, &track, now_millis()))
            .await?)
    }

    pub async fn recent_plays(&self, limit: u32) -> Result<Vec<Play>, ApiError> {
        Ok(self
            .store
            .call(move |c| store::recent_plays(c, limit.clamp(1, 500)))
            .await?)
    }

    fn publish(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

fn no_playlist(id: i64) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("There is no playlist {id}."))
}

fn playlist_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_input("A playlist needs a name."));
    }
    if name.chars().count() > MAX_PLAYLIST_NAME {
        return Err(ApiError::invalid_input(format!(
            "A playlist name can have at most {MAX_PLAYLIST_NAME} characters."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid_input(
            "A playlist name cannot contain control characters.",
        ));
    }
    Ok(name.to_string())
}

/// Checks a folder given by the user and returns it absolute and canonical.
fn folder_path(path: &str) -> Result<String, ApiError> {
    let trimmed = path.trim();
    if trimmed.is_empty() {
        return Err(ApiError::invalid_input("Choose a folder to add."));
    }
    let given = PathBuf::from(trimmed);
    if !given.is_absolute() {
        return Err(ApiError::invalid_input(format!(
            "{trimmed} is not an absolute path; give the full path of the folder."
        )));
    }
    let canonical = std::fs::canonicalize(&given).map_err(|e| {
        ApiError::new(
            ErrorKind::NotFound,
            format!("Cannot open the folder {trimmed}: {e}."),
        )
    })?;
    if !canonical.is_dir() {
        return Err(ApiError::invalid_input(format!(
            "{trimmed} is a file, not a folder."
        )));
    }
    Ok(canonical.to_string_lossy().into_owned())
}

/// Owns scanning: one folder at a time, in the order asked.
struct Scanner {
    store: Store,
    events: broadcast::Sender<Event>,
    inbox: mpsc::Receiver<ScanRequest>,
    /// Paths the watcher saw change.
    changed: mpsc::Receiver<PathBuf>,
}

impl Scanner {
    async fn run(mut self) {
        // Folders the watcher reported, waiting to settle.
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        let mut settle_at: Option<tokio::time::Instant> = None;
        loop {
            let settle = async {
                match settle_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                request = self.inbox.recv() => match request {
                    None => return,
                    Some(ScanRequest::Folder { path, added }) => self.scan(&[path], added).await,
                    Some(ScanRequest::All) => {
                        let folders = self.store.call(|c| store::folders(c)).await.unwrap_or_default();
                        self.scan(&folders, false).await;
                    }
                    Some(ScanRequest::Barrier(done)) => {
                        if !dirty.is_empty() {
                            let folders: Vec<String> = std::mem::take(&mut dirty).into_iter().collect();
                            settle_at = None;
                            self.scan(&folders, false).await;
                        }
                        let _ = done.send(());
                    }
                },
                Some(path) = self.changed.recv() => {
                    let folders = self.store.call(|c| store::folders(c)).await.unwrap_or_default();
                    if let Some(folder) = folders.into_iter().find(|f| path.starts_with(f)) {
                        dirty.insert(folder);
                        settle_at = Some(tokio::time::Instant::now() + WATCH_SETTLE);
                    }
                }
                () = settle => {
                    settle_at = None;
                    let folders: Vec<String> = std::mem::take(&mut dirty).into_iter().collect();
                    tracing::info!(?folders, "folders changed on disk; rescanning");
                    self.scan(&folders, false).await;
                }
            }
        }
    }

    /// Scans `folders` one after the other; `added` when the folder list changed with them.
    async fn scan(&self, folders: &[String], added: bool) {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut total = ScanSummary::default();
        for folder in folders {
            let events = self.events.clone();
            let mut last = Instant::now() - PROGRESS_EVERY;
            let progress = move |p: scan::Progress| {
                if last.elapsed() >= PROGRESS_EVERY || p.done >= p.seen {
                    last = Instant::now();
                    let _ = events.send(Event::ScanProgress {
                        seen: p.seen,
                        done: p.done,
                        failed: p.failed,
                        current: p.current,
                    });
                }
            };
            match scan::scan_folder(&self.store, folder, workers, progress).await {
                Ok(summary) => {
                    tracing::info!(folder, ?summary, "scanned");
                    total.seen += summary.seen;
                    total.added += summary.added;
                    total.updated += summary.updated;
                    total.unchanged += summary.unchanged;
                    total.removed += summary.removed;
                    total.failed += summary.failed;
                    total.elapsed_ms += summary.elapsed_ms;
                }
                Err(error) => {
                    tracing::error!(folder, %error, "scan failed");
                }
            }
        }
        // One announcement for the whole scan, before the summary: whoever waits for
        // `scan_finished` has seen everything the scan changed.
        let changed = added || total.added + total.updated + total.removed + total.failed > 0;
        if changed {
            let _ = self.events.send(Event::LibraryChanged);
        }
        let _ = self.events.send(Event::ScanFinished(total));
    }
}
