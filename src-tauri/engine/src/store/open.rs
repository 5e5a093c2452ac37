//! Opening the database file: the key, then checks that never write, then WAL and migrations.
//!
//! The file is SQLCipher (AES-256 pages with an HMAC each) under a raw key derived from the data
//! directory's key (`keys.rs`), so no password stretching runs on open. A plaintext file from
//! before encryption is converted first (`encrypt.rs`).

use std::path::Path;
use std::time::Duration;

use data_encoding::HEXLOWER;
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{Migrations, M};
use zeroize::Zeroizing;

use super::StoreError;
use crate::keys::{DataKey, KeyOptions};

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The purpose the database's SQLCipher key is derived for.
const KEY_CONTEXT: &str = "earshot 2026-11 earshot.sqlite3 SQLCipher raw key";
/// What every plaintext SQLite file starts with; an SQLCipher file has no readable header.
const PLAINTEXT_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The embedded migrations, in order (see `migrations/` at the repository root).
pub fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|(_, sql)| M::up(sql)).collect())
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long to wait for another program's lock before giving up with `Locked`.
    pub busy_timeout: Duration,
    /// Where the data directory's key is kept (the keyring, or a key file), for the engine.
    pub keys: KeyOptions,
    /// Keep the database in plaintext and leave a plaintext file as it is. Only for
    /// `earshot-node bench`, to measure what encryption costs; never set by the app.
    pub unencrypted: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        // Long enough to ride out another process's short write, short enough that a user
        // who double-launched is told promptly.
        Self {
            busy_timeout: Duration::from_secs(3),
            keys: KeyOptions::default(),
            unencrypted: false,
        }
    }
}

/// What the start of a database file says about it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Header {
    /// No file, or an empty one: a new database.
    None,
    /// A plaintext SQLite file (from before encryption).
    Plaintext,
    /// Anything else: an encrypted database, or something damaged.
    Opaque,
}

pub(super) fn header(path: &Path) -> std::io::Result<Header> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Header::None),
        Err(e) => return Err(e),
    };
    let mut start = Vec::with_capacity(PLAINTEXT_HEADER.len());
    file.by_ref()
        .take(PLAINTEXT_HEADER.len() as u64)
        .read_to_end(&mut start)?;
    Ok(if start.is_empty() {
        Header::None
    } else if start == PLAINTEXT_HEADER {
        Header::Plaintext
    } else {
        Header::Opaque
    })
}

/// Whether `path` holds a database that only a key can open (see `keys::unlock`).
pub fn looks_encrypted(path: &Path) -> bool {
    matches!(header(path), Ok(Header::Opaque))
}

/// The value for `PRAGMA key` and `ATTACH … KEY`: SQLCipher's raw-key form `x'<64 hex>'`.
pub(super) fn sqlcipher_key(key: &DataKey) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "x'{}'",
        HEXLOWER.encode(&key.derive(KEY_CONTEXT)[..])
    ))
}

/// How long [`sqlcipher_ready`] waits for another thread's SQLite start to finish.
const SQLCIPHER_START_WAIT: Duration = Duration::from_secs(2);

/// Waits, once per process, until SQLCipher can key a connection.
///
/// SQLite starts itself on the first connection a process opens, and marks itself started
/// *before* it runs SQLCipher's part of the start (`SQLITE_EXTRA_INIT`, outside its lock). A
/// second thread opening a connection in that moment sees SQLite started, and its `PRAGMA key`
/// fails ("An error occurred with PRAGMA key or rekey. PRAGMA key requires a key of one or more
/// characters…"): two engines starting together in one process (tests, benches) met it. So the
/// first keyed open keys a throwaway in-memory connection until that works — the start finishes
/// within microseconds, whichever thread (or test's own plain connection) began it — and every
/// other opener waits for that answer. Only a start that failed for good (no memory for
/// SQLCipher's locked heap, no randomness) outlasts the wait, and is reported.
fn sqlcipher_ready() -> Result<(), String> {
    static READY: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let started = std::time::Instant::now();
            loop {
                let probe = Connection::open_in_memory().and_then(|conn| {
                    conn.pragma_update(None, "key", format!("x'{}'", "0".repeat(64)))
                });
                match probe {
                    Ok(()) => return Ok(()),
                    Err(e) if started.elapsed() >= SQLCIPHER_START_WAIT => {
                        return Err(format!("SQLCipher did not start: {e}"))
                    }
                    Err(_) => std::thread::sleep(Duration::from_micros(200)),
                }
            }
        })
        .clone()
}

