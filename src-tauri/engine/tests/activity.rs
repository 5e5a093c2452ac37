//! Listening Activity across engines in one process, over real libp2p connections on loopback
//! (design §9, layer 2): opt-in sharing, withdrawal, the last-played fallback, private sessions,
//! what a stranger gets, and acting on a friend's status (play, add to library, react).

mod common;

use common::{befriend, dirs, write_wav, Peer};
use earshot_engine::api::{
    ActivityState, ErrorKind, Event, FriendActivity, MessageKind, Request, Response,
};
use earshot_engine::chat::log::Hash32;
use earshot_engine::net::protocol::{PresenceRefusal, PresenceRequest, PresenceResponse};
use earshot_engine::net::{self, NetConfig};
use earshot_engine::presence::wire::{WireActivity, WireState};

impl Peer {
    async fn share_activity(&self, on: bool) {
        self.call(Request::SetActivitySharing { on }).await.unwrap();
    }

    async fn private_session(&self, on: bool) {
        self.call(Request::SetPrivateSession { on }).await.unwrap();
    }

    async fn friend_activity(&self) -> Vec<FriendActivity> {
        match self.call(Request::FriendActivity).await.unwrap() {
            Response::FriendActivity { friends } => friends,
            other => panic!("expected friends' activity, got {other:?}"),
        }
    }

    /// Waits for `friend`'s status to satisfy `wanted`.
    async fn wait_activity(
        &mut self,
        what: &str,
        friend: &str,
        wanted: impl Fn(&FriendActivity) -> bool,
    ) -> FriendActivity {
        match self
            .wait_for(what, |e| {
                matches!(e, Event::FriendActivityChanged(f) if f.peer_id == friend && wanted(f))
            })
            .await
        {
            Event::FriendActivityChanged(f) => *f,
            other => panic!("expected an activity, got {other:?}"),
        }
    }

    async fn play(&mut self, hash: &str) {
        self.call(Request::Play {
            hashes: vec![hash.to_string()],
            start: None,
        })
        .await
        .expect("the track to play");
        self.wait_for(
            "the track to be heard",
            |e| matches!(e, Event::PlayerPosition { position_ms, .. } if *position_ms > 100),
        )
        .await;
    }
}

/// Ada turns sharing on and plays `hash`; Bo sees it playing.
async fn share_and_play(ada: &mut Peer, bo: &mut Peer, hash: &str) {
    ada.share_activity(true).await;
    ada.play(hash).await;
    bo.wait_activity("Ada's track, playing", &ada.id, |f| {
        showing(f, ActivityState::Playing, hash)
    })
    .await;
}

fn showing(f: &FriendActivity, state: ActivityState, hash: &str) -> bool {
    f.activity
        .as_ref()
        .is_some_and(|a| a.state == state && a.track.hash == hash)
}

