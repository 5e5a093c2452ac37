//! `earshot-node jam-demo host|join`: two peers jamming from command lines, for measurements
//! that start players as commands (`tests/sync/jam_syncmeter.sh` with `../shared/syncmeter/`).
//!
//! ```text
//! earshot-node --data-dir A jam-demo host song.wav --pair-dir /tmp/pair &
//! earshot-node --data-dir B jam-demo join --pair-dir /tmp/pair [--file song.wav] &
//! ```
//!
//! The host adds FILE's folder to its library, writes an invite link to `<pair dir>/invite`,
//! waits for whoever redeems it to come online as a friend, plays FILE, starts a jam and invites
//! them. The guest (optionally with its own copy of FILE in its library; otherwise the host's
//! bytes stream to it) waits for the link, redeems it and accepts the invitation. Both print one
//! JSON line per jam change (`{"jam":{"sync":…,"offset_to_host_us":…}}`) and per sync report,
//! until `--seconds` pass, or Ctrl-C / SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use earshot_engine::api::{ErrorKind, Event, JamState, Request, Response};
use earshot_engine::Engine;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::{control, fail};

/// How long either side waits for the other.
const WAIT: Duration = Duration::from_secs(120);

#[derive(clap::Subcommand, Debug)]
pub enum Role {
    /// Jam FILE with whoever redeems the invite link written to the pair directory.
    Host {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Where the invite link is written (`invite`).
        #[arg(long, value_name = "DIR")]
        pair_dir: PathBuf,
        /// Stop after this many seconds [default: on Ctrl-C / SIGTERM].
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Redeem the host's link and accept its jam invitation.
    Join {
        /// Where the host writes its invite link.
        #[arg(long, value_name = "DIR")]
        pair_dir: PathBuf,
        /// Our own copy of the track (added to our library first); without it the host's
        /// bytes stream to us.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Stop after this many seconds [default: on Ctrl-C / SIGTERM].
        #[arg(long)]
        seconds: Option<f64>,
    },
}

pub async fn run(engine: Engine, role: Role) -> ExitCode {
    let seconds = match &role {
        Role::Host { seconds, .. } | Role::Join { seconds, .. } => *seconds,
    };
    let mut events = engine.subscribe();
    let setup = match role {
        Role::Host { file, pair_dir, .. } => host(&engine, &file, &pair_dir).await,
        Role::Join { pair_dir, file, .. } => join(&engine, &pair_dir, file.as_deref()).await,
    };
    if let Err(message) = setup {
        return fail(&message);
    }
    let limit = async {
        match seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s.max(0.0))).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(limit);
    loop {
        tokio::select! {
            () = &mut limit => return ExitCode::SUCCESS,
            () = control::stop_signal() => return ExitCode::SUCCESS,
            event = events.recv() => match event {
                Ok(Event::JamChanged { jam: Some(jam) }) => print_jam(&jam),
                Ok(Event::JamEnded { reason }) => {
                    println!("{}", json!({"jam_ended": reason}));
                }
                Ok(report @ Event::SyncReport { .. }) => println!("{}", json!({"sync": report})),
                Ok(Event::PlayerMessage { message }) => eprintln!("earshot-node: {message}"),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return ExitCode::SUCCESS,
            }
        }
    }
}

fn print_jam(jam: &JamState) {
    println!(
        "{}",
        json!({"jam": {
            "sync": jam.sync,
            "you_host": jam.you_host,
            "participants": jam.participants.len(),
            "playing": jam.playing,
            "position_ms": jam.position_ms,
            "offset_to_host_us": jam.offset_to_host_us,
            "rtt_us": jam.rtt_us,
            "error_us": jam.error_us,
        }})
    );
}

async fn call(engine: &Engine, request: Request) -> Result<Response, String> {
    let what = serde_json::to_value(&request)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_string))
        .unwrap_or_default();
    engine
        .call(request)
        .await
        .map_err(|e| format!("{what}: {}", e.message))
}