/// Opens the database at `path` with `cipher_key` (from [`sqlcipher_key`]).
pub(super) fn open(
    path: &Path,
    options: &StoreOptions,
    cipher_key: &str,
) -> Result<Connection, StoreError> {
    let sqlite = |e| StoreError::from_sqlite(path, e);
    let cipher = (!options.unencrypted).then_some(cipher_key);
    // 0. A database from before encryption is converted first (with the same checks as below).
    if let Some(cipher) = cipher {
        sqlcipher_ready().map_err(|detail| StoreError::Open {
            path: path.to_path_buf(),
            detail,
        })?;
        super::encrypt::discard_leftovers(path);
        let found = header(path).map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        if found == Header::Plaintext {
            super::encrypt::encrypt_in_place(path, options, cipher)?;
        }
    }
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Open {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    // The key must be the first thing the connection hears; it reads nothing by itself.
    if let Some(cipher) = cipher {
        conn.pragma_update(None, "key", cipher).map_err(sqlite)?;
    }
    conn.busy_timeout(options.busy_timeout).map_err(sqlite)?;

    // 1-2. Read-only checks, then the write lock.
    check(&conn, path, cipher.is_some())?;

    // 3. Now it is ours: WAL, foreign keys, migrations (one transaction for all of them).
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "WAL is not available; using {mode}");
    }
    // synchronous = FULL: every commit is fsynced before it returns, so a write acknowledged to
    // the window or to a peer survives a power cut (NORMAL would only lose the last commits, but
    // those are exactly the acknowledged ones). Scans batch 256 tracks per commit, so the cost is
    // small (see `earshot-node bench scan`).
    // A 32 MiB page cache (SQLite's default is 2 MiB): every page read from the encrypted file
    // is decrypted and its HMAC checked, so pages read once should stay decrypted in memory — a
    // 20,000-track library's tables and indexes fit. Only pages actually read take memory.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA cache_size = -32768;",
    )
    .map_err(sqlite)?;
    migrations().to_latest(&mut conn).map_err(|e| match e {
        rusqlite_migration::Error::RusqliteError { err, .. } => sqlite(err),
        other => StoreError::Open {
            path: path.to_path_buf(),
            detail: format!("migrating the schema failed: {other}"),
        },
    })?;
    Ok(conn)
}

