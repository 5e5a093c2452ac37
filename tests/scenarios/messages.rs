//! Messages between separate `earshot-node` processes (issue #8, design §6 "Conversation logs"):
//! 1:1 and group delivery, delivery through a third member while the sender is gone, a sender
//! killed right after sending, a 30 s partition and 5% packet loss between network namespaces, a
//! message request from a group member who is not a friend, Messages turned off and on, and the
//! demo friend's side of a conversation. (Forged and non-members' entries cannot be made through
//! the control protocol: the engine tests send them, `src-tauri/engine/tests/messages.rs`.)
//!
//! Waits re-check a state whenever the node reports an event (at least once a second) until
//! [`STATE_TIMEOUT`]; the measured times are printed, never asserted. "Exactly once" is checked on
//! the whole history (`list_messages`): every text sent appears once, and nothing else does.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::lab::{require_netns, Lab};
use crate::util::{dirs, take_turn, write_wav, Node, LOOPBACK, STATE_TIMEOUT};

/// More than any test's history: the whole conversation comes back in one page.
const WHOLE_HISTORY: u32 = 500;

fn peer_id(node: &mut Node) -> String {
    node.call(json!({"type": "status"})).unwrap()["peer_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn named(dir: &Path, name: &str, args: &[&str], wrapper: &[String]) -> Node {
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut node = Node::start_with(dir, args, &wrapper);
    node.call(json!({"type": "set_profile", "display_name": name}))
        .unwrap();
    node
}

/// `b` redeems an invite of `a`'s; returns once `a` sees `b` online.
fn befriend(a: &mut Node, b: &mut Node) {
    let link = a.call(json!({"type": "create_invite"})).unwrap()["link"]
        .as_str()
        .unwrap()
        .to_string();
    b.call(json!({"type": "redeem_invite", "link": link}))
        .unwrap();
    let b_id = peer_id(b);
    a.wait_friend_online(&b_id, true, STATE_TIMEOUT);
}

/// The 1:1 conversation with `peer` (the same id on both sides).
fn direct(node: &mut Node, peer: &str) -> String {
    let conversation = node
        .call(json!({"type": "open_direct", "peer_id": peer}))
        .unwrap();
    assert_eq!(conversation["kind"], "direct", "{conversation}");
    conversation["id"].as_str().unwrap().to_string()
}

/// Sends `text`; returns the entry's id once the call says it is stored.
fn send(node: &mut Node, conversation: &str, text: &str) -> String {
    let message = node
        .call(json!({"type": "send_message", "conversation": conversation, "text": text}))
        .unwrap_or_else(|e| panic!("send_message {text:?} failed: {e}"));
    assert_eq!(message["mine"], true, "{message}");
    message["id"].as_str().unwrap().to_string()
}

/// The whole history of a conversation, oldest first (empty if the node does not hold it yet).
fn history(node: &mut Node, conversation: &str) -> Vec<Value> {
    match node.call(json!({
        "type": "list_messages", "conversation": conversation, "limit": WHOLE_HISTORY
    })) {
        Ok(page) => {
            assert_eq!(page["more"], false, "the history must fit one page: {page}");
            page["messages"].as_array().unwrap().clone()
        }
        Err(e) if e["kind"] == "not_found" => Vec::new(),
        Err(e) => panic!("list_messages failed: {e}"),
    }
}

/// The texts of the text messages in `history`, in order.
fn texts(history: &[Value]) -> Vec<String> {
    history
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until `check` returns `Some`, re-checking whenever the node reports any event and at
/// least once a second; fails after [`STATE_TIMEOUT`] naming `what`. Returns the value and how
/// long it took.
fn until<T>(
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

/// Waits until `node` holds every text of `expected` in `conversation`, then checks it holds each
/// exactly once and no other text. Returns the history and how long the wait took.
fn wait_holds_exactly(
    node: &mut Node,
    who: &str,
    conversation: &str,
    expected: &[String],
) -> (Vec<Value>, Duration) {
    let (history, took) = until(
        node,
        &format!("{who} holds all {} messages", expected.len()),
        |n| {
            let history = history(n, conversation);
            let held = texts(&history);
            expected.iter().all(|t| held.contains(t)).then_some(history)
        },
    );
    let mut held = texts(&history);
    let mut wanted = expected.to_vec();
    held.sort();
    wanted.sort();
    assert_eq!(
        held, wanted,
        "{who} must hold every message exactly once and nothing else"
    );
    (history, took)
}

fn ids(history: &[Value]) -> Vec<String> {
    history
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// The sender's view of its own message `entry`: `(delivered, read, of)`.
fn delivery(node: &mut Node, conversation: &str, entry: &str) -> Option<(u64, u64, u64)> {
    let history = history(node, conversation);
    let message = history.iter().find(|m| m["id"] == entry)?;
    let d = &message["delivery"];
    Some((
        d["delivered"].as_u64()?,
        d["read"].as_u64()?,
        d["of"].as_u64()?,
    ))
}

fn chat_stats(node: &mut Node) -> Value {
    node.call(json!({"type": "chat_stats"})).unwrap()
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| t.to_string()).collect()
}

#[test]
fn a_direct_message_goes_both_ways_and_the_sender_sees_delivered_then_read() {
    let dirs = dirs::<2>();
    let mut ada = named(dirs[0].path(), "Ada", LOOPBACK, &[]);
    let mut bo = named(dirs[1].path(), "Bo", LOOPBACK, &[]);
    let (ada_id, bo_id) = (peer_id(&mut ada), peer_id(&mut bo));
    befriend(&mut ada, &mut bo);

    let chat = direct(&mut ada, &bo_id);
    assert_eq!(
        direct(&mut bo, &ada_id),
        chat,
        "both sides name a 1:1 conversation alike"
    );
    let hello = send(&mut ada, &chat, "Hello Bo!");
    let (_, took) = wait_holds_exactly(&mut bo, "Bo", &chat, &strings(&["Hello Bo!"]));
    eprintln!("Ada → Bo: {took:?}");
    let reply = send(&mut bo, &chat, "Hi Ada, got it.");
    let (_, took) = wait_holds_exactly(
        &mut ada,
        "Ada",
        &chat,
        &strings(&["Hello Bo!", "Hi Ada, got it."]),
    );
    eprintln!("Bo → Ada: {took:?}");

    let ((), took) = until(&mut ada, "Ada sees her message delivered to Bo", |n| {
        delivery(n, &chat, &hello)
            .filter(|&(delivered, _, of)| delivered == 1 && of == 1)
            .map(|_| ())
    });
    eprintln!("Ada sees \"delivered\" after {took:?}");
    bo.call(json!({"type": "mark_read", "conversation": chat}))
        .unwrap();
    let ((), took) = until(&mut ada, "Ada sees her message read by Bo", |n| {
        delivery(n, &chat, &hello)
            .filter(|&(_, read, _)| read == 1)
            .map(|_| ())
    });
    eprintln!("Ada sees \"read\" after {took:?}");
    let ((), _) = until(&mut bo, "Bo sees his reply delivered to Ada", |n| {
        delivery(n, &chat, &reply)
            .filter(|&(delivered, _, _)| delivered == 1)
            .map(|_| ())
    });
    let stats = chat_stats(&mut bo);
    assert_eq!(stats["bad_signature"], 0, "{stats}");
    assert_eq!(stats["not_member"], 0, "{stats}");
}

/// Ada (friends with Bo and Cy, who are not friends of each other) makes a group of three.
struct Group {
    nodes: Vec<Node>,
    ids: Vec<String>,
    group: String,
}

fn group_of_three(dirs: &[tempfile::TempDir; 3], all_friends: bool) -> Group {
    let mut nodes: Vec<Node> = ["Ada", "Bo", "Cy"]
        .iter()
        .zip(dirs)
        .map(|(name, dir)| named(dir.path(), name, LOOPBACK, &[]))
        .collect();
    let ids: Vec<String> = nodes.iter_mut().map(peer_id).collect();
    let (ada, rest) = nodes.split_first_mut().unwrap();
    let (bo, rest) = rest.split_first_mut().unwrap();
    let cy = &mut rest[0];
    befriend(ada, bo);
    befriend(ada, cy);
    if all_friends {
        befriend(bo, cy);
    }
    let group = ada
        .call(json!({"type": "create_group", "name": "Band", "peer_ids": [ids[1], ids[2]]}))
        .unwrap();
    assert_eq!(group["kind"], "group", "{group}");
    assert_eq!(group["members"].as_array().unwrap().len(), 3, "{group}");
    let group = group["id"].as_str().unwrap().to_string();
    for (node, who) in [(bo, "Bo"), (cy, "Cy")] {
        let ((), took) = until(node, &format!("{who} has the group"), |n| {
            n.call(json!({"type": "get_conversation", "conversation": group}))
                .ok()
                .filter(|c| c["members"].as_array().is_some_and(|m| m.len() == 3))
                .map(|_| ())
        });
        eprintln!("{who} has the group after {took:?}");
    }
    Group { nodes, ids, group }
}

#[test]
fn a_group_of_three_processes_delivers_every_message_to_every_member() {
    let dirs = dirs::<3>();
    let Group {
        mut nodes, group, ..
    } = group_of_three(&dirs, false);
    let said = strings(&[
        "Ada: first rehearsal?",
        "Bo: Friday!",
        "Cy: I'll bring the amp",
    ]);
    for (node, text) in nodes.iter_mut().zip(&said) {
        send(node, &group, text);
    }
    let mut orders = Vec::new();
    for (node, who) in nodes.iter_mut().zip(["Ada", "Bo", "Cy"]) {
        let (history, took) = wait_holds_exactly(node, who, &group, &said);
        eprintln!("{who} holds the group's three messages after {took:?}");
        orders.push(ids(&history));
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "every member shows the same order: {orders:?}"
    );
    let ada_sent = history(&mut nodes[0], &group)
        .iter()
        .find(|m| m["mine"] == true && m["kind"] == "text")
        .map(|m| m["id"].as_str().unwrap().to_string())
        .unwrap();
    let ((), took) = until(
        &mut nodes[0],
        "Ada sees her message delivered to both",
        |n| {
            delivery(n, &group, &ada_sent)
                .filter(|&(delivered, _, of)| delivered == 2 && of == 2)
                .map(|_| ())
        },
    );
    eprintln!("Ada sees \"delivered to 2\" after {took:?}");
}

#[test]
fn a_message_reaches_an_offline_member_through_a_third_member_after_the_sender_quit() {
    let dirs = dirs::<3>();
    let Group {
        mut nodes,
        ids,
        group,
    } = group_of_three(&dirs, true);
    let cy = nodes.pop().unwrap();
    let bo = nodes.pop().unwrap();
    let mut ada = nodes.pop().unwrap();
    let mut cy = cy;

    let bo_status = bo.stop();
    assert!(bo_status.success(), "Bo exited with {bo_status:?}");
    let text = "Ada: sent while Bo was away".to_string();
    send(&mut ada, &group, &text);
    let (_, took) = wait_holds_exactly(&mut cy, "Cy", &group, std::slice::from_ref(&text));
    eprintln!("Cy holds Ada's message after {took:?}");
    let ada_status = ada.stop();
    assert!(ada_status.success(), "Ada exited with {ada_status:?}");

    let started = Instant::now();
    let mut bo = Node::start(dirs[1].path());
    let (_, took) = wait_holds_exactly(&mut bo, "Bo", &group, std::slice::from_ref(&text));
    eprintln!(
        "Bo, restarted with Ada gone, holds Ada's message after {took:?} ({:?} from start)",
        started.elapsed()
    );
    let from_ada = history(&mut bo, &group)
        .into_iter()
        .find(|m| m["text"] == text.as_str())
        .unwrap();
    assert_eq!(from_ada["author"], ids[0].as_str(), "{from_ada}");
    let stats = chat_stats(&mut bo);
    assert_eq!(stats["bad_signature"], 0, "{stats}");
}

#[test]
fn a_sender_killed_right_after_sending_delivers_after_its_restart_without_duplicates() {
    let dirs = dirs::<2>();
    let mut ada = named(dirs[0].path(), "Ada", LOOPBACK, &[]);
    let mut bo = named(dirs[1].path(), "Bo", LOOPBACK, &[]);
    let bo_id = peer_id(&mut bo);
    befriend(&mut ada, &mut bo);
    let chat = direct(&mut ada, &bo_id);

    // Bo online: the push may or may not leave before the kill; either way, once.
    send(&mut ada, &chat, "one");
    ada.kill();
    let mut ada = Node::start(dirs[0].path());
    let (_, took) = wait_holds_exactly(&mut bo, "Bo", &chat, &strings(&["one"]));
    eprintln!("Bo holds \"one\" {took:?} after Ada's restart");

    // Bo offline: only the restarted Ada can deliver these.
    let status = bo.stop();
    assert!(status.success(), "Bo exited with {status:?}");
    ada.wait_friend_online(&bo_id, false, STATE_TIMEOUT);
    for text in ["two", "three", "four"] {
        send(&mut ada, &chat, text);
    }
    ada.kill();
    let mut bo = Node::start(dirs[1].path());
    let mut ada = Node::start(dirs[0].path());
    let all = strings(&["one", "two", "three", "four"]);
    let (bo_history, took) = wait_holds_exactly(&mut bo, "Bo", &chat, &all);
    eprintln!("Bo holds all four {took:?} after both restarted");
    let (ada_history, _) = wait_holds_exactly(&mut ada, "Ada", &chat, &all);
    assert_eq!(
        ids(&bo_history),
        ids(&ada_history),
        "the same order on both"
    );
    assert_eq!(texts(&bo_history), all, "in the order they were sent");
    // Ada's numbering went on after the kill: a new message is not mistaken for an old one.
    send(&mut ada, &chat, "five");
    let mut all = all;
    all.push("five".into());
    wait_holds_exactly(&mut bo, "Bo", &chat, &all);
}

/// Across processes, a group member who is not your friend reaches you only as a message request,
/// which you can accept; the two have never been connected before the request (they learn each
/// other's addresses through the group).
#[test]
fn a_group_member_who_is_not_a_friend_reaches_you_as_a_message_request() {
    let dirs = dirs::<3>();
    let Group { mut nodes, ids, .. } = group_of_three(&dirs, false);
    let bo_id = ids[1].clone();
    let cy_writes = "Hi Bo, Cy from the band here.".to_string();
    let to_bo = direct(&mut nodes[2], &bo_id);
    send(&mut nodes[2], &to_bo, &cy_writes);

    let bo = &mut nodes[1];
    let (request, took) = until(bo, "Bo has Cy's message request", |n| {
        let lists = n.call(json!({"type": "list_conversations"})).unwrap();
        lists["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == to_bo.as_str())
            .cloned()
    });
    eprintln!("Bo has the request after {took:?}");
    assert_eq!(request["state"], "request", "{request}");
    assert_eq!(request["shared_groups"], json!(["Band"]), "{request}");
    let refused = bo
        .call(json!({"type": "send_message", "conversation": to_bo, "text": "hi"}))
        .unwrap_err();
    assert_eq!(refused["kind"], "invalid_input", "{refused}");

    let accepted = bo
        .call(json!({"type": "accept_message_request", "conversation": to_bo}))
        .unwrap();
    assert_eq!(accepted["state"], "active", "{accepted}");
    send(bo, &to_bo, "Hi Cy!");
    wait_holds_exactly(
        &mut nodes[2],
        "Cy",
        &to_bo,
        &[cy_writes.clone(), "Hi Cy!".to_string()],
    );
}

/// With Messages off, nothing is sent; the friend sees it; turned on again, what is sent arrives.
#[test]
fn messages_turned_off_refuse_to_send_show_at_friends_and_resume_when_turned_on() {
    let dirs = dirs::<2>();
    let mut ada = named(dirs[0].path(), "Ada", LOOPBACK, &[]);
    let mut bo = named(dirs[1].path(), "Bo", LOOPBACK, &[]);
    let (ada_id, bo_id) = (peer_id(&mut ada), peer_id(&mut bo));
    befriend(&mut ada, &mut bo);
    let chat = direct(&mut ada, &bo_id);
    direct(&mut bo, &ada_id);

    let off = bo
        .call(json!({"type": "set_messages_enabled", "on": false}))
        .unwrap();
    assert_eq!(off["on"], false, "{off}");
    let refused = bo
        .call(json!({"type": "send_message", "conversation": chat, "text": "x"}))
        .unwrap_err();
    assert_eq!(refused["kind"], "invalid_input", "{refused}");
    let ((), took) = until(&mut ada, "Ada sees that Bo turned Messages off", |n| {
        let c = n
            .call(json!({"type": "get_conversation", "conversation": chat}))
            .unwrap();
        (c["messages_off"] == true).then_some(())
    });
    eprintln!("Ada sees \"Messages off\" after {took:?}");

    bo.call(json!({"type": "set_messages_enabled", "on": true}))
        .unwrap();
    until(&mut ada, "Ada sees that Bo turned Messages on", |n| {
        let c = n
            .call(json!({"type": "get_conversation", "conversation": chat}))
            .unwrap();
        (c["messages_off"] == false).then_some(())
    });
    send(&mut bo, &chat, "back on");
    wait_holds_exactly(&mut ada, "Ada", &chat, &strings(&["back on"]));
}

// ── Network namespaces ───────────────────────────────────────────────────────────────────────

const LAN_ARGS: &[&str] = &[
    "--listen",
    "/ip4/0.0.0.0/tcp/0",
    "--listen",
    "/ip4/0.0.0.0/udp/0/quic-v1",
];

/// Two friends on one switch (10.77.0.11 and .12) with their 1:1 conversation open, each having
/// received one message from the other. Fields drop in order: nodes first, then the lab.
struct FriendsOnLan {
    a: Node,
    b: Node,
    chat: String,
    said: Vec<String>,
    ns_a: String,
    _dirs: [tempfile::TempDir; 2],
    lab: Lab,
}

impl FriendsOnLan {
    fn start() -> FriendsOnLan {
        let mut lab = Lab::new();
        let switch = lab.switch("sw");
        let ns_a = lab.host("a");
        let ns_b = lab.host("b");
        lab.plug(&switch, &ns_a, "eth0", "10.77.0.11/24");
        lab.plug(&switch, &ns_b, "eth0", "10.77.0.12/24");
        let dirs = dirs::<2>();
        let mut a = named(dirs[0].path(), "Ada", LAN_ARGS, &Lab::wrapper(&ns_a));
        let mut b = named(dirs[1].path(), "Bo", LAN_ARGS, &Lab::wrapper(&ns_b));
        befriend(&mut a, &mut b);
        let (a_id, b_id) = (peer_id(&mut a), peer_id(&mut b));
        let chat = direct(&mut a, &b_id);
        direct(&mut b, &a_id);
        let said = strings(&["a: before", "b: before"]);
        send(&mut a, &chat, &said[0]);
        wait_holds_exactly(&mut b, "Bo", &chat, &said[..1]);
        send(&mut b, &chat, &said[1]);
        wait_holds_exactly(&mut a, "Ada", &chat, &said);
        FriendsOnLan {
            a,
            b,
            chat,
            said,
            ns_a,
            _dirs: dirs,
            lab,
        }
    }

    /// Adds nftables table `table` in A's namespace whose input and output chains apply `rule`
    /// to everything through `eth0` (A's only link).
    fn filter(&self, table: &str, rule: &[&str]) {
        let ns = &self.ns_a;
        self.lab.exec(ns, &["nft", "add", "table", "inet", table]);
        for (chain, hook, dir) in [("in", "input", "iifname"), ("out", "output", "oifname")] {
            let spec = format!("{{ type filter hook {hook} priority filter ; }}");
            self.lab
                .exec(ns, &["nft", "add", "chain", "inet", table, chain, &spec]);
            let mut full = vec!["nft", "add", "rule", "inet", table, chain, dir, "eth0"];
            full.extend_from_slice(rule);
            self.lab.exec(ns, &full);
        }
    }

    fn unfilter(&self, table: &str) {
        self.lab
            .exec(&self.ns_a, &["nft", "delete", "table", "inet", table]);
    }

    /// Both hold every message said, exactly once, in the same order.
    fn converge(&mut self) -> Duration {
        let chat = self.chat.clone();
        let (a_history, a_took) = wait_holds_exactly(&mut self.a, "Ada", &chat, &self.said);
        let (b_history, b_took) = wait_holds_exactly(&mut self.b, "Bo", &chat, &self.said);
        assert_eq!(
            ids(&a_history),
            ids(&b_history),
            "both sides show the same order"
        );
        a_took.max(b_took)
    }
}

#[test]
fn a_thirty_second_partition_heals_with_nothing_lost_duplicated_or_reordered() {
    require_netns!();
    let _turn = take_turn();
    let mut lan = FriendsOnLan::start();
    let chat = lan.chat.clone();

    lan.filter("partition", &["drop"]);
    let cut = Instant::now();
    for round in 0..2 {
        for i in 0..3 {
            let a_text = format!("a: during {round}.{i}");
            let b_text = format!("b: during {round}.{i}");
            send(&mut lan.a, &chat, &a_text);
            send(&mut lan.b, &chat, &b_text);
            lan.said.extend([a_text, b_text]);
        }
        if round == 0 {
            // Half now, half in the middle of the partition.
            std::thread::sleep(Duration::from_secs(15).saturating_sub(cut.elapsed()));
        }
    }
    std::thread::sleep(Duration::from_secs(30).saturating_sub(cut.elapsed()));
    // The lab itself: nothing crossed while the link was cut.
    let b_held = texts(&history(&mut lan.b, &chat));
    assert!(
        !b_held.iter().any(|t| t.starts_with("a: during")),
        "the partition let messages through: {b_held:?}"
    );
    lan.unfilter("partition");
    eprintln!("partition healed after {:?}", cut.elapsed());

    let took = lan.converge();
    eprintln!(
        "both hold all {} messages {took:?} after the partition healed",
        lan.said.len()
    );
}

#[test]
fn a_burst_of_messages_arrives_exactly_once_through_five_percent_packet_loss() {
    require_netns!();
    let _turn = take_turn();
    let mut lan = FriendsOnLan::start();
    let chat = lan.chat.clone();

    lan.filter(
        "loss",
        &["numgen", "random", "mod", "100", "<", "5", "drop"],
    );
    let started = Instant::now();
    for i in 0..100 {
        let text = format!("a: burst {i}");
        send(&mut lan.a, &chat, &text);
        lan.said.push(text);
        if i % 10 == 0 {
            let text = format!("b: burst {i}");
            send(&mut lan.b, &chat, &text);
            lan.said.push(text);
        }
    }
    eprintln!(
        "{} messages sent in {:?}",
        lan.said.len() - 2,
        started.elapsed()
    );
    let took = lan.converge();
    eprintln!("both hold all of them {took:?} later, through 5% loss each way");
    let stats = chat_stats(&mut lan.b);
    eprintln!("Bo's chat_stats: {stats}");
    lan.unfilter("loss");
}

// ── The demo friend ──────────────────────────────────────────────────────────────────────────

#[test]
fn the_demo_friend_answers_a_message_reads_it_and_reacts_to_a_shared_track() {
    let dirs = dirs::<3>();
    let mut args = LOOPBACK.to_vec();
    args.push("demo-friend");
    let mut demo = Node::start_with(dirs[0].path(), &args, &[]);
    let line = demo.other_line("demo_invite");
    let link = line["demo_invite"].as_str().unwrap().to_string();
    let demo_id = line["peer_id"].as_str().unwrap().to_string();
    let mut me = named(dirs[1].path(), "Newcomer", LOOPBACK, &[]);
    me.call(json!({"type": "redeem_invite", "link": link}))
        .unwrap();
    me.wait_friend_online(&demo_id, true, STATE_TIMEOUT);

    let chat = direct(&mut me, &demo_id);
    let hello = send(&mut me, &chat, "Hi Robin! Is this thing on?");
    let (answer, took) = until(&mut me, "the demo friend answers", |n| {
        history(n, &chat)
            .into_iter()
            .find(|m| m["mine"] == false && m["kind"] == "text")
    });
    eprintln!(
        "the demo friend answered after {took:?}: {}",
        answer["text"]
    );
    assert_eq!(answer["author"], demo_id.as_str(), "{answer}");
    assert_eq!(answer["reply_to"]["id"], hello.as_str(), "{answer}");
    until(&mut me, "the demo friend read the message", |n| {
        delivery(n, &chat, &hello)
            .filter(|&(_, read, _)| read == 1)
            .map(|_| ())
    });

    let music = dirs[2].path();
    write_wav(&music.join("tone.wav"), 1, 440);
    me.call(json!({"type": "add_folder", "path": music}))
        .unwrap();
    let (track, _) = until(&mut me, "the tone is in the library", |n| {
        let tracks = n.call(json!({"type": "list_tracks"})).unwrap();
        tracks["tracks"].as_array().unwrap().first().cloned()
    });
    let card = me
        .call(json!({
            "type": "share", "conversation": chat,
            "target": {"kind": "track", "hash": track["hash"]}, "text": "Listen to this"
        }))
        .unwrap();
    assert_eq!(card["kind"], "share", "{card}");
    let shared = card["id"].as_str().unwrap().to_string();
    let (reaction, took) = until(&mut me, "the demo friend reacts to the share", |n| {
        history(n, &chat)
            .into_iter()
            .find(|m| m["id"] == shared.as_str())
            .and_then(|m| m["reactions"].as_array().and_then(|r| r.first().cloned()))
    });
    eprintln!("the demo friend reacted after {took:?}: {reaction}");
    assert_eq!(reaction["emoji"], "🔥", "{reaction}");
    assert_eq!(reaction["mine"], false, "{reaction}");
    let answers = history(&mut me, &chat)
        .into_iter()
        .filter(|m| m["mine"] == false && m["kind"] == "text")
        .count();
    assert_eq!(answers, 1, "a share gets a reaction, not another text");
}
