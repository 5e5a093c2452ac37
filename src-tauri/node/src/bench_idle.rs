//! `bench idle`: what an idle peer costs — the CPU share (% of one core) of a full peer (all
//! interfaces, mDNS on, as the app runs) with one friend online and nothing else happening. Two
//! windows: the first minute after the friend came online (start-up: mDNS probing, identify) and
//! the next `--seconds` (60 by default), which is what a peer left running costs. The friend is a
//! separate `earshot-node demo-friend` process, so only this peer's work is counted. On Linux the
//! settled window is broken down by thread (`/proc/self/task`), so a regression names its thread.
//! Linux and macOS (getrusage).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use earshot_engine::api::{Request, Response};
use earshot_engine::net::NetConfig;
use earshot_engine::{Config, Engine};
use serde_json::json;

/// The start-up window, measured on its own: the greeting, identify and mDNS probing.
const FIRST_MINUTE: Duration = Duration::from_secs(60);

pub async fn run(seconds: u64) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let friend_dir = tempfile::tempdir()?;
    let (exe, prefix) = crate::own_command()?;
    let mut friend = Command::new(exe)
        .args(prefix)
        .arg("--data-dir")
        .arg(friend_dir.path())
        .arg("demo-friend")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = friend
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout from the demo friend"))?;
    let (link_tx, link_rx) = std::sync::mpsc::sync_channel(1);
    // Reads the invite, then keeps draining so the friend never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(link) = value["demo_invite"].as_str() {
                    // Only the first is wanted; never block the draining.
                    let _ = link_tx.try_send(link.to_string());
                }
            }
        }
    });
    let outcome = measure(dir.path(), &link_rx, seconds).await;
    let _ = friend.kill();
    let _ = friend.wait();
    outcome
}

async fn measure(
    dir: &std::path::Path,
    link: &std::sync::mpsc::Receiver<String>,
    seconds: u64,
) -> anyhow::Result<serde_json::Value> {
    let link = link
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| anyhow::anyhow!("the demo friend printed no invite within 30 s"))?;
    let config = Config {
        net: Some(NetConfig::default()),
        media_controls: false,
        ..Config::new(dir)
    };
    let engine = Engine::start(config).await?;
    engine.call(Request::RedeemInvite { link }).await?;
    wait_for_a_friend_online(&engine).await?;

    let (first_minute, _) = cpu_over(FIRST_MINUTE).await;
    let threads_before = threads();
    let (settled, wall) = cpu_over(Duration::from_secs(seconds)).await;
    let by_thread = thread_shares(&threads_before, &threads(), wall);
    let online = friends_online(&engine).await?;
    engine.shutdown().await;
    Ok(json!({
        "bench": "idle",
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "seconds": wall.as_secs_f64(),
        "cpu_ms": settled.as_secs_f64() * 1000.0,
        "cpu_percent_of_one_core": percent(settled, wall),
        "goal_cpu_percent_of_one_core": 0.1,
        "first_minute_cpu_percent_of_one_core": percent(first_minute, FIRST_MINUTE),
        "by_thread_percent": by_thread,
        "friends_online_at_end": online,
        "peer": "all interfaces, mDNS on, one friend (a separate demo-friend process), media controls off",
    }))
}

/// The process's CPU time over `window`, and the wall time it really took.
async fn cpu_over(window: Duration) -> (Duration, Duration) {
    let (before, started) = (crate::bench_audio::cpu_time(), Instant::now());
    tokio::time::sleep(window).await;
    (crate::bench_audio::cpu_time() - before, started.elapsed())
}

fn percent(cpu: Duration, wall: Duration) -> f64 {
    (cpu.as_secs_f64() / wall.as_secs_f64() * 100_000.0).round() / 1000.0
}

/// Each thread's name and CPU ticks (user + system) from `/proc/self/task`; empty elsewhere.
pub(crate) fn threads() -> HashMap<u64, (String, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return HashMap::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let tid = task.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let found = super::app::parse_stat(&stat)?;
            Some((tid, (found.name, found.own_ticks)))
        })
        .collect()
}

/// The CPU share of each thread name (threads of one name summed) between two snapshots, the
/// busiest first; names that used nothing are left out.
pub(crate) fn thread_shares(
    before: &HashMap<u64, (String, u64)>,
    after: &HashMap<u64, (String, u64)>,
    wall: Duration,
) -> serde_json::Map<String, serde_json::Value> {
    let hz = super::app::clock_ticks_per_second();
    let mut by_name: HashMap<&str, u64> = HashMap::new();
    for (tid, (name, ticks)) in after {
        let earlier = before.get(tid).map_or(0, |(_, t)| *t);
        *by_name.entry(name.as_str()).or_default() += ticks.saturating_sub(earlier);
    }
    let mut shares: Vec<(&str, u64)> = by_name.into_iter().filter(|(_, t)| *t > 0).collect();
    shares.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    shares
        .into_iter()
        .map(|(name, ticks)| {
            let share = ticks as f64 / hz / wall.as_secs_f64() * 100.0;
            (name.to_string(), json!((share * 1000.0).round() / 1000.0))
        })
        .collect()
}

async fn friends_online(engine: &Engine) -> anyhow::Result<usize> {
    match engine.call(Request::ListFriends).await? {
        Response::Friends { friends } => {
            Ok(friends.iter().filter(|f| f.connection.is_some()).count())
        }
        other => anyhow::bail!("list_friends answered {other:?}"),
    }
}

async fn wait_for_a_friend_online(engine: &Engine) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while friends_online(engine).await? == 0 {
        if Instant::now() > deadline {
            anyhow::bail!("the demo friend never showed online");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_shares_sum_threads_of_one_name_and_leave_out_idle_ones() {
        let before = HashMap::from([
            (1, ("net".into(), 10)),
            (2, ("net".into(), 0)),
            (3, ("idle".into(), 5)),
        ]);
        let after = HashMap::from([
            (1, ("net".into(), 12)),
            (2, ("net".into(), 1)),
            (3, ("idle".into(), 5)),
            (4, ("new".into(), 1)),
        ]);
        let shares = thread_shares(&before, &after, Duration::from_secs(100));
        let names: Vec<&String> = shares.keys().collect();
        assert!(
            shares.contains_key("net") && shares.contains_key("new"),
            "{shares:?}"
        );
        assert!(!shares.contains_key("idle"), "{names:?}");
        let net = shares["net"].as_f64().unwrap_or_default();
        let new = shares["new"].as_f64().unwrap_or_default();
        assert!(
            (net - 3.0 * new).abs() < 1e-3,
            "3 ticks against 1: {shares:?}"
        );
    }
}
