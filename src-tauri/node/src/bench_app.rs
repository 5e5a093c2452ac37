//! `bench app`: the desktop app's own figures, measured on the release binary (`--app`, default
//! `target/release/earshot` beside this `earshot-node`'s target directory) in a virtual X server
//! this bench starts (`Xvfb`, a free display), with a private D-Bus session bus (as a desktop
//! has), a throwaway data directory and throwaway XDG folders (the web view's profile and cache
//! start empty, and the user's own are never touched). Linux only (it reads /proc).
//!
//! 1. **Launch to first view**: from spawning the app to its `earshot: first view` line on stderr
//!    (the window reports that its main view painted, after mount and two animation frames, and
//!    the shell prints the line when `EARSHOT_REPORT_FIRST_VIEW` is set: src-tauri/src/first_view.rs).
//!    `--runs` launches (the first with an empty web view profile); median and max.
//! 2. **Idle memory**: 10 s after the last launch's first view, PSS and RSS summed over the app's
//!    process tree (the app, WebKitWebProcess, WebKitNetworkProcess and anything else it started),
//!    from /proc/PID/smaps_rollup. PSS is the goal's measure: shared libraries are counted once
//!    across the tree, as the machine pays for them; RSS counts them in every process.
//! 3. **Bundles**: the sizes of the newest `.deb` and `.rpm` in `<target>/release/bundle/`, or null
//!    with the reason (this bench never builds them).
//! 4. **Idle CPU with one friend online**: the same running app, the tree's user + system time
//!    from /proc/PID/stat (10 ms ticks), broken down by process and thread. The friend is an
//!    `earshot-node demo-friend`; before any launch, the app's data directory is paired with it by
//!    an engine in this process redeeming the friend's invite (the app itself asks the user before
//!    redeeming a link), so the app starts with one friend, who comes online by itself. The
//!    friend's own control protocol confirms the app is connected, before and after. Three
//!    windows: the first minute from the moment the friend sees the app online (start-up work, as
//!    `bench idle` reports it), then `--seconds` (60 by default) while the friend plays its album
//!    (the window shows it listening: progress, the playing animation), then `--seconds` after the
//!    friend paused — online, nothing moving: the idle figure.
//! 5. **The anchors**, right after in the same sitting: `earshot-node bench idle` (the headless
//!    peer, its demo friend playing), so the app's CPU figure can be read against the engine's;
//!    and a bare web view (`tools/bench-app-anchor.py`: WebKitGTK showing a one-line page, timed
//!    and measured the same way), so what WebKit costs by itself is not taken for Earshot's.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use earshot_engine::api::{Request, Response};
use earshot_engine::keys::KeyOptions;
use earshot_engine::net::NetConfig;
use earshot_engine::{Config, Engine};
use serde_json::{json, Value};

/// The marker line the shell prints (src-tauri/src/first_view.rs `LINE_PREFIX`).
const FIRST_VIEW_PREFIX: &str = "earshot: first view";
/// The environment variable that makes the shell print it (first_view.rs `REPORT_ENV`).
const FIRST_VIEW_ENV: &str = "EARSHOT_REPORT_FIRST_VIEW";
/// How long one launch may take to show its first view before the bench gives up: far beyond
/// the 1 s goal, so only a broken launch hits it.
const FIRST_VIEW_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle time before memory is read: the "after 10 s idle".
const IDLE_BEFORE_MEMORY: Duration = Duration::from_secs(10);
/// How long the friend may take to see the app online (a fresh start dials known addresses
/// and mDNS answers within a few seconds).
const FRIEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The start-up minute, measured on its own as `bench idle` does (mDNS probing, identify); the
/// idle figure is the `--seconds` after it.
const FIRST_MINUTE: Duration = Duration::from_secs(60);
/// After the friend pauses: its activity update reaches the app and the window redraws once.
const PAUSE_SETTLE: Duration = Duration::from_secs(5);

const GOAL_FIRST_VIEW_MS: f64 = 1000.0;
const GOAL_IDLE_MEMORY_MB: f64 = 150.0;
const GOAL_BUNDLE_MB: f64 = 15.0;
const GOAL_IDLE_CPU_PERCENT: f64 = 0.1;

/// What `bench app` measures with.
pub struct AppOptions {
    /// The app binary [default: `<target>/release/earshot`].
    pub app: Option<PathBuf>,
    /// Launches timed to first view.
    pub runs: usize,
    /// Seconds of idle CPU measured.
    pub seconds: f64,
}

