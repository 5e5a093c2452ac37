//! `bench idle`: what an idle peer costs — the CPU share (% of one core) of a full peer (all
//! interfaces, mDNS on, as the app runs) with one friend online and nothing else happening, over
//! `--seconds` (60 by default) after 5 s of settling. The friend is a separate `earshot-node
//! demo-friend` process, so only this peer's work is counted. Linux and macOS (getrusage).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use earshot_engine::api::{Request, Response};
use earshot_engine::net::NetConfig;
use earshot_engine::{Config, Engine};
use serde_json::json;

/// Settling before measuring: the greeting, identify and the first mDNS rounds are start-up work.
const SETTLE: Duration = Duration::from_secs(5);

pub async fn run(seconds: u64) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let friend_dir = tempfile::tempdir()?;
    let mut friend = Command::new(std::env::current_exe()?)
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
    tokio::time::sleep(SETTLE).await;

    let (cpu_before, started) = (crate::bench_audio::cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu, wall) = (
        crate::bench_audio::cpu_time() - cpu_before,
        started.elapsed(),
    );
    let online = friends_online(&engine).await?;
    engine.shutdown().await;
    Ok(json!({
        "bench": "idle",
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "seconds": wall.as_secs_f64(),
        "cpu_ms": cpu.as_secs_f64() * 1000.0,
        "cpu_percent_of_one_core": (cpu.as_secs_f64() / wall.as_secs_f64() * 100_000.0).round() / 1000.0,
        "friends_online_at_end": online,
        "peer": "all interfaces, mDNS on, one friend (a separate demo-friend process), media controls off",
    }))
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
