//! Scanning a folder: walk it, skip files whose size and modification time did not change since
//! the last scan, read the rest in parallel (tags, stream facts, cover art, BLAKE3 hash), and store
//! the results in batches. A file that cannot be read is recorded with its reason and the scan goes
//! on; nothing a file contains can stop it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Instant, UNIX_EPOCH};

use crate::api::{ScanSummary, Track};
use crate::media::ProbeError;
use crate::store::{now_millis, Store, StoreError};

use super::probe::{self, Probed};
use super::store::{self as queries, MoreTags, TrackRow};

/// File name extensions looked at. Anything else in a music folder (covers, cue sheets, notes) is
/// ignored; a file with one of these names that is not audio is reported.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "flac", "ogg", "oga", "opus", "wav", "wave", "m4a", "mp4", "m4b", "aac", "alac", "aif",
    "aiff", "aifc", "caf", "mka", "mkv", "webm",
];

/// The album artist of a compilation whose tags name none.
pub const VARIOUS_ARTISTS: &str = "Various Artists";

/// Tracks written per database transaction.
const BATCH: usize = 256;

/// Progress as the scan goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub seen: u32,
    pub done: u32,
    pub failed: u32,
    pub current: String,
}

/// One file found by the walk.
#[derive(Debug, Clone)]
struct Found {
    path: PathBuf,
    size: i64,
    mtime: i64,
}

/// What a worker made of a file.
enum Outcome {
    Track(Box<TrackRow>, Option<probe::Art>),
    Problem {
        path: String,
        reason: String,
        size: i64,
        mtime: i64,
    },
}

/// Audio formats people keep in music folders that Earshot cannot play yet, by extension, with
/// the name a person knows them by. They are walked like the others so the scan report says so,
/// rather than leaving them out without a word.
pub const UNSUPPORTED_EXTENSIONS: &[(&str, &str)] = &[
    ("wma", "Windows Media Audio"),
    ("ape", "Monkey's Audio (APE)"),
    ("wv", "WavPack"),
    ("mpc", "Musepack"),
    ("tta", "True Audio"),
    ("dsf", "DSD"),
    ("dff", "DSD"),
];

fn lowercase_extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Whether a path names an audio file by its extension (playable or not).
pub fn is_audio_path(path: &Path) -> bool {
    lowercase_extension(path).is_some_and(|e| {
        AUDIO_EXTENSIONS.contains(&e.as_str())
            || UNSUPPORTED_EXTENSIONS.iter().any(|(ext, _)| *ext == e)
    })
}

/// The format's name, when `path` names an audio format Earshot cannot play.
pub fn unsupported_format(path: &Path) -> Option<&'static str> {
    let e = lowercase_extension(path)?;
    UNSUPPORTED_EXTENSIONS
        .iter()
        .find(|(ext, _)| *ext == e)
        .map(|(_, name)| *name)
}

/// Every audio file under `dir` (following no symlinked directories, so loops cannot trap it),
/// with the directories that could not be read.
fn walk(dir: &Path) -> (Vec<Found>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                unreadable.push((dir, format!("cannot read the folder: {e}")));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    pending.push(path);
                }
            } else if is_audio_path(&path) {
                // Follows a symlinked file to its target's size and time.
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => files.push(Found {
                        size: meta.len() as i64,
                        mtime: mtime_ms(&meta),
                        path,
                    }),
                    Ok(_) => {}
                    Err(e) => unreadable.push((path, format!("cannot read the file: {e}"))),
                }
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (files, unreadable)
}

pub fn mtime_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Scans `folder` (already registered) and stores what it finds. `progress` is called as files
/// are done (from this thread); `workers` files are read at once.
/// Files a worker may be ahead of the others by, in the kernel's read-ahead: each file taken
/// asks for the one this many places on, so a cold disk reads while the workers parse and hash
/// (two workers reading a cold file each keep two reads in flight and wait for each).
const READ_AHEAD_FILES: usize = 32;
/// How much of a file is asked for ahead: its tags, cover art and first audio; the hash's
/// sequential read brings the kernel's own read-ahead for the rest of a long file.
const READ_AHEAD_BYTES: i64 = 2 << 20;

/// The files to read, handed out in walk order.
struct Queue {
    files: Vec<Found>,
    next: AtomicUsize,
}

impl Queue {
    fn new(files: Vec<Found>) -> Self {
        Self {
            files,
            next: AtomicUsize::new(0),
        }
    }

    /// The next file, once the kernel has been asked to read ahead: the first taking asks for
    /// the first [`READ_AHEAD_FILES`], each later one for the file that many places on.
    fn take(&self) -> Option<Found> {
        let taken = self.next.fetch_add(1, Ordering::Relaxed);
        let file = self.files.get(taken)?.clone();
        let first = if taken == 0 {
            0
        } else {
            taken + READ_AHEAD_FILES
        };
        let last = (taken + READ_AHEAD_FILES).min(self.files.len() - 1);
        for ahead in self.files.get(first..=last).unwrap_or_default() {
            read_ahead(&ahead.path);
        }
        Some(file)
    }
}

