//! Loudness normalisation through the real player: files made by ffmpeg are scanned, measured
//! by the background analysis, and played by the engine into a virtual output device, whose
//! buffers are exactly what the renderer hands the device. Levels are taken from those samples.

use std::path::{Path, PathBuf};
use std::time::Duration;

use earshot_engine::api::{
    Event, NormalisationMode, NormalisationState, PlaybackState, Request, Response, Track,
};
use earshot_engine::player::{OutputKind, VirtualSink};
use earshot_engine::{Config, Engine};

/// Writes `seconds` of stereo 48 kHz FLAC from an ffmpeg `aevalsrc` expression, with `tags`.
fn ffmpeg_tone(dir: &Path, name: &str, expression: &str, tags: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(name);
    let mut args: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("aevalsrc={expression}|{expression}:s=48000:d=3"));
    for (key, value) in tags {
        args.push("-metadata".into());
        args.push(format!("{key}={value}"));
    }
    args.push(path.display().to_string());
    let status = std::process::Command::new("ffmpeg")
        .args(&args)
        .status()
        .expect("ffmpeg to run (apt install ffmpeg)");
    assert!(status.success(), "ffmpeg made {name}");
    path
}

async fn wait_for(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    what: &str,
    matches: impl Fn(&Event) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within 30 s"))
            .expect("the event stream to stay open");
        if matches(&event) {
            return;
        }
    }
}

/// An engine on a virtual output with `music` added and scanned.
async fn scanned(data: &Path, music: &Path) -> (Engine, VirtualSink) {
    let sink = VirtualSink::new(48_000, 2);
    let engine = Engine::start(Config {
        audio: OutputKind::Virtual(sink.clone()),
        ..Config::offline(data)
    })
    .await
    .unwrap();
    let mut events = engine.subscribe();
    engine
        .call(Request::AddFolder {
            path: music.display().to_string(),
        })
        .await
        .unwrap();
    wait_for(&mut events, "scan_finished", |e| {
        matches!(e, Event::ScanFinished(_))
    })
    .await;
    (engine, sink)
}

async fn normalisation(engine: &Engine, request: Request) -> NormalisationState {
    match engine.call(request).await.expect("normalisation call") {
        Response::Normalisation(state) => state,
        other => panic!("unexpected {other:?}"),
    }
}

