//! Real audio: `earshot-node` plays through cpal into a headless PulseAudio (started here, with a
//! null sink), the sink's monitor is recorded, and the recording is compared with what the files
//! decode to. Also: two nodes scheduled on one instant, measured by `../shared/syncmeter` (beside
//! the checkout), and the desktop media controls on a private D-Bus. Needs `pulseaudio`,
//! `parecord`, `ffmpeg`, `dbus-daemon` and `playerctl` (the test command installs them); a test
//! whose tools are missing is skipped with a printed reason, and fails under CI
//! (`util::prerequisite_missing`).
//!
//! A test target of its own (`cargo test -p earshot-node --test audio`), not a module of
//! `scenarios`: cargo runs test binaries one after another, so nothing else the suite starts runs
//! beside these, and inside it they take turns ([`util::take_turn`]). They listen for a
//! millisecond and for the first samples of a track; beside the scenarios' dozens of debug-built
//! peers starting on two cores, the sound server's clients were starved for longer than their
//! buffers (CI dry runs: two scheduled players 1.6–3.2 ms apart at p95 in 5 of ~35 runs, and the
//! first 4.6 ms of a queue lost once in 4 runs), which measures the machine, not the player. How
//! the player recovers from such a stall is `player::render`'s and `player::sync`'s unit tests.

#[allow(dead_code)] // the helpers the scenarios use and these tests do not
#[path = "../scenarios/util.rs"]
mod util;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use earshot_engine::player::decode::Decoder;
use serde_json::json;

use crate::util::{
    dirs, missing_tools, prerequisite_missing, require, take_turn, Node, STATE_TIMEOUT,
};

const RATE: u32 = 48_000;

/// What playing into a private PulseAudio and making fixtures needs.
const PULSE_TOOLS: &[(&str, &str)] = &[
    ("pulseaudio", "pulseaudio"),
    ("pactl", "pulseaudio-utils"),
    ("parecord", "pulseaudio-utils"),
    ("ffmpeg", "ffmpeg"),
];

/// A private PulseAudio server with one stereo null sink, "out"; stopped on drop.
pub struct Pulse {
    dir: tempfile::TempDir,
    server: Child,
}

