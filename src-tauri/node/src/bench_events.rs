//! `earshot-node bench events`: what the player's events cost with a 20,000-entry queue (a whole
//! library queued), as the window and `earshot-node` receive them (JSON bytes), and how long
//! serialising them takes.
//!
//! - `before`: the event a pause used to send, `player_changed` with the whole queue inside (the
//!   current state with the queue put back in: the shape of round 1);
//! - `after`: every event one call publishes now, for a pause, a volume change, a move to the next
//!   track, and for an edit of the queue (which sends the queue once, as `queue_changed`).
//!
//! The queue is one generated, tagged track queued 20,000 times: its entry is as large as a real
//! library's typical one (title, artists, album, path under an artist/album folder).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use earshot_engine::api::{Event, PlayerState, Request, Response, Track};
use earshot_engine::player::{OutputKind, VirtualSink};
use earshot_engine::{Config, Engine};
use serde_json::json;
use tokio::sync::broadcast;

const QUEUE: usize = 20_000;
/// Serialisations timed per figure (median).
const TIMED: usize = 20;

pub async fn run() -> anyhow::Result<serde_json::Value> {
    let music = tempfile::tempdir()?;
    let album = music
        .path()
        .join("Ada Lovelace")
        .join("Notes on the Engine");
    std::fs::create_dir_all(&album)?;
    let file = album.join("03 - The Analytical Engine Weaves Algebraic Patterns.flac");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:sample_rate=44100:duration=30")
        .args(["-c:a", "flac"])
        .args([
            "-metadata",
            "title=The Analytical Engine Weaves Algebraic Patterns",
        ])
        .args(["-metadata", "artist=Ada Lovelace; Charles Babbage"])
        .args(["-metadata", "album=Notes on the Engine"])
        .args(["-metadata", "album_artist=Ada Lovelace"])
        .args(["-metadata", "track=3/12", "-metadata", "date=1843"])
        .args(["-metadata", "genre=Classical"])
        .arg(&file)
        .status()
        .context("ffmpeg is needed to make the benchmark's file (apt-get install ffmpeg)")?;
    if !status.success() {
        bail!("ffmpeg failed making {}", file.display());
    }

    let data = tempfile::tempdir()?;
    let config = Config {
        audio: OutputKind::Virtual(VirtualSink::new(48_000, 2)),
        ..Config::offline(data.path())
    };
    let engine = Engine::start(config).await?;
    let tracks = crate::bench_audio::add_and_list(&engine, music.path()).await?;
    let mut events = engine.subscribe();
    let hash = tracks
        .first()
        .context("the track was not scanned")?
        .hash
        .clone();

    let play = measure(
        &engine,
        &mut events,
        Request::Play {
            hashes: vec![hash; QUEUE],
            start: None,
        },
    )
    .await?;
    let pause = measure(&engine, &mut events, Request::Pause).await?;
    let volume = measure(&engine, &mut events, Request::SetVolume { volume: 80 }).await?;
    let next = measure(&engine, &mut events, Request::Next).await?;
    let remove = measure(&engine, &mut events, Request::RemoveFromQueue { index: 0 }).await?;

    // The round-1 shape: the state a pause sends, with the whole queue inside.
    let Response::Queue(queue) = engine.call(Request::GetQueue).await? else {
        bail!("get_queue did not answer with the queue");
    };
    let Response::Player(state) = engine.call(Request::GetPlayer).await? else {
        bail!("get_player did not answer with the player");
    };
    let before = RoundOne {
        kind: "player_changed",
        state: &state,
        queue: &queue.tracks,
    };
    let before_bytes = serde_json::to_vec(&before)?.len();
    let before_ms = median_ms(|| serde_json::to_vec(&before).map_or(0, |v| v.len()));
    engine.shutdown().await;

    Ok(json!({
        "bench": "events",
        "queue_entries": QUEUE,
        "bytes_per_queue_entry": before_bytes / QUEUE,
        "pause": {
            "before_bytes": before_bytes,
            "before_serialise_ms": before_ms,
            "after_bytes": pause.bytes,
            "after_events": pause.kinds,
            "after_serialise_ms": pause.serialise_ms,
            "smaller_by": round(before_bytes as f64 / pause.bytes.max(1) as f64),
        },
        "set_volume": figures(&volume),
        "next": figures(&next),
        "play_20000": figures(&play),
        "remove_from_queue": figures(&remove),
        "note": "JSON bytes of every event one call publishes (position reports aside); before = the round-1 player_changed, which carried the queue on every change",
    }))
}

/// `player_changed` as round 1 sent it: the state with the whole queue inside.
#[derive(serde::Serialize)]
struct RoundOne<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    state: &'a PlayerState,
    queue: &'a [Track],
}

struct Published {
    bytes: usize,
    kinds: Vec<String>,
    serialise_ms: f64,
}

fn figures(published: &Published) -> serde_json::Value {
    json!({
        "bytes": published.bytes,
        "events": published.kinds,
        "serialise_ms": published.serialise_ms,
    })
}

/// Carries out `request` and sizes every event it published (they are all out before it answers).
async fn measure(
    engine: &Engine,
    events: &mut broadcast::Receiver<Event>,
    request: Request,
) -> anyhow::Result<Published> {
    // Whatever came before (positions, a gapless start) is not this call's.
    while events.try_recv().is_ok() {}
    engine.call(request).await?;
    let mut published = Vec::new();
    loop {
        match events.try_recv() {
            Ok(Event::PlayerPosition { .. } | Event::SyncReport { .. }) => {}
            Ok(event) => published.push(event),
            Err(broadcast::error::TryRecvError::Lagged(n)) => bail!("{n} events were lost"),
            Err(_) => break,
        }
    }
    let bytes = |events: &[Event]| -> usize {
        events
            .iter()
            .map(|e| serde_json::to_vec(e).map_or(0, |v| v.len()))
            .sum()
    };
    Ok(Published {
        bytes: bytes(&published),
        kinds: published
            .iter()
            .map(|e| {
                serde_json::to_value(e)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect(),
        serialise_ms: median_ms(|| bytes(&published)),
    })
}

/// The median time of `work` over [`TIMED`] runs, in milliseconds.
fn median_ms(mut work: impl FnMut() -> usize) -> f64 {
    let mut times: Vec<Duration> = (0..TIMED)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(work());
            started.elapsed()
        })
        .collect();
    times.sort();
    round(times[TIMED / 2].as_secs_f64() * 1000.0)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
