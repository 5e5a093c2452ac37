//! Spawning `earshot-node` processes and talking to them over the control protocol.
//!
//! A [`Node`] is one process on its own data directory. Its stdout is read by a thread into a
//! bounded channel; [`Node::call`] sends a request and waits (with a timeout) for the reply with
//! the same id, keeping any `event` lines that arrive meanwhile for [`Node::wait_event`].

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Whether this run is CI's (the `CI` environment variable is set and not empty). There a missing
/// prerequisite fails the test instead of skipping it, so a suite cannot pass by not running.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Reports that a test cannot run here: under CI it fails with `reason`; elsewhere it prints
/// "skipped: reason" and the caller returns. Every skip in the scenarios goes through here (see
/// [`require!`]).
pub fn prerequisite_missing(reason: &str) {
    if in_ci() {
        panic!(
            "a prerequisite is missing and CI is set, so this test must not be skipped: {reason}"
        );
    }
    eprintln!("skipped: {reason}");
}

/// Returns from the calling test when `$missing` (an `Option<String>` naming what is missing) is
/// `Some` — or, under CI, fails it: see [`prerequisite_missing`].
macro_rules! require {
    ($missing:expr) => {
        if let Some(reason) = $missing {
            crate::util::prerequisite_missing(&reason);
            return;
        }
    };
}
pub(crate) use require;

/// The first of `tools` that is not an executable on `PATH`, as a reason naming the package
/// (`(tool, apt package)` pairs).
pub fn missing_tools(tools: &[(&str, &str)]) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = |tool: &str| {
        std::env::split_paths(&path).any(|dir| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    };
    tools
        .iter()
        .find(|(tool, _)| !on_path(tool))
        .map(|(tool, package)| format!("`{tool}` is not installed (apt-get install {package})"))
}

/// Tests that measure timing (the namespace labs), and the jam tests whose three peers would load
/// the machine under them, take turns through this lock; so do the tests of `tests/audio`, which
/// also share this file, among themselves. Side by side on two cores they measure each other:
/// syncmeter's p95 offset was 0.85 ms alone and 9.7 ms while the labs ran. Short tests do not
/// take it. (The audio tests are a test binary of their own, which cargo never runs beside
/// this one: the short tests' peers starting by the dozen starved the sound server's clients.)
static TAKE_TURNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for this test's turn (see [`TAKE_TURNS`]); the turn lasts as long as the guard.
pub fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TAKE_TURNS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long a call may take before the test fails: longer than any timeout inside the engine
/// (a pairing request: 20 s, retried once), so those surface as readable `err` replies, and
/// generous for a loaded 2-core CI machine.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a test waits for a state it expects (online, offline, direct…): long enough that only
/// a state that never comes fails the test, even on a loaded machine. How long it really took is
/// printed; speed is for the benchmarks (`earshot-node bench`), not for assertions.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(90);

pub fn node_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_earshot-node"))
}

/// A running `earshot-node` process.
pub struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    events: VecDeque<Value>,
    /// Lines that are neither replies nor events (e.g. the demo friend's invite line).
    others: VecDeque<Value>,
    /// Ids of calls sent with [`Node::send_call`] whose replies are not collected yet, and those
    /// replies that came while something else was awaited.
    pending: Vec<u64>,
    replies: VecDeque<Value>,
    next_id: u64,
    pub data_dir: PathBuf,
    /// The command-line arguments after `--data-dir DIR`, reused on restart.
    args: Vec<String>,
    /// A wrapper to run the node under (e.g. `ip netns exec NS`), reused on restart.
    wrapper: Vec<String>,
}

/// Loopback only and no LAN discovery: tests stay independent of each other.
pub const LOOPBACK: &[&str] = &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"];

impl Node {
    /// Starts a node on `data_dir` (loopback only) and waits until it answers `status`.
    pub fn start(data_dir: &Path) -> Node {
        Node::start_with(data_dir, LOOPBACK, &[])
    }

