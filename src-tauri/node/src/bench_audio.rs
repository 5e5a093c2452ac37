//! Library and player benchmarks (one JSON object each; build with `--release` for real figures):
//!
//! - `decode`: decode speed per format as a multiple of real time on one core, beside
//!   `ffmpeg -threads 1 … -f null -` on the same files in the same run, less ffmpeg's start-up
//!   (`vs_ffmpeg` > 1 means Earshot decodes faster); each side decodes a file repeatedly until 0.5 s
//!   is timed, and a figure from under a millisecond is printed as null, never as 0;
//! - `scan`: tracks per second scanning 5,000 generated tagged files with cover art — cold (page
//!   cache dropped when allowed), warm (files cached, empty library) and an unchanged rescan;
//!   then the loudness analysis that follows a scan in the background (idle priority, one file at a
//!   time): its rate in tracks and in seconds of audio per second, and how long a 5,000-track
//!   library (of these 3 s files, and projected for 4-minute tracks) takes to be measured;
//! - `playback`: the process's CPU share (% of one core) while playing through the real output
//!   device for 30 s (needs a working audio device, e.g. a PulseAudio null sink).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use earshot_engine::api::{Event, NormalisationState, Request, Response};
use earshot_engine::player::decode::Decoder;
use earshot_engine::{Config, Engine};
use serde_json::json;

const DECODE_SECONDS: u32 = 180;
/// Each decoder is timed over at least this long (repeating the file), or the figure is noise.
const MIN_TIMED: Duration = Duration::from_millis(500);
/// At most this many passes over one file (a decoder faster than this is reported as is).
const MAX_PASSES: u32 = 1_000;
const SCAN_FILES: usize = 5000;
const PLAYBACK_SECONDS: u64 = 30;

fn ffmpeg(args: &[&str], out: &Path) -> anyhow::Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .context("ffmpeg is needed to make the benchmark's files (apt-get install ffmpeg)")?;
    if !status.success() {
        bail!("ffmpeg failed making {}", out.display());
    }
    Ok(())
}

/// A minute of music-like sound: chords plus a little noise, stereo, 44.1 kHz.
fn source(seconds: u32) -> String {
    format!(
        "aevalsrc=0.2*sin(2*PI*220*t)+0.15*sin(2*PI*277.2*t)+0.1*sin(2*PI*329.6*t)+0.05*random(0)|0.2*sin(2*PI*220*t+1)+0.15*sin(2*PI*329.6*t)+0.05*random(1):s=44100:d={seconds}"
    )
}

const FORMATS: &[(&str, &str, &[&str])] = &[
    ("wav", "wav", &["-c:a", "pcm_s16le"]),
    ("flac", "flac", &["-c:a", "flac"]),
    ("mp3", "mp3", &["-c:a", "libmp3lame", "-b:a", "256k"]),
    ("vorbis", "ogg", &["-c:a", "libvorbis", "-q:a", "6"]),
    ("aac", "m4a", &["-c:a", "aac", "-b:a", "256k"]),
    ("alac", "m4a", &["-c:a", "alac"]),
    // Opus runs at 48 kHz; the file is decoded at its own rate on both sides (no resampling).
    (
        "opus",
        "opus",
        &["-c:a", "libopus", "-b:a", "160k", "-ar", "48000"],
    ),
];

/// The rate a format's file is decoded at here: its own, so no side pays for resampling.
fn file_rate(name: &str) -> u32 {
    if name == "opus" {
        48_000
    } else {
        44_100
    }
}

fn mode() -> &'static str {
    if cfg!(debug_assertions) {
        "debug (use --release for real figures)"
    } else {
        "release"
    }
}

