//! How the main window behaves as a desktop window: what closing it does (hide to the tray, or
//! quit: `desktop::on_close`), remembering its size and position, and the Settings page's
//! commands for the shell's own settings (keep running in the tray, start at login).
//!
//! [`Desktop`] is the shell's managed state for this: the settings file, what plays now (followed
//! from the engine's events, for the close decision and the tray menu) and the tray, if one could
//! be made. Size and position are kept by `tauri-plugin-window-state` in `window-state.json` in the
//! data directory; the plugin saves only when the app exits normally, so the shell also saves a
//! second after the window last moved or changed size (a session ended by logout or a kill keeps
//! its place too).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use earshot_engine::api::{Event, PlaybackState, Request, Response};
use earshot_engine::Engine;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State, Window, WindowEvent};
use tauri_plugin_autostart::ManagerExt;
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

use crate::desktop::{self, CloseAction, DesktopSettings, KeepInTray};
use crate::tray::{self, Tray};

/// The window-state plugin's file, in the data directory.
pub const WINDOW_STATE_FILE: &str = "window-state.json";

/// The largest window side a saved state may give, and how far from the origin a saved position
/// may be, in physical pixels (no monitor arrangement reaches either).
const MAX_SIDE: u64 = 16_384;
const MAX_OFFSET: i64 = 100_000;

/// Drops the window places in the window-state file at `path` that no screen could show, before
/// the plugin reads it: the plugin adds position and size as unchecked `i32`s, so an `x` near
/// `i32::MAX` (a damaged or hostile file) panics in a debug build at every start until the file is
/// deleted, and a size of many thousands of pixels is restored as it is. Returns warnings for the
/// log; a file that is missing, not a regular file of at most 64 KiB, or not a JSON object is left
/// to the plugin (which ignores what it cannot read).
pub fn check_state_file(path: &std::path::Path) -> Vec<String> {
    let Ok(metadata) = std::fs::metadata(path) else {
        return Vec::new();
    };
    if !metadata.is_file() || metadata.len() > 64 * 1024 {
        let _ = std::fs::remove_file(path);
        return vec![format!(
            "{} is not a small regular file; the window opens at its default place",
            path.display()
        )];
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Object(mut places)) = serde_json::from_str(&text) else {
        return Vec::new();
    };
    let before = places.len();
    places.retain(|_, place| showable(place));
    if places.len() == before {
        return Vec::new();
    }
    let warning = format!(
        "{}: dropped {} saved window place(s) no screen could show",
        path.display(),
        before - places.len()
    );
    let text = serde_json::Value::Object(places).to_string();
    let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let written = std::fs::write(&temporary, text).and_then(|_| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
        let _ = std::fs::remove_file(path);
    }
    vec![warning]
}

/// Whether a saved window place has a sane size and position.
fn showable(place: &serde_json::Value) -> bool {
    let side = |key: &str| {
        place
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .is_some_and(|v| (1..=MAX_SIDE).contains(&v))
    };
    let offset = |key: &str| match place.get(key) {
        None => true,
        Some(value) => value
            .as_i64()
            .is_some_and(|v| (-MAX_OFFSET..=MAX_OFFSET).contains(&v)),
    };
    side("width") && side("height") && ["x", "y", "prev_x", "prev_y"].into_iter().all(offset)
}

/// What is remembered of the window: not visibility (a window closed to the tray must open
/// normally next time), decorations or full screen.
pub fn state_flags() -> StateFlags {
    StateFlags::SIZE | StateFlags::POSITION | StateFlags::MAXIMIZED
}

/// How long after the window last moved or changed size its place is saved: a drag sends dozens
/// of events a second, and one write at the end is enough.
const SAVE_AFTER: Duration = Duration::from_secs(1);

/// What plays now, as far as the window's closing and the tray menu care.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Music {
    /// Music is playing (alone or in a jam), not paused or stopped.
    pub playing: bool,
    /// This user is in a jam (playing or paused).
    pub in_jam: bool,
    /// There is something Play/Pause can act on.
    pub has_track: bool,
}