pub fn run(options: AppOptions) -> anyhow::Result<Value> {
    let node = std::env::current_exe()?;
    // <target>/<profile>/earshot-node → <target>
    let target = node
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("cannot tell the target directory from {}", node.display()))?
        .to_path_buf();
    let app = options
        .app
        .clone()
        .unwrap_or_else(|| target.join("release").join("earshot"));
    if !app.is_file() {
        anyhow::bail!(
            "the release app {} is missing. Build it (≈6–8 min on 2 cores, the UI first, since \
             the binary embeds ui/dist) with:\n  (cd ui && npm run build) && cargo build --release \
             --workspace --locked\nor name another binary with --app PATH",
            app.display()
        );
    }
    let app_built = std::fs::metadata(&app)?.modified()?;
    // The friend and the headless anchor run the `earshot-node` built with the app (a release
    // figure even when this bench runs from a debug build), or this one.
    let peer_node = Some(app.with_file_name("earshot-node"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| node.clone());

    // Other work on the machine moves these figures: say how busy it was.
    let load_at_start = load_average();
    let xvfb = Xvfb::start()?;
    let display = xvfb.display.clone();
    let bus = SessionBus::start();
    let session_bus = bus.is_ok();
    let scratch = tempfile::tempdir()?;
    let app_dir = scratch.path().join("app-data");
    let xdg = scratch.path().join("xdg");
    let mut env: Vec<(String, String)> = vec![
        ("DISPLAY".into(), xvfb.display.clone()),
        ("XDG_DATA_HOME".into(), path_str(&xdg.join("data"))),
        ("XDG_CACHE_HOME".into(), path_str(&xdg.join("cache"))),
        ("XDG_CONFIG_HOME".into(), path_str(&xdg.join("config"))),
        ("XDG_STATE_HOME".into(), path_str(&xdg.join("state"))),
        // Key files, never the developer's own keyring.
        ("EARSHOT_KEYRING".into(), "off".into()),
        (FIRST_VIEW_ENV.into(), "1".into()),
    ];
    match &bus {
        Ok(bus) => env.push(("DBUS_SESSION_BUS_ADDRESS".into(), bus.address.clone())),
        // Without a bus the single-instance handover and the media controls are off; say so.
        Err(_) => env.push(("DBUS_SESSION_BUS_ADDRESS".into(), "disabled:".into())),
    }

    let mut friend = Friend::start(&peer_node, &scratch.path().join("friend-data"))?;
    // Run on a blocking thread of the bench's runtime (bench.rs), which drives this engine.
    let app_peer = tokio::runtime::Handle::current().block_on(pair(&app_dir, &friend.invite))?;

    let app_args = [OsStr::new("--data-dir"), app_dir.as_os_str()];
    let (launches, mut launch) = launch_times(&app, &app_args, &env, options.runs)?;

    std::thread::sleep(IDLE_BEFORE_MEMORY);
    let memory = tree_memory(Path::new("/proc"), launch.pid());

    let online_before = friend.wait_online(&app_peer, FRIEND_TIMEOUT)?;
    let proc = Path::new("/proc");
    let window = Duration::from_secs_f64(options.seconds.max(1.0));
    let pid = launch.pid();
    let at_start = tree_cpu(proc, pid);
    std::thread::sleep(FIRST_MINUTE);
    // The demo friend plays its album on repeat, so the window shows it listening (progress
    // ticking, the playing animation): the first figure. Then the friend pauses: still online,
    // nothing moving, the second — the idle figure the goal is about.
    let friend_was_playing = friend.is_playing()?;
    let playing = CpuWindow::measure(proc, pid, window);
    friend.call(json!({"type": "pause"}))?;
    let friend_paused = !friend.is_playing()?;
    std::thread::sleep(PAUSE_SETTLE);
    let quiet = CpuWindow::measure(proc, pid, window);
    let online_after = friend.is_online(&app_peer)?;
    let processes_at_end = process_names(proc, pid);
    let first_minute = share_between(&at_start, &playing.before, FIRST_MINUTE);
    launch.stop();

    // The anchors, with the app stopped: the headless peer's figure on this machine, now, and
    // a bare web view's (what WebKit costs by itself).
    let headless = headless_idle(&peer_node, options.seconds);
    friend.stop();
    let bare = bare_web_view(&env, options.runs, window)
        .unwrap_or_else(|e| json!({"error": format!("{e:#}")}));
    drop(bus);
    drop(xvfb);

    let quiet_percent = quiet.percent();

    let mut first_view: Vec<f64> = launches.iter().map(|s| s.launch_ms).collect();
    let page = |f: fn(&PageTimes) -> Option<f64>| -> Vec<Option<f64>> {
        launches.iter().map(|s| f(&s.page).map(round1)).collect()
    };
    let (median, max) = median_max(&mut first_view);

    let (pss_mb, rss_mb) = (
        kb_to_mb(memory.iter().map(|p| p.rollup.pss_kb).sum()),
        kb_to_mb(memory.iter().map(|p| p.rollup.rss_kb).sum()),
    );
    let bundle_dir = target.join("release").join("bundle");
    let deb = bundle(&bundle_dir.join("deb"), "deb");
    let rpm = bundle(&bundle_dir.join("rpm"), "rpm");
    let bundles_met = [&deb, &rpm]
        .iter()
        .map(|b| b["mb"].as_f64().map(|mb| mb < GOAL_BUNDLE_MB))
        .collect::<Option<Vec<bool>>>()
        .map(|all| all.iter().all(|&met| met));

    Ok(json!({
        "bench": "app",
        "app": path_str(&app),
        "app_built_unix": unix_secs(app_built),
        "node": path_str(&peer_node),
        "measured_unix": unix_secs(SystemTime::now()),
        "display": format!("Xvfb {display} (1280x800x24)"),
        "session_bus": session_bus,
        "load_average_at_start": load_at_start,
        "load_average_at_end": load_average(),
        "first_view_ms": {
            "median": median,
            "max": max,
            "goal_below": GOAL_FIRST_VIEW_MS,
            "met": max < GOAL_FIRST_VIEW_MS,
            "samples": launches.iter().map(|s| round1(s.launch_ms)).collect::<Vec<_>>(),
            "page_ms_samples": page(|p| Some(p.first_view_ms)),
            "page_script_ms_samples": page(|p| p.script_ms),
            "page_mounted_ms_samples": page(|p| p.mounted_ms),
            "what": "spawning the app to its main view's first frame (after mount + 2 animation \
                     frames); page_ms: the same moment on the page's clock (from the start of \
                     loading the page), page_script_ms when the bundle started running, \
                     page_mounted_ms when mounting ended. The first launch starts with an empty \
                     web view profile.",
        },
        "idle_memory_mb": {
            "pss": round1(pss_mb),
            "rss": round1(rss_mb),
            "goal_below": GOAL_IDLE_MEMORY_MB,
            "met": pss_mb < GOAL_IDLE_MEMORY_MB,
            "after_idle_s": IDLE_BEFORE_MEMORY.as_secs(),
            "processes": memory_json(&memory),
            "what": "the app's whole process tree (WebKit's processes included), PSS from \
                     /proc/PID/smaps_rollup; 1 MB = 10^6 bytes",
        },
        "bundles_mb": {
            "deb": deb,
            "rpm": rpm,
            "goal_below": GOAL_BUNDLE_MB,
            "met": bundles_met,
        },
        "idle_cpu_percent_of_one_core": {
            "value": round3(quiet_percent),
            "goal_at_most": GOAL_IDLE_CPU_PERCENT,
            "met": quiet_percent <= GOAL_IDLE_CPU_PERCENT,
            "cpu_ms": round1(quiet.cpu_ms()),
            "seconds": round1(quiet.wall.as_secs_f64()),
            "by_thread_percent": quiet.by_thread(),
            "friend_paused": friend_paused,
            "with_friend_playing": {
                "value": round3(playing.percent()),
                "met": playing.percent() <= GOAL_IDLE_CPU_PERCENT,
                "friend_was_playing": friend_was_playing,
                "by_thread_percent": playing.by_thread(),
            },
            "first_minute": round3(first_minute),
            "friend_online_at_start": online_before,
            "friend_online_at_end": online_after,
            "processes": processes_at_end,
            "what": "user + system time of the app's process tree (/proc/PID/stat, 10 ms ticks), \
                     the window idle on Friends, one friend (an earshot-node demo-friend) online: \
                     first_minute from the moment it is seen online, then --seconds with the \
                     friend playing its album (with_friend_playing: the window shows it \
                     listening), then --seconds after it paused (value: nothing moving)",
        },
        "headless_idle": headless,
        "bare_web_view": bare,
    }))
}

