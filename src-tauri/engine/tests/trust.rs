//! Trust and safety of the friends layer, over real libp2p connections on loopback: invites that
//! cannot be replayed, names that cannot lie, flood limits, and a swarm that never waits on a
//! slow consumer. Hostile peers are raw `net` nodes that send whatever they like.

mod common;

use std::time::Duration;

use common::{ask_over_the_lan, befriend, dirs, lan, Peer};
use earshot_engine::api::{
    ErrorKind, Event, InviteInfo, LinkPreview, LinkStanding, Request, Response,
};
use earshot_engine::net::protocol::{PairRequest, PairResponse, ProfileCard, Refusal};
use earshot_engine::net::{self, Client, NetConfig, NetEvent};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

async fn invites(peer: &Peer) -> Vec<InviteInfo> {
    match peer.call(Request::ListInvites).await.unwrap() {
        Response::Invites { invites } => invites,
        other => panic!("expected invites, got {other:?}"),
    }
}

async fn address_of(peer: &Peer) -> Multiaddr {
    let Response::Status(status) = peer.call(Request::Status).await.unwrap() else {
        panic!("status must answer with a Status")
    };
    status.listen_addrs[0].parse().unwrap()
}

/// A raw node with its own identity that says whatever a test makes it say.
fn hostile_node() -> (Client, mpsc::Receiver<NetEvent>) {
    let key = libp2p::identity::Keypair::generate_ed25519();
    net::start(key, NetConfig::loopback()).expect("a raw node to start")
}

/// The secret of an invite link, as the pair protocol carries it.
fn secret_of(link: &str) -> String {
    let token = link.trim_start_matches("earshot://invite/");
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(token.as_bytes())
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    json["s"].as_str().unwrap().to_string()
}

async fn net_stats(peer: &Peer) -> earshot_engine::api::NetStats {
    match peer.call(Request::NetStats).await.unwrap() {
        Response::NetStats(stats) => stats,
        other => panic!("expected net stats, got {other:?}"),
    }
}