impl Pulse {
    pub fn start() -> Pulse {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["home", "runtime", "state", "xdg/alsa"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let socket = root.join("runtime/native");
        std::fs::write(
            root.join("default.pa"),
            format!(
                "load-module module-native-protocol-unix socket={} auth-anonymous=1\n\
                 load-module module-null-sink sink_name=out rate={RATE} channels=2 format=float32le \
                 sink_properties=device.description=earshot-test\n\
                 set-default-sink out\n",
                socket.display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("daemon.conf"),
            // The sink's rate everywhere, so the ALSA plugin offers cpal 48 kHz and nothing is
            // resampled behind the test's back.
            format!(
                "exit-idle-time = -1\nflat-volumes = no\ndefault-sample-rate = {RATE}\n\
                 alternate-sample-rate = {RATE}\n"
            ),
        )
        .unwrap();
        // ALSA's "default" device is the pulse plugin, so cpal's ALSA host plays into "out".
        std::fs::write(
            root.join("xdg/alsa/asoundrc"),
            "pcm.!default { type pulse }\nctl.!default { type pulse }\n",
        )
        .unwrap();
        let server = Command::new("pulseaudio")
            .args(["-n", "-F"])
            .arg(root.join("default.pa"))
            .args([
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--log-target=stderr",
            ])
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("DISPLAY")
            .env("HOME", root.join("home"))
            .env("XDG_RUNTIME_DIR", root.join("runtime"))
            .env("PULSE_RUNTIME_PATH", root.join("runtime"))
            .env("PULSE_STATE_PATH", root.join("state"))
            .env("PULSE_CONFIG", root.join("daemon.conf"))
            .stderr(std::fs::File::create(root.join("server.log")).unwrap())
            .spawn()
            .expect("pulseaudio to start (apt-get install pulseaudio pulseaudio-utils)");
        let pulse = Pulse { dir, server };
        // Generous: a loaded machine can take seconds to start a server; only one that never
        // answers fails.
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if socket.exists()
                && pulse
                    .command("pactl")
                    .arg("info")
                    .output()
                    .is_ok_and(|o| o.status.success())
            {
                return pulse;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pulseaudio did not come up within 30 s");
    }

    /// The environment a client needs: the server, and ALSA's default routed to it.
    pub fn env(&self) -> Vec<(String, String)> {
        let root = self.dir.path();
        vec![
            (
                "PULSE_SERVER".into(),
                format!("unix:{}", root.join("runtime/native").display()),
            ),
            (
                "XDG_CONFIG_HOME".into(),
                root.join("xdg").display().to_string(),
            ),
        ]
    }

    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env());
        command
    }

    /// Starts recording the sink's monitor (float32, stereo) to `file`. An idle null sink renders
    /// 2 s ahead; a low-latency recorder, given time to settle, makes it render in small blocks.
    pub fn record(&self, file: &Path) -> Child {
        self.record_sink("out", file)
    }

    /// As [`Pulse::record`], for the sink named `sink`.
    pub fn record_sink(&self, sink: &str, file: &Path) -> Child {
        let child = self
            .command("parecord")
            .args([
                "--raw",
                "--format=float32le",
                "--channels=2",
                "--latency-msec=5",
            ])
            .arg(format!("--device={sink}.monitor"))
            .arg(format!("--rate={RATE}"))
            .stdout(std::fs::File::create(file).unwrap())
            .spawn()
            .expect("parecord to start");
        std::thread::sleep(Duration::from_millis(2500));
        child
    }

    /// A wrapper (`env K=V… `) for Node::start_with.
    pub fn wrapper(&self) -> Vec<String> {
        let mut wrapper = vec!["env".to_string()];
        wrapper.extend(self.env().into_iter().map(|(k, v)| format!("{k}={v}")));
        wrapper
    }
}

impl Drop for Pulse {
    /// Stops the server. A failing test also prints how the server fared (whether it had
    /// exited, and the end of its log): a client's "Connection terminated" says nothing of why.
    fn drop(&mut self) {
        let exited = self.server.try_wait();
        let _ = self.server.kill();
        let _ = self.server.wait();
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "pulseaudio before the test ended: {}\n--- the end of its log ---\n{}",
                match exited {
                    Ok(Some(status)) => format!("had exited ({status})"),
                    Ok(None) => "still running".to_string(),
                    Err(e) => format!("unknown ({e})"),
                },
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

fn ffmpeg(args: &[&str], out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg to run");
    assert!(status.success(), "ffmpeg failed making {}", out.display());
}

/// A stereo FLAC fixture from one of ffmpeg's generated sources (`lavfi`), with `tags` (more
/// output options, such as `-metadata title=…`) written into it.
fn stereo_flac(source: &str, tags: &[&str], out: &Path) {
    let mut args = vec!["-f", "lavfi", "-i", source, "-ac", "2"];
    args.extend_from_slice(tags);
    args.extend_from_slice(&["-c:a", "flac"]);
    ffmpeg(&args, out);
}

fn decoded(path: &Path) -> Vec<f32> {
    let mut decoder = Decoder::open(path, RATE, 2).unwrap();
    let mut out = Vec::new();
    while decoder.next_chunk(&mut out).unwrap() {}
    out.chunks(2).map(|f| f[0]).collect()
}

/// Waits for the node's `player_changed` events until one satisfies `reached`.
fn wait_player(node: &mut Node, reached: impl Fn(&serde_json::Value) -> bool) {
    while !reached(&node.wait_event("player_changed", STATE_TIMEOUT)) {}
}

/// Lets the recorder take `linger` more of the sink, stops it, and returns the recording
/// (interleaved stereo) and its peak.
fn stop_recording(mut recorder: Child, recording: &Path, linger: Duration) -> (Vec<f32>, f32) {
    std::thread::sleep(linger);
    let _ = recorder.kill();
    let _ = recorder.wait();
    let recorded = read_f32(recording);
    let peak = recorded.iter().fold(0f32, |m, s| m.max(s.abs()));
    (recorded, peak)
}

fn read_f32(path: &Path) -> Vec<f32> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
        .chunks_exact(4)
        .map(|f| f32::from_le_bytes([f[0], f[1], f[2], f[3]]))
        .collect()
}

/// Where `reference` starts in `recorded`: the onsets (first sample above a threshold) are lined
/// up, then refined by cross-correlating 0.1 s around them. Returns the offset and correlation.
fn align(recorded: &[f32], reference: &[f32]) -> (usize, f64) {
    let onset = |v: &[f32]| {
        v.iter()
            .position(|s| s.abs() > 0.01)
            .expect("sound in the signal")
    };
    let (rec_onset, ref_onset) = (onset(recorded), onset(reference));
    let needle = &reference[ref_onset..(ref_onset + 4800).min(reference.len())];
    let energy: f64 = needle.iter().map(|x| (*x as f64).powi(2)).sum();
    let mut best = (0usize, f64::MIN);
    let centre = rec_onset as i64 - ref_onset as i64;
    for shift in -2000i64..=2000 {
        let start = centre + shift + ref_onset as i64;
        if start < 0 || start as usize + needle.len() > recorded.len() {
            continue;
        }
        let window = &recorded[start as usize..start as usize + needle.len()];
        let dot: f64 = window
            .iter()
            .zip(needle)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let window_energy: f64 = window.iter().map(|x| (*x as f64).powi(2)).sum();
        let corr = dot / (energy * window_energy).sqrt().max(1e-12);
        if corr > best.1 {
            best = ((centre + shift).max(0) as usize, corr);
        }
    }
    best
}

/// Starts an offline node (inside `wrapper`), scans `music` (expecting `count` tracks) and plays
/// them all in path order.
fn playing(data: &Path, music: &Path, wrapper: Vec<String>, count: usize) -> Node {
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut node = Node::start_with(data, &["--offline"], &wrapper);
    node.call(json!({"type": "add_folder", "path": music}))
        .unwrap();
    node.wait_event("scan_finished", STATE_TIMEOUT);
    let tracks = node.call(json!({"type": "list_tracks"})).unwrap();
    let mut tracks = tracks["tracks"].as_array().unwrap().clone();
    tracks.sort_by_key(|t| t["path"].as_str().unwrap_or_default().to_string());
    let hashes: Vec<_> = tracks.iter().map(|t| t["hash"].clone()).collect();
    assert_eq!(hashes.len(), count, "tracks scanned");
    node.call(json!({"type": "play", "hashes": hashes}))
        .unwrap();
    node
}

#[test]
fn a_queue_plays_through_real_cpal_exactly_and_back_to_back() {
    require!(missing_tools(PULSE_TOOLS));
    let _turn = take_turn();
    let music = tempfile::tempdir().unwrap();
    let first = music.path().join("1 noise.flac");
    let second = music.path().join("2 chirp.flac");
    stereo_flac(
        "anoisesrc=color=pink:amplitude=0.3:sample_rate=48000:duration=2:seed=7",
        &[],
        &first,
    );
    // 44.1 kHz: resampled to the device's rate on the way.
    stereo_flac(
        "aevalsrc=0.4*sin(2*PI*(200+400*t)*t):s=44100:d=2",
        &[],
        &second,
    );

    let pulse = Pulse::start();
    let recording = music.path().join("rec.raw");
    let recorder = pulse.record(&recording);
    let [data] = dirs::<1>();
    let mut node = playing(data.path(), music.path(), pulse.wrapper(), 2);
    wait_player(&mut node, |state| state["state"] == "stopped");
    let (stereo, peak) = stop_recording(recorder, &recording, Duration::from_millis(300));
    let recorded: Vec<f32> = stereo.chunks(2).map(|f| f[0]).collect();
    eprintln!("recorded {} frames, peak {peak}", recorded.len());
    let mut reference = decoded(&first);
    reference.extend(decoded(&second));
    if let Ok(keep) = std::env::var("EARSHOT_KEEP_RECORDING") {
        let _ = std::fs::copy(&recording, keep);
    }
    let (start, head_corr) = align(&recorded, &reference);
    // Keep the evidence when the comparison fails.
    let keep = || {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
        let _ = std::fs::create_dir_all(&dir);
        let kept = dir.join("queue-recording.f32le-48k-stereo.raw");
        let _ = std::fs::copy(&recording, &kept);
        kept.display().to_string()
    };
    if head_corr <= 0.99 {
        panic!(
            "the start of the recording does not match the file (correlation {head_corr:.4}); recording kept at {}",
            keep()
        );
    }

    let played = &recorded[start..(start + reference.len()).min(recorded.len())];
    assert!(
        played.len() + 16 >= reference.len(),
        "the whole queue was recorded"
    );
    let dot: f64 = played
        .iter()
        .zip(&reference)
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let correlation = dot / (norm(played) * norm(&reference[..played.len()]));
    eprintln!(
        "recorded vs decoded: correlation {correlation:.5} over {} frames",
        played.len()
    );
    assert!(
        correlation > 0.99,
        "the recording is the music, sample for sample (correlation {correlation:.5}); recording kept at {}",
        keep()
    );
    // No gap at the change of track (2 s in): no stretch of silence beyond 3 ms.
    let mut run = 0;
    let mut longest = 0;
    for s in played {
        run = if s.abs() < 1e-4 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    assert!(
        longest < (RATE as usize * 3 / 1000),
        "a silent stretch of {longest} frames inside the queue; recording kept at {}",
        keep()
    );
}

/// Settings offers the sound server's sinks by their descriptions, the default first and no ALSA
/// plugin among them; the chosen sink gets the sound and stays chosen across a restart (by its
/// id); when it goes away, the system default takes over, and the listener is told.
#[test]
fn output_devices_are_the_servers_sinks_by_name_and_the_chosen_one_plays() {
    require!(missing_tools(PULSE_TOOLS));
    let _turn = take_turn();
    let music = tempfile::tempdir().unwrap();
    stereo_flac(
        "sine=frequency=440:sample_rate=48000:duration=30",
        &[],
        &music.path().join("tone.flac"),
    );
    let pulse = Pulse::start();
    // A second sink, as plugging in a headset adds one.
    let loaded = pulse
        .command("pactl")
        .args(["load-module", "module-null-sink", "sink_name=headset"])
        .arg(format!("rate={RATE}"))
        .args([
            "channels=2",
            "format=float32le",
            "sink_properties=\"device.description='USB Headset'\"",
        ])
        .output()
        .expect("pactl to run");
    assert!(
        loaded.status.success(),
        "loading a second null sink: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let module = String::from_utf8_lossy(&loaded.stdout).trim().to_string();
    let recording = music.path().join("headset.raw");
    let recorder = pulse.record_sink("headset", &recording);

    let [data] = dirs::<1>();
    let wrapper = pulse.wrapper();
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut node = Node::start_with(data.path(), &["--offline"], &wrapper);
    let listed = node.call(json!({"type": "list_output_devices"})).unwrap();
    let devices = listed["devices"].as_array().unwrap().clone();
    let names: Vec<&str> = devices
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["earshot-test", "USB Headset"],
        "the sinks by their descriptions, the default first: {listed}"
    );
    assert_eq!(devices[0]["default"], true, "{listed}");
    assert_eq!(devices[1]["default"], false, "{listed}");
    let headset = devices[1]["id"].as_str().unwrap().to_string();

    node.call(json!({"type": "set_output_device", "id": headset}))
        .unwrap();
    let mut node = node.restart();
    let player = node.call(json!({"type": "get_player"})).unwrap();
    assert_eq!(
        player["chosen_device"], headset,
        "the choice is remembered by its id: {player}"
    );
    node.call(json!({"type": "add_folder", "path": music.path()}))
        .unwrap();
    node.wait_event("scan_finished", STATE_TIMEOUT);
    let tracks = node.call(json!({"type": "list_tracks"})).unwrap();
    node.call(json!({"type": "play", "hashes": [tracks["tracks"][0]["hash"]]}))
        .unwrap();
    wait_player(&mut node, |state| state["device"] == "USB Headset");
    let (recorded, peak) = stop_recording(recorder, &recording, Duration::from_millis(2000));
    // ffmpeg's `sine` is at 1/8 of full scale (less any loudness normalisation).
    assert!(
        peak > 0.05 && recorded.len() > RATE as usize * 2,
        "the tone reaches the chosen sink's monitor (peak {peak} over {} samples)",
        recorded.len()
    );

    // Unplugged: playback pauses with a message; play again goes to the default, said so.
    let unloaded = pulse
        .command("pactl")
        .args(["unload-module", &module])
        .status()
        .expect("pactl to run");
    assert!(unloaded.success(), "unloading the second sink");
    let lost = node.wait_event("player_message", STATE_TIMEOUT);
    assert!(
        lost["message"]
            .as_str()
            .is_some_and(|m| m.contains("stopped working")),
        "{lost}"
    );
    node.call(json!({"type": "resume"})).unwrap();
    let notice = node.wait_event("player_message", STATE_TIMEOUT);
    assert_eq!(
        notice["message"],
        "\"USB Headset\" is not connected: playing through the system default (earshot-test). It stays your choice and is tried again the next time playback starts after a stop or a device failure.",
        "{notice}"
    );
    let listed = node.call(json!({"type": "list_output_devices"})).unwrap();
    let gone = listed["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == headset.as_str())
        .cloned();
    assert_eq!(
        gone.map(|d| (d["name"].clone(), d["connected"].clone())),
        Some((json!("USB Headset"), json!(false))),
        "the chosen device is listed as not connected: {listed}"
    );
}

/// `../shared/syncmeter` beside the checkout (CI runs with a copy of `shared/` there), or why it
/// cannot be used.
fn syncmeter() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/syncmeter");
    if !dir.join("syncmeter.sh").exists() {
        return Err(format!(
            "../shared/syncmeter is not beside the checkout (looked for {})",
            dir.join("syncmeter.sh").display()
        ));
    }
    // syncmeter itself starts PulseAudio and records with parecord; its analyser needs python3.
    match missing_tools(&[
        ("pulseaudio", "pulseaudio"),
        ("pactl", "pulseaudio-utils"),
        ("parecord", "pulseaudio-utils"),
        ("python3", "python3-numpy python3-scipy"),
    ]) {
        Some(reason) => Err(reason),
        None => Ok(dir),
    }
}

/// Seconds a new output stream is left to settle before the players' offset counts: in its first
/// seconds PulseAudio's own latency estimate for a new stream is still converging (up to ~0.9 ms
/// off, gone within ~15 s).
const NEW_STREAM_SETTLE_S: f64 = 15.0;
/// How far apart the players may be in the [`NEW_STREAM_SETTLE_S`] after one of them reported a
/// disruption of its output (its stream restarted, or its timeline stepped and it jumped: the
/// sound server stalled). Its own timestamps are then a new or disturbed stream's estimate, and
/// CI runs heard two players 1.27 and 3.6 ms apart while each measured itself within ~1 ms.
/// Beyond this, one of them would have been past its own jump threshold ([`JUMP_MS`]) unmoved.
const DISRUPTED_BOUND_MS: f64 = 2.0 * JUMP_MS;
/// `player::sync::JUMP_NS`, in ms.
const JUMP_MS: f64 = earshot_engine::player::sync::JUMP_NS as f64 / 1e6;

/// Two players scheduled on one instant, recorded through one sound server by syncmeter: after
/// their streams settle, they play within a millisecond of each other (p95 of 1 s windows over
/// 60 s), and their median offset is within half of one.
#[test]
fn two_nodes_scheduled_on_one_instant_play_within_a_millisecond() {
    let meter = match syncmeter() {
        Ok(meter) => meter,
        Err(reason) => return prerequisite_missing(&reason),
    };
    let _turn = take_turn();
    let node = crate::util::node_binary();
    let [a, b, kept] = dirs::<3>();
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 7000;
    let player = |dir: &Path| {
        format!(
            "exec {} --data-dir {} --offline play \"$SM_SIGNAL\" --at-unix-ms {at} --seconds 95",
            node.display(),
            dir.display()
        )
    };
    // syncmeter's analyser needs the system Python's numpy/scipy (not a pyenv shim's).
    let path = format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default());
    let output = Command::new("bash")
        .arg(meter.join("syncmeter.sh"))
        // 60 s analysed once the new streams have settled.
        .args(["--alsa-default", "-d", "60", "-s"])
        .arg(NEW_STREAM_SETTLE_S.to_string())
        .arg("-o")
        .arg(kept.path())
        .arg(player(a.path()))
        .arg(player(b.path()))
        .env("PATH", path)
        .output()
        .expect("syncmeter to run");
    // Exit status 3: syncmeter found one of its own prerequisites missing (numpy/scipy…).
    require!((output.status.code() == Some(3))
        .then(|| String::from_utf8_lossy(&output.stderr).trim().to_string()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        output.status.success(),
        "syncmeter failed: {}\n{}",
        last,
        String::from_utf8_lossy(&output.stderr)
    );
    let figures: serde_json::Value = serde_json::from_str(last).expect("syncmeter's JSON line");
    eprintln!("two scheduled nodes, measured by syncmeter: {figures}");
    let story = || sync_story(kept.path());
    assert!(
        figures["windows"].as_u64().unwrap() >= 55,
        "{figures}\n{}",
        story()
    );
    // The windows after a disruption either player reported (from a second before the last
    // report that did not know of it), apart.
    let onset_s = figures["onset_s"].as_f64().unwrap();
    let disruptions: Vec<f64> = disruption_times_ms(kept.path())
        .into_iter()
        .map(|unix_ms| onset_s + (unix_ms as f64 - at as f64) / 1000.0)
        .collect();
    let (settling, steady): (Vec<Window>, Vec<Window>) =
        windows(kept.path()).into_iter().partition(|(t, _)| {
            disruptions
                .iter()
                .any(|d| *t >= d - 1.0 && *t < d + NEW_STREAM_SETTLE_S)
        });
    if !disruptions.is_empty() {
        eprintln!(
            "a player's output was disrupted at {disruptions:.1?} s into the recording: {} windows \
             settling, {} counted",
            settling.len(),
            steady.len()
        );
    }
    // A disruption costs ~16 windows; a quiet machine here saw none or one in a run (both
    // players at once when the server stalled), and 25 windows still measure a p95.
    assert!(
        steady.len() >= 25,
        "only {} windows outside the settling after a disruption: the sound server stalled too \
         often to measure\n{}",
        steady.len(),
        story()
    );
    let worst_settling = settling.iter().map(|(_, o)| o.abs()).fold(0.0, f64::max);
    assert!(
        worst_settling <= DISRUPTED_BOUND_MS,
        "{worst_settling} ms apart after a disruption\n{}",
        story()
    );
    let mut offsets: Vec<f64> = steady.iter().map(|(_, o)| *o).collect();
    offsets.sort_by(f64::total_cmp);
    let median = percentile(&offsets, 50.0).abs();
    let mut apart: Vec<f64> = offsets.iter().map(|o| o.abs()).collect();
    apart.sort_by(f64::total_cmp);
    let p95 = percentile(&apart, 95.0);
    eprintln!(
        "over the {} windows counted: median {median:.3} ms, p95 {p95:.3} ms",
        steady.len()
    );
    assert!(median <= 0.5, "median offset {median} ms\n{}", story());
    assert!(p95 <= 1.0, "p95 offset {p95} ms\n{}", story());
}

/// One of syncmeter's windows: seconds into the recording, the players' offset in ms.
type Window = (f64, f64);

fn windows(kept: &Path) -> Vec<Window> {
    std::fs::read_to_string(kept.join("windows.csv"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(',');
            let t = fields.next()?.parse().ok()?;
            let offset = fields.next()?.parse().ok()?;
            Some((t, offset))
        })
        .collect()
}

/// When either player's output was disrupted (its stream restarted, or it jumped after the
/// start): the stamp (Unix ms) of the last sync report before the one that counted it.
fn disruption_times_ms(kept: &Path) -> Vec<u64> {
    let mut times = Vec::new();
    for player in ["A", "B"] {
        let log =
            std::fs::read_to_string(kept.join(format!("player{player}.log"))).unwrap_or_default();
        let mut last: Option<(u64, u64)> = None;
        for line in log.lines() {
            let Ok(line) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(sync) = line.get("sync") else {
                continue;
            };
            let (Some(restarts), Some(jumps), Some(stamp)) = (
                sync["restarts"].as_u64(),
                sync["jumps"].as_u64(),
                sync["unix_ms"].as_u64(),
            ) else {
                continue;
            };
            if let Some((before, stamp_before)) = last {
                if restarts + jumps > before {
                    times.push(stamp_before);
                }
            }
            last = Some((restarts + jumps, stamp));
        }
    }
    times
}

/// The `p`th percentile of sorted values, interpolated between ranks (as numpy's default, which
/// syncmeter uses).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let rank = p / 100.0 * last as f64;
    let below = rank.floor() as usize;
    let above = (below + 1).min(last);
    sorted[below] + (sorted[above] - sorted[below]) * (rank - below as f64)
}

/// What a failed sync measurement needs to be read: the windows that were off by more than half a
/// millisecond (seconds into the recording, offset, correlation), and each player's own account,
/// one line a second (its measured error in µs, its playback ratio's distance from 1.0 in ppm, then
/// its jumps and its device's restarts so far).
fn sync_story(kept: &Path) -> String {
    let windows = std::fs::read_to_string(kept.join("windows.csv")).unwrap_or_default();
    let off: Vec<&str> = windows
        .lines()
        .skip(1)
        .filter(|line| {
            line.split(',')
                .nth(1)
                .and_then(|offset| offset.parse::<f64>().ok())
                .is_some_and(|offset| offset.abs() > 0.5)
        })
        .collect();
    let mut story = format!("windows off by > 0.5 ms (t_s,offset_ms,corr,2nd peak): {off:?}\n");
    for player in ["A", "B"] {
        let log =
            std::fs::read_to_string(kept.join(format!("player{player}.log"))).unwrap_or_default();
        let timeline: Vec<String> = log
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|line| {
                let sync = line.get("sync")?;
                Some(format!(
                    "{}/{}/{}/{}",
                    sync["error_us"], sync["ratio_ppm"], sync["jumps"], sync["restarts"]
                ))
            })
            .collect();
        story += &format!(
            "player {player}, error µs / ratio ppm / jumps / restarts each second: {}\n",
            timeline.join(" ")
        );
    }
    story
}

/// A private session D-Bus; stopped on drop.
struct SessionBus {
    daemon: Child,
    address: String,
}

impl SessionBus {
    fn start() -> SessionBus {
        use std::io::BufRead;
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon to start (apt-get install dbus)");
        let mut line = String::new();
        std::io::BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        SessionBus {
            daemon,
            address: line.trim().to_string(),
        }
    }

