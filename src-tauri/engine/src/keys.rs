//! The data directory's key: one random 256-bit secret that encrypts the database (SQLCipher, see
//! `store/`) and the identity key file (`identity.rs`), each under its own derived sub-key.
//!
//! `earshot.key` (owner-only, beside the data) records where the key is kept:
//! - `keyring <entry>`: in the OS keyring (Secret Service on Linux, Keychain on macOS, Credential
//!   Manager on Windows) under service [`KEYRING_SERVICE`] and user `<entry>`, a random id made for
//!   this data directory — peers with different `--data-dir`s on one machine never share an entry,
//!   and a moved directory keeps its key;
//! - `file <64 hex digits>`: the key itself, when no keyring answered at creation.
//!
//! The key is made on the first start: in the keyring when one answers within
//! [`KeyOptions::probe_timeout`] (a missing D-Bus fails at once; a hung one is abandoned), else in
//! the file. Where it went is logged and reported by `status` (`store_protection`). A key is never
//! made while an encrypted database or identity exists without one — that would only lock the
//! user out for good — and a key in the keyring never silently becomes a key file: a keyring that
//! does not answer later is an error saying what to do.
//!
//! Keyring calls run on a short-lived thread and are waited for with a timeout, because a locked
//! Secret Service can wait forever for a password prompt.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use data_encoding::HEXLOWER;
use zeroize::Zeroizing;

use crate::api::StoreProtection;

/// The file that says where the key is (and holds it when it is a key file).
pub const FILE_NAME: &str = "earshot.key";
/// The keyring service every Earshot entry is filed under.
pub const KEYRING_SERVICE: &str = "earshot";
/// Set to `off` to never ask the keyring (headless servers, tests): new keys go to a key file.
pub const ENV_VAR: &str = "EARSHOT_KEYRING";

/// The first line of `earshot.key`, for whoever opens it.
const HEADER: &str = "# Earshot: where the key that encrypts this data directory is kept. \
Back it up with the data; without it the database and identity cannot be read.\n";

/// A place outside the data directory where a secret can be kept: the OS keyring, or a fake in
/// tests. Calls may block (D-Bus, a password prompt); [`unlock`] bounds them with timeouts.
pub trait Keyring: Send + Sync + std::fmt::Debug + 'static {
    /// The secret filed under `entry`, or `None` when there is no such entry.
    fn get(&self, entry: &str) -> Result<Option<String>, String>;
    /// Files `secret` under `entry`, replacing any earlier one.
    fn set(&self, entry: &str, secret: &str) -> Result<(), String>;
}

/// The OS keyring, through the `keyring` crate.
#[derive(Debug, Default)]
pub struct SystemKeyring;

impl SystemKeyring {
    /// On Linux the keyring is a D-Bus service: without a session bus, libdbus would try to
    /// autolaunch one through X11 (`dbus-launch`), which fails slowly or leaves a daemon behind.
    fn reachable() -> Result<(), String> {
        if !cfg!(target_os = "linux") || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
            return Ok(());
        }
        let socket = std::env::var_os("XDG_RUNTIME_DIR")
            .map(|dir| Path::new(&dir).join("bus"))
            .filter(|bus| bus.exists());
        match socket {
            Some(_) => Ok(()),
            None => Err("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)".into()),
        }
    }
}

