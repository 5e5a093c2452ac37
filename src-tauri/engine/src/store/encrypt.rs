//! Converting a plaintext database (from before encryption at rest) into an encrypted one, in
//! place, without losing a row.
//!
//! Order: open the plaintext file and run the same read-only checks and lock probe as a normal
//! open (a damaged, too-new or locked file is refused untouched); fold the WAL into the file
//! (`wal_checkpoint(TRUNCATE)`) so the copy sees every committed row; `sqlcipher_export` everything
//! (tables, indexes, triggers, views, FTS5 tables with their shadow tables) into
//! `earshot.sqlite3.encrypting` under the key, with the schema version; close, sync, and rename it
//! over the original, then sync the directory. A crash before the rename leaves the plaintext
//! file as it was (the half-made copy is discarded on the next start); after it, the encrypted
//! file is complete.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::open::{check, StoreOptions};
use super::StoreError;

/// The copy being made, beside the database.
fn copy_path(path: &Path) -> PathBuf {
    sibling(path, ".encrypting")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes a copy left by a conversion that was interrupted before its rename.
pub(super) fn discard_leftovers(path: &Path) {
    for leftover in [copy_path(path), sibling(path, ".encrypting-journal")] {
        if leftover.exists() {
            tracing::info!(path = %leftover.display(), "removing an unfinished encrypted copy");
            let _ = std::fs::remove_file(&leftover);
        }
    }
}

/// Encrypts the plaintext database at `path` in place under `cipher` (see the module notes).
pub(super) fn encrypt_in_place(
    path: &Path,
    options: &StoreOptions,
    cipher: &str,
) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::from_sqlite(path, e);
    let copy = copy_path(path);
    let open_error = |detail: String| StoreError::Open {
        path: path.to_path_buf(),
        detail,
    };
    tracing::info!(path = %path.display(), "encrypting the database (a plaintext file from an earlier version)");
    {
        // CREATE is for the attached copy (ATTACH inherits these flags); the file itself exists.
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(e.to_string()))?;
        conn.busy_timeout(options.busy_timeout).map_err(sqlite)?;
        check(&conn, path, false)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sqlite)?;
        // Every committed row into the main file, and the WAL emptied: nothing is left behind
        // in a plaintext WAL, and the export reads one consistent file.
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(sqlite)?;
        if busy != 0 {
            return Err(StoreError::Locked {
                path: path.to_path_buf(),
            });
        }
        let _ = std::fs::remove_file(&copy);
        let copy_name = copy
            .to_str()
            .ok_or_else(|| open_error("the data directory's path is not valid UTF-8".into()))?;
        let exported = conn
            .execute(
                "ATTACH DATABASE ?1 AS encrypted KEY ?2",
                [copy_name, cipher],
            )
            .and_then(|_| conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(())))
            .and_then(|()| conn.pragma_update(Some("encrypted"), "user_version", version))
            .and_then(|()| conn.execute_batch("DETACH DATABASE encrypted"));
        if let Err(e) = exported {
            drop(conn);
            let _ = std::fs::remove_file(&copy);
            return Err(open_error(format!(
                "encrypting the database failed ({e}); the plaintext file is unchanged"
            )));
        }
        conn.close().map_err(|(_, e)| sqlite(e))?;
    }
    // Closing the last connection removes an empty WAL; anything else means another program
    // wrote meanwhile, so the copy may be stale: keep the original.
    let wal = sibling(path, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        let _ = std::fs::remove_file(&copy);
        return Err(StoreError::Locked {
            path: path.to_path_buf(),
        });
    }
    let replace = || -> std::io::Result<()> {
        std::fs::File::open(&copy)?.sync_all()?;
        std::fs::rename(&copy, path)?;
        crate::keys::sync_dir(path);
        // The old shared-memory index described the plaintext file; SQLite rebuilds it.
        for stale in [wal.clone(), sibling(path, "-shm")] {
            match std::fs::remove_file(&stale) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    };
    replace().map_err(|e| {
        open_error(format!(
            "replacing the plaintext database with its encrypted copy failed: {e}"
        ))
    })?;
    tracing::info!(path = %path.display(), "the database is encrypted now");
    Ok(())
}