/// Regression (round 1): an ex-friend who kept the link could re-friend the user forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ex_friend_cannot_come_back_with_the_invite_they_used() {
    let [a, b] = dirs();
    let mut ada = Peer::start(a.path(), "Ada").await;
    let mut bob = Peer::start(b.path(), "Bob").await;
    let link = ada.invite().await;
    bob.redeem(&link).await.expect("the first redeem to work");

    ada.call(Request::RemoveFriend {
        peer_id: bob.id.clone(),
    })
    .await
    .unwrap();
    let ada_id = ada.id.clone();
    bob.wait_for(
        "Bob to learn he was unfriended",
        |e| matches!(e, Event::FriendRemoved { peer_id } if *peer_id == ada_id),
    )
    .await;
    ada.wait_for("invites to change", |e| matches!(e, Event::InvitesChanged))
        .await;

    let error = bob
        .redeem(&link)
        .await
        .expect_err("an old link must not work again");
    assert_eq!(error.kind, ErrorKind::InvalidInput, "{error:?}");
    assert!(
        ada.friends().await.is_empty(),
        "Bob must not be a friend again"
    );
    assert!(
        invites(&ada).await.is_empty(),
        "the invite Bob used is revoked with the friendship"
    );
    assert_eq!(net_stats(&ada).await.invites_refused, 1);
    ada.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_are_listed_with_who_used_them_and_revoked_ones_stop_working() {
    let [a, b, c] = dirs();
    let mut ada = Peer::start(a.path(), "Ada").await;
    let bob = Peer::start(b.path(), "Bob").await;
    let carol = Peer::start(c.path(), "Carol").await;
    let for_bob = ada.invite().await;
    let for_carol = ada.invite().await;
    let listed = invites(&ada).await;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|i| i.used_by.is_none()));

    bob.redeem(&for_bob).await.unwrap();
    let listed = invites(&ada).await;
    let used: Vec<_> = listed.iter().filter_map(|i| i.used_by.as_ref()).collect();
    assert_eq!(used.len(), 1, "{listed:?}");
    assert_eq!(used[0].peer_id, bob.id);
    assert_eq!(used[0].display_name.as_deref(), Some("Bob"));
    assert_eq!(
        used[0].fingerprint.replace('-', ""),
        bob.id[bob.id.len() - 8..]
    );

    let open = listed.iter().find(|i| i.used_by.is_none()).unwrap();
    ada.call(Request::RevokeInvite { id: open.id })
        .await
        .unwrap();
    ada.wait_for("invites to change", |e| matches!(e, Event::InvitesChanged))
        .await;
    let error = carol.redeem(&for_carol).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert!(error.message.contains("revoked"), "{}", error.message);
    assert_eq!(
        invites(&ada).await.len(),
        1,
        "only Bob's used invite is left"
    );
    let again = ada.call(Request::RevokeInvite { id: open.id }).await;
    assert_eq!(again.unwrap_err().kind, ErrorKind::NotFound);

    for peer in [ada, bob, carol] {
        peer.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_read_without_acting_on_it() {
    let [a, b] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let bob = Peer::start(b.path(), "Bob").await;
    let link = ada.invite().await;
    let Response::LinkPreview(LinkPreview::Invite {
        inviter,
        fingerprint,
        standing,
        ..
    }) = bob
        .call(Request::InspectLink { link: link.clone() })
        .await
        .unwrap()
    else {
        panic!("inspect_link must answer with a link preview")
    };
    assert_eq!(inviter, ada.id);
    assert_eq!(fingerprint.replace('-', ""), ada.id[ada.id.len() - 8..]);
    assert_eq!(standing, LinkStanding::Stranger);
    assert!(
        bob.friends().await.is_empty(),
        "reading a link changes nothing"
    );
    assert!(
        invites(&ada).await.iter().all(|i| i.used_by.is_none()),
        "nothing went on the network"
    );
    let error = bob
        .call(Request::InspectLink {
            link: "earshot://invite/garbage".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);

    befriend(&ada, &bob).await;
    let Response::LinkPreview(LinkPreview::Invite {
        standing,
        display_name,
        ..
    }) = bob.call(Request::InspectLink { link }).await.unwrap()
    else {
        panic!("inspect_link must answer with a link preview")
    };
    assert_eq!(standing, LinkStanding::Friend);
    assert_eq!(display_name.as_deref(), Some("Ada"));
    ada.stop().await;
    bob.stop().await;
}

/// A name with a right-to-left override renders reversed ("Robin" shown as "niboR") unless it is
/// cleaned when it arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_text_direction_overrides_are_cleaned_on_receipt() {
    let [a] = dirs();
    let mut ada = Peer::start(a.path(), "Ada").await;
    let address = address_of(&ada).await;
    let ada_peer = ada.engine.peer_id();
    let link = ada.invite().await;
    let (mallory, _events) = hostile_node();

    let answer = mallory
        .send_pair(
            ada_peer,
            vec![address],
            PairRequest::Redeem {
                secret: secret_of(&link),
                profile: ProfileCard {
                    display_name: "\u{202E}niboR\u{202C} \u{2066}x\u{2069}".into(),
                },
            },
        )
        .await
        .unwrap();
    assert!(matches!(answer, PairResponse::Friends { .. }), "{answer:?}");
    let friends = ada.friends().await;
    assert_eq!(friends.len(), 1);
    assert_eq!(friends[0].display_name, "niboR x");

    // A friend's later hello is held to the same rules.
    let answer = mallory
        .send_pair(
            ada_peer,
            vec![],
            PairRequest::Hello {
                profile: ProfileCard {
                    display_name: "Eve\u{200F}\u{202B}".into(),
                },
            },
        )
        .await
        .unwrap();
    assert!(matches!(answer, PairResponse::Friends { .. }), "{answer:?}");
    let renamed = ada
        .wait_for(
            "the new name",
            |e| matches!(e, Event::FriendUpdated(f) if f.display_name.starts_with("Eve")),
        )
        .await;
    let Event::FriendUpdated(friend) = renamed else {
        unreachable!()
    };
    assert_eq!(friend.display_name, "Eve");

    // Typed in Settings, the same characters are refused with a reason.
    let error = ada
        .call(Request::SetProfile {
            display_name: "\u{202E}adA".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    mallory.shutdown(Duration::from_secs(2)).await;
    ada.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_flooding_friend_requests_is_told_busy_and_counted() {
    let [a] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let address = address_of(&ada).await;
    let ada_peer = ada.engine.peer_id();
    let (mallory, _events) = hostile_node();

    let mut answers = Vec::new();
    for i in 0..10 {
        let answer = mallory
            .send_pair(
                ada_peer,
                vec![address.clone()],
                PairRequest::Request {
                    profile: ProfileCard {
                        display_name: format!("Mallory {i}"),
                    },
                },
            )
            .await
            .unwrap();
        answers.push(answer);
    }
    let pending = answers
        .iter()
        .filter(|a| **a == PairResponse::Pending)
        .count();
    let busy = answers
        .iter()
        .filter(|a| {
            **a == PairResponse::Refused {
                reason: Refusal::Busy,
            }
        })
        .count();
    // A burst of 4, then one every 6 s: at most one more gets through however slow the machine.
    assert!(
        (4..=5).contains(&pending) && pending + busy == 10,
        "a burst of 4, then busy: {answers:?}"
    );
    let Response::Requests { incoming, .. } = ada.call(Request::ListRequests).await.unwrap() else {
        panic!()
    };
    assert_eq!(incoming.len(), 1, "one stranger, one request");
    assert_eq!(net_stats(&ada).await.rate_limited, busy as u64);
    mallory.shutdown(Duration::from_secs(2)).await;
    ada.stop().await;
}

/// Regression (round 1): the swarm loop awaited a bounded send for every event, so a stuck
/// consumer stopped it from being polled: pings went unanswered and a healthy friend was dropped
/// after 7 s. Here one node's consumer never reads at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_consumer_never_stops_the_swarm() {
    let stalled_key = libp2p::identity::Keypair::generate_ed25519();
    let stalled_peer = PeerId::from(stalled_key.public());
    let tiny_queue = NetConfig {
        event_queue: 1,
        ..NetConfig::loopback()
    };
    // `_never_read` is kept alive and never read: the stalled consumer.
    let (stalled, _never_read) = net::start(stalled_key, tiny_queue).unwrap();
    let (friend, mut friend_events) = hostile_node();
    let friend_peer = friend.local_peer_id();
    stalled
        .set_friends([friend_peer].into_iter().collect())
        .await
        .unwrap();
    friend
        .set_friends([stalled_peer].into_iter().collect())
        .await
        .unwrap();
    let address = stalled.addresses().await.unwrap()[0].clone();
    friend.dial(stalled_peer, vec![address]).await.unwrap();

    let connected = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match friend_events.recv().await {
                Some(NetEvent::Connection {
                    peer,
                    kind: Some(_),
                }) if peer == stalled_peer => return,
                Some(_) => continue,
                None => panic!("the friend's node stopped"),
            }
        }
    })
    .await;
    assert!(connected.is_ok(), "the friend never connected");

    // Longer than the 7 s after which a friend with unanswered pings is declared dead.
    let watch = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(watch);
    loop {
        tokio::select! {
            _ = &mut watch => break,
            event = friend_events.recv() => match event {
                Some(NetEvent::Connection { peer, kind: None }) if peer == stalled_peer => {
                    panic!("the stalled node stopped answering pings and was dropped")
                }
                Some(_) => continue,
                None => panic!("the friend's node stopped"),
            }
        }
    }
    let answered = tokio::time::timeout(Duration::from_secs(5), stalled.addresses()).await;
    assert!(
        matches!(answered, Ok(Ok(_))),
        "the stalled node still answers commands: {answered:?}"
    );
    assert!(
        stalled.stats().snapshot().events_deferred > 0,
        "the loop deferred events instead of waiting"
    );
    friend.shutdown(Duration::from_secs(2)).await;
    stalled.shutdown(Duration::from_secs(2)).await;
}

