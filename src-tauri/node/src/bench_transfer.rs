//! `earshot-node bench transfer --json`: moving a friend's track (issue #9), each figure beside
//! its goal and its anchor, measured in one sitting.
//!
//! Ada holds two generated 44.1 kHz 16-bit stereo WAVs: a big one ([`BIG_MB`] MB;
//! `EARSHOT_BENCH_TRANSFER_MB` overrides, for a quick look) and a typical 4-minute track
//! (≈ 42 MB). Both peers are engines in this process over real libp2p on 127.0.0.1 and play
//! into software sinks. Each run, with a fresh Bo who has neither file:
//!
//! - `first_sample`: Bo's `play_friend_track` of the typical track, from the request until the
//!   first non-silent sample leaves Bo's sink (the sink records what it renders and when each
//!   buffer leaves the "device", on the engine clock; its fixed 20 ms output latency is included,
//!   as a real device's would be, and also shown without). Anchor: Ada playing the same track
//!   from her own library (`play`), measured the same way, just before.
//! - `throughput`: Bo's `add_friend_track` of the big file. `transfer_mb_s` is the file's size
//!   over the time from the request to its last `transfer_progress` (every byte received and
//!   verified); `add_mb_s` runs to the answer (also copied into the library and scanned).
//!   Anchor: the same file sent over a plain TCP connection on 127.0.0.1 (1 MiB reads and
//!   writes, no TLS or multiplexing), into a file that is then synced as the transfer's is, and
//!   into memory.
//!
//! Medians over the runs, with every sample; MB is 10^6 bytes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use earshot_engine::api::{Event, Request, Response};
use earshot_engine::clock;
use earshot_engine::keys::KeyOptions;
use earshot_engine::net::NetConfig;
use earshot_engine::player::{OutputKind, VirtualSink};
use earshot_engine::{Config, Engine};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::presence::{add_music, befriend, write_wav};

/// Progress events waiting for the measuring loop (a 500 MB file sends about a thousand).
const EVENT_QUEUE: usize = 8192;

/// The big file's size in MB (rounded to whole seconds of audio).
const BIG_MB: u64 = 300;
/// The typical track's length: 4 minutes.
const TYPICAL_SECONDS: u32 = 240;
/// Bytes per second of 44.1 kHz 16-bit stereo.
const WAV_BYTES_PER_S: u64 = 44_100 * 4;
/// Waiting for a sample, an event or an answer.
const TIMEOUT: Duration = Duration::from_secs(120);

const GOAL_MB_S: f64 = 200.0;
const GOAL_FIRST_SAMPLE_MS: f64 = 500.0;

