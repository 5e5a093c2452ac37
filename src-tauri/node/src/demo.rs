//! `earshot-node demo-friend`: a friendly headless peer for newcomers and demos.
//!
//! It names itself (default "Robin (demo friend)"), prints a fresh one-hour invite as the line
//! `{"demo_invite":"earshot://invite/…","peer_id":"…"}`, accepts every friend request it receives,
//! and serves the control protocol on stdin like a plain node. It keeps running after end of input
//! (it usually runs in the background) until Ctrl-C or SIGTERM.
//!
//! It also keeps up its side of a conversation, so a newcomer sees Messages work in the first
//! minute: each new text from someone else is marked read and gets a short friendly reply, each
//! shared track, album or playlist gets a 🔥, and a reaction to what it is listening to gets a
//! thank-you. What to do is decided by [`Responder`] (pure, tested below); [`converse`] follows
//! the engine's `message_changed` events and carries it out.
//!
//! And it listens to music, for everyone to see: it writes its own small album ([`music`]) into
//! `<data dir>/demo-music`, turns Listening Activity sharing on and plays the album on repeat
//! ([`listen`]), so a newcomer's Friends page shows its track, progress and track changes live,
//! with tracks to play, add to the library or react to. It plays into a silent software sink
//! (always, as any node does with `--virtual-audio`: see `main.rs`), so it needs no sound device
//! and never plays through the speakers of the machine it shares with the app.
//!
//! And it jams: a friend's invitation is accepted (it joins their jam) and a friend's Request to
//! Jam too (it hosts a jam with its album, and the friend joins), each after a short, human-like
//! pause and one at a time. [`JamAnswerer`] decides (pure, tested below); [`answer_jams`] follows
//! the `jam_invited` / `jam_invites_changed` events and carries it out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::ExitCode;

use earshot_engine::api::{
    ChatMessage, Event, JamInvite, MessageKind, RepeatMode, Request, Response,
};
use earshot_engine::Engine;
use serde_json::json;

use crate::{control, fail};

mod music;

/// How long the printed invite lasts: long enough to start the app by hand.
const INVITE_LIFETIME_SECS: u64 = 3600;

pub async fn run(engine: Engine, name: String) -> ExitCode {
    if let Err(e) = engine
        .call(Request::SetProfile { display_name: name })
        .await
    {
        return fail(&e);
    }
    let link = match engine
        .call(Request::CreateInvite {
            lifetime_secs: Some(INVITE_LIFETIME_SECS),
        })
        .await
    {
        Ok(Response::Invite(invite)) => invite.link,
        Ok(other) => return fail(&format!("unexpected answer to create_invite: {other:?}")),
        Err(e) => return fail(&e),
    };
    println!(
        "{}",
        json!({"demo_invite": link, "peer_id": engine.peer_id().to_base58()})
    );

    let accepter = tokio::spawn(accept_everyone(engine.clone()));
    let conversation = tokio::spawn(converse(engine.clone()));
    let listener = tokio::spawn(listen(engine.clone()));
    let jammer = tokio::spawn(answer_jams(engine.clone()));
    let outcome = control::serve(engine.clone(), tokio::io::stdin(), tokio::io::stdout()).await;
    if outcome.is_ok() && !control::stop_requested() {
        // End of input: a demo friend in the background keeps going until it is told to stop.
        control::stop_signal().await;
    }
    accepter.abort();
    conversation.abort();
    listener.abort();
    jammer.abort();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("control protocol failed: {e}")),
    }
}

