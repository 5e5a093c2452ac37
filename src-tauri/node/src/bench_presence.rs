//! `earshot-node bench presence --json`: how long a friend waits to see a track change (issue #9),
//! each figure beside its goal.
//!
//! Ada plays into a software sink and shares her activity (`set_activity_sharing{on:true}`); Bo
//! is her friend. Ada changes track with a `play` request every [`PACE`], cycling through
//! [`TRACKS`] generated WAVs (so every change is a new hash); a sample runs from the request
//! until Bo publishes `friend_activity_changed` for Ada showing the new track's hash.
//! [`CHANGES`] samples after [`WARM_UP`] unmeasured ones; p50/p99.
//!
//! - `loopback`: two engines in this process over real libp2p on 127.0.0.1, both read off this
//!   process's monotonic clock; split at Ada's own `player_changed` naming the new track (the
//!   player took the request) — the rest is the presence push and Bo's handling.
//! - `loopback_two_processes` and `link_20ms`: two `earshot-node` processes (Ada's with
//!   `--virtual-audio`) timed through their control pipes, on loopback and in two network
//!   namespaces joined by `../shared/netlab/tunlink.py` with 20 ms of one-way delay (the harness
//!   of `bench messages`; without root, `ip` or `python3` the link's figures are `null` with the
//!   reason, and under `CI` an error).
//!
//! The pace keeps Ada under a friend's presence budget (a burst of 20, then 5 updates a second,
//! `net/limits.rs`); `b_rate_limited` counts what Bo refused anyway (a refused update is retried
//! a second later, which would show in p99).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use earshot_engine::api::{Event, Request, Response};
use earshot_engine::keys::KeyOptions;
use earshot_engine::net::NetConfig;
use earshot_engine::player::{OutputKind, VirtualSink};
use earshot_engine::{Config, Engine};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::messages::{self, Node, LINK_DELAY_MS};

/// Events waiting for the measuring loop (it reads as they come; a run is a few hundred).
const EVENT_QUEUE: usize = 4096;

/// Measured track changes per figure.
const CHANGES: usize = 200;
/// Changes before measuring: connections, caches, covers.
const WARM_UP: usize = 10;
/// One change every 400 ms (2.5/s; a change may cost a friend two updates: the track, then
/// playing) — under the 5/s presence budget.
const PACE: Duration = Duration::from_millis(400);
/// Distinct tracks cycled through.
const TRACKS: usize = 8;
/// Each track's length: longer than a change lasts.
const TRACK_SECONDS: u32 = 20;
/// Waiting for anything that should come.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The goals: p99 over the 20 ms link, and p50 within this much of the link's delay.
const GOAL_LINK_P99_MS: f64 = 100.0;
const GOAL_P50_OVER_DELAY_MS: f64 = 2.0;

pub async fn run() -> anyhow::Result<Value> {
    let started = Instant::now();
    let music = tempfile::tempdir()?;
    for i in 0..TRACKS {
        let path = music.path().join(format!("change {i:02}.wav"));
        write_wav(&path, TRACK_SECONDS, 220.0 + 55.0 * i as f32)?;
    }
    let loopback = in_process(music.path()).await?;
    eprintln!("bench presence: loopback done ({:?})", started.elapsed());
    let folder = music.path().to_path_buf();
    let processes = tokio::task::spawn_blocking(move || two_process_figures(&folder)).await??;
    eprintln!(
        "bench presence: two processes done ({:?})",
        started.elapsed()
    );
    Ok(json!({
        "bench": "presence",
        "build": if cfg!(debug_assertions) { "debug (use --release for real figures)" } else { "release" },
        "machine": format!("{} cores", std::thread::available_parallelism().map_or(0, |n| n.get())),
        "measured": "from Ada's play request (a track Bo was not shown) until Bo publishes friend_activity_changed for Ada showing that track's hash",
        "changes": CHANGES,
        "pace_ms": PACE.as_millis() as u64,
        "tracks": TRACKS,
        "loopback": loopback,
        "loopback_two_processes": processes["loopback_two_processes"],
        "link_20ms": processes["link_20ms"],
        "goals": {
            "link_20ms_p99_ms": GOAL_LINK_P99_MS,
            "link_20ms_p50_ms_at_most": LINK_DELAY_MS as f64 + GOAL_P50_OVER_DELAY_MS,
            "note": "p50 within 2 ms of the link's one-way delay",
        },
        "seconds": round(started.elapsed().as_secs_f64()),
    }))
}