/// Asks the kernel to start reading the beginning of `path` into its page cache, and returns
/// at once. Opened without blocking (a file swapped for a FIFO since the walk must not hang a
/// worker); any failure is left to the real read to report.
#[cfg(target_os = "linux")]
fn read_ahead(path: &Path) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return;
    };
    // SAFETY: posix_fadvise only reads its arguments, and the descriptor is open for the call.
    unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            0,
            READ_AHEAD_BYTES,
            libc::POSIX_FADV_WILLNEED,
        );
    }
}

/// Elsewhere the files are read as they are taken (macOS and Windows read ahead within a file
/// only).
#[cfg(not(target_os = "linux"))]
fn read_ahead(_path: &Path) {}

pub async fn scan_folder(
    store: &Store,
    folder: &str,
    workers: usize,
    mut progress: impl FnMut(Progress),
) -> Result<ScanSummary, StoreError> {
    let started = Instant::now();
    let owned = folder.to_string();
    let known = store.call(move |c| queries::known_files(c, &owned)).await?;
    let root = PathBuf::from(folder);
    let (files, unreadable) = tokio::task::spawn_blocking(move || walk(&root))
        .await
        .unwrap_or_default();

    let mut summary = ScanSummary {
        seen: files.len() as u32,
        ..ScanSummary::default()
    };
    let mut gone: HashMap<String, ()> = known.keys().map(|k| (k.clone(), ())).collect();
    let mut todo = Vec::new();
    for file in files {
        let key = file.path.to_string_lossy().into_owned();
        gone.remove(&key);
        match known.get(&key) {
            Some(&(size, mtime)) if size == file.size && mtime == file.mtime => {
                summary.unchanged += 1
            }
            Some(_) => todo.push((file, true)),
            None => todo.push((file, false)),
        }
    }
    let mut state = Progress {
        seen: summary.seen,
        done: summary.unchanged,
        failed: 0,
        current: String::new(),
    };
    progress(state.clone());

    // Workers read files; this task stores their results in batches.
    let queue = Arc::new(Queue::new(todo.iter().map(|(f, _)| f.clone()).collect()));
    // Cover images already thumbnailed in this scan (an album's tracks share one).
    let seen_art = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let (results, outcomes) = mpsc::sync_channel::<Outcome>(BATCH);
    let mut handles = Vec::new();
    for i in 0..workers.max(1) {
        let queue = Arc::clone(&queue);
        let seen_art = Arc::clone(&seen_art);
        let results = results.clone();
        let folder = folder.to_string();
        handles.push(
            std::thread::Builder::new()
                .name(format!("earshot-scan-{i}"))
                .spawn(move || loop {
                    let Some(file) = queue.take() else { return };
                    if results.send(read_file(&folder, file, &seen_art)).is_err() {
                        return;
                    }
                })
                .expect("to start a scan thread"),
        );
    }
    drop(results);
    let updated: HashMap<String, bool> = todo
        .iter()
        .map(|(f, known)| (f.path.to_string_lossy().into_owned(), *known))
        .collect();
    let outcomes = Arc::new(Mutex::new(outcomes));
    loop {
        let receiver = Arc::clone(&outcomes);
        // Wait for one result, then take whatever else is ready, up to a batch.
        let batch = tokio::task::spawn_blocking(move || {
            let receiver = receiver.lock().expect("the results lock");
            let Ok(first) = receiver.recv() else {
                return Vec::new();
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            batch
        })
        .await
        .unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        for outcome in &batch {
            match outcome {
                Outcome::Track(track, _) => {
                    if updated.get(&track.track.path).copied().unwrap_or(false) {
                        summary.updated += 1;
                    } else {
                        summary.added += 1;
                    }
                    state.current = track.track.path.clone();
                }
                Outcome::Problem { path, .. } => {
                    summary.failed += 1;
                    state.failed += 1;
                    state.current = path.clone();
                }
            }
            state.done += 1;
        }
        let folder = folder.to_string();
        store.call(move |c| store_batch(c, &folder, batch)).await?;
        progress(state.clone());
    }
    // The workers are done (every sender is gone); joining them still waits on threads, so it
    // happens on the blocking pool.
    let _ = tokio::task::spawn_blocking(move || {
        for handle in handles {
            let _ = handle.join();
        }
    })
    .await;

    // Files gone since the last scan; folders that could not be read are reported, and their
    // files kept (an unmounted drive is not a deletion).
    let unreadable_dirs: Vec<String> = unreadable
        .iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect();
    let gone: Vec<String> = gone
        .into_keys()
        .filter(|path| {
            !unreadable_dirs
                .iter()
                .any(|d| path.starts_with(&format!("{d}/")))
        })
        .collect();
    let problems: Vec<(String, String)> = unreadable
        .into_iter()
        .map(|(p, reason)| (p.to_string_lossy().into_owned(), reason))
        .collect();
    summary.failed += problems.len() as u32;
    let folder_owned = folder.to_string();
    summary.removed = store
        .call(move |c| {
            let now = now_millis();
            for (path, reason) in &problems {
                queries::put_problem(c, &folder_owned, path, reason, -1, -1, now)?;
            }
            queries::remove_paths(c, &gone)
        })
        .await?;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

fn store_batch(
    conn: &mut rusqlite::Connection,
    folder: &str,
    batch: Vec<Outcome>,
) -> rusqlite::Result<()> {
    let now = now_millis();
    let tx = conn.transaction()?;
    for outcome in batch {
        match outcome {
            Outcome::Track(track, art) => {
                if let Some(art) = art {
                    queries::put_art(&tx, &art.hash, &art.mime, &art.data, art.thumb.as_deref())?;
                }
                queries::put_track(&tx, &track, now)?;
            }
            Outcome::Problem {
                path,
                reason,
                size,
                mtime,
            } => queries::put_problem(&tx, folder, &path, &reason, size, mtime, now)?,
        }
    }
    tx.commit()
}

/// Reads one file completely: never panics on its contents, always says what went wrong.
fn read_file(
    folder: &str,
    file: Found,
    seen_art: &Mutex<std::collections::HashSet<String>>,
) -> Outcome {
    let path_text = file.path.to_string_lossy().into_owned();
    if let Some(format) = unsupported_format(&file.path) {
        return Outcome::Problem {
            path: path_text,
            reason: ProbeError::UnsupportedCodec(format.to_string()).to_string(),
            size: file.size,
            mtime: file.mtime,
        };
    }
    let read = std::panic::catch_unwind(|| probe::read(&file.path)).unwrap_or_else(|_| {
        Err(ProbeError::Unreadable(
            "the decoder failed on this file (a bug in the decoder; the file is probably damaged)"
                .into(),
        ))
    });
    match read {
        Ok(Probed {
            tags,
            stream,
            mut art,
            hash,
        }) => {
            if let Some(art) = &mut art {
                let first = seen_art
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(art.hash.clone());
                if first {
                    art.thumb = probe::thumbnail(&art.data);
                }
            }
            let title = tags.title.clone().unwrap_or_else(|| {
                file.path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            // A compilation without an album artist tag is one album, not one per track artist.
            let album_artist = tags
                .album_artist
                .clone()
                .or_else(|| tags.compilation.then(|| VARIOUS_ARTISTS.to_string()))
                .or_else(|| tags.artists.first().cloned())
                .unwrap_or_default();
            let more = MoreTags {
                title_sort: tags.sort.title.unwrap_or_default(),
                artist_sort: tags.sort.artist.unwrap_or_default(),
                album_sort: tags.sort.album.unwrap_or_default(),
                album_artist_sort: tags.sort.album_artist.unwrap_or_default(),
            };
            Outcome::Track(
                Box::new(TrackRow {
                    track: Track {
                        path: path_text,
                        hash,
                        title,
                        artist: tags.artists.join(", "),
                        artists: tags.artists,
                        album: tags.album.unwrap_or_default(),
                        album_artist,
                        track_no: tags.track_no,
                        track_total: tags.track_total,
                        disc_no: tags.disc_no,
                        disc_total: tags.disc_total,
                        compilation: tags.compilation,
                        year: tags.year,
                        genre: tags.genre.unwrap_or_default(),
                        duration_ms: stream.duration_ms,
                        sample_rate: stream.sample_rate,
                        channels: stream.channels,
                        codec: stream.codec,
                        art: art.as_ref().map(|a| a.hash.clone()),
                    },
                    folder: folder.to_string(),
                    size: file.size,
                    mtime: file.mtime,
                    frames: stream.frames,
                    more,
                }),
                art,
            )
        }
        Err(error) => Outcome::Problem {
            path: path_text,
            reason: error.to_string(),
            size: file.size,
            mtime: file.mtime,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(dir: &Path, n: usize) -> Vec<Found> {
        (0..n)
            .map(|i| {
                let path = dir.join(format!("{i:03}.mp3"));
                // Every other file is missing: reading ahead must not mind.
                if i % 2 == 0 {
                    std::fs::write(&path, [0u8; 64]).unwrap();
                }
                Found {
                    path,
                    size: 64,
                    mtime: 0,
                }
            })
            .collect()
    }

    #[test]
    fn workers_taking_at_once_get_every_file_once_in_walk_order() {
        let dir = tempfile::tempdir().unwrap();
        let files = found(dir.path(), 3 * READ_AHEAD_FILES);
        let queue = Arc::new(Queue::new(files.clone()));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || {
                    let mut taken = Vec::new();
                    while let Some(file) = queue.take() {
                        taken.push(file.path);
                    }
                    taken
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            let taken = worker.join().unwrap();
            assert!(
                taken.windows(2).all(|w| w[0] < w[1]),
                "each worker's in order"
            );
            all.extend(taken);
        }
        all.sort();
        let expected: Vec<PathBuf> = files.into_iter().map(|f| f.path).collect();
        assert_eq!(all, expected);
        assert!(queue.take().is_none(), "and nothing after the last");
    }
}
