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

/// How long a call may take before the test fails; generous for a loaded 2-core CI machine.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

pub fn node_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_earshot-node"))
}

/// A running `earshot-node` process.
pub struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    events: VecDeque<Value>,
    next_id: u64,
    pub data_dir: PathBuf,
}

impl Node {
    /// Starts a node on `data_dir` and waits until it answers `status`.
    pub fn start(data_dir: &Path) -> Node {
        let mut child = Command::new(node_binary())
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
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
            next_id: 1,
            data_dir: data_dir.to_path_buf(),
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
        self.send_line(&json!({"id": id, "call": call}).to_string());
        let reply = self.next_reply(|line| line.get("id") == Some(&json!(id)));
        match (reply.get("ok"), reply.get("err")) {
            (Some(ok), None) => Ok(ok.clone()),
            (None, Some(err)) => Err(err.clone()),
            _ => panic!("a reply must hold exactly one of ok/err: {reply}"),
        }
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
                None => panic!("an unexpected reply arrived while waiting for {kind}: {line}"),
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

    /// Stops the node cleanly and starts it again on the same data directory.
    pub fn restart(self) -> Node {
        let dir = self.data_dir.clone();
        let status = self.stop();
        assert!(status.success(), "earshot-node exited with {status:?}");
        Node::start(&dir)
    }

    /// Closes stdin (end of input) and waits for the process to exit.
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
