//! Encryption at rest, through the engine: a data directory from before encryption is converted
//! on its first start with nothing lost, and a missing or wrong key stops start-up with a clear
//! error and no file changed. (The Secret Service path is in `keyring.rs`.)

use std::collections::BTreeMap;
use std::path::Path;

use earshot_engine::api::{Profile, Request, Response, Status, StoreProtection};
use earshot_engine::identity::{IdentityError, Keypair, KEY_FILE};
use earshot_engine::keys::{self, KeyError, KeyOptions};
use earshot_engine::store::{self, StoreOptions};
use earshot_engine::{Config, Engine, StartError};

const NAME: &str = "Marisol-Before-Encryption";

fn config(dir: &Path) -> Config {
    let mut config = Config::offline(dir);
    config.store.keys = KeyOptions::key_file_only();
    config.media_controls = false;
    config
}

async fn start(dir: &Path) -> Engine {
    match Engine::start(config(dir)).await {
        Ok(engine) => engine,
        Err(e) => panic!("the engine to start: {e}"),
    }
}

async fn status(engine: &Engine) -> Status {
    match engine.call(Request::Status).await.unwrap() {
        Response::Status(status) => status,
        other => panic!("status answered {other:?}"),
    }
}

async fn profile(engine: &Engine) -> Profile {
    match engine.call(Request::GetProfile).await.unwrap() {
        Response::Profile(profile) => profile,
        other => panic!("get_profile answered {other:?}"),
    }
}

/// Every file in `dir` (not the lock, which records the pid) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with("earshot.lock"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn contains(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A data directory as round 1 left it: a plaintext database written by the engine's own code
/// path (schema, settings, profile) and a bare protobuf `identity.key`, with no `earshot.key`.
async fn round_one_data_dir(dir: &Path) -> Keypair {
    let mut plain = config(dir);
    plain.store = StoreOptions {
        unencrypted: true,
        ..plain.store
    };
    let engine = Engine::start(plain)
        .await
        .expect("a plaintext engine to start");
    engine
        .call(Request::SetProfile {
            display_name: NAME.into(),
        })
        .await
        .unwrap();
    engine.shutdown().await;
    let keypair = Keypair::generate_ed25519();
    std::fs::write(dir.join(KEY_FILE), keypair.to_protobuf_encoding().unwrap()).unwrap();
    std::fs::remove_file(dir.join(keys::FILE_NAME)).unwrap();
    assert!(
        contains(&dir.join(store::FILE_NAME), NAME),
        "plaintext before"
    );
    keypair
}

#[tokio::test]
async fn a_data_directory_from_before_encryption_keeps_its_peer_id_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let old = round_one_data_dir(dir.path()).await;

    let engine = start(dir.path()).await;

    assert_eq!(engine.peer_id(), old.public().to_peer_id(), "same peer id");
    assert_eq!(profile(&engine).await.display_name, NAME);
    assert_eq!(
        status(&engine).await.store_protection,
        StoreProtection::KeyFile
    );
    let db = dir.path().join(store::FILE_NAME);
    assert!(store::looks_encrypted(&db));
    assert!(!contains(&db, NAME), "the name is no longer in clear");
    engine.shutdown().await;

    // And again: the converted directory opens like any other.
    let engine = start(dir.path()).await;
    assert_eq!(engine.peer_id(), old.public().to_peer_id());
    assert_eq!(profile(&engine).await.display_name, NAME);
    engine.shutdown().await;
    assert!(!contains(&db, NAME));
    assert!(!contains(
        &dir.path().join(format!("{}-wal", store::FILE_NAME)),
        NAME
    ));
}

#[tokio::test]
async fn a_missing_key_stops_start_up_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start(dir.path()).await;
    engine
        .call(Request::SetProfile {
            display_name: NAME.into(),
        })
        .await
        .unwrap();
    engine.shutdown().await;
    std::fs::remove_file(dir.path().join(keys::FILE_NAME)).unwrap();
    let before = snapshot(dir.path());

    let error = Engine::start(config(dir.path()))
        .await
        .err()
        .expect("no start without the key");

    assert!(
        matches!(error, StartError::Key(KeyError::Missing { .. })),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("earshot.key is missing"), "{message}");
    assert!(message.contains("Restore"), "says what to do: {message}");
    assert_eq!(snapshot(dir.path()), before, "no file changed or appeared");
}

#[tokio::test]
async fn a_key_from_another_data_directory_stops_start_up_and_changes_nothing() {
    let (mine, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&mine, &theirs] {
        start(dir.path()).await.shutdown().await;
    }
    std::fs::copy(
        theirs.path().join(keys::FILE_NAME),
        mine.path().join(keys::FILE_NAME),
    )
    .unwrap();
    let before = snapshot(mine.path());

    let error = Engine::start(config(mine.path()))
        .await
        .err()
        .expect("no start with the wrong key");

    assert!(
        matches!(
            error,
            StartError::Identity(IdentityError::CannotDecrypt { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("earshot.key"), "{error}");
    assert_eq!(snapshot(mine.path()), before);

    // With the identity out of the way, the database is refused the same way.
    std::fs::remove_file(mine.path().join(KEY_FILE)).unwrap();
    let before = snapshot(mine.path());
    let error = Engine::start(config(mine.path()))
        .await
        .err()
        .expect("no start with the wrong key");
    assert!(
        matches!(
            error,
            StartError::Store(store::StoreError::CannotDecrypt { .. })
        ),
        "{error:?}"
    );
    let mut after = snapshot(mine.path());
    // Only the new identity was written; the database is byte-for-byte what it was.
    after.remove(KEY_FILE);
    assert_eq!(after, before);
}
