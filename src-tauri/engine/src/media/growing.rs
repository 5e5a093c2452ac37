//! Files still arriving: a track fetched from a friend plays while its later ranges are on the
//! way (design §6 `transfer`, "streamed ahead of the play head").
//!
//! The fetcher registers the file by the name it will have when complete, with the part file it
//! appends to and the full size, and says how far it has written *verified* bytes. [`open`] hands
//! readers of a registered name a [`GrowingFile`] on the part: reads within what has arrived go
//! straight to the file; a read beyond it waits until the bytes arrive, the fetch fails (an
//! error, so the decoder stops the track cleanly), or nothing arrives for [`STALL`]. The fetcher
//! renames the part into place *before* it unregisters, so a reader opening the name meanwhile
//! finds the part or, once renamed, the complete file. The table is process-wide because the
//! decoder opens files by path on its own thread; every engine has its own data directory, so
//! names never clash.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

/// How long a reader waits for bytes that do not come before it gives up.
pub const STALL: Duration = Duration::from_secs(30);

static ARRIVING: LazyLock<Mutex<HashMap<PathBuf, Arc<Arrival>>>> = LazyLock::new(Mutex::default);

/// How much of a file has arrived.
#[derive(Debug)]
pub struct Arrival {
    /// The name it will have when complete (what readers open).
    path: PathBuf,
    /// Where its bytes are meanwhile.
    part: PathBuf,
    /// Its content hash, hex.
    hash: String,
    total: u64,
    state: Mutex<Progress>,
    changed: Condvar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    received: u64,
    failed: bool,
}