/// Launches `program` `runs` times, timing each to its first view; stops all but the last,
/// which it returns still running.
fn launch_times(
    program: &Path,
    args: &[&OsStr],
    env: &[(String, String)],
    runs: usize,
) -> anyhow::Result<(Vec<FirstView>, Launch)> {
    let mut times = Vec::new();
    let mut launch = Launch::start(program, args, env)?;
    times.push(launch.wait_first_view()?);
    for _ in 1..runs.max(1) {
        launch.stop();
        launch = Launch::start(program, args, env)?;
        times.push(launch.wait_first_view()?);
    }
    Ok((times, launch))
}

/// The anchor `tools/bench-app-anchor.py`: a bare WebKitGTK window with a one-line page, on the
/// same display and bus — its first view, its memory after the same idle time, its CPU over the
/// same window.
fn bare_web_view(env: &[(String, String)], runs: usize, window: Duration) -> anyhow::Result<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/bench-app-anchor.py");
    let python = Path::new("/usr/bin/python3");
    anyhow::ensure!(
        script.is_file() && python.is_file(),
        "needs {} and /usr/bin/python3 (with python3-gi and gir1.2-webkit2-4.1)",
        script.display()
    );
    let (launches, mut launch) = launch_times(python, &[script.as_os_str()], env, runs)?;
    std::thread::sleep(IDLE_BEFORE_MEMORY);
    let memory = tree_memory(Path::new("/proc"), launch.pid());
    let cpu = CpuWindow::measure(Path::new("/proc"), launch.pid(), window);
    launch.stop();
    let mut first_view: Vec<f64> = launches.iter().map(|s| s.launch_ms).collect();
    let (median, max) = median_max(&mut first_view);
    Ok(json!({
        "what": "tools/bench-app-anchor.py: WebKit2GTK 4.1 in a GTK window from Python, a \
                 one-line page, no engine, WebKit set up as the app sets it (src-tauri/src/rendering.rs); the same \
                 display, bus, window size and measures",
        "first_view_ms": {
            "median": median,
            "max": max,
            "samples": launches.iter().map(|s| round1(s.launch_ms)).collect::<Vec<_>>(),
            "page_ms_samples": launches.iter().map(|s| round1(s.page.first_view_ms)).collect::<Vec<_>>(),
        },
        "idle_memory_mb": {
            "pss": round1(kb_to_mb(memory.iter().map(|p| p.rollup.pss_kb).sum())),
            "rss": round1(kb_to_mb(memory.iter().map(|p| p.rollup.rss_kb).sum())),
            "processes": memory_json(&memory),
        },
        "idle_cpu_percent_of_one_core": {
            "value": round3(cpu.percent()),
            "seconds": round1(cpu.wall.as_secs_f64()),
            "by_thread_percent": cpu.by_thread(),
        },
    }))
}

