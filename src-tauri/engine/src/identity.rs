//! The peer's identity: an ed25519 keypair, which is also its libp2p identity (`PeerId`).
//!
//! Created on first start as `identity.key` (libp2p protobuf encoding, mode 0600) and reused after.
//! A damaged key file is never replaced: losing the key would silently make this a different
//! peer to every friend, so the engine refuses to start and says which file to look at.

use std::io::Write;
use std::path::{Path, PathBuf};

pub use libp2p_identity::{Keypair, PeerId};

pub const KEY_FILE: &str = "identity.key";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the identity key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the identity key {path} is damaged ({reason}); restore it from a backup, or move it \
         away to start as a new peer (friends will have to pair again)"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot write the identity key {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Loads the key in `dir`, or creates one if there is none.
pub fn load_or_create(dir: &Path) -> Result<Keypair, IdentityError> {
    let path = dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|e| IdentityError::Damaged {
            path: path.clone(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            write_new(&path, &keypair)?;
            tracing::info!(peer = %keypair.public().to_peer_id(), "created a new identity");
            Ok(keypair)
        }
        Err(source) => Err(IdentityError::Read { path, source }),
    }
}

/// Writes the key to a temporary file readable only by the owner, then renames it into place,
/// so a crash mid-write never leaves a half-written key.
fn write_new(path: &Path, keypair: &Keypair) -> Result<(), IdentityError> {
    let write_error = |source| IdentityError::Write {
        path: path.to_path_buf(),
        source,
    };
    let bytes = keypair
        .to_protobuf_encoding()
        .expect("an ed25519 keypair to encode");
    let tmp = path.with_extension("key.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(write_error)?;
    file.write_all(&bytes).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    std::fs::rename(&tmp, path).map_err(write_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_identity_is_loaded_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap().public().to_peer_id();
        let second = load_or_create(dir.path()).unwrap().public().to_peer_id();
        assert_eq!(first, second);
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode was {mode:o}");
    }

    #[test]
    fn a_damaged_key_is_reported_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, b"not a key").unwrap();
        let error = load_or_create(dir.path()).expect_err("a damaged key to be refused");
        assert!(matches!(error, IdentityError::Damaged { .. }), "{error:?}");
        assert!(error.to_string().contains(&path.display().to_string()));
        assert_eq!(std::fs::read(&path).unwrap(), b"not a key");
    }
}