impl Arrival {
    /// Verified bytes written from the start of the file.
    pub fn received(&self) -> u64 {
        self.lock().received
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The name it will have when complete.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn failed(&self) -> bool {
        self.lock().failed
    }

    /// More bytes are in the file.
    pub fn advance(&self, received: u64) {
        self.lock().received = received.min(self.total);
        self.changed.notify_all();
    }

    /// The fetch stopped short: readers waiting for more get an error.
    pub fn fail(&self) {
        self.lock().failed = true;
        self.changed.notify_all();
    }

    /// Waits until byte `at` has arrived (true), or the fetch failed or stalled (false).
    fn wait_for(&self, at: u64) -> bool {
        let mut state = self.lock();
        loop {
            if state.received > at {
                return true;
            }
            if state.failed {
                return false;
            }
            let before = state.received;
            let (next, timeout) = self
                .changed
                .wait_timeout(state, STALL)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state = next;
            if timeout.timed_out() && state.received == before {
                return false;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn table() -> MutexGuard<'static, HashMap<PathBuf, Arc<Arrival>>> {
    ARRIVING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registers `path` as arriving into `part` (content hash `hash`), `received` of `total` bytes
/// there already. Removed again when the returned guard is dropped (the fetch ended, however).
pub fn register(path: &Path, part: &Path, hash: &str, total: u64, received: u64) -> Registered {
    let arrival = Arc::new(Arrival {
        path: path.to_path_buf(),
        part: part.to_path_buf(),
        hash: hash.to_string(),
        total,
        state: Mutex::new(Progress {
            received: received.min(total),
            failed: false,
        }),
        changed: Condvar::new(),
    });
    table().insert(path.to_path_buf(), arrival.clone());
    Registered {
        path: path.to_path_buf(),
        arrival,
    }
}

/// The arrival of `path`, when it is still arriving.
pub fn arriving(path: &Path) -> Option<Arc<Arrival>> {
    table().get(path).cloned()
}

/// The arrival of the track whose content hash is `hash` (hex), when one is under way.
pub fn arriving_hash(hash: &str) -> Option<Arc<Arrival>> {
    table().values().find(|a| a.hash == hash).cloned()
}

/// Opens `path` for reading: the part it is arriving into, followed as it grows, or the file
/// itself.
pub fn open(path: &Path) -> std::io::Result<Box<dyn symphonia::core::io::MediaSource>> {
    if let Some(arrival) = arriving(path) {
        match File::open(&arrival.part) {
            Ok(part) => return Ok(Box::new(GrowingFile::new(part, arrival))),
            // Renamed into place a moment ago: complete.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Box::new(File::open(path)?))
}

/// Keeps a path registered while alive; marks it failed when dropped before completion.
pub struct Registered {
    path: PathBuf,
    arrival: Arc<Arrival>,
}

impl Registered {
    pub fn arrival(&self) -> &Arc<Arrival> {
        &self.arrival
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if self.arrival.received() < self.arrival.total() {
            self.arrival.fail();
        }
        let mut table = table();
        if table
            .get(&self.path)
            .is_some_and(|a| Arc::ptr_eq(a, &self.arrival))
        {
            table.remove(&self.path);
        }
    }
}

/// A file opened for reading, which waits for bytes still arriving.
pub struct GrowingFile {
    file: File,
    arrival: Arc<Arrival>,
    position: u64,
}

impl GrowingFile {
    pub fn new(file: File, arrival: Arc<Arrival>) -> Self {
        Self {
            file,
            arrival,
            position: 0,
        }
    }
}

impl Read for GrowingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let total = self.arrival.total();
        if self.position >= total || buf.is_empty() {
            return Ok(0);
        }
        if !self.arrival.wait_for(self.position) {
            return Err(std::io::Error::other(
                "the rest of this track did not arrive from the friend",
            ));
        }
        let available = self.arrival.received() - self.position;
        let want = (buf.len() as u64).min(available) as usize;
        let n = self.file.read(&mut buf[..want])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for GrowingFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let total = self.arrival.total() as i128;
        let target = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(d) => total + d as i128,
            SeekFrom::Current(d) => self.position as i128 + d as i128,
        };
        if target < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a seek before the start",
            ));
        }
        self.position = self.file.seek(SeekFrom::Start(target as u64))?;
        Ok(self.position)
    }
}

impl symphonia::core::io::MediaSource for GrowingFile {
    /// Not while it arrives: a reader that may seek looks for chunks at the end of the file
    /// (WAV's trailing tags, for one), which would wait for the whole file before playing.
    fn is_seekable(&self) -> bool {
        false
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.arrival.total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_reader_gets_what_has_arrived_and_waits_for_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("t.part");
        let path = dir.path().join("t.wav");
        let mut writer = File::create(&part).unwrap();
        writer.write_all(b"hello").unwrap();
        let registered = register(&path, &part, "ab", 10, 5);
        assert!(arriving_hash("ab").is_some());
        let mut reader = open(&path).expect("the part, by the complete file's name");
        let mut buf = [0u8; 10];
        assert_eq!(reader.read(&mut buf).unwrap(), 5, "only what arrived");
        let late = std::thread::spawn(move || {
            writer.write_all(b"world").unwrap();
            registered.arrival().advance(10);
            registered
        });
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"world");
        std::fs::rename(&part, &path).unwrap();
        let mut reopened = Vec::new();
        open(&path).unwrap().read_to_end(&mut reopened).unwrap();
        assert_eq!(
            reopened, b"helloworld",
            "renamed but still registered: the complete file"
        );
        drop(late.join().unwrap());
        assert!(arriving(&path).is_none(), "removed when the fetch ends");
    }

    #[test]
    fn a_failed_fetch_is_an_error_for_the_reader_not_a_short_file() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("u.part");
        let path = dir.path().join("u.wav");
        std::fs::write(&part, b"abc").unwrap();
        let registered = register(&path, &part, "cd", 100, 3);
        let mut reader = open(&path).unwrap();
        drop(registered);
        let mut all = Vec::new();
        let err = reader.read_to_end(&mut all).unwrap_err();
        assert_eq!(all, b"abc");
        assert!(err.to_string().contains("did not arrive"));
    }
}