pub fn decode() -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let mut figures = serde_json::Map::new();
    for (name, ext, codec) in FORMATS {
        let path = dir.path().join(format!("{name}.{ext}"));
        let mut args = vec!["-f", "lavfi"];
        let src = source(DECODE_SECONDS);
        args.extend(["-i", &src]);
        args.extend(codec.iter());
        ffmpeg(&args, &path)?;

        // Each side decodes the file as many times as it takes to fill `MIN_TIMED` (a WAV file
        // decodes in milliseconds, too short to time beside a process start-up), then per pass.
        let mut frames = 0usize;
        let mut ours_once = || -> anyhow::Result<Duration> {
            let started = Instant::now();
            let mut decoder = Decoder::open(&path, file_rate(name), 2)?;
            let mut out = Vec::with_capacity(1 << 16);
            frames = 0;
            loop {
                out.clear();
                if !decoder.next_chunk(&mut out)? {
                    break;
                }
                frames += out.len() / 2;
            }
            Ok(started.elapsed())
        };
        let first = ours_once()?;
        let passes = passes_to_fill(first);
        let mut total = first;
        for _ in 1..passes {
            total += ours_once()?;
        }
        let ours = total / passes;
        // ffmpeg's own start-up (process, probing) is timed on the first 50 ms and taken off;
        // `-stream_loop` makes it decode the file again within one process.
        let ffmpeg_decode = |limit: Option<&str>, passes: u32| -> anyhow::Result<Duration> {
            let started = Instant::now();
            let mut command = Command::new("ffmpeg");
            command.args(["-v", "error", "-threads", "1"]);
            if let Some(limit) = limit {
                command.args(["-t", limit]);
            }
            if passes > 1 {
                command.args(["-stream_loop", &(passes - 1).to_string()]);
            }
            let status = command
                .arg("-i")
                .arg(&path)
                .args(["-f", "null", "-"])
                .status()?;
            if !status.success() {
                bail!("ffmpeg could not decode {}", path.display());
            }
            Ok(started.elapsed())
        };
        let startup = ffmpeg_decode(Some("0.05"), 1)?;
        let once = ffmpeg_decode(None, 1)?.saturating_sub(startup);
        let passes = passes_to_fill(once);
        let theirs = if passes > 1 {
            ffmpeg_decode(None, passes)?.saturating_sub(startup) / passes
        } else {
            once
        };
        let audio = frames as f64 / f64::from(file_rate(name));
        figures.insert(
            name.to_string(),
            json!({
                "x_realtime": ratio(audio, ours),
                "ffmpeg_x_realtime": ratio(audio, theirs),
                "vs_ffmpeg": ratio(theirs.as_secs_f64(), ours).filter(|_| theirs >= Duration::from_millis(1)),
            }),
        );
    }
    Ok(
        json!({"bench": "decode", "build": mode(), "seconds_per_file": DECODE_SECONDS, "formats": figures}),
    )
}

pub async fn scan() -> anyhow::Result<serde_json::Value> {
    let music = tempfile::tempdir()?;
    // One tagged MP3 with a cover, copied 5,000 times with a distinct trailing byte pattern so
    // every file has its own hash (as real files do).
    let cover = music.path().join("cover.png");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=size=500x500",
            "-frames:v",
            "1",
        ],
        &cover,
    )?;
    let seed = music.path().join("seed.mp3");
    let src = source(3);
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            &src,
            "-i",
            cover.to_str().unwrap(),
            "-map",
            "0:a",
            "-map",
            "1:v",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "-c:v",
            "png",
            "-disposition:v",
            "attached_pic",
            "-metadata",
            "title=Bench",
            "-metadata",
            "artist=Earshot",
            "-metadata",
            "album=Scan",
            "-metadata",
            "track=1",
            "-metadata",
            "date=2026",
            "-metadata",
            "genre=Test",
        ],
        &seed,
    )?;
    std::fs::remove_file(&cover)?;
    let bytes = std::fs::read(&seed)?;
    std::fs::remove_file(&seed)?;
    for i in 0..SCAN_FILES {
        let folder = music.path().join(format!("album-{:03}", i / 12));
        std::fs::create_dir_all(&folder)?;
        let mut copy = bytes.clone();
        copy.extend_from_slice(format!("earshot-bench-{i:08}").as_bytes());
        std::fs::write(folder.join(format!("{:02} track.mp3", i % 12)), copy)?;
    }
    let total_bytes = bytes.len() * SCAN_FILES;

    let cold_cache = drop_page_cache();
    let data = tempfile::tempdir()?;
    let engine = Engine::start(Config::offline(data.path())).await?;
    let cold = timed_scan(&engine, Some(music.path())).await?;
    // The loudness analysis starts as the scan finishes, and runs on while the rescan does.
    let analysis_started = Instant::now();
    let unchanged = timed_scan(&engine, None).await?;
    let (analysis, measured) = timed_analysis(&engine, analysis_started).await?;
    let audio_seconds = match engine
        .call(Request::ListTracks {
            query: None,
            album: None,
            artist: None,
        })
        .await?
    {
        Response::Tracks { tracks } => {
            tracks.iter().map(|t| t.duration_ms as f64).sum::<f64>() / 1000.0
        }
        _ => bail!("unexpected answer to list_tracks"),
    };
    engine.shutdown().await;
    // Warm scans and unchanged rescans, encrypted (as the app runs) against a plaintext database,
    // alternating three times in this sitting; medians.
    let mut encrypted = (Vec::new(), Vec::new());
    let mut plaintext = (Vec::new(), Vec::new());
    for _ in 0..3 {
        for encrypt in [true, false] {
            let data = tempfile::tempdir()?;
            let (config, into) = if encrypt {
                (Config::offline(data.path()), &mut encrypted)
            } else {
                let config = crate::bench::plaintext(Config::offline(data.path()));
                (config, &mut plaintext)
            };
            let engine = Engine::start(config).await?;
            into.0.push(timed_scan(&engine, Some(music.path())).await?);
            into.1.push(timed_scan(&engine, None).await?);
            engine.shutdown().await;
        }
    }
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (warm, unchanged_warm) = (median(&mut encrypted.0), median(&mut encrypted.1));
    let (warm_plain, unchanged_plain) = (median(&mut plaintext.0), median(&mut plaintext.1));
    let rate = |d: Duration| round(SCAN_FILES as f64 / d.as_secs_f64());
    let ms = |d: Duration| round(d.as_secs_f64() * 1000.0);
    let analysis_s = analysis.as_secs_f64();
    let audio_per_s = audio_seconds / analysis_s;
    Ok(json!({
        "bench": "scan",
        "build": mode(),
        "files": SCAN_FILES,
        "megabytes": round(total_bytes as f64 / 1e6),
        "cold_tracks_per_s": rate(cold),
        "cold_page_cache_dropped": cold_cache,
        "warm_tracks_per_s": rate(warm),
        "unchanged_rescan_tracks_per_s": rate(unchanged),
        "unchanged_rescan_ms": ms(unchanged),
        "loudness_analysis": {
            "runs_after": "the cold scan, in the background (idle priority, one file at a time), beside the unchanged rescan",
            "tracks": measured.tracks,
            "measured_or_tagged": measured.known,
            "unmeasurable": measured.unmeasurable,
            "seconds": round(analysis_s),
            "tracks_per_s": round(measured.tracks as f64 / analysis_s),
            "audio_seconds_per_s": round(audio_per_s),
            "library_of_5000_these_3s_tracks_s": round(SCAN_FILES as f64 / (measured.tracks as f64 / analysis_s)),
            "library_of_5000_4min_tracks_min": round(5000.0 * 240.0 / audio_per_s / 60.0),
        },
        "encrypted_vs_plaintext": {
            "runs": 3,
            "encrypted": { "warm_tracks_per_s": rate(warm), "unchanged_rescan_ms": ms(unchanged_warm) },
            "plaintext": { "warm_tracks_per_s": rate(warm_plain), "unchanged_rescan_ms": ms(unchanged_plain) },
            "warm_scan_time_ratio": (warm.as_secs_f64() / warm_plain.as_secs_f64() * 100.0).round() / 100.0,
            "unchanged_rescan_time_ratio": (unchanged_warm.as_secs_f64() / unchanged_plain.as_secs_f64() * 100.0).round() / 100.0,
        },
    }))
}