/// The checks before anything is written: the file can be read (with its key), its schema is
/// not newer than ours, its pages look sound, and no one else holds its write lock.
pub(super) fn check(conn: &Connection, path: &Path, keyed: bool) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::from_sqlite(path, e);
    // 1. Reading user_version reads page 1: damage, or a key that does not fit, fails here.
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            // SQLCipher cannot tell a wrong key from a damaged first page: both fail its HMAC.
            Some(rusqlite::ErrorCode::NotADatabase) if keyed => StoreError::CannotDecrypt {
                path: path.to_path_buf(),
            },
            _ => sqlite(e),
        })?;
    let known = MIGRATIONS.len();
    if found > known as i64 {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    // A light structural check of the pages we have (the header alone can look fine).
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(sqlite)?;
    if check != "ok" {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: check,
        });
    }
    // 2. Take the write lock once, so a locked file is reported before anything changes.
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
        .map_err(sqlite)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Store, FILE_NAME};
    use super::*;

    fn fast() -> StoreOptions {
        StoreOptions {
            busy_timeout: Duration::from_millis(200),
            keys: KeyOptions::key_file_only(),
            unencrypted: false,
        }
    }

    fn key() -> DataKey {
        DataKey::from_bytes_for_tests([9; 32])
    }

    fn wal_of(path: &Path) -> std::path::PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push("-wal");
        name.into()
    }

    /// Whether `needle` occurs anywhere in the file (absent files contain nothing).
    fn file_contains(path: &Path, needle: &str) -> bool {
        let bytes = std::fs::read(path).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// Strings only the user's data contains, one per kind of private fact.
    const PROFILE_NAME: &str = "Zanzibar-Profile-Name";
    const FRIEND_NAME: &str = "Quetzal-Friend-Name";
    const TRACK_TITLE: &str = "Xylophone-Track-Title";

    fn write_private_facts(c: &Connection) -> rusqlite::Result<()> {
        c.execute(
            "INSERT INTO profile (id, display_name, updated_at) VALUES (1, ?1, 0)",
            [PROFILE_NAME],
        )?;
        c.execute(
            "INSERT INTO peers (peer_id, relationship, display_name, since) \
             VALUES ('12D3KooWfriend', 'friend', ?1, 0)",
            [FRIEND_NAME],
        )?;
        c.execute(
            "INSERT INTO folders (path, added_at) VALUES ('/music', 0)",
            [],
        )?;
        for i in 0..200 {
            c.execute(
                "INSERT INTO tracks (path, folder, hash, size, mtime, title, duration_ms, \
                 sample_rate, channels, codec, added_at) \
                 VALUES (?1, '/music', ?2, 1, 0, ?3, 1000, 44100, 2, 'mp3', 0)",
                (
                    format!("/music/{i:03}.mp3"),
                    format!("{i:064x}"),
                    format!("{TRACK_TITLE} {i}"),
                ),
            )?;
        }
        Ok(())
    }

    #[test]
    fn the_migrations_are_valid() {
        migrations()
            .validate()
            .expect("migrations to apply cleanly to an empty database");
    }

    #[tokio::test]
    async fn a_new_database_is_encrypted_in_wal_mode_with_foreign_keys_and_the_latest_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (store, _closed) = Store::open(&path, fast(), &key()).await.unwrap();
        let (mode, fk, version, cipher): (String, i64, i64, String) = store
            .call(|c| {
                Ok((
                    c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                    c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
                    c.query_row("PRAGMA user_version", [], |r| r.get(0))?,
                    c.query_row("PRAGMA cipher_version", [], |r| r.get(0))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(fk, 1);
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert!(!cipher.is_empty(), "SQLCipher is linked");
        assert!(looks_encrypted(&path), "no plaintext SQLite header");
    }

    #[tokio::test]
    async fn the_database_and_its_wal_hold_no_name_or_title_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (store, closed) = Store::open(&path, fast(), &key()).await.unwrap();
        store.call(|c| write_private_facts(c)).await.unwrap();
        // While open, the new pages sit in the WAL.
        let wal = wal_of(&path);
        assert!(
            std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0),
            "the WAL holds the writes"
        );
        for needle in [PROFILE_NAME, FRIEND_NAME, TRACK_TITLE] {
            for file in [&path, &wal] {
                assert!(
                    !file_contains(file, needle),
                    "{needle} in clear in {}",
                    file.display()
                );
            }
        }
        store.close().await;
        assert!(closed.wait(Duration::from_secs(5)).await);
        for needle in [PROFILE_NAME, FRIEND_NAME, TRACK_TITLE] {
            assert!(
                !file_contains(&path, needle),
                "{needle} in clear after close"
            );
        }

        // The same search finds them in a plaintext database, so it would have found them here.
        let plain_dir = tempfile::tempdir().unwrap();
        let plain = plain_dir.path().join(FILE_NAME);
        let options = StoreOptions {
            unencrypted: true,
            ..fast()
        };
        let (store, closed) = Store::open(&plain, options, &key()).await.unwrap();
        store.call(|c| write_private_facts(c)).await.unwrap();
        store.close().await;
        assert!(closed.wait(Duration::from_secs(5)).await);
        for needle in [PROFILE_NAME, FRIEND_NAME, TRACK_TITLE] {
            assert!(
                file_contains(&plain, needle),
                "control: {needle} in plaintext"
            );
        }
    }

    #[tokio::test]
    async fn full_text_search_works_in_the_encrypted_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (store, closed) = Store::open(&path, fast(), &key()).await.unwrap();
        store
            .call(|c| {
                c.execute_batch(
                    "CREATE VIRTUAL TABLE notes USING fts5(body);
                     INSERT INTO notes (body) VALUES ('listening together in sync'),
                                                     ('a quiet evening');",
                )
            })
            .await
            .unwrap();
        store.close().await;
        assert!(closed.wait(Duration::from_secs(5)).await);

        let (store, _closed) = Store::open(&path, fast(), &key()).await.unwrap();
        let found: Vec<String> = store
            .call(|c| {
                c.prepare("SELECT body FROM notes WHERE notes MATCH 'together'")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .await
            .unwrap();
        assert_eq!(found, ["listening together in sync"]);
        assert!(!file_contains(&path, "quiet evening"));
    }

    /// A round-1 database: plaintext, written by the schema as it was, with rows still in its WAL
    /// (copied while the writer was open, as after a crash).
    fn round_one_database(path: &Path) {
        let scratch = tempfile::tempdir().unwrap();
        let original = scratch.path().join(FILE_NAME);
        let mut conn = Connection::open(&original).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;")
            .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        write_private_facts(&conn).unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE notes USING fts5(body);
             INSERT INTO notes (body) VALUES ('a message about lunch');
             INSERT INTO settings VALUES ('net.relays', '[]', 0);",
        )
        .unwrap();
        assert!(
            std::fs::metadata(wal_of(&original)).unwrap().len() > 0,
            "the rows are in the WAL"
        );
        std::fs::copy(&original, path).unwrap();
        std::fs::copy(wal_of(&original), wal_of(path)).unwrap();
        drop(conn);
        assert!(!looks_encrypted(path));
    }

    #[tokio::test]
    async fn a_plaintext_database_is_encrypted_in_place_with_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        round_one_database(&path);

        let (store, closed) = Store::open(&path, fast(), &key()).await.unwrap();

        let (tracks, name, friend, notes, version, relays): (i64, String, String, i64, i64, i64) =
            store
                .call(|c| {
                    Ok((
                        c.query_row("SELECT count(*) FROM tracks", [], |r| r.get(0))?,
                        c.query_row("SELECT display_name FROM profile", [], |r| r.get(0))?,
                        c.query_row("SELECT display_name FROM peers", [], |r| r.get(0))?,
                        c.query_row(
                            "SELECT count(*) FROM notes WHERE notes MATCH 'lunch'",
                            [],
                            |r| r.get(0),
                        )?,
                        c.query_row("PRAGMA user_version", [], |r| r.get(0))?,
                        c.query_row(
                            "SELECT count(*) FROM settings WHERE key = 'net.relays'",
                            [],
                            |r| r.get(0),
                        )?,
                    ))
                })
                .await
                .unwrap();
        assert_eq!(tracks, 200, "every track survives");
        assert_eq!(name, PROFILE_NAME);
        assert_eq!(friend, FRIEND_NAME);
        assert_eq!(notes, 1, "full-text tables survive");
        assert_eq!(
            version,
            MIGRATIONS.len() as i64,
            "the schema version survives"
        );
        assert_eq!(relays, 1);
        store.close().await;
        assert!(closed.wait(Duration::from_secs(5)).await);

        assert!(looks_encrypted(&path));
        for needle in [PROFILE_NAME, FRIEND_NAME, TRACK_TITLE, "lunch"] {
            for file in [path.clone(), wal_of(&path)] {
                assert!(!file_contains(&file, needle), "{needle} left in clear");
            }
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("encrypting"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn a_database_the_key_does_not_open_is_reported_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (store, closed) = Store::open(&path, fast(), &key()).await.unwrap();
        store.call(|c| write_private_facts(c)).await.unwrap();
        store.close().await;
        assert!(closed.wait(Duration::from_secs(5)).await);
        let before = std::fs::read(&path).unwrap();

        let other = DataKey::from_bytes_for_tests([10; 32]);
        let error = Store::open(&path, fast(), &other)
            .await
            .err()
            .expect("the wrong key to be refused");

        assert!(
            matches!(error, StoreError::CannotDecrypt { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains("earshot.key"),
            "says what to restore: {message}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the file must not change"
        );
        assert!(!wal_of(&path).exists());
        // And the right key still opens it.
        Store::open(&path, fast(), &key()).await.unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_file_is_reported_by_name_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        // A plaintext header (so it is taken for a database from before encryption) over garbage.
        let mut garbage: Vec<u8> = (0..8192u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        garbage[..16].copy_from_slice(b"SQLite format 3\0");
        std::fs::write(&path, &garbage).unwrap();

        let error = Store::open(&path, fast(), &key())
            .await
            .err()
            .expect("a corrupt file to be refused");

        assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            garbage,
            "the file must not change"
        );
        assert!(!wal_of(&path).exists());
    }

    #[tokio::test]
    async fn a_file_from_a_newer_schema_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 999;")
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();

        let error = Store::open(&path, fast(), &key())
            .await
            .err()
            .expect("a newer schema to be refused");

        assert!(
            matches!(error, StoreError::TooNew { found: 999, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("newer version"), "{error}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the file must not change"
        );
    }

    #[tokio::test]
    async fn a_database_locked_by_another_program_is_reported_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch(
                "CREATE TABLE theirs (x); INSERT INTO theirs VALUES (1); BEGIN EXCLUSIVE;",
            )
            .unwrap();
        let before = std::fs::read(&path).unwrap();

        let error = Store::open(&path, fast(), &key())
            .await
            .err()
            .expect("a locked file to be refused");

        assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
        holder.execute_batch("COMMIT").unwrap();
        drop(holder);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the file must not change"
        );
    }

    #[tokio::test]
    async fn data_written_before_close_is_there_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (store, closed) = Store::open(&path, fast(), &key()).await.unwrap();
        store
            .call(|c| c.execute("INSERT INTO settings VALUES ('k', '1', 0)", []))
            .await
            .unwrap();
        store.close().await;
        assert!(closed.wait(Duration::from_secs(5)).await);

        let (store, _closed) = Store::open(&path, fast(), &key()).await.unwrap();
        let value: String = store
            .call(|c| {
                c.query_row("SELECT value FROM settings WHERE key = 'k'", [], |r| {
                    r.get(0)
                })
            })
            .await
            .unwrap();
        assert_eq!(value, "1");
    }
}
