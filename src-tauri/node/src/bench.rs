//! `earshot-node bench <what> --json`: measurements printed as one JSON object (design §9, layer 6).
//!
//! `connect` times, over several runs on this machine (engines in this process, real libp2p over
//! loopback; medians reported):
//! - `invite_to_friends_ms`: from redeeming an invite until both sides list each other online;
//! - `reconnect_after_restart_ms`: from a friend's restart until the other side sees it online;
//! - `lan_discovery_ms`: from two peers starting with mDNS until one lists the other as nearby.
//!
//! `store` compares the encrypted database (SQLCipher) with a plaintext one, alternating runs in
//! one sitting (medians): inserting 20,000 track rows 256 per transaction (as a scan stores them),
//! then, after a reopen (SQLite's cache cold, the OS's warm), listing them all in album order —
//! first with every page still to be read (and, encrypted, decrypted), then again from SQLite's
//! cache — a substring search over every row, and 2,000 lookups by path.

use std::path::Path;
use std::time::{Duration, Instant};

use earshot_engine::api::{Event, Request, Response};
use earshot_engine::net::NetConfig;
use earshot_engine::{Config, Engine};
use serde_json::json;

#[path = "bench_app.rs"]
pub(crate) mod app;
#[path = "bench_events.rs"]
mod events;
#[path = "bench_idle.rs"]
pub(crate) mod idle;
#[path = "bench_jam.rs"]
mod jam;
#[path = "bench_messages.rs"]
mod messages;
#[path = "bench_presence.rs"]
mod presence;
#[path = "bench_transfer.rs"]
mod transfer;

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
    /// The database's speed, encrypted against plaintext.
    Store,
    /// Bytes of the player's events with 20,000 tracks queued: a pause before and after.
    Events,
    /// CPU share of an idle peer with one friend online: the first minute, then `--seconds` (60).
    Idle,
    /// Message delivery latency (loopback, a 20 ms link), durable throughput, and a 1M-entry store.
    Messages,
    /// How soon a friend sees a track change (loopback, a 20 ms link).
    Presence,
    /// A friend's track: MB/s over loopback, and the time to its first audible sample.
    Transfer,
    /// A jam of `--peers` processes with clocks seconds apart and drifting virtual devices:
    /// inter-peer offset, drift, join-to-in-sync, and pause/seek/skip.
    Jam,
    /// The release app under Xvfb: launch to first view (`--runs` launches), memory after 10 s
    /// idle, the .deb and .rpm sizes, and idle CPU with one friend online over `--seconds`.
    App,
}

/// The command line's options for a bench.
pub struct Options {
    /// How many runs to take the median of.
    pub runs: usize,
    /// `jam`: how many peers.
    pub peers: usize,
    /// `jam`: seconds of steady playing measured; `idle`: seconds measured after the first minute.
    pub seconds: f64,
    /// `app`: the app binary [default: `<target>/release/earshot`].
    pub app: Option<std::path::PathBuf>,
}

