//! The first databases a process opens. SQLite starts itself on the first connection and marks
//! itself started before SQLCipher's part of the start has run, so stores opened in that moment
//! used to fail to key ("PRAGMA key requires a key of one or more characters"; CI met it when two
//! engine tests started together). This binary holds one test, so that its stores really are the
//! first SQLite use of the process. The moment is short: without `store::open::sqlcipher_ready`
//! this test failed in 2 of 1,000 runs of its binary (with 32 stores at once, 1 of 500), so one run
//! rarely catches a regression; a loop does (`for i in $(seq 1000); do <binary> -q || echo
//! failed; done`: 0 of 1,000 with it).

use std::sync::{Arc, Barrier};
use std::time::Duration;

use earshot_engine::keys::{DataKey, KeyOptions};
use earshot_engine::store::{Store, StoreOptions, FILE_NAME};

/// Stores opened at once, each on its own thread, beside one plain connection.
const AT_ONCE: usize = 8;

#[test]
fn stores_opened_at_the_same_instant_as_the_process_first_uses_sqlite_all_open() {
    let dirs: Vec<_> = (0..AT_ONCE).map(|_| tempfile::tempdir().unwrap()).collect();
    let start = Arc::new(Barrier::new(AT_ONCE + 1));
    // A plain connection starting SQLite in the same instant, as a test's own fixture might.
    let plain = {
        let start = start.clone();
        std::thread::spawn(move || {
            start.wait();
            rusqlite::Connection::open_in_memory().map(|_| ())
        })
    };
    let openers: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let path = dir.path().join(FILE_NAME);
            let start = start.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let options = StoreOptions {
                    keys: KeyOptions::key_file_only(),
                    ..StoreOptions::default()
                };
                let key = DataKey::from_bytes_for_tests([i as u8 + 1; 32]);
                start.wait();
                runtime.block_on(async {
                    let (store, closed) = Store::open(&path, options, &key).await?;
                    let version: i64 = store
                        .call(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
                        .await?;
                    store.close().await;
                    assert!(
                        closed.wait(Duration::from_secs(5)).await,
                        "store {i} did not close"
                    );
                    Ok::<_, earshot_engine::store::StoreError>(version)
                })
            })
        })
        .collect();

    plain.join().unwrap().expect("the plain connection to open");
    for (i, opener) in openers.into_iter().enumerate() {
        match opener.join().unwrap() {
            Ok(version) => assert!(version > 0, "store {i} was not migrated"),
            Err(e) => panic!("store {i} did not open: {e}"),
        }
    }
}
