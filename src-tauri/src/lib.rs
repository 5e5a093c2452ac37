//! The window shell: a switchboard between the web UI and the engine (conventions 8).
//!
//! It starts one [`Engine`] on the data directory, forwards the UI's `call` command to
//! [`Engine::call`], and re-emits every engine event to the window as the `engine-event` event.
//! No SQL, libp2p or audio here; if the engine cannot start (for example another Earshot already
//! uses the data directory) the app says why on stderr and exits non-zero before opening a window.

mod args;

use std::process::ExitCode;

use earshot_engine::api::{ApiError, Request, Response};
use earshot_engine::{data_dir, logging, Config, Engine};
use tauri::{Emitter, Manager, RunEvent, State};
use tauri_plugin_deep_link::DeepLinkExt;

/// The window event carrying each engine event (payload: `api::Event`).
pub const ENGINE_EVENT: &str = "engine-event";

/// Forwards one API request from the window to the engine.
#[tauri::command]
async fn call(engine: State<'_, Engine>, request: Request) -> Result<Response, ApiError> {
    engine.call(request).await
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
    let dir = match data_dir::resolve(args.data_dir) {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    let engine = match tauri::async_runtime::block_on(Engine::start(Config::new(&dir))) {
        Ok(engine) => engine,
        Err(e) => return fail(&e),
    };
    let _log_guard = logging::init(&dir, "earshot");

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_dialog::init())
        .manage(engine.clone())
        .invoke_handler(tauri::generate_handler![call])
        .setup(move |app| {
            let handle = app.handle().clone();
            let engine = app.state::<Engine>().inner().clone();
            tauri::async_runtime::spawn(bridge_events(engine.clone(), handle));
            if let Some(link) = args.link.clone() {
                tauri::async_runtime::spawn(open_link(engine.clone(), link));
            }
            if let Some(music) = args.music.clone() {
                tauri::async_runtime::spawn(add_music(engine.clone(), music));
            }
            // Links clicked while Earshot runs (macOS delivers even the first one this way).
            let opened = engine.clone();
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    tauri::async_runtime::spawn(open_link(opened.clone(), url.to_string()));
                }
            });
            // Installed bundles declare the scheme; a development build registers it at run time.
            #[cfg(any(target_os = "linux", windows))]
            if let Err(error) = app.deep_link().register_all() {
                tracing::warn!(%error, "cannot register the earshot:// link scheme");
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tauri::async_runtime::block_on(engine.shutdown());
            return fail(&format!("cannot open the window: {e}"));
        }
    };
    app.run(move |_, event| {
        if let RunEvent::Exit = event {
            tauri::async_runtime::block_on(engine.shutdown());
        }
    });
    ExitCode::SUCCESS
}

/// Opens an `earshot://` link given at start: today, redeems an invite. The window learns of the
/// new friend through the usual `friend_added` event.
async fn open_link(engine: Engine, link: String) {
    match engine.call(Request::RedeemInvite { link }).await {
        Ok(_) => tracing::info!("redeemed the invite given at start"),
        Err(error) => tracing::warn!(%error, "the invite given at start could not be redeemed"),
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

/// Re-emits engine events to the window until the engine stops.
async fn bridge_events(engine: Engine, app: tauri::AppHandle) {
    let mut events = engine.subscribe();
    loop {
        match events.recv().await {
            Ok(event) => {
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
