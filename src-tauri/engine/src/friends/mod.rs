//! Friends (design §6): invites, friend requests, block lists, and who is online.
//!
//! The [`Friends`] service is the only code that decides who may talk to us. Its pieces:
//! - `policy.rs` — who may do what over `/earshot/pair/1` (pure; unit-tested as a table);
//! - `redial.rs` — when to dial absent friends (pure);
//! - `names.rs` — names received from peers, made safe; fingerprints;
//! - `store.rs` — the `peers` and `invites` tables;
//! - `invite.rs` — the `earshot://invite/…` link format;
//! - `inbound.rs` — the actor's side: network events and the answers to peers' requests;
//! - `actions.rs` — what the user does (the API façade);
//! - `nearby.rs` — peers on the LAN.
//!
//! This file holds the handle, the actor's loop and housekeeping. Every step of the loop is
//! guarded ([`crate::supervise`]): a bug while handling one event is reported, not fatal.

mod actions;
mod inbound;
pub mod invite;
mod names;
mod nearby;
pub mod policy;
pub mod redial;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc};

use crate::api::{ApiError, ErrorKind, Event, Friend, PeerCard};
use crate::net::{self, Client, ConnectionKind, NetError, NetEvent};
use crate::store::{now_millis, Store, StoreError};
use crate::supervise;
pub use names::{fingerprint, sanitize_name, short_id};
use redial::Redial;
use store::{PeerRow, Relationship};

/// Incoming requests kept at most; a new one beyond this evicts the oldest.
const MAX_INCOMING_REQUESTS: i64 = 200;
/// Incoming requests unanswered for this long are deleted.
const REQUEST_LIFETIME_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// How often expired invites and requests are purged (also at start).
const HOUSEKEEPING: Duration = Duration::from_secs(60 * 60);

/// A handle on the friends service. Cheap to clone.
#[derive(Clone)]
pub struct Friends {
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    net: Client,
    events: broadcast::Sender<Event>,
    /// Best connection of every connected peer (friends and strangers).
    connected: Mutex<HashMap<PeerId, ConnectionKind>>,
    /// Peers on the LAN and their addresses.
    nearby: Mutex<HashMap<PeerId, Vec<Multiaddr>>>,
    /// When to dial each absent friend.
    redial: Mutex<Redial>,
    /// Wakes the service's loop when the redial schedule may have changed (it sleeps until the
    /// earliest dial is due, and not at all while every friend is connected).
    redial_changed: tokio::sync::Notify,
    /// Held while the friend and awaited sets are read and sent, so two updates cannot arrive at
    /// the network in the wrong order.
    peer_sets: tokio::sync::Mutex<()>,
}

impl Friends {
    /// Loads the friend set and block list into the network and starts following its events.
    pub async fn start(
        store: Store,
        net: Client,
        events: broadcast::Sender<Event>,
        net_events: mpsc::Receiver<NetEvent>,
    ) -> Result<Friends, StoreError> {
        let friends = Friends {
            shared: Arc::new(Shared {
                store,
                net,
                events,
                connected: Mutex::default(),
                nearby: Mutex::default(),
                redial: Mutex::default(),
                redial_changed: tokio::sync::Notify::new(),
                peer_sets: tokio::sync::Mutex::default(),
            }),
        };
        let moved = friends
            .shared
            .store
            .call(store::hash_round1_invites)
            .await?;
        if moved > 0 {
            tracing::info!(moved, "invites from round 1 now kept as hashes");
        }
        for row in friends.rows(Relationship::Blocked).await? {
            let _ = friends.shared.net.block(row.peer).await;
        }
        friends.sync_friend_set().await?;
        let (now, now_ms) = (Instant::now(), now_millis());
        for row in friends.rows(Relationship::Friend).await? {
            // `last_seen` survives restarts: a friend seen a minute before we restarted is
            // re-dialled as fast as one who dropped a second ago.
            let seen = row.last_seen.and_then(|ms| {
                let ago = Duration::from_millis(now_ms.saturating_sub(ms).max(0) as u64);
                now.checked_sub(ago)
            });
            friends.lock_redial().absent(row.peer, seen, now);
        }
        friends.housekeeping().await?;
        let runner = friends.clone();
        tokio::spawn(runner.run(net_events));
        Ok(friends)
    }

