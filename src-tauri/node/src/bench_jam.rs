//! `earshot-node bench jam --peers N [--seconds S] --json`: how closely a jam's peers play
//! together when their clocks are seconds apart and their sound cards drift (issue #10).
//!
//! N `earshot-node` processes on loopback: one host, N−1 guests befriended through the control
//! protocol. Each plays into a virtual sink whose device clock drifts against its engine clock
//! (`--virtual-drift-ppm`, ±100 ppm, different per peer) and whose engine clock is offset by
//! seconds (`EARSHOT_CLOCK_OFFSET_MS`). Everyone has the two test tracks in its library: 32-bit
//! float WAVs whose samples encode the frame index and the track (`virtual_log.rs`), so each
//! peer's `--virtual-log` tells which source frame left its "device" at which instant. The bench
//! converts every instant to true time (the machine's monotonic clock: a peer's instant minus
//! its offset) and compares the peers' positions at the same true instants.
//!
//! The run: the host plays track 0 and starts a jam (track 1 queued); each guest is invited and
//! accepts; `S` seconds of steady playing; then the host pauses, resumes, seeks to 10 s and
//! skips to track 1, a few seconds apart. Figures:
//! - `offset_ms`: the spread between the earliest and the latest peer (max − min of their
//!   positions, in ms) every 10 ms from 5 s after the last guest was in sync until the pause:
//!   median, p95, max; per guest its signed offset to the host (> 0: the guest plays later);
//! - `drift_ms_per_min`: the least-squares slope of each guest's offset over that span;
//! - `join_to_in_sync_s`: from a guest's `accept_jam` until it stays within 1 ms of the host
//!   for a second;
//! - `commands`: for a pause, resume, seek and skip, how long after the host's request each
//!   peer acted (pause: its first frame below full gain; resume: its first frame back at full
//!   gain; seek: the first frame of the new position; skip: the first frame of the next track)
//!   and how far apart they acted;
//! - `correction_jumps`: discontinuities over 0.5 ms within a track that no command explains,
//!   after each guest was in sync (`virtual_log.rs` says why smaller ones are not counted);
//! - `anchor_same_clock_no_drift`: the same with two peers on one clock and no drift, in the same
//!   sitting.
//!
//! Per guest also its clock estimate (`get_jam`'s `offset_to_host_us` before the commands) and
//! that estimate's error against the true offset (`clock_estimate_error_us`, of the host's clock
//! minus the guest's: > 0 means the guest believes the host later than it is, so plays early).
//!
//! `EARSHOT_BENCH_JAM_LOGS=DIR` keeps the peers' logs (`jam-peer0.log`, …, `anchor-peer1.log`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use earshot_engine::clock;
use serde_json::{json, Value};

use super::messages::Node;
use crate::virtual_log::write_ramp_wav;

/// The device rate of every virtual sink, and the signal's rate (so only the jam resamples).
const RATE: u32 = 48_000;
/// A guest counts as in sync once within this of the host for [`IN_SYNC_HOLD`].
const IN_SYNC_MS: f64 = 1.0;
const IN_SYNC_HOLD: Duration = Duration::from_secs(1);
/// Offsets are measured from this long after the last guest was in sync.
const SETTLE: Duration = Duration::from_secs(5);
/// Where the seek goes, in ms.
const SEEK_TO_MS: u64 = 10_000;
/// The clock offsets (ms) and device drifts (ppm) given to peers in join order.
const OFFSETS_MS: [i64; 8] = [2_000, 7_300, 4_100, 11_900, 3_300, 9_700, 5_500, 13_100];
const DRIFTS_PPM: [f64; 8] = [100.0, -100.0, 60.0, -40.0, 85.0, -75.0, 20.0, -95.0];

