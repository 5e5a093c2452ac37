//! Messages (design §6 "Conversation logs"): 1:1 and group conversations delivered without a
//! server.
//!
//! - `log.rs` — entries, signatures, hybrid logical time, membership rules (pure);
//! - `store.rs` — the log in SQLite and the tables derived from it;
//! - `view.rs` — what the window reads (conversations, pages, search);
//! - `sync.rs` — anti-entropy over `/earshot/sync/1`: what this peer answers and pushes;
//! - `actions.rs` — what the user does (the API façade).
//!
//! Delivery: an entry is written durably (one transaction, `synchronous=FULL`) before the call
//! that made it returns; it is then pushed to every connected member. When two members connect
//! they exchange "have" summaries (per author, the highest sequence number held without a gap)
//! and send each other what the other lacks — so an entry reaches an offline member the moment
//! it meets *any* member holding it. Entry ids are hashes of the signed bytes: receiving one twice
//! changes nothing. Newly stored entries are forwarded to the other connected members at once.

mod actions;
#[cfg(test)]
mod convergence;
pub mod limits;
pub mod log;
pub mod outline;
pub mod store;
mod sync;
mod transfer;
pub mod view;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::PeerId;
use tokio::sync::{broadcast, mpsc};

use crate::api::{ApiError, ChatStats, ErrorKind, Event};
use crate::library::Library;
use crate::net::{ChatNetEvent, Client};
use crate::store::{now_millis, Store, StoreError};
use crate::supervise;
use log::{Hlc, Wire};

/// How often every connected member is asked for a summary (heals anything a dropped event or a
/// failed push left behind).
const RESYNC_EVERY: Duration = Duration::from_secs(60);
/// Setting: whether the user turned Messages off.
const MESSAGES_OFF_KEY: &str = "messages_off";
/// Summary exchanges waiting to start.
const RESYNC_QUEUE: usize = 256;

/// Counters of refused and received conversation input.
#[derive(Debug, Default)]
pub struct Counters {
    pub bad_signature: AtomicU64,
    pub not_member: AtomicU64,
    pub unknown_conversation: AtomicU64,
    pub malformed: AtomicU64,
    pub rate_limited: AtomicU64,
    pub refused: AtomicU64,
    pub received: AtomicU64,
    pub duplicates: AtomicU64,
    pub bad_ranges: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ChatStats {
        let get = |c: &AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        ChatStats {
            bad_signature: get(&self.bad_signature),
            not_member: get(&self.not_member),
            unknown_conversation: get(&self.unknown_conversation),
            malformed: get(&self.malformed),
            rate_limited: get(&self.rate_limited),
            refused: get(&self.refused),
            received: get(&self.received),
            duplicates: get(&self.duplicates),
            bad_ranges: get(&self.bad_ranges),
        }
    }
}

/// A handle on the chat service. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    net: Client,
    library: Library,
    friends: crate::friends::Friends,
    events: broadcast::Sender<Event>,
    keypair: Keypair,
    me: PeerId,
    /// Our hybrid logical clock.
    clock: Mutex<Hlc>,
    counters: Counters,
    /// Friends and co-members connected now.
    online: Mutex<HashSet<PeerId>>,
    /// Entries waiting to be pushed to each peer; a peer in the map has a push under way.
    pushes: Mutex<HashMap<PeerId, Vec<Wire>>>,
    /// Whether the user turned Messages off (mirrors the setting).
    messages_off: std::sync::atomic::AtomicBool,
    /// How much each peer may make us store.
    budget: Mutex<limits::EntryBudget>,
    /// Peers to run a summary exchange with soon (the run loop starts it).
    resync: mpsc::Sender<PeerId>,
    /// Tracks being fetched now (by hex hash): one fetch per track at a time.
    fetching: Mutex<HashSet<String>>,
    /// Outlines of tracks we served lately.
    outlines: Mutex<transfer::Outlines>,
    /// Outlines being worked out now (each reads a whole file).
    outline_work: tokio::sync::Semaphore,
    /// What our jam's participants may fetch from us.
    jam_grants: Mutex<JamGrants>,
}

/// What a jam's participants may fetch from us.
#[derive(Debug, Default)]
pub struct JamGrants {
    pub peers: HashSet<PeerId>,
    /// Tracks we added to the queue: served from our library.
    pub own: HashSet<String>,
    /// Tracks whose adder left while we host: served only from the audio cache (what we
    /// received ourselves), never from the library.
    pub relay: HashSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JamGrant {
    None,
    Own,
    Relay,
}

impl Chat {
    /// Loads the clock and the co-member set, and starts following the network.
    pub async fn start(
        store: Store,
        net: Client,
        library: Library,
        friends: crate::friends::Friends,
        events: broadcast::Sender<Event>,
        keypair: Keypair,
        chat_events: mpsc::Receiver<ChatNetEvent>,
    ) -> Result<Chat, StoreError> {
        let (latest, off) = store
            .call(|c| {
                Ok((
                    store::latest_hlc(c, now_millis().max(0) as u64)?,
                    crate::store::settings::get::<bool>(c, MESSAGES_OFF_KEY)?.unwrap_or(false),
                ))
            })
            .await?;
        let me = keypair.public().to_peer_id();
        let (resync, resync_requests) = mpsc::channel(RESYNC_QUEUE);
        let chat = Chat {
            shared: Arc::new(Shared {
                store,
                net,
                library,
                friends,
                events,
                keypair,
                me,
                clock: Mutex::new(latest),
                counters: Counters::default(),
                online: Mutex::default(),
                pushes: Mutex::default(),
                messages_off: std::sync::atomic::AtomicBool::new(off),
                budget: Mutex::default(),
                resync,
                fetching: Mutex::default(),
                outlines: Mutex::default(),
                outline_work: tokio::sync::Semaphore::new(2),
                jam_grants: Mutex::default(),
            }),
        };
        chat.sync_member_set().await?;
        let runner = chat.clone();
        tokio::spawn(runner.run(chat_events, resync_requests));
        Ok(chat)
    }