/// Waits until the background analysis has a verdict on every track.
async fn measured(engine: &Engine) -> NormalisationState {
    for _ in 0..600 {
        let state = normalisation(engine, Request::GetNormalisation).await;
        if state.tracks > 0 && state.known + state.unmeasurable == state.tracks && !state.measuring
        {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the loudness analysis did not finish within 30 s");
}

/// Plays one track to its end and returns what the device was handed.
async fn play(engine: &Engine, sink: &VirtualSink, track: &Track) -> Vec<f32> {
    sink.played.lock().unwrap().clear();
    let mut events = engine.subscribe();
    engine
        .call(Request::Play {
            hashes: vec![track.hash.clone()],
            start: None,
        })
        .await
        .expect("playback to start");
    wait_for(
        &mut events,
        "the end of playback",
        |e| matches!(e, Event::PlayerChanged(s) if s.state == PlaybackState::Stopped),
    )
    .await;
    let played = sink.played.lock().unwrap().clone();
    played
}

/// The RMS level (dBFS) of the music's middle: from 0.3 s after the first sound to 0.3 s before
/// the last, so the gain's 5 ms ramp and the edges do not count.
fn level_db(samples: &[f32]) -> f64 {
    let first = samples.iter().position(|s| s.abs() > 1e-4).expect("sound");
    let last = samples.iter().rposition(|s| s.abs() > 1e-4).expect("sound");
    let margin = 48_000 * 2 * 3 / 10;
    let middle = &samples[first + margin..last - margin];
    let power = middle.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / middle.len() as f64;
    10.0 * power.log10()
}

fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0, |m, s| m.max(s.abs()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_files_12_db_apart_play_within_1_db_with_normalisation_and_12_db_apart_without() {
    let music = tempfile::tempdir().unwrap();
    // The same 440 Hz tone at −6 dBFS and at −18 dBFS (amplitudes 0.5012 and 0.1259).
    ffmpeg_tone(music.path(), "1 loud.flac", "0.5012*sin(2*PI*440*t)", &[]);
    ffmpeg_tone(music.path(), "2 quiet.flac", "0.1259*sin(2*PI*440*t)", &[]);
    // Quiet, but with a click at full scale every half second: its level asks for +gain, its
    // 0 dBFS peak allows none.
    ffmpeg_tone(
        music.path(),
        "3 peaky.flac",
        "if(lt(mod(t\\,0.5)\\,0.0005)\\,0.999\\,0.03*sin(2*PI*440*t))",
        &[],
    );
    // Tags that lie: a full-scale tone tagged as needing +20 dB, with no peak tag. Only the
    // limiter stands between the +24 dB it asks for and clipping.
    ffmpeg_tone(
        music.path(),
        "4 tagged.flac",
        "0.99*sin(2*PI*440*t)",
        &[("REPLAYGAIN_TRACK_GAIN", "+20.00 dB")],
    );

    let data = tempfile::tempdir().unwrap();
    let (engine, sink) = scanned(data.path(), music.path()).await;
    let state = measured(&engine).await;
    assert_eq!((state.tracks, state.known), (4, 4), "{state:?}");
    assert_eq!(state.mode, NormalisationMode::Auto, "auto by default");
    assert_eq!(state.target_lufs, -14, "−14 LUFS by default");

    let Response::Tracks { mut tracks } = engine
        .call(Request::ListTracks {
            query: None,
            album: None,
            artist: None,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    tracks.sort_by(|a, b| a.path.cmp(&b.path));
    let [loud, quiet, peaky, tagged] = &tracks[..] else {
        panic!("four tracks, got {}", tracks.len())
    };

    // Off: the files play as they are, 12 dB apart.
    normalisation(
        &engine,
        Request::SetNormalisation {
            mode: NormalisationMode::Off,
            target_lufs: None,
        },
    )
    .await;
    let loud_off = play(&engine, &sink, loud).await;
    let quiet_off = play(&engine, &sink, quiet).await;
    let (a, b) = (level_db(&loud_off), level_db(&quiet_off));
    eprintln!("off: loud {a:.2} dBFS RMS, quiet {b:.2} dBFS RMS");
    assert!(
        ((a - b) - 12.0).abs() < 0.1,
        "off: {a:.2} and {b:.2} dBFS should stay 12 dB apart"
    );
    assert!(
        (a - -9.0).abs() < 0.1,
        "off: the loud tone plays at its own −9 dBFS RMS, got {a:.2}"
    );

    // On (track gain, −14 LUFS): within 1 dB of each other, and nothing past full scale.
    normalisation(
        &engine,
        Request::SetNormalisation {
            mode: NormalisationMode::Track,
            target_lufs: Some(-14),
        },
    )
    .await;
    let loud_on = play(&engine, &sink, loud).await;
    let quiet_on = play(&engine, &sink, quiet).await;
    let (a, b) = (level_db(&loud_on), level_db(&quiet_on));
    eprintln!(
        "on: loud {a:.2} dBFS RMS (peak {:.3}), quiet {b:.2} dBFS RMS (peak {:.3})",
        peak(&loud_on),
        peak(&quiet_on)
    );
    assert!(
        (a - b).abs() < 1.0,
        "on: {a:.2} and {b:.2} dBFS should be within 1 dB"
    );
    // A sine's RMS is 3 dB under its peak, its loudness (stereo, 440 Hz) about at its peak
    // level: −14 LUFS is about −17 dBFS RMS.
    assert!((a - -17.0).abs() < 1.0, "on: near the target, got {a:.2}");
    for (name, samples) in [("loud", &loud_on), ("quiet", &quiet_on)] {
        assert!(peak(samples) < 1.0, "{name}: peak {}", peak(samples));
    }

    let peaky_on = play(&engine, &sink, peaky).await;
    assert!(
        peak(&peaky_on) <= 0.8913 + 1e-3,
        "a 0 dBFS peak is held at −1 dBFS, got {}",
        peak(&peaky_on)
    );
    let tagged_on = play(&engine, &sink, tagged).await;
    eprintln!(
        "on: 0 dBFS-peak file peaks at {:.4}; +24 dB tagged file peaks at {:.4}",
        peak(&peaky_on),
        peak(&tagged_on)
    );
    assert!(
        peak(&tagged_on) < 1.0,
        "the limiter keeps a lying tag's +24 dB under full scale, got {}",
        peak(&tagged_on)
    );
    assert!(
        level_db(&tagged_on) > level_db(&loud_off),
        "the tag's gain is applied"
    );
    engine.shutdown().await;
}

/// Writes 48 kHz stereo 16-bit PCM.
fn write_wav(path: &Path, samples: &[i16]) {
    std::fs::write(path, earshot_engine::media::wav::pcm16(48_000, 2, samples)).unwrap();
}

/// Plays every track in order to the end; what the device was handed.
async fn play_all(engine: &Engine, sink: &VirtualSink, tracks: &[Track]) -> Vec<f32> {
    sink.played.lock().unwrap().clear();
    let mut events = engine.subscribe();
    engine
        .call(Request::Play {
            hashes: tracks.iter().map(|t| t.hash.clone()).collect(),
            start: None,
        })
        .await
        .expect("playback to start");
    wait_for(
        &mut events,
        "the end of playback",
        |e| matches!(e, Event::PlayerChanged(s) if s.state == PlaybackState::Stopped),
    )
    .await;
    let played = sink.played.lock().unwrap().clone();
    played
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gapless_join_is_sample_exact_with_normalisation_off_and_one_steady_gain_with_it_on() {
    // One sine (not starting at zero, so its first sample shows where it starts), cut in two at
    // an odd frame into two files.
    let frames = 96_000usize;
    let cut = 50_001usize;
    let sine: Vec<i16> = (0..frames)
        .flat_map(|i| {
            let v = 0.3 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 48_000.0 + 1.0).sin();
            let v = (v * 32767.0).round() as i16;
            [v, v]
        })
        .collect();
    let music = tempfile::tempdir().unwrap();
    write_wav(&music.path().join("1 first.wav"), &sine[..cut * 2]);
    write_wav(&music.path().join("2 second.wav"), &sine[cut * 2..]);
    let original: Vec<f32> = sine.iter().map(|&s| s as f32 / 32768.0).collect();

    let data = tempfile::tempdir().unwrap();
    let (engine, sink) = scanned(data.path(), music.path()).await;
    measured(&engine).await;
    let Response::Tracks { mut tracks } = engine
        .call(Request::ListTracks {
            query: None,
            album: None,
            artist: None,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    tracks.sort_by(|a, b| a.path.cmp(&b.path));

    // Where the music starts in what was played, and the played music lined up with the sine.
    let aligned = |played: &[f32]| -> Vec<f32> {
        let first = played.iter().position(|s| s.abs() > 1e-6).expect("sound");
        assert!(
            played.len() >= first + original.len(),
            "the whole sine was played"
        );
        played[first..first + original.len()].to_vec()
    };

    normalisation(
        &engine,
        Request::SetNormalisation {
            mode: NormalisationMode::Off,
            target_lufs: None,
        },
    )
    .await;
    let off = aligned(&play_all(&engine, &sink, &tracks).await);
    let worst_off = off
        .iter()
        .zip(&original)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst_off < 1e-6,
        "off: sample for sample, worst error {worst_off}"
    );

    // On: one gain for both halves (they are equally loud), no step at the join.
    normalisation(
        &engine,
        Request::SetNormalisation {
            mode: NormalisationMode::Track,
            target_lufs: Some(-18),
        },
    )
    .await;
    let on = aligned(&play_all(&engine, &sink, &tracks).await);
    let middle = frames; // a sample well inside the first half
    let gain = (on[middle..middle + 4800].iter().map(|s| s * s).sum::<f32>()
        / original[middle..middle + 4800]
            .iter()
            .map(|s| s * s)
            .sum::<f32>())
    .sqrt();
    assert!((gain - 1.0).abs() > 0.05, "a gain is applied: {gain}");
    let worst = on
        .iter()
        .zip(&original)
        .map(|(a, b)| (a - b * gain).abs())
        .fold(0.0f32, f32::max);
    eprintln!(
        "gapless: off worst error {worst_off:e}; on gain {gain:.4}, worst deviation {worst:.2e}"
    );
    assert!(
        worst < 2e-3,
        "on: the music times one steady gain across the join, worst deviation {worst}"
    );
    engine.shutdown().await;
}
