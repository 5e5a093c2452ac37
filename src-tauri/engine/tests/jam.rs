//! Jam across engines in one process, over real libp2p connections on loopback (design §9,
//! layer 2): invitations, Request to Jam, the shared queue, guest controls, leaving and handing
//! over, and each player following the host's timeline.

mod common;

use common::{befriend, dirs, write_wav, Peer};
use earshot_engine::api::{
    ErrorKind, Event, JamInvite, JamInviteKind, JamState, PlaybackState, Request, Response,
    SyncState,
};

impl Peer {
    async fn jam(&self) -> (Option<JamState>, Vec<JamInvite>) {
        match self.call(Request::GetJam).await.unwrap() {
            Response::Jam { jam, invites } => (jam, invites),
            other => panic!("expected the jam, got {other:?}"),
        }
    }

    /// Waits for a `jam_changed` whose state satisfies `wanted`.
    async fn wait_jam(&mut self, what: &str, wanted: impl Fn(&JamState) -> bool) -> JamState {
        match self
            .wait_for(
                what,
                |e| matches!(e, Event::JamChanged { jam: Some(j) } if wanted(j)),
            )
            .await
        {
            Event::JamChanged { jam: Some(j) } => *j,
            other => panic!("expected a jam, got {other:?}"),
        }
    }

    async fn wait_invited(&mut self, kind: JamInviteKind) -> JamInvite {
        match self
            .wait_for(
                "an invitation",
                |e| matches!(e, Event::JamInvited(i) if i.kind == kind && i.incoming),
            )
            .await
        {
            Event::JamInvited(invite) => invite,
            other => panic!("expected an invitation, got {other:?}"),
        }
    }

    async fn player(&self) -> earshot_engine::api::PlayerState {
        match self.call(Request::GetPlayer).await.unwrap() {
            Response::Player(p) => p,
            other => panic!("expected the player, got {other:?}"),
        }
    }

