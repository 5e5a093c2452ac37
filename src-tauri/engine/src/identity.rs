//! The peer's identity: an ed25519 keypair, which is also its libp2p identity (`PeerId`).
//!
//! Created on first start as `identity.key` (mode 0600) and reused after. The file is sealed with
//! a sub-key of the data directory's key (`keys.rs`): XChaCha20-Poly1305 over the libp2p protobuf
//! encoding, so a copy of the file alone reveals nothing and any change to it is detected. A file
//! from before encryption (the bare protobuf encoding) is sealed in place on the first start, with
//! the same key and so the same peer id.
//!
//! A damaged or undecryptable key file is never replaced: losing the key would silently make this
//! a different peer to every friend, so the engine refuses to start and says which file to look at.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

pub use libp2p_identity::{Keypair, PeerId};

use crate::keys::{self, DataKey};

pub const KEY_FILE: &str = "identity.key";

/// What a sealed key file starts with (and the AEAD's associated data). A bare protobuf encoding
/// starts with 0x08, so the two can never be confused.
const MAGIC: &[u8] = b"earshot identity v2\n";
/// The purpose the sealing sub-key is derived for.
const KEY_CONTEXT: &str = "earshot 2026-11 identity.key XChaCha20-Poly1305";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

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
    #[error(
        "the identity key {path} cannot be opened with this data directory's key: it was sealed \
         with another key, or it is damaged; Earshot left it untouched. Restore identity.key and \
         earshot.key from the same backup, or move identity.key away to start as a new peer \
         (friends will have to pair again)"
    )]
    CannotDecrypt { path: PathBuf },
    #[error("cannot write the identity key {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Loads the key in `dir`, or creates one if there is none; a plaintext key is sealed in place.
pub fn load_or_create(dir: &Path, key: &DataKey) -> Result<Keypair, IdentityError> {
    let path = dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) if bytes.starts_with(MAGIC) => open(&path, &bytes, key),
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let keypair =
                Keypair::from_protobuf_encoding(&bytes).map_err(|e| IdentityError::Damaged {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            write_sealed(&path, &keypair, key)?;
            tracing::info!(peer = %keypair.public().to_peer_id(), "sealed the plaintext identity key with the data directory's key");
            Ok(keypair)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            write_sealed(&path, &keypair, key)?;
            tracing::info!(peer = %keypair.public().to_peer_id(), "created a new identity");
            Ok(keypair)
        }
        Err(source) => Err(IdentityError::Read { path, source }),
    }
}

/// Whether the file at `path` is a sealed identity key (so the data directory's key must exist).
pub(crate) fn looks_encrypted(path: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut start))
        .is_ok_and(|()| start == MAGIC)
}

fn cipher(key: &DataKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(Key::from_slice(&key.derive(KEY_CONTEXT)[..]))
}

fn open(path: &Path, bytes: &[u8], key: &DataKey) -> Result<Keypair, IdentityError> {
    let body = &bytes[MAGIC.len()..];
    if body.len() < NONCE_LEN + TAG_LEN {
        return Err(IdentityError::Damaged {
            path: path.to_path_buf(),
            reason: "the file is cut short".into(),
        });
    }
    let (nonce, rest) = body.split_at(NONCE_LEN);
    let (sealed, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut plain = Zeroizing::new(sealed.to_vec());
    cipher(key)
        .decrypt_in_place_detached(
            XNonce::from_slice(nonce),
            MAGIC,
            &mut plain,
            Tag::from_slice(tag),
        )
        .map_err(|_| IdentityError::CannotDecrypt {
            path: path.to_path_buf(),
        })?;
    Keypair::from_protobuf_encoding(&plain).map_err(|e| IdentityError::Damaged {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Seals the key and writes it owner-only through a temporary file and a rename, so a crash
/// mid-write never leaves a half-written key.
fn write_sealed(path: &Path, keypair: &Keypair, key: &DataKey) -> Result<(), IdentityError> {
    let mut plain = Zeroizing::new(
        keypair
            .to_protobuf_encoding()
            .expect("an ed25519 keypair to encode"),
    );
    let nonce: [u8; NONCE_LEN] = rand::random();
    let tag = cipher(key)
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), MAGIC, &mut plain)
        .expect("XChaCha20-Poly1305 to seal a message of a few dozen bytes");
    let mut file = Vec::with_capacity(MAGIC.len() + NONCE_LEN + plain.len() + TAG_LEN);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&nonce);
    file.extend_from_slice(&plain);
    file.extend_from_slice(&tag);
    keys::write_private(path, &file).map_err(|source| IdentityError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_bytes_for_tests([1; 32])
    }

    #[test]
    fn the_same_identity_is_loaded_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), &key())
            .unwrap()
            .public()
            .to_peer_id();
        let second = load_or_create(dir.path(), &key())
            .unwrap()
            .public()
            .to_peer_id();
        assert_eq!(first, second);
    }

    #[test]
    fn the_key_file_holds_no_plaintext_key() {
        let dir = tempfile::tempdir().unwrap();
        let keypair = load_or_create(dir.path(), &key()).unwrap();
        let file = std::fs::read(dir.path().join(KEY_FILE)).unwrap();
        let secret = keypair.clone().try_into_ed25519().unwrap().secret();
        let secret: &[u8] = secret.as_ref();
        assert!(file.starts_with(MAGIC));
        assert!(
            !file.windows(secret.len()).any(|w| w == secret),
            "the secret key must not appear in the file"
        );
        assert!(looks_encrypted(&dir.path().join(KEY_FILE)));
    }

    #[test]
    fn a_plaintext_key_from_before_encryption_is_sealed_and_keeps_its_peer_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let old = Keypair::generate_ed25519();
        std::fs::write(&path, old.to_protobuf_encoding().unwrap()).unwrap();
        assert!(!looks_encrypted(&path));

        let loaded = load_or_create(dir.path(), &key()).unwrap();

        assert_eq!(loaded.public().to_peer_id(), old.public().to_peer_id());
        assert!(looks_encrypted(&path), "the file is sealed now");
        let again = load_or_create(dir.path(), &key()).unwrap();
        assert_eq!(again.public().to_peer_id(), old.public().to_peer_id());
    }

    #[test]
    fn a_key_sealed_with_another_key_is_refused_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        load_or_create(dir.path(), &key()).unwrap();
        let before = std::fs::read(&path).unwrap();

        let other = DataKey::from_bytes_for_tests([2; 32]);
        let error = load_or_create(dir.path(), &other).expect_err("the wrong key to be refused");

        assert!(
            matches!(error, IdentityError::CannotDecrypt { .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), &key()).unwrap();
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
        let error = load_or_create(dir.path(), &key()).expect_err("a damaged key to be refused");
        assert!(matches!(error, IdentityError::Damaged { .. }), "{error:?}");
        assert!(error.to_string().contains(&path.display().to_string()));
        assert_eq!(std::fs::read(&path).unwrap(), b"not a key");
    }
}
