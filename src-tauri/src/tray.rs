//! The tray icon and its menu: Show Earshot, Play/Pause, Leave jam, Quit.
//!
//! The icon is there for as long as Earshot runs, so a window hidden on close (see `window.rs`)
//! can always be brought back; the menu follows what plays (Pause or Play, Leave jam only in a
//! jam). Menu clicks go to the engine like the window's own buttons (`TogglePause`, `LeaveJam`);
//! Quit exits the app, whose exit path shuts the engine down.
//!
//! A tray needs something on the desktop to show it. On Linux that is a StatusNotifier host (KDE,
//! most other desktops; GNOME only with the AppIndicator extension), reached through
//! libayatana-appindicator, which is loaded at run time: without the library, creating the icon
//! fails (the crate panics; we catch it), is logged, and Earshot runs without a tray. Without a
//! host the icon exists but nobody shows it: [`host_present`] asks the session bus, so closing the
//! window does not hide it where nothing could bring it back.

use earshot_engine::api::Request;
use earshot_engine::Engine;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};

use crate::window::{self, Music};

const SHOW: &str = "show";
const TOGGLE: &str = "toggle";
const LEAVE_JAM: &str = "leave-jam";
const QUIT: &str = "quit";

/// The tray icon and the menu items that change with what plays.
pub struct Tray {
    toggle: MenuItem<tauri::Wry>,
    leave_jam: MenuItem<tauri::Wry>,
    /// What the menu shows now: a jam reports its state every second or so, and the menu is
    /// only touched when something it shows changes.
    shown: std::sync::Mutex<Option<Music>>,
    // Kept so the icon stays for the app's lifetime.
    _icon: TrayIcon<tauri::Wry>,
}

impl Tray {
    /// Creates the tray icon, or logs why there is none.
    pub fn build(app: &AppHandle) -> Option<Tray> {
        // libappindicator-sys panics when neither libayatana-appindicator3 nor libappindicator3
        // can be loaded; a missing tray library must not take the app down with it.
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Tray::try_build(app)));
        match built {
            Ok(Ok(tray)) => Some(tray),
            Ok(Err(error)) => {
                tracing::warn!(%error, "no tray icon: closing the window will quit or minimise");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "no tray icon (on Linux: is libayatana-appindicator3-1 installed?): closing \
                     the window will quit or minimise"
                );
                None
            }
        }
    }

    fn try_build(app: &AppHandle) -> tauri::Result<Tray> {
        let show = MenuItem::with_id(app, SHOW, "Show Earshot", true, None::<&str>)?;
        let toggle = MenuItem::with_id(app, TOGGLE, "Play", false, None::<&str>)?;
        let leave_jam = MenuItem::with_id(app, LEAVE_JAM, "Leave jam", false, None::<&str>)?;
        let quit = MenuItem::with_id(app, QUIT, "Quit Earshot", true, None::<&str>)?;
        let separator = PredefinedMenuItem::separator(app)?;
        let menu = Menu::with_items(
            app,
            &[&show, &separator, &toggle, &leave_jam, &separator, &quit],
        )?;
        let mut builder = TrayIconBuilder::with_id("main")
            .tooltip("Earshot")
            .menu(&menu)
            // Windows users expect a left click to open the window and a right click the menu;
            // macOS shows the menu on a click; Linux trays always show the menu (no click events).
            .show_menu_on_left_click(!cfg!(windows))
            .on_tray_icon_event(on_icon_event)
            .on_menu_event(on_menu_event);
        if let Some(icon) = app.default_window_icon() {
            builder = builder.icon(icon.clone());
        }
        let icon = builder.build(app)?;
        Ok(Tray {
            toggle,
            leave_jam,
            shown: std::sync::Mutex::new(None),
            _icon: icon,
        })
    }

    /// Makes the menu match what plays now. On the main thread only (see
    /// `Desktop::show_in_tray`): there each change is made at once; from any other thread it
    /// would wait for the main thread, holding `shown`.
    pub fn show(&self, music: Music) {
        let mut shown = self
            .shown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *shown == Some(music) {
            return;
        }
        *shown = Some(music);
        let label = if music.playing { "Pause" } else { "Play" };
        let results = [
            self.toggle.set_text(label),
            self.toggle.set_enabled(music.has_track),
            self.leave_jam.set_enabled(music.in_jam),
        ];
        for result in results {
            if let Err(error) = result {
                tracing::warn!(%error, "cannot update the tray menu");
            }
        }
    }
}