/// Each process's memory as JSON.
fn memory_json(memory: &[Memory]) -> Vec<Value> {
    memory
        .iter()
        .map(|p| {
            json!({
                "pid": p.pid,
                "name": p.name,
                "pss_mb": round1(kb_to_mb(p.rollup.pss_kb)),
                "rss_mb": round1(kb_to_mb(p.rollup.rss_kb)),
                "pss_anon_mb": round1(kb_to_mb(p.rollup.pss_anon_kb)),
                "pss_file_mb": round1(kb_to_mb(p.rollup.pss_file_kb)),
                "pss_shmem_mb": round1(kb_to_mb(p.rollup.pss_shmem_kb)),
            })
        })
        .collect()
}

/// Gives the app's data directory one friend: an engine here redeems the friend's invite, waits
/// until both are connected, and stops. Returns the app's peer id.
async fn pair(app_dir: &Path, invite: &str) -> anyhow::Result<String> {
    let mut config = Config {
        net: Some(NetConfig::default()),
        media_controls: false,
        ..Config::new(app_dir)
    };
    // The app will run with EARSHOT_KEYRING=off, so its key must be in a key file too.
    config.store.keys = KeyOptions::key_file_only();
    let engine = Engine::start(config).await?;
    let peer = engine.peer_id().to_base58();
    engine
        .call(Request::RedeemInvite {
            link: invite.to_string(),
        })
        .await?;
    let deadline = Instant::now() + FRIEND_TIMEOUT;
    loop {
        if let Response::Friends { friends } = engine.call(Request::ListFriends).await? {
            if friends.iter().any(|f| f.connection.is_some()) {
                break;
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("pairing: the demo friend did not come online within {FRIEND_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.shutdown().await;
    Ok(peer)
}

/// The headless peer's idle figure (`earshot-node bench idle`, the same `--seconds`), or why
/// there is none.
fn headless_idle(node: &Path, seconds: f64) -> Value {
    let output = Command::new(node)
        .args(["bench", "idle", "--json", "--seconds"])
        .arg(seconds.to_string())
        .env("EARSHOT_KEYRING", "off")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            serde_json::from_str(text.trim())
                .unwrap_or_else(|e| json!({ "error": format!("unreadable output: {e}") }))
        }
        Ok(out) => json!({ "error": format!("bench idle exited with {}", out.status) }),
        Err(e) => json!({ "error": format!("cannot run bench idle: {e}") }),
    }
}

// ── The virtual display and the session bus ────────────────────────────────────────────────

/// An `Xvfb` on a free display, stopped on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> anyhow::Result<Self> {
        for n in 90..190 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            if socket.exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            let display = format!(":{n}");
            let mut child = Command::new("Xvfb")
                .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    anyhow::anyhow!("cannot start Xvfb ({e}): install it with apt-get install xvfb")
                })?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if socket.exists() {
                    return Ok(Self { child, display });
                }
                if child.try_wait()?.is_some() {
                    break; // Someone took this display meanwhile: try the next.
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        anyhow::bail!("Xvfb did not start on any display from :90 to :189")
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
    }
}

/// A private `dbus-daemon --session`, stopped on drop.
struct SessionBus {
    child: Child,
    address: String,
}

impl SessionBus {
    fn start() -> anyhow::Result<Self> {
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout from dbus-daemon"))?;
        let mut address = String::new();
        BufReader::new(stdout).read_line(&mut address)?;
        let address = address.trim().to_string();
        if address.is_empty() {
            terminate(&mut child, Duration::from_secs(2));
            anyhow::bail!("dbus-daemon printed no address");
        }
        Ok(Self { child, address })
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
    }
}

// ── The friend ───────────────────────────────────────────────────────────────────────────

/// An `earshot-node demo-friend` whose control protocol this bench uses to see the app online.
struct Friend {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<Value>,
    invite: String,
    next_id: u64,
}

impl Friend {
    fn start(node: &Path, dir: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(node)
            .arg("--data-dir")
            .arg(dir)
            .arg("demo-friend")
            .env("EARSHOT_KEYRING", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin to the demo friend"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout from the demo friend"))?;
        // Only the invite and replies to our calls are passed on (events are dropped here, so
        // the reader never blocks the friend's output however long nobody listens).
        let (tx, replies) = sync_channel::<Value>(64);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if value.get("demo_invite").is_some() || value.get("id").is_some() {
                    let _ = tx.try_send(value);
                }
            }
        });
        let invite = loop {
            match replies.recv_timeout(Duration::from_secs(30)) {
                Ok(value) => {
                    if let Some(link) = value["demo_invite"].as_str() {
                        break link.to_string();
                    }
                }
                Err(_) => {
                    terminate(&mut child, Duration::from_secs(5));
                    anyhow::bail!("the demo friend printed no invite within 30 s");
                }
            }
        };
        Ok(Self {
            child,
            stdin,
            replies,
            invite,
            next_id: 1,
        })
    }

    /// Calls the friend's engine over its control protocol; the `ok` value, or an error.
    fn call(&mut self, call: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        writeln!(self.stdin, "{}", json!({"id": id, "call": call}))?;
        self.stdin.flush()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(reply) if reply["id"] == json!(id) => {
                    return match reply.get("ok") {
                        Some(ok) => Ok(ok.clone()),
                        None => anyhow::bail!("the demo friend answered {call} with {reply}"),
                    };
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    anyhow::bail!("the demo friend did not answer {call} within 10 s")
                }
                Err(RecvTimeoutError::Disconnected) => anyhow::bail!("the demo friend exited"),
            }
        }
    }

    /// Whether the friend lists `peer` as connected now.
    fn is_online(&mut self, peer: &str) -> anyhow::Result<bool> {
        let reply = self.call(json!({"type": "list_friends"}))?;
        let friends = reply["friends"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("list_friends answered {reply}"))?;
        Ok(friends
            .iter()
            .any(|f| f["peer_id"] == json!(peer) && !f["connection"].is_null()))
    }

    /// Whether the friend's player is playing (the demo friend plays its album on repeat).
    fn is_playing(&mut self) -> anyhow::Result<bool> {
        let reply = self.call(json!({"type": "get_player"}))?;
        Ok(reply["state"] == json!("playing"))
    }

    /// Waits until the friend lists `peer` as connected; true, or an error after `timeout`.
    fn wait_online(&mut self, peer: &str, timeout: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        while !self.is_online(peer)? {
            if Instant::now() > deadline {
                anyhow::bail!("the demo friend did not see the app online within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(true)
    }

    fn stop(mut self) {
        terminate(&mut self.child, Duration::from_secs(10));
    }
}

/// A bench that fails half way leaves no friend running (it would skew the next run's figures).
impl Drop for Friend {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(10));
    }
}