    fn playerctl(&self, args: &[&str]) -> String {
        let output = Command::new("playerctl")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .expect("playerctl to run (apt-get install playerctl)");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

#[test]
fn the_desktop_media_controls_show_the_track_and_pause_and_resume_it() {
    require!(missing_tools(PULSE_TOOLS));
    require!(missing_tools(&[
        ("dbus-daemon", "dbus"),
        ("playerctl", "playerctl")
    ]));
    let _turn = take_turn();
    let music = tempfile::tempdir().unwrap();
    // Beside the track, so the scanner uses it as the cover.
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=size=64x64",
            "-frames:v",
            "1",
        ],
        &music.path().join("cover.png"),
    );
    stereo_flac(
        "sine=frequency=330:sample_rate=48000:duration=20",
        &[
            "-metadata",
            "title=Media Key Test",
            "-metadata",
            "artist=Earshot",
        ],
        &music.path().join("keys.flac"),
    );
    let pulse = Pulse::start();
    let bus = SessionBus::start();
    let [data] = dirs::<1>();
    let mut wrapper = pulse.wrapper();
    wrapper.push(format!("DBUS_SESSION_BUS_ADDRESS={}", bus.address));
    let mut node = playing(data.path(), music.path(), wrapper, 1);

    // The player appears on the bus under a per-process MPRIS name, showing the track.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (name, title) = loop {
        let name = bus
            .playerctl(&["--list-all"])
            .lines()
            .find(|l| l.starts_with("earshot"))
            .map(str::to_string);
        if let Some(name) = name {
            let title = bus.playerctl(&["--player", &name, "metadata", "title"]);
            if title == "Media Key Test" {
                break (name, title);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Earshot player with the track on the session bus"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("MPRIS player {name} shows {title:?}");
    let art = bus.playerctl(&["--player", &name, "metadata", "mpris:artUrl"]);
    let art_file = art
        .strip_prefix("file://")
        .unwrap_or_else(|| panic!("a file URL for the cover, got {art:?}"));
    assert!(Path::new(art_file).is_file(), "the cover {art_file} exists");

    bus.playerctl(&["--player", &name, "pause"]);
    wait_player(&mut node, |state| state["state"] == "paused");
    bus.playerctl(&["--player", &name, "play-pause"]);
    wait_player(&mut node, |state| state["state"] == "playing");
}
