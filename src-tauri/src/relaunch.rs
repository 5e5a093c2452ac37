//! Starting while the previous Earshot on the same data directory is still shutting down.
//!
//! On Quit the exiting app gives up its single-instance name first (see `lib.rs`), so a relaunch
//! or a clicked invite in the seconds its engine takes to shut down (up to ~15 s: player,
//! network and store each have a bounded wait) no longer hands its link to a window that is
//! going away. The new process instead becomes the instance, and finds the data directory's lock
//! still held by the old one. Rather than failing at once, it waits for that lock, but only while
//! the holder looks like an exiting app: an `earshot-node` (a relay, a script) holding the
//! directory is refused at once, as before.
//!
//! The holder is named by the pid the engine writes into its lock file (`earshot.lock`, see the
//! engine's `data_dir.rs`). On Linux its `/proc/<pid>/comm` tells the app (`earshot`) from
//! anything else, and its first argument the packaged headless peer (`earshot node …`) from the
//! app. `comm` stays readable until the process is reaped, unlike its command line, which reads
//! empty as soon as an exiting process has dropped its memory, before it closes the lock: an
//! `earshot` with an empty command line is an exiting app. Elsewhere the holder cannot be told
//! cheaply, and the wait is short.

use std::path::Path;
use std::time::Duration;

/// The engine's lock file in the data directory (the engine's `data_dir::LOCK_FILE`, private there).
const LOCK_FILE: &str = "earshot.lock";

/// The app's process name (`comm`, at most 15 bytes on Linux).
const APP_NAME: &str = "earshot";

/// What holds the data directory's lock, as far as this process can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The Earshot app: with the single-instance name free, one that is shutting down.
    App,
    /// Something else (an `earshot-node`, another program): waiting would not help.
    Other,
    /// Cannot tell (no pid in the lock file, not Linux, the process already gone).
    Unknown,
}

/// How long to keep retrying the engine's start while `holder` holds the data directory.
pub fn patience(holder: Holder) -> Duration {
    match holder {
        // Longer than the engine's worst shutdown (three 5 s bounded waits and the store's close).
        Holder::App => Duration::from_secs(20),
        // Covers the common quick shutdown without making an `earshot-node` user wait long for
        // the "in use" message.
        Holder::Unknown => Duration::from_secs(3),
        Holder::Other => Duration::ZERO,
    }
}

/// Who holds `dir`'s lock, from the pid in its lock file.
pub fn holder(dir: &Path) -> Holder {
    let Ok(text) = read_small(&dir.join(LOCK_FILE)) else {
        return Holder::Unknown;
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Holder::Unknown;
    };
    holder_of(pid)
}

#[cfg(target_os = "linux")]
fn holder_of(pid: u32) -> Holder {
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => {
            // Read lossily: only the first argument is looked at, and an unreadable command line
            // (the process is exiting) is empty.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            classify(&comm, &cmdline)
        }
        Err(_) => Holder::Unknown,
    }
}

#[cfg(not(target_os = "linux"))]
fn holder_of(_pid: u32) -> Holder {
    Holder::Unknown
}

/// The holder, from its process name (`/proc/<pid>/comm`, newline included) and its command line
/// (`/proc/<pid>/cmdline`, NUL-separated). The Linux packages run the headless peer as
/// `earshot node …` (`/usr/bin/earshot-node` is a script), which has the app's name: told apart by
/// its first argument. An exiting process's command line reads empty, and then it is the app.
pub fn classify(comm: &str, cmdline: &[u8]) -> Holder {
    if comm.trim_end_matches('\n') != APP_NAME {
        return Holder::Other;
    }
    match cmdline.split(|b| *b == 0).nth(1) {
        Some(b"node") => Holder::Other,
        _ => Holder::App,
    }
}

/// The lock file holds a pid: never read more than a few bytes of it.
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(32)
        .read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_app_is_waited_for_long() {
        assert_eq!(
            classify("earshot\n", b"earshot\0--data-dir\0/d\0"),
            Holder::App
        );
        assert_eq!(
            classify("earshot\n", b""),
            Holder::App,
            "exiting: no command line"
        );
        assert_eq!(
            classify("earshot\n", b"/usr/bin/earshot\0node\0relay\0"),
            Holder::Other,
            "the packaged headless peer"
        );
        assert_eq!(classify("earshot-node\n", b""), Holder::Other);
        assert_eq!(classify("python3\n", b""), Holder::Other);
        assert!(patience(Holder::App) >= Duration::from_secs(15));
        assert!(patience(Holder::Unknown) < patience(Holder::App));
        assert_eq!(patience(Holder::Other), Duration::ZERO);
    }

    #[test]
    fn a_lock_file_without_a_live_pid_is_unknown() {
        let dir = tempfile::tempdir().expect("temporary directory");
        assert_eq!(holder(dir.path()), Holder::Unknown);
        std::fs::write(dir.path().join(LOCK_FILE), "not a pid").expect("write");
        assert_eq!(holder(dir.path()), Holder::Unknown);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_live_holder_is_named_by_its_process_name() {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join(LOCK_FILE), std::process::id().to_string()).expect("write");
        // The test binary is not called `earshot`.
        assert_eq!(holder(dir.path()), Holder::Other);
    }
}