/// The shell's desktop state (managed by Tauri).
pub struct Desktop {
    path: PathBuf,
    settings: Mutex<DesktopSettings>,
    /// The player's part and the jam's part of what plays, kept apart because they arrive in
    /// separate events.
    player: Mutex<(bool, bool)>,
    jam: Mutex<Option<bool>>,
    tray: OnceLock<Option<Tray>>,
    saves: AtomicU64,
    /// Why an autostart entry would not start Earshot here (`autostart::Entry::problem`).
    autostart_problem: Option<String>,
}

impl Desktop {
    /// Reads the settings of data directory `dir`; returns the warnings about the file for the
    /// caller to log once logging runs.
    pub fn load(dir: &std::path::Path) -> (Desktop, Vec<String>) {
        let path = desktop::path_in(dir);
        let (settings, warnings) = desktop::load(&path);
        let desktop = Desktop {
            path,
            settings: Mutex::new(settings),
            player: Mutex::new((false, false)),
            jam: Mutex::new(None),
            tray: OnceLock::new(),
            saves: AtomicU64::new(0),
            autostart_problem: None,
        };
        (desktop, warnings)
    }

    /// Keeps why starting at login cannot work here: the switch then refuses to turn on.
    pub fn set_autostart_problem(&mut self, problem: Option<String>) {
        self.autostart_problem = problem;
    }

    /// Creates the tray (once, in setup).
    pub fn start_tray(&self, app: &AppHandle) {
        // The menu starts as "nothing plays"; `read_music` and the events update it through
        // `show_in_tray`, on the main thread.
        let _ = self.tray.set(Tray::build(app));
    }

    fn settings(&self) -> DesktopSettings {
        self.settings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn music(&self) -> Music {
        let (playing, has_track) = *self
            .player
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let jam = *self
            .jam
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Music {
            playing: playing || jam == Some(true),
            in_jam: jam.is_some(),
            has_track: has_track || jam.is_some(),
        }
    }

    /// Follows what plays from an engine event; the tray menu follows.
    pub fn on_event(&self, app: &AppHandle, event: &Event) {
        match event {
            Event::PlayerChanged(state) => self.set_player(
                state.state == PlaybackState::Playing,
                state.current.is_some(),
            ),
            Event::JamChanged { jam } => self.set_jam(jam.as_ref().map(|jam| jam.playing)),
            Event::JamEnded { .. } => self.set_jam(None),
            // Listed, not `_`: a new event that changes what plays must be a compile error here,
            // or the tray and the close decision would silently miss it.
            Event::ProfileChanged(_)
            | Event::ListenAddressesChanged { .. }
            | Event::FriendAdded(_)
            | Event::FriendUpdated(_)
            | Event::FriendRemoved { .. }
            | Event::RequestReceived(_)
            | Event::RequestsChanged
            | Event::BlockedChanged
            | Event::InvitesChanged
            | Event::EngineFault { .. }
            | Event::NearbyChanged { .. }
            | Event::ScanProgress { .. }
            | Event::ScanFinished(_)
            | Event::LibraryChanged
            | Event::QueueChanged(_)
            | Event::PlayerPosition { .. }
            | Event::PlayerMessage { .. }
            | Event::SyncReport { .. }
            | Event::ConversationsChanged
            | Event::MessageChanged(_)
            | Event::DeliveryChanged { .. }
            | Event::TransferProgress { .. }
            | Event::MessageNotice { .. }
            | Event::FriendActivityChanged(_)
            | Event::ActivitySettingsChanged(_)
            | Event::TrackAdded(_)
            | Event::JamInvitesChanged { .. }
            | Event::JamInvited(_) => return,
        }
        self.show_in_tray(app);
    }

    fn set_player(&self, playing: bool, has_track: bool) {
        *self
            .player
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = (playing, has_track);
    }

    fn set_jam(&self, jam: Option<bool>) {
        *self
            .jam
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = jam;
    }

    /// Makes the tray menu show what plays, without waiting: menu items can only be changed on
    /// the main thread, and from any other thread each change posts to it and blocks until it ran.
    /// Called from runtime tasks, that would hold a tokio worker while the main thread is busy (a
    /// close asking the session bus for a tray host) or for good at exit (the main thread sits in
    /// the engine's shutdown, which needs the workers). So the update is posted, and reads what
    /// plays when it runs: updates posted out of order still end on the latest state.
    fn show_in_tray(&self, app: &AppHandle) {
        if !matches!(self.tray.get(), Some(Some(_))) {
            return;
        }
        let handle = app.clone();
        let posted = app.run_on_main_thread(move || {
            let desktop = handle.state::<Desktop>();
            if let Some(Some(tray)) = desktop.tray.get() {
                tray.show(desktop.music());
            }
        });
        if let Err(error) = posted {
            tracing::warn!(%error, "cannot update the tray menu");
        }
    }

    /// Whether a closed window could be brought back from a tray icon.
    fn tray_available(&self) -> bool {
        matches!(self.tray.get(), Some(Some(_))) && tray::host_present()
    }

    /// Saves the window's place [`SAVE_AFTER`] from now, unless it moves again before then.
    fn save_place_soon(&self, app: &AppHandle) {
        let ticket = self.saves.fetch_add(1, Ordering::SeqCst) + 1;
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            tokio::time::sleep(SAVE_AFTER).await;
            if app.state::<Desktop>().saves.load(Ordering::SeqCst) != ticket {
                return;
            }
            // On the main thread: the plugin holds its cache's lock while it asks the window
            // for its place, which from another thread means waiting for the main thread, where
            // the plugin's own move handler may be waiting for that lock.
            let handle = app.clone();
            let queued = app.run_on_main_thread(move || {
                if let Err(error) = handle.save_window_state(state_flags()) {
                    tracing::warn!(%error, "cannot save the window's size and position");
                }
            });
            if let Err(error) = queued {
                tracing::warn!(%error, "cannot save the window's size and position");
            }
        });
    }
}