    async fn run(self, mut net_events: mpsc::Receiver<NetEvent>) {
        let events = self.shared.events.clone();
        let redial = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(redial);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        housekeeping.reset();
        loop {
            let due = lock(&self.shared.redial).next_due();
            if let Some(at) = due {
                redial.as_mut().reset(tokio::time::Instant::from_std(at));
            }
            tokio::select! {
                event = net_events.recv() => match event {
                    Some(event) => {
                        let handled = supervise::step("friends", &events, self.handle_net_event(event)).await;
                        if let Some(Err(error)) = handled {
                            tracing::warn!(%error, "handling a network event failed");
                        }
                    }
                    None => return,
                },
                () = &mut redial, if due.is_some() => {
                    supervise::step("friends", &events, self.redial_due()).await;
                }
                () = self.shared.redial_changed.notified() => {}
                _ = housekeeping.tick() => {
                    if let Some(Err(error)) = supervise::step("friends", &events, self.housekeeping()).await {
                        tracing::warn!(%error, "purging expired invites and requests failed");
                    }
                }
            }
        }
    }

    /// Purges expired invites and incoming requests, telling the window when anything went.
    async fn housekeeping(&self) -> Result<(), StoreError> {
        let now = now_millis();
        let (invites, requests) = self
            .shared
            .store
            .call(move |c| {
                Ok((
                    store::purge_expired_invites(c, now)?,
                    store::expire_requests(c, now - REQUEST_LIFETIME_MS)?,
                ))
            })
            .await?;
        if invites > 0 {
            self.publish(Event::InvitesChanged);
        }
        if requests > 0 {
            net::bump(&self.shared.net.stats().requests_expired, requests as u64);
            tracing::info!(requests, "incoming friend requests expired unanswered");
            self.publish(Event::RequestsChanged);
        }
        Ok(())
    }

    async fn redial_due(&self) {
        let due = self.lock_redial().due(Instant::now());
        for peer in due {
            if self.connection(&peer).is_some() {
                self.lock_redial().connected(peer, Instant::now());
                continue;
            }
            let addresses = match self.row(peer).await {
                Ok(Some(row)) if row.relationship == Relationship::Friend => row.addresses,
                Ok(_) => {
                    // Unfriended or blocked while a disconnect was being handled: never again.
                    self.lock_redial().forget(&peer);
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read a friend's addresses");
                    continue;
                }
            };
            let _ = self.shared.net.dial(peer, addresses).await;
        }
    }

    // ----------------------------------------------------------------- shared helpers

