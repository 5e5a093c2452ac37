//! The control protocol as seen from outside the process (docs/control-protocol.md).

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::util::{node_binary, wait_with_timeout, Node, Peers, CALL_TIMEOUT, STATE_TIMEOUT};

fn peer_id(node: &mut Node) -> String {
    let status = node.call(json!({"type": "status"})).unwrap();
    status["peer_id"]
        .as_str()
        .expect("status to carry a peer_id")
        .to_string()
}

#[test]
fn status_reports_a_peer_id_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path());
    let first = peer_id(&mut node);
    assert!(
        first.starts_with("12D3KooW"),
        "not a libp2p ed25519 peer id: {first}"
    );
    assert!(node.stop().success());

    let mut node = Node::start(dir.path());
    assert_eq!(
        peer_id(&mut node),
        first,
        "the identity must be reused after a restart"
    );
}

#[test]
fn a_second_node_on_the_same_data_dir_exits_non_zero_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Node::start(dir.path());

    let mut second = Command::new(node_binary())
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status =
        wait_with_timeout(&mut second, CALL_TIMEOUT).expect("the second node to exit by itself");
    let output = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(!status.success(), "a second node must fail");
    assert!(
        stderr.contains("already using the data directory"),
        "stderr: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "the refused node must not speak the protocol"
    );
}

#[test]
fn the_data_dir_can_also_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(node_binary())
        .env("EARSHOT_DATA_DIR", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("identity.key").exists());
    assert!(dir.path().join("earshot.sqlite3").exists());
}

#[test]
fn malformed_lines_get_an_error_reply_and_the_node_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path());

    node.send_line("this is not json");
    let reply = node.next_reply(|_| true);
    assert_eq!(reply["id"], Value::Null);
    assert_eq!(reply["err"]["kind"], "malformed_request");

    let error = node.call(json!({"type": "no_such_operation"})).unwrap_err();
    assert_eq!(error["kind"], "malformed_request");

    node.send_line(&"x".repeat(2 << 20));
    let reply = node.next_reply(|_| true);
    assert!(
        reply["err"]["message"].as_str().unwrap().contains("limit"),
        "{reply}"
    );

    assert!(
        node.call(json!({"type": "status"})).is_ok(),
        "the node must still answer"
    );
}

#[test]
fn an_invalid_display_name_is_refused_with_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path());
    let error = node
        .call(json!({"type": "set_profile", "display_name": "   "}))
        .unwrap_err();
    assert_eq!(error["kind"], "invalid_input");
    assert!(
        error["message"].as_str().unwrap().contains("empty"),
        "{error}"
    );
}

#[test]
fn a_profile_change_is_pushed_as_an_event_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path());
    node.call(json!({"type": "set_profile", "display_name": "Ada"}))
        .unwrap();
    let event = node.wait_event("profile_changed", STATE_TIMEOUT);
    assert_eq!(event["display_name"], "Ada");

    let mut node = node.restart();
    let profile = node.call(json!({"type": "get_profile"})).unwrap();
    assert_eq!(profile, json!({"type": "profile", "display_name": "Ada"}));
}

#[test]
fn several_nodes_run_side_by_side_with_their_own_identities() {
    let mut peers = Peers::start(3);
    let mut ids: Vec<String> = peers.nodes.iter_mut().map(peer_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each node must have its own identity");
}

#[test]
fn end_of_input_shuts_the_node_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let status = node.stop();
    assert!(status.success(), "exit status {status:?}");
    // A clean shutdown releases the lock: the next start succeeds at once.
    Node::start(dir.path());
}

#[test]
fn help_explains_the_data_dir_flag_and_the_protocol() {
    let output = Command::new(node_binary()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(help.contains("--data-dir"), "{help}");
    assert!(help.contains("EARSHOT_DATA_DIR"), "{help}");
    assert!(help.contains("control-protocol"), "{help}");
}
