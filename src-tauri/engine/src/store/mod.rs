//! The SQLite store (design §8): one connection, owned by one thread; everyone else holds a
//! cloneable [`Store`] handle and sends it closures through a bounded channel.
//!
//! The file is encrypted (SQLCipher, keyed from the data directory's key in `keys.rs`); its WAL
//! is encrypted too. A plaintext database from before encryption is converted in place on the
//! first start (`encrypt.rs`).
//!
//! Opening is careful because a user's history lives here. Before anything is written the file is
//! checked: a damaged file, one written by a newer Earshot, one the key does not open, or one
//! locked by another program gives a [`StoreError`] naming the file and what to do, and the file is
//! left exactly as it was. Only then is WAL switched on and the embedded migrations
//! (`migrations/NNNN_name.sql`) applied, all of them in one transaction.

mod encrypt;
mod open;
pub mod settings;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

pub use open::{looks_encrypted, migrations, StoreOptions};

use crate::keys::DataKey;

/// The database file's name inside the data directory.
pub const FILE_NAME: &str = "earshot.sqlite3";

/// Jobs waiting for the store thread; callers wait (back-pressure) beyond this.
const QUEUE_DEPTH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} is damaged or is not an Earshot database ({detail}); Earshot left it untouched. \
         Restore it from a backup, or move it away to start with an empty history"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} was written by a newer version of Earshot (schema {found}, this version knows up \
         to {known}); Earshot left it untouched. Update Earshot to open it"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    #[error(
        "{path} cannot be opened with this data directory's key: it was encrypted with another \
         key (earshot.key or the keyring entry does not belong to it), or it is damaged; Earshot \
         left it untouched. If you restored the database from a backup, restore earshot.key (and a \
         keyring entry) from the same backup; otherwise restore a backup of the database, or move \
         it away to start with an empty history"
    )]
    CannotDecrypt { path: PathBuf },
    #[error(
        "{path} is locked by another program; Earshot left it untouched. Close whatever holds it \
         (another Earshot, a database browser) and try again"
    )]
    Locked { path: PathBuf },
    #[error("cannot open the database {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("database error in {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the database has been closed")]
    Closed,
    /// A bug interrupted the operation (it panicked on the store thread). Its transaction, if
    /// any, was rolled back and the store goes on serving other calls.
    #[error(
        "an internal error interrupted a database operation on {path}; nothing was changed by it"
    )]
    Interrupted { path: PathBuf },
}

impl StoreError {
    /// Classifies a rusqlite error on `path`: damage and locks get their own advice.
    pub fn from_sqlite(path: &Path, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match source.sqlite_error_code() {
            Some(NotADatabase | DatabaseCorrupt) => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: source.to_string(),
            },
            Some(DatabaseBusy | DatabaseLocked) => StoreError::Locked {
                path: path.to_path_buf(),
            },
            _ => StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Command {
    Run(Job),
    Close,
}

/// A handle on the store thread. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Jobs for the thread that owns the connection.
    commands: mpsc::Sender<Command>,
    /// The database file, for error messages.
    path: PathBuf,
}

/// Signals that the store thread has finished (connection closed, WAL checkpointed).
pub struct Closed(oneshot::Receiver<()>);

impl Store {
    /// Opens (or creates) the database at `path`, encrypted under `key`, on a new thread owned by
    /// the store. A plaintext database is encrypted first.
    pub async fn open(
        path: &Path,
        options: StoreOptions,
        key: &DataKey,
    ) -> Result<(Store, Closed), StoreError> {
        let cipher_key = open::sqlcipher_key(key);
        let (commands, inbox) = mpsc::channel(QUEUE_DEPTH);
        let (opened_tx, opened_rx) = oneshot::channel();
        let (closed_tx, closed_rx) = oneshot::channel();
        let owned_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("earshot-store".into())
            .spawn(move || {
                match open::open(&owned_path, &options, &cipher_key) {
                    Ok(conn) => {
                        let _ = opened_tx.send(Ok(()));
                        run(conn, inbox, &owned_path);
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                    }
                }
                let _ = closed_tx.send(());
            })
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                detail: format!("cannot start the database thread: {e}"),
            })?;
        opened_rx.await.map_err(|_| StoreError::Closed)??;
        let store = Store {
            commands,
            path: path.to_path_buf(),
        };
        Ok((store, Closed(closed_rx)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the store thread with the connection and returns its result.
    /// rusqlite errors are classified against this store's file.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.commands
            .send(Command::Run(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        // The job was queued: a dropped answer means it panicked (the thread reports and goes on)
        // or the thread is gone.
        let result = answer.await.map_err(|_| {
            if self.commands.is_closed() {
                StoreError::Closed
            } else {
                StoreError::Interrupted {
                    path: self.path.clone(),
                }
            }
        })?;
        result.map_err(|e| StoreError::from_sqlite(&self.path, e))
    }

    /// Asks the thread to finish the queued jobs and close the connection.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }
}

impl Closed {
    /// Waits up to `timeout` for the store thread to finish; false if it did not.
    pub async fn wait(self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.0).await.is_ok()
    }
}

fn run(conn: Connection, mut inbox: mpsc::Receiver<Command>, path: &Path) {
    let mut conn = conn;
    while let Some(command) = inbox.blocking_recv() {
        match command {
            Command::Run(job) => {
                // A panicking job must not take the store down with it (every later call would
                // fail as "closed"): its transaction is rolled back as it unwinds, and the caller
                // gets `Interrupted`.
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
                if ran.is_err() {
                    tracing::error!(path = %path.display(), "a database operation panicked; the store goes on");
                }
            }
            Command::Close => break,
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(path = %path.display(), error = %e, "closing the database failed");
    }
}

/// Milliseconds since the Unix epoch, for `updated_at` columns.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyOptions;

    #[tokio::test]
    async fn a_panicking_operation_is_rolled_back_and_the_store_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            busy_timeout: Duration::from_millis(200),
            keys: KeyOptions::key_file_only(),
            unencrypted: false,
        };
        let key = DataKey::from_bytes_for_tests([7; 32]);
        let (store, closed) = Store::open(&dir.path().join(FILE_NAME), options, &key)
            .await
            .unwrap();
        let panicked = store
            .call(|c| -> rusqlite::Result<()> {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO settings (key, value, updated_at) VALUES ('x', '1', 0)",
                    [],
                )?;
                panic!("a bug in the middle of a transaction");
            })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Interrupted { .. })),
            "{panicked:?}"
        );
        let rows: i64 = store
            .call(|c| {
                c.query_row("SELECT count(*) FROM settings WHERE key = 'x'", [], |r| {
                    r.get(0)
                })
            })
            .await
            .expect("the store still answers");
        assert_eq!(rows, 0, "the interrupted transaction was rolled back");
        store.close().await;
        assert!(closed.wait(Duration::from_secs(5)).await);
    }
}
