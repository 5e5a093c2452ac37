//! Messages across several engines in one process, over real libp2p connections on loopback
//! (design §9, layer 2): delivery, groups, offline delivery through another member, edits,
//! deletes, reactions, requests, block, report, Messages off, search, and hostile input.

mod common;

use common::{befriend, dirs, write_wav, Peer};
use earshot_engine::api::{
    ChatMessage, ChatStats, Conversation, ConversationState, ErrorKind, Event, MessageKind,
    Request, Response,
};
use earshot_engine::chat::log::{self, Body, Hlc, Kind, PeerBytes, Wire};
use earshot_engine::net::protocol::{PairRequest, ProfileCard, SyncRequest, SyncResponse};
use earshot_engine::net::{self, NetConfig};

impl Peer {
    async fn open_direct(&self, with: &Peer) -> Conversation {
        match self
            .call(Request::OpenDirect {
                peer_id: with.id.clone(),
            })
            .await
            .expect("the conversation to open")
        {
            Response::Conversation(c) => c,
            other => panic!("expected a conversation, got {other:?}"),
        }
    }

    async fn send(&self, conversation: &str, text: &str) -> ChatMessage {
        match self
            .call(Request::SendMessage {
                conversation: conversation.into(),
                text: text.into(),
                reply_to: None,
            })
            .await
            .expect("the message to be sent")
        {
            Response::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    async fn page(&self, conversation: &str) -> Vec<ChatMessage> {
        match self
            .call(Request::ListMessages {
                conversation: conversation.into(),
                before: None,
                limit: None,
            })
            .await
            .expect("the page to load")
        {
            Response::Messages(page) => page.messages,
            other => panic!("expected messages, got {other:?}"),
        }
    }

    async fn inbox(&self) -> (Vec<Conversation>, Vec<Conversation>) {
        match self.call(Request::ListConversations).await.unwrap() {
            Response::Conversations {
                conversations,
                requests,
            } => (conversations, requests),
            other => panic!("expected conversations, got {other:?}"),
        }
    }

    async fn chat_stats(&self) -> ChatStats {
        match self.call(Request::ChatStats).await.unwrap() {
            Response::ChatStats(stats) => stats,
            other => panic!("expected chat stats, got {other:?}"),
        }
    }

    /// Waits until a message with `text` arrives (or changes) in any conversation.
    async fn wait_message(
        &mut self,
        what: &str,
        wanted: impl Fn(&ChatMessage) -> bool,
    ) -> ChatMessage {
        match self
            .wait_for(what, |e| matches!(e, Event::MessageChanged(m) if wanted(m)))
            .await
        {
            Event::MessageChanged(m) => *m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The first address this peer listens on.
    async fn address(&self) -> libp2p::Multiaddr {
        match self.call(Request::Status).await.unwrap() {
            Response::Status(s) => s.listen_addrs[0].parse().unwrap(),
            other => panic!("expected a status, got {other:?}"),
        }
    }

    /// The texts shown in a conversation (none while it has not arrived).
    async fn texts(&self, conversation: &str) -> Vec<String> {
        let request = Request::ListMessages {
            conversation: conversation.into(),
            before: None,
            limit: None,
        };
        let messages = match self.call(request).await {
            Ok(Response::Messages(page)) => page.messages,
            Err(e) if e.kind == ErrorKind::NotFound => Vec::new(),
            other => panic!("expected messages, got {other:?}"),
        };
        messages
            .into_iter()
            .filter(|m| m.kind != MessageKind::Notice)
            .map(|m| m.text)
            .collect()
    }
}

/// Polls `check` until it holds (state that may be reached through several events).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while !check().await {
        if tokio::time::Instant::now() > deadline {
            panic!("{what} did not happen within {:?}", common::WAIT);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn friends3() -> ([tempfile::TempDir; 3], Peer, Peer, Peer) {
    let dirs = dirs::<3>();
    let ada = Peer::start(dirs[0].path(), "Ada").await;
    let bo = Peer::start(dirs[1].path(), "Bo").await;
    let cy = Peer::start(dirs[2].path(), "Cy").await;
    (dirs, ada, bo, cy)
}

async fn group(owner: &Peer, name: &str, members: &[&Peer]) -> Conversation {
    match owner
        .call(Request::CreateGroup {
            name: name.into(),
            peer_ids: members.iter().map(|p| p.id.clone()).collect(),
        })
        .await
        .expect("the group to be made")
    {
        Response::Conversation(c) => c,
        other => panic!("expected a conversation, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_arrives_and_the_sender_sees_delivered_then_read() {
    let [a, b] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let mut bo = Peer::start(b.path(), "Bo").await;
    befriend(&ada, &bo).await;

    let chat = ada.open_direct(&bo).await;
    assert_eq!(chat.title, "Bo");
    let sent = ada.send(&chat.id, "hello Bo").await;
    assert!(sent.mine);

    let got = bo
        .wait_message("Ada's message", |m| m.text == "hello Bo")
        .await;
    assert_eq!(got.author_name, "Ada");
    assert_eq!(
        got.conversation, chat.id,
        "both sides name the conversation alike"
    );
    let (inbox, requests) = bo.inbox().await;
    assert!(requests.is_empty());
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].unread, 1);
    assert_eq!(inbox[0].title, "Ada");

    let chat_id = chat.id.clone();
    eventually("Ada to see it delivered", || async {
        let page = ada.page(&chat_id).await;
        page.last()
            .and_then(|m| m.delivery)
            .is_some_and(|d| d.delivered == 1 && d.of == 1)
    })
    .await;
    bo.call(Request::MarkRead {
        conversation: chat.id.clone(),
    })
    .await
    .unwrap();
    assert_eq!(bo.inbox().await.0[0].unread, 0);
    eventually("Ada to see it read", || async {
        let page = ada.page(&chat_id).await;
        page.last()
            .and_then(|m| m.delivery)
            .is_some_and(|d| d.read == 1)
    })
    .await;

    // And back.
    let mut ada = ada;
    bo.send(&chat.id, "hi Ada").await;
    ada.wait_message("Bo's answer", |m| m.text == "hi Ada")
        .await;
    assert_eq!(ada.texts(&chat.id).await, ["hello Bo", "hi Ada"]);
    assert_eq!(bo.texts(&chat.id).await, ["hello Bo", "hi Ada"]);
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_reaches_members_who_are_not_friends_of_each_other() {
    let (_dirs, ada, mut bo, mut cy) = friends3().await;
    // Ada is friends with both; Bo and Cy do not know each other.
    befriend(&ada, &bo).await;
    befriend(&ada, &cy).await;
    let band = group(&ada, "Band", &[&bo, &cy]).await;
    assert_eq!(band.members.len(), 3);
    assert!(band.can_manage);

    bo.wait_for("the group to reach Bo", |e| {
        matches!(e, Event::ConversationsChanged)
    })
    .await;
    let bo_id = bo.id.clone();
    eventually("Bo to hold the group", || async {
        bo.inbox().await.0.iter().any(|c| c.id == band.id)
    })
    .await;
    eventually("Cy to hold the group", || async {
        cy.inbox().await.0.iter().any(|c| c.id == band.id)
    })
    .await;

    bo.send(&band.id, "hi all").await;
    let got = cy
        .wait_message("Bo's message through Ada", |m| m.text == "hi all")
        .await;
    assert_eq!(got.author, bo_id);
    cy.send(&band.id, "hey Bo").await;
    bo.wait_message("Cy's message through Ada", |m| m.text == "hey Bo")
        .await;
    for peer in [&ada, &bo, &cy] {
        assert_eq!(peer.texts(&band.id).await, ["hi all", "hey Bo"]);
    }
    let bo_view = match bo
        .call(Request::GetConversation {
            conversation: band.id.clone(),
        })
        .await
        .unwrap()
    {
        Response::Conversation(c) => c,
        other => panic!("{other:?}"),
    };
    assert!(!bo_view.can_manage, "only the creator and admins manage");
    ada.stop().await;
    bo.stop().await;
    cy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reaches_an_offline_member_through_another_member() {
    let (dirs, ada, bo, cy) = friends3().await;
    befriend(&ada, &bo).await;
    befriend(&ada, &cy).await;
    befriend(&bo, &cy).await;
    let band = group(&ada, "Band", &[&bo, &cy]).await;
    let band_id = band.id.clone();
    eventually("Bo to hold the group", || async {
        bo.inbox().await.0.iter().any(|c| c.id == band_id)
    })
    .await;
    bo.stop().await;

    let mut cy = cy;
    ada.send(&band.id, "while you were away").await;
    cy.wait_message("Cy to get it", |m| m.text == "while you were away")
        .await;
    ada.stop().await;

    // Bo comes back; only Cy is there to tell him.
    let bo = Peer::start(dirs[1].path(), "Bo").await;
    eventually("Bo to receive Ada's message from Cy", || async {
        bo.texts(&band_id).await == ["while you were away"]
    })
    .await;
    // Cy and Bo both start a sync when they meet, so Bo may be offered the entry twice: it is
    // stored once.
    assert_eq!(bo.texts(&band_id).await, ["while you were away"]);
    bo.stop().await;
    cy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reactions_and_deletes_reach_every_member_and_a_delete_leaves_no_text() {
    let [a, b] = dirs();
    let mut ada = Peer::start(a.path(), "Ada").await;
    let mut bo = Peer::start(b.path(), "Bo").await;
    befriend(&ada, &bo).await;
    let chat = ada.open_direct(&bo).await;
    let sent = ada.send(&chat.id, "secret plan").await;
    bo.wait_message("the message", |m| m.text == "secret plan")
        .await;

    bo.call(Request::React {
        conversation: chat.id.clone(),
        entry: sent.id.clone(),
        emoji: "🔥".into(),
        on: true,
    })
    .await
    .unwrap();
    let reacted = ada
        .wait_message("Bo's reaction", |m| {
            m.id == sent.id && !m.reactions.is_empty()
        })
        .await;
    assert_eq!(reacted.reactions[0].emoji, "🔥");
    assert_eq!(reacted.reactions[0].names, ["Bo"]);

    ada.call(Request::EditMessage {
        conversation: chat.id.clone(),
        entry: sent.id.clone(),
        text: "secret plan, revised".into(),
    })
    .await
    .unwrap();
    let edited = bo
        .wait_message("the edit", |m| m.id == sent.id && m.edited)
        .await;
    assert_eq!(edited.text, "secret plan, revised");

    // Bo cannot edit or delete Ada's message.
    let refused = bo
        .call(Request::DeleteMessage {
            conversation: chat.id.clone(),
            entry: sent.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::InvalidInput);

    ada.call(Request::DeleteMessage {
        conversation: chat.id.clone(),
        entry: sent.id.clone(),
    })
    .await
    .unwrap();
    let gone = bo
        .wait_message("the delete", |m| m.id == sent.id && m.deleted)
        .await;
    assert!(gone.text.is_empty() && gone.reactions.is_empty());
    for peer in [&ada, &bo] {
        match peer
            .call(Request::SearchMessages {
                query: "secret".into(),
                limit: None,
            })
            .await
            .unwrap()
        {
            Response::SearchHits { hits } => assert!(hits.is_empty(), "{hits:?}"),
            other => panic!("{other:?}"),
        }
    }
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_words_in_every_conversation_with_highlighted_snippets() {
    let [a, b] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let mut bo = Peer::start(b.path(), "Bo").await;
    befriend(&ada, &bo).await;
    let chat = ada.open_direct(&bo).await;
    ada.send(&chat.id, "the concert is on Friday").await;
    ada.send(&chat.id, "bring earplugs").await;
    bo.wait_message("the second message", |m| m.text == "bring earplugs")
        .await;
    let hits = match bo
        .call(Request::SearchMessages {
            query: "conc".into(),
            limit: None,
        })
        .await
        .unwrap()
    {
        Response::SearchHits { hits } => hits,
        other => panic!("{other:?}"),
    };
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].conversation, chat.id);
    assert_eq!(hits[0].conversation_title, "Ada");
    assert!(
        hits[0].snippet.contains("\u{E000}concert\u{E001}"),
        "{:?}",
        hits[0].snippet
    );
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_who_is_not_a_friend_can_only_send_a_message_request() {
    let (_dirs, ada, bo, cy) = friends3().await;
    befriend(&ada, &bo).await;
    befriend(&ada, &cy).await;
    let band = group(&ada, "Band", &[&bo, &cy]).await;
    let band_id = band.id.clone();
    eventually("Cy to hold the group", || async {
        cy.inbox().await.0.iter().any(|c| c.id == band_id)
    })
    .await;
    eventually("Bo to hold the group", || async {
        bo.inbox().await.0.iter().any(|c| c.id == band_id)
    })
    .await;
    // Cy and Bo have never met: Cy learns Bo's addresses from Ada, as a fellow member.
    let direct = cy.open_direct(&bo).await;
    assert_eq!(
        direct.state,
        ConversationState::Active,
        "the sender's own side"
    );
    cy.send(&direct.id, "hi, I'm Cy from the band").await;
    let (_, requests) = {
        eventually("Bo to get a request", || async {
            !bo.inbox().await.1.is_empty()
        })
        .await;
        bo.inbox().await
    };
    assert_eq!(requests[0].state, ConversationState::Request);
    assert_eq!(requests[0].shared_groups, ["Band"]);
    assert_eq!(requests[0].title, "Cy", "a fellow member's name is known");
    let refused = bo
        .call(Request::SendMessage {
            conversation: direct.id.clone(),
            text: "hello".into(),
            reply_to: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.kind,
        ErrorKind::InvalidInput,
        "accept before replying"
    );
    bo.call(Request::AcceptMessageRequest {
        conversation: direct.id.clone(),
    })
    .await
    .unwrap();
    let (inbox, requests) = bo.inbox().await;
    assert!(requests.is_empty());
    assert!(inbox.iter().any(|c| c.id == direct.id));
    assert!(
        bo.call(Request::ListFriends)
            .await
            .is_ok_and(|r| matches!(r, Response::Friends { friends } if friends.len() == 1)),
        "accepting a message request does not make a friend"
    );
    ada.stop().await;
    bo.stop().await;
    cy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_messages_off_nothing_is_accepted_and_friends_are_told() {
    let [a, b] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let mut bo = Peer::start(b.path(), "Bo").await;
    befriend(&ada, &bo).await;
    let chat = ada.open_direct(&bo).await;
    ada.send(&chat.id, "first").await;
    bo.wait_message("the first message", |m| m.text == "first")
        .await;

    bo.call(Request::SetMessagesEnabled { on: false })
        .await
        .unwrap();
    let chat_id = chat.id.clone();
    eventually("Ada to see Bo's Messages are off", || async {
        matches!(ada.call(Request::GetConversation { conversation: chat_id.clone() }).await,
            Ok(Response::Conversation(c)) if c.messages_off)
    })
    .await;
    let refused = bo
        .call(Request::SendMessage {
            conversation: chat.id.clone(),
            text: "can I?".into(),
            reply_to: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::InvalidInput);
    ada.send(&chat.id, "while off").await;
    eventually("Bo to refuse the push", || async {
        bo.chat_stats().await.refused >= 1
    })
    .await;
    assert_eq!(bo.texts(&chat.id).await, ["first"]);

    bo.call(Request::SetMessagesEnabled { on: true })
        .await
        .unwrap();
    bo.wait_message("the message sent while off, once on again", |m| {
        m.text == "while off"
    })
    .await;
    eventually("Ada to see Bo's Messages are on", || async {
        matches!(ada.call(Request::GetConversation { conversation: chat_id.clone() }).await,
            Ok(Response::Conversation(c)) if !c.messages_off)
    })
    .await;
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_keeps_the_messages_hides_the_chat_blocks_the_sender_and_exports() {
    let [a, b, out] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let mut bo = Peer::start(b.path(), "Bo").await;
    befriend(&ada, &bo).await;
    let chat = ada.open_direct(&bo).await;
    ada.send(&chat.id, "something nasty").await;
    bo.wait_message("the message", |m| m.text == "something nasty")
        .await;

    let report = match bo
        .call(Request::Report {
            conversation: chat.id.clone(),
            peer_id: ada.id.clone(),
            reason: "harassment".into(),
        })
        .await
        .unwrap()
    {
        Response::Reports { mut reports } => reports.remove(0),
        other => panic!("{other:?}"),
    };
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].text, "something nasty");
    assert_eq!(report.display_name, "Ada");
    assert!(bo.inbox().await.0.is_empty(), "the conversation is hidden");
    let blocked = match bo.call(Request::ListBlocked).await.unwrap() {
        Response::Blocked { peers } => peers,
        other => panic!("{other:?}"),
    };
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].peer_id, ada.id);

    let file = out.path().join("report.json");
    bo.call(Request::ExportReport {
        id: report.id,
        path: file.to_string_lossy().into(),
    })
    .await
    .unwrap();
    let exported: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(exported["reason"], "harassment");
    assert_eq!(exported["messages"][0]["text"], "something nasty");
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_messages_survive_a_restart_and_numbering_goes_on_without_duplicates() {
    let [a, b] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let mut bo = Peer::start(b.path(), "Bo").await;
    befriend(&ada, &bo).await;
    let chat = ada.open_direct(&bo).await;
    ada.send(&chat.id, "one").await;
    bo.wait_message("one", |m| m.text == "one").await;
    ada.stop().await;

    let ada = Peer::start(a.path(), "Ada").await;
    assert_eq!(ada.texts(&chat.id).await, ["one"]);
    ada.send(&chat.id, "two").await;
    bo.wait_message("two", |m| m.text == "two").await;
    assert_eq!(bo.texts(&chat.id).await, ["one", "two"]);
    ada.stop().await;
    bo.stop().await;
}

/// A raw node (our test's own key) that becomes Bo's friend through an invite, then says
/// whatever the test makes it say over `/earshot/sync/1`.
async fn raw_friend_of(peer: &Peer) -> (net::Client, libp2p::identity::Keypair) {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let (client, _events) = net::start(key.clone(), NetConfig::loopback()).unwrap();
    let link = peer.invite().await;
    let token = link.trim_start_matches("earshot://invite/");
    let json: serde_json::Value = serde_json::from_slice(
        &data_encoding::BASE64URL_NOPAD
            .decode(token.as_bytes())
            .unwrap(),
    )
    .unwrap();
    let secret = json["s"].as_str().unwrap().to_string();
    let address = peer.address().await;
    let target = peer.id.parse().unwrap();
    client
        .send_pair(
            target,
            vec![address],
            PairRequest::Redeem {
                secret,
                profile: ProfileCard {
                    display_name: "Mallory".into(),
                },
            },
        )
        .await
        .expect("the redeem to be answered");
    (client, key)
}

fn text_entry(
    key: &libp2p::identity::Keypair,
    author: &libp2p::identity::Keypair,
    conversation: log::ConversationId,
    text: &str,
) -> Wire {
    let body = Body {
        conversation,
        author: PeerBytes::of(&author.public().to_peer_id()),
        seq: 1,
        hlc: Hlc {
            millis: earshot_engine::store::now_millis() as u64,
            counter: 0,
        },
        kind: Kind::Text {
            text: text.into(),
            reply_to: None,
        },
    };
    Wire::Entry(log::sign(key, body).unwrap().signed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_non_member_entries_are_refused_and_counted() {
    let [a, b] = dirs();
    let ada = Peer::start(a.path(), "Ada").await;
    let bo = Peer::start(b.path(), "Bo").await;
    befriend(&ada, &bo).await;
    let chat = ada.open_direct(&bo).await;
    ada.send(&chat.id, "real").await;
    let chat_id = chat.id.clone();
    eventually("Bo to hold Ada's message", || async {
        bo.texts(&chat_id).await == ["real"]
    })
    .await;

    let (mallory, mallory_key) = raw_friend_of(&bo).await;
    let conversation = log::Hash32::from_hex(&chat.id).unwrap();
    let bo_peer = bo.id.parse().unwrap();

    // 1. An entry naming Ada as its author, signed with Mallory's key.
    let body = Body {
        conversation,
        author: PeerBytes::of(&ada.engine.peer_id()),
        seq: 2,
        hlc: Hlc {
            millis: earshot_engine::store::now_millis() as u64,
            counter: 0,
        },
        kind: Kind::Text {
            text: "send me money".into(),
            reply_to: None,
        },
    };
    let forged = Wire::Entry(log::sign(&mallory_key, body).unwrap().signed);
    // 2. Mallory's own entry in Ada and Bo's conversation, which she is not a member of.
    let intruder = text_entry(&mallory_key, &mallory_key, conversation, "let me in");
    // 3. Garbage in a valid envelope.
    let garbage = Wire::Entry(log::Signed {
        body: vec![0xff; 40],
        key: mallory_key.public().encode_protobuf(),
        signature: mallory_key.sign(&[0xff; 40]).unwrap(),
    });

    let answer = mallory
        .send_sync(
            bo_peer,
            SyncRequest::Push {
                entries: vec![forged, intruder, garbage],
            },
        )
        .await
        .expect("Bo to answer");
    assert!(matches!(answer, SyncResponse::Stored { .. }), "{answer:?}");
    let stats = bo.chat_stats().await;
    assert_eq!(stats.bad_signature, 1, "{stats:?}");
    assert_eq!(stats.not_member, 1, "{stats:?}");
    assert_eq!(stats.malformed, 1, "{stats:?}");
    assert_eq!(
        bo.texts(&chat.id).await,
        ["real"],
        "nothing forged is shown"
    );
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_sync_at_all() {
    let [b] = dirs();
    let bo = Peer::start(b.path(), "Bo").await;
    let key = libp2p::identity::Keypair::generate_ed25519();
    let (stranger, _events) = net::start(key.clone(), NetConfig::loopback()).unwrap();
    let address = bo.address().await;
    let bo_peer = bo.id.parse().unwrap();
    stranger.dial(bo_peer, vec![address]).await.unwrap();
    let conversation = log::direct_id(&key.public().to_peer_id(), &bo.engine.peer_id());
    let answer = loop {
        match stranger
            .send_sync(
                bo_peer,
                SyncRequest::Push {
                    entries: vec![text_entry(&key, &key, conversation, "hi")],
                },
            )
            .await
        {
            Ok(answer) => break answer,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    assert!(
        matches!(
            answer,
            SyncResponse::Refused {
                reason: earshot_engine::net::SyncRefusal::NotAllowed
            }
        ),
        "{answer:?}"
    );
    assert!(bo.inbox().await.0.is_empty() && bo.inbox().await.1.is_empty());
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_hides_a_member_in_every_conversation_and_a_removed_member_cannot_post() {
    let (_dirs, ada, mut bo, cy) = friends3().await;
    befriend(&ada, &bo).await;
    befriend(&ada, &cy).await;
    befriend(&bo, &cy).await;
    let band = group(&ada, "Band", &[&bo, &cy]).await;
    let band_id = band.id.clone();
    for peer in [&bo, &cy] {
        eventually("the group to arrive", || async {
            peer.inbox().await.0.iter().any(|c| c.id == band_id)
        })
        .await;
    }
    cy.send(&band.id, "from Cy").await;
    bo.wait_message("Cy's message", |m| m.text == "from Cy")
        .await;

    bo.call(Request::Block {
        peer_id: cy.id.clone(),
    })
    .await
    .unwrap();
    assert!(
        bo.texts(&band.id).await.is_empty(),
        "a blocked member's messages are hidden"
    );
    ada.send(&band.id, "from Ada").await;
    bo.wait_message("Ada's message", |m| m.text == "from Ada")
        .await;
    assert_eq!(bo.texts(&band.id).await, ["from Ada"]);

    // Ada removes Cy: Cy can no longer post, and everyone sees the notice.
    ada.call(Request::RemoveMember {
        conversation: band.id.clone(),
        peer_id: cy.id.clone(),
    })
    .await
    .unwrap();
    let cy_id = cy.id.clone();
    eventually("Cy to learn she was removed", || async {
        match cy
            .call(Request::GetConversation {
                conversation: band_id.clone(),
            })
            .await
        {
            Ok(Response::Conversation(c)) => !c.members.iter().any(|m| m.peer_id == cy_id),
            _ => false,
        }
    })
    .await;
    let refused = cy
        .call(Request::SendMessage {
            conversation: band.id.clone(),
            text: "still here?".into(),
            reply_to: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::InvalidInput);
    let notices: Vec<String> = ada
        .page(&band.id)
        .await
        .into_iter()
        .filter(|m| m.kind == MessageKind::Notice)
        .map(|m| m.text)
        .collect();
    assert_eq!(
        notices,
        ["Ada made the group “Band” with Bo and Cy", "Ada removed Cy"],
        "notices name who did what"
    );
    ada.stop().await;
    bo.stop().await;
    cy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_track_plays_at_once_for_a_friend_who_lacks_it_fetched_and_verified() {
    use earshot_engine::api::ShareTarget;

    let [a, b, music] = dirs();
    let mut ada = Peer::start(a.path(), "Ada").await;
    // Bo plays into a software sink, so the test hears what he plays.
    let mut bo = Peer::start_listening(b.path(), "Bo").await;
    befriend(&ada, &bo).await;

    write_wav(&music.path().join("tone.wav"), 3, 440.0);
    ada.add_music(music.path()).await;
    let track = ada.tracks().await.remove(0);

    let chat = ada.open_direct(&bo).await;
    let shared = match ada
        .call(Request::Share {
            conversation: chat.id.clone(),
            target: ShareTarget::Track {
                hash: track.hash.clone(),
            },
            text: Some("listen to this".into()),
        })
        .await
        .unwrap()
    {
        Response::Message(m) => m,
        other => panic!("{other:?}"),
    };
    let card = bo
        .wait_message("the share", |m| m.id == shared.id)
        .await
        .share
        .expect("a share card");
    assert_eq!(card.hashes, std::slice::from_ref(&track.hash));
    assert_eq!(card.local_tracks, 0, "Bo does not have it");
    assert_eq!(card.title, track.title);

    let played = bo
        .call(Request::PlayShared {
            conversation: chat.id.clone(),
            entry: shared.id.clone(),
            start: None,
        })
        .await
        .expect("the shared track to play");
    match played {
        Response::Player(state) => {
            assert_eq!(state.current.map(|t| t.hash), Some(track.hash.clone()))
        }
        other => panic!("{other:?}"),
    }
    bo.wait_for(
        "Bo to hear it play",
        |e| matches!(e, Event::PlayerPosition { position_ms, .. } if *position_ms > 200),
    )
    .await;
    let cached = b.path().join("cache").join("audio");
    let files: Vec<String> = std::fs::read_dir(&cached)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        [format!("{}.wav", track.hash)],
        "verified, no partial file left"
    );
    let in_library = bo.tracks().await;
    assert!(
        in_library.is_empty(),
        "playing from a card does not add to the library"
    );
    ada.stop().await;
    bo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_was_shared_with_them_can_be_fetched_by_a_member_who_is_not_a_friend() {
    use earshot_engine::net::protocol::{TransferRefusal, TransferRequest, TransferResponse};

    let [a, music] = dirs();
    let mut ada = Peer::start(a.path(), "Ada").await;
    write_wav(&music.path().join("private.wav"), 1, 220.0);
    ada.add_music(music.path()).await;
    let hash = ada.tracks().await[0].hash.clone();
    // A stranger cannot fetch it; nor can a peer that is not a friend even once connected.
    let key = libp2p::identity::Keypair::generate_ed25519();
    let (stranger, _events) = net::start(key, NetConfig::loopback()).unwrap();
    let address = ada.address().await;
    let ada_peer = ada.id.parse().unwrap();
    stranger.dial(ada_peer, vec![address]).await.unwrap();
    let request = TransferRequest::Range {
        hash: log::Hash32::from_hex(&hash).unwrap(),
        offset: 0,
        length: 1024,
    };
    let answer = loop {
        match stranger.send_transfer(ada_peer, request.clone()).await {
            Ok(answer) => break answer,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    assert_eq!(
        answer,
        TransferResponse::Refused {
            reason: TransferRefusal::NotAllowed
        }
    );
    // A friend can.
    let (friend, _key) = raw_friend_of(&ada).await;
    match friend.send_transfer(ada_peer, request).await.unwrap() {
        TransferResponse::Bytes {
            total,
            data,
            extension,
        } => {
            assert_eq!(data.len(), 1024);
            assert_eq!(extension, "wav");
            assert!(total > 100_000);
        }
        other => panic!("{other:?}"),
    }
    ada.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_file_is_checked_before_resuming_and_a_damaged_part_fetched_again() {
    use earshot_engine::api::ShareTarget;

    let [a, b, music] = dirs();
    let mut ada = Peer::start(a.path(), "Ada").await;
    let mut bo = Peer::start(b.path(), "Bo").await;
    befriend(&ada, &bo).await;
    let file = music.path().join("long.wav");
    write_wav(&file, 4, 330.0);
    ada.add_music(music.path()).await;
    let hash = ada.tracks().await[0].hash.clone();
    let chat = ada.open_direct(&bo).await;
    let shared = match ada
        .call(Request::Share {
            conversation: chat.id.clone(),
            target: ShareTarget::Track { hash: hash.clone() },
            text: None,
        })
        .await
        .unwrap()
    {
        Response::Message(m) => m,
        other => panic!("{other:?}"),
    };
    bo.wait_message("the share", |m| m.id == shared.id).await;

    // An interrupted fetch left 600,000 bytes, one of them damaged on the way.
    let bytes = std::fs::read(&file).unwrap();
    let cache = b.path().join("cache").join("audio");
    std::fs::create_dir_all(&cache).unwrap();
    let mut partial = bytes[..600_000].to_vec();
    partial[123_456] ^= 0x40;
    std::fs::write(cache.join(format!("{hash}.part")), &partial).unwrap();

    // Bo has no sound device here: playing may fail at the player, but only after the fetch.
    let _ = bo
        .call(Request::PlayShared {
            conversation: chat.id.clone(),
            entry: shared.id.clone(),
            start: None,
        })
        .await;
    let mut firsts = Vec::new();
    while let Ok(event) = bo.events.try_recv() {
        if let Event::TransferProgress {
            received, total, ..
        } = event
        {
            assert_eq!(total, bytes.len() as u64);
            firsts.push(received);
        }
    }
    // The damage lies in the first 512 KiB group: checked against the outline before resuming,
    // the part is cut back to nothing, and the fetch starts over from there.
    assert_eq!(
        firsts,
        [earshot_engine::chat::outline::GROUP, bytes.len() as u64],
        "fetched again from the damaged group on"
    );
    let done = std::fs::read(cache.join(format!("{hash}.wav"))).unwrap();
    assert!(done == bytes, "the kept file is exactly the shared one");
    assert!(!cache.join(format!("{hash}.part")).exists());
    ada.stop().await;
    bo.stop().await;
}
