//! The window shell: a switchboard between the web UI and the engine (conventions 8).
//!
//! It starts one [`Engine`] on the data directory, forwards the UI's `call` command to
//! [`Engine::call`], and re-emits every engine event to the window as the `engine-event` event.
//! No SQL, libp2p or audio here.
//!
//! Start-up order matters. The single-instance plugin runs first, inside `Builder::build`: if an
//! Earshot already runs on the same data directory ([`instance`]), this process hands it its
//! command line (so a clicked `earshot://` link reaches the running window) and exits 0. Only then
//! does the engine start and take the data directory's lock; if it cannot (for example a headless
//! `earshot-node` holds it, or no D-Bus session bus let the plugin find the other window), the app
//! says why on stderr and exits 2 before any window opens. An Earshot that is quitting gives up
//! its single-instance name before its engine's (slow) shutdown, so a relaunch in those seconds
//! waits for the data directory rather than handing its link to a window that is going away
//! ([`relaunch`]).
//!
//! Links never act on arrival: they wait in [`links::PendingLinks`] until the window takes them,
//! shows who they come from, and the user confirms.
//!
//! On Linux the web view draws without compositing where there is no GPU, and without WebKit's
//! memory-pressure monitor ([`rendering`]).
//!
//! The desktop behaviour (closing to the tray while music plays, the tray menu, the window's
//! remembered place, starting at login) is in [`window`], [`tray`], [`desktop`] (the shell's
//! settings file) and [`autostart`].

mod args;
mod autostart;
mod desktop;
mod first_view;
mod instance;
mod links;
mod notices;
mod relaunch;
#[cfg(target_os = "linux")]
mod rendering;
mod tray;
mod window;

use std::path::Path;
use std::process::ExitCode;

use earshot_engine::api::{ApiError, Event, Request, Response};
use earshot_engine::{data_dir, logging, Config, Engine};
use tauri::{AppHandle, Emitter, Manager, RunEvent, State};
use tauri_plugin_deep_link::DeepLinkExt;

use links::{PendingLinks, LINKS_PENDING};
use window::Desktop;

/// The window event carrying each engine event (payload: `api::Event`).
pub const ENGINE_EVENT: &str = "engine-event";

/// Forwards one API request from the window to the engine.
#[tauri::command]
async fn call(engine: State<'_, Engine>, request: Request) -> Result<Response, ApiError> {
    engine.call(request).await
}

/// Hands the window the `earshot://` links that arrived since it last asked (oldest first).
#[tauri::command]
fn take_pending_links(links: State<'_, PendingLinks>) -> Vec<String> {
    links.take()
}