// ── Figures ─────────────────────────────────────────────────────────────────────────────────

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The `q` quantile (nearest rank) of `samples`, in milliseconds.
fn quantile_ms(samples: &[Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    round(sorted[rank - 1].as_secs_f64() * 1000.0)
}

/// p50/p99 of `samples`; against the goals when `delay_ms` is the link's one-way delay.
fn figures(samples: &[Duration], delay_ms: Option<u32>) -> Value {
    let p50 = quantile_ms(samples, 0.5);
    let p99 = quantile_ms(samples, 0.99);
    let mut out = json!({
        "samples": samples.len(),
        "p50_ms": p50,
        "p99_ms": p99,
        "min_ms": quantile_ms(samples, 0.0),
        "max_ms": quantile_ms(samples, 1.0),
    });
    if let Some(delay) = delay_ms {
        let p50_goal = delay as f64 + GOAL_P50_OVER_DELAY_MS;
        out["one_way_delay_ms"] = json!(delay);
        out["goal_p99_ms"] = json!(GOAL_LINK_P99_MS);
        out["goal_p50_ms_at_most"] = json!(p50_goal);
        out["met"] = json!(p99 <= GOAL_LINK_P99_MS && p50 <= p50_goal);
    }
    out
}

/// A 16-bit stereo 44.1 kHz PCM WAV of `seconds` of a quiet tone at `hz`.
pub(super) fn write_wav(path: &Path, seconds: u32, hz: f32) -> anyhow::Result<()> {
    use std::io::Write;
    let rate = 44_100u32;
    let frames = rate as u64 * seconds as u64;
    let bytes = frames * 4;
    anyhow::ensure!(bytes < u32::MAX as u64 - 36, "a WAV holds under 4 GiB");
    let file = std::fs::File::create(path).with_context(|| format!("cannot write {path:?}"))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    out.write_all(&earshot_engine::media::wav::pcm16_header(
        rate,
        2,
        bytes as u32,
    ))?;
    // One second of the tone, repeated: the phase is continuous whenever `hz` is whole.
    let second: Vec<u8> = (0..rate)
        .flat_map(|i| {
            let s = ((i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 3000.0) as i16;
            let [lo, hi] = s.to_le_bytes();
            [lo, hi, lo, hi]
        })
        .collect();
    for _ in 0..seconds {
        out.write_all(&second)?;
    }
    out.flush()?;
    Ok(())
}

// ── Two engines in this process ───────────────────────────────────────────────────────────

fn config(dir: &Path, audio: OutputKind) -> Config {
    let mut config = Config {
        net: Some(NetConfig::loopback()),
        audio,
        media_controls: false,
        ..Config::new(dir)
    };
    config.store.keys = KeyOptions::key_file_only();
    config
}

/// A paced software sink that keeps nothing of what it plays.
fn silent() -> OutputKind {
    OutputKind::Virtual(VirtualSink {
        keep: 0,
        ..VirtualSink::new(48_000, 2)
    })
}

/// Adds `folder` to `engine`'s library, waits for the scan, and returns the tracks' hashes in
/// the order of their paths.
pub(super) async fn add_music(
    engine: &Engine,
    folder: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut events = engine.subscribe();
    engine
        .call(Request::AddFolder {
            path: folder.to_string_lossy().into(),
        })
        .await?;
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            match events.recv().await {
                Ok(Event::ScanFinished(_)) => return Ok(()),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => bail!("the engine stopped"),
            }
        }
    })
    .await
    .context("the scan did not finish within 120 s")??;
    let Response::Tracks { tracks } = engine
        .call(Request::ListTracks {
            query: None,
            album: None,
            artist: None,
        })
        .await?
    else {
        bail!("list_tracks did not answer with tracks");
    };
    let mut found: Vec<(String, String)> = tracks.into_iter().map(|t| (t.path, t.hash)).collect();
    found.sort();
    Ok(found)
}