// ── One launch of the app ────────────────────────────────────────────────────────────────

/// One launch's first view: from spawn (bench clock), and the page's own times.
struct FirstView {
    launch_ms: f64,
    page: PageTimes,
}

/// What the marker line says, on the page's clock (from the start of loading the page).
#[derive(Debug, Clone, Copy, PartialEq)]
struct PageTimes {
    /// The first frame of the main view.
    first_view_ms: f64,
    /// When the bundle started running (the page loaded and parsed it) — the app's line only.
    script_ms: Option<f64>,
    /// When mounting the view ended — the app's line only.
    mounted_ms: Option<f64>,
}

/// A running app, its stderr read on a thread that reports the first-view line.
struct Launch {
    child: Child,
    spawned: Instant,
    marker: Receiver<(Instant, PageTimes)>,
    /// The last lines of stderr, for the error when the app exits early.
    tail: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Launch {
    /// Starts `program` with `args` and `env` added to this process's environment.
    fn start(program: &Path, args: &[&OsStr], env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", program.display()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr from the app"))?;
        let (tx, marker) = sync_channel(1);
        let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(page) = parse_first_view(&line) {
                    let _ = tx.try_send((Instant::now(), page));
                }
                if let Ok(mut kept) = kept.lock() {
                    kept.push(line);
                    let excess = kept.len().saturating_sub(20);
                    kept.drain(..excess);
                }
            }
        });
        Ok(Self {
            child,
            spawned,
            marker,
            tail,
        })
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn wait_first_view(&mut self) -> anyhow::Result<FirstView> {
        let deadline = Instant::now() + FIRST_VIEW_TIMEOUT;
        loop {
            match self.marker.recv_timeout(Duration::from_millis(100)) {
                Ok((seen, page)) => {
                    return Ok(FirstView {
                        launch_ms: (seen - self.spawned).as_secs_f64() * 1000.0,
                        page,
                    })
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => break,
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the app exited ({status}) before its first view; its stderr ended:\n{}",
                    self.tail()
                );
            }
        }
        self.stop();
        anyhow::bail!(
            "no '{FIRST_VIEW_PREFIX}' line within {FIRST_VIEW_TIMEOUT:?} (is the app older than \
             the first-view marker? rebuild it); its stderr ended:\n{}",
            self.tail()
        )
    }

    fn tail(&self) -> String {
        self.tail.lock().map(|t| t.join("\n")).unwrap_or_default()
    }

    /// SIGTERM to the app, then waits for it and every process it started (WebKit's) to go.
    fn stop(&mut self) {
        // Once reaped, its pid may be another process's: never walk from it again.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let tree = descendants(Path::new("/proc"), self.pid());
        terminate(&mut self.child, Duration::from_secs(10));
        let deadline = Instant::now() + Duration::from_secs(5);
        let alive = |pid: &i32| Path::new(&format!("/proc/{pid}/stat")).exists();
        while tree.iter().any(alive) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for pid in tree.iter().filter(|pid| alive(pid)) {
            // SAFETY: kill(2) with a pid of a process this bench started (or its descendant).
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
}

/// Nor an app and its WebKit processes.
impl Drop for Launch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM, then SIGKILL after `grace`; always reaps.
fn terminate(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The page's times from a first-view line: `earshot: first view 231 ms (script 120 ms,
/// mounted 200 ms)`, or just `earshot: first view 231 ms` (the bare web view's).
fn parse_first_view(line: &str) -> Option<PageTimes> {
    let rest = line.trim().strip_prefix(FIRST_VIEW_PREFIX)?;
    let (first, details) = match rest.split_once('(') {
        Some((first, details)) => (first, Some(details.strip_suffix(')')?)),
        None => (rest, None),
    };
    let ms = |text: &str| -> Option<f64> { text.trim().strip_suffix("ms")?.trim().parse().ok() };
    let detail = |name: &str| {
        details?
            .split(',')
            .find_map(|part| ms(part.trim().strip_prefix(name)?))
    };
    Some(PageTimes {
        first_view_ms: ms(first)?,
        script_ms: detail("script"),
        mounted_ms: detail("mounted"),
    })
}

// ── /proc ────────────────────────────────────────────────────────────────────────────────

/// One process's `/proc/PID/stat` fields that matter here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stat {
    pid: i32,
    pub(crate) name: String,
    ppid: i32,
    /// utime + stime: its own CPU time (a thread's, for a task's stat), in clock ticks.
    pub(crate) own_ticks: u64,
    /// cutime + cstime: its children's, once they ended and were reaped.
    children_ticks: u64,
}

/// Parses `/proc/PID/stat`. The name (field 2) is in parentheses and may itself hold spaces and
/// parentheses, so the fields after it are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let name = text[open + 1..close].to_string();
    // After ")": state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17).
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let ppid = field(4)?.parse().ok()?;
    let ticks = |n: usize| -> Option<u64> { Some(field(n)?.parse::<i64>().ok()?.max(0) as u64) };
    Some(Stat {
        pid,
        name,
        ppid,
        own_ticks: ticks(14)? + ticks(15)?,
        children_ticks: ticks(16)? + ticks(17)?,
    })
}