/// Runs the app until its last window closes; returns the process's exit code.
pub fn run() -> ExitCode {
    let args = match args::Args::parse(std::env::args().skip(1)) {
        Ok(args::Parsed::Run(args)) => args,
        Ok(args::Parsed::Help) => {
            println!("{}", args::HELP);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("earshot: {message}\n\n{}", args::HELP);
            return ExitCode::from(2);
        }
    };
    // Before any thread and any web view: it may set WebKit's environment.
    #[cfg(target_os = "linux")]
    let web_view_env = rendering::choose();
    let dir = match data_dir::resolve(args.data_dir) {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    let default_dir = data_dir::default_dir();
    let on_default_dir = instance::is_default(&dir, default_dir.as_deref());
    let mut context = tauri::generate_context!();
    let instance_id =
        instance::identifier(&context.config().identifier, &dir, default_dir.as_deref());
    // The plugin names its D-Bus service after `dbus_id` on Linux, but its mutex (Windows) and
    // socket (macOS) after the app identifier, which Tauri also names the web view's profile
    // folder after: change the identifier only where the plugin needs it, so on Linux test and
    // demo data directories do not each leave a web view profile in ~/.local/share.
    if cfg!(not(target_os = "linux")) {
        context.config_mut().identifier = instance_id.clone();
    }

    let pending = PendingLinks::default();
    let had_link = args.link.is_some();
    if let Some(link) = args.link {
        pending.push(link);
    }
    let music = args.music;
    let (mut desktop, desktop_warnings) = Desktop::load(&dir);
    let absolute_dir = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
    let window_state_warnings =
        window::check_state_file(&absolute_dir.join(window::WINDOW_STATE_FILE));
    let exe = std::env::current_exe().ok();
    let autostart = autostart::entry(
        autostart::THIS_OS,
        &context
            .config()
            .product_name
            .clone()
            .unwrap_or_else(|| "Earshot".into()),
        &dir,
        on_default_dir,
        &instance_id,
        exe.as_deref(),
    );
    desktop.set_autostart_problem(autostart.problem);
    let app = tauri::Builder::default()
        // First, so a second process on this data directory hands over before anything else runs.
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .callback(handed_over)
                .dbus_id(instance_id)
                .build(),
        )
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        // Size and position per data directory (an absolute file name replaces the plugin's
        // directory, the app config folder, which every data directory would share).
        .plugin(
            tauri_plugin_window_state::Builder::new()
                .with_state_flags(window::state_flags())
                .with_filename(
                    absolute_dir
                        .join(window::WINDOW_STATE_FILE)
                        .to_string_lossy(),
                )
                .build(),
        )
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .app_name(autostart.name)
                .args(autostart.args)
                .build(),
        )
        .manage(pending)
        .manage(desktop)
        .on_window_event(window::on_window_event)
        .invoke_handler(tauri::generate_handler![
            call,
            take_pending_links,
            notices::open_link,
            first_view::first_view,
            window::get_desktop_settings,
            window::set_desktop_settings,
            window::quit
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            let engine = app.state::<Engine>().inner().clone();
            app.state::<Desktop>().start_tray(&handle);
            tauri::async_runtime::spawn(bridge_events(engine.clone(), handle.clone()));
            notices::follow_clicks(&handle);
            if let Some(music) = music {
                tauri::async_runtime::spawn(add_music(engine.clone(), music));
            }
            // Links the OS delivers while Earshot runs (macOS delivers even the first one this
            // way; on Linux and Windows a lone link handed over by a second process comes here
            // too, and again through `handed_over`: the queue keeps one).
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    queue_link(&handle, url.to_string());
                }
            });
            // Installed bundles declare the scheme (the .deb's desktop entry, the NSIS installer,
            // the .app's Info.plist), so only a development build registers it, at run time: a
            // debug build not under /usr or /opt (`dev_build`; the package test installs a debug
            // build there). A release build never does, so an installed Earshot leaves nothing in
            // ~/.local/share that removing the package would not remove. Only on the default data
            // directory: the registered command opens that one, and a test or second profile
            // should not rewrite the desktop's link handler. Off the start-up path: on Linux it
            // runs update-desktop-database and xdg-mime.
            #[cfg(any(target_os = "linux", windows))]
            if on_default_dir && dev_build() {
                let handle = app.handle().clone();
                tauri::async_runtime::spawn_blocking(move || {
                    if let Err(error) = handle.deep_link().register_all() {
                        tracing::warn!(%error, "cannot register the earshot:// link scheme");
                    }
                });
            }
            #[cfg(not(any(target_os = "linux", windows)))]
            let _ = on_default_dir;
            Ok(())
        })
        .build(context);
    let app = match app {
        Ok(app) => app,
        Err(e) => return fail(&format!("cannot open the window: {e}")),
    };
    // Still here: no other Earshot runs on this data directory (or none could be asked).
    let engine = match tauri::async_runtime::block_on(start_engine(&dir)) {
        Ok(engine) => engine,
        Err(e) if had_link => {
            // E.g. the directory is held by an `earshot-node`, or there was no session bus to
            // find the running window through: say where the link can still go.
            return fail(&format!(
                "{e}\nearshot: the link was not opened; paste it on the Friends page of the \
                 Earshot that is running"
            ));
        }
        Err(e) => return fail(&e),
    };
    let _log_guard = logging::init(&dir, "earshot");
    // Logged only now: setup runs inside `build`, before logging is set up.
    for warning in &desktop_warnings {
        tracing::warn!(%warning, "desktop settings");
    }
    for warning in &window_state_warnings {
        tracing::warn!(%warning, "window place");
    }
    #[cfg(target_os = "linux")]
    for choice in &web_view_env {
        tracing::info!(choice = %choice.describe(), "web view");
    }
    app.manage(engine.clone());
    app.run(move |app, event| {
        // macOS: a click on the Dock icon after the window was closed to the tray shows it.
        #[cfg(target_os = "macos")]
        if let RunEvent::Reopen {
            has_visible_windows: false,
            ..
        } = event
        {
            window::bring_forward(app);
        }
        if let RunEvent::Exit = event {
            // Give up the single-instance name before the slow part: a relaunch or a clicked
            // invite during the shutdown then starts a new instance (which waits for the data
            // directory, see `relaunch`) instead of handing its link to a window that is gone.
            tauri_plugin_single_instance::destroy(app);
            tauri::async_runtime::block_on(engine.shutdown());
        }
    });
    ExitCode::SUCCESS
}

/// Whether this is a development build, run from a checkout rather than installed: a debug
/// build whose executable is not under `/usr` or `/opt` (where packages put it).
#[cfg(any(target_os = "linux", windows))]
fn dev_build() -> bool {
    cfg!(debug_assertions) && std::env::current_exe().is_ok_and(|exe| !installed_path(&exe))
}

/// Whether `exe` is where a package installs programs.
#[cfg(any(target_os = "linux", windows, test))]
fn installed_path(exe: &Path) -> bool {
    exe.starts_with("/usr") || exe.starts_with("/opt")
}

