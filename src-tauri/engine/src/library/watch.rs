//! Folder watching: the OS tells us (inotify, FSEvents, ReadDirectoryChangesW through `notify`)
//! when something under a music folder is created, changed, renamed or removed, and the changed
//! path goes to the scanner, which rescans the folder once things settle. Without a watcher (the
//! OS refused one) the library still works; it just needs a manual rescan.

use std::path::{Path, PathBuf};
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

    pub fn watch(&self, folder: &Path) {
        if let Some(w) = self.watcher.lock().expect("the watcher lock").as_mut() {
            if let Err(error) = w.watch(folder, RecursiveMode::Recursive) {
                tracing::warn!(folder = %folder.display(), %error, "cannot watch a music folder");
            }
        }
    }

    pub fn unwatch(&self, folder: &Path) {
        if let Some(w) = self.watcher.lock().expect("the watcher lock").as_mut() {
            let _ = w.unwatch(folder);
        }
    }
}