impl Keyring for SystemKeyring {
    fn get(&self, entry: &str) -> Result<Option<String>, String> {
        Self::reachable()?;
        match keyring::Entry::new(KEYRING_SERVICE, entry).and_then(|e| e.get_password()) {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn set(&self, entry: &str, secret: &str) -> Result<(), String> {
        Self::reachable()?;
        keyring::Entry::new(KEYRING_SERVICE, entry)
            .and_then(|e| e.set_password(secret))
            .map_err(|e| e.to_string())
    }
}

/// How [`unlock`] finds or makes the key.
#[derive(Debug, Clone)]
pub struct KeyOptions {
    /// The keyring to use; `None` keeps new keys in a key file.
    pub keyring: Option<Arc<dyn Keyring>>,
    /// How long making a new key waits for the keyring before choosing a key file. A present,
    /// unlocked Secret Service answers in milliseconds.
    pub probe_timeout: Duration,
    /// How long reading a key kept in the keyring waits: long enough to type a password when the
    /// keyring asks to be unlocked, short enough that a hung keyring is reported.
    pub read_timeout: Duration,
}

impl Default for KeyOptions {
    /// The OS keyring, unless `EARSHOT_KEYRING=off`.
    fn default() -> Self {
        let off = std::env::var(ENV_VAR).is_ok_and(|v| v.eq_ignore_ascii_case("off"));
        Self {
            keyring: if off {
                None
            } else {
                Some(Arc::new(SystemKeyring))
            },
            probe_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(30),
        }
    }
}

impl KeyOptions {
    /// Always a key file, never the keyring.
    pub fn key_file_only() -> Self {
        Self {
            keyring: None,
            ..Self::default()
        }
    }
}

/// The data directory's key. Its bytes never leave this module except as derived sub-keys.
pub struct DataKey {
    master: Zeroizing<[u8; 32]>,
    protection: StoreProtection,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("protection", &self.protection)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    /// Where the key is kept.
    pub fn protection(&self) -> StoreProtection {
        self.protection
    }

    /// A 256-bit sub-key for one use, named by `context` (BLAKE3's key derivation), so the
    /// database and the identity file never share a key.
    pub(crate) fn derive(&self, context: &str) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(blake3::derive_key(context, &self.master[..]))
    }

    /// A key from known bytes, for tests that need two different keys.
    #[doc(hidden)]
    pub fn from_bytes_for_tests(bytes: [u8; 32]) -> Self {
        Self {
            master: Zeroizing::new(bytes),
            protection: StoreProtection::KeyFile,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "this data directory ({dir}) holds encrypted data ({files}) but not the key that \
         encrypts it ({FILE_NAME} is missing); Earshot left everything untouched. Restore \
         {FILE_NAME} from the same backup as the data, or move the data directory away to start \
         afresh (friends will have to pair again)"
    )]
    Missing { dir: PathBuf, files: String },
    #[error(
        "{path} is damaged ({reason}); Earshot left it untouched. Restore it from a backup made \
         with the data"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "the key for the data directory {dir} is kept in the system keyring, which did not answer \
         ({detail}). Unlock or start your keyring (on Linux a Secret Service such as GNOME Keyring \
         or KWallet, on the same D-Bus session) and start Earshot again"
    )]
    KeyringUnavailable { dir: PathBuf, detail: String },
    #[error(
        "the system keyring has no entry for the data directory {dir} (service \
         \"{KEYRING_SERVICE}\", user \"{entry}\"), so its database and identity cannot be read. \
         Restore the keyring from a backup, or move the data directory away to start afresh \
         (friends will have to pair again)"
    )]
    KeyringEntryMissing { dir: PathBuf, entry: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where `earshot.key` says the key is.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    Keyring { entry: String },
    File { hex: String },
}

/// Loads the data directory's key, or makes one on a first start (see the module notes).
pub fn unlock(dir: &Path, options: &KeyOptions) -> Result<DataKey, KeyError> {
    let path = dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => load(dir, &path, &text, options),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let encrypted = encrypted_files(dir);
            if !encrypted.is_empty() {
                return Err(KeyError::Missing {
                    dir: dir.to_path_buf(),
                    files: encrypted.join(", "),
                });
            }
            create(&path, options)
        }
        Err(source) => Err(KeyError::Read { path, source }),
    }
}

/// Names of the files in `dir` that are already encrypted (so a key for them must exist).
fn encrypted_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if crate::store::looks_encrypted(&dir.join(crate::store::FILE_NAME)) {
        found.push(crate::store::FILE_NAME.to_string());
    }
    if crate::identity::looks_encrypted(&dir.join(crate::identity::KEY_FILE)) {
        found.push(crate::identity::KEY_FILE.to_string());
    }
    found
}