    async fn run(
        self,
        mut chat_events: mpsc::Receiver<ChatNetEvent>,
        mut resync_requests: mpsc::Receiver<PeerId>,
    ) {
        let events = self.shared.events.clone();
        let mut resync = tokio::time::interval(RESYNC_EVERY);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.reset();
        loop {
            tokio::select! {
                event = chat_events.recv() => match event {
                    Some(ChatNetEvent::InboundSync { peer, request, reply }) => {
                        // Answered on a task of its own: a big batch being stored must not hold
                        // up another peer's small one.
                        let this = self.clone();
                        let events = events.clone();
                        tokio::spawn(async move {
                            supervise::step("messages", &events, this.answer(peer, *request, reply)).await;
                        });
                    }
                    Some(ChatNetEvent::InboundTransfer { peer, request, reply }) => {
                        let this = self.clone();
                        let events = events.clone();
                        tokio::spawn(async move {
                            supervise::step("messages", &events, this.serve(peer, request, reply)).await;
                        });
                    }
                    Some(ChatNetEvent::Connection { peer, connected }) => {
                        if connected {
                            lock(&self.shared.online).insert(peer);
                            let this = self.clone();
                            tokio::spawn(async move { this.sync_with(peer).await });
                        } else {
                            lock(&self.shared.online).remove(&peer);
                        }
                        self.publish(Event::ConversationsChanged);
                    }
                    None => return,
                },
                Some(peer) = resync_requests.recv() => {
                    let this = self.clone();
                    tokio::spawn(async move { this.sync_with(peer).await });
                }
                _ = resync.tick() => {
                    // On a task of its own: a slow store must not hold up connection events.
                    let this = self.clone();
                    let events = events.clone();
                    tokio::spawn(async move {
                        supervise::step("messages", &events, this.resync_all()).await;
                    });
                }
            }
        }
    }

    /// Syncs with every connected friend and co-member (the network is the truth on who is).
    async fn resync_all(&self) {
        let connected: HashSet<PeerId> = match self.shared.net.connected().await {
            Ok(peers) => peers.into_iter().collect(),
            Err(_) => return,
        };
        let known = {
            let mut online = lock(&self.shared.online);
            online.retain(|p| connected.contains(p));
            online.clone()
        };
        let shared: Vec<PeerId> = match self
            .shared
            .store
            .call(move |c| {
                let mut out = Vec::new();
                for peer in connected {
                    if !store::shared_with(c, &peer)?.is_empty() || store::is_friend(c, &peer)? {
                        out.push(peer);
                    }
                }
                Ok(out)
            })
            .await
        {
            Ok(peers) => peers,
            Err(_) => return,
        };
        for peer in shared {
            if !known.contains(&peer) {
                lock(&self.shared.online).insert(peer);
            }
            let this = self.clone();
            tokio::spawn(async move { this.sync_with(peer).await });
        }
    }

    /// Tells the network who shares a group with us without being a friend.
    async fn sync_member_set(&self) -> Result<(), StoreError> {
        let me = self.shared.me;
        let members: HashSet<PeerId> = self
            .shared
            .store
            .call(move |c| store::co_members(c, &me))
            .await?
            .into_iter()
            .collect();
        if let Err(error) = self.shared.net.set_members(members).await {
            tracing::warn!(%error, "cannot tell the network who our group members are");
        }
        Ok(())
    }

    pub fn stats(&self) -> ChatStats {
        self.shared.counters.snapshot()
    }

    /// Lets the jam's participants fetch tracks of the jam's queue from us.
    pub fn set_jam_grants(&self, grants: JamGrants) {
        *lock(&self.shared.jam_grants) = grants;
    }

    fn jam_grant(&self, peer: &PeerId, hash: &str) -> JamGrant {
        let grants = lock(&self.shared.jam_grants);
        if !grants.peers.contains(peer) {
            JamGrant::None
        } else if grants.own.contains(hash) {
            JamGrant::Own
        } else if grants.relay.contains(hash) {
            JamGrant::Relay
        } else {
            JamGrant::None
        }
    }

    fn messages_off(&self) -> bool {
        self.shared
            .messages_off
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn is_online(&self, peer: &PeerId) -> bool {
        lock(&self.shared.online).contains(peer)
    }

    /// The next local time.
    fn tick(&self) -> Hlc {
        let mut clock = lock(&self.shared.clock);
        *clock = clock.tick(now_millis().max(0) as u64);
        *clock
    }

    fn observe(&self, seen: Hlc) {
        let mut clock = lock(&self.shared.clock);
        *clock = clock.observe(seen);
    }

    fn publish(&self, event: Event) {
        let _ = self.shared.events.send(event);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, what.to_string())
}