/// Starts the engine on `dir`; while the directory's lock is held by an Earshot that is shutting
/// down (it gave up the single-instance name first, so this process got here), tries again until
/// that one lets go or [`relaunch::patience`] runs out.
async fn start_engine(dir: &Path) -> Result<Engine, earshot_engine::StartError> {
    use earshot_engine::data_dir::DataDirError;
    use earshot_engine::StartError;
    let started = std::time::Instant::now();
    let mut waited = false;
    loop {
        match Engine::start(Config::new(dir)).await {
            Err(StartError::DataDir(DataDirError::InUse { .. }))
                if started.elapsed() < relaunch::patience(relaunch::holder(dir)) =>
            {
                if !waited {
                    eprintln!(
                        "earshot: waiting for the Earshot that is quitting to let go of {}",
                        dir.display()
                    );
                    waited = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            result => return result,
        }
    }
}

/// A second `earshot` process on this data directory handed over its command line and exited:
/// bring the window forward and queue its link, if it had one, for the window to ask about.
fn handed_over(app: &AppHandle, argv: Vec<String>, cwd: String) {
    // At most once per FORWARD_EVERY: a page that opens earshot:// links in a loop (once the
    // browser's "always allow" is ticked) must not keep stealing the focus.
    static LAST_FORWARD: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let now = std::time::Instant::now();
    let mut last = LAST_FORWARD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if forward_due(*last, now) {
        *last = Some(now);
        window::bring_forward(app);
    }
    drop(last);
    match args::Args::parse(argv.into_iter().skip(1)) {
        Ok(args::Parsed::Run(args)) => {
            tracing::info!(
                link = args.link.is_some(),
                "another earshot process handed over"
            );
            if let Some(link) = args.link {
                queue_link(app, link);
            }
            // `--music` is for starting (`./dev run`), not for a handover: any process of this
            // user on the session bus could otherwise add a folder (`/`, a full-disk scan)
            // without asking.
            if args.music.is_some() {
                tracing::warn!(
                    cwd,
                    "ignored --music from another earshot process; add folders in the window"
                );
            }
        }
        Ok(args::Parsed::Help) => {}
        Err(message) => {
            tracing::warn!(%message, "another earshot process handed over arguments we cannot read")
        }
    }
}

/// How often a handover may bring the window forward.
const FORWARD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether a handover at `now` brings the window forward, the last one having done so at `last`.
fn forward_due(last: Option<std::time::Instant>, now: std::time::Instant) -> bool {
    last.is_none_or(|last| now.saturating_duration_since(last) >= FORWARD_EVERY)
}

/// Keeps `link` for the window and tells it one is waiting. Nothing else: the window asks the
/// user before anything goes on the network.
fn queue_link(app: &AppHandle, link: String) {
    if app.state::<PendingLinks>().push(link) {
        if let Err(error) = app.emit(LINKS_PENDING, ()) {
            tracing::warn!(%error, "cannot tell the window about a link");
        }
    }
}

/// Adds a music folder given at start, unless it is one already.
async fn add_music(engine: Engine, folder: std::path::PathBuf) {
    let path = std::fs::canonicalize(&folder).unwrap_or(folder);
    let path = path.to_string_lossy().into_owned();
    if let Ok(Response::Folders { folders }) = engine.call(Request::ListFolders).await {
        if folders.contains(&path) {
            return;
        }
    }
    match engine.call(Request::AddFolder { path }).await {
        Ok(_) => tracing::info!("added the music folder given at start"),
        Err(error) => tracing::warn!(%error, "the music folder given at start could not be added"),
    }
}

/// Re-emits engine events to the window until the engine stops; a new message also becomes an
/// OS notification while the window is not focused, and what plays reaches the tray and the
/// close decision.
async fn bridge_events(engine: Engine, app: tauri::AppHandle) {
    // Subscribed before asking what plays now, in the same task: an event that comes after the
    // answer is applied after it, and one the answer missed is still received.
    let mut events = engine.subscribe();
    window::read_music(engine.clone(), app.clone()).await;
    loop {
        match events.recv().await {
            Ok(event) => {
                app.state::<Desktop>().on_event(&app, &event);
                if let Event::MessageNotice {
                    conversation,
                    title,
                    author_name,
                    first_line,
                } = &event
                {
                    notices::show_unless_focused(
                        &app,
                        notices::notice(title, author_name, first_line),
                        conversation,
                    );
                }
                if let Err(error) = app.emit(ENGINE_EVENT, &event) {
                    tracing::warn!(%error, "cannot deliver an event to the window");
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the window fell behind; events were dropped");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn fail(message: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("earshot: {message}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_handovers_brings_the_window_forward_once() {
        let start = std::time::Instant::now();
        assert!(forward_due(None, start));
        assert!(!forward_due(Some(start), start));
        assert!(!forward_due(
            Some(start),
            start + FORWARD_EVERY - std::time::Duration::from_millis(1)
        ));
        assert!(forward_due(Some(start), start + FORWARD_EVERY));
    }

    #[test]
    fn packaged_executables_do_not_register_the_link_scheme() {
        assert!(installed_path(Path::new("/usr/bin/earshot")));
        assert!(installed_path(Path::new("/opt/Earshot/earshot")));
        assert!(!installed_path(Path::new(
            "/home/me/earshot/target/debug/earshot"
        )));
        assert!(!installed_path(Path::new("/usr-local-copy/earshot")));
    }
}
