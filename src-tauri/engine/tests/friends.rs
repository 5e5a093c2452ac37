//! Friends across several engines in one process, over real libp2p connections on loopback
//! (design §9, layer 2).

mod common;

use std::time::Duration;

use common::{ask_over_the_lan, befriend, dirs, lan, Peer};
use earshot_engine::api::{ConnectionKind, ErrorKind, Event, Request, Response};
use earshot_engine::net::NetConfig;
use earshot_engine::{Config, Engine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_become_friends_by_invite_and_see_each_others_names() {
    let dirs = dirs::<2>();
    let mut ada = Peer::start(dirs[0].path(), "Ada").await;
    let grace = Peer::start(dirs[1].path(), "Grace").await;

    let link = ada.invite().await;
    let friend = grace
        .redeem(&link)
        .await
        .expect("the invite to be redeemed");

    assert_eq!(friend.peer_id, ada.id);
    assert_eq!(friend.display_name, "Ada");
    let added = ada
        .wait_for("friend_added", |e| matches!(e, Event::FriendAdded(_)))
        .await;
    let Event::FriendAdded(added) = added else {
        unreachable!()
    };
    assert_eq!(added.peer_id, grace.id);
    assert_eq!(added.display_name, "Grace");
    ada.wait_friend_connection(&grace.id, Some(ConnectionKind::Direct))
        .await;
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_works_once() {
    let dirs = dirs::<3>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let grace = Peer::start(dirs[1].path(), "Grace").await;
    let linus = Peer::start(dirs[2].path(), "Linus").await;

    let link = ada.invite().await;
    grace.redeem(&link).await.unwrap();
    let error = linus
        .redeem(&link)
        .await
        .expect_err("a used invite to be refused");

    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert!(
        error.message.contains("already been used"),
        "{}",
        error.message
    );
    assert!(linus.friends().await.is_empty());
    assert_eq!(
        ada.friends().await.len(),
        1,
        "only Grace became Ada's friend"
    );
    for peer in [ada, grace, linus] {
        peer.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_invite_is_refused_and_the_forger_learns_no_name() {
    let dirs = dirs::<2>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let mallory = Peer::start(dirs[1].path(), "Mallory").await;

    let link = ada.invite().await;
    // Same inviter and addresses, but a secret Ada never issued.
    let token = link.strip_prefix("earshot://invite/").unwrap();
    let json = data_encoding::BASE64URL_NOPAD
        .decode(token.as_bytes())
        .unwrap();
    let mut wire: serde_json::Value = serde_json::from_slice(&json).unwrap();
    wire["s"] = "AAAAAAAAAAAAAAAAAAAAAA".into();
    let forged = format!(
        "earshot://invite/{}",
        data_encoding::BASE64URL_NOPAD.encode(wire.to_string().as_bytes())
    );
    let error = mallory
        .redeem(&forged)
        .await
        .expect_err("a forged invite to be refused");

    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert!(
        !error.message.contains("Ada"),
        "the refusal must not reveal the name: {}",
        error.message
    );
    assert!(ada.friends().await.is_empty());
    ada.stop().await;
    mallory.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_invite_is_refused_before_dialling() {
    let dirs = dirs::<2>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let grace = Peer::start(dirs[1].path(), "Grace").await;
    let Response::Invite(invite) = ada
        .call(Request::CreateInvite {
            lifetime_secs: Some(1),
        })
        .await
        .unwrap()
    else {
        panic!("expected an invite");
    };
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let error = grace
        .redeem(&invite.link)
        .await
        .expect_err("an expired invite to be refused");

    assert!(error.message.contains("expired"), "{}", error.message);
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_are_kept_and_reconnect_after_both_restart() {
    let dirs = dirs::<2>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let grace = Peer::start(dirs[1].path(), "Grace").await;
    befriend(&ada, &grace).await;
    let (ada_id, grace_id) = (ada.id.clone(), grace.id.clone());
    ada.stop().await;
    grace.stop().await;

    let mut ada = Peer::start(dirs[0].path(), "Ada").await;
    let mut grace = Peer::start(dirs[1].path(), "Grace").await;

    ada.wait_friend_connection(&grace_id, Some(ConnectionKind::Direct))
        .await;
    grace
        .wait_friend_connection(&ada_id, Some(ConnectionKind::Direct))
        .await;
    assert_eq!(ada.friends().await[0].display_name, "Grace");
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friend_who_stops_is_shown_offline_and_online_again_when_back() {
    let dirs = dirs::<2>();
    let mut ada = Peer::start(dirs[0].path(), "Ada").await;
    let grace = Peer::start(dirs[1].path(), "Grace").await;
    befriend(&ada, &grace).await;
    let grace_id = grace.id.clone();
    ada.wait_friend_connection(&grace_id, Some(ConnectionKind::Direct))
        .await;

    grace.stop().await;
    ada.wait_friend_connection(&grace_id, None).await;

    let _grace = Peer::start(dirs[1].path(), "Grace").await;
    ada.wait_friend_connection(&grace_id, Some(ConnectionKind::Direct))
        .await;
    ada.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_friend_connection_stays_up_past_the_dead_link_threshold() {
    let dirs = dirs::<2>();
    let mut ada = Peer::start(dirs[0].path(), "Ada").await;
    let grace = Peer::start(dirs[1].path(), "Grace").await;
    befriend(&ada, &grace).await;
    let grace_id = grace.id.clone();
    ada.wait_friend_connection(&grace_id, Some(ConnectionKind::Direct))
        .await;

    // Longer than the 7 s without a ping that marks a link dead: answered pings keep it alive.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(12);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, ada.events.recv()).await {
            Ok(Ok(Event::FriendUpdated(f))) => {
                assert!(f.connection.is_some(), "Grace dropped while healthy: {f:?}")
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    ada.wait_friend_connection(&grace_id, Some(ConnectionKind::Direct))
        .await;
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfriending_removes_the_friend_on_both_sides() {
    let dirs = dirs::<2>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let mut grace = Peer::start(dirs[1].path(), "Grace").await;
    befriend(&ada, &grace).await;
    let grace_id = grace.id.clone();

    ada.call(Request::RemoveFriend { peer_id: grace_id })
        .await
        .unwrap();

    assert!(ada.friends().await.is_empty());
    grace
        .wait_for("friend_removed", |e| {
            matches!(e, Event::FriendRemoved { .. })
        })
        .await;
    assert!(grace.friends().await.is_empty());
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_friend_is_disconnected_and_cannot_come_back() {
    let dirs = dirs::<2>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let mut grace = Peer::start(dirs[1].path(), "Grace").await;
    befriend(&ada, &grace).await;
    let (ada_id, grace_id) = (ada.id.clone(), grace.id.clone());
    grace
        .wait_friend_connection(&ada_id, Some(ConnectionKind::Direct))
        .await;

    ada.call(Request::Block {
        peer_id: grace_id.clone(),
    })
    .await
    .unwrap();

    assert!(ada.friends().await.is_empty());
    let Response::Blocked { peers } = ada.call(Request::ListBlocked).await.unwrap() else {
        panic!()
    };
    assert_eq!(peers[0].peer_id, grace_id);
    grace.wait_friend_connection(&ada_id, None).await;
    // Grace keeps re-dialling Ada (she still counts Ada as a friend) and is refused every time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    grace.wait_friend_connection(&ada_id, None).await;
    // Even after Grace drops Ada and tries a fresh invite from her, the connection is refused.
    grace
        .call(Request::RemoveFriend {
            peer_id: ada_id.clone(),
        })
        .await
        .unwrap();
    let error = grace
        .redeem(&ada.invite().await)
        .await
        .expect_err("a blocked peer to be refused");
    assert_eq!(error.kind, ErrorKind::Unreachable, "{error:?}");
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_pair_through_one_inviter() {
    let dirs = dirs::<3>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let grace = Peer::start(dirs[1].path(), "Grace").await;
    let linus = Peer::start(dirs[2].path(), "Linus").await;

    befriend(&ada, &grace).await;
    linus.redeem(&ada.invite().await).await.unwrap();

    let mut names: Vec<String> = ada
        .friends()
        .await
        .into_iter()
        .map(|f| f.display_name)
        .collect();
    names.sort();
    assert_eq!(names, ["Grace", "Linus"]);
    assert_eq!(
        grace.friends().await.len(),
        1,
        "Grace and Linus are not friends of each other"
    );
    assert_eq!(linus.friends().await.len(), 1);
    for peer in [ada, grace, linus] {
        peer.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_change_reaches_connected_friends() {
    let dirs = dirs::<2>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let mut grace = Peer::start(dirs[1].path(), "Grace").await;
    befriend(&ada, &grace).await;
    grace
        .wait_friend_connection(&ada.id, Some(ConnectionKind::Direct))
        .await;

    ada.call(Request::SetProfile {
        display_name: "Ada Lovelace".into(),
    })
    .await
    .unwrap();

    grace
        .wait_for(
            "the new name",
            |e| matches!(e, Event::FriendUpdated(f) if f.display_name == "Ada Lovelace"),
        )
        .await;
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_operations_on_an_offline_engine_say_networking_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(Config::offline(dir.path())).await.unwrap();
    let error = engine.call(Request::ListFriends).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Offline);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_who_knows_the_address_gets_nothing_and_is_disconnected() {
    use earshot_engine::net::protocol::{PairRequest, PairResponse, ProfileCard, Refusal};

    let dir = tempfile::tempdir().unwrap();
    let short_grace = NetConfig {
        stranger_grace: Duration::from_secs(2),
        ..NetConfig::loopback()
    };
    let ada = Peer::start_with(dir.path(), "Ada", short_grace).await;
    let Response::Status(status) = ada.call(Request::Status).await.unwrap() else {
        panic!()
    };
    let address: libp2p::Multiaddr = status.listen_addrs[0].parse().unwrap();
    let ada_peer = ada.engine.peer_id();

    let stranger_key = libp2p::identity::Keypair::generate_ed25519();
    let (stranger, mut stranger_events) =
        earshot_engine::net::start(stranger_key, NetConfig::loopback()).unwrap();
    let card = ProfileCard {
        display_name: "Mallory".into(),
    };

    let hello = stranger
        .send_pair(
            ada_peer,
            vec![address.clone()],
            PairRequest::Hello {
                profile: card.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        hello,
        PairResponse::Refused {
            reason: Refusal::NotFriends
        }
    );
    let accepted = stranger
        .send_pair(
            ada_peer,
            vec![],
            PairRequest::Accepted {
                profile: card.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        accepted,
        PairResponse::Refused {
            reason: Refusal::NotFriends
        }
    );
    let redeem = stranger
        .send_pair(
            ada_peer,
            vec![],
            PairRequest::Redeem {
                secret: "AAAAAAAAAAAAAAAAAAAAAA".into(),
                profile: card,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        redeem,
        PairResponse::Refused {
            reason: Refusal::InvalidInvite
        }
    );
    assert!(
        ada.friends().await.is_empty(),
        "nothing a stranger said may make them a friend"
    );

    // The stranger's connection is closed once its grace period ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, stranger_events.recv()).await {
            Ok(Some(earshot_engine::net::NetEvent::Connection { peer, kind: None }))
                if peer == ada_peer =>
            {
                break
            }
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stranger's node stopped"),
            Err(_) => panic!("Ada kept a stranger connected for 15 s"),
        }
    }
    stranger.shutdown(Duration::from_secs(2)).await;
    ada.stop().await;
}

/// Peers on one LAN find each other by mDNS; one sends a request, the other accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_found_nearby_can_be_asked_and_accepted_as_a_friend() {
    let dirs = dirs::<2>();
    let mut ada = Peer::start_with(dirs[0].path(), "Ada", lan()).await;
    let mut grace = Peer::start_with(dirs[1].path(), "Grace", lan()).await;
    let grace_id = grace.id.clone();
    let ada_id = ada.id.clone();

    let card = ask_over_the_lan(&mut ada, &mut grace).await;
    assert_eq!(card.display_name.as_deref(), Some("Ada"));
    let Response::Requests { outgoing, .. } = ada.call(Request::ListRequests).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        outgoing[0].peer_id, grace_id,
        "Ada sees her request pending"
    );

    let Response::Friend(friend) = grace
        .call(Request::AcceptRequest {
            peer_id: ada_id.clone(),
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(friend.display_name, "Ada");
    ada.wait_for(
        "Grace as a friend",
        |e| matches!(e, Event::FriendAdded(f) if f.display_name == "Grace"),
    )
    .await;
    let Response::Requests { incoming, outgoing } = ada.call(Request::ListRequests).await.unwrap()
    else {
        panic!()
    };
    assert!(
        incoming.is_empty() && outgoing.is_empty(),
        "no request is left pending"
    );
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_request_is_dropped_without_telling_the_sender() {
    let dirs = dirs::<2>();
    let mut ada = Peer::start_with(dirs[0].path(), "Ada", lan()).await;
    let mut grace = Peer::start_with(dirs[1].path(), "Grace", lan()).await;
    let ada_id = ada.id.clone();
    ask_over_the_lan(&mut ada, &mut grace).await;

    grace
        .call(Request::RejectRequest { peer_id: ada_id })
        .await
        .unwrap();

    let Response::Requests { incoming, .. } = grace.call(Request::ListRequests).await.unwrap()
    else {
        panic!()
    };
    assert!(incoming.is_empty(), "Grace's declined request is gone");
    let Response::Requests { outgoing, .. } = ada.call(Request::ListRequests).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        outgoing.len(),
        1,
        "Ada is not told; her request simply stays unanswered"
    );
    assert!(ada.friends().await.is_empty() && grace.friends().await.is_empty());
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_a_peer_with_no_known_address_fails_with_a_clear_error() {
    let dirs = dirs::<2>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let grace = Peer::start(dirs[1].path(), "Grace").await;

    let error = grace
        .call(Request::SendFriendRequest {
            peer_id: ada.id.clone(),
        })
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Unreachable, "{error:?}");
    assert!(
        error.message.contains("could not be reached"),
        "{}",
        error.message
    );
    let error = grace
        .call(Request::SendFriendRequest {
            peer_id: "nonsense".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    ada.stop().await;
    grace.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_chosen_in_settings_are_checked_kept_and_listed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let relay = "/ip4/203.0.113.5/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
    let peer = Peer::start(dir.path(), "Ada").await;

    let error = peer
        .call(Request::SetRelays {
            relays: vec!["/ip4/203.0.113.5/tcp/4001".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert!(error.message.contains("/p2p/"), "{}", error.message);

    let answer = peer
        .call(Request::SetRelays {
            relays: vec![relay.into(), "  ".into()],
        })
        .await
        .unwrap();
    assert_eq!(
        answer,
        Response::Relays {
            relays: vec![relay.into()],
            from_command_line: vec![]
        }
    );
    peer.stop().await;

    let peer = Peer::start(dir.path(), "Ada").await;
    let Response::Relays { relays, .. } = peer.call(Request::GetRelays).await.unwrap() else {
        panic!()
    };
    assert_eq!(relays, [relay]);
    peer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_on_one_lan_pair_by_requests() {
    let dirs = dirs::<3>();
    let mut ada = Peer::start_with(dirs[0].path(), "Ada", lan()).await;
    let mut grace = Peer::start_with(dirs[1].path(), "Grace", lan()).await;
    let mut linus = Peer::start_with(dirs[2].path(), "Linus", lan()).await;
    let (grace_id, linus_id) = (grace.id.clone(), linus.id.clone());
    ada.wait_for("Grace and Linus nearby", |e| {
        matches!(e, Event::NearbyChanged { peers }
            if [&grace_id, &linus_id].iter().all(|id| peers.iter().any(|p| &p.peer_id == *id)))
    })
    .await;

    for (asked, id) in [(&mut grace, &grace_id), (&mut linus, &linus_id)] {
        ada.call(Request::SendFriendRequest {
            peer_id: id.clone(),
        })
        .await
        .unwrap();
        asked
            .wait_for("the request", |e| matches!(e, Event::RequestReceived(_)))
            .await;
        asked
            .call(Request::AcceptRequest {
                peer_id: ada.id.clone(),
            })
            .await
            .unwrap();
    }

    let mut names: Vec<String> = ada
        .friends()
        .await
        .into_iter()
        .map(|f| f.display_name)
        .collect();
    names.sort();
    assert_eq!(names, ["Grace", "Linus"]);
    assert_eq!(grace.friends().await[0].display_name, "Ada");
    assert_eq!(linus.friends().await[0].display_name, "Ada");
    for peer in [ada, grace, linus] {
        peer.stop().await;
    }
}