/// Sends raw bytes as `/earshot/pair/1` requests, whatever they are.
#[derive(Clone, Default)]
struct RawCodec;

impl libp2p::request_response::Codec for RawCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        let mut out = Vec::new();
        futures::AsyncReadExt::read_to_end(io, &mut out).await?;
        Ok(out)
    }

    async fn read_response<T>(&mut self, p: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        self.read_request(p, io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        futures::AsyncWriteExt::write_all(io, &bytes).await?;
        futures::AsyncWriteExt::close(io).await
    }

    async fn write_response<T>(
        &mut self,
        p: &Self::Protocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        self.write_request(p, io, bytes).await
    }
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct RawPeer {
    ping: libp2p::ping::Behaviour,
    pair: libp2p::request_response::Behaviour<RawCodec>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_pairing_messages_are_refused_and_counted() {
    use futures::StreamExt;
    use libp2p::request_response::{self as rr, ProtocolSupport};
    use libp2p::swarm::SwarmEvent;

    let [a] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let address = address_of(&ada).await;
    let ada_peer = ada.engine.peer_id();
    let mut raw = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| RawPeer {
            // Ada closes connections whose pings fail; answer them so the race is not lost.
            ping: libp2p::ping::Behaviour::default(),
            pair: rr::Behaviour::with_codec(
                RawCodec,
                [(net::protocol::PAIR_PROTOCOL, ProtocolSupport::Outbound)],
                rr::Config::default(),
            ),
        })
        .unwrap()
        .build();
    raw.add_peer_address(ada_peer, address);
    let garbage = b"\xff\x00not cbor at all".to_vec();
    let oversized = vec![0x5a; 20 * 1024];
    let mut outcomes = Vec::new();
    for bytes in [garbage, oversized] {
        raw.behaviour_mut().pair.send_request(&ada_peer, bytes);
        let outcome = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match raw.select_next_some().await {
                    SwarmEvent::Behaviour(RawPeerEvent::Pair(rr::Event::OutboundFailure {
                        error,
                        ..
                    })) => return format!("failed: {error}"),
                    SwarmEvent::Behaviour(RawPeerEvent::Pair(rr::Event::Message {
                        message: rr::Message::Response { response, .. },
                        ..
                    })) if response.is_empty() => {
                        return "failed: closed without an answer".to_string()
                    }
                    SwarmEvent::Behaviour(RawPeerEvent::Pair(rr::Event::Message {
                        message,
                        ..
                    })) => return format!("answered: {message:?}"),
                    _ => continue,
                }
            }
        })
        .await
        .expect("an outcome within 20 s");
        assert!(
            outcome.starts_with("failed"),
            "a bad message got an answer: {outcome}"
        );
        outcomes.push(outcome);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while net_stats(&ada).await.malformed < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "malformed input not counted: {:?} (the sender saw {outcomes:?})",
            net_stats(&ada).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ada.friends().await.is_empty());
    ada.stop().await;
}