fn create(path: &Path, options: &KeyOptions) -> Result<DataKey, KeyError> {
    let master = Zeroizing::new(rand::random::<[u8; 32]>());
    let hex = Zeroizing::new(HEXLOWER.encode(&master[..]));
    if let Some(keyring) = &options.keyring {
        let entry = format!("data-dir-{}", HEXLOWER.encode(&rand::random::<[u8; 16]>()));
        match store_in_keyring(keyring, &entry, &hex, options.probe_timeout) {
            Ok(()) => {
                write_private(path, format!("{HEADER}keyring {entry}\n").as_bytes()).map_err(
                    |source| KeyError::Write {
                        path: path.to_path_buf(),
                        source,
                    },
                )?;
                tracing::info!(
                    protection = "keyring",
                    service = KEYRING_SERVICE,
                    entry = %entry,
                    "made the data directory's key and put it in the system keyring"
                );
                return Ok(DataKey {
                    master,
                    protection: StoreProtection::Keyring,
                });
            }
            Err(reason) => tracing::warn!(
                protection = "key_file",
                %reason,
                "no system keyring answered; the data directory's key is kept in {} (owner-only) instead",
                path.display()
            ),
        }
    } else {
        tracing::info!(
            protection = "key_file",
            "the keyring is not used (EARSHOT_KEYRING=off or by configuration); the key is kept in {}",
            path.display()
        );
    }
    let text = Zeroizing::new(format!("{HEADER}file {}\n", hex.as_str()));
    write_private(path, text.as_bytes()).map_err(|source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(DataKey {
        master,
        protection: StoreProtection::KeyFile,
    })
}

/// Files the key in the keyring and reads it back (some keyrings accept and drop secrets).
fn store_in_keyring(
    keyring: &Arc<dyn Keyring>,
    entry: &str,
    hex: &str,
    timeout: Duration,
) -> Result<(), String> {
    let keyring = Arc::clone(keyring);
    let entry = entry.to_string();
    let hex = Zeroizing::new(hex.to_string());
    with_timeout(timeout, move || -> Result<(), String> {
        keyring.set(&entry, &hex)?;
        match keyring.get(&entry)? {
            Some(back) if back.as_str() == hex.as_str() => Ok(()),
            Some(_) => Err("the keyring returned a different secret than it was given".into()),
            None => Err("the keyring did not keep the secret it was given".into()),
        }
    })
    .unwrap_or_else(|| Err(format!("no answer within {} s", timeout.as_secs_f32())))
}

fn load(dir: &Path, path: &Path, text: &str, options: &KeyOptions) -> Result<DataKey, KeyError> {
    let damaged = |reason: &str| KeyError::Damaged {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let location = parse(text).map_err(|reason: String| damaged(&reason))?;
    match location {
        Location::File { hex } => {
            let master = decode_key(&hex).map_err(|reason: String| damaged(&reason))?;
            restrict_to_owner(path);
            tracing::info!(
                protection = "key_file",
                "the data directory's key is kept in {}",
                path.display()
            );
            Ok(DataKey {
                master,
                protection: StoreProtection::KeyFile,
            })
        }
        Location::Keyring { entry } => {
            let unavailable = |detail: String| KeyError::KeyringUnavailable {
                dir: dir.to_path_buf(),
                detail,
            };
            let Some(keyring) = &options.keyring else {
                return Err(unavailable(format!(
                    "the keyring is turned off ({ENV_VAR}=off)"
                )));
            };
            let keyring = Arc::clone(keyring);
            let name = entry.clone();
            let answer = with_timeout(options.read_timeout, move || keyring.get(&name))
                .ok_or_else(|| {
                    unavailable(format!(
                        "no answer within {} s",
                        options.read_timeout.as_secs_f32()
                    ))
                })?
                .map_err(unavailable)?;
            let Some(hex) = answer.map(Zeroizing::new) else {
                return Err(KeyError::KeyringEntryMissing {
                    dir: dir.to_path_buf(),
                    entry,
                });
            };
            let master = decode_key(&hex).map_err(|reason| {
                unavailable(format!(
                    "its entry \"{entry}\" does not hold a key: {reason}"
                ))
            })?;
            tracing::info!(
                protection = "keyring",
                service = KEYRING_SERVICE,
                entry = %entry,
                "the data directory's key is kept in the system keyring"
            );
            Ok(DataKey {
                master,
                protection: StoreProtection::Keyring,
            })
        }
    }
}

fn parse(text: &str) -> Result<Location, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or("it names no key")?;
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["keyring", entry] => Ok(Location::Keyring {
            entry: entry.to_string(),
        }),
        ["file", hex] => Ok(Location::File {
            hex: hex.to_string(),
        }),
        _ => Err("its key line is neither `keyring <entry>` nor `file <key>`".into()),
    }
}