/// Every process's stat under `proc` (a real /proc or a test's fake one).
fn all_stats(proc: &Path) -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|text| parse_stat(&text))
        .collect()
}

/// `root`'s stat and those of all its descendants (children, their children, …), root first.
fn tree(proc: &Path, root: i32) -> Vec<Stat> {
    let stats = all_stats(proc);
    let mut children: HashMap<i32, Vec<&Stat>> = HashMap::new();
    for stat in &stats {
        children.entry(stat.ppid).or_default().push(stat);
    }
    let mut found: Vec<Stat> = stats.iter().filter(|s| s.pid == root).cloned().collect();
    let mut next = 0;
    while next < found.len() {
        let pid = found[next].pid;
        if let Some(kids) = children.get(&pid) {
            found.extend(kids.iter().map(|s| (*s).clone()));
        }
        next += 1;
    }
    found
}

fn descendants(proc: &Path, root: i32) -> Vec<i32> {
    tree(proc, root).into_iter().map(|s| s.pid).collect()
}

/// Process names in the tree with how many of each (e.g. `{"WebKitWebProcess": 1, …}`).
fn process_names(proc: &Path, root: i32) -> BTreeMap<String, usize> {
    let mut names = BTreeMap::new();
    for stat in tree(proc, root) {
        *names.entry(stat.name).or_insert(0) += 1;
    }
    names
}

/// One measured window of the tree's CPU time.
struct CpuWindow {
    before: CpuSnapshot,
    after: CpuSnapshot,
    wall: Duration,
}

impl CpuWindow {
    fn measure(proc: &Path, pid: i32, window: Duration) -> Self {
        let (before, started) = (tree_cpu(proc, pid), Instant::now());
        std::thread::sleep(window);
        let after = tree_cpu(proc, pid);
        Self {
            before,
            after,
            wall: started.elapsed(),
        }
    }

    fn cpu_ms(&self) -> f64 {
        self.after.delta_since(&self.before) as f64 * 1000.0 / clock_ticks_per_second()
    }

    fn percent(&self) -> f64 {
        self.cpu_ms() / (self.wall.as_secs_f64() * 1000.0) * 100.0
    }

    fn by_thread(&self) -> serde_json::Map<String, Value> {
        self.after
            .thread_shares(&self.before, self.wall, clock_ticks_per_second())
            .into_iter()
            .map(|(name, share)| (name, json!(share)))
            .collect()
    }
}

/// The share of one core between two snapshots `wall` apart.
fn share_between(before: &CpuSnapshot, after: &CpuSnapshot, wall: Duration) -> f64 {
    after.delta_since(before) as f64 / clock_ticks_per_second() / wall.as_secs_f64() * 100.0
}

/// The CPU ticks of each process in a tree at one moment, and of each of their threads.
struct CpuSnapshot {
    /// pid → its own and its reaped children's ticks.
    processes: HashMap<i32, u64>,
    /// (pid, tid) → `process: thread` name and the thread's ticks.
    threads: HashMap<(i32, i32), (String, u64)>,
}

fn tree_cpu(proc: &Path, root: i32) -> CpuSnapshot {
    let mut snapshot = CpuSnapshot {
        processes: HashMap::new(),
        threads: HashMap::new(),
    };
    for process in tree(proc, root) {
        let pid = process.pid;
        snapshot
            .processes
            .insert(pid, process.own_ticks + process.children_ticks);
        let Ok(tasks) = std::fs::read_dir(proc.join(pid.to_string()).join("task")) else {
            continue;
        };
        for task in tasks.filter_map(Result::ok) {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok();
            if let Some(thread) = stat.as_deref().and_then(parse_stat) {
                let name = format!("{}: {}", process.name, thread.name);
                snapshot
                    .threads
                    .insert((pid, thread.pid), (name, thread.own_ticks));
            }
        }
    }
    snapshot
}

impl CpuSnapshot {
    /// Ticks spent between `earlier` and this snapshot: a process in both counts its increase,
    /// one that started in between counts all of its time. (A child that ended in between is in
    /// its parent's cutime/cstime once reaped.)
    fn delta_since(&self, earlier: &CpuSnapshot) -> u64 {
        self.processes
            .iter()
            .map(|(pid, &now)| now.saturating_sub(earlier.processes.get(pid).copied().unwrap_or(0)))
            .sum()
    }

