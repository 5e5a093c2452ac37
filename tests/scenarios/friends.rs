//! Pairing and friendship between separate `earshot-node` processes.

use serde_json::json;

use crate::util::{dirs, Node, CALL_TIMEOUT, LOOPBACK, STATE_TIMEOUT};

fn peer_id(node: &mut Node) -> String {
    node.call(json!({"type": "status"})).unwrap()["peer_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn invite(node: &mut Node) -> String {
    let invite = node.call(json!({"type": "create_invite"})).unwrap();
    invite["link"].as_str().expect("an invite link").to_string()
}

fn friend_names(node: &mut Node) -> Vec<String> {
    let friends = node.call(json!({"type": "list_friends"})).unwrap();
    let mut names: Vec<String> = friends["friends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["display_name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn named(dir: &std::path::Path, name: &str) -> Node {
    let mut node = Node::start(dir);
    node.call(json!({"type": "set_profile", "display_name": name}))
        .unwrap();
    node
}

#[test]
fn two_processes_pair_by_invite_and_stay_friends_across_restarts() {
    let dirs = dirs::<2>();
    let mut ada = named(dirs[0].path(), "Ada");
    let mut grace = named(dirs[1].path(), "Grace");
    let (ada_id, grace_id) = (peer_id(&mut ada), peer_id(&mut grace));

    let link = invite(&mut ada);
    let friend = grace
        .call(json!({"type": "redeem_invite", "link": link}))
        .unwrap();
    assert_eq!(friend["display_name"], "Ada");
    let added = ada.wait_event("friend_added", STATE_TIMEOUT);
    assert_eq!(added["display_name"], "Grace");

    let mut ada = ada.restart();
    let mut grace = grace.restart();
    ada.wait_friend_online(&grace_id, true, STATE_TIMEOUT);
    grace.wait_friend_online(&ada_id, true, STATE_TIMEOUT);
    assert_eq!(friend_names(&mut ada), ["Grace"]);
    assert_eq!(friend_names(&mut grace), ["Ada"]);
}

#[test]
fn three_processes_pair_through_invites() {
    let dirs = dirs::<3>();
    let mut ada = named(dirs[0].path(), "Ada");
    let mut grace = named(dirs[1].path(), "Grace");
    let mut linus = named(dirs[2].path(), "Linus");

    let link = invite(&mut ada);
    grace
        .call(json!({"type": "redeem_invite", "link": link}))
        .unwrap();
    let link = invite(&mut grace);
    linus
        .call(json!({"type": "redeem_invite", "link": link}))
        .unwrap();

    assert_eq!(friend_names(&mut ada), ["Grace"]);
    assert_eq!(friend_names(&mut grace), ["Ada", "Linus"]);
    assert_eq!(friend_names(&mut linus), ["Grace"]);
}

#[test]
fn a_reused_invite_is_refused_with_a_clear_error() {
    let dirs = dirs::<3>();
    let mut ada = named(dirs[0].path(), "Ada");
    let mut grace = named(dirs[1].path(), "Grace");
    let mut linus = named(dirs[2].path(), "Linus");
    let link = invite(&mut ada);
    grace
        .call(json!({"type": "redeem_invite", "link": link}))
        .unwrap();

    let error = linus
        .call(json!({"type": "redeem_invite", "link": link}))
        .unwrap_err();

    assert_eq!(error["kind"], "invalid_input");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("already been used"),
        "{error}"
    );
}

#[test]
fn a_malformed_invite_is_refused_without_dialling() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path());
    let error = node
        .call(json!({"type": "redeem_invite", "link": "earshot://invite/%%%"}))
        .unwrap_err();
    assert_eq!(error["kind"], "invalid_input");
    assert!(
        error["message"].as_str().unwrap().contains("damaged"),
        "{error}"
    );
}

#[test]
fn the_demo_friend_prints_an_invite_and_accepts_whoever_redeems_it() {
    let dirs = dirs::<2>();
    let mut args = LOOPBACK.to_vec();
    args.push("demo-friend");
    let mut demo = Node::start_with(dirs[0].path(), &args, &[]);
    let line = demo.other_line("demo_invite");
    let link = line["demo_invite"].as_str().unwrap().to_string();
    let mut me = named(dirs[1].path(), "Newcomer");

    let friend = me
        .call(json!({"type": "redeem_invite", "link": link}))
        .unwrap();

    assert_eq!(friend["display_name"], "Robin (demo friend)");
    demo.wait_event("friend_added", STATE_TIMEOUT);
}

#[test]
fn the_demo_friend_stops_on_sigterm_whether_or_not_its_input_is_open() {
    // Two ways this once hung forever: SIGTERM landing as stdin closed was lost between serving and
    // waiting; and with stdin left open, the runtime waited on the blocked stdin read at exit.
    let dirs = dirs::<1>();
    let mut args = LOOPBACK.to_vec();
    args.push("demo-friend");
    for (round, close_input) in [true, false, true, false].into_iter().enumerate() {
        let mut demo = Node::start_with(dirs[0].path(), &args, &[]);
        demo.other_line("demo_invite");
        // A hang, not a slow exit, is what fails: the timeout is generous.
        let status = demo.terminate(close_input, CALL_TIMEOUT);
        assert!(
            status.is_some_and(|s| s.success()),
            "round {round}: the demo friend did not exit cleanly within {CALL_TIMEOUT:?} of SIGTERM: {status:?}"
        );
    }
}

/// Invites can be listed and revoked through `earshot-node`, as in the window: who used one shows,
/// a revoked link stops working, and an unfriended friend's invite is revoked with them.
#[test]
fn invites_are_listed_and_revoked_through_the_control_protocol() {
    let dirs = dirs::<3>();
    let mut ada = named(dirs[0].path(), "Ada");
    let mut grace = named(dirs[1].path(), "Grace");
    let mut bob = named(dirs[2].path(), "Bob");
    let grace_id = peer_id(&mut grace);
    let for_grace = invite(&mut ada);
    let for_bob = invite(&mut ada);
    grace
        .call(json!({"type": "redeem_invite", "link": for_grace}))
        .unwrap();

    let listed = ada.call(json!({"type": "list_invites"})).unwrap();
    let invites = listed["invites"].as_array().unwrap().clone();
    assert_eq!(invites.len(), 2, "{listed}");
    let used: Vec<_> = invites.iter().filter(|i| !i["used_by"].is_null()).collect();
    assert_eq!(used.len(), 1, "{listed}");
    assert_eq!(used[0]["used_by"]["peer_id"], grace_id.as_str());
    assert_eq!(used[0]["used_by"]["display_name"], "Grace");

    let open = invites.iter().find(|i| i["used_by"].is_null()).unwrap();
    ada.call(json!({"type": "revoke_invite", "id": open["id"]}))
        .unwrap();
    let refused = bob
        .call(json!({"type": "redeem_invite", "link": for_bob}))
        .unwrap_err();
    assert_eq!(refused["kind"], "invalid_input", "{refused}");

    ada.call(json!({"type": "remove_friend", "peer_id": grace_id}))
        .unwrap();
    let listed = ada.call(json!({"type": "list_invites"})).unwrap();
    assert_eq!(
        listed["invites"].as_array().unwrap().len(),
        0,
        "unfriending revokes the invite Grace used: {listed}"
    );
}