pub fn run(peers: usize, seconds: f64) -> anyhow::Result<Value> {
    anyhow::ensure!(
        (2..=OFFSETS_MS.len()).contains(&peers),
        "--peers must be 2 to {}",
        OFFSETS_MS.len()
    );
    anyhow::ensure!(
        (10.0..=600.0).contains(&seconds),
        "--seconds must be 10 to 600"
    );
    let started = Instant::now();
    let music = tempfile::tempdir()?;
    let first = seconds + 40.0 + 4.0 * peers as f64;
    write_ramp_wav(&music.path().join("0 ramp.wav"), first, RATE, 0)?;
    write_ramp_wav(&music.path().join("1 ramp.wav"), 40.0, RATE, 1)?;
    let offsets: Vec<i64> = OFFSETS_MS[..peers].to_vec();
    let drifts: Vec<f64> = DRIFTS_PPM[..peers].to_vec();
    let jam = case("jam", music.path(), &offsets, &drifts, seconds)?;
    eprintln!("bench jam: {peers} peers done ({:?})", started.elapsed());
    let anchor_seconds = (seconds / 2.0).max(10.0);
    let anchor = case("anchor", music.path(), &[0, 0], &[0.0, 0.0], anchor_seconds)?;
    eprintln!("bench jam: anchor done ({:?})", started.elapsed());
    let mut out = json!({
        "bench": "jam",
        "build": if cfg!(debug_assertions) { "debug (use --release for real figures)" } else { "release" },
        "machine": format!("{} cores", std::thread::available_parallelism().map_or(0, |n| n.get())),
        "peers": peers,
        "seconds": seconds,
        "clock_offsets_ms": offsets,
        "drift_ppm": drifts,
        "transport": "tcp over 127.0.0.1, one earshot-node process per peer",
        "measured": "positions of the source frame leaving each peer's virtual device, on the true clock, compared every 10 ms; offset = max - min over peers",
    });
    if let (Some(map), Some(jam)) = (out.as_object_mut(), jam.as_object()) {
        for (k, v) in jam {
            map.insert(k.clone(), v.clone());
        }
    }
    // On one clock the API's sign cannot show: take the one the jam showed.
    let mut anchor = anchor;
    let negated = out["offset_per_guest"]
        .as_array()
        .is_some_and(|g| g.iter().any(|g| g["offset_to_host_sign"] == "negated"));
    if let Some(guests) = anchor["offset_per_guest"].as_array_mut() {
        for g in guests {
            if let (true, Some(e)) = (negated, g["clock_estimate_error_us"].as_i64()) {
                g["clock_estimate_error_us"] = json!(-e);
                g["offset_to_host_sign"] = json!("negated (as in the jam above)");
            }
        }
    }
    out["anchor_same_clock_no_drift"] = anchor;
    out["anchor_same_clock_no_drift"]["seconds"] = json!(anchor_seconds);
    out["goals"] = json!({
        "median_ms": 0.5, "p95_ms": 2.0, "correction_jump_ms_at_most": 5.0,
        "join_to_in_sync_s": 2.0, "commands_spread_ms": 5.0, "drift": "none",
    });
    out["bench_seconds"] = json!(round(started.elapsed().as_secs_f64()));
    Ok(out)
}