/// Regression (round 1): a stranger's grace period started again on every reconnect, so one could
/// stay connected and keep asking by reconnecting just before it ran out. Now a stranger has three
/// grace periods per 10 minutes in all, however often they reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_who_keeps_reconnecting_runs_out_of_time() {
    let [a] = dirs();
    let short_grace = NetConfig {
        stranger_grace: Duration::from_secs(2),
        ..NetConfig::loopback()
    };
    let ada = Peer::start_with(a.path(), "Ada", short_grace).await;
    let address = address_of(&ada).await;
    let ada_peer = ada.engine.peer_id();
    let (mallory, mut events) = hostile_node();

    // Connect and wait to be closed, three times over: the whole budget (3 × 2 s) is spent.
    for round in 1..=3 {
        mallory.dial(ada_peer, vec![address.clone()]).await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(20), async {
            let mut was_connected = false;
            loop {
                match events.recv().await {
                    Some(NetEvent::Connection { peer, kind }) if peer == ada_peer => {
                        if kind.is_some() {
                            was_connected = true;
                        } else if was_connected {
                            return;
                        }
                    }
                    Some(_) => continue,
                    None => panic!("the stranger's node stopped"),
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "round {round}: Ada kept a stranger connected past its grace period"
        );
    }

    // Reconnecting at once buys nothing: the request is refused (or the connection is already
    // gone), never stored.
    let answer = mallory
        .send_pair(
            ada_peer,
            vec![address],
            PairRequest::Request {
                profile: ProfileCard {
                    display_name: "Mallory".into(),
                },
            },
        )
        .await;
    assert!(
        !matches!(answer, Ok(PairResponse::Pending)),
        "a stranger with a spent budget was served: {answer:?}"
    );
    let Response::Requests { incoming, .. } = ada.call(Request::ListRequests).await.unwrap() else {
        panic!()
    };
    assert!(incoming.is_empty(), "nothing stored from a spent stranger");
    let stats = net_stats(&ada).await;
    assert!(stats.strangers_closed >= 3, "{stats:?}");
    mallory.shutdown(Duration::from_secs(2)).await;
    ada.stop().await;
}

/// A stranger's connection budget must not stop an answer we asked for: Grace accepts Ada's
/// request long after Ada's budget for strangers (three times 2 s here) would have run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_accepted_minutes_later_still_gets_through() {
    let [a, g] = dirs();
    let short_grace = || NetConfig {
        stranger_grace: Duration::from_secs(2),
        ..lan()
    };
    let mut ada = Peer::start_with(a.path(), "Ada", short_grace()).await;
    let mut grace = Peer::start_with(g.path(), "Grace", short_grace()).await;
    let (ada_id, grace_id) = (ada.id.clone(), grace.id.clone());
    ask_over_the_lan(&mut ada, &mut grace).await;

    // Longer than a stranger's whole budget (6 s): Grace takes her time.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let accepted = grace
        .call(Request::AcceptRequest {
            peer_id: ada_id.clone(),
        })
        .await;
    assert!(
        matches!(accepted, Ok(Response::Friend(_))),
        "the late answer was refused: {accepted:?}"
    );
    ada.wait_for(
        "Grace as a friend",
        |e| matches!(e, Event::FriendAdded(f) if f.peer_id == grace_id),
    )
    .await;
    ada.stop().await;
    grace.stop().await;
}