/// Drops the kernel's page cache (root only); whether it could.
fn drop_page_cache() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Waits until the loudness analysis has a verdict on every track; how long that took from
/// `started`, and the final counts.
async fn timed_analysis(
    engine: &Engine,
    started: Instant,
) -> anyhow::Result<(Duration, NormalisationState)> {
    loop {
        let state = match engine.call(Request::GetNormalisation).await? {
            Response::Normalisation(state) => state,
            _ => bail!("unexpected answer to get_normalisation"),
        };
        if state.tracks > 0 && state.known + state.unmeasurable == state.tracks && !state.measuring
        {
            return Ok((started.elapsed(), state));
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("the loudness analysis did not finish within an hour: {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Adds `folder` (or rescans all when None) and times it until the scan finishes.
async fn timed_scan(engine: &Engine, folder: Option<&Path>) -> anyhow::Result<Duration> {
    let mut events = engine.subscribe();
    let started = Instant::now();
    match folder {
        Some(folder) => {
            engine
                .call(Request::AddFolder {
                    path: folder.display().to_string(),
                })
                .await?;
        }
        None => {
            engine.call(Request::Rescan).await?;
        }
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(600), events.recv()).await {
            Ok(Ok(Event::ScanFinished(_))) => return Ok(started.elapsed()),
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => bail!("the engine stopped: {e}"),
            Err(_) => bail!("the scan did not finish within 10 minutes"),
        }
    }
}

pub async fn playback() -> anyhow::Result<serde_json::Value> {
    let music = tempfile::tempdir()?;
    let track: PathBuf = music.path().join("playback.flac");
    let src = source(PLAYBACK_SECONDS as u32 + 5);
    ffmpeg(&["-f", "lavfi", "-i", &src, "-c:a", "flac"], &track)?;
    let data = tempfile::tempdir()?;
    let engine = Engine::start(Config::offline(data.path())).await?;
    let tracks = add_and_list(&engine, music.path()).await?;
    // The new track's loudness is measured once in the background: let that finish first, so
    // the figure is playback alone. (Until the analysis has looked at the scan it counts no
    // tracks, and "all of none measured" is not finished.)
    let listed = tracks.len() as u32;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match engine.call(Request::GetNormalisation).await? {
            Response::Normalisation(state)
                if state.tracks >= listed
                    && state.known + state.unmeasurable >= state.tracks
                    && !state.measuring =>
            {
                break
            }
            Response::Normalisation(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => bail!("the loudness analysis did not finish within 60 s: {other:?}"),
        }
    }
    let mut events = engine.subscribe();
    let hashes = tracks.into_iter().map(|t| t.hash).collect();
    engine
        .call(Request::Play {
            hashes,
            start: None,
        })
        .await?;
    // Wait for the device to open (or fail), then measure.
    let deadline = Instant::now() + Duration::from_secs(10);
    let device = loop {
        match tokio::time::timeout_at(deadline.into(), events.recv()).await {
            Ok(Ok(Event::PlayerChanged(state))) if state.device.is_some() => break state.device,
            Ok(Ok(Event::PlayerMessage { message })) => bail!("{message}"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => bail!("{e}"),
            Err(_) => bail!("no audio device opened within 10 s"),
        }
    };
    let cpu_before = cpu_time();
    let threads_before = crate::bench::idle::threads();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(PLAYBACK_SECONDS)).await;
    let cpu = cpu_time() - cpu_before;
    let wall = started.elapsed();
    let by_thread =
        crate::bench::idle::thread_shares(&threads_before, &crate::bench::idle::threads(), wall);
    engine.shutdown().await;
    // The anchor, in the same sitting: ffmpeg decoding the same file into the same sound server.
    let anchor = ffmpeg_to_pulse(&track).await;
    Ok(json!({
        "bench": "playback",
        "build": mode(),
        "device": device,
        "seconds": PLAYBACK_SECONDS,
        "cpu_percent_of_one_core": round(cpu.as_secs_f64() / wall.as_secs_f64() * 100.0),
        "goal_cpu_percent_of_one_core": 1.0,
        "by_thread_percent": by_thread,
        "anchor_ffmpeg_to_pulse_cpu_percent_of_one_core": match anchor {
            Ok(share) => json!(round(share)),
            Err(e) => json!(format!("not measured: {e:#}")),
        },
    }))
}

/// The CPU share of `ffmpeg -re -i track -f pulse` playing `track` for the bench's seconds.
async fn ffmpeg_to_pulse(track: &Path) -> anyhow::Result<f64> {
    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-i"])
        .arg(track)
        .args(["-f", "pulse", "earshot-bench"])
        .spawn()
        .context("ffmpeg is needed for the anchor")?;
    let pid = child.id();
    let ticks = || -> anyhow::Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        crate::bench::app::parse_stat(&stat)
            .map(|stat| stat.own_ticks)
            .context("an unreadable /proc stat line")
    };
    // Past ffmpeg's start-up (probing, opening the stream), as the engine's device was open.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (before, started) = (ticks()?, Instant::now());
    tokio::time::sleep(Duration::from_secs(PLAYBACK_SECONDS - 5)).await;
    let (after, wall) = (ticks(), started.elapsed());
    let stopped_early = child.try_wait()?;
    let _ = child.kill();
    let _ = child.wait();
    if let Some(status) = stopped_early {
        bail!("ffmpeg stopped early ({status})");
    }
    let after = after?;
    let hz = crate::bench::app::clock_ticks_per_second();
    Ok((after - before) as f64 / hz / wall.as_secs_f64() * 100.0)
}

/// User + system CPU time of this process.
pub(crate) fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// How many passes over a file that took `once` fill [`MIN_TIMED`].
fn passes_to_fill(once: Duration) -> u32 {
    if once >= MIN_TIMED {
        return 1;
    }
    let once = once.max(Duration::from_micros(100));
    (MIN_TIMED.as_secs_f64() / once.as_secs_f64())
        .ceil()
        .min(MAX_PASSES as f64) as u32
}

/// `x / time`, or null when the time is too short to mean anything (under a millisecond).
fn ratio(x: f64, time: Duration) -> Option<f64> {
    (time >= Duration::from_millis(1)).then(|| round(x / time.as_secs_f64()))
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Adds `folder` to `engine`'s library, waits for its scan, and lists the tracks.
pub(crate) async fn add_and_list(
    engine: &Engine,
    folder: &std::path::Path,
) -> anyhow::Result<Vec<earshot_engine::api::Track>> {
    let mut events = engine.subscribe();
    engine
        .call(Request::AddFolder {
            path: folder.display().to_string(),
        })
        .await?;
    loop {
        if let Event::ScanFinished(_) = events.recv().await? {
            break;
        }
    }
    match engine
        .call(Request::ListTracks {
            query: None,
            album: None,
            artist: None,
        })
        .await?
    {
        Response::Tracks { tracks } => Ok(tracks),
        other => bail!("list_tracks answered {other:?}"),
    }
}