    /// Each `process: thread` name's share of one core between `earlier` and this snapshot
    /// (threads of one name summed), the busiest first; names that used nothing are left out.
    fn thread_shares(&self, earlier: &CpuSnapshot, wall: Duration, hz: f64) -> Vec<(String, f64)> {
        let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
        for (key, (name, now)) in &self.threads {
            let before = earlier.threads.get(key).map_or(0, |(_, t)| *t);
            *by_name.entry(name).or_default() += now.saturating_sub(before);
        }
        let mut shares: Vec<(String, f64)> = by_name
            .into_iter()
            .filter(|(_, ticks)| *ticks > 0)
            .map(|(name, ticks)| {
                let share = ticks as f64 / hz / wall.as_secs_f64() * 100.0;
                (name.to_string(), round3(share))
            })
            .collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        shares
    }
}

pub(crate) fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// One process's memory (kB as the kernel reports them, i.e. KiB).
#[derive(Debug, Clone, PartialEq)]
struct Memory {
    pid: i32,
    name: String,
    rollup: Rollup,
}

/// What `/proc/PID/smaps_rollup` says, in kB. PSS splits into anonymous memory (heaps, GPU
/// buffers drawn in software), file mappings (code, fonts) and shared memory; kernels before 5.6
/// give no split (zeros).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Rollup {
    rss_kb: u64,
    pss_kb: u64,
    pss_anon_kb: u64,
    pss_file_kb: u64,
    pss_shmem_kb: u64,
}

fn parse_rollup(text: &str) -> Option<Rollup> {
    let value = |key: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Rollup {
        rss_kb: value("Rss")?,
        pss_kb: value("Pss")?,
        pss_anon_kb: value("Pss_Anon").unwrap_or(0),
        pss_file_kb: value("Pss_File").unwrap_or(0),
        pss_shmem_kb: value("Pss_Shmem").unwrap_or(0),
    })
}

/// The memory of every process in the tree that could be read.
fn tree_memory(proc: &Path, root: i32) -> Vec<Memory> {
    tree(proc, root)
        .into_iter()
        .filter_map(|stat| {
            let text =
                std::fs::read_to_string(proc.join(stat.pid.to_string()).join("smaps_rollup"))
                    .ok()?;
            Some(Memory {
                pid: stat.pid,
                name: stat.name,
                rollup: parse_rollup(&text)?,
            })
        })
        .collect()
}

// ── Bundles and small helpers ────────────────────────────────────────────────────────────

/// The newest `*.ext` in `dir`: its name and size, or null size with the reason.
fn bundle(dir: &Path, ext: &str) -> Value {
    let newest = std::fs::read_dir(dir).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == ext))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, e.path(), meta.len()))
            })
            .max_by_key(|(modified, _, _)| *modified)
    });
    match newest {
        Some((modified, path, len)) => json!({
            "mb": round2(len as f64 / 1e6),
            "bytes": len,
            "file": path_str(&path),
            "built_unix": unix_secs(modified),
        }),
        None => json!({
            "mb": null,
            "reason": format!(
                "no .{ext} in {}: build the release bundles first with tools/bundle (see the \
                 README); this bench does not build them",
                dir.display()
            ),
        }),
    }
}

fn median_max(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    (round1(median), round1(samples[n - 1]))
}

