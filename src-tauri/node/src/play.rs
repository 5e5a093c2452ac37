//! `earshot-node play FILE`: play one file through the real audio device, optionally starting
//! at an exact instant — how two processes are started "together" for a sync measurement:
//!
//! ```text
//! T=$(( $(date +%s%3N) + 3000 ))
//! earshot-node --data-dir A --offline play song.flac --at-unix-ms $T &
//! earshot-node --data-dir B --offline play song.flac --at-unix-ms $T &
//! ```
//!
//! It adds the file's folder to the library, schedules the track with `play_at`, and prints one
//! JSON line per sync report (`{"sync":{"error_us":…,"unix_ms":…}}`, stamped when printed) until
//! the track ends, `--seconds` pass, or Ctrl-C / SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use earshot_engine::api::{Event, PlaybackState, Request, Response};
use earshot_engine::{clock, Engine};
use serde_json::json;

use crate::{control, fail};

pub struct PlayArgs {
    pub file: PathBuf,
    pub at_unix_ms: Option<u64>,
    pub frame: u64,
    pub seconds: Option<f64>,
}

pub async fn run(engine: Engine, args: PlayArgs) -> ExitCode {
    match play(&engine, &args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

async fn play(engine: &Engine, args: &PlayArgs) -> Result<(), String> {
    let file = std::fs::canonicalize(&args.file)
        .map_err(|e| format!("cannot open {}: {e}", args.file.display()))?;
    let folder = file
        .parent()
        .unwrap_or(Path::new("/"))
        .to_string_lossy()
        .into_owned();
    let mut events = engine.subscribe();
    call(engine, Request::AddFolder { path: folder }).await?;
    // The folder's scan is done when it says so.
    loop {
        match events.recv().await {
            Ok(Event::ScanFinished(_)) => break,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let path = file.to_string_lossy().into_owned();
    let Response::Tracks { tracks } = call(
        engine,
        Request::ListTracks {
            query: None,
            album: None,
            artist: None,
        },
    )
    .await?
    else {
        return Err("unexpected answer to list_tracks".into());
    };
    let track = match tracks.into_iter().find(|t| t.path == path) {
        Some(track) => track,
        None => {
            let Response::ScanReport { problems } = call(engine, Request::ScanReport).await? else {
                return Err("unexpected answer to scan_report".into());
            };
            let reason = problems
                .into_iter()
                .find(|p| p.path == path)
                .map_or("it is not an audio file".to_string(), |p| p.reason);
            return Err(format!("cannot play {path}: {reason}"));
        }
    };
    let at_ns = match args.at_unix_ms {
        Some(ms) => clock::from_unix_ms(ms),
        None => clock::now_ns() + 300_000_000,
    };
    call(
        engine,
        Request::PlayAt {
            hash: track.hash,
            frame: args.frame,
            at_ns,
        },
    )
    .await?;
    let limit = async {
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s.max(0.0))).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(limit);
    loop {
        tokio::select! {
            () = &mut limit => return Ok(()),
            () = control::stop_signal() => return Ok(()),
            event = events.recv() => match event {
                Ok(Event::SyncReport { error_us, dropped, duplicated, jumps, restarts, ratio_ppm }) => {
                    println!("{}", json!({"sync": {"error_us": error_us, "dropped": dropped, "duplicated": duplicated, "jumps": jumps, "restarts": restarts, "ratio_ppm": ratio_ppm, "unix_ms": unix_ms()}}));
                }
                Ok(Event::PlayerMessage { message }) => eprintln!("earshot-node: {message}"),
                Ok(Event::PlayerChanged(state)) if state.state == PlaybackState::Stopped => return Ok(()),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// Now, in milliseconds since the Unix epoch: when a sync report was printed, on the clock
/// `--at-unix-ms` is given in, so a measurement can place it on its recording.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn call(engine: &Engine, request: Request) -> Result<Response, String> {
    engine.call(request).await.map_err(|e| e.message)
}
