//! Folder watching: the OS tells us (inotify, FSEvents, ReadDirectoryChangesW through `notify`)
//! when something under a music folder is created, changed, renamed or removed, and the changed
//! path goes to the scanner, which rescans the folder once things settle. Without a watcher (the
//! OS refused one) the library still works; it just needs a manual rescan.
//!
//! Adding a recursive watch walks the whole folder tree (inotify watches each directory), and
//! removing one walks the watch list: both run on tokio's blocking pool, never on an async worker.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct Handle {
    watcher: Arc<Mutex<Option<notify::RecommendedWatcher>>>,
}

impl Handle {
    /// Starts the OS watcher; changed paths are sent on `changed` (dropped when it is full: a
    /// rescan is already due then).
    pub fn start(changed: mpsc::Sender<PathBuf>) -> Self {
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            ) {
                for path in event.paths {
                    let _ = changed.try_send(path);
                }
            }
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(error) => {
                tracing::warn!(%error, "cannot watch music folders; changes need a rescan");
                None
            }
        };
        Self {
            watcher: Arc::new(Mutex::new(watcher)),
        }
    }

    /// Watches every folder given, and everything under them.
    pub async fn watch(&self, folders: Vec<PathBuf>) {
        self.with_watcher(move |w| {
            for folder in folders {
                if let Err(error) = w.watch(&folder, RecursiveMode::Recursive) {
                    tracing::warn!(folder = %folder.display(), %error, "cannot watch a music folder");
                }
            }
        })
        .await;
    }

    pub async fn unwatch(&self, folder: PathBuf) {
        self.with_watcher(move |w| {
            let _ = w.unwatch(&folder);
        })
        .await;
    }

    /// Runs `work` on the watcher, if there is one, on the blocking pool.
    async fn with_watcher(
        &self,
        work: impl FnOnce(&mut notify::RecommendedWatcher) + Send + 'static,
    ) {
        let watcher = Arc::clone(&self.watcher);
        let done = tokio::task::spawn_blocking(move || {
            // A panic inside notify leaves nothing half-changed that matters here.
            let mut guard = watcher.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(w) = guard.as_mut() {
                work(w);
            }
        })
        .await;
        if let Err(error) = done {
            tracing::warn!(%error, "the folder watcher failed");
        }
    }
}