/// Asks the engine what plays at start (events keep it current afterwards).
pub async fn read_music(engine: Engine, app: AppHandle) {
    let desktop = app.state::<Desktop>();
    if let Ok(Response::Player(state)) = engine.call(Request::GetPlayer).await {
        desktop.set_player(
            state.state == PlaybackState::Playing,
            state.current.is_some(),
        );
    }
    if let Ok(Response::Jam { jam, .. }) = engine.call(Request::GetJam).await {
        desktop.set_jam(jam.map(|jam| jam.playing));
    }
    desktop.show_in_tray(&app);
}

/// Shows the main window, un-minimised, in front and focused.
pub fn bring_forward(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// The main window's events: closing (hide, minimise or quit) and moves (remembered).
pub fn on_window_event(window: &Window, event: &WindowEvent) {
    if window.label() != "main" {
        return;
    }
    let app = window.app_handle();
    let desktop = app.state::<Desktop>();
    match event {
        WindowEvent::CloseRequested { api, .. } => {
            let music = desktop.music();
            let setting = desktop.settings().keep_in_tray;
            let tray = desktop.tray_available();
            let action = desktop::on_close(setting, music.playing, music.in_jam, tray);
            tracing::info!(?setting, ?music, tray, ?action, "the window was closed");
            if let Err(error) = app.save_window_state(state_flags()) {
                tracing::warn!(%error, "cannot save the window's size and position");
            }
            let done = match action {
                CloseAction::Quit => return,
                CloseAction::HideToTray => {
                    api.prevent_close();
                    window.hide()
                }
                CloseAction::Minimise => {
                    api.prevent_close();
                    window.minimize()
                }
            };
            if let Err(error) = done {
                tracing::warn!(%error, "cannot hide the window; quitting instead");
                app.exit(0);
            }
        }
        WindowEvent::Moved(_) | WindowEvent::Resized(_) => desktop.save_place_soon(app),
        _ => {}
    }
}

/// The desktop settings as the Settings page shows them.
#[derive(Debug, Serialize)]
pub struct DesktopView {
    pub keep_in_tray: KeepInTray,
    /// Whether Earshot starts when the user logs in (whether the OS's autostart entry exists).
    pub autostart: bool,
    /// Why the autostart entry could not be read, if it could not.
    pub autostart_problem: Option<String>,
    /// Whether a tray shows Earshot's icon now (else "keep running" minimises the window).
    pub tray: bool,
}

/// A change from the Settings page; absent fields stay as they are.
#[derive(Debug, Deserialize)]
pub struct DesktopChange {
    pub keep_in_tray: Option<KeepInTray>,
    pub autostart: Option<bool>,
}

fn view(app: &AppHandle, desktop: &Desktop) -> DesktopView {
    let (autostart, autostart_problem) = match app.autolaunch().is_enabled() {
        // An entry written where it cannot work still shows as on, with the reason beside it.
        Ok(on) => (on, desktop.autostart_problem.clone()),
        Err(e) => (
            false,
            Some(format!("Cannot tell whether Earshot starts at login: {e}")),
        ),
    };
    DesktopView {
        keep_in_tray: desktop.settings().keep_in_tray,
        autostart,
        autostart_problem,
        tray: desktop.tray_available(),
    }
}

/// Quits Earshot (the Settings page's Quit button: where no tray shows Earshot's icon, a window
/// that keeps running when closed has no other way out).
#[tauri::command]
pub fn quit(app: AppHandle) {
    tracing::info!("quit from the window");
    app.exit(0);
}

/// The desktop settings, for the Settings page.
#[tauri::command]
pub async fn get_desktop_settings(
    app: AppHandle,
    desktop: State<'_, Desktop>,
) -> Result<DesktopView, String> {
    Ok(view(&app, &desktop))
}

/// Changes the desktop settings; answers with them as they are now.
#[tauri::command]
pub async fn set_desktop_settings(
    app: AppHandle,
    desktop: State<'_, Desktop>,
    change: DesktopChange,
) -> Result<DesktopView, String> {
    if let Some(keep_in_tray) = change.keep_in_tray {
        // The lock is held across the save, so two changes at once are saved one after the
        // other and the file and the state end on the same one.
        let mut current = desktop
            .settings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut settings = current.clone();
        settings.keep_in_tray = keep_in_tray;
        desktop::save(&desktop.path, &settings).map_err(|e| {
            format!(
                "Cannot save the setting in {}: {e}. Check that the data folder is writable.",
                desktop.path.display()
            )
        })?;
        *current = settings;
        drop(current);
        tracing::info!(?keep_in_tray, "keep in tray set");
    }
    if let Some(on) = change.autostart {
        if let (true, Some(problem)) = (on, &desktop.autostart_problem) {
            return Err(problem.clone());
        }
        let manager = app.autolaunch();
        let done = if on {
            manager.enable()
        } else {
            manager.disable()
        };
        done.map_err(|e| {
            let what = if on { "turn on" } else { "turn off" };
            format!("Cannot {what} starting at login: {e}")
        })?;
        tracing::info!(on, "start at login set");
    }
    Ok(view(&app, &desktop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(x: i64, width: u64) -> serde_json::Value {
        serde_json::json!({"width": width, "height": 600, "x": x, "y": 40, "prev_x": x,
            "prev_y": 40, "maximized": false, "visible": true, "decorated": true,
            "fullscreen": false})
    }

    #[test]
    fn saved_places_no_screen_could_show_are_dropped() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join(WINDOW_STATE_FILE);
        let file = serde_json::json!({
            "main": place(i64::from(i32::MAX), 800),
            "other": place(100, 800),
            "huge": place(0, 100_000),
        });
        std::fs::write(&path, file.to_string()).expect("write");
        let warnings = check_state_file(&path);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let left: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(left, serde_json::json!({"other": place(100, 800)}));
        // A sane file is left alone.
        assert!(check_state_file(&path).is_empty());
        assert!(check_state_file(&dir.path().join("missing.json")).is_empty());
    }
}
