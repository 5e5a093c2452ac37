//! Opening the database file: checks that never write, then WAL and migrations.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{Migrations, M};

use super::StoreError;

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The embedded migrations, in order (see `migrations/` at the repository root).
pub fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|(_, sql)| M::up(sql)).collect())
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long to wait for another program's lock before giving up with `Locked`.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        // Long enough to ride out another process's short write, short enough that a user
        // who double-launched is told promptly.
        Self {
            busy_timeout: Duration::from_secs(3),
        }
    }
}

pub(super) fn open(path: &Path, options: &StoreOptions) -> Result<Connection, StoreError> {
    let sqlite = |e| StoreError::from_sqlite(path, e);
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
    conn.busy_timeout(options.busy_timeout).map_err(sqlite)?;

    // 1. Read-only checks: reading the header finds damage; user_version finds a newer schema.
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sqlite)?;
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

    // 3. Now it is ours: WAL, foreign keys, migrations (one transaction for all of them).
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "WAL is not available; using {mode}");
    }
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
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

#[cfg(test)]
mod tests {
    use super::super::{Store, FILE_NAME};
    use super::*;

    fn fast() -> StoreOptions {
        StoreOptions {
            busy_timeout: Duration::from_millis(200),
        }
    }

    #[test]
    fn the_migrations_are_valid() {
        migrations()
            .validate()
            .expect("migrations to apply cleanly to an empty database");
    }

    #[tokio::test]
    async fn a_new_database_is_in_wal_mode_with_foreign_keys_and_the_latest_schema() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _closed) = Store::open(&dir.path().join(FILE_NAME), fast())
            .await
            .unwrap();
        let (mode, fk, version): (String, i64, i64) = store
            .call(|c| {
                Ok((
                    c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                    c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
                    c.query_row("PRAGMA user_version", [], |r| r.get(0))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(fk, 1);
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[tokio::test]
    async fn a_corrupt_file_is_reported_by_name_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let garbage: Vec<u8> = (0..8192u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        std::fs::write(&path, &garbage).unwrap();

        let error = Store::open(&path, fast())
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
        assert!(!dir.path().join(format!("{FILE_NAME}-wal")).exists());
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

        let error = Store::open(&path, fast())
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

        let error = Store::open(&path, fast())
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
        let (store, closed) = Store::open(&path, fast()).await.unwrap();
        store
            .call(|c| c.execute("INSERT INTO settings VALUES ('k', '1', 0)", []))
            .await
            .unwrap();
        store.close().await;
        assert!(closed.wait(Duration::from_secs(5)).await);

        let (store, _closed) = Store::open(&path, fast()).await.unwrap();
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
