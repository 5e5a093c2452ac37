//! `earshot-node bench <what> --json`: measurements printed as one JSON object (design §9, layer 6).
//!
//! `connect` times, over several runs on this machine (engines in this process, real libp2p over
//! loopback; medians reported):
//! - `invite_to_friends_ms`: from redeeming an invite until both sides list each other online;
//! - `reconnect_after_restart_ms`: from a friend's restart until the other side sees it online;
//! - `lan_discovery_ms`: from two peers starting with mDNS until one lists the other as nearby.

use std::path::Path;
use std::time::{Duration, Instant};

use earshot_engine::api::{Event, Request, Response};
use earshot_engine::net::NetConfig;
use earshot_engine::{Config, Engine};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum Bench {
    /// Pairing, reconnection and LAN discovery times.
    Connect,
    /// Decode speed per format (multiples of real time, one core) beside ffmpeg's.
    Decode,
    /// Scanning 5,000 tagged files: cold, warm and unchanged rescan (tracks per second).
    Scan,
    /// CPU share while playing through the real audio device for 30 s.
    Playback,
}

pub async fn run(what: Bench, runs: usize) -> anyhow::Result<serde_json::Value> {
    match what {
        Bench::Connect => connect(runs).await,
        Bench::Decode => tokio::task::spawn_blocking(crate::bench_audio::decode).await?,
        Bench::Scan => crate::bench_audio::scan().await,
        Bench::Playback => crate::bench_audio::playback().await,
    }
}

async fn connect(runs: usize) -> anyhow::Result<serde_json::Value> {
    let mut invite = Vec::new();
    let mut reconnect = Vec::new();
    let mut discovery = Vec::new();
    for _ in 0..runs {
        let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
        let a = start(dirs[0].path(), NetConfig::loopback()).await?;
        let b = start(dirs[1].path(), NetConfig::loopback()).await?;
        let Response::Invite(link) = a
            .call(Request::CreateInvite {
                lifetime_secs: None,
            })
            .await?
        else {
            anyhow::bail!("create_invite did not answer with an invite");
        };
        let started = Instant::now();
        b.call(Request::RedeemInvite { link: link.link }).await?;
        wait_online(&a, &b).await?;
        wait_online(&b, &a).await?;
        invite.push(started.elapsed());

        b.shutdown().await;
        let started = Instant::now();
        let b = start(dirs[1].path(), NetConfig::loopback()).await?;
        wait_online(&a, &b).await?;
        reconnect.push(started.elapsed());
        a.shutdown().await;
        b.shutdown().await;

        let lan = || NetConfig {
            listen: vec!["/ip4/0.0.0.0/tcp/0".parse().expect("a valid multiaddr")],
            mdns: true,
            ..NetConfig::default()
        };
        let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
        let started = Instant::now();
        let a = start(dirs[0].path(), lan()).await?;
        let mut events = a.subscribe();
        let b = start(dirs[1].path(), lan()).await?;
        let b_id = b.peer_id().to_base58();
        tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Ok(Event::NearbyChanged { peers }) = events.recv().await {
                    if peers.iter().any(|p| p.peer_id == b_id) {
                        return;
                    }
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("LAN discovery took over {TIMEOUT:?}"))?;
        discovery.push(started.elapsed());
        a.shutdown().await;
        b.shutdown().await;
    }
    Ok(json!({
        "bench": "connect",
        "runs": runs,
        "invite_to_friends_ms": median_ms(&mut invite),
        "reconnect_after_restart_ms": median_ms(&mut reconnect),
        "lan_discovery_ms": median_ms(&mut discovery),
        "samples_ms": {
            "invite_to_friends": all_ms(&invite),
            "reconnect_after_restart": all_ms(&reconnect),
            "lan_discovery": all_ms(&discovery),
        },
        "transport": "tcp over loopback (lan_discovery: mDNS on this host's interfaces)",
    }))
}

async fn start(dir: &Path, net: NetConfig) -> anyhow::Result<Engine> {
    let config = Config {
        net: Some(net),
        ..Config::new(dir)
    };
    Ok(Engine::start(config).await?)
}

/// Waits until `who` lists `friend` as connected.
async fn wait_online(who: &Engine, friend: &Engine) -> anyhow::Result<()> {
    let id = friend.peer_id().to_base58();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Response::Friends { friends } = who.call(Request::ListFriends).await? {
            if friends
                .iter()
                .any(|f| f.peer_id == id && f.connection.is_some())
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("a friend did not come online within {TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    let n = samples.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    };
    round(mid.as_secs_f64() * 1000.0)
}

fn all_ms(samples: &[Duration]) -> Vec<f64> {
    samples
        .iter()
        .map(|d| round(d.as_secs_f64() * 1000.0))
        .collect()
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}