    /// Starts `[wrapper…] earshot-node --data-dir DIR args…` and waits until it answers `status`.
    pub fn start_with(data_dir: &Path, args: &[&str], wrapper: &[&str]) -> Node {
        let (program, prefix) = match wrapper.split_first() {
            Some((program, rest)) => (
                PathBuf::from(program),
                rest.iter().map(|s| s.to_string()).collect(),
            ),
            None => (node_binary(), Vec::new()),
        };
        let mut command = Command::new(program);
        command.args(&prefix);
        if !wrapper.is_empty() {
            command.arg(node_binary());
        }
        let mut child = command
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            // EARSHOT_TEST_LOG=debug (any RUST_LOG filter) shows what the nodes do.
            .env(
                "RUST_LOG",
                std::env::var("EARSHOT_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("earshot-node to start");
        let stdout = child.stdout.take().expect("a piped stdout");
        let (tx, lines) = sync_channel(1024);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("earshot-node printed a non-JSON line {line:?}: {e}")
                });
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut node = Node {
            child,
            stdin,
            lines,
            events: VecDeque::new(),
            others: VecDeque::new(),
            pending: Vec::new(),
            replies: VecDeque::new(),
            next_id: 1,
            data_dir: data_dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            wrapper: wrapper.iter().map(|s| s.to_string()).collect(),
        };
        node.call(json!({"type": "status"}))
            .expect("a fresh node to answer status");
        node
    }

