//! Listening Activity (design §6 `presence`): what this user listens to, pushed to online friends
//! when they opt in; what friends listen to, shown and acted on.
//!
//! - `wire.rs` — the update on the wire, this user's activity from the player, checks (pure);
//! - `actions.rs` — play, queue, add to library, react (the API façade);
//! - here — the service: it follows the player and the friends list on the engine's event bus,
//!   pushes updates over `/earshot/presence/1`, and keeps friends' latest updates in memory.
//!
//! Who hears what: only friends, ever. The network loop refuses presence from anyone not on the
//! friends list, and the service checks the store again before keeping an update; updates go out
//! only to connected friends. Sharing is off until the user turns it on; off, or a private
//! session, withdraws the status from every friend's screen at once (an update with no
//! activity). Each friend is sent the current state when they connect — the activity, or "none"
//! — so a status withdrawn while they were away is gone when they come back.
//!
//! One push per friend is in flight at a time; changes made meanwhile are coalesced, and the
//! update is computed when it is sent, so a friend always gets the latest, never a backlog.

pub(crate) mod actions;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use libp2p::PeerId;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::api::{
    ActivitySettings, ApiError, Event, Friend, FriendActivity, PlayerState, Request, Response,
};
use crate::chat::Chat;
use crate::friends::Friends;
use crate::library::Library;
use crate::net::protocol::{PresenceRefusal, PresenceRequest, PresenceResponse};
use crate::net::{Client, PresenceNetEvent};
use crate::player::Player;
use crate::store::{now_millis, Store, StoreError};
use wire::{LastPlay, Listening, WireActivity};

/// Setting: whether the user shares their activity with friends.
const SHARING_KEY: &str = "activity_sharing";
/// Setting: when private sessions ran (unix ms, start and end; an open end is a session that
/// ran until Earshot stopped). Plays in them never become the "last played" status.
const PRIVATE_SPANS_KEY: &str = "activity_private_spans";
/// Private sessions remembered.
const PRIVATE_SPANS_KEPT: usize = 32;
/// Plays looked through for the latest one made outside a private session.
const PLAYS_LOOKED_AT: u32 = 200;

type Spans = Vec<(i64, Option<i64>)>;
/// The first pause before an update a friend did not take is sent again.
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// How often a friend who says we are not their friend is asked again (pairing races).
const MAX_REFUSALS: u32 = 4;
/// The longest pause between tries of an update a connected friend did not take, in steps of
/// [`BUSY_RETRY`].
const MAX_PAUSE_STEPS: u32 = 5;

/// The handles the presence and jam services work through.
pub struct Parts {
    pub store: Store,
    pub net: Client,
    pub library: Library,
    pub chat: Chat,
    pub player: Player,
    pub events: broadcast::Sender<Event>,
}

/// A handle on the presence service. Cheap to clone.
#[derive(Clone)]
pub struct Presence {
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    net: Client,
    library: Library,
    chat: Chat,
    player: Player,
    friends: Friends,
    events: broadcast::Sender<Event>,
    state: Mutex<State>,
    /// Asks the service's loop to answer once it has handled every event already on the bus.
    settle: mpsc::Sender<oneshot::Sender<()>>,
}

#[derive(Default)]
struct State {
    sharing: bool,
    private_session: bool,
    listening: Listening,
    /// The last track played, for when nothing plays.
    last: Option<LastPlay>,
    /// The cover of the track friends are told about (by track hash).
    cover: Option<(String, Vec<u8>)>,
    friends: HashMap<PeerId, Known>,
    /// Friends with a push under way; `true`: something changed since it was computed.
    pushes: HashMap<PeerId, bool>,
}

/// A friend as the service knows them.
struct Known {
    name: String,
    online: bool,
    /// Their latest update and when it arrived (our clock).
    heard: Option<(WireActivity, i64)>,
}

