//! Listening Activity between separate `earshot-node` processes (issue #9, design §6 `presence`
//! and `transfer`): sharing is opt-in and takes effect at once both ways; a stranger, a fellow
//! group member who is not a friend and a blocked peer never hear of it; the last played track
//! stands in after a pause, a stop and a restart; a private session withdraws it; a friend's
//! track plays and is added to the library from the friend, an interrupted download resumes and
//! a damaged range is caught and fetched again; a reaction lands in the 1:1 chat attached to the
//! track; and the demo friend shares what it plays. (Malformed and non-friends' updates cannot be made through the control protocol: the
//! engine tests send them, `src-tauri/engine/tests/activity.rs`.)
//!
//! Every peer plays into a silent software sink (`--virtual-audio`), so nothing needs a sound
//! device. Waits re-check whenever the node reports an event (at least once a second) until
//! [`STATE_TIMEOUT`]; the measured times are printed, never asserted. What must *not* arrive is
//! checked after something that must: a friend's view of a later change (pushes to one peer go
//! out one at a time and in order, so an update that was going to leak would be there by then).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{befriend, dirs, peer_id, until, write_wav, Node, CALL_TIMEOUT, STATE_TIMEOUT};

/// Loopback only, no LAN discovery, no sound device.
const ARGS: &[&str] = &[
    "--listen",
    "/ip4/127.0.0.1/tcp/0",
    "--no-mdns",
    "--virtual-audio",
];

fn start(dir: &Path, name: &str) -> Node {
    let mut node = Node::start_with(dir, ARGS, &[]);
    node.call(json!({"type": "set_profile", "display_name": name}))
        .unwrap();
    node
}

/// Adds `folder` to `node`'s library; returns the tracks' hashes by title once all `titles` are
/// in it.
fn add_music(node: &mut Node, folder: &Path, titles: &[&str]) -> Vec<String> {
    node.call(json!({"type": "add_folder", "path": folder}))
        .unwrap();
    let (hashes, _) = until(node, "the music is in the library", |n| {
        let tracks = n.call(json!({"type": "list_tracks"})).unwrap();
        let tracks = tracks["tracks"].as_array().unwrap().clone();
        titles
            .iter()
            .map(|title| {
                tracks
                    .iter()
                    .find(|t| t["title"] == *title)
                    .map(|t| t["hash"].as_str().unwrap().to_string())
            })
            .collect::<Option<Vec<_>>>()
    });
    hashes
}

/// Plays `hash` and returns once it is heard (a tenth of a second in): then the play is in the
/// history, which is what "last played" comes from. (A track paused before its first sample was
/// never played.)
fn play(node: &mut Node, hash: &str) {
    node.call(json!({"type": "play", "hashes": [hash]}))
        .unwrap_or_else(|e| panic!("play failed: {e}"));
    until(node, "the track is heard", |n| {
        let player = n.call(json!({"type": "get_player"})).unwrap();
        let heard = player["state"] == "playing"
            && player["current"]["hash"] == hash
            && player["position_ms"].as_u64().is_some_and(|ms| ms >= 100);
        heard.then_some(())
    });
}

fn share(node: &mut Node, on: bool) {
    let settings = node
        .call(json!({"type": "set_activity_sharing", "on": on}))
        .unwrap();
    assert_eq!(settings["sharing"], on, "{settings}");
}

/// The `friend_activity` entry for `friend`, if listed.
fn listed(node: &mut Node, friend: &str) -> Option<Value> {
    let all = node.call(json!({"type": "friend_activity"})).unwrap();
    all["friends"]
        .as_array()
        .expect("a friends array")
        .iter()
        .find(|f| f["peer_id"] == friend)
        .cloned()
}