/// The 1-minute load average from /proc/loadavg (`null` where there is none).
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn kb_to_mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake /proc: `(pid, name, ppid, utime)` per process, each with a smaps_rollup.
    fn fake_proc(processes: &[(i32, &str, i32, u64)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for &(pid, name, ppid, utime) in processes {
            let p = dir.path().join(pid.to_string());
            std::fs::create_dir(&p).expect("a process folder");
            // Fields 3..=17 as the kernel writes them: state ppid pgrp session tty tpgid flags
            // minflt cminflt majflt cmajflt utime stime cutime cstime, then more.
            let stat =
                format!("{pid} ({name}) S {ppid} 1 1 0 -1 4194304 10 0 0 0 {utime} 5 1 0 20 0 1 0");
            std::fs::write(p.join("stat"), stat).expect("a stat file");
            let rollup = format!(
                "55d0-7ffc ---p 00000000 00:00 0    [rollup]\nRss:              {} kB\nPss:              {} kB\nPss_Anon:          10 kB\n",
                pid * 10,
                pid
            );
            std::fs::write(p.join("smaps_rollup"), rollup).expect("a rollup file");
        }
        // Not a process: ignored.
        std::fs::create_dir(dir.path().join("self-test")).expect("a folder");
        std::fs::write(dir.path().join("uptime"), "1.0 1.0").expect("a file");
        dir
    }

    #[test]
    fn the_tree_holds_the_app_and_every_descendant_but_nothing_else() {
        let proc = fake_proc(&[
            (1, "init", 0, 0),
            (100, "earshot", 1, 50),
            (101, "WebKitNetworkProcess", 100, 3),
            (102, "bwrap", 100, 0),
            (103, "WebKitWebProcess", 102, 40),
            (200, "unrelated", 1, 9),
            (201, "its child", 200, 9),
        ]);
        let mut pids = descendants(proc.path(), 100);
        pids.sort();
        assert_eq!(pids, vec![100, 101, 102, 103]);
        assert!(descendants(proc.path(), 999).is_empty(), "no such process");
    }

    #[test]
    fn memory_sums_per_process_from_smaps_rollup() {
        let proc = fake_proc(&[
            (1, "init", 0, 0),
            (7, "earshot", 1, 0),
            (8, "WebKitWebProcess", 7, 0),
        ]);
        let mut memory = tree_memory(proc.path(), 7);
        memory.sort_by_key(|m| m.pid);
        assert_eq!(
            memory,
            vec![
                Memory {
                    pid: 7,
                    name: "earshot".into(),
                    rollup: Rollup {
                        rss_kb: 70,
                        pss_kb: 7,
                        pss_anon_kb: 10,
                        ..Rollup::default()
                    }
                },
                Memory {
                    pid: 8,
                    name: "WebKitWebProcess".into(),
                    rollup: Rollup {
                        rss_kb: 80,
                        pss_kb: 8,
                        pss_anon_kb: 10,
                        ..Rollup::default()
                    }
                },
            ]
        );
    }

    #[test]
    fn smaps_rollup_gives_rss_pss_and_its_split_in_kb() {
        let text =
            "559a3c2d1000-7ffd1d5f1000 ---p 00000000 00:00 0                          [rollup]\n\
                    Rss:              123456 kB\n\
                    Pss:               65432 kB\n\
                    Pss_Dirty:         40000 kB\n\
                    Pss_Anon:          30000 kB\n\
                    Pss_File:          35000 kB\n\
                    Pss_Shmem:           432 kB\n";
        assert_eq!(
            parse_rollup(text),
            Some(Rollup {
                rss_kb: 123_456,
                pss_kb: 65_432,
                pss_anon_kb: 30_000,
                pss_file_kb: 35_000,
                pss_shmem_kb: 432
            }),
            "Pss_Dirty is not Pss"
        );
        assert_eq!(parse_rollup("Rss: 1 kB\n"), None, "no Pss");
    }

    #[test]
    fn stat_is_read_after_the_last_parenthesis_of_the_name() {
        let stat =
            parse_stat("4242 (Web Content (x)) S 17 4242 4242 0 -1 0 1 2 3 4 100 20 3 4 20 0 12 0")
                .expect("a valid stat line");
        assert_eq!(
            stat,
            Stat {
                pid: 4242,
                name: "Web Content (x)".into(),
                ppid: 17,
                own_ticks: 120,
                children_ticks: 7
            }
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn cpu_counts_increases_and_the_whole_of_new_processes() {
        let snapshot = |processes: &[(i32, u64)]| CpuSnapshot {
            processes: processes.iter().copied().collect(),
            threads: HashMap::new(),
        };
        let before = snapshot(&[(1, 100), (2, 50), (3, 7)]);
        let after = snapshot(&[(1, 130), (2, 50), (4, 5)]);
        assert_eq!(after.delta_since(&before), 30 + 5, "3 ended; 4 is new");
    }

    #[test]
    fn thread_shares_sum_one_name_across_threads_busiest_first() {
        let snapshot = |threads: &[((i32, i32), &str, u64)]| CpuSnapshot {
            processes: HashMap::new(),
            threads: threads
                .iter()
                .map(|&(key, name, ticks)| (key, (name.to_string(), ticks)))
                .collect(),
        };
        let before = snapshot(&[
            ((1, 1), "earshot: main", 10),
            ((1, 2), "earshot: tokio", 0),
            ((1, 3), "earshot: tokio", 0),
        ]);
        let after = snapshot(&[
            ((1, 1), "earshot: main", 11),
            ((1, 2), "earshot: tokio", 2),
            ((1, 3), "earshot: tokio", 2),
            ((2, 2), "WebKitWebProcess: WebKitWebProces", 0),
        ]);
        let shares = after.thread_shares(&before, Duration::from_secs(100), 100.0);
        assert_eq!(
            shares,
            vec![
                ("earshot: tokio".to_string(), 0.04),
                ("earshot: main".to_string(), 0.01)
            ],
            "4 ticks and 1 tick over 100 s at 100 Hz; the idle web process left out"
        );
    }

    #[test]
    fn the_first_view_line_gives_the_page_milliseconds() {
        let bare = |first_view_ms| PageTimes {
            first_view_ms,
            script_ms: None,
            mounted_ms: None,
        };
        assert_eq!(
            parse_first_view("earshot: first view 231 ms (script 120 ms, mounted 200 ms)"),
            Some(PageTimes {
                first_view_ms: 231.0,
                script_ms: Some(120.0),
                mounted_ms: Some(200.0)
            })
        );
        assert_eq!(
            parse_first_view("earshot: first view 231 ms"),
            Some(bare(231.0))
        );
        assert_eq!(
            parse_first_view("earshot: first view 0 ms\n"),
            Some(bare(0.0))
        );
        assert_eq!(parse_first_view("earshot: first viewing 3 ms"), None);
        assert_eq!(parse_first_view("INFO earshot: something else"), None);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(
            median_max(&mut [400.0, 100.0, 300.0, 200.0]),
            (250.0, 400.0)
        );
        assert_eq!(median_max(&mut [5.0]), (5.0, 5.0));
    }

    #[test]
    fn a_missing_bundle_is_null_with_a_reason() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let missing = bundle(&dir.path().join("deb"), "deb");
        assert!(missing["mb"].is_null());
        assert!(missing["reason"]
            .as_str()
            .is_some_and(|r| r.contains(".deb")));
        std::fs::write(
            dir.path().join("earshot_0.1.0_amd64.deb"),
            vec![0u8; 2_500_000],
        )
        .expect("a fake bundle");
        assert_eq!(bundle(dir.path(), "deb")["mb"], json!(2.5));
    }
}