impl Presence {
    /// Loads the setting, the friends and the player's state, and starts following them.
    pub async fn start(
        parts: Parts,
        friends: &Friends,
        inbound: mpsc::Receiver<PresenceNetEvent>,
    ) -> Result<Presence, StoreError> {
        let Parts {
            store,
            net,
            library,
            chat,
            player,
            events,
        } = parts;
        // Subscribed before anything is read, so no change falls in between.
        let bus = events.subscribe();
        let now = now_millis();
        let sharing = store
            .call(move |c| {
                // A private session open when Earshot stopped ended then (about now).
                let mut spans: Spans =
                    crate::store::settings::get(c, PRIVATE_SPANS_KEY)?.unwrap_or_default();
                if let Some(last) = spans.last_mut().filter(|(_, end)| end.is_none()) {
                    last.1 = Some(now);
                    crate::store::settings::put(c, PRIVATE_SPANS_KEY, &spans)?;
                }
                Ok(crate::store::settings::get::<bool>(c, SHARING_KEY)?.unwrap_or(false))
            })
            .await?;
        let (settle, settle_requests) = mpsc::channel(8);
        let presence = Presence {
            shared: Arc::new(Shared {
                settle,
                store,
                net,
                library,
                chat,
                player,
                friends: friends.clone(),
                events,
                state: Mutex::new(State {
                    sharing,
                    ..State::default()
                }),
            }),
        };
        // What we share first, then who to tell: a friend already connected is sent it at once.
        presence.refresh_last_play().await;
        if let Ok(Response::Player(player)) = presence.shared.player.call(Request::GetPlayer).await
        {
            presence.on_player(&player).await;
        }
        presence.load_cover().await;
        presence.reload_friends().await;
        let runner = presence.clone();
        crate::supervise::spawn(
            "presence",
            presence.shared.events.clone(),
            runner.run(bus, inbound, settle_requests),
        );
        Ok(presence)
    }