/// Waits for a `friend_activity_changed` about `friend` satisfying `wanted`; returns it and the
/// earlier reports about `friend`, oldest first.
fn wait_activity(
    node: &mut Node,
    friend: &str,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> (Value, Vec<Value>) {
    let started = Instant::now();
    let mut before = Vec::new();
    loop {
        let left = STATE_TIMEOUT.saturating_sub(started.elapsed());
        let event = node
            .next_event(left)
            .unwrap_or_else(|| panic!("not within {STATE_TIMEOUT:?}: {what}; before: {before:?}"));
        if event["type"] != "friend_activity_changed" || event["peer_id"] != friend {
            continue;
        }
        if wanted(&event) {
            eprintln!("{what}: after {:?}", started.elapsed());
            return (event, before);
        }
        before.push(event);
    }
}

/// Whether a friend's status shows `hash` in `state` (`playing`, `paused`, `last_played`).
fn showing(status: &Value, state: &str, hash: &str) -> bool {
    status["activity"]["state"] == state && status["activity"]["track"]["hash"] == hash
}

/// The events the node reported before answering a `status` call now (the control protocol
/// writes what it has in order: events already published come first).
fn drain(node: &mut Node) -> Vec<Value> {
    node.call(json!({"type": "status"})).unwrap();
    let mut all = Vec::new();
    while let Some(event) = node.next_event(Duration::ZERO) {
        all.push(event);
    }
    all
}

/// Ada, who plays, and her friend Bo, each with a library folder: Ada's holds `titles` (tones of
/// `seconds`), Bo's is empty.
struct AdaAndBo {
    ada: Node,
    bo: Node,
    ada_id: String,
    bo_id: String,
    /// Ada's tracks, in the order of `titles`.
    hashes: Vec<String>,
    dirs: [tempfile::TempDir; 4],
}

impl AdaAndBo {
    fn start(titles: &[&str]) -> AdaAndBo {
        AdaAndBo::start_with(titles, 60)
    }

    fn start_with(titles: &[&str], seconds: u32) -> AdaAndBo {
        let dirs = dirs::<4>();
        let mut ada = start(dirs[0].path(), "Ada");
        let mut bo = start(dirs[1].path(), "Bo");
        let (ada_id, bo_id) = (peer_id(&mut ada), peer_id(&mut bo));
        for (i, title) in titles.iter().enumerate() {
            let path = dirs[2].path().join(format!("{title}.wav"));
            write_wav(&path, seconds, 330 + 110 * i as u32);
        }
        let hashes = add_music(&mut ada, dirs[2].path(), titles);
        add_music(&mut bo, dirs[3].path(), &[]);
        befriend(&mut ada, &mut bo);
        AdaAndBo {
            ada,
            bo,
            ada_id,
            bo_id,
            hashes,
            dirs,
        }
    }

    /// Ada shares and plays `hash`; returns once Bo sees it playing.
    fn ada_shares_and_plays(&mut self, hash: &str) -> Value {
        share(&mut self.ada, true);
        play(&mut self.ada, hash);
        let ada = self.ada_id.clone();
        wait_activity(&mut self.bo, &ada, "Bo sees Ada's track", |f| {
            showing(f, "playing", hash)
        })
        .0
    }
}

#[test]
fn sharing_is_off_until_turned_on_and_each_switch_reaches_the_friend_at_once() {
    let mut p = AdaAndBo::start(&["gulls", "tide"]);
    let (ada, hashes) = (p.ada_id.clone(), p.hashes.clone());
    let settings = p
        .ada
        .call(json!({"type": "get_activity_settings"}))
        .unwrap();
    assert_eq!(
        settings,
        json!({"type": "activity_settings", "sharing": false, "private_session": false}),
        "off by default"
    );

    play(&mut p.ada, &hashes[0]);
    play(&mut p.ada, &hashes[1]);
    let shown = listed(&mut p.bo, &ada).expect("Bo lists his friend Ada");
    assert_eq!(shown["activity"], Value::Null, "nothing while off: {shown}");

    share(&mut p.ada, true);
    let (on, before) = wait_activity(&mut p.bo, &ada, "on: Bo sees the track", |f| {
        showing(f, "playing", &hashes[1])
    });
    // Ada's track changes were pushed before the switch, in order: all of them said nothing.
    assert!(
        before.iter().all(|f| f["activity"].is_null()),
        "Bo heard of Ada's music while she did not share it: {before:?}"
    );
    assert_eq!(on["online"], true, "{on}");
    assert_eq!(on["activity"]["track"]["title"], "tide", "{on}");
    assert_eq!(on["activity"]["in_library"], false, "Bo lacks it: {on}");
    let shown = listed(&mut p.bo, &ada).unwrap();
    assert!(showing(&shown, "playing", &hashes[1]), "{shown}");

    share(&mut p.ada, false);
    wait_activity(&mut p.bo, &ada, "off: the status is withdrawn", |f| {
        f["activity"].is_null()
    });
    let shown = listed(&mut p.bo, &ada).unwrap();
    assert_eq!(shown["activity"], Value::Null, "{shown}");
}

/// Pushes to one peer go out in order, so once Bo has seen the last change, anything sent to
/// the others would have arrived too.
#[test]
fn a_stranger_a_fellow_group_member_and_a_blocked_peer_never_see_the_activity() {
    let mut p = AdaAndBo::start(&["gulls", "tide"]);
    let (ada, hashes) = (p.ada_id.clone(), p.hashes.clone());
    let more = dirs::<4>();
    // Cy: Bo's friend, not Ada's; Bo puts Ada and Cy in a group.
    let mut cy = start(more[0].path(), "Cy");
    befriend(&mut p.bo, &mut cy);
    let cy_id = peer_id(&mut cy);
    let group =
        p.bo.call(json!({"type": "create_group", "name": "Band", "peer_ids": [ada, cy_id]}))
            .unwrap();
    let group = group["id"].as_str().unwrap().to_string();
    // Cy writes to the group; Ada holds it (members learn each other's addresses in the group).
    until(&mut cy, "Cy has the group", |n| {
        n.call(json!({"type": "get_conversation", "conversation": group}))
            .ok()
            .map(|_| ())
    });
    cy.call(json!({"type": "send_message", "conversation": group, "text": "hi all"}))
        .unwrap();
    until(&mut p.ada, "Ada holds Cy's group message", |n| {
        let page = n
            .call(json!({"type": "list_messages", "conversation": group, "limit": 50}))
            .ok()?;
        page["messages"]
            .as_array()?
            .iter()
            .any(|m| m["text"] == "hi all")
            .then_some(())
    });
    // Dee: a friend until Ada removed her. Eve: a friend until Ada blocked her.
    let mut dee = start(more[1].path(), "Dee");
    let mut eve = start(more[2].path(), "Eve");
    befriend(&mut p.ada, &mut dee);
    befriend(&mut p.ada, &mut eve);
    let (dee_id, eve_id) = (peer_id(&mut dee), peer_id(&mut eve));
    p.ada
        .call(json!({"type": "remove_friend", "peer_id": dee_id}))
        .unwrap();
    p.ada
        .call(json!({"type": "block", "peer_id": eve_id}))
        .unwrap();
    until(&mut dee, "Dee no longer has Ada as a friend", |n| {
        let friends = n.call(json!({"type": "list_friends"})).unwrap();
        (!friends["friends"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["peer_id"] == ada))
        .then_some(())
    });
    // Fay: a stranger who dials Ada with an invite Ada revoked.
    let mut fay = start(more[3].path(), "Fay");
    let link = p.ada.call(json!({"type": "create_invite"})).unwrap()["link"].clone();
    let invites = p.ada.call(json!({"type": "list_invites"})).unwrap();
    let unused = invites["invites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["used_by"].is_null())
        .unwrap_or_else(|| panic!("the new invite is listed: {invites}"))["id"]
        .clone();
    p.ada
        .call(json!({"type": "revoke_invite", "id": unused}))
        .unwrap();
    let refused = fay
        .call(json!({"type": "redeem_invite", "link": link}))
        .unwrap_err();
    eprintln!("Fay's revoked invite: {refused}");

    let mut others = [(cy, "Cy"), (dee, "Dee"), (eve, "Eve"), (fay, "Fay")];
    for (node, _) in others.iter_mut() {
        drain(node);
    }
    p.ada_shares_and_plays(&hashes[0]);
    play(&mut p.ada, &hashes[1]);
    wait_activity(&mut p.bo, &ada, "Bo sees the next track", |f| {
        showing(f, "playing", &hashes[1])
    });
    p.ada.call(json!({"type": "pause"})).unwrap();
    wait_activity(&mut p.bo, &ada, "Bo sees the pause", |f| {
        showing(f, "paused", &hashes[1])
    });

    for (node, who) in others.iter_mut() {
        let heard: Vec<Value> = drain(node)
            .into_iter()
            .filter(|e| e["type"] == "friend_activity_changed" && e["peer_id"] == ada)
            // Eve still dials Ada, her friend as far as she knows; Ada drops each connection at
            // once, which Eve may see as Ada coming online and going (with nothing playing).
            .filter(|e| *who != "Eve" || !e["activity"].is_null())
            .collect();
        assert!(heard.is_empty(), "{who} heard of Ada's activity: {heard:?}");
        let shown = listed(node, &ada);
        if *who == "Eve" {
            // A block is silent: Eve still counts Ada as a friend, who shares nothing with her.
            assert!(
                shown.as_ref().is_some_and(|f| f["activity"].is_null()),
                "Eve's friend_activity shows no activity for Ada: {shown:?}"
            );
        } else {
            assert_eq!(
                shown, None,
                "{who}'s friend_activity lists nothing about Ada"
            );
        }
    }
}

#[test]
fn the_last_played_track_stands_in_after_a_pause_a_stop_and_a_restart() {
    let mut p = AdaAndBo::start(&["gulls", "tide"]);
    let (ada, hashes) = (p.ada_id.clone(), p.hashes.clone());
    p.ada_shares_and_plays(&hashes[0]);

    p.ada.call(json!({"type": "pause"})).unwrap();
    wait_activity(&mut p.bo, &ada, "paused", |f| {
        showing(f, "paused", &hashes[0])
    });
    p.ada.call(json!({"type": "clear_queue"})).unwrap();
    let (last, _) = wait_activity(&mut p.bo, &ada, "stopped: the last played", |f| {
        showing(f, "last_played", &hashes[0])
    });
    assert_eq!(last["activity"]["track"]["title"], "gulls", "{last}");

    play(&mut p.ada, &hashes[1]);
    wait_activity(&mut p.bo, &ada, "playing the next", |f| {
        showing(f, "playing", &hashes[1])
    });
    // What survives a crash is the play history: the play is in it before the kill.
    let (played_at, _) = until(&mut p.ada, "Ada's history holds the play", |n| {
        let plays = n
            .call(json!({"type": "recently_played", "limit": 1}))
            .unwrap();
        let last = plays["plays"].as_array()?.first()?.clone();
        (last["hash"] == hashes[1].as_str()).then(|| last["played_at"].as_i64().unwrap())
    });
    // When Ada drops, Bo turns her "playing" into "last played" dated to that moment; once back,
    // Ada dates her last play to when it started. A pause keeps the two datings apart.
    std::thread::sleep(Duration::from_millis(250));
    let dir = p.ada.data_dir.clone();
    let killed_at = now_ms();
    p.ada.kill();
    p.bo.wait_friend_online(&ada, false, STATE_TIMEOUT);
    let mut ada_again = Node::start_with(&dir, ARGS, &[]);
    let (back, _) = wait_activity(
        &mut p.bo,
        &ada,
        "after Ada's restart: her last play, dated before the crash",
        |f| {
            f["online"] == true
                && showing(f, "last_played", &hashes[1])
                && f["activity"]["as_of"]
                    .as_i64()
                    .is_some_and(|t| t < killed_at)
        },
    );
    eprintln!(
        "dated {} ms after the play was recorded",
        back["activity"]["as_of"].as_i64().unwrap() - played_at
    );
    let settings = ada_again
        .call(json!({"type": "get_activity_settings"}))
        .unwrap();
    assert_eq!(settings["sharing"], true, "sharing is remembered");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_private_session_withdraws_the_status_until_it_ends() {
    let mut p = AdaAndBo::start(&["gulls"]);
    let (ada, hash) = (p.ada_id.clone(), p.hashes[0].clone());
    p.ada_shares_and_plays(&hash);

    let settings = p
        .ada
        .call(json!({"type": "set_private_session", "on": true}))
        .unwrap();
    assert_eq!(settings["private_session"], true, "{settings}");
    assert_eq!(settings["sharing"], true, "{settings}");
    wait_activity(&mut p.bo, &ada, "private: withdrawn", |f| {
        f["activity"].is_null()
    });

    p.ada
        .call(json!({"type": "set_private_session", "on": false}))
        .unwrap();
    wait_activity(&mut p.bo, &ada, "private session over: back", |f| {
        showing(f, "playing", &hash)
    });
}

/// `transfer_progress` events about `hash` among `events`, as (received, total).
fn progress(events: &[Value], hash: &str) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter(|e| e["type"] == "transfer_progress" && e["hash"] == hash)
        .map(|e| {
            (
                e["received"].as_u64().unwrap(),
                e["total"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The library's tracks.
fn tracks(node: &mut Node) -> Vec<Value> {
    node.call(json!({"type": "list_tracks"})).unwrap()["tracks"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_friends_track_plays_from_the_friend_and_is_added_to_the_library() {
    let mut p = AdaAndBo::start(&["gulls"]);
    let (ada, hash) = (p.ada_id.clone(), p.hashes[0].clone());
    let size = std::fs::metadata(p.dirs[2].path().join("gulls.wav"))
        .unwrap()
        .len();
    p.ada_shares_and_plays(&hash);

    drain(&mut p.bo);
    let player =
        p.bo.call(json!({"type": "play_friend_track", "peer_id": ada, "hash": hash}))
            .unwrap_or_else(|e| panic!("play_friend_track failed: {e}"));
    assert_eq!(player["type"], "player", "{player}");
    assert_eq!(player["current"]["hash"], hash.as_str(), "{player}");
    until(&mut p.bo, "Bo plays Ada's track", |n| {
        let player = n.call(json!({"type": "get_player"})).unwrap();
        (player["state"] == "playing" && player["current"]["hash"] == hash).then_some(())
    });
    let fetched = progress(&drain(&mut p.bo), &hash);
    assert_eq!(
        fetched.last(),
        Some(&(size, size)),
        "the whole file came with progress: {fetched:?}"
    );

    let track =
        p.bo.call(json!({"type": "add_friend_track", "peer_id": ada, "hash": hash}))
            .unwrap_or_else(|e| panic!("add_friend_track failed: {e}"));
    assert_eq!(track["type"], "track", "{track}");
    assert_eq!(track["hash"], hash.as_str(), "the same file: {track}");
    let filed = PathBuf::from(track["path"].as_str().unwrap());
    let friends_folder = p.dirs[3].path().join("From friends");
    assert!(
        filed.starts_with(&friends_folder),
        "{} is not under {}",
        filed.display(),
        friends_folder.display()
    );
    assert_eq!(std::fs::metadata(&filed).unwrap().len(), size);
    assert!(
        tracks(&mut p.bo).iter().any(|t| t["hash"] == hash.as_str()),
        "the library lists it"
    );
    wait_activity(&mut p.bo, &ada, "Ada's track is now in Bo's library", |f| {
        f["activity"]["in_library"] == true
    });
}

/// About 64 MB: long enough to take many ranges, so the download can be cut in the middle.
const BIG_SECONDS: u32 = 4000;
/// The download is cut once Bo has this much of the file.
const CUT_AFTER: u64 = 4 << 20;

/// Ada, Bo, and a track of [`BIG_SECONDS`] in Ada's library (playing, shared); returns its hash
/// and size.
fn with_a_big_track() -> (AdaAndBo, String, u64) {
    let mut p = AdaAndBo::start_with(&["long drone"], BIG_SECONDS);
    let hash = p.hashes[0].clone();
    let size = std::fs::metadata(p.dirs[2].path().join("long drone.wav"))
        .unwrap()
        .len();
    p.ada_shares_and_plays(&hash);
    (p, hash, size)
}

/// Sends Bo's `call` (an `add_friend_track` of `hash`) and returns its id once Bo reports at
/// least [`CUT_AFTER`] bytes, with the bytes reported.
fn download_until_cut(bo: &mut Node, call: &Value, hash: &str) -> (u64, u64) {
    drain(bo);
    let id = bo.send_call(call.clone());
    let mut before = 0;
    while before < CUT_AFTER {
        let event = bo.wait_event("transfer_progress", STATE_TIMEOUT);
        if event["hash"] == hash {
            before = event["received"].as_u64().unwrap();
        }
    }
    (id, before)
}

/// The part file of `hash` in `data_dir`'s audio cache.
fn part_file(data_dir: &Path, hash: &str) -> PathBuf {
    data_dir
        .join("cache")
        .join("audio")
        .join(format!("{hash}.part"))
}

/// Bo's `call` again: it goes on from the part (the first progress is past `before`, what Bo had
/// when the download was cut) and files the whole file, verified, under From friends.
fn resumes(p: &mut AdaAndBo, call: Value, hash: &str, before: u64, size: u64) {
    drain(&mut p.bo);
    let track =
        p.bo.call(call)
            .unwrap_or_else(|e| panic!("the second add_friend_track failed: {e}"));
    let resumed = progress(&drain(&mut p.bo), hash);
    eprintln!(
        "resumed: {} progress events, the first {:?}",
        resumed.len(),
        resumed.first()
    );
    let first = resumed.first().expect("progress while resuming").0;
    assert!(
        first > before,
        "the download went on from {before} bytes, not from the start: first {first}"
    );
    assert_eq!(track["hash"], hash, "verified: {track}");
    let filed = PathBuf::from(track["path"].as_str().unwrap());
    let friends_folder = p.dirs[3].path().join("From friends");
    assert!(filed.starts_with(&friends_folder), "{}", filed.display());
    assert_eq!(std::fs::metadata(&filed).unwrap().len(), size);
    assert!(
        !part_file(&p.bo.data_dir, hash).exists(),
        "the part file is gone once complete"
    );
}

#[test]
fn a_download_cut_by_the_friends_crash_resumes_where_it_stopped_once_they_are_back() {
    let (mut p, hash, size) = with_a_big_track();
    let ada = p.ada_id.clone();
    let call = json!({"type": "add_friend_track", "peer_id": ada, "hash": hash});
    let (id, before) = download_until_cut(&mut p.bo, &call, &hash);
    let dir = p.ada.data_dir.clone();
    p.ada.kill();
    let error =
        p.bo.reply(id, CALL_TIMEOUT)
            .expect_err("the download fails when Ada is gone");
    let part = part_file(&p.bo.data_dir, &hash);
    let kept = std::fs::metadata(&part)
        .unwrap_or_else(|e| panic!("{} was not kept ({error}): {e}", part.display()))
        .len();
    eprintln!("cut at {before} of {size} bytes ({error}); {kept} bytes kept");
    assert!(
        kept >= before && kept < size,
        "the part holds what came: {kept}"
    );
    let friends_folder = p.dirs[3].path().join("From friends");
    assert!(
        !friends_folder.exists() || std::fs::read_dir(&friends_folder).unwrap().count() == 0,
        "nothing reached the library"
    );

    p.bo.wait_friend_online(&ada, false, STATE_TIMEOUT);
    p.ada = Node::start_with(&dir, ARGS, &[]);
    p.bo.wait_friend_online(&ada, true, STATE_TIMEOUT);
    resumes(&mut p, call, &hash, before, size);
}

#[test]
fn a_download_cut_by_the_fetchers_own_crash_resumes_after_its_restart() {
    let (mut p, hash, size) = with_a_big_track();
    let ada = p.ada_id.clone();
    let call = json!({"type": "add_friend_track", "peer_id": ada, "hash": hash});
    let (_, before) = download_until_cut(&mut p.bo, &call, &hash);
    let dir = p.bo.data_dir.clone();
    p.bo.kill();
    let kept = std::fs::metadata(part_file(&dir, &hash))
        .expect("the part survives the crash")
        .len();
    eprintln!("Bo killed at {before} of {size} bytes; {kept} bytes kept");
    assert!(
        kept >= before && kept < size,
        "the part holds what came: {kept}"
    );

    p.bo = Node::start_with(&dir, ARGS, &[]);
    p.bo.wait_friend_online(&ada, true, STATE_TIMEOUT);
    resumes(&mut p, call, &hash, before, size);
}

/// The size of the groups a track's outline hashes (and of the ranges fetched).
const GROUP: u64 = 512 * 1024;

/// Flips the bits of the byte at `offset` of `path`, keeping its size and modification time (as
/// bit rot would), so the owner's library does not notice and still serves its old outline.
fn flip_byte(path: &Path, offset: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let modified = file.metadata().unwrap().modified().unwrap();
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&[!byte[0]]).unwrap();
    file.sync_all().unwrap();
    file.set_modified(modified).unwrap();
}

fn bad_ranges(node: &mut Node) -> u64 {
    node.call(json!({"type": "chat_stats"})).unwrap()["bad_ranges"]
        .as_u64()
        .expect("chat_stats counts bad ranges")
}

#[test]
fn a_damaged_range_is_detected_on_arrival_fetched_again_and_never_kept() {
    let mut p = AdaAndBo::start_with(&["gulls"], 200);
    let (ada, hash) = (p.ada_id.clone(), p.hashes[0].clone());
    let source = p.dirs[2].path().join("gulls.wav");
    let good = std::fs::read(&source).unwrap();
    assert!(
        good.len() as u64 > 4 * GROUP,
        "the track spans several groups"
    );
    // Bo plays it once (Ada works out its outline then); his cached copy is thrown away.
    p.bo.call(json!({"type": "play_friend_track", "peer_id": ada, "hash": hash}))
        .unwrap_or_else(|e| panic!("play_friend_track failed: {e}"));
    p.bo.call(json!({"type": "clear_queue"})).unwrap();
    let cache = p.bo.data_dir.join("cache").join("audio");
    until(
        &mut p.bo,
        "the fetched copy is complete in the cache",
        |_| {
            std::fs::read_dir(&cache)
                .ok()?
                .flatten()
                .any(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with(&hash) && !name.ends_with(".part")
                })
                .then_some(())
        },
    );
    for entry in std::fs::read_dir(&cache).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }

    // Ada's file goes bad in its fourth group: she serves a range that does not match.
    flip_byte(&source, 3 * GROUP + 10);
    let before = bad_ranges(&mut p.bo);
    let id =
        p.bo.send_call(json!({"type": "add_friend_track", "peer_id": ada, "hash": hash}));
    let (caught, took) = until(&mut p.bo, "Bo catches the damaged range", |n| {
        let now = bad_ranges(n);
        (now > before).then_some(now)
    });
    eprintln!("{} bad range(s) caught after {took:?}", caught - before);
    // Repaired at the source before Bo asks again: the next try brings the right bytes.
    flip_byte(&source, 3 * GROUP + 10);
    let track =
        p.bo.reply(id, CALL_TIMEOUT)
            .unwrap_or_else(|e| panic!("add_friend_track failed: {e}"));
    assert_eq!(track["hash"], hash.as_str(), "{track}");
    let filed = std::fs::read(track["path"].as_str().unwrap()).unwrap();
    assert!(
        filed == good,
        "the library's copy is the good file, byte for byte"
    );
}

#[test]
fn a_reaction_arrives_in_the_friends_chat_attached_to_the_track() {
    let mut p = AdaAndBo::start(&["gulls"]);
    let (ada, bo, hash) = (p.ada_id.clone(), p.bo_id.clone(), p.hashes[0].clone());
    p.ada_shares_and_plays(&hash);

    let sent = p
        .bo
        .call(json!({"type": "react_to_activity", "peer_id": ada, "hash": hash, "emoji": "🔥"}))
        .unwrap_or_else(|e| panic!("react_to_activity failed: {e}"));
    assert_eq!(sent["mine"], true, "{sent}");
    let chat = p
        .ada
        .call(json!({"type": "open_direct", "peer_id": bo}))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (reaction, took) = until(&mut p.ada, "Ada has Bo's reaction", |n| {
        let page = n
            .call(json!({"type": "list_messages", "conversation": chat, "limit": 50}))
            .ok()?;
        page["messages"]
            .as_array()?
            .iter()
            .find(|m| m["mine"] == false && m["kind"] == "share")
            .cloned()
    });
    eprintln!("the reaction arrived after {took:?}");
    assert_eq!(reaction["author"], bo.as_str(), "{reaction}");
    assert_eq!(reaction["share"]["reaction"], "🔥", "{reaction}");
    assert_eq!(reaction["share"]["hashes"], json!([hash]), "{reaction}");
    assert_eq!(reaction["share"]["title"], "gulls", "{reaction}");
}

#[test]
fn the_demo_friend_shares_its_music_live_and_thanks_for_a_reaction() {
    let dirs = dirs::<2>();
    let mut args = ARGS.to_vec();
    args.push("demo-friend");
    let mut demo = Node::start_with(dirs[0].path(), &args, &[]);
    let line = demo.other_line("demo_invite");
    let link = line["demo_invite"].as_str().unwrap().to_string();
    let demo_id = line["peer_id"].as_str().unwrap().to_string();
    let mut me = start(dirs[1].path(), "Newcomer");
    me.call(json!({"type": "redeem_invite", "link": link}))
        .unwrap();

    let (status, _) = wait_activity(&mut me, &demo_id, "the demo friend's track", |f| {
        f["activity"]["state"] == "playing"
    });
    let activity = &status["activity"];
    assert_eq!(activity["track"]["artist"], "Robin", "{status}");
    assert_eq!(activity["track"]["album"], "Robin's Radio", "{status}");
    assert!(
        activity["track"]["cover"]
            .as_str()
            .is_some_and(|c| c.starts_with("data:image/jpeg;base64,")),
        "with its cover: {status}"
    );
    assert_eq!(activity["in_library"], false, "{status}");
    let first = activity["track"]["hash"].as_str().unwrap().to_string();
    // Its album plays on; a track change (here hurried along) shows at once.
    demo.call(json!({"type": "next"})).unwrap();
    let (status, _) = wait_activity(&mut me, &demo_id, "the demo friend's next track", |f| {
        f["activity"]["state"] == "playing" && f["activity"]["track"]["hash"] != first.as_str()
    });
    let hash = status["activity"]["track"]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let title = status["activity"]["track"]["title"]
        .as_str()
        .unwrap()
        .to_string();

    me.call(json!({"type": "react_to_activity", "peer_id": demo_id, "hash": hash, "emoji": "❤️"}))
        .unwrap();
    let chat = me
        .call(json!({"type": "open_direct", "peer_id": demo_id}))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (thanks, took) = until(&mut me, "the demo friend thanks for the reaction", |n| {
        let page = n
            .call(json!({"type": "list_messages", "conversation": chat, "limit": 50}))
            .ok()?;
        page["messages"]
            .as_array()?
            .iter()
            .find(|m| m["mine"] == false && m["kind"] == "text")
            .cloned()
    });
    eprintln!("thanked after {took:?}: {}", thanks["text"]);
    assert!(
        thanks["text"]
            .as_str()
            .unwrap()
            .contains(&format!("“{title}”")),
        "the thanks names the track: {thanks}"
    );
}