pub async fn run(what: Bench, options: Options) -> anyhow::Result<serde_json::Value> {
    let runs = options.runs;
    match what {
        Bench::Connect => connect(runs).await,
        Bench::Decode => tokio::task::spawn_blocking(crate::bench_audio::decode).await?,
        Bench::Scan => crate::bench_audio::scan().await,
        Bench::Playback => crate::bench_audio::playback().await,
        Bench::Store => store(runs).await,
        Bench::Events => events::run().await,
        Bench::Idle => idle::run(options.seconds.max(1.0) as u64).await,
        Bench::Messages => messages::run().await,
        Bench::Presence => presence::run().await,
        Bench::Transfer => transfer::run(runs).await,
        Bench::Jam => {
            let (peers, seconds) = (options.peers, options.seconds);
            tokio::task::spawn_blocking(move || jam::run(peers, seconds)).await?
        }
        Bench::App => {
            let options = app::AppOptions {
                app: options.app,
                runs,
                seconds: options.seconds,
            };
            tokio::task::spawn_blocking(move || app::run(options)).await?
        }
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

/// An engine configuration whose database stays plaintext: the baseline that encryption is
/// measured against (`bench store`, `bench scan`).
pub fn plaintext(config: Config) -> Config {
    let mut config = config;
    config.store.unencrypted = true;
    config
}

const STORE_TRACKS: usize = 20_000;
const STORE_LOOKUPS: usize = 2_000;
const STORE_FIGURES: [&str; 5] = [
    "insert_ms",
    "list_all_first_ms",
    "list_all_again_ms",
    "search_ms",
    "lookups_ms",
];

/// One run of the store figures on a fresh database, in the order of `STORE_FIGURES`.
async fn store_run(encrypted: bool) -> anyhow::Result<[Duration; 5]> {
    use earshot_engine::keys::{self, KeyOptions};
    use earshot_engine::store::{self, Store, StoreOptions};

    let dir = tempfile::tempdir()?;
    let options = StoreOptions {
        keys: KeyOptions::key_file_only(),
        unencrypted: !encrypted,
        ..StoreOptions::default()
    };
    let key = keys::unlock(dir.path(), &options.keys)?;
    let path = dir.path().join(store::FILE_NAME);
    let (db, closed) = Store::open(&path, options.clone(), &key).await?;
    let started = Instant::now();
    db.call(|c| {
        c.execute("INSERT INTO folders (path, added_at) VALUES ('/music', 0)", [])?;
        for chunk in (0..STORE_TRACKS).collect::<Vec<_>>().chunks(256) {
            let tx = c.transaction()?;
            for &i in chunk {
                tx.execute(
                    "INSERT INTO tracks (path, folder, hash, size, mtime, title, artists, artist, \
                     album, album_artist, track_no, disc_no, year, genre, duration_ms, sample_rate, \
                     channels, codec, added_at) VALUES (?1, '/music', ?2, 5000000, 0, ?3, ?4, ?5, \
                     ?6, ?5, ?7, 1, 2026, 'Test', 240000, 44100, 2, 'mp3', 0)",
                    (
                        format!("/music/Artist {:03}/Album {:04}/{:02} Track.mp3", i / 200, i / 12, i % 12),
                        format!("{:064x}", i as u128 * 2_654_435_761),
                        format!("Track number {i} of the benchmark"),
                        format!("[\"Artist {:03}\"]", i / 200),
                        format!("Artist {:03}", i / 200),
                        format!("Album {:04}", i / 12),
                        (i % 12 + 1) as i64,
                    ),
                )?;
            }
            tx.commit()?;
        }
        Ok(())
    })
    .await?;
    let insert = started.elapsed();
    db.close().await;
    closed.wait(Duration::from_secs(30)).await;

    let (db, closed) = Store::open(&path, options, &key).await?;
    let list_all = || {
        db.call(|c| {
            let mut statement = c.prepare_cached(
                "SELECT path, title, artist, album, duration_ms FROM tracks \
                 ORDER BY album_artist COLLATE NOCASE, album COLLATE NOCASE, disc_no, track_no",
            )?;
            let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.count())
        })
    };
    let started = Instant::now();
    let listed = list_all().await?;
    let list_first = started.elapsed();
    let started = Instant::now();
    list_all().await?;
    let list_again = started.elapsed();
    anyhow::ensure!(listed == STORE_TRACKS, "listed {listed} tracks");
    let started = Instant::now();
    let found: i64 = db
        .call(|c| {
            c.query_row(
                "SELECT count(*) FROM tracks WHERE title LIKE '%number 1234%' OR artist LIKE '%1234%' \
                 OR album LIKE '%1234%'",
                [],
                |r| r.get(0),
            )
        })
        .await?;
    let search = started.elapsed();
    anyhow::ensure!(found > 0, "the search found nothing");
    let started = Instant::now();
    db.call(|c| {
        let mut statement = c.prepare_cached("SELECT title FROM tracks WHERE path = ?1")?;
        for n in 0..STORE_LOOKUPS {
            let i = (n * 7919) % STORE_TRACKS;
            let path = format!(
                "/music/Artist {:03}/Album {:04}/{:02} Track.mp3",
                i / 200,
                i / 12,
                i % 12
            );
            statement.query_row([path], |r| r.get::<_, String>(0))?;
        }
        Ok(())
    })
    .await?;
    let lookups = started.elapsed();
    db.close().await;
    closed.wait(Duration::from_secs(30)).await;
    Ok([insert, list_first, list_again, search, lookups])
}

async fn store(runs: usize) -> anyhow::Result<serde_json::Value> {
    let mut samples: [[Vec<Duration>; 5]; 2] = Default::default();
    // Alternate, so a busy moment on the machine falls on both sides.
    for _ in 0..runs {
        for (side, encrypted) in [(0, false), (1, true)] {
            let run = store_run(encrypted).await?;
            for (figure, value) in run.into_iter().enumerate() {
                samples[side][figure].push(value);
            }
        }
    }
    let names = STORE_FIGURES;
    let mut sides = Vec::new();
    for side in &mut samples {
        let medians: Vec<f64> = side.iter_mut().map(|s| median_ms(s)).collect();
        sides.push(medians);
    }
    let figures = |m: &Vec<f64>| -> serde_json::Value {
        names
            .iter()
            .zip(m)
            .map(|(n, v)| (n.to_string(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let ratios: serde_json::Map<_, _> = names
        .iter()
        .zip(sides[1].iter().zip(&sides[0]))
        .map(|(n, (enc, plain))| (n.to_string(), json!((enc / plain * 100.0).round() / 100.0)))
        .collect();
    Ok(json!({
        "bench": "store",
        "build": if cfg!(debug_assertions) { "debug (use --release for real figures)" } else { "release" },
        "tracks": STORE_TRACKS,
        "lookups": STORE_LOOKUPS,
        "runs": runs,
        "plaintext": figures(&sides[0]),
        "encrypted": figures(&sides[1]),
        "encrypted_over_plaintext": ratios,
    }))
}