    async fn run(
        self,
        mut bus: broadcast::Receiver<Event>,
        mut inbound: mpsc::Receiver<PresenceNetEvent>,
        mut settle: mpsc::Receiver<oneshot::Sender<()>>,
    ) {
        loop {
            tokio::select! {
                // The bus first: a settle request is answered only once no event is waiting.
                biased;
                event = bus.recv() => match event {
                    Ok(event) => self.on_event(event).await,
                    // Missed something: the friends and the player's state are read again.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.reload_friends().await;
                        if let Ok(Response::Player(player)) =
                            self.shared.player.call(Request::GetPlayer).await
                        {
                            self.on_player(&player).await;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                update = inbound.recv() => match update {
                    Some(update) => self.on_inbound(update).await,
                    None => return,
                },
                Some(done) = settle.recv() => {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Waits until the service has handled every event on the bus when this was called: the
    /// player's news from a call that just returned is in this service's state afterwards.
    async fn settled(&self) {
        let (done, answered) = oneshot::channel();
        if self.shared.settle.send(done).await.is_ok() {
            // The loop gone (the engine stopping): nothing more will be handled anyway.
            let _ = answered.await;
        }
    }

    async fn on_event(&self, event: Event) {
        match event {
            Event::PlayerChanged(player) => self.on_player(&player).await,
            Event::FriendAdded(friend) | Event::FriendUpdated(friend) => {
                if let Some(peer) = self.on_friend(friend) {
                    self.publish(peer).await;
                }
            }
            Event::FriendRemoved { peer_id } => {
                if let Ok(peer) = peer_id.parse::<PeerId>() {
                    lock(&self.shared.state).friends.remove(&peer);
                }
            }
            // Everything else is some other service's news.
            _ => {}
        }
    }

    /// Follows the player; tells friends when the track, the state or the position (a seek)
    /// changed.
    async fn on_player(&self, player: &PlayerState) {
        let now = now_millis();
        let (news, idle) = {
            let mut state = lock(&self.shared.state);
            let next = state.listening.follow(player, now);
            let news = state.listening.is_news(&next);
            state.listening = next;
            (news, matches!(state.listening, Listening::Idle))
        };
        if !news {
            return;
        }
        if idle {
            // Stopped: the track just played is now the last one (the player records plays).
            self.refresh_last_play().await;
        }
        self.load_cover().await;
        self.tell_everyone();
    }

    /// The last play, from the library's history (so it survives a restart).
    async fn refresh_last_play(&self) {
        let Ok(plays) = self.shared.library.recent_plays(PLAYS_LOOKED_AT).await else {
            return;
        };
        let spans: Spans = self
            .shared
            .store
            .call(|c| crate::store::settings::get(c, PRIVATE_SPANS_KEY))
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let now = now_millis();
        let private = |at: i64| {
            spans
                .iter()
                .any(|(start, end)| *start <= at && at <= end.unwrap_or(now))
        };
        let Some(play) = plays.into_iter().find(|p| !private(p.played_at)) else {
            lock(&self.shared.state).last = None;
            return;
        };
        // A track played from a friend and since gone from the cache is still named by the
        // history itself.
        let track = match self.shared.library.track(&play.hash).await {
            Ok(track) => track,
            Err(_) => crate::api::Track {
                hash: play.hash.clone(),
                path: String::new(),
                title: play.title.clone(),
                artists: vec![play.artist.clone()],
                artist: play.artist.clone(),
                album: play.album.clone(),
                album_artist: play.artist.clone(),
                track_no: None,
                disc_no: None,
                track_total: None,
                disc_total: None,
                compilation: false,
                year: None,
                genre: String::new(),
                duration_ms: 0,
                sample_rate: 0,
                channels: 0,
                codec: String::new(),
                art: None,
            },
        };
        lock(&self.shared.state).last = Some(LastPlay {
            track,
            played_at: play.played_at,
        });
    }

    /// Reads the small cover of the track friends are told about, once per track.
    async fn load_cover(&self) {
        let (hash, art) = {
            let state = lock(&self.shared.state);
            match state.listening.track(state.last.as_ref()) {
                Some(track) if state.cover.as_ref().map(|(h, _)| h) != Some(&track.hash) => {
                    (track.hash.clone(), track.art.clone())
                }
                Some(_) | None => return,
            }
        };
        let Some(art) = art else {
            lock(&self.shared.state).cover = Some((hash, Vec::new()));
            return;
        };
        let jpeg = self
            .shared
            .store
            .call(move |c| crate::library::store::art(c, &art, true))
            .await
            .ok()
            .flatten()
            .filter(|(mime, data)| {
                mime == "image/jpeg" && data.len() <= crate::chat::log::MAX_COVER_BYTES
            })
            .map(|(_, data)| data);
        // Art whose small JPEG the scan has not made yet is looked for again next time.
        if let Some(jpeg) = jpeg {
            lock(&self.shared.state).cover = Some((hash, jpeg));
        }
    }

    /// Notes a friend's name and connection. Returns the friend when what the window shows of
    /// them changed.
    fn on_friend(&self, friend: Friend) -> Option<PeerId> {
        let peer: PeerId = friend.peer_id.parse().ok()?;
        let online = friend.connection.is_some();
        let mut state = lock(&self.shared.state);
        let known = state.friends.entry(peer).or_insert_with(|| Known {
            name: friend.display_name.clone(),
            online: false,
            heard: None,
        });
        let came = online && !known.online;
        let went = !online && known.online;
        let renamed = known.name != friend.display_name;
        known.online = online;
        known.name = friend.display_name;
        if went {
            if let Some((activity, at)) = &mut known.heard {
                if wire::gone_offline(activity) {
                    *at = now_millis();
                }
            }
        }
        drop(state);
        if came {
            // Whatever we share now — or "nothing", withdrawing a status they still show.
            self.tell(peer);
        }
        (came || went || renamed).then_some(peer)
    }

    /// Reads the friends list again: new friends and connections are noted, former friends
    /// forgotten.
    async fn reload_friends(&self) {
        let Ok(list) = self.shared.friends.list_friends().await else {
            return;
        };
        let current: std::collections::HashSet<String> =
            list.iter().map(|f| f.peer_id.clone()).collect();
        lock(&self.shared.state)
            .friends
            .retain(|peer, _| current.contains(&peer.to_base58()));
        for friend in list {
            if let Some(peer) = self.on_friend(friend) {
                self.publish(peer).await;
            }
        }
    }

    /// What friends are told now: `None` when sharing is off or a private session runs.
    fn current(&self) -> Option<WireActivity> {
        let state = lock(&self.shared.state);
        if !state.sharing || state.private_session {
            return None;
        }
        let track = state.listening.track(state.last.as_ref())?;
        let cover = match &state.cover {
            Some((hash, jpeg)) if *hash == track.hash => jpeg.clone(),
            Some(_) | None => Vec::new(),
        };
        state
            .listening
            .to_wire(state.last.as_ref(), cover, now_millis())
    }

    /// Tells every connected friend.
    fn tell_everyone(&self) {
        let online: Vec<PeerId> = lock(&self.shared.state)
            .friends
            .iter()
            .filter(|(_, known)| known.online)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in online {
            self.tell(peer);
        }
    }

    /// Pushes the current state to `peer`, or marks the push under way to send again.
    fn tell(&self, peer: PeerId) {
        {
            let mut state = lock(&self.shared.state);
            if let Some(again) = state.pushes.get_mut(&peer) {
                *again = true;
                return;
            }
            state.pushes.insert(peer, false);
        }
        let this = self.clone();
        tokio::spawn(async move { this.push(peer).await });
    }

    /// Sends updates to `peer` until nothing changed meanwhile.
    async fn push(&self, peer: PeerId) {
        let mut failures = 0;
        let mut refusals = 0;
        loop {
            // The store has the last word: someone unfriended or blocked a moment ago (or whose
            // removal this service missed) is told nothing.
            let friend = self
                .shared
                .store
                .call(move |c| crate::chat::store::is_friend(c, &peer))
                .await
                .unwrap_or(false);
            if !friend {
                let mut state = lock(&self.shared.state);
                state.pushes.remove(&peer);
                state.friends.remove(&peer);
                return;
            }
            self.load_cover().await;
            let activity = self.current();
            let request = PresenceRequest::Activity { activity };
            let retry = match self.shared.net.send_presence(peer, request).await {
                Ok(PresenceResponse::Ack) => false,
                Ok(PresenceResponse::Refused {
                    reason: PresenceRefusal::Busy,
                }) => true,
                // A new friend may not have stored the friendship yet (their answer to our
                // invite is on its way): asked again a few times.
                Ok(PresenceResponse::Refused {
                    reason: PresenceRefusal::NotAllowed,
                }) => {
                    refusals += 1;
                    tracing::debug!(%peer, refusals, "a friend does not take our activity (yet)");
                    refusals <= MAX_REFUSALS
                }
                Ok(PresenceResponse::Refused {
                    reason: PresenceRefusal::Malformed,
                }) => {
                    tracing::warn!(%peer, "a friend found our activity malformed");
                    false
                }
                // Tried again while they are connected (a connection being replaced, a
                // timeout); once they are gone, they get the current state when they return.
                Err(error) => {
                    tracing::debug!(%peer, %error, "an activity update did not arrive");
                    true
                }
            };
            if retry {
                // Never given up while they are connected (a withdrawal must arrive), but
                // spaced out: 1, 2, … 5 s, then every 5 s.
                failures = (failures + 1).min(MAX_PAUSE_STEPS);
                tokio::time::sleep(BUSY_RETRY * failures).await;
            } else {
                failures = 0;
            }
            let mut state = lock(&self.shared.state);
            let online = state.friends.get(&peer).is_some_and(|k| k.online);
            match state.pushes.get_mut(&peer) {
                Some(again) if online && (*again || retry) => *again = false,
                Some(_) | None => {
                    state.pushes.remove(&peer);
                    return;
                }
            }
        }
    }

    /// A friend's update: kept only from a friend (checked against the store), only when well
    /// formed.
    async fn on_inbound(&self, update: PresenceNetEvent) {
        let PresenceNetEvent {
            peer,
            request,
            reply,
        } = update;
        let PresenceRequest::Activity { activity } = request;
        let friend = self
            .shared
            .store
            .call(move |c| crate::chat::store::is_friend(c, &peer))
            .await
            .unwrap_or(false);
        if !friend {
            reply
                .send(PresenceResponse::Refused {
                    reason: PresenceRefusal::NotAllowed,
                })
                .await;
            return;
        }
        let activity = match activity.map(wire::validate).transpose() {
            Ok(activity) => activity,
            Err(why) => {
                tracing::debug!(%peer, %why, "a friend's activity was malformed");
                reply
                    .send(PresenceResponse::Refused {
                        reason: PresenceRefusal::Malformed,
                    })
                    .await;
                return;
            }
        };
        {
            let mut state = lock(&self.shared.state);
            let known = state.friends.entry(peer).or_insert_with(|| Known {
                name: crate::friends::short_id(&peer),
                // They reached us, so they are connected (their `friend_updated` follows).
                online: true,
                heard: None,
            });
            known.heard = activity.map(|a| (a, now_millis()));
        }
        reply.send(PresenceResponse::Ack).await;
        self.publish(peer).await;
    }

    /// Tells the window what a friend's status is now.
    async fn publish(&self, peer: PeerId) {
        if let Some(shown) = self.shown(peer).await {
            let _ = self
                .shared
                .events
                .send(Event::FriendActivityChanged(Box::new(shown)));
        }
    }

    /// A friend's status as the window shows it.
    async fn shown(&self, peer: PeerId) -> Option<FriendActivity> {
        let (name, online, heard) = {
            let state = lock(&self.shared.state);
            let known = state.friends.get(&peer)?;
            (known.name.clone(), known.online, known.heard.clone())
        };
        let activity = match heard {
            Some((activity, at)) => {
                let hex = activity.hash.to_hex();
                let in_library = self
                    .shared
                    .store
                    .call(move |c| crate::library::store::track_by_hash(c, &hex))
                    .await
                    .ok()
                    .flatten()
                    .is_some();
                Some(wire::to_activity(&activity, at, in_library))
            }
            None => None,
        };
        Some(FriendActivity {
            peer_id: peer.to_base58(),
            fingerprint: crate::friends::fingerprint(&peer),
            display_name: name,
            online,
            activity,
        })
    }

    /// Every friend's status: playing first, then the most recent, then by name.
    pub async fn friend_activity(&self) -> Vec<FriendActivity> {
        let peers: Vec<PeerId> = lock(&self.shared.state).friends.keys().copied().collect();
        let mut all = Vec::with_capacity(peers.len());
        for peer in peers {
            if let Some(shown) = self.shown(peer).await {
                all.push(shown);
            }
        }
        all.sort_by(|a, b| {
            let rank = |f: &FriendActivity| match &f.activity {
                Some(a) => (
                    a.state == crate::api::ActivityState::Playing && f.online,
                    a.as_of,
                ),
                None => (false, i64::MIN),
            };
            rank(b).cmp(&rank(a)).then_with(|| {
                a.display_name
                    .to_lowercase()
                    .cmp(&b.display_name.to_lowercase())
            })
        });
        all
    }

    pub fn settings(&self) -> ActivitySettings {
        let state = lock(&self.shared.state);
        ActivitySettings {
            sharing: state.sharing,
            private_session: state.private_session,
        }
    }

    /// Turns sharing on or off (remembered); friends hear of it at once.
    pub async fn set_sharing(&self, on: bool) -> Result<ActivitySettings, ApiError> {
        self.shared
            .store
            .call(move |c| crate::store::settings::put(c, SHARING_KEY, &on))
            .await?;
        lock(&self.shared.state).sharing = on;
        Ok(self.settings_changed().await)
    }

    /// Starts or ends a private session (not remembered: a restart ends it).
    pub async fn set_private_session(&self, on: bool) -> Result<ActivitySettings, ApiError> {
        if !on {
            // What the player did while the session ran (a track played, then stopped) must be
            // known before the status is shown again: shown from news still on its way, the
            // track played in private could be announced.
            self.settled().await;
        }
        let was = std::mem::replace(&mut lock(&self.shared.state).private_session, on);
        if was != on {
            let now = now_millis();
            self.shared
                .store
                .call(move |c| {
                    let mut spans: Spans =
                        crate::store::settings::get(c, PRIVATE_SPANS_KEY)?.unwrap_or_default();
                    if on {
                        spans.push((now, None));
                    } else if let Some(last) = spans.last_mut().filter(|(_, e)| e.is_none()) {
                        last.1 = Some(now);
                    }
                    let excess = spans.len().saturating_sub(PRIVATE_SPANS_KEPT);
                    spans.drain(..excess);
                    crate::store::settings::put(c, PRIVATE_SPANS_KEY, &spans)
                })
                .await?;
        }
        Ok(self.settings_changed().await)
    }

    async fn settings_changed(&self) -> ActivitySettings {
        if matches!(lock(&self.shared.state).listening, Listening::Idle) {
            self.refresh_last_play().await;
        }
        self.load_cover().await;
        self.tell_everyone();
        let settings = self.settings();
        let _ = self
            .shared
            .events
            .send(Event::ActivitySettingsChanged(settings));
        settings
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