pub async fn run(runs: usize) -> anyhow::Result<Value> {
    let started = Instant::now();
    let big_mb = std::env::var("EARSHOT_BENCH_TRANSFER_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BIG_MB);
    let music = tempfile::tempdir()?;
    let big = music.path().join("big.wav");
    let typical = music.path().join("typical.wav");
    let big_seconds = (big_mb * 1_000_000 / WAV_BYTES_PER_S).max(1) as u32;
    {
        let (big, typical) = (big.clone(), typical.clone());
        tokio::task::spawn_blocking(move || {
            write_wav(&big, big_seconds, 441.0)?;
            write_wav(&typical, TYPICAL_SECONDS, 330.0)
        })
        .await??;
    }
    let big_bytes = std::fs::metadata(&big)?.len();
    let typical_bytes = std::fs::metadata(&typical)?.len();

    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let ada_sink = sink();
    let ada = Engine::start(config(dirs[0].path(), &ada_sink)).await?;
    let library = add_music(&ada, music.path()).await?;
    let hash_of = |path: &Path| -> anyhow::Result<String> {
        let path = path.to_string_lossy();
        library
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, h)| h.clone())
            .with_context(|| format!("{path} is not in Ada's library"))
    };
    let (big_hash, typical_hash) = (hash_of(&big)?, hash_of(&typical)?);
    let ada_id = ada.peer_id().to_base58();
    eprintln!(
        "bench transfer: {} MB and {} MB in Ada's library ({:?})",
        big_bytes / 1_000_000,
        typical_bytes / 1_000_000,
        started.elapsed()
    );

    let mut local = Vec::new();
    let mut remote = Vec::new();
    let mut adds = Vec::new();
    let mut tcp_file = Vec::new();
    let mut tcp_memory = Vec::new();
    for run in 0..runs {
        // Anchor: Ada plays the track from her own library.
        let heard = first_sample(
            &ada,
            &ada_sink,
            Request::Play {
                hashes: vec![typical_hash.clone()],
                start: None,
            },
        )
        .await?;
        ada.call(Request::ClearQueue).await?;
        local.push(heard);

        let dir = tempfile::tempdir()?;
        let bo_sink = sink();
        let bo = Engine::start(config(dir.path(), &bo_sink)).await?;
        befriend(&ada, &bo).await?;
        let heard = first_sample(
            &bo,
            &bo_sink,
            Request::PlayFriendTrack {
                peer_id: ada_id.clone(),
                hash: typical_hash.clone(),
            },
        )
        .await?;
        remote.push(heard);
        bo.shutdown().await;

        // Another fresh friend adds the big file (a friend's request budget starts full).
        let dir = tempfile::tempdir()?;
        let bo = Engine::start(config(dir.path(), &sink())).await?;
        befriend(&ada, &bo).await?;
        // Bo needs a library folder for what he adds.
        let mine = dir.path().join("music");
        std::fs::create_dir_all(&mine)?;
        add_music(&bo, &mine).await?;
        adds.push(add(&bo, &ada_id, &big_hash, big_bytes).await?);
        bo.shutdown().await;

        let copy_to = dir.path().join("tcp-copy");
        let file = big.clone();
        let (to_file, to_memory) = tokio::task::spawn_blocking(move || {
            anyhow::Ok((tcp_copy(&file, Some(&copy_to))?, tcp_copy(&file, None)?))
        })
        .await??;
        tcp_file.push(to_file);
        tcp_memory.push(to_memory);
        eprintln!(
            "bench transfer: run {} of {runs} done ({:?})",
            run + 1,
            started.elapsed()
        );
    }
    ada.shutdown().await;

    let mb = |bytes: u64, d: Duration| round(bytes as f64 / 1e6 / d.as_secs_f64());
    let transfer_mb_s: Vec<f64> = adds.iter().map(|a| mb(a.received, a.last_byte)).collect();
    let add_mb_s: Vec<f64> = adds
        .iter()
        .map(|a| match a.error {
            None => mb(big_bytes, a.answered),
            Some(_) => f64::NAN,
        })
        .collect();
    let failures: Vec<Value> = adds
        .iter()
        .filter_map(|a| {
            a.error.as_ref().map(
                |e| json!({"error": e, "received_bytes": a.received, "after_ms": ms(a.answered)}),
            )
        })
        .collect();
    let tcp_file_mb_s: Vec<f64> = tcp_file.iter().map(|d| mb(big_bytes, *d)).collect();
    let tcp_memory_mb_s: Vec<f64> = tcp_memory.iter().map(|d| mb(big_bytes, *d)).collect();
    let transfer = median(&transfer_mb_s);
    let first = median_of(&remote, |h| h.at_device_ms);
    Ok(json!({
        "bench": "transfer",
        "build": if cfg!(debug_assertions) { "debug (use --release for real figures)" } else { "release" },
        "machine": format!("{} cores", std::thread::available_parallelism().map_or(0, |n| n.get())),
        "runs": runs,
        "transport": "tcp over 127.0.0.1, two engines in one process (libp2p: noise, yamux, /earshot/transfer/1)",
        "throughput": {
            "file_bytes": big_bytes,
            "transfer_mb_s": transfer,
            "goal_mb_s": GOAL_MB_S,
            "met": transfer >= GOAL_MB_S && failures.is_empty(),
            "completed": adds.len() - failures.len(),
            "failed": failures,
            "add_mb_s": median(&add_mb_s),
            "first_progress_ms": median(&adds.iter().map(|a| ms(a.first_progress)).collect::<Vec<_>>()),
            "anchor_tcp_copy_to_synced_file_mb_s": median(&tcp_file_mb_s),
            "anchor_tcp_copy_to_memory_mb_s": median(&tcp_memory_mb_s),
            "transfer_over_anchor": round(transfer / median(&tcp_file_mb_s)),
            "samples": {
                "transfer_mb_s": transfer_mb_s,
                "add_mb_s": add_mb_s,
                "anchor_tcp_copy_to_synced_file_mb_s": tcp_file_mb_s,
                "anchor_tcp_copy_to_memory_mb_s": tcp_memory_mb_s,
            },
            "measured": "transfer: bytes received over the time from the add_friend_track request to the last transfer_progress (the whole file when it completes: received, verified and written; a failed add counts what arrived before it failed); add: → its answer (filed into the library and scanned); anchor: the same bytes over a plain loopback TCP socket, 1 MiB user-space reads and writes",
        },
        "first_sample": {
            "track_bytes": typical_bytes,
            "track": "4:00, 44.1 kHz 16-bit stereo WAV",
            "friends_track_ms": first,
            "goal_ms": GOAL_FIRST_SAMPLE_MS,
            "met": first <= GOAL_FIRST_SAMPLE_MS,
            "friends_track_rendered_ms": median_of(&remote, |h| h.rendered_ms),
            "friends_track_answer_ms": median_of(&remote, |h| h.answered_ms),
            "friends_track_last_byte_ms": median_of(&remote, |h| h.last_byte_ms),
            "anchor_local_library_ms": median_of(&local, |h| h.at_device_ms),
            "anchor_local_library_rendered_ms": median_of(&local, |h| h.rendered_ms),
            "samples": {
                "friends_track_ms": remote.iter().map(|h| h.at_device_ms).collect::<Vec<_>>(),
                "anchor_local_library_ms": local.iter().map(|h| h.at_device_ms).collect::<Vec<_>>(),
            },
            "sink_output_latency_ms": ms(sink().latency),
            "measured": "from the request (play_friend_track; anchor: play from the library) until the first non-silent sample leaves the software sink (render time + the sink's 20 ms output latency); rendered: without that latency; answer: the request's answer; last_byte: the fetch's last transfer_progress (the whole file in; playback may start before)",
        },
        "seconds": round(started.elapsed().as_secs_f64()),
    }))
}