    /// Writes one raw line to the node's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin to be open");
        writeln!(stdin, "{line}").expect("to write to earshot-node");
        stdin.flush().expect("to flush earshot-node's stdin");
    }

    /// Sends `call` and returns `Ok(ok)` or `Err(err)` from the reply.
    pub fn call(&mut self, call: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let what = call["type"].clone();
        self.send_line(&json!({"id": id, "call": call}).to_string());
        let started = Instant::now();
        let reply = self.next_reply(|line| line.get("id") == Some(&json!(id)));
        if started.elapsed() > Duration::from_secs(5) {
            // Slow answers are worth knowing about even when the test passes.
            eprintln!("slow call: {what} took {:?}", started.elapsed());
        }
        match (reply.get("ok"), reply.get("err")) {
            (Some(ok), None) => Ok(ok.clone()),
            (None, Some(err)) => Err(err.clone()),
            _ => panic!("a reply must hold exactly one of ok/err: {reply}"),
        }
    }

    /// Sends `call` and returns its id at once: a call left running (a download, say) while the
    /// test watches events or kills a peer. [`Node::reply`] collects the answer.
    pub fn send_call(&mut self, call: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.push(id);
        self.send_line(&json!({"id": id, "call": call}).to_string());
        id
    }

    /// The answer to the call `id` sent by [`Node::send_call`]: `Ok(ok)` or `Err(err)`; waits up
    /// to `timeout`.
    pub fn reply(&mut self, id: u64, timeout: Duration) -> Result<Value, Value> {
        let is_it = |line: &Value| line.get("id") == Some(&json!(id));
        let reply = match self.replies.iter().position(is_it) {
            Some(i) => self.replies.remove(i).expect("the position just found"),
            None => {
                let deadline = Instant::now() + timeout;
                loop {
                    let line = self
                        .recv_until(deadline)
                        .unwrap_or_else(|| panic!("no reply to call {id} within {timeout:?}"));
                    if is_it(&line) {
                        break line;
                    }
                    self.keep(line);
                }
            }
        };
        self.pending.retain(|&p| p != id);
        match (reply.get("ok"), reply.get("err")) {
            (Some(ok), None) => Ok(ok.clone()),
            (None, Some(err)) => Err(err.clone()),
            _ => panic!("a reply must hold exactly one of ok/err: {reply}"),
        }
    }

    /// Keeps a line that is not the one awaited: an event, a reply to a call still pending, or
    /// another line; any other reply is a bug in the test.
    fn keep(&mut self, line: Value) {
        if let Some(event) = line.get("event") {
            self.events.push_back(event.clone());
        } else if self.is_pending_reply(&line) {
            self.replies.push_back(line);
        } else if line.get("id").is_none() || line.get("ok").is_none() && line.get("err").is_none()
        {
            self.others.push_back(line);
        } else {
            panic!("an unexpected reply arrived: {line}");
        }
    }

    fn is_pending_reply(&self, line: &Value) -> bool {
        line.get("id")
            .and_then(Value::as_u64)
            .is_some_and(|id| self.pending.contains(&id))
    }

    /// The next non-event line matching `wanted`; events seen meanwhile are kept.
    pub fn next_reply(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let line = self
                .recv_until(deadline)
                .expect("a reply before the timeout");
            if line.get("event").is_some() {
                self.events.push_back(line["event"].clone());
            } else if wanted(&line) {
                return line;
            } else if self.is_pending_reply(&line) {
                self.replies.push_back(line);
            } else if line.get("id").is_none()
                || line.get("ok").is_none() && line.get("err").is_none()
            {
                self.others.push_back(line);
            } else {
                panic!("an unexpected reply arrived: {line}");
            }
        }
    }

    /// Waits for an event whose `type` is `kind`, returning it.
    pub fn wait_event(&mut self, kind: &str, timeout: Duration) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["type"] == kind) {
            return self.events.remove(i).expect("the position just found");
        }
        let deadline = Instant::now() + timeout;
        loop {
            let line = self
                .recv_until(deadline)
                .unwrap_or_else(|| panic!("no {kind} event within {timeout:?}"));
            match line.get("event") {
                Some(event) if event["type"] == kind => return event.clone(),
                Some(event) => self.events.push_back(event.clone()),
                None if line.get("id").is_none() => self.others.push_back(line),
                None if self.is_pending_reply(&line) => self.replies.push_back(line),
                None => panic!("an unexpected reply arrived while waiting for {kind}: {line}"),
            }
        }
    }

    /// The next event of any type (one kept earlier first), or None if none comes within
    /// `timeout`. For waits that re-check a state whenever anything happens.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.recv_until(deadline)?;
            match line.get("event") {
                Some(event) => return Some(event.clone()),
                None if line.get("id").is_none() => self.others.push_back(line),
                None if self.is_pending_reply(&line) => self.replies.push_back(line),
                None => panic!("an unexpected reply arrived while waiting for an event: {line}"),
            }
        }
    }

    fn recv_until(&self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("earshot-node closed its stdout"),
        }
    }

    /// The first line that was neither a reply nor an event and has `key`.
    pub fn other_line(&mut self, key: &str) -> Value {
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            if let Some(i) = self.others.iter().position(|l| l.get(key).is_some()) {
                return self.others.remove(i).expect("the position just found");
            }
            let line = self
                .recv_until(deadline)
                .unwrap_or_else(|| panic!("no line with {key:?}"));
            if line.get("event").is_some() {
                self.events.push_back(line["event"].clone());
            } else {
                self.others.push_back(line);
            }
        }
    }

    /// Kills the process at once (SIGKILL), as a crash or a pulled plug would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the node cleanly and starts it again on the same data directory, same arguments.
    pub fn restart(self) -> Node {
        let dir = self.data_dir.clone();
        let args = self.args.clone();
        let wrapper = self.wrapper.clone();
        let status = self.stop();
        assert!(status.success(), "earshot-node exited with {status:?}");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        Node::start_with(&dir, &args, &wrapper)
    }

    /// Polls `list_friends` until `friend` shows `connected` (true) or offline (false);
    /// returns how long that took.
    pub fn wait_friend_online(
        &mut self,
        friend: &str,
        connected: bool,
        timeout: Duration,
    ) -> Duration {
        let wanted = if connected { "online" } else { "offline" };
        self.wait_friend(friend, wanted, timeout, |f| {
            f["connection"].is_null() != connected
        })
        .0
    }

    /// Polls `list_friends` until `friend` shows `connection` ("direct" or "relayed"); returns
    /// how long that took.
    pub fn wait_friend_connection(
        &mut self,
        friend: &str,
        connection: &str,
        timeout: Duration,
    ) -> Duration {
        self.wait_friend(friend, connection, timeout, |f| {
            f["connection"] == connection
        })
        .0
    }

    /// Polls `list_friends` until `friend`'s entry satisfies `wanted` (described by `what`);
    /// returns how long that took and the entry. Fails after `timeout`, showing the list.
    pub fn wait_friend(
        &mut self,
        friend: &str,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> (Duration, Value) {
        let started = Instant::now();
        loop {
            let friends = self
                .call(json!({"type": "list_friends"}))
                .expect("list_friends to answer");
            let entry = friends["friends"]
                .as_array()
                .expect("a friends array")
                .iter()
                .find(|f| f["peer_id"] == friend && wanted(f));
            if let Some(entry) = entry {
                return (started.elapsed(), entry.clone());
            }
            if started.elapsed() > timeout {
                panic!("{friend} did not become {what} within {timeout:?}: {friends}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `connection` `list_friends` shows for `friend` now (`null` when offline).
    pub fn friend_connection(&mut self, friend: &str) -> Value {
        let friends = self
            .call(json!({"type": "list_friends"}))
            .expect("list_friends to answer");
        friends["friends"]
            .as_array()
            .expect("a friends array")
            .iter()
            .find(|f| f["peer_id"] == friend)
            .unwrap_or_else(|| panic!("{friend} is not a friend: {friends}"))["connection"]
            .clone()
    }

    /// Closes stdin (end of input) and waits for the process to exit.
    /// Sends SIGTERM (closing stdin at the same instant when `close_input`) and returns the exit
    /// status, or None if the node is still running after `timeout`.
    pub fn terminate(mut self, close_input: bool, timeout: Duration) -> Option<ExitStatus> {
        if close_input {
            drop(self.stdin.take());
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("to run kill");
        assert!(sent.success(), "kill -TERM failed");
        wait_with_timeout(&mut self.child, timeout)
    }

    pub fn stop(mut self) -> ExitStatus {
        drop(self.stdin.take());
        wait_with_timeout(&mut self.child, CALL_TIMEOUT)
            .expect("earshot-node to exit at end of input")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A failed test must not leave processes behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for `child` to exit, giving up after `timeout`.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("to poll the child") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Several nodes, each on its own directory under one temporary folder.
pub struct Peers {
    pub nodes: Vec<Node>,
    _root: tempfile::TempDir,
}

impl Peers {
    pub fn start(count: usize) -> Peers {
        let root = tempfile::tempdir().expect("a temporary directory");
        let nodes = (0..count)
            .map(|i| Node::start(&root.path().join(format!("peer-{i}"))))
            .collect();
        Peers { nodes, _root: root }
    }
}

/// `N` fresh data directories.
pub fn dirs<const N: usize>() -> [tempfile::TempDir; N] {
    std::array::from_fn(|_| tempfile::tempdir().expect("a temporary directory"))
}

// ── Shared by the scenario files ─────────────────────────────────────────────────────────

pub fn peer_id(node: &mut Node) -> String {
    node.call(json!({"type": "status"})).unwrap()["peer_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `b` redeems an invite of `a`'s; returns once each sees the other online.
pub fn befriend(a: &mut Node, b: &mut Node) {
    let link = a.call(json!({"type": "create_invite"})).unwrap()["link"]
        .as_str()
        .unwrap()
        .to_string();
    b.call(json!({"type": "redeem_invite", "link": link}))
        .unwrap();
    let (a_id, b_id) = (peer_id(a), peer_id(b));
    a.wait_friend_online(&b_id, true, STATE_TIMEOUT);
    b.wait_friend_online(&a_id, true, STATE_TIMEOUT);
}

/// Waits until `check` returns `Some`, re-checking whenever the node reports any event and at
/// least once a second; fails after [`STATE_TIMEOUT`] naming `what`.
pub fn until<T>(
    node: &mut Node,
    what: &str,
    mut check: impl FnMut(&mut Node) -> Option<T>,
) -> (T, Duration) {
    let started = Instant::now();
    loop {
        if let Some(value) = check(node) {
            return (value, started.elapsed());
        }
        let left = STATE_TIMEOUT.saturating_sub(started.elapsed());
        assert!(!left.is_zero(), "not within {STATE_TIMEOUT:?}: {what}");
        node.next_event(left.min(Duration::from_secs(1)));
    }
}

/// A 16-bit mono WAV at 8 kHz: a tone of `hz` for `seconds` (its name is its title).
pub fn write_wav(path: &Path, seconds: u32, hz: u32) {
    const RATE: u32 = 8000;
    // One period's worth of samples repeated: a long file is written in a blink.
    let period: Vec<u8> = (0..RATE)
        .flat_map(|i| {
            let t = i as f64 / RATE as f64;
            (((t * hz as f64 * std::f64::consts::TAU).sin() * 8000.0) as i16).to_le_bytes()
        })
        .collect();
    let data_len = RATE * 2 * seconds;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(&earshot_engine::media::wav::pcm16_header(RATE, 1, data_len));
    for _ in 0..seconds {
        wav.extend_from_slice(&period);
    }
    std::fs::write(path, wav).expect("to write the tone");
}
