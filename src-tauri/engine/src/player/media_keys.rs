//! OS media controls and media keys (MPRIS on Linux, SMTC on Windows, Now Playing on macOS)
//! through souvlaki: the desktop shows what plays, and its play/pause/next/previous/seek buttons
//! (and the keyboard's media keys) drive the player.
//!
//! One thread owns the `MediaControls` (an OS seam, conventions 6); a task forwards player events
//! to it and the OS's button presses back to the player. Without a session bus (a headless
//! server, CI) it logs why and does nothing else.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Duration;

use souvlaki::{
    MediaControlEvent, MediaControls, MediaMetadata, MediaPlayback, MediaPosition, PlatformConfig,
    SeekDirection,
};
use tokio::sync::{broadcast, mpsc};

use super::{CoverArt, Player};
use crate::api::{Event, PlaybackState, PlayerState, Request};

/// Jump of a plain "seek forward/backward" button.
const SEEK_STEP_MS: u64 = 10_000;

enum Update {
    /// The player's state, and the current track's cover as a `file://` URL.
    State(Box<PlayerState>, Option<String>),
    Position(u64),
}

/// Starts the media controls; returns at once.
pub fn start(events: broadcast::Receiver<Event>, player: Player, art: CoverArt) {
    let (updates, inbox) = sync_channel::<Update>(32);
    let (presses, pressed) = mpsc::channel::<MediaControlEvent>(32);
    let spawned = std::thread::Builder::new()
        .name("earshot-media-keys".into())
        .spawn(move || run(inbox, presses));
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the media controls");
        return;
    }
    tokio::spawn(forward_events(events, updates, art));
    tokio::spawn(obey(pressed, player));
}

/// Whether a session bus is there to attach to. Without one, libdbus would try to autolaunch a
/// bus through X11 (`dbus-launch`), which on a headless machine fails slowly or leaves a daemon
/// behind.
fn session_bus_available() -> bool {
    if !cfg!(target_os = "linux") || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        return true;
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .is_some_and(|dir| std::path::Path::new(&dir).join("bus").exists())
}

fn run(inbox: Receiver<Update>, presses: mpsc::Sender<MediaControlEvent>) {
    if !session_bus_available() {
        tracing::info!("no session bus: OS media controls are off");
        return;
    }
    // A per-process name, so several Earshots (the app, a demo friend) can share one session.
    let dbus_name = format!("earshot.instance{}", std::process::id());
    let config = PlatformConfig {
        display_name: "Earshot",
        dbus_name: &dbus_name,
        hwnd: None,
    };
    let mut controls = match MediaControls::new(config) {
        Ok(controls) => controls,
        Err(error) => {
            tracing::info!(?error, "no OS media controls");
            return;
        }
    };
    let attached = controls.attach(move |event| {
        let _ = presses.try_send(event);
    });
    if let Err(error) = attached {
        tracing::info!(?error, "no OS media controls (no session bus?)");
        return;
    }
    tracing::info!(name = %dbus_name, "media controls attached");
    let mut duration_ms = 0;
    let mut playing = PlaybackState::Stopped;
    while let Ok(update) = inbox.recv() {
        let result = match update {
            Update::State(state, cover) => {
                let current = state.current.as_deref();
                duration_ms = current.map_or(0, |t| t.duration_ms);
                playing = state.state;
                let metadata = controls.set_metadata(MediaMetadata {
                    title: current.map(|t| t.title.as_str()),
                    artist: current.map(|t| t.artist.as_str()),
                    album: current.map(|t| t.album.as_str()),
                    duration: current.map(|t| Duration::from_millis(t.duration_ms)),
                    cover_url: cover.as_deref(),
                });
                metadata.and_then(|()| controls.set_playback(playback(playing, state.position_ms)))
            }
            Update::Position(ms) if playing == PlaybackState::Playing => {
                controls.set_playback(playback(playing, ms.min(duration_ms)))
            }
            Update::Position(_) => Ok(()),
        };
        if let Err(error) = result {
            tracing::debug!(?error, "media controls update failed");
        }
    }
}

fn playback(state: PlaybackState, position_ms: u64) -> MediaPlayback {
    let progress = Some(MediaPosition(Duration::from_millis(position_ms)));
    match state {
        PlaybackState::Playing => MediaPlayback::Playing { progress },
        PlaybackState::Paused => MediaPlayback::Paused { progress },
        PlaybackState::Stopped => MediaPlayback::Stopped,
    }
}

async fn forward_events(
    mut events: broadcast::Receiver<Event>,
    updates: SyncSender<Update>,
    art_file: CoverArt,
) {
    let mut last_position = 0u64;
    loop {
        let update = match events.recv().await {
            Ok(Event::PlayerChanged(state)) => {
                last_position = state.position_ms;
                let art = state.current.as_ref().and_then(|t| t.art.clone());
                let cover = match art {
                    Some(hash) => art_file(hash)
                        .await
                        .map(|path| format!("file://{}", path.display())),
                    None => None,
                };
                Update::State(Box::new(state), cover)
            }
            // The OS extrapolates between updates; once a second is plenty.
            Ok(Event::PlayerPosition { position_ms, .. })
                if position_ms.abs_diff(last_position) >= 1000 =>
            {
                last_position = position_ms;
                Update::Position(position_ms)
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        // Dropped when the controls thread is behind: the next update supersedes it.
        let _ = updates.try_send(update);
    }
}

async fn obey(mut pressed: mpsc::Receiver<MediaControlEvent>, player: Player) {
    let mut position_ms = 0u64;
    while let Some(event) = pressed.recv().await {
        let request = match event {
            MediaControlEvent::Play => Request::Resume,
            MediaControlEvent::Pause | MediaControlEvent::Stop => Request::Pause,
            MediaControlEvent::Toggle => Request::TogglePause,
            MediaControlEvent::Next => Request::Next,
            MediaControlEvent::Previous => Request::Previous,
            MediaControlEvent::SetPosition(MediaPosition(at)) => Request::Seek {
                position_ms: at.as_millis() as u64,
            },
            MediaControlEvent::Seek(direction) | MediaControlEvent::SeekBy(direction, _) => {
                if let Ok(crate::api::Response::Player(state)) =
                    player.call(Request::GetPlayer).await
                {
                    position_ms = state.position_ms;
                }
                let step = match event {
                    MediaControlEvent::SeekBy(_, by) => by.as_millis() as u64,
                    _ => SEEK_STEP_MS,
                };
                Request::Seek {
                    position_ms: match direction {
                        SeekDirection::Forward => position_ms + step,
                        SeekDirection::Backward => position_ms.saturating_sub(step),
                    },
                }
            }
            MediaControlEvent::SetVolume(volume) => Request::SetVolume {
                volume: (volume.clamp(0.0, 1.0) * 100.0).round() as u8,
            },
            _ => continue,
        };
        if let Err(error) = player.call(request).await {
            tracing::info!(%error, "a media key could not be carried out");
        }
    }
}