// ── Figures ─────────────────────────────────────────────────────────────────────────────────

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => round((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn median_of(heard: &[Heard], figure: impl Fn(&Heard) -> f64) -> f64 {
    median(&heard.iter().map(figure).collect::<Vec<_>>())
}

// ── Engines that play into software sinks ─────────────────────────────────────────────────

/// A software sink that keeps two minutes of what it plays, to be searched for the first sound.
fn sink() -> VirtualSink {
    VirtualSink {
        keep: 48_000 * 2 * 120,
        ..VirtualSink::new(48_000, 2)
    }
}

fn config(dir: &Path, sink: &VirtualSink) -> Config {
    let mut config = Config {
        net: Some(NetConfig::loopback()),
        audio: OutputKind::Virtual(sink.clone()),
        media_controls: false,
        ..Config::new(dir)
    };
    config.store.keys = KeyOptions::key_file_only();
    config
}

/// When a play request was first heard.
struct Heard {
    /// Request → the first non-silent sample leaves the sink.
    at_device_ms: f64,
    /// The same, less the sink's output latency.
    rendered_ms: f64,
    /// Request → its answer.
    answered_ms: f64,
    /// Request → the fetch's last `transfer_progress` (NaN when nothing was fetched).
    last_byte_ms: f64,
}

/// Sends `request` and times it until `sink` plays something other than silence.
async fn first_sample(
    engine: &Engine,
    sink: &VirtualSink,
    request: Request,
) -> anyhow::Result<Heard> {
    {
        // The sink's thread takes `played`, then `first_ns`: the same order here.
        let mut played = sink.played.lock().expect("the sink's lock");
        played.clear();
        *sink.first_ns.lock().expect("the sink's lock") = None;
    }
    let progress = Progress::follow(engine);
    let asked_ns = clock::now_ns();
    let started = Instant::now();
    let listening = {
        let sink = sink.clone();
        tokio::task::spawn_blocking(move || first_sound(&sink, started + TIMEOUT))
    };
    engine.call(request).await?;
    let answered = started.elapsed();
    let heard_ns = listening
        .await?
        .with_context(|| format!("nothing was heard within {TIMEOUT:?}"))?;
    // Playback may start before the last byte is in (the player reads a friend's track as it
    // arrives): the whole file's arrival is timed too.
    let last_byte = progress
        .until_complete(started + TIMEOUT)
        .await
        .filter(|p| p.complete)
        .map(|p| p.last.saturating_duration_since(started));
    let at_device = heard_ns.saturating_sub(asked_ns);
    let latency = sink.latency.as_nanos() as u64;
    Ok(Heard {
        at_device_ms: round(at_device as f64 / 1e6),
        rendered_ms: round(at_device.saturating_sub(latency) as f64 / 1e6),
        answered_ms: ms(answered),
        last_byte_ms: last_byte.map_or(f64::NAN, ms),
    })
}

/// When (engine clock) the first non-silent sample `sink` played since it was cleared leaves the
/// sink; `None` if nothing by `deadline`.
fn first_sound(sink: &VirtualSink, deadline: Instant) -> Option<u64> {
    let mut from = 0;
    loop {
        {
            let played = sink.played.lock().expect("the sink's lock");
            if let Some(i) = played[from.min(played.len())..]
                .iter()
                .position(|s| s.abs() > 1e-6)
            {
                let first = (*sink.first_ns.lock().expect("the sink's lock"))?;
                let frame = ((from + i) / sink.channels) as u64;
                return Some(first + frame * 1_000_000_000 / sink.rate as u64);
            }
            from = played.len();
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// A fetch's `transfer_progress` events, as they are published.
struct Progress {
    seen: mpsc::Receiver<(u64, u64, Instant)>,
    watcher: tokio::task::JoinHandle<()>,
}

struct Span {
    first: Instant,
    /// The furthest progress, and when.
    last: Instant,
    received: u64,
    complete: bool,
}

impl Progress {
    fn follow(engine: &Engine) -> Progress {
        let mut events = engine.subscribe();
        let (tx, seen) = mpsc::channel(EVENT_QUEUE);
        let watcher = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::TransferProgress {
                        received, total, ..
                    }) => {
                        if tx.send((received, total, Instant::now())).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Progress { seen, watcher }
    }

    /// [`Progress::finish`], once the file is complete or by `deadline`.
    async fn until_complete(mut self, deadline: Instant) -> Option<Span> {
        let mut seen = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline.into(), self.seen.recv()).await
        {
            let complete = event.0 >= event.1;
            seen.push(event);
            if complete {
                break;
            }
        }
        self.watcher.abort();
        let (tx, rx) = mpsc::channel(seen.len().max(1));
        for event in seen {
            let _ = tx.try_send(event);
        }
        Progress {
            seen: rx,
            watcher: tokio::spawn(async {}),
        }
        .finish()
    }

    /// The first progress and the furthest, if there were any.
    fn finish(mut self) -> Option<Span> {
        self.watcher.abort();
        let mut span: Option<Span> = None;
        while let Ok((received, total, at)) = self.seen.try_recv() {
            let span = span.get_or_insert(Span {
                first: at,
                last: at,
                received,
                complete: false,
            });
            if received >= span.received {
                span.last = at;
                span.received = received;
                span.complete = received >= total;
            }
        }
        span
    }
}

/// One `add_friend_track` of the big file, timed.
struct Added {
    first_progress: Duration,
    /// Request → the furthest progress.
    last_byte: Duration,
    received: u64,
    /// Request → the answer (or the error).
    answered: Duration,
    error: Option<String>,
}

async fn add(bo: &Engine, ada: &str, hash: &str, bytes: u64) -> anyhow::Result<Added> {
    let progress = Progress::follow(bo);
    let started = Instant::now();
    let answer = tokio::time::timeout(
        TIMEOUT,
        bo.call(Request::AddFriendTrack {
            peer_id: ada.to_string(),
            hash: hash.to_string(),
        }),
    )
    .await
    .context("add_friend_track took too long")?;
    let answered = started.elapsed();
    let error = match answer {
        Ok(Response::Track(track)) => {
            anyhow::ensure!(track.hash == hash, "added {} instead of {hash}", track.hash);
            anyhow::ensure!(
                std::fs::metadata(&track.path)?.len() == bytes,
                "the added file's size differs"
            );
            None
        }
        Ok(other) => bail!("add_friend_track answered {other:?}"),
        Err(e) => Some(e.message),
    };
    // Events are published before the answer; give the watcher a moment to pass the last on.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let span = progress.finish().context("no transfer_progress at all")?;
    anyhow::ensure!(
        error.is_some() || span.complete,
        "added, but no transfer_progress reached the total"
    );
    Ok(Added {
        first_progress: span.first.saturating_duration_since(started),
        last_byte: span.last.saturating_duration_since(started),
        received: span.received,
        answered,
        error,
    })
}

// ── The anchor: a plain TCP copy ─────────────────────────────────────────────────────────

/// Sends `file` over a fresh TCP connection on 127.0.0.1 with 1 MiB reads and writes; the
/// receiver writes it to `to` and syncs it (or keeps nothing). Returns how long it took.
fn tcp_copy(file: &Path, to: Option<&Path>) -> anyhow::Result<Duration> {
    const BUFFER: usize = 1 << 20;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let to: Option<PathBuf> = to.map(Path::to_path_buf);
    let written = to.clone();
    let size = std::fs::metadata(file)?.len();
    let started = Instant::now();
    let receiver = std::thread::spawn(move || -> anyhow::Result<u64> {
        let (mut socket, _) = listener.accept()?;
        let mut out = match &to {
            Some(path) => Some(std::fs::File::create(path)?),
            None => None,
        };
        let mut buffer = vec![0u8; BUFFER];
        let mut total = 0u64;
        loop {
            let n = socket.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            if let Some(out) = &mut out {
                out.write_all(&buffer[..n])?;
            }
            total += n as u64;
        }
        if let Some(out) = out {
            out.sync_all()?;
        }
        Ok(total)
    });
    let mut source = std::fs::File::open(file)?;
    let mut socket = std::net::TcpStream::connect(address)?;
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let n = source.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        socket.write_all(&buffer[..n])?;
    }
    socket.shutdown(std::net::Shutdown::Write)?;
    let received = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("the receiving thread panicked"))??;
    let took = started.elapsed();
    anyhow::ensure!(received == size, "received {received} of {size} bytes");
    if let Some(written) = written {
        let _ = std::fs::remove_file(written);
    }
    Ok(took)
}