fn on_icon_event(icon: &TrayIcon, event: TrayIconEvent) {
    if let TrayIconEvent::Click {
        button: MouseButton::Left,
        button_state: MouseButtonState::Up,
        ..
    } = event
    {
        if cfg!(windows) {
            window::bring_forward(icon.app_handle());
        }
    }
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        SHOW => window::bring_forward(app),
        TOGGLE => engine_call(app, Request::TogglePause),
        LEAVE_JAM => engine_call(app, Request::LeaveJam),
        QUIT => {
            tracing::info!("quit from the tray menu");
            app.exit(0);
        }
        other => tracing::warn!(id = other, "unknown tray menu item"),
    }
}

/// Sends `request` to the engine; a failure is logged (the tray has nowhere to show it).
fn engine_call(app: &AppHandle, request: Request) {
    let Some(engine) = app.try_state::<Engine>() else {
        return;
    };
    let engine = engine.inner().clone();
    tauri::async_runtime::spawn(async move {
        if let Err(error) = engine.call(request).await {
            tracing::warn!(%error, "a tray menu action failed");
        }
    });
}

/// Whether something on the desktop shows tray icons. On Linux: whether a StatusNotifier host's
/// watcher is on the session bus (a desktop extension can come and go, so the answer is kept for
/// [`HOST_ANSWER_KEPT`] only). Elsewhere the OS always has a notification area.
pub fn host_present() -> bool {
    #[cfg(target_os = "linux")]
    {
        let now = std::time::Instant::now();
        let mut last = HOST_ANSWER
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((at, present)) = *last {
            if still_fresh(at, now) {
                return present;
            }
        }
        // Asked from the window's close handler on the main thread: never wait long for a
        // session bus that does not answer (then there is no tray to speak of either). One
        // connection serves every question; while a question hangs, no other thread is started.
        if ASKING.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return last.is_some_and(|(_, present)| present);
        }
        let (answer, heard) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let _ = answer.send(status_notifier_watcher_on_bus());
            ASKING.store(false, std::sync::atomic::Ordering::SeqCst);
        });
        let present = heard
            .recv_timeout(std::time::Duration::from_secs(1))
            .unwrap_or(false);
        *last = Some((now, present));
        present
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// How long an answer about the tray host is kept: a close and the Settings page asking again
/// and again do not each cost a round trip (or a thread).
#[cfg(any(target_os = "linux", test))]
const HOST_ANSWER_KEPT: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(target_os = "linux")]
static HOST_ANSWER: std::sync::Mutex<Option<(std::time::Instant, bool)>> =
    std::sync::Mutex::new(None);

/// A question to the bus is under way (at most one thread asks at a time).
#[cfg(target_os = "linux")]
static ASKING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether an answer given at `at` still stands at `now`.
#[cfg(any(target_os = "linux", test))]
fn still_fresh(at: std::time::Instant, now: std::time::Instant) -> bool {
    now.saturating_duration_since(at) < HOST_ANSWER_KEPT
}

#[cfg(target_os = "linux")]
fn status_notifier_watcher_on_bus() -> bool {
    static CONNECTION: std::sync::Mutex<Option<zbus::blocking::Connection>> =
        std::sync::Mutex::new(None);
    let mut connection = CONNECTION
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if connection.is_none() {
        *connection = zbus::blocking::Connection::session().ok();
    }
    let Some(bus) = connection
        .as_ref()
        .and_then(|connection| zbus::blocking::fdo::DBusProxy::new(connection).ok())
    else {
        return false;
    };
    let names = [
        "org.kde.StatusNotifierWatcher",
        "org.freedesktop.StatusNotifierWatcher",
    ];
    let mut failed = false;
    let present = names.into_iter().any(|name| {
        zbus::names::BusName::try_from(name)
            .ok()
            .and_then(|name| match bus.name_has_owner(name) {
                Ok(owned) => Some(owned),
                Err(_) => {
                    failed = true;
                    None
                }
            })
            .unwrap_or(false)
    });
    if failed {
        // A broken connection is made again next time.
        *connection = None;
    }
    present
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn an_answer_about_the_tray_host_is_kept_for_a_few_seconds() {
        let at = Instant::now();
        assert!(still_fresh(at, at));
        assert!(still_fresh(
            at,
            at + HOST_ANSWER_KEPT - Duration::from_millis(1)
        ));
        assert!(!still_fresh(at, at + HOST_ANSWER_KEPT));
        // A clock read before the answer (another thread) is not "later".
        assert!(still_fresh(at + Duration::from_secs(1), at));
    }
}
