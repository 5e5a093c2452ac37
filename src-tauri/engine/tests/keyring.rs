//! The data directory's key in a real Secret Service: `gnome-keyring-daemon` on a private
//! `dbus-daemon --session`, both started (and stopped) by the test, with a private home so no
//! real keyring is touched. One test in this binary, because it points the process's
//! `DBUS_SESSION_BUS_ADDRESS` at its own bus.
//!
//! Needs `dbus-daemon` (apt `dbus`) and `gnome-keyring-daemon` (apt `gnome-keyring`); the test
//! command installs both. Without them the test says so and passes, except under `CI`, where it
//! fails.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use earshot_engine::api::{Request, Response, StoreProtection};
use earshot_engine::keys::{self, KeyError, KeyOptions, Keyring, SystemKeyring};
use earshot_engine::{Config, Engine, StartError};

/// A session bus with a Secret Service whose login collection is unlocked; both die on drop.
struct SecretService {
    bus: Child,
    keyring: Option<Child>,
    address: String,
    _home: tempfile::TempDir,
}

impl SecretService {
    /// Starts both, or explains what is missing.
    fn start() -> Result<SecretService, String> {
        let home = tempfile::tempdir().map_err(|e| e.to_string())?;
        let runtime = home.path().join("run");
        std::fs::create_dir(&runtime).map_err(|e| e.to_string())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| e.to_string())?;
        }
        // A session bus with no service directories: nothing is activated behind our back (the
        // system's gnome-keyring would start with the real home once ours is stopped).
        let bus_config = home.path().join("session.conf");
        std::fs::write(
            &bus_config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig><type>session</type><listen>unix:dir={}</listen><auth>EXTERNAL</auth>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
                runtime.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", bus_config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            // It warns that it cannot raise its fd limit (a container): harmless.
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("dbus-daemon did not start ({e}); apt-get install dbus"))?;
        let mut address = String::new();
        std::io::BufReader::new(bus.stdout.take().expect("the bus's stdout"))
            .read_line(&mut address)
            .map_err(|e| e.to_string())?;
        let address = address.trim().to_string();
        let mut service = SecretService {
            bus,
            keyring: None,
            address,
            _home: home,
        };
        let home = service._home.path();
        // `--unlock` reads the login password from stdin, creates the login collection and
        // makes it the default one, unlocked — as a desktop session does at log-in.
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--foreground", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &service.address)
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("gnome-keyring-daemon did not start ({e}); apt-get install gnome-keyring")
            })?;
        let mut stdin = keyring.stdin.take().expect("the keyring's stdin");
        stdin.write_all(b"test").map_err(|e| e.to_string())?;
        drop(stdin);
        service.keyring = Some(keyring);
        Ok(service)
    }

    fn stop_keyring(&mut self) {
        if let Some(mut keyring) = self.keyring.take() {
            let _ = keyring.kill();
            let _ = keyring.wait();
        }
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        self.stop_keyring();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn config(dir: &Path) -> Config {
    let mut config = Config::offline(dir);
    config.store.keys = KeyOptions {
        keyring: Some(Arc::new(SystemKeyring)),
        ..KeyOptions::default()
    };
    config.media_controls = false;
    config
}

#[tokio::test]
async fn the_key_is_kept_in_a_secret_service_started_by_the_test() {
    let mut service = match SecretService::start() {
        Ok(service) => service,
        Err(reason) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("CI must run the keyring test: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping the Secret Service test: {reason}");
            return;
        }
    };
    // The only test in this binary, so no other thread reads the environment meanwhile.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &service.address);
    // The daemon registers on the bus a moment after it starts: wait until it answers.
    let probe = SystemKeyring;
    let mut answered = Err(String::new());
    for _ in 0..100 {
        answered = probe
            .set("earshot-test-probe", "ok")
            .and_then(|()| probe.get("earshot-test-probe"));
        if answered.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        answered,
        Ok(Some("ok".to_string())),
        "the test's Secret Service to answer"
    );

    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(config(dir.path())).await.expect("a start");
    let peer = engine.peer_id();
    let Response::Status(status) = engine.call(Request::Status).await.unwrap() else {
        panic!("status must answer with a Status");
    };
    assert_eq!(status.store_protection, StoreProtection::Keyring);
    engine
        .call(Request::SetProfile {
            display_name: "Keyring Kept".into(),
        })
        .await
        .unwrap();
    engine.shutdown().await;

    let locator = std::fs::read_to_string(dir.path().join(keys::FILE_NAME)).unwrap();
    let entry = locator
        .lines()
        .find_map(|l| l.strip_prefix("keyring "))
        .expect("earshot.key names a keyring entry")
        .trim()
        .to_string();
    let secret = probe
        .get(&entry)
        .unwrap()
        .expect("the key is in the keyring");
    assert!(!locator.contains(&secret), "and not in the data directory");

    // A second data directory gets its own entry.
    let other = tempfile::tempdir().unwrap();
    Engine::start(config(other.path()))
        .await
        .expect("a second peer")
        .shutdown()
        .await;
    let other_locator = std::fs::read_to_string(other.path().join(keys::FILE_NAME)).unwrap();
    assert!(other_locator.starts_with('#') && !other_locator.contains(&entry));

    // Restarted: the same peer and data, the key read back from the keyring.
    let engine = Engine::start(config(dir.path())).await.expect("a restart");
    assert_eq!(engine.peer_id(), peer);
    let Response::Profile(profile) = engine.call(Request::GetProfile).await.unwrap() else {
        panic!("get_profile must answer with a Profile");
    };
    assert_eq!(profile.display_name, "Keyring Kept");
    engine.shutdown().await;

    // With the keyring gone, start-up stops and says why; it never falls back to a new key.
    service.stop_keyring();
    let before = std::fs::read(dir.path().join(keys::FILE_NAME)).unwrap();
    let mut fast = config(dir.path());
    fast.store.keys.read_timeout = Duration::from_secs(5);
    let error = Engine::start(fast)
        .await
        .err()
        .expect("no start without the keyring");
    assert!(
        matches!(error, StartError::Key(KeyError::KeyringUnavailable { .. })),
        "{error:?}"
    );
    assert_eq!(
        std::fs::read(dir.path().join(keys::FILE_NAME)).unwrap(),
        before
    );
}