/// Adds `file`'s folder to the library and returns the file's track hash.
async fn add_file(engine: &Engine, file: &Path) -> Result<String, String> {
    let file =
        std::fs::canonicalize(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let folder = file.parent().unwrap_or(Path::new("/"));
    let mut events = engine.subscribe();
    call(
        engine,
        Request::AddFolder {
            path: folder.to_string_lossy().into_owned(),
        },
    )
    .await?;
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(Event::ScanFinished(_)) => return Ok(()),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Err("the engine stopped".to_string()),
            }
        }
    })
    .await
    .map_err(|_| "the library scan did not finish".to_string())??;
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
    tracks
        .into_iter()
        .find(|t| t.path == path)
        .map(|t| t.hash)
        .ok_or_else(|| format!("{path} is not a playable audio file"))
}

async fn friends_online(engine: &Engine) -> Result<Vec<String>, String> {
    let Response::Friends { friends } = call(engine, Request::ListFriends).await? else {
        return Err("unexpected answer to list_friends".into());
    };
    Ok(friends
        .into_iter()
        .filter(|f| f.connection.is_some())
        .map(|f| f.peer_id)
        .collect())
}

async fn host(engine: &Engine, file: &Path, pair_dir: &Path) -> Result<(), String> {
    let hash = add_file(engine, file).await?;
    let Response::Invite(invite) = call(
        engine,
        Request::CreateInvite {
            lifetime_secs: None,
        },
    )
    .await?
    else {
        return Err("unexpected answer to create_invite".into());
    };
    std::fs::create_dir_all(pair_dir)
        .map_err(|e| format!("cannot create {}: {e}", pair_dir.display()))?;
    let part = pair_dir.join("invite.part");
    std::fs::write(&part, &invite.link)
        .and_then(|()| std::fs::rename(&part, pair_dir.join("invite")))
        .map_err(|e| format!("cannot write the invite to {}: {e}", pair_dir.display()))?;
    let deadline = Instant::now() + WAIT;
    let friend = loop {
        if let Some(friend) = friends_online(engine).await?.into_iter().next() {
            break friend;
        }
        if Instant::now() > deadline {
            return Err(format!("no one redeemed the invite within {WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    call(
        engine,
        Request::Play {
            hashes: vec![hash],
            start: None,
        },
    )
    .await?;
    call(engine, Request::StartJam).await?;
    // The friend may not have stored the friendship yet when it shows online here (its answer
    // to the invite is still on the way across a slow link): it refuses until then.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let request = Request::InviteToJam {
            peer_ids: vec![friend.clone()],
        };
        match engine.call(request).await {
            Ok(_) => break,
            Err(e) if e.kind == ErrorKind::NotAllowed && Instant::now() < deadline => {
                tracing::info!(error = %e.message, "the friend refused the invitation; again soon");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(format!("invite_to_jam: {}", e.message)),
        }
    }
    println!("{}", json!({"invited": friend}));
    Ok(())
}

async fn join(engine: &Engine, pair_dir: &Path, file: Option<&Path>) -> Result<(), String> {
    if let Some(file) = file {
        add_file(engine, file).await?;
    }
    let mut events = engine.subscribe();
    let path = pair_dir.join("invite");
    let deadline = Instant::now() + WAIT;
    let link = loop {
        if let Ok(link) = std::fs::read_to_string(&path) {
            break link.trim().to_string();
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no invite appeared at {} within {WAIT:?}",
                path.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    call(engine, Request::RedeemInvite { link }).await?;
    let invite = tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(Event::JamInvited(invite)) if invite.incoming => return Ok(invite),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Err("the engine stopped".to_string()),
            }
        }
    })
    .await
    .map_err(|_| format!("no jam invitation came within {WAIT:?}"))??;
    call(
        engine,
        Request::AcceptJam {
            invite_id: invite.invite_id,
        },
    )
    .await?;
    println!("{}", json!({"joined": invite.peer_id}));
    Ok(())
}