/// Makes `b` a friend of `a` and waits until each lists the other online.
pub(super) async fn befriend(a: &Engine, b: &Engine) -> anyhow::Result<()> {
    let Response::Invite(link) = a
        .call(Request::CreateInvite {
            lifetime_secs: None,
        })
        .await?
    else {
        bail!("create_invite did not answer with an invite");
    };
    b.call(Request::RedeemInvite { link: link.link }).await?;
    super::wait_online(a, b).await?;
    super::wait_online(b, a).await?;
    Ok(())
}

async fn rate_limited(engine: &Engine) -> anyhow::Result<u64> {
    match engine.call(Request::NetStats).await? {
        Response::NetStats(stats) => Ok(stats.rate_limited),
        other => bail!("net_stats answered {other:?}"),
    }
}

async fn in_process(music: &Path) -> anyhow::Result<Value> {
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let ada = Engine::start(config(dirs[0].path(), silent())).await?;
    let bo = Engine::start(config(dirs[1].path(), silent())).await?;
    let hashes: Vec<String> = add_music(&ada, music)
        .await?
        .into_iter()
        .map(|(_, hash)| hash)
        .collect();
    anyhow::ensure!(
        hashes.len() == TRACKS,
        "the library holds {} tracks",
        hashes.len()
    );
    ada.call(Request::SetActivitySharing { on: true }).await?;
    befriend(&ada, &bo).await?;
    let ada_id = ada.peer_id().to_base58();

    // Bo's `friend_activity_changed` for Ada, as (hash, when published).
    let (shown_tx, mut shown) = mpsc::channel::<(String, Instant)>(EVENT_QUEUE);
    let mut bo_events = bo.subscribe();
    let watcher = tokio::spawn(async move {
        loop {
            match bo_events.recv().await {
                Ok(Event::FriendActivityChanged(f)) if f.peer_id == ada_id => {
                    if let Some(activity) = f.activity {
                        if shown_tx
                            .send((activity.track.hash, Instant::now()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    // Ada's own `player_changed` naming the current track.
    let (player_tx, mut player) = mpsc::channel::<(String, Instant)>(EVENT_QUEUE);
    let mut ada_events = ada.subscribe();
    let ada_watcher = tokio::spawn(async move {
        loop {
            match ada_events.recv().await {
                Ok(Event::PlayerChanged(state)) => {
                    if let Some(track) = state.current {
                        if player_tx.send((track.hash, Instant::now())).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let refused_before = rate_limited(&bo).await?;
    let mut samples = Vec::new();
    let mut calls = Vec::new();
    let mut player_took = Vec::new();
    let mut pushed = Vec::new();
    for i in 0..WARM_UP + CHANGES {
        let hash = &hashes[i % TRACKS];
        while shown.try_recv().is_ok() {}
        while player.try_recv().is_ok() {}
        let started = Instant::now();
        ada.call(Request::Play {
            hashes: vec![hash.clone()],
            start: None,
        })
        .await?;
        let called = started.elapsed();
        let at = tokio::time::timeout(TIMEOUT, async {
            while let Some((seen, at)) = shown.recv().await {
                if seen == *hash {
                    return Some(at);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .with_context(|| format!("change {i} was not shown to Bo within {TIMEOUT:?}"))?;
        let mut changed = None;
        while let Ok((seen, when)) = player.try_recv() {
            if seen == *hash && changed.is_none() {
                changed = Some(when);
            }
        }
        if i >= WARM_UP {
            samples.push(at - started);
            calls.push(called);
            if let Some(changed) = changed {
                player_took.push(changed.saturating_duration_since(started));
                pushed.push(at.saturating_duration_since(changed));
            }
        }
        tokio::time::sleep_until((started + PACE).into()).await;
    }
    watcher.abort();
    ada_watcher.abort();
    let refused = rate_limited(&bo).await? - refused_before;
    ada.shutdown().await;
    bo.shutdown().await;
    let mut out = figures(&samples, None);
    out["play_call_p50_ms"] = json!(quantile_ms(&calls, 0.5));
    out["breakdown_p50_ms"] = json!({
        "samples": player_took.len(),
        "ada_player_changed": quantile_ms(&player_took, 0.5),
        "push_to_bo_event": quantile_ms(&pushed, 0.5),
        "note": "the request → Ada's player_changed naming the track → Bo's friend_activity_changed",
    });
    out["b_rate_limited"] = json!(refused);
    out["transport"] = json!("tcp over 127.0.0.1, two engines in one process");
    Ok(out)
}

// ── Two processes, optionally across the delay link ───────────────────────────────────────

fn two_process_figures(music: &Path) -> anyhow::Result<Value> {
    let loopback = two_processes(
        music,
        [Vec::new(), Vec::new()],
        [
            "/ip4/127.0.0.1/tcp/0".to_string(),
            "/ip4/127.0.0.1/tcp/0".to_string(),
        ],
        None,
    )?;
    let mut loopback = loopback;
    loopback["transport"] =
        json!("tcp over 127.0.0.1, two earshot-node processes timed through their control pipes");
    let link = match messages::link_unavailable() {
        Some(reason) if messages::in_ci() => bail!(
            "the 20 ms link cannot be made and CI is set, so it must not be skipped: {reason}"
        ),
        Some(reason) => json!({"skipped": reason, "p50_ms": null, "p99_ms": null}),
        None => {
            let (mut figures, anchor) = messages::across_link(|wrappers, listens| {
                // The link itself first: what one byte takes across it, outside Earshot.
                let anchor = match link_echo(&wrappers, &listens[1]) {
                    Ok(anchor) => anchor,
                    Err(e) => json!({"error": format!("{e:#}")}),
                };
                Ok((
                    two_processes(music, wrappers, listens, Some(LINK_DELAY_MS))?,
                    anchor,
                ))
            })?;
            figures["transport"] = json!(format!(
                "tcp across two network namespaces joined by tunlink.py, {LINK_DELAY_MS} ms each way"
            ));
            if let (Some(p50), Some(link)) = (
                figures["p50_ms"].as_f64(),
                anchor["one_way_p50_ms"].as_f64(),
            ) {
                figures["p50_over_nominal_delay_ms"] = json!(round(p50 - LINK_DELAY_MS as f64));
                figures["p50_over_anchor_one_way_ms"] = json!(round(p50 - link));
            }
            figures["anchor_link_echo"] = anchor;
            figures
        }
    };
    Ok(json!({"loopback_two_processes": loopback, "link_20ms": link}))
}

/// A TCP echo of one byte across the link (Python, in the two namespaces): the link's own
/// one-way time, half a round trip, for the figures to be read against.
fn link_echo(wrappers: &[Vec<String>; 2], listen_b: &str) -> anyhow::Result<Value> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    const SERVER: &str = "import socket,sys\n\
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind((sys.argv[1], 0)); s.listen(1); print(s.getsockname()[1], flush=True)\n\
c,_=s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n\
while True:\n    b=c.recv(1)\n    if not b: break\n    c.sendall(b)\n";
    const CLIENT: &str = "import socket,sys,time,json\n\
c=socket.create_connection((sys.argv[1], int(sys.argv[2]))); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n\
r=[]\n\
for i in range(220):\n    t=time.perf_counter(); c.sendall(b'x'); c.recv(1); r.append((time.perf_counter()-t)*500)\n    time.sleep(0.02)\n\
r=sorted(r[20:]); print(json.dumps({'samples': len(r), 'one_way_p50_ms': round(r[len(r)//2], 3), 'one_way_p99_ms': round(r[int(len(r)*0.99)-1], 3), 'one_way_min_ms': round(r[0], 3)}))\n";
    let address = listen_b
        .split('/')
        .nth(2)
        .context("no address to listen on")?
        .to_string();
    let command = |wrapper: &Vec<String>| {
        let mut c = Command::new(&wrapper[0]);
        c.args(&wrapper[1..]).arg("python3");
        c
    };
    anyhow::ensure!(
        !wrappers[0].is_empty() && !wrappers[1].is_empty(),
        "no namespaces"
    );
    let mut server = command(&wrappers[1])
        .args(["-c", SERVER, &address])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start the echo server")?;
    let mut port = String::new();
    BufReader::new(server.stdout.take().context("no stdout")?).read_line(&mut port)?;
    let output = command(&wrappers[0])
        .args(["-c", CLIENT, &address, port.trim()])
        .output()
        .context("cannot run the echo client");
    let _ = server.kill();
    let _ = server.wait();
    let output = output?;
    let mut figures: Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "the echo client said {:?}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    figures["measured"] = json!("half the round trip of one byte over TCP (Python sockets, TCP_NODELAY) across the same link, 200 samples 20 ms apart");
    Ok(figures)
}

fn two_processes(
    music: &Path,
    wrappers: [Vec<String>; 2],
    listens: [String; 2],
    delay_ms: Option<u32>,
) -> anyhow::Result<Value> {
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let mut ada = Node::start_with(
        &wrappers[0],
        dirs[0].path(),
        &listens[0],
        &["--virtual-audio"],
    )?;
    let mut bo = Node::start_with(
        &wrappers[1],
        dirs[1].path(),
        &listens[1],
        &["--virtual-audio"],
    )?;
    let outcome = measure_two(music, &mut ada, &mut bo, delay_ms);
    ada.stop();
    bo.stop();
    outcome
}

fn measure_two(
    music: &Path,
    ada: &mut Node,
    bo: &mut Node,
    delay_ms: Option<u32>,
) -> anyhow::Result<Value> {
    let id = |node: &mut Node| -> anyhow::Result<String> {
        Ok(node.call(json!({"type": "status"}))?["peer_id"]
            .as_str()
            .context("status without a peer id")?
            .to_string())
    };
    let (ada_id, bo_id) = (id(ada)?, id(bo)?);
    ada.call(json!({"type": "add_folder", "path": music.to_string_lossy()}))?;
    ada.wait_event(|e| e["type"] == "scan_finished")?;
    let tracks = ada.call(json!({"type": "list_tracks"}))?;
    let mut listed: Vec<(String, String)> = tracks["tracks"]
        .as_array()
        .context("list_tracks without tracks")?
        .iter()
        .filter_map(|t| {
            Some((
                t["path"].as_str()?.to_string(),
                t["hash"].as_str()?.to_string(),
            ))
        })
        .collect();
    listed.sort();
    let hashes: Vec<String> = listed.into_iter().map(|(_, hash)| hash).collect();
    anyhow::ensure!(
        hashes.len() == TRACKS,
        "Ada's library holds {} tracks",
        hashes.len()
    );
    ada.call(json!({"type": "set_activity_sharing", "on": true}))?;

    let link = ada.call(json!({"type": "create_invite"}))?["link"]
        .as_str()
        .context("create_invite without a link")?
        .to_string();
    bo.call(json!({"type": "redeem_invite", "link": link}))?;
    let deadline = Instant::now() + TIMEOUT;
    for (who, friend) in [(&mut *ada, &bo_id), (&mut *bo, &ada_id)] {
        loop {
            let friends = who.call(json!({"type": "list_friends"}))?;
            let online = friends["friends"].as_array().is_some_and(|list| {
                list.iter()
                    .any(|f| f["peer_id"] == friend.as_str() && !f["connection"].is_null())
            });
            if online {
                break;
            }
            if Instant::now() > deadline {
                bail!("the two processes did not become friends online within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let refused_before = bo.call(json!({"type": "net_stats"}))?["rate_limited"]
        .as_u64()
        .unwrap_or(0);
    let mut samples = Vec::new();
    for i in 0..WARM_UP + CHANGES {
        let hash = hashes[i % TRACKS].as_str();
        let started = Instant::now();
        let call = ada.write(json!({"type": "play", "hashes": [hash]}))?;
        let shown = bo.wait_event(|e| {
            e["type"] == "friend_activity_changed"
                && e["peer_id"] == ada_id.as_str()
                && e["activity"]["track"]["hash"] == hash
        })?;
        ada.reply(call)?;
        if i >= WARM_UP {
            samples.push(shown - started);
        }
        let next = started + PACE;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let refused = bo.call(json!({"type": "net_stats"}))?["rate_limited"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(refused_before);
    let mut out = figures(&samples, delay_ms);
    out["b_rate_limited"] = json!(refused);
    Ok(out)
}