    async fn play_now(&mut self, hash: &str) {
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

/// Ada, with two tracks and playing the first, and her friend Bo (who has no music).
async fn ada_playing_and_bo() -> ([tempfile::TempDir; 3], Peer, Peer, Vec<String>) {
    let dirs = dirs::<3>();
    let mut ada = Peer::start_listening(dirs[0].path(), "Ada").await;
    let bo = Peer::start_listening(dirs[1].path(), "Bo").await;
    befriend(&ada, &bo).await;
    write_wav(&dirs[2].path().join("gulls.wav"), 20, 440.0);
    write_wav(&dirs[2].path().join("tide.wav"), 20, 330.0);
    ada.add_music(dirs[2].path()).await;
    let hashes: Vec<String> = ada.tracks().await.into_iter().map(|t| t.hash).collect();
    ada.play_now(&hashes[0]).await;
    (dirs, ada, bo, hashes)
}

/// Ada starts a jam and invites Bo, who accepts; both see two participants.
async fn bo_joins_adas_jam(ada: &mut Peer, bo: &mut Peer) -> JamState {
    ada.call(Request::InviteToJam {
        peer_ids: vec![bo.id.clone()],
    })
    .await
    .expect("the invitation to go out");
    let invite = bo.wait_invited(JamInviteKind::Invite).await;
    assert_eq!(invite.display_name, "Ada");
    assert!(invite.expires_in_ms > 100_000 && invite.expires_in_ms <= 120_000);
    bo.call(Request::AcceptJam {
        invite_id: invite.invite_id,
    })
    .await
    .expect("to join");
    ada.wait_jam("Bo in Ada's jam", |j| j.participants.len() == 2)
        .await;
    bo.wait_jam("Bo in sync", |j| j.sync == SyncState::InSync)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_friend_joins_and_plays_the_hosts_track_streamed_from_the_host() {
    let (_dirs, mut ada, mut bo, hashes) = ada_playing_and_bo().await;
    let joined = bo_joins_adas_jam(&mut ada, &mut bo).await;
    assert_eq!(joined.host_name, "Ada");
    assert!(!joined.you_host);
    assert_eq!(joined.queue.len(), 1, "what Ada played became the queue");
    assert_eq!(joined.queue[0].hash, hashes[0]);
    assert_eq!(joined.queue[0].added_by_name, "Ada");
    assert!(!joined.queue[0].in_library, "Bo has no copy: it streams");
    assert!(
        joined.offset_to_host_us.is_some(),
        "Bo measured Ada's clock"
    );

    // Bo plays Ada's track at Ada's position.
    let player = bo.player().await;
    assert_eq!(player.state, PlaybackState::Playing);
    assert_eq!(
        player.current.as_ref().map(|t| t.hash.clone()),
        Some(hashes[0].clone())
    );
    let (ada_at, bo_at) = (
        ada.player().await.position_ms,
        bo.player().await.position_ms,
    );
    assert!(
        ada_at.abs_diff(bo_at) < 1000,
        "Ada at {ada_at} ms, Bo at {bo_at} ms"
    );
    // Shut down before the process exits: a store still working at exit can crash SQLCipher's
    // teardown (a SIGSEGV after every test passed).
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_to_jam_makes_the_friend_host_and_the_requester_follow() {
    let (_dirs, mut ada, mut bo, hashes) = ada_playing_and_bo().await;
    let asked = bo
        .call(Request::RequestJam {
            peer_id: ada.id.clone(),
        })
        .await
        .expect("the request to go out");
    assert!(
        matches!(asked, Response::JamInvite(ref i) if !i.incoming && i.kind == JamInviteKind::Request)
    );
    let request = ada.wait_invited(JamInviteKind::Request).await;
    assert_eq!(request.display_name, "Bo");
    ada.call(Request::AcceptJam {
        invite_id: request.invite_id,
    })
    .await
    .expect("to accept");
    let followed = bo
        .wait_jam("Bo in Ada's jam", |j| {
            j.participants.len() == 2 && j.sync == SyncState::InSync
        })
        .await;
    assert_eq!(followed.host_peer_id, ada.id, "the friend asked hosts");
    assert_eq!(
        followed.queue[0].hash, hashes[0],
        "playing what Ada listened to"
    );
    let (_, invites) = bo.jam().await;
    assert!(invites.is_empty(), "the request was answered: {invites:?}");
    // Shut down before the process exits: a store still working at exit can crash SQLCipher's
    // teardown (a SIGSEGV after every test passed).
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_control_only_when_the_host_lets_them_and_everyone_adds() {
    let (_dirs, mut ada, mut bo, hashes) = ada_playing_and_bo().await;
    bo_joins_adas_jam(&mut ada, &mut bo).await;

    let refused = bo.call(Request::Pause).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::NotAllowed, "{refused:?}");

    ada.call(Request::SetJamGuestControls { on: true })
        .await
        .unwrap();
    bo.wait_jam("guest controls on", |j| j.guest_controls && j.can_control)
        .await;
    bo.call(Request::Pause)
        .await
        .expect("a guest may pause now");
    ada.wait_jam("paused by Bo", |j| !j.playing).await;
    ada.wait_for(
        "Ada's player paused",
        |e| matches!(e, Event::PlayerChanged(p) if p.state == PlaybackState::Paused),
    )
    .await;

    // Ada adds her second track; Bo sees who added it.
    ada.call(Request::JamQueueAdd {
        hashes: vec![hashes[1].clone()],
    })
    .await
    .unwrap();
    let seen = bo
        .wait_jam("the second entry", |j| j.queue.len() == 2)
        .await;
    assert_eq!(seen.queue[1].added_by, ada.id);
    assert_eq!(seen.queue[1].added_by_name, "Ada");
    // Shut down before the process exits: a store still working at exit can crash SQLCipher's
    // teardown (a SIGSEGV after every test passed).
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_host_leaves_the_guest_hosts_and_the_music_goes_on() {
    let (_dirs, mut ada, mut bo, hashes) = ada_playing_and_bo().await;
    bo_joins_adas_jam(&mut ada, &mut bo).await;
    ada.call(Request::LeaveJam).await.unwrap();
    let (after, _) = ada.jam().await;
    assert!(after.is_none(), "Ada is out");
    let hosting = bo
        .wait_jam("Bo hosting", |j| j.you_host && j.participants.len() == 1)
        .await;
    assert_eq!(hosting.queue[0].hash, hashes[0]);
    assert!(hosting.playing);
    assert_eq!(bo.player().await.state, PlaybackState::Playing);

    // Ada saves the queue of the jam she left, credited.
    let saved = ada
        .call(Request::SaveJamQueue {
            name: "Our jam".into(),
        })
        .await
        .unwrap();
    let Response::Playlist { items, .. } = saved else {
        panic!("expected a playlist, got {saved:?}");
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].added_by.as_deref(), Some("Ada"));
    // Shut down before the process exits: a store still working at exit can crash SQLCipher's
    // teardown (a SIGSEGV after every test passed).
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_invitation_disappears_on_both_sides() {
    let (_dirs, mut ada, mut bo, _) = ada_playing_and_bo().await;
    ada.call(Request::InviteToJam {
        peer_ids: vec![bo.id.clone()],
    })
    .await
    .unwrap();
    let invite = bo.wait_invited(JamInviteKind::Invite).await;
    bo.call(Request::DeclineJam {
        invite_id: invite.invite_id,
    })
    .await
    .unwrap();
    ada.wait_for(
        "the invitation gone",
        |e| matches!(e, Event::JamInvitesChanged { invites } if invites.is_empty()),
    )
    .await;
    let (jam, invites) = ada.jam().await;
    assert_eq!(jam.map(|j| j.participants.len()), Some(1));
    assert!(invites.is_empty());
    assert!(bo.jam().await.1.is_empty());
    // Shut down before the process exits: a store still working at exit can crash SQLCipher's
    // teardown (a SIGSEGV after every test passed).
    ada.stop().await;
    bo.stop().await;
}
