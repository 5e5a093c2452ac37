//! The data directory (design §4): where it is, and making sure only one process uses it.
//!
//! It holds `identity.key`, `earshot.sqlite3` (+ WAL), `logs/` and, later, the audio cache.
//! `--data-dir` / `EARSHOT_DATA_DIR` override the per-OS default so several peers can run side by
//! side. A second process on the same directory is refused by an OS file lock on `earshot.lock`
//! held for the engine's lifetime; the lock disappears with the process, even after `kill -9`,
//! so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The environment variable that overrides the default data directory.
pub const ENV_VAR: &str = "EARSHOT_DATA_DIR";
const LOCK_FILE: &str = "earshot.lock";

/// The per-OS default: `~/.local/share/earshot` on Linux, `%APPDATA%\Earshot\data` on Windows,
/// `~/Library/Application Support/app.earshot.Earshot` on macOS.
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("app", "earshot", "Earshot").map(|d| d.data_dir().to_path_buf())
}

/// The directory to use: an explicit choice, else `EARSHOT_DATA_DIR`, else the per-OS default.
pub fn resolve(explicit: Option<PathBuf>) -> Result<PathBuf, DataDirError> {
    explicit
        .or_else(|| {
            std::env::var_os(ENV_VAR)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(default_dir)
        .ok_or(DataDirError::NoDefault)
}

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("no home directory to put Earshot's data in; pass --data-dir or set {ENV_VAR}")]
    NoDefault,
    #[error("cannot create the data directory {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another Earshot{holder} is already using the data directory {path}; \
         quit it first, or choose another directory with --data-dir or {ENV_VAR}"
    )]
    InUse { path: PathBuf, holder: String },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Exclusive use of a data directory, released on drop (or when the process dies).
#[derive(Debug)]
pub struct DataDirLock {
    dir: PathBuf,
    _file: File,
}

impl DataDirLock {
    /// Creates `dir` if needed and takes its lock, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<Self, DataDirError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        // The directory holds the identity key and private history: owner only.
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|source| DataDirError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(LOCK_FILE);
        let lock_error = |source| DataDirError::Lock {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let holder = if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (process {pid})")
                };
                return Err(DataDirError::InUse {
                    path: dir.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(lock_error(e)),
        }
        // Record our pid so the next one can name us; best effort, the lock is what counts.
        let _ = file
            .set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| write!(file, "{}", std::process::id()))
            .and_then(|_| file.flush());
        Ok(Self {
            dir: dir.to_path_buf(),
            _file: file,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let _first = DataDirLock::acquire(dir.path()).expect("the first lock to succeed");
        let second = DataDirLock::acquire(dir.path()).expect_err("the second lock to fail");
        let message = second.to_string();
        assert!(
            matches!(second, DataDirError::InUse { .. }),
            "unexpected error {second:?}"
        );
        assert!(
            message.contains(&std::process::id().to_string()),
            "message should name the holder: {message}"
        );
    }

    #[test]
    fn the_lock_is_released_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        drop(DataDirLock::acquire(dir.path()).unwrap());
        DataDirLock::acquire(dir.path()).expect("a dropped lock to be free again");
    }

    #[test]
    fn acquiring_creates_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        DataDirLock::acquire(&nested).expect("nested directories to be created");
        assert!(nested.is_dir());
    }

    #[test]
    fn an_explicit_directory_wins_over_the_environment() {
        let chosen = PathBuf::from("/tmp/chosen");
        assert_eq!(resolve(Some(chosen.clone())).unwrap(), chosen);
    }
}