fn decode_key(hex: &str) -> Result<Zeroizing<[u8; 32]>, String> {
    let bytes = Zeroizing::new(
        HEXLOWER
            .decode(hex.trim().as_bytes())
            .map_err(|_| "the key is not hexadecimal".to_string())?,
    );
    let array: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("the key has {} bytes, not 32", bytes.len()))?;
    Ok(Zeroizing::new(array))
}

/// Runs `f` on its own thread and waits at most `timeout` for it; `None` when it did not answer
/// (the thread is left to finish or hang on its own: a blocked D-Bus call cannot be cancelled).
fn with_timeout<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("earshot-keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return None;
    }
    rx.recv_timeout(timeout).ok()
}

/// A key file someone made readable to others is put back to owner-only, with a warning.
fn restrict_to_owner(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the key file was readable by others; made it owner-only");
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes `bytes` to a temporary owner-only file, syncs it and renames it over `path`, then syncs
/// the directory, so a crash never leaves a half-written secret or loses a finished one.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A leftover temporary file could have wider permissions (the mode applies only to a file
    // being created): remove it and create a fresh one, failing rather than reusing one.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(path);
    Ok(())
}

/// Makes a rename in `path`'s directory durable (best effort; not possible on every OS).
pub(crate) fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_secret_is_never_written_into_a_leftover_readable_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("earshot.key");
        let tmp = dir.path().join("earshot.key.tmp");
        std::fs::write(&tmp, b"old").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"secret").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is owner-only");
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
    }

    /// A keyring in memory.
    #[derive(Debug, Default)]
    struct MemoryKeyring(Mutex<HashMap<String, String>>);

    impl Keyring for MemoryKeyring {
        fn get(&self, entry: &str) -> Result<Option<String>, String> {
            Ok(self.0.lock().unwrap().get(entry).cloned())
        }
        fn set(&self, entry: &str, secret: &str) -> Result<(), String> {
            self.0
                .lock()
                .unwrap()
                .insert(entry.to_string(), secret.to_string());
            Ok(())
        }
    }

    /// A keyring that is not there, as with no D-Bus session.
    #[derive(Debug)]
    struct NoKeyring;

    impl Keyring for NoKeyring {
        fn get(&self, _: &str) -> Result<Option<String>, String> {
            Err("no D-Bus session".into())
        }
        fn set(&self, _: &str, _: &str) -> Result<(), String> {
            Err("no D-Bus session".into())
        }
    }

    /// A keyring that never answers, as a hung D-Bus or an unanswered password prompt.
    #[derive(Debug)]
    struct HungKeyring;

    impl Keyring for HungKeyring {
        fn get(&self, _: &str) -> Result<Option<String>, String> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(None)
        }
        fn set(&self, _: &str, _: &str) -> Result<(), String> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(())
        }
    }

    fn with(keyring: impl Keyring) -> KeyOptions {
        KeyOptions {
            keyring: Some(Arc::new(keyring)),
            probe_timeout: Duration::from_millis(200),
            read_timeout: Duration::from_millis(200),
        }
    }

    fn same(a: &DataKey, b: &DataKey) -> bool {
        a.derive("test") == b.derive("test")
    }

    #[test]
    fn a_new_key_goes_to_the_keyring_when_one_answers_and_is_found_there_again() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Arc::new(MemoryKeyring::default());
        let options = KeyOptions {
            keyring: Some(keyring.clone()),
            ..with(NoKeyring)
        };
        let first = unlock(dir.path(), &options).unwrap();
        assert_eq!(first.protection(), StoreProtection::Keyring);
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        let (entry, secret) = keyring
            .0
            .lock()
            .unwrap()
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.clone()))
            .expect("an entry in the keyring");
        assert!(text.contains(&format!("keyring {entry}")), "{text}");
        assert!(
            !text.contains(&secret),
            "the key must not also be in the file"
        );

        let again = unlock(dir.path(), &options).unwrap();
        assert!(same(&first, &again), "the same key after a restart");
    }

    #[test]
    fn two_data_directories_get_two_keyring_entries() {
        let keyring = Arc::new(MemoryKeyring::default());
        let options = KeyOptions {
            keyring: Some(keyring.clone()),
            ..with(NoKeyring)
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key_a = unlock(a.path(), &options).unwrap();
        let key_b = unlock(b.path(), &options).unwrap();
        assert_eq!(keyring.0.lock().unwrap().len(), 2);
        assert!(!same(&key_a, &key_b));
    }

    #[test]
    fn with_no_keyring_the_key_goes_to_an_owner_only_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = unlock(dir.path(), &with(NoKeyring)).unwrap();
        assert_eq!(key.protection(), StoreProtection::KeyFile);
        let path = dir.path().join(FILE_NAME);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().any(|l| l.starts_with("file ")), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "mode was {mode:o}");
        }
        let again = unlock(dir.path(), &with(NoKeyring)).unwrap();
        assert!(same(&key, &again));
        assert_eq!(again.protection(), StoreProtection::KeyFile);
    }

    #[test]
    fn a_keyring_that_never_answers_falls_back_to_a_key_file_instead_of_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let key = unlock(dir.path(), &with(HungKeyring)).unwrap();
        assert_eq!(key.protection(), StoreProtection::KeyFile);
    }

    #[test]
    fn a_key_kept_in_a_keyring_that_stopped_answering_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Arc::new(MemoryKeyring::default());
        unlock(
            dir.path(),
            &KeyOptions {
                keyring: Some(keyring),
                ..with(NoKeyring)
            },
        )
        .unwrap();
        let before = std::fs::read(dir.path().join(FILE_NAME)).unwrap();

        for options in [
            with(NoKeyring),
            with(HungKeyring),
            KeyOptions::key_file_only(),
        ] {
            let error = unlock(dir.path(), &options).expect_err("no key without the keyring");
            assert!(
                matches!(error, KeyError::KeyringUnavailable { .. }),
                "{error:?}"
            );
            assert!(error.to_string().contains("Unlock or start"), "{error}");
        }
        assert_eq!(std::fs::read(dir.path().join(FILE_NAME)).unwrap(), before);
    }

    #[test]
    fn a_keyring_entry_that_vanished_is_reported_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        unlock(dir.path(), &with(MemoryKeyring::default())).unwrap();
        // Another (empty) keyring: the entry is gone.
        let error = unlock(dir.path(), &with(MemoryKeyring::default()))
            .expect_err("a missing entry to be refused");
        assert!(
            matches!(error, KeyError::KeyringEntryMissing { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("data-dir-"), "{error}");
    }

    #[test]
    fn no_key_is_made_while_encrypted_data_exists_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(crate::store::FILE_NAME);
        std::fs::write(&db, [0x5a; 4096]).unwrap();
        let error = unlock(dir.path(), &with(NoKeyring)).expect_err("no new key");
        assert!(matches!(error, KeyError::Missing { .. }), "{error:?}");
        assert!(error.to_string().contains(FILE_NAME), "{error}");
        assert!(!dir.path().join(FILE_NAME).exists());
        assert_eq!(std::fs::read(&db).unwrap(), vec![0x5a; 4096]);
    }

    #[test]
    fn a_damaged_key_file_is_reported_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        for text in ["", "file 12ab\n", "# only a comment\n", "vault x\n"] {
            std::fs::write(&path, text).unwrap();
            let error = unlock(dir.path(), &with(NoKeyring)).expect_err("a damaged key file");
            assert!(
                matches!(error, KeyError::Damaged { .. }),
                "{text:?}: {error:?}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let key = DataKey::from_bytes_for_tests([7; 32]);
        assert_ne!(key.derive("a"), key.derive("b"));
        assert_eq!(key.derive("a"), key.derive("a"));
    }
}