/// A database exactly as round 1 wrote it (plaintext, schema 3, invite secrets in clear): on the
/// first start it is encrypted, its invites are kept as hashes, friends stay friends, and an open
/// round-1 link still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_one_database_keeps_its_friends_and_its_open_invites_work() {
    use earshot_engine::friends::invite::Invite;

    let [a, b] = dirs();
    let robin = PeerId::random();
    let (open, used): ([u8; 16], [u8; 16]) = (rand::random(), rand::random());
    let far = 4_000_000_000_000i64;
    {
        let conn = rusqlite::Connection::open(a.path().join("earshot.sqlite3")).unwrap();
        for sql in [
            include_str!("../../../migrations/0001_profile_and_settings.sql"),
            include_str!("../../../migrations/0002_friends.sql"),
            include_str!("../../../migrations/0003_library.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO peers (peer_id, relationship, display_name, since) VALUES (?1, 'friend', 'Robin', 1)",
            [robin.to_base58()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO invites (secret, created_at, expires_at) VALUES (?1, 1, ?2)",
            rusqlite::params![&open[..], far],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO invites (secret, created_at, expires_at, redeemed_by, redeemed_at) VALUES (?1, 1, ?2, ?3, 2)",
            rusqlite::params![&used[..], far, robin.to_base58()],
        )
        .unwrap();
    }

    let ada = Peer::start(a.path(), "Ada").await;
    let friends = ada.friends().await;
    assert_eq!(friends.len(), 1);
    assert_eq!(friends[0].display_name, "Robin");
    let listed = invites(&ada).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let used_by: Vec<_> = listed.iter().filter_map(|i| i.used_by.as_ref()).collect();
    assert_eq!(used_by.len(), 1);
    assert_eq!(used_by[0].display_name.as_deref(), Some("Robin"));

    let link = Invite {
        inviter: ada.engine.peer_id(),
        addresses: vec![address_of(&ada).await],
        secret: open,
        expires_at: far,
    }
    .to_link();
    let bob = Peer::start(b.path(), "Bob").await;
    let friend = bob
        .redeem(&link)
        .await
        .expect("the open round-1 invite to work");
    assert_eq!(friend.display_name, "Ada");
    ada.stop().await;
    bob.stop().await;
}