    fn parse_other(&self, peer_id: &str) -> Result<PeerId, ApiError> {
        let peer: PeerId = peer_id
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid_input(format!("{peer_id:?} is not a peer id.")))?;
        if peer == self.shared.net.local_peer_id() {
            return Err(ApiError::invalid_input("That is your own peer id."));
        }
        Ok(peer)
    }

    async fn row(&self, peer: PeerId) -> Result<Option<PeerRow>, StoreError> {
        self.shared.store.call(move |c| store::get(c, &peer)).await
    }

    async fn relationship(&self, peer: PeerId) -> Result<Option<Relationship>, StoreError> {
        Ok(self.row(peer).await?.map(|r| r.relationship))
    }

    async fn rows(&self, relationship: Relationship) -> Result<Vec<PeerRow>, StoreError> {
        self.shared
            .store
            .call(move |c| store::list(c, relationship))
            .await
    }

    async fn friend(&self, peer: PeerId) -> Result<Option<Friend>, StoreError> {
        Ok(self
            .row(peer)
            .await?
            .filter(|r| r.relationship == Relationship::Friend)
            .map(|row| self.to_friend(row)))
    }

    fn to_friend(&self, row: PeerRow) -> Friend {
        Friend {
            peer_id: row.peer.to_base58(),
            fingerprint: fingerprint(&row.peer),
            display_name: row.display_name.unwrap_or_else(|| short_id(&row.peer)),
            connection: self.connection(&row.peer),
            since: row.since,
            last_seen: row.last_seen,
        }
    }

    fn connection(&self, peer: &PeerId) -> Option<ConnectionKind> {
        lock(&self.shared.connected).get(peer).copied()
    }

    /// The redial schedule, for a change: the service's loop looks at it again afterwards.
    fn lock_redial(&self) -> MutexGuard<'_, Redial> {
        self.shared.redial_changed.notify_one();
        lock(&self.shared.redial)
    }

    /// Tells the network who our friends are (kept connected, exempt from strangers' limits)
    /// and whose answer we await (peers we asked: not held to a stranger's budget).
    async fn sync_friend_set(&self) -> Result<(), StoreError> {
        let _in_order = self.shared.peer_sets.lock().await;
        let peers = |rows: Vec<PeerRow>| rows.into_iter().map(|r| r.peer).collect::<HashSet<_>>();
        let friends = peers(self.rows(Relationship::Friend).await?);
        let awaited = peers(self.rows(Relationship::RequestedOut).await?);
        if let Err(error) = self.shared.net.set_friends(friends).await {
            tracing::warn!(%error, "cannot tell the network who our friends are");
        }
        if let Err(error) = self.shared.net.set_awaited(awaited).await {
            tracing::warn!(%error, "cannot tell the network whose answers we await");
        }
        Ok(())
    }

    fn publish(&self, event: Event) {
        let _ = self.shared.events.send(event);
    }
}

/// Locks one of the service's small maps. Their critical sections never panic, so a poisoned
/// lock only means a panic elsewhere on that thread: the data is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn to_card(row: PeerRow) -> PeerCard {
    PeerCard {
        peer_id: row.peer.to_base58(),
        fingerprint: fingerprint(&row.peer),
        display_name: row.display_name,
        since: row.since,
    }
}

fn decode_secret(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE64URL_NOPAD
        .decode(text.as_bytes())
        .ok()
        .filter(|s| s.len() == 16)
}

/// Addresses worth giving to someone else: not relay-internal or unspecified.
fn is_shareable(address: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    address.iter().all(|p| match p {
        Protocol::Ip4(ip) => !ip.is_unspecified(),
        Protocol::Ip6(ip) => !ip.is_unspecified(),
        _ => true,
    })
}

fn internal(what: &str) -> ApiError {
    ApiError::new(ErrorKind::Internal, what.to_string())
}

fn net_error(error: NetError) -> ApiError {
    match error {
        NetError::Closed => ApiError::new(ErrorKind::ShuttingDown, error.to_string()),
        other => ApiError::new(ErrorKind::Unreachable, other.to_string()),
    }
}

fn unreachable_error(who: &str, error: NetError) -> ApiError {
    match error {
        NetError::Closed => ApiError::new(ErrorKind::ShuttingDown, error.to_string()),
        NetError::Timeout => ApiError::new(
            ErrorKind::Unreachable,
            format!("{who} did not answer in time. Check that Earshot is open there, then try again."),
        ),
        other => ApiError::new(
            ErrorKind::Unreachable,
            format!("{who} could not be reached ({other}). Check that Earshot is open there and that you share a network or a relay, then try again."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_not_shared() {
        assert!(!is_shareable(&"/ip4/0.0.0.0/tcp/1".parse().unwrap()));
        assert!(is_shareable(&"/ip4/192.0.2.1/tcp/1".parse().unwrap()));
    }

    #[test]
    fn a_secret_must_be_sixteen_bytes_of_base64url() {
        assert!(decode_secret("AAAAAAAAAAAAAAAAAAAAAA").is_some());
        assert!(decode_secret("AAAA").is_none());
        assert!(decode_secret("!!").is_none());
    }
}