/// Raw monotonic time now (ns): this process's engine clock less its own offset, if any.
fn true_now() -> f64 {
    clock::now_ns() as f64 - clock::offset_ns() as f64
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One jam: peers with these clock offsets (ms) and drifts, `seconds` of steady playing.
fn case(
    label: &str,
    music: &Path,
    offsets: &[i64],
    drifts: &[f64],
    seconds: f64,
) -> anyhow::Result<Value> {
    let dirs: Vec<tempfile::TempDir> = (0..offsets.len())
        .map(|_| tempfile::tempdir())
        .collect::<Result<_, _>>()?;
    let logs = tempfile::tempdir()?;
    let log_paths: Vec<PathBuf> = (0..offsets.len())
        .map(|i| logs.path().join(format!("peer{i}.log")))
        .collect();
    let mut nodes = Vec::new();
    for i in 0..offsets.len() {
        let wrapper = vec![
            "env".to_string(),
            format!("{}={}", clock::OFFSET_ENV, offsets[i]),
        ];
        let drift = format!("--virtual-drift-ppm={}", drifts[i]);
        let log = log_paths[i].to_string_lossy().into_owned();
        let node = Node::start_with(
            &wrapper,
            dirs[i].path(),
            "/ip4/127.0.0.1/tcp/0",
            &["--virtual-audio", &drift, "--virtual-log", &log],
        );
        match node {
            Ok(node) => nodes.push(node),
            Err(e) => {
                for node in nodes {
                    node.stop();
                }
                return Err(e);
            }
        }
    }
    let outcome = drive(music, &mut nodes, seconds);
    for node in nodes {
        node.stop();
    }
    let script = outcome?;
    if let Ok(keep) = std::env::var("EARSHOT_BENCH_JAM_LOGS") {
        let _ = std::fs::create_dir_all(&keep);
        for (i, path) in log_paths.iter().enumerate() {
            let _ = std::fs::copy(path, Path::new(&keep).join(format!("{label}-peer{i}.log")));
        }
    }
    let peers: Vec<PeerLog> = log_paths
        .iter()
        .map(|p| PeerLog::read(p))
        .collect::<anyhow::Result<_>>()?;
    Ok(analyse(&peers, offsets, &script))
}

/// What the bench did, on the true clock (ns).
struct Script {
    /// When each guest accepted (guest index 1..).
    accepted: Vec<f64>,
    /// When each guest's engine first said `in_sync`, seconds after accepting.
    engine_in_sync_s: Vec<f64>,
    /// Each guest's estimate of the host's clock before the commands: (offset_to_host_us,
    /// rtt_us) from its `get_jam`.
    estimates: Vec<(Value, Value)>,
    /// The host's commands: name and when it was sent.
    commands: Vec<(&'static str, f64)>,
    /// When the run stopped.
    end: f64,
}

fn id(node: &mut Node) -> anyhow::Result<String> {
    Ok(node.call(json!({"type": "status"}))?["peer_id"]
        .as_str()
        .context("status without a peer id")?
        .to_string())
}

fn drive(music: &Path, nodes: &mut [Node], seconds: f64) -> anyhow::Result<Script> {
    let ids: Vec<String> = nodes.iter_mut().map(id).collect::<anyhow::Result<_>>()?;
    let mut hashes = Vec::new();
    for node in nodes.iter_mut() {
        node.call(json!({"type": "add_folder", "path": music.to_string_lossy()}))?;
        node.wait_event(|e| e["type"] == "scan_finished")?;
        let tracks = node.call(json!({"type": "list_tracks"}))?;
        let mut listed: Vec<(String, String)> = tracks["tracks"]
            .as_array()
            .context("list_tracks without tracks")?
            .iter()
            .filter_map(|t| Some((t["path"].as_str()?.into(), t["hash"].as_str()?.into())))
            .collect();
        listed.sort();
        anyhow::ensure!(
            listed.len() == 2,
            "a library holds {} test tracks (the float WAVs did not scan?)",
            listed.len()
        );
        hashes = listed.into_iter().map(|(_, h)| h).collect();
    }
    let (host, guests) = nodes.split_first_mut().context("no peers")?;
    for (g, guest) in guests.iter_mut().enumerate() {
        let link = host.call(json!({"type": "create_invite"}))?["link"]
            .as_str()
            .context("create_invite without a link")?
            .to_string();
        guest.call(json!({"type": "redeem_invite", "link": link}))?;
        wait_online(host, &ids[g + 1])?;
        wait_online(guest, &ids[0])?;
    }
    host.call(json!({"type": "play", "hashes": [hashes[0]]}))?;
    host.wait_event(|e| e["type"] == "player_position" && e["position_ms"].as_u64() > Some(100))?;
    host.call(json!({"type": "start_jam"}))?;
    host.call(json!({"type": "jam_queue_add", "hashes": [hashes[1]]}))?;
    let mut accepted = Vec::new();
    let mut engine_in_sync_s = Vec::new();
    for (g, guest) in guests.iter_mut().enumerate() {
        host.call(json!({"type": "invite_to_jam", "peer_ids": [ids[g + 1]]}))?;
        guest.wait_event(|e| e["type"] == "jam_invited" && e["incoming"] == true)?;
        let invite = invite_id(guest)?;
        let at = true_now();
        let mono = Instant::now();
        guest.call(json!({"type": "accept_jam", "invite_id": invite}))?;
        guest.wait_event(|e| e["type"] == "jam_changed" && e["jam"]["sync"] == "in_sync")?;
        accepted.push(at);
        engine_in_sync_s.push(round(mono.elapsed().as_secs_f64()));
        // Let the newcomer settle before the next one joins.
        std::thread::sleep(Duration::from_secs(2));
    }
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let mut estimates = Vec::new();
    for guest in guests.iter_mut() {
        let jam = guest.call(json!({"type": "get_jam"}))?;
        estimates.push((
            jam["jam"]["offset_to_host_us"].clone(),
            jam["jam"]["rtt_us"].clone(),
        ));
    }
    let mut commands = Vec::new();
    for (name, call, wait) in [
        ("pause", json!({"type": "pause"}), 3),
        ("resume", json!({"type": "resume"}), 3),
        (
            "seek",
            json!({"type": "seek", "position_ms": SEEK_TO_MS}),
            4,
        ),
        ("skip", json!({"type": "next"}), 5),
    ] {
        let at = true_now();
        host.call(call)
            .with_context(|| format!("the host's {name}"))?;
        commands.push((name, at));
        std::thread::sleep(Duration::from_secs(wait));
    }
    Ok(Script {
        accepted,
        engine_in_sync_s,
        estimates,
        commands,
        end: true_now(),
    })
}

fn invite_id(guest: &mut Node) -> anyhow::Result<String> {
    let jam = guest.call(json!({"type": "get_jam"}))?;
    jam["invites"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["incoming"] == true))
        .and_then(|i| i["invite_id"].as_str())
        .map(str::to_string)
        .context("the guest holds no invitation")
}

fn wait_online(who: &mut Node, friend: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let friends = who.call(json!({"type": "list_friends"}))?;
        let online = friends["friends"].as_array().is_some_and(|list| {
            list.iter()
                .any(|f| f["peer_id"] == friend && !f["connection"].is_null())
        });
        if online {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("two peers did not become friends online within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ── The logs ────────────────────────────────────────────────────────────────────────────────

/// A break in what a peer played: when (true ns), from and to (track or −1, source frame).
#[derive(Debug, Clone, Copy)]
struct Break {
    at: f64,
    from_tag: i64,
    from: f64,
    to_tag: i64,
    to: f64,
}

/// One peer's log on the true clock.
struct PeerLog {
    rate: f64,
    frame_ns: f64,
    /// (true ns, source frame, track) at the start of each whole buffer.
    positions: Vec<(f64, f64, i64)>,
    breaks: Vec<Break>,
}

impl PeerLog {
    fn read(path: &Path) -> anyhow::Result<PeerLog> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {path:?}"))?;
        let mut log = PeerLog {
            rate: RATE as f64,
            frame_ns: 1e9 / RATE as f64,
            positions: Vec::new(),
            breaks: Vec::new(),
        };
        let mut offset = 0.0;
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let num =
                |i: usize| -> f64 { f.get(i).and_then(|s| s.parse().ok()).unwrap_or(f64::NAN) };
            match f.first() {
                Some(&"h") => {
                    log.rate = num(1);
                    offset = num(3);
                    log.frame_ns = num(4);
                }
                Some(&"p") => log.positions.push((num(1) - offset, num(2), num(3) as i64)),
                Some(&"b") => log.breaks.push(Break {
                    at: num(1) - offset,
                    from_tag: num(2) as i64,
                    from: num(3),
                    to_tag: num(4) as i64,
                    to: num(5),
                }),
                _ => {}
            }
        }
        anyhow::ensure!(
            !log.positions.is_empty(),
            "{path:?} holds no decodable audio: the peer played nothing of the test signal"
        );
        Ok(log)
    }

    /// The source position (track, frame) playing at true instant `t`, between two whole
    /// buffers that continue each other.
    fn position(&self, t: f64) -> Option<(i64, f64)> {
        let i = self
            .positions
            .partition_point(|p| p.0 <= t)
            .checked_sub(1)?;
        let (t0, f0, k0) = self.positions[i];
        let (t1, f1, k1) = *self.positions.get(i + 1)?;
        let span = t1 - t0;
        let frames = span / self.frame_ns;
        if k0 != k1 || span > 1.6 * 480.0 * self.frame_ns || (f1 - f0 - frames).abs() > 8.0 {
            return None;
        }
        Some((k0, f0 + (t - t0) / span * (f1 - f0)))
    }
}

fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Least-squares slope of `(t ns, y ms)`, in ms per minute.
fn slope_per_min(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let mt = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for &(t, y) in points {
        num += (t - mt) * (y - my);
        den += (t - mt) * (t - mt);
    }
    num / den * 60e9
}

/// Offsets over `[from, to)` (true ns), sampled at the host's buffers: the spread (ms) and each
/// guest's signed offset to the host (ms, > 0 when the guest plays later), with their times.
fn offsets(peers: &[PeerLog], from: f64, to: f64) -> (Vec<f64>, Vec<Vec<(f64, f64)>>) {
    let host = &peers[0];
    let mut spread = Vec::new();
    let mut per_guest = vec![Vec::new(); peers.len() - 1];
    for &(t, f, k) in &host.positions {
        if t < from || t >= to {
            continue;
        }
        let mut all = vec![f];
        let mut complete = true;
        for (g, guest) in peers[1..].iter().enumerate() {
            match guest.position(t) {
                Some((kg, fg)) if kg == k => {
                    all.push(fg);
                    per_guest[g].push((t, (f - fg) / host.rate * 1000.0));
                }
                _ => complete = false,
            }
        }
        if complete {
            let max = all.iter().copied().fold(f64::MIN, f64::max);
            let min = all.iter().copied().fold(f64::MAX, f64::min);
            spread.push((max - min) / host.rate * 1000.0);
        }
    }
    (spread, per_guest)
}

fn spread_figures(spread: &[f64]) -> Value {
    json!({
        "samples": spread.len(),
        "median": round(quantile(spread, 0.5)),
        "p95": round(quantile(spread, 0.95)),
        "max": round(quantile(spread, 1.0)),
    })
}

/// When a guest first stays within [`IN_SYNC_MS`] of the host for [`IN_SYNC_HOLD`], from `from`.
fn in_sync_at(host: &PeerLog, guest: &PeerLog, from: f64) -> Option<f64> {
    let hold = IN_SYNC_HOLD.as_nanos() as f64;
    let mut since: Option<f64> = None;
    for &(t, f, k) in &host.positions {
        if t < from {
            continue;
        }
        if t > from + 60e9 {
            return None;
        }
        let ok = guest
            .position(t)
            .is_some_and(|(kg, fg)| kg == k && ((f - fg) / host.rate * 1000.0).abs() <= IN_SYNC_MS);
        if !ok {
            since = None;
            continue;
        }
        let start = *since.get_or_insert(t);
        if t - start >= hold {
            return Some(start);
        }
    }
    None
}

fn analyse(peers: &[PeerLog], offsets_ms: &[i64], script: &Script) -> Value {
    let host = &peers[0];
    let pause_at = script.commands.first().map_or(script.end, |(_, at)| *at);
    let mut join = Vec::new();
    let mut synced_at = Vec::new();
    for (g, guest) in peers[1..].iter().enumerate() {
        let accepted = script.accepted.get(g).copied().unwrap_or(f64::NAN);
        match in_sync_at(host, guest, accepted) {
            Some(at) => {
                join.push(json!(round((at - accepted) / 1e9)));
                synced_at.push(at);
            }
            None => join.push(Value::Null),
        }
    }
    let settled = synced_at.iter().copied().fold(f64::NAN, f64::max) + SETTLE.as_nanos() as f64;
    let all_synced = synced_at.len() == peers.len() - 1;
    let from = if all_synced {
        settled
    } else {
        script.accepted.last().copied().unwrap_or(0.0) + SETTLE.as_nanos() as f64
    };
    let (spread, per_guest) = offsets(peers, from, pause_at - 50e6);
    let mut guests = Vec::new();
    let mut worst_drift: f64 = 0.0;
    for (g, points) in per_guest.iter().enumerate() {
        let values: Vec<f64> = points.iter().map(|p| p.1).collect();
        let abs: Vec<f64> = values.iter().map(|v| v.abs()).collect();
        let drift = slope_per_min(points);
        if drift.is_finite() {
            worst_drift = worst_drift.max(drift.abs());
        }
        let (estimate, rtt) = script.estimates.get(g).cloned().unwrap_or_default();
        // The host's clock minus the guest's, truly: the difference of their offsets.
        // `offset_to_host_us` is documented as the host's clock minus the guest's; with clocks
        // seconds apart the sign it really has shows.
        let truth_us = (offsets_ms[0] - offsets_ms[g + 1]) * 1000;
        let (error, sign) = match estimate.as_i64() {
            Some(e)
                if truth_us.abs() >= 1_000_000 && (e + truth_us).abs() < (e - truth_us).abs() =>
            {
                (Some(-e - truth_us), "negated")
            }
            Some(e) if truth_us.abs() >= 1_000_000 => (Some(e - truth_us), "documented"),
            Some(e) => (Some(e - truth_us), "unknown (clocks too close to tell)"),
            None => (None, "unknown"),
        };
        guests.push(json!({
            "guest": g + 1,
            "offset_to_host_us": estimate,
            "offset_to_host_sign": sign,
            "clock_estimate_error_us": error,
            "rtt_us": rtt,
            "median_signed_ms": round(quantile(&values, 0.5)),
            "p95_abs_ms": round(quantile(&abs, 0.95)),
            "max_abs_ms": round(quantile(&abs, 1.0)),
            "drift_ms_per_min": round(drift),
            "samples": values.len(),
        }));
    }
    // After the commands: from 2 s after the skip to the end.
    let after = script
        .commands
        .last()
        .map_or(script.end, |(_, at)| *at + 2e9);
    let (after_spread, _) = offsets(peers, after, script.end - 0.5e9);

    let mut commands = serde_json::Map::new();
    for &(name, at) in &script.commands {
        let mut acted = Vec::new();
        for peer in peers {
            let hit = peer.breaks.iter().find(|b| {
                b.at >= at
                    && match name {
                        "pause" => b.from_tag >= 0 && b.to_tag < 0,
                        "resume" => b.to_tag >= 0 && b.from_tag < 0,
                        "seek" => {
                            b.to_tag == 0
                                && (b.to / peer.rate * 1000.0 - SEEK_TO_MS as f64).abs() < 500.0
                        }
                        _ => b.to_tag == 1,
                    }
            });
            acted.push(hit.map(|b| (b.at - at) / 1e6));
        }
        let known: Vec<f64> = acted.iter().flatten().copied().collect();
        let spread = if known.len() == acted.len() && !known.is_empty() {
            json!(round(
                known.iter().copied().fold(f64::MIN, f64::max)
                    - known.iter().copied().fold(f64::MAX, f64::min)
            ))
        } else {
            Value::Null
        };
        commands.insert(
            name.to_string(),
            json!({
                "acted_after_ms": acted.iter().map(|a| a.map(round)).collect::<Vec<_>>(),
                "spread_ms": spread,
            }),
        );
    }

    // Jumps within a track that no command explains, once each guest was in sync.
    let mut jumps = Vec::new();
    for (p, peer) in peers.iter().enumerate() {
        let since = if p == 0 {
            from
        } else {
            synced_at.get(p - 1).copied().unwrap_or(from)
        };
        for b in &peer.breaks {
            let by_command = script
                .commands
                .iter()
                .any(|&(_, at)| b.at >= at && b.at < at + 1.5e9);
            if b.at > since && !by_command && b.from_tag >= 0 && b.from_tag == b.to_tag {
                jumps.push((b.to - b.from - 1.0) / peer.rate * 1000.0);
            }
        }
    }
    let jump_max = jumps.iter().map(|j| j.abs()).fold(0.0, f64::max);

    json!({
        "offset_ms": spread_figures(&spread),
        "offset_per_guest": guests,
        "drift_ms_per_min": round(worst_drift),
        "join_to_in_sync_s": join,
        "engine_says_in_sync_s": script.engine_in_sync_s,
        "in_sync_means": format!("within {IN_SYNC_MS} ms of the host for {} s", IN_SYNC_HOLD.as_secs()),
        "measured_span_s": round((pause_at - 50e6 - from) / 1e9),
        "commands": commands,
        "after_commands_offset_ms": spread_figures(&after_spread),
        "correction_jumps": {"count": jumps.len(), "max_ms": round(jump_max)},
    })
}