/// Ada (who plays into a software sink) and her friend Bo, and Ada's music: two tones.
async fn ada_and_bo() -> ([tempfile::TempDir; 3], Peer, Peer, Vec<String>) {
    let dirs = dirs::<3>();
    let mut ada = Peer::start_listening(dirs[0].path(), "Ada").await;
    let bo = Peer::start_listening(dirs[1].path(), "Bo").await;
    befriend(&ada, &bo).await;
    write_wav(&dirs[2].path().join("gulls.wav"), 8, 440.0);
    write_wav(&dirs[2].path().join("tide.wav"), 8, 330.0);
    ada.add_music(dirs[2].path()).await;
    let hashes = ada.tracks().await.into_iter().map(|t| t.hash).collect();
    (dirs, ada, bo, hashes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_is_off_until_turned_on_and_turning_it_off_withdraws_the_status() {
    let (_dirs, mut ada, mut bo, hashes) = ada_and_bo().await;
    let settings = ada.call(Request::GetActivitySettings).await.unwrap();
    assert!(
        matches!(settings, Response::ActivitySettings(s) if !s.sharing && !s.private_session),
        "off by default"
    );
    ada.play(&hashes[0]).await;
    bo.wait_friend_connection(&ada.id, Some(earshot_engine::api::ConnectionKind::Direct))
        .await;
    let seen = bo.friend_activity().await;
    assert!(
        seen.iter().all(|f| f.activity.is_none()),
        "nothing shared while sharing is off: {seen:?}"
    );

    ada.share_activity(true).await;
    let shown = bo
        .wait_activity("Ada's track", &ada.id, |f| {
            showing(f, ActivityState::Playing, &hashes[0])
        })
        .await;
    let activity = shown.activity.unwrap();
    assert_eq!(activity.track.title, "gulls");
    assert!(!activity.in_library, "Bo does not have Ada's music");

    ada.play(&hashes[1]).await;
    bo.wait_activity("the next track", &ada.id, |f| {
        showing(f, ActivityState::Playing, &hashes[1])
    })
    .await;

    ada.share_activity(false).await;
    bo.wait_activity("the status withdrawn", &ada.id, |f| f.activity.is_none())
        .await;
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_played_track_stands_in_after_a_pause_a_stop_and_a_restart() {
    let (dirs, mut ada, mut bo, hashes) = ada_and_bo().await;
    share_and_play(&mut ada, &mut bo, &hashes[0]).await;

    ada.call(Request::Pause).await.unwrap();
    bo.wait_activity("paused", &ada.id, |f| {
        showing(f, ActivityState::Paused, &hashes[0])
    })
    .await;

    ada.call(Request::ClearQueue).await.unwrap();
    let last = bo
        .wait_activity("last played", &ada.id, |f| {
            showing(f, ActivityState::LastPlayed, &hashes[0])
        })
        .await;
    let played_at = last.activity.unwrap().as_of;
    let now = earshot_engine::store::now_millis();
    assert!(
        (now - 60_000..=now).contains(&played_at),
        "played moments ago: {played_at} vs now {now}"
    );

    // A restart: nothing plays, and the history still names the last track.
    ada.stop().await;
    let mut ada = Peer::start_listening(dirs[0].path(), "Ada").await;
    bo.wait_activity("last played, after Ada's restart", &ada.id, |f| {
        f.online && showing(f, ActivityState::LastPlayed, &hashes[0])
    })
    .await;
    // And a friend who goes away while playing is shown as "last played", not "playing".
    ada.play(&hashes[1]).await;
    bo.wait_activity("playing again", &ada.id, |f| {
        showing(f, ActivityState::Playing, &hashes[1])
    })
    .await;
    let ada_id = ada.id.clone();
    ada.stop().await;
    bo.wait_activity("gone offline", &ada_id, |f| {
        !f.online && showing(f, ActivityState::LastPlayed, &hashes[1])
    })
    .await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_session_hides_the_status_until_it_ends() {
    let (_dirs, mut ada, mut bo, hashes) = ada_and_bo().await;
    share_and_play(&mut ada, &mut bo, &hashes[0]).await;
    ada.private_session(true).await;
    bo.wait_activity("hidden", &ada.id, |f| f.activity.is_none())
        .await;
    ada.play(&hashes[1]).await;
    ada.private_session(false).await;
    bo.wait_activity("back, with the track playing now", &ada.id, |f| {
        showing(f, ActivityState::Playing, &hashes[1])
    })
    .await;
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_can_neither_send_nor_receive_activity() {
    let (_dirs, mut ada, mut bo, hashes) = ada_and_bo().await;
    ada.share_activity(true).await;
    ada.play(&hashes[0]).await;

    // The stranger's own node would take Ada's updates (it counts her as a friend), so anything
    // Ada sent it would show up on its presence queue.
    let key = libp2p::identity::Keypair::generate_ed25519();
    let (faults, _) = tokio::sync::broadcast::channel(4);
    let started = net::start_supervised(key, NetConfig::loopback(), faults).unwrap();
    let stranger = started.client;
    let mut stranger_heard = started.presence_events;
    let address = match ada.call(Request::Status).await.unwrap() {
        Response::Status(s) => s.listen_addrs[0].parse().unwrap(),
        other => panic!("{other:?}"),
    };
    let ada_peer = ada.id.parse().unwrap();
    stranger
        .set_friends([ada_peer].into_iter().collect())
        .await
        .unwrap();
    stranger.dial(ada_peer, vec![address]).await.unwrap();
    let fake = WireActivity {
        hash: Hash32([9; 32]),
        title: "Spam".into(),
        artist: "Nobody".into(),
        album: String::new(),
        duration_ms: 1000,
        state: WireState::Playing { position_ms: 0 },
        cover_jpeg: Vec::new(),
    };
    let answer = loop {
        let request = PresenceRequest::Activity {
            activity: Some(fake.clone()),
        };
        match stranger.send_presence(ada_peer, request).await {
            Ok(answer) => break answer,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    assert_eq!(
        answer,
        PresenceResponse::Refused {
            reason: PresenceRefusal::NotAllowed
        }
    );
    let listed = ada.friend_activity().await;
    assert!(
        listed
            .iter()
            .all(|f| f.display_name != "Spam" && f.peer_id != stranger.local_peer_id().to_base58()),
        "a stranger is never listed: {listed:?}"
    );
    // Ada changes track while the stranger is connected (her friend Bo hears of it): nothing
    // reaches the stranger.
    ada.play(&hashes[1]).await;
    bo.wait_activity("Bo hears of the change", &ada.id, |f| {
        showing(f, ActivityState::Playing, &hashes[1])
    })
    .await;
    assert!(
        stranger_heard.try_recv().is_err(),
        "the stranger received Ada's activity"
    );
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friends_track_plays_joins_the_library_and_takes_a_reaction() {
    let (_dirs, mut ada, mut bo, hashes) = ada_and_bo().await;
    share_and_play(&mut ada, &mut bo, &hashes[0]).await;

    // Play: Bo lacks it, so it is fetched from Ada, verified, and played (not added).
    let played = bo
        .call(Request::PlayFriendTrack {
            peer_id: ada.id.clone(),
            hash: hashes[0].clone(),
        })
        .await
        .expect("Ada's track to play");
    match played {
        Response::Player(state) => {
            assert_eq!(state.current.map(|t| t.hash), Some(hashes[0].clone()))
        }
        other => panic!("{other:?}"),
    }
    bo.wait_for(
        "Bo to hear it",
        |e| matches!(e, Event::PlayerPosition { position_ms, .. } if *position_ms > 100),
    )
    .await;
    assert!(bo.tracks().await.is_empty(), "playing does not add");

    // Add to library: filed under the first library folder's "From friends", scanned.
    let mine = tempfile::tempdir().unwrap();
    bo.add_music(mine.path()).await;
    let added = match bo
        .call(Request::AddFriendTrack {
            peer_id: ada.id.clone(),
            hash: hashes[0].clone(),
        })
        .await
        .expect("the track to be added")
    {
        Response::Track(track) => track,
        other => panic!("{other:?}"),
    };
    assert_eq!(added.hash, hashes[0]);
    let original = ada
        .tracks()
        .await
        .into_iter()
        .find(|t| t.hash == hashes[0])
        .unwrap();
    assert_eq!(
        added.title, original.title,
        "titled as the friend's (untagged) file"
    );
    assert!(
        added
            .path
            .starts_with(&*mine.path().join("From friends").to_string_lossy()),
        "filed in the library: {}",
        added.path
    );
    let library: Vec<String> = bo.tracks().await.into_iter().map(|t| t.hash).collect();
    assert_eq!(library, [hashes[0].clone()]);
    let leftovers: Vec<_> = walk(mine.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "no partial file: {leftovers:?}");

    // React: Ada gets a card of her track, carrying the emoji, in their 1:1 chat.
    let bad = bo
        .call(Request::ReactToActivity {
            peer_id: ada.id.clone(),
            hash: hashes[0].clone(),
            emoji: "💩".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.kind, ErrorKind::InvalidInput);
    bo.call(Request::ReactToActivity {
        peer_id: ada.id.clone(),
        hash: hashes[0].clone(),
        emoji: "🔥".into(),
    })
    .await
    .expect("the reaction to be sent");
    let got = match ada
        .wait_for("the reaction", |e| {
            matches!(e, Event::MessageChanged(m) if m.share.as_ref().is_some_and(|s| s.reaction.is_some()))
        })
        .await
    {
        Event::MessageChanged(m) => *m,
        other => panic!("{other:?}"),
    };
    assert_eq!(got.kind, MessageKind::Share);
    assert_eq!(got.author_name, "Bo");
    let card = got.share.unwrap();
    assert_eq!(card.reaction.as_deref(), Some("🔥"));
    assert_eq!(card.hashes, [hashes[0].clone()]);
    assert_eq!(card.title, "gulls");
    assert_eq!(card.local_tracks, 1, "Ada's own track");
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_friend_may_have_their_track_played_or_added() {
    let [a, b] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let bo = Peer::start(b.path(), "Bo").await;
    let err = bo
        .call(Request::AddFriendTrack {
            peer_id: ada.id.clone(),
            hash: "ab".repeat(32),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    let err = bo
        .call(Request::PlayFriendTrack {
            peer_id: ada.id.clone(),
            hash: "not a hash".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    ada.stop().await;
    bo.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Ada with a longer track (about ten 512 KiB groups), and her friend Bo who lacks it.
async fn ada_bo_and_a_long_track() -> (
    [tempfile::TempDir; 3],
    Peer,
    Peer,
    earshot_engine::api::Track,
) {
    let dirs = dirs::<3>();
    let mut ada = Peer::start_listening(dirs[0].path(), "Ada").await;
    let bo = Peer::start_listening(dirs[1].path(), "Bo").await;
    befriend(&ada, &bo).await;
    write_wav(&dirs[2].path().join("long.wav"), 30, 220.0);
    ada.add_music(dirs[2].path()).await;
    let track = ada.tracks().await.remove(0);
    (dirs, ada, bo, track)
}

async fn chat_stats(peer: &Peer) -> earshot_engine::api::ChatStats {
    match peer.call(Request::ChatStats).await.unwrap() {
        Response::ChatStats(stats) => stats,
        other => panic!("{other:?}"),
    }
}

const GROUP: u64 = earshot_engine::chat::outline::GROUP;

/// Waits until the fetch of `hash` has completed into `cache` (a track plays while it arrives,
/// so the call that started it returns earlier); returns the file.
async fn fetched_into(cache: &std::path::Path, hash: &str) -> std::path::PathBuf {
    let done = cache.join(format!("{hash}.wav"));
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while !done.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fetch never completed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    done
}

/// Flips one byte of `path` at `at`, keeping the file's time (as bit rot does, so a server keeps
/// serving the outline it made from the good file). Flipping it again repairs it.
fn flip_byte(path: &std::path::Path, at: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(at)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(at)).unwrap();
    file.write_all(&[byte[0] ^ 0x55]).unwrap();
    file.set_modified(modified).unwrap();
}

/// Polls Bo's counters until a damaged range was noticed.
async fn wait_bad_range(bo: &Peer) {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while chat_stats(bo).await.bad_ranges == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the damaged range was never noticed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friends_track_plays_while_the_rest_of_it_is_still_on_its_way() {
    let (dirs, ada, mut bo, track) = ada_bo_and_a_long_track().await;
    bo.wait_friend_connection(&ada.id, Some(earshot_engine::api::ConnectionKind::Direct))
        .await;
    // Ada's outline is made from the good file (a first fetch, thrown away), then a byte of her
    // fourth group goes bad: Bo's fetch stalls there, retrying, while the start has arrived.
    bo.call(Request::AddFriendTrack {
        peer_id: ada.id.clone(),
        hash: track.hash.clone(),
    })
    .await
    .expect("a first fetch");
    let bo_music = dirs[1].path().join("From friends");
    std::fs::remove_dir_all(&bo_music).unwrap();
    bo.call(Request::RemoveFolder {
        path: bo_music.to_string_lossy().into(),
    })
    .await
    .unwrap();
    let cache = dirs[1].path().join("cache").join("audio");
    for entry in std::fs::read_dir(&cache).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    let path = std::path::PathBuf::from(&track.path);
    flip_byte(&path, 3 * GROUP + 10);

    bo.call(Request::PlayFriendTrack {
        peer_id: ada.id.clone(),
        hash: track.hash.clone(),
    })
    .await
    .expect("the track to start from what has arrived");
    bo.wait_for(
        "Bo to hear it",
        |e| matches!(e, Event::PlayerPosition { position_ms, .. } if *position_ms > 100),
    )
    .await;
    wait_bad_range(&bo).await;
    let done = cache.join(format!("{}.wav", track.hash));
    assert!(!done.exists(), "it played before it had all arrived");

    flip_byte(&path, 3 * GROUP + 10);
    let fetched = std::fs::read(fetched_into(&cache, &track.hash).await).unwrap();
    assert_eq!(
        blake3::hash(&fetched).to_hex().to_string(),
        track.hash,
        "complete and verified"
    );
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_range_is_caught_on_arrival_and_fetched_again() {
    let (dirs, ada, mut bo, track) = ada_bo_and_a_long_track().await;
    bo.wait_friend_connection(&ada.id, Some(earshot_engine::api::ConnectionKind::Direct))
        .await;
    // Bo plays it once (Ada works out its outline then), and his cached copy is thrown away.
    bo.call(Request::PlayFriendTrack {
        peer_id: ada.id.clone(),
        hash: track.hash.clone(),
    })
    .await
    .expect("the first fetch");
    bo.call(Request::ClearQueue).await.unwrap();
    let cache = dirs[1].path().join("cache").join("audio");
    // It played while it arrived; once complete it sits verified in the cache.
    fetched_into(&cache, &track.hash).await;
    for entry in std::fs::read_dir(&cache).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }

    // Ada's file goes bad in its fourth group, with its size and time unchanged (as bit rot
    // does), so she still serves the outline she made from the good file.
    let path = std::path::PathBuf::from(&track.path);
    flip_byte(&path, 3 * GROUP + 10);

    let adding = tokio::spawn({
        let engine = bo.engine.clone();
        let request = Request::AddFriendTrack {
            peer_id: ada.id.clone(),
            hash: track.hash.clone(),
        };
        async move { engine.call(request).await }
    });
    wait_bad_range(&bo).await;
    // Repaired at the source before Bo asks again: the next try brings the right bytes.
    flip_byte(&path, 3 * GROUP + 10);
    let added = match adding.await.unwrap().expect("the track to be added") {
        Response::Track(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(added.hash, track.hash);
    let bytes = std::fs::read(&added.path).unwrap();
    assert_eq!(blake3::hash(&bytes).to_hex().to_string(), track.hash);
    assert!(chat_stats(&bo).await.bad_ranges >= 1);
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_fetch_resumes_after_what_checks_out() {
    let (dirs, ada, mut bo, track) = ada_bo_and_a_long_track().await;
    bo.wait_friend_connection(&ada.id, Some(earshot_engine::api::ConnectionKind::Direct))
        .await;
    // What an interrupted fetch left: two and a half good groups, then junk from a crash.
    let good = std::fs::read(&track.path).unwrap();
    let cache = dirs[1].path().join("cache").join("audio");
    std::fs::create_dir_all(&cache).unwrap();
    let mut part = good[..(2 * GROUP + GROUP / 2) as usize].to_vec();
    part.extend_from_slice(&[0xAB; 100]);
    std::fs::write(cache.join(format!("{}.part", track.hash)), &part).unwrap();

    bo.call(Request::PlayFriendTrack {
        peer_id: ada.id.clone(),
        hash: track.hash.clone(),
    })
    .await
    .expect("the track to start");
    let first = match bo
        .wait_for("progress", |e| matches!(e, Event::TransferProgress { .. }))
        .await
    {
        Event::TransferProgress {
            received, total, ..
        } => (received, total),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        first,
        (3 * GROUP, good.len() as u64),
        "resumed after the two good groups, with the third fetched again"
    );
    let done = fetched_into(&cache, &track.hash).await;
    let fetched = std::fs::read(&done).unwrap();
    assert!(fetched == good, "the fetched file is the original");
    assert_eq!(chat_stats(&bo).await.bad_ranges, 0);
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_friend_hears_nothing_more_while_other_friends_do() {
    let (dirs, mut ada, mut bo, hashes) = ada_and_bo().await;
    let cy_dir = tempfile::tempdir().unwrap();
    let mut cy = Peer::start_listening(cy_dir.path(), "Cy").await;
    befriend(&ada, &cy).await;
    share_and_play(&mut ada, &mut bo, &hashes[0]).await;

    ada.call(Request::Block {
        peer_id: bo.id.clone(),
    })
    .await
    .unwrap();
    ada.play(&hashes[1]).await;
    cy.wait_activity("Cy sees the next track", &ada.id, |f| {
        showing(f, ActivityState::Playing, &hashes[1])
    })
    .await;
    let heard_by_bo = bo.friend_activity().await;
    assert!(
        heard_by_bo.iter().all(|f| f
            .activity
            .as_ref()
            .is_none_or(|a| a.track.hash != hashes[1])),
        "the blocked peer heard of the next track: {heard_by_bo:?}"
    );
    drop(dirs);
    ada.stop().await;
    bo.stop().await;
    cy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_played_in_a_private_session_never_becomes_the_last_played_status() {
    let (_dirs, mut ada, mut bo, hashes) = ada_and_bo().await;
    share_and_play(&mut ada, &mut bo, &hashes[0]).await;
    ada.private_session(true).await;
    bo.wait_activity("hidden", &ada.id, |f| f.activity.is_none())
        .await;
    ada.play(&hashes[1]).await;
    ada.call(Request::ClearQueue).await.unwrap();
    ada.private_session(false).await;
    let back = bo
        .wait_activity("back", &ada.id, |f| f.activity.is_some())
        .await;
    let activity = back.activity.unwrap();
    assert_eq!(activity.state, ActivityState::LastPlayed);
    assert_eq!(
        activity.track.hash, hashes[0],
        "the track played in private stays private"
    );
    ada.stop().await;
    bo.stop().await;
}