/// Accepts each friend request as it arrives (and any that were waiting).
async fn accept_everyone(engine: Engine) {
    let mut events = engine.subscribe();
    if let Ok(Response::Requests { incoming, .. }) = engine.call(Request::ListRequests).await {
        for card in incoming {
            accept(&engine, card.peer_id).await;
        }
    }
    loop {
        match events.recv().await {
            Ok(Event::RequestReceived(card)) => accept(&engine, card.peer_id).await,
            Ok(Event::FriendAdded(friend)) => {
                tracing::info!(name = %friend.display_name, "a new friend")
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn accept(engine: &Engine, peer_id: String) {
    match engine
        .call(Request::AcceptRequest {
            peer_id: peer_id.clone(),
        })
        .await
    {
        Ok(_) => tracing::info!(peer = %peer_id, "accepted a friend request"),
        Err(error) => tracing::warn!(peer = %peer_id, %error, "could not accept a friend request"),
    }
}

/// How long the album's scan may take before the demo friend gives up listening (the rest of it
/// goes on): generous for a loaded machine, where the scan takes well under a second.
const SCAN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes the demo album, waits until the library holds it, turns sharing on and plays it on
/// repeat. Failing that, the demo friend carries on without music (and says why in its log).
async fn listen(engine: Engine) {
    if let Err(error) = start_listening(&engine).await {
        tracing::warn!(%error, "the demo friend cannot play its music");
    }
}

async fn start_listening(engine: &Engine) -> Result<(), String> {
    let data_dir = match engine.call(Request::Status).await {
        Ok(Response::Status(status)) => std::path::PathBuf::from(status.data_dir),
        Ok(other) => return Err(format!("unexpected answer to status: {other:?}")),
        Err(e) => return Err(e.to_string()),
    };
    let folder = data_dir.join("demo-music");
    let paths = {
        let target = folder.clone();
        tokio::task::spawn_blocking(move || music::write_album(&target))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot write {}: {e}", folder.display()))?
    };
    let folder_text = folder.to_string_lossy().into_owned();
    let folders = match engine.call(Request::ListFolders).await {
        Ok(Response::Folders { folders }) => folders,
        Ok(other) => return Err(format!("unexpected answer to list_folders: {other:?}")),
        Err(e) => return Err(e.to_string()),
    };
    if !folders.contains(&folder_text) {
        engine
            .call(Request::AddFolder { path: folder_text })
            .await
            .map_err(|e| e.to_string())?;
    }
    // The scan runs in the background: the album is ready when every file is a track.
    let wanted: Vec<String> = paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let started = tokio::time::Instant::now();
    let (hashes, art) = loop {
        let all = Request::ListTracks {
            query: None,
            album: None,
            artist: None,
        };
        let tracks = match engine.call(all).await {
            Ok(Response::Tracks { tracks }) => tracks,
            Ok(other) => return Err(format!("unexpected answer to list_tracks: {other:?}")),
            Err(e) => return Err(e.to_string()),
        };
        let found: Vec<_> = wanted
            .iter()
            .filter_map(|path| tracks.iter().find(|t| &t.path == path))
            .collect();
        if found.len() == wanted.len() {
            let art = found.iter().find_map(|t| t.art.clone());
            break (found.into_iter().map(|t| t.hash.clone()).collect(), art);
        }
        let hashes = found;
        if started.elapsed() > SCAN_TIMEOUT {
            return Err(format!(
                "the library took in {} of the {} demo tracks within {SCAN_TIMEOUT:?}",
                hashes.len(),
                wanted.len()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // Friends are sent the cover's small JPEG, which the scan makes a moment after the tracks:
    // waiting for it means the first track's status has its cover too.
    if let Some(art) = art {
        while started.elapsed() < SCAN_TIMEOUT {
            let small = Request::GetArt {
                hash: art.clone(),
                thumb: Some(true),
            };
            match engine.call(small).await {
                Ok(Response::Art { data_url }) if data_url.starts_with("data:image/jpeg") => break,
                Ok(_) | Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }
    for request in [
        Request::SetActivitySharing { on: true },
        Request::SetRepeat {
            mode: RepeatMode::All,
        },
        Request::Play {
            hashes,
            start: None,
        },
    ] {
        engine.call(request).await.map_err(|e| e.to_string())?;
    }
    tracing::info!("the demo friend is listening to its album, for its friends to see");
    Ok(())
}

/// How long the demo friend "thinks" before it accepts a jam invitation or request: a person
/// takes a moment to read the notification, and the window shows the invitation waiting.
const JAM_ANSWER_DELAY: std::time::Duration = std::time::Duration::from_millis(1200);

/// Follows jam invitations and requests and accepts those [`JamAnswerer`] chooses, after
/// [`JAM_ANSWER_DELAY`].
async fn answer_jams(engine: Engine) {
    let mut events = engine.subscribe();
    let mut answerer = JamAnswerer::default();
    // The invitation being answered, and when to accept it.
    let mut due: Option<(String, tokio::time::Instant)> = None;
    loop {
        let deadline = due.as_ref().map(|(_, at)| *at);
        tokio::select! {
            event = events.recv() => match event {
                Ok(Event::JamInvited(invite)) => {
                    let from_friend = is_friend(&engine, &invite.peer_id).await;
                    if answerer.on_invited(&invite, from_friend) {
                        let at = tokio::time::Instant::now() + JAM_ANSWER_DELAY;
                        due = Some((invite.invite_id, at));
                    }
                }
                Ok(Event::JamInvitesChanged { invites }) => {
                    answerer.on_invites(&invites);
                    if answerer.answering().is_none() {
                        // Withdrawn, expired, or answered by someone driving us: nothing to do.
                        due = None;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            () = sleep_until(deadline), if deadline.is_some() => {
                if let Some((invite_id, _)) = due.take() {
                    let accept = Request::AcceptJam { invite_id: invite_id.clone() };
                    match engine.call(accept).await {
                        Ok(_) => tracing::info!(invite = %invite_id, "the demo friend accepted a jam"),
                        Err(error) => tracing::info!(%error, "the demo friend could not accept a jam"),
                    }
                    answerer.answered(&invite_id);
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn is_friend(engine: &Engine, peer_id: &str) -> bool {
    match engine.call(Request::ListFriends).await {
        Ok(Response::Friends { friends }) => friends.iter().any(|f| f.peer_id == peer_id),
        Ok(_) | Err(_) => false,
    }
}

/// Decides which jam invitations and requests the demo friend accepts (sans-IO): those a friend
/// sent it, one at a time — one arriving while another is being answered is left alone (it
/// expires, or its sender withdraws it), as is one about to expire.
#[derive(Debug, Default)]
pub struct JamAnswerer {
    /// The invitation being answered.
    answering: Option<String>,
}

impl JamAnswerer {
    /// A `jam_invited` event: whether to accept it (after the delay).
    pub fn on_invited(&mut self, invite: &JamInvite, from_friend: bool) -> bool {
        let time_left = invite.expires_in_ms > JAM_ANSWER_DELAY.as_millis() as u64;
        if !invite.incoming || !from_friend || !time_left || self.answering.is_some() {
            return false;
        }
        self.answering = Some(invite.invite_id.clone());
        true
    }

    /// The invitations waiting now: the one being answered is dropped once it is gone.
    pub fn on_invites(&mut self, invites: &[JamInvite]) {
        if let Some(id) = &self.answering {
            if !invites.iter().any(|i| i.incoming && &i.invite_id == id) {
                self.answering = None;
            }
        }
    }

    /// The accept was sent (whatever came of it).
    pub fn answered(&mut self, invite_id: &str) {
        if self.answering.as_deref() == Some(invite_id) {
            self.answering = None;
        }
    }

    pub fn answering(&self) -> Option<&str> {
        self.answering.as_deref()
    }
}

/// Follows new and changed messages and does what [`Responder`] decides.
async fn converse(engine: Engine) {
    let mut events = engine.subscribe();
    let mut responder = Responder::default();
    loop {
        let message = match events.recv().await {
            Ok(Event::MessageChanged(message)) => message,
            Ok(_) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        for action in responder.on_message(&message, now_millis()) {
            let request = match action {
                Action::MarkRead { conversation } => Request::MarkRead { conversation },
                Action::Reply {
                    conversation,
                    text,
                    reply_to,
                } => Request::SendMessage {
                    conversation,
                    text,
                    reply_to: Some(reply_to),
                },
                Action::React {
                    conversation,
                    entry,
                    emoji,
                } => Request::React {
                    conversation,
                    entry,
                    emoji,
                    on: true,
                },
            };
            if let Err(error) = engine.call(request).await {
                // Messages off, a group left meanwhile…: the demo just carries on.
                tracing::info!(%error, "the demo friend could not answer");
            }
        }
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What the demo friend does about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    MarkRead {
        conversation: String,
    },
    Reply {
        conversation: String,
        text: String,
        reply_to: String,
    },
    React {
        conversation: String,
        entry: String,
        emoji: String,
    },
}

/// The replies, by what they answer. A text equal to one of them is never answered: two demo
/// friends talking to each other stop after one reply each (and the rate limit bounds anything
/// else that could go back and forth).
const GREETINGS: &[&str] = &[
    "Hi! 👋 Nice to hear from you. Share a track with me and I'll tell you what I think.",
    "Hello there! 🎶 I'm a demo friend: I answer, I read, and I react to shares.",
];
const ANSWERS: &[&str] = &[
    "Good question! I'm only a demo friend, but I'm listening. 🎧",
    "Hmm, let me think about that over a good song. 🤔",
];
const CHAT: &[&str] = &[
    "Got it! 😊",
    "Ha, nice. Tell me more!",
    "Sounds good to me. 🎵",
    "Noted! Have you tried sharing a track? Use the share button by the message box.",
];
/// The reaction every share card gets.
const SHARE_REACTION: &str = "🔥";
/// Messages older than this when they arrive (a backlog synced after a long absence) are marked
/// read but not answered: a reply hours later would be confusing.
const FRESH_MS: i64 = 10 * 60 * 1000;
/// Replies per conversation in a burst, then one more every [`REFILL_MS`]: someone typing fast
/// gets a few answers, a flood gets few.
const BURST: u32 = 3;
const REFILL_MS: i64 = 20_000;
/// Messages remembered as handled (their later `message_changed` events — a reaction, a read —
/// are ignored); the oldest are forgotten first.
const REMEMBERED: usize = 4096;

/// Decides what the demo friend does about each `message_changed` event (sans-IO: time is an
/// argument).
#[derive(Debug, Default)]
pub struct Responder {
    /// Messages already handled, oldest first, mirrored in `handled_set`.
    handled: VecDeque<String>,
    handled_set: HashSet<String>,
    /// Per conversation: replies left, and when the last refill was counted.
    budgets: HashMap<String, (u32, i64)>,
    /// Which reply of a list comes next.
    turn: usize,
}

impl Responder {
    pub fn on_message(&mut self, message: &ChatMessage, now_ms: i64) -> Vec<Action> {
        if message.mine || message.deleted || !self.first_time(&message.id) {
            return Vec::new();
        }
        let conversation = message.conversation.clone();
        let mut actions = Vec::new();
        match message.kind {
            MessageKind::Notice => return actions,
            MessageKind::Text => {
                actions.push(Action::MarkRead {
                    conversation: conversation.clone(),
                });
                let fresh = now_ms.saturating_sub(message.at) <= FRESH_MS;
                if fresh && !is_a_reply_of_ours(&message.text) && self.spend(&conversation, now_ms)
                {
                    actions.push(Action::Reply {
                        conversation,
                        text: self.reply_to(&message.text),
                        reply_to: message.id.clone(),
                    });
                }
            }
            MessageKind::Share => {
                actions.push(Action::MarkRead {
                    conversation: conversation.clone(),
                });
                let reaction = message
                    .share
                    .as_ref()
                    .and_then(|card| Some((card.reaction.as_deref()?, card.title.as_str())));
                if let Some((emoji, title)) = reaction {
                    // A reaction to what we are listening to: thanks, once, within the budget.
                    let fresh = now_ms.saturating_sub(message.at) <= FRESH_MS;
                    if fresh && self.spend(&conversation, now_ms) {
                        actions.push(Action::Reply {
                            conversation,
                            text: thanks_for(emoji, title),
                            reply_to: message.id.clone(),
                        });
                    }
                    return actions;
                }
                let reacted = message
                    .reactions
                    .iter()
                    .any(|r| r.mine && r.emoji == SHARE_REACTION);
                if !reacted {
                    actions.push(Action::React {
                        conversation,
                        entry: message.id.clone(),
                        emoji: SHARE_REACTION.into(),
                    });
                }
            }
        }
        actions
    }

    /// Whether `id` is seen for the first time (and remembers it).
    fn first_time(&mut self, id: &str) -> bool {
        if !self.handled_set.insert(id.to_string()) {
            return false;
        }
        self.handled.push_back(id.to_string());
        if self.handled.len() > REMEMBERED {
            if let Some(oldest) = self.handled.pop_front() {
                self.handled_set.remove(&oldest);
            }
        }
        true
    }

    /// Takes one reply from the conversation's budget, if any is left.
    fn spend(&mut self, conversation: &str, now_ms: i64) -> bool {
        let (left, since) = self
            .budgets
            .entry(conversation.to_string())
            .or_insert((BURST, now_ms));
        let refills = now_ms.saturating_sub(*since) / REFILL_MS;
        if refills > 0 {
            *left = (*left)
                .saturating_add(refills.min(BURST as i64) as u32)
                .min(BURST);
            *since += refills * REFILL_MS;
        }
        if *left == 0 {
            return false;
        }
        if *left == BURST {
            // A full budget starts its refill clock now, not at some old refill.
            *since = now_ms;
        }
        *left -= 1;
        true
    }

    fn reply_to(&mut self, text: &str) -> String {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let list = if text.contains('?') {
            ANSWERS
        } else if words
            .iter()
            .any(|w| ["hi", "hello", "hey", "hej", "hallo", "yo"].contains(w))
        {
            GREETINGS
        } else {
            CHAT
        };
        self.turn = self.turn.wrapping_add(1);
        list[self.turn % list.len()].to_string()
    }
}

/// The thank-you for a reaction to a track, by emoji (`{}` is the track's title).
const THANKS: &[(&str, &str)] = &[
    (
        "❤️",
        "Glad you love “{}” too! ❤️ It's been on repeat here all day.",
    ),
    ("🔥", "Right? “{}” is a good one. 🔥"),
    ("😂", "Ha! “{}” makes me smile too. 😂"),
    ("😮", "I know, “{}” surprised me the first time as well. 😮"),
    ("😢", "“{}” gets me every time. 😢"),
    ("👏", "Thanks! I'll pass your applause on for “{}”. 👏"),
];
/// For an emoji not in the list (a newer app's, say).
const THANKS_OTHER: &str = "Thanks for reacting to “{}”! 🎧";

fn thanks_for(emoji: &str, title: &str) -> String {
    let template = THANKS
        .iter()
        .find(|(e, _)| *e == emoji)
        .map_or(THANKS_OTHER, |(_, t)| *t);
    template.replacen("{}", title, 1)
}

fn is_a_reply_of_ours(text: &str) -> bool {
    let text = text.trim();
    let canned = [GREETINGS, ANSWERS, CHAT]
        .iter()
        .any(|list| list.contains(&text));
    let thanks =
        THANKS
            .iter()
            .map(|(_, t)| *t)
            .chain([THANKS_OTHER])
            .any(|template| match template.split_once("{}") {
                Some((before, after)) => text.starts_with(before) && text.ends_with(after),
                None => text == template,
            });
    canned || thanks
}

#[cfg(test)]
mod tests {
    use earshot_engine::api::{JamInviteKind, Reaction, ShareCard, ShareKind};

    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn message(id: &str, kind: MessageKind, text: &str) -> ChatMessage {
        ChatMessage {
            id: id.into(),
            conversation: "c1".into(),
            kind,
            author: "12D3KooWfriend".into(),
            author_name: "Ada".into(),
            mine: false,
            at: NOW,
            text: text.into(),
            share: None,
            reply_to: None,
            edited: false,
            deleted: false,
            reactions: Vec::new(),
            delivery: None,
        }
    }

    fn replies(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Reply { text, .. } => Some(text.as_str()),
                Action::MarkRead { .. } | Action::React { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_text_from_a_friend_is_read_and_answered_in_reply_to_it() {
        let mut responder = Responder::default();
        let actions = responder.on_message(&message("m1", MessageKind::Text, "hey there"), NOW);
        assert_eq!(
            actions[0],
            Action::MarkRead {
                conversation: "c1".into()
            }
        );
        match &actions[1] {
            Action::Reply { reply_to, text, .. } => {
                assert_eq!(reply_to, "m1");
                assert!(GREETINGS.contains(&text.as_str()), "{text}");
            }
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn own_messages_notices_and_deleted_messages_get_nothing() {
        let mut responder = Responder::default();
        let mut mine = message("m1", MessageKind::Text, "hello");
        mine.mine = true;
        let mut deleted = message("m2", MessageKind::Text, "");
        deleted.deleted = true;
        let notice = message("m3", MessageKind::Notice, "Ada added Bo");
        for m in [mine, deleted, notice] {
            assert_eq!(responder.on_message(&m, NOW), Vec::new(), "{m:?}");
        }
    }

    #[test]
    fn a_message_is_handled_once_however_often_it_changes() {
        let mut responder = Responder::default();
        let mut m = message("m1", MessageKind::Text, "hello");
        assert_eq!(replies(&responder.on_message(&m, NOW)).len(), 1);
        m.reactions.push(Reaction {
            emoji: "👍".into(),
            names: vec!["Ada".into()],
            mine: false,
        });
        assert_eq!(responder.on_message(&m, NOW + 1), Vec::new());
    }

    #[test]
    fn two_demo_friends_stop_after_one_reply_each() {
        let (mut robin, mut sam) = (Responder::default(), Responder::default());
        let mut said = message("m0", MessageKind::Text, "hello Sam");
        let mut replies_seen = 0;
        for turn in 0..10 {
            let responder = if turn % 2 == 0 { &mut sam } else { &mut robin };
            let actions = responder.on_message(&said, NOW + turn);
            match replies(&actions).first() {
                Some(text) => {
                    replies_seen += 1;
                    said = message(&format!("m{}", turn + 1), MessageKind::Text, text);
                }
                None => break,
            }
        }
        assert_eq!(replies_seen, 1, "a reply of ours is never answered");
    }

    #[test]
    fn a_flood_gets_a_few_replies_then_one_per_refill() {
        let mut responder = Responder::default();
        let mut answered = 0;
        for i in 0..50 {
            let m = message(&format!("m{i}"), MessageKind::Text, &format!("spam {i}"));
            answered += replies(&responder.on_message(&m, NOW + i)).len();
        }
        assert_eq!(answered, BURST as usize);
        let later = message("late", MessageKind::Text, "still there");
        assert_eq!(
            replies(&responder.on_message(&later, NOW + REFILL_MS + 50)).len(),
            1
        );
        let again = message("later", MessageKind::Text, "and now");
        assert_eq!(
            replies(&responder.on_message(&again, NOW + REFILL_MS + 51)).len(),
            0
        );
    }

    #[test]
    fn a_backlog_from_long_ago_is_read_but_not_answered() {
        let mut responder = Responder::default();
        let mut old = message("m1", MessageKind::Text, "hello");
        old.at = NOW - FRESH_MS - 1;
        let actions = responder.on_message(&old, NOW);
        assert_eq!(
            actions,
            vec![Action::MarkRead {
                conversation: "c1".into()
            }]
        );
    }

    #[test]
    fn a_share_gets_a_fire_once_and_no_text() {
        let mut responder = Responder::default();
        let mut share = message("s1", MessageKind::Share, "");
        share.share = Some(ShareCard {
            kind: ShareKind::Track,
            title: "Tone".into(),
            artist: "Test".into(),
            duration_ms: 1000,
            hashes: vec!["ab".repeat(32)],
            cover: None,
            local_tracks: 0,
            reaction: None,
        });
        let actions = responder.on_message(&share, NOW);
        assert_eq!(replies(&actions).len(), 0);
        assert!(actions.contains(&Action::React {
            conversation: "c1".into(),
            entry: "s1".into(),
            emoji: SHARE_REACTION.into()
        }));
        assert_eq!(responder.on_message(&share, NOW + 1), Vec::new());
    }

    fn reaction_card(id: &str, emoji: &str) -> ChatMessage {
        let mut card = message(id, MessageKind::Share, "");
        card.share = Some(ShareCard {
            kind: ShareKind::Track,
            title: "Kites".into(),
            artist: "Robin".into(),
            duration_ms: 40_000,
            hashes: vec!["cd".repeat(32)],
            cover: None,
            local_tracks: 1,
            reaction: Some(emoji.into()),
        });
        card
    }

    #[test]
    fn a_reaction_to_our_track_is_read_and_thanked_for_naming_the_track_without_a_fire() {
        let mut responder = Responder::default();
        let actions = responder.on_message(&reaction_card("r1", "👏"), NOW);
        assert_eq!(
            actions[0],
            Action::MarkRead {
                conversation: "c1".into()
            }
        );
        assert_eq!(
            replies(&actions),
            vec!["Thanks! I'll pass your applause on for “Kites”. 👏"]
        );
        assert!(
            !actions.iter().any(|a| matches!(a, Action::React { .. })),
            "a reaction is not a share to rate: {actions:?}"
        );
        assert_eq!(
            responder.on_message(&reaction_card("r1", "👏"), NOW + 1),
            Vec::new()
        );
    }

    #[test]
    fn every_activity_emoji_has_its_own_thanks_and_each_is_recognised_as_ours() {
        for emoji in earshot_engine::api::ACTIVITY_EMOJIS {
            let text = thanks_for(emoji, "Kites");
            assert_ne!(
                text,
                thanks_for("🦜", "Kites"),
                "{emoji} has its own thanks"
            );
            assert!(text.contains("“Kites”"), "{text}");
            assert!(is_a_reply_of_ours(&text), "{text}");
        }
        assert!(is_a_reply_of_ours(&thanks_for("🦜", "Kites")));
        assert!(!is_a_reply_of_ours("Right? This is a good one."));
    }

    #[test]
    fn a_flood_of_reactions_gets_a_few_thanks() {
        let mut responder = Responder::default();
        let thanked: usize = (0..20)
            .map(|i| {
                replies(&responder.on_message(&reaction_card(&format!("r{i}"), "❤️"), NOW + i))
                    .len()
            })
            .sum();
        assert_eq!(thanked, BURST as usize);
    }

    #[test]
    fn a_share_already_reacted_to_by_us_gets_no_second_reaction() {
        // E.g. after a restart, when the share comes by again.
        let mut responder = Responder::default();
        let mut share = message("s1", MessageKind::Share, "");
        share.reactions.push(Reaction {
            emoji: SHARE_REACTION.into(),
            names: vec!["Robin".into()],
            mine: true,
        });
        let actions = responder.on_message(&share, NOW);
        assert!(
            !actions.iter().any(|a| matches!(a, Action::React { .. })),
            "{actions:?}"
        );
    }
    fn jam_invite(id: &str, kind: JamInviteKind, incoming: bool) -> JamInvite {
        JamInvite {
            invite_id: id.into(),
            kind,
            incoming,
            peer_id: "12D3KooWfriend".into(),
            display_name: "Ada".into(),
            playing: None,
            expires_in_ms: 120_000,
        }
    }

    #[test]
    fn a_friends_invitation_and_a_friends_request_are_both_accepted() {
        for kind in [JamInviteKind::Invite, JamInviteKind::Request] {
            let mut answerer = JamAnswerer::default();
            assert!(
                answerer.on_invited(&jam_invite("j1", kind, true), true),
                "{kind:?} from a friend"
            );
            assert_eq!(answerer.answering(), Some("j1"));
        }
    }

    #[test]
    fn strangers_our_own_invitations_and_nearly_expired_ones_are_left_alone() {
        let mut answerer = JamAnswerer::default();
        let stranger = jam_invite("j1", JamInviteKind::Request, true);
        assert!(!answerer.on_invited(&stranger, false), "not a friend");
        let ours = jam_invite("j2", JamInviteKind::Invite, false);
        assert!(!answerer.on_invited(&ours, true), "sent by us");
        let mut late = jam_invite("j3", JamInviteKind::Invite, true);
        late.expires_in_ms = 500;
        assert!(!answerer.on_invited(&late, true), "gone before we answer");
        assert_eq!(answerer.answering(), None);
    }

    #[test]
    fn one_invitation_is_answered_at_a_time() {
        let mut answerer = JamAnswerer::default();
        assert!(answerer.on_invited(&jam_invite("j1", JamInviteKind::Invite, true), true));
        assert!(
            !answerer.on_invited(&jam_invite("j2", JamInviteKind::Request, true), true),
            "a second one while the first is being answered"
        );
        answerer.answered("j1");
        assert!(answerer.on_invited(&jam_invite("j3", JamInviteKind::Request, true), true));
    }

    #[test]
    fn an_invitation_withdrawn_or_answered_meanwhile_is_dropped() {
        let mut answerer = JamAnswerer::default();
        let first = jam_invite("j1", JamInviteKind::Invite, true);
        assert!(answerer.on_invited(&first, true));
        answerer.on_invites(std::slice::from_ref(&first));
        assert_eq!(answerer.answering(), Some("j1"), "still waiting");
        answerer.on_invites(&[]);
        assert_eq!(answerer.answering(), None, "gone from the list");
        assert!(answerer.on_invited(&jam_invite("j2", JamInviteKind::Invite, true), true));
    }
}
