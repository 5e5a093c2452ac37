//! Friends (design §6): invites, friend requests, block lists, and who is online.
//!
//! The [`Friends`] service is the only code that decides who may talk to us. It answers every
//! `/earshot/pair/1` request after checking the remote peer against the `peers` table — a stranger
//! may redeem an invite or ask to be friends and is told nothing else — keeps the network's
//! friend set and block list in step with the table, greets friends on every connection
//! (exchanging profiles), and re-dials friends who dropped, with backoff.

pub mod invite;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc};

use crate::api::{self, ApiError, ErrorKind, Event, Friend, NearbyPeer, PeerCard};
use crate::net::protocol::{PairRequest, PairResponse, ProfileCard, Refusal};
use crate::net::{Client, ConnectionKind, NetError, NetEvent};
use crate::profile;
use crate::store::{now_millis, Store, StoreError};
use invite::Invite;
use store::{PeerRow, Relationship};

/// Pause before the single retry of a pairing request that reached no address.
const PAIR_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Incoming requests kept at most; beyond this new ones are dropped (a flood is not stored).
const MAX_INCOMING_REQUESTS: i64 = 200;
/// Re-dial backoff for a friend who is away: 1 s doubling to 2 s while they were seen in the last
/// two minutes (a restart or a replugged cable is over in seconds: "back online within 3 s"),
/// then 30 s, so friends away for days cost a dial now and then. A friend who comes back also
/// dials us, and is announced by mDNS on a LAN.
const REDIAL_FIRST: Duration = Duration::from_secs(1);
const REDIAL_RECENT_MAX: Duration = Duration::from_secs(2);
const REDIAL_AWAY: Duration = Duration::from_secs(30);
const RECENTLY_SEEN: Duration = Duration::from_secs(120);

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
    /// When to dial each absent friend next, and the current backoff.
    redial: Mutex<HashMap<PeerId, (Instant, Duration)>>,
    /// When each friend was last connected (this run).
    last_connected: Mutex<HashMap<PeerId, Instant>>,
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
                last_connected: Mutex::default(),
            }),
        };
        let blocked = friends.rows(Relationship::Blocked).await?;
        for row in blocked {
            let _ = friends.shared.net.block(row.peer).await;
        }
        friends.sync_friend_set().await?;
        let now = Instant::now();
        for row in friends.rows(Relationship::Friend).await? {
            friends.lock_redial().insert(row.peer, (now, REDIAL_FIRST));
        }
        tokio::spawn(friends.clone().run(net_events));
        Ok(friends)
    }

    async fn run(self, mut net_events: mpsc::Receiver<NetEvent>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = net_events.recv() => match event {
                    Some(event) => {
                        if let Err(error) = self.handle_net_event(event).await {
                            tracing::warn!(%error, "handling a network event failed");
                        }
                    }
                    None => return,
                },
                _ = tick.tick() => self.redial_due().await,
            }
        }
    }

    // ----------------------------------------------------------------- network events

    async fn handle_net_event(&self, event: NetEvent) -> Result<(), StoreError> {
        match event {
            NetEvent::InboundPair {
                peer,
                request,
                reply,
            } => {
                let response = self.answer(peer, request).await?;
                reply.send(response).await;
            }
            NetEvent::Connection { peer, kind } => self.on_connection(peer, kind).await?,
            NetEvent::PeerAddresses { peer, addresses } => {
                let addresses: Vec<Multiaddr> =
                    addresses.into_iter().filter(is_shareable).collect();
                self.shared
                    .store
                    .call(move |c| store::add_addresses(c, &peer, &addresses))
                    .await?;
            }
            NetEvent::Nearby(list) => {
                *self.shared.nearby.lock().expect("nearby lock") = list.into_iter().collect();
                let peers = self.nearby().await?;
                // A friend announced on the LAN is dialled at once rather than at the next backoff.
                for peer in &peers {
                    if peer.relationship == Some(api::Relationship::Friend) {
                        if let Ok(id) = peer.peer_id.parse() {
                            self.lock_redial()
                                .insert(id, (Instant::now(), REDIAL_FIRST));
                        }
                    }
                }
                self.publish(Event::NearbyChanged { peers });
            }
            NetEvent::ListenAddresses(addresses) => {
                let listen_addrs = addresses.iter().map(|a| a.to_string()).collect();
                self.shared
                    .store
                    .call(move |c| crate::net::ports::remember(c, &addresses))
                    .await?;
                self.publish(Event::ListenAddressesChanged { listen_addrs });
            }
        }
        Ok(())
    }

    async fn on_connection(
        &self,
        peer: PeerId,
        kind: Option<ConnectionKind>,
    ) -> Result<(), StoreError> {
        let was = {
            let mut connected = self.shared.connected.lock().expect("connected lock");
            match kind {
                Some(kind) => connected.insert(peer, kind),
                None => connected.remove(&peer),
            }
        };
        let Some(row) = self.row(peer).await? else {
            return Ok(());
        };
        if row.relationship != Relationship::Friend {
            return Ok(());
        }
        let now = now_millis();
        self.shared
            .store
            .call(move |c| store::touch(c, &peer, now))
            .await?;
        match kind {
            Some(_) => {
                self.lock_redial().remove(&peer);
                if was.is_none() {
                    tokio::spawn(self.clone().greet(peer));
                }
            }
            None => {
                self.lock_redial()
                    .insert(peer, (Instant::now() + REDIAL_FIRST, REDIAL_FIRST));
            }
        }
        if let Some(friend) = self.friend(peer).await? {
            self.publish(Event::FriendUpdated(friend));
        }
        Ok(())
    }

    /// Sends our profile to a friend and records theirs.
    async fn greet(self, peer: PeerId) {
        let Ok(card) = self.my_card().await else {
            return;
        };
        match self
            .shared
            .net
            .send_pair(peer, Vec::new(), PairRequest::Hello { profile: card })
            .await
        {
            Ok(PairResponse::Friends { profile }) => {
                if let Err(error) = self.learn_name(peer, &profile).await {
                    tracing::warn!(%error, "cannot store a friend's name");
                }
            }
            Ok(other) => tracing::debug!(%peer, ?other, "a friend did not greet back"),
            Err(error) => tracing::debug!(%peer, %error, "greeting a friend failed"),
        }
    }

    async fn learn_name(&self, peer: PeerId, card: &ProfileCard) -> Result<(), StoreError> {
        let Some(name) = sanitize_name(&card.display_name) else {
            return Ok(());
        };
        let changed = self
            .shared
            .store
            .call(move |c| store::set_name(c, &peer, &name))
            .await?;
        if changed {
            if let Some(friend) = self.friend(peer).await? {
                self.publish(Event::FriendUpdated(friend));
            }
        }
        Ok(())
    }

    /// The answer to a pairing request from `peer`. Strangers learn nothing about the user.
    async fn answer(&self, peer: PeerId, request: PairRequest) -> Result<PairResponse, StoreError> {
        let existing = self.row(peer).await?.map(|r| r.relationship);
        if existing == Some(Relationship::Blocked) {
            // The connection is refused at the swarm; this is the second line of defence.
            return Ok(PairResponse::Refused {
                reason: Refusal::NotFriends,
            });
        }
        let response = match request {
            PairRequest::Redeem { secret, profile } => {
                let Some(secret) = decode_secret(&secret) else {
                    return Ok(PairResponse::Refused {
                        reason: Refusal::InvalidInvite,
                    });
                };
                let now = now_millis();
                let verdict = self
                    .shared
                    .store
                    .call(move |c| store::redeem_invite(c, &secret, &peer, now))
                    .await?;
                match verdict {
                    Ok(()) => {
                        self.become_friends(peer, &profile).await?;
                        PairResponse::Friends {
                            profile: self.my_card().await?,
                        }
                    }
                    Err(reason) => PairResponse::Refused { reason },
                }
            }
            PairRequest::Request { profile } => match existing {
                Some(Relationship::Friend) | Some(Relationship::RequestedOut) => {
                    // Already friends (they lost their state), or both asked: friends now.
                    self.become_friends(peer, &profile).await?;
                    PairResponse::Friends {
                        profile: self.my_card().await?,
                    }
                }
                Some(Relationship::RequestedIn) => {
                    self.learn_request_name(peer, &profile).await?;
                    PairResponse::Pending
                }
                _ => {
                    let pending = self
                        .shared
                        .store
                        .call(|c| store::count(c, Relationship::RequestedIn))
                        .await?;
                    if pending < MAX_INCOMING_REQUESTS {
                        let name = sanitize_name(&profile.display_name);
                        let now = now_millis();
                        self.shared
                            .store
                            .call(move |c| {
                                store::set(
                                    c,
                                    &peer,
                                    Relationship::RequestedIn,
                                    name.as_deref(),
                                    now,
                                )
                            })
                            .await?;
                        if let Some(card) = self.card(peer).await? {
                            self.publish(Event::RequestReceived(card));
                        }
                        self.publish(Event::RequestsChanged);
                    } else {
                        tracing::warn!(%peer, "too many pending friend requests; dropping one");
                    }
                    PairResponse::Pending
                }
            },
            PairRequest::Accepted { profile } => match existing {
                Some(Relationship::RequestedOut) | Some(Relationship::Friend) => {
                    self.become_friends(peer, &profile).await?;
                    PairResponse::Friends {
                        profile: self.my_card().await?,
                    }
                }
                _ => PairResponse::Refused {
                    reason: Refusal::NotFriends,
                },
            },
            PairRequest::Hello { profile } => match existing {
                Some(Relationship::Friend) => {
                    self.learn_name(peer, &profile).await?;
                    PairResponse::Friends {
                        profile: self.my_card().await?,
                    }
                }
                _ => PairResponse::Refused {
                    reason: Refusal::NotFriends,
                },
            },
            PairRequest::Unfriend => {
                if existing == Some(Relationship::Friend) {
                    self.forget(peer).await?;
                }
                PairResponse::Ack
            }
        };
        Ok(response)
    }

    async fn learn_request_name(&self, peer: PeerId, card: &ProfileCard) -> Result<(), StoreError> {
        if let Some(name) = sanitize_name(&card.display_name) {
            self.shared
                .store
                .call(move |c| store::set_name(c, &peer, &name))
                .await?;
        }
        Ok(())
    }

    /// Records `peer` as a friend (named by `card`), tells the network, publishes the change.
    async fn become_friends(&self, peer: PeerId, card: &ProfileCard) -> Result<Friend, StoreError> {
        let was = self.row(peer).await?.map(|r| r.relationship);
        let name = sanitize_name(&card.display_name);
        let now = now_millis();
        self.shared
            .store
            .call(move |c| store::set(c, &peer, Relationship::Friend, name.as_deref(), now))
            .await?;
        self.sync_friend_set().await?;
        let friend = self.friend(peer).await?.expect("the friend just stored");
        if was != Some(Relationship::Friend) {
            if was.is_some() {
                self.publish(Event::RequestsChanged);
            }
            self.publish(Event::FriendAdded(friend.clone()));
        }
        Ok(friend)
    }

    async fn forget(&self, peer: PeerId) -> Result<(), StoreError> {
        let removed = self
            .shared
            .store
            .call(move |c| store::delete(c, &peer))
            .await?;
        self.lock_redial().remove(&peer);
        self.sync_friend_set().await?;
        if removed {
            self.publish(Event::FriendRemoved {
                peer_id: peer.to_base58(),
            });
        }
        Ok(())
    }

    async fn redial_due(&self) {
        let now = Instant::now();
        let due: Vec<PeerId> = {
            let last_connected = self
                .shared
                .last_connected
                .lock()
                .expect("last_connected lock");
            let mut redial = self.lock_redial();
            let due: Vec<PeerId> = redial
                .iter()
                .filter(|(_, (at, _))| *at <= now)
                .map(|(p, _)| *p)
                .collect();
            for peer in &due {
                if let Some((at, backoff)) = redial.get_mut(peer) {
                    let seen_recently = last_connected
                        .get(peer)
                        .is_some_and(|t| now.duration_since(*t) < RECENTLY_SEEN);
                    *backoff = if seen_recently {
                        (*backoff * 2).min(REDIAL_RECENT_MAX)
                    } else {
                        (*backoff * 2).clamp(REDIAL_FIRST, REDIAL_AWAY)
                    };
                    *at = now + *backoff;
                }
            }
            due
        };
        for peer in due {
            if self.connection(&peer).is_some() {
                self.lock_redial().remove(&peer);
                continue;
            }
            let addresses = match self.row(peer).await {
                Ok(Some(row)) => row.addresses,
                _ => Vec::new(),
            };
            let _ = self.shared.net.dial(peer, addresses).await;
        }
    }

    // ----------------------------------------------------------------- API

    pub async fn create_invite(
        &self,
        lifetime_secs: Option<u64>,
    ) -> Result<api::InviteLink, ApiError> {
        let lifetime_ms = match lifetime_secs {
            None => invite::DEFAULT_LIFETIME_MS,
            Some(0) => {
                return Err(ApiError::invalid_input(
                    "An invite must last at least one second.",
                ))
            }
            Some(s) if s > 30 * 24 * 3600 => {
                return Err(ApiError::invalid_input(
                    "An invite can last 30 days at most.",
                ))
            }
            Some(s) => s as i64 * 1000,
        };
        let addresses = self.shared.net.addresses().await.map_err(net_error)?;
        let addresses: Vec<Multiaddr> = addresses.into_iter().filter(is_shareable).collect();
        let now = now_millis();
        let invite = Invite::new(self.shared.net.local_peer_id(), addresses, now, lifetime_ms);
        let (secret, expires_at) = (invite.secret, invite.expires_at);
        self.shared
            .store
            .call(move |c| store::insert_invite(c, &secret, now, expires_at))
            .await?;
        Ok(api::InviteLink {
            link: invite.to_link(),
            expires_at,
            addresses: invite.addresses.iter().map(|a| a.to_string()).collect(),
        })
    }

    pub async fn redeem_invite(&self, link: &str) -> Result<Friend, ApiError> {
        let invite = Invite::parse(link, now_millis())
            .map_err(|e| ApiError::invalid_input(e.to_string()))?;
        let inviter = invite.inviter;
        if inviter == self.shared.net.local_peer_id() {
            return Err(ApiError::invalid_input(
                invite::InviteError::OwnInvite.to_string(),
            ));
        }
        match self.row(inviter).await?.map(|r| r.relationship) {
            Some(Relationship::Blocked) => {
                return Err(ApiError::invalid_input(
                    "You blocked the person who sent this invite. Unblock them in Friends first.",
                ))
            }
            Some(Relationship::Friend) => {
                return self
                    .friend(inviter)
                    .await?
                    .ok_or_else(|| internal("a friend vanished"));
            }
            _ => {}
        }
        let request = PairRequest::Redeem {
            secret: invite.secret_text(),
            profile: self.my_card().await?,
        };
        let answer = self
            .send_pair_retrying(inviter, invite.addresses.clone(), request)
            .await
            .map_err(|e| unreachable_error("Your friend's computer", e))?;
        match answer {
            PairResponse::Friends { profile } => {
                let addresses = invite.addresses;
                let friend = self.become_friends(inviter, &profile).await?;
                self.shared
                    .store
                    .call(move |c| store::add_addresses(c, &inviter, &addresses))
                    .await?;
                Ok(friend)
            }
            PairResponse::Refused { reason } => Err(ApiError::invalid_input(reason.explain())),
            other => Err(internal(&format!(
                "unexpected answer to an invite: {other:?}"
            ))),
        }
    }

    pub async fn list_friends(&self) -> Result<Vec<Friend>, ApiError> {
        let rows = self.rows(Relationship::Friend).await?;
        Ok(rows.into_iter().map(|row| self.to_friend(row)).collect())
    }

    pub async fn list_requests(&self) -> Result<(Vec<PeerCard>, Vec<PeerCard>), ApiError> {
        let incoming = self.rows(Relationship::RequestedIn).await?;
        let outgoing = self.rows(Relationship::RequestedOut).await?;
        Ok((
            incoming.into_iter().map(to_card).collect(),
            outgoing.into_iter().map(to_card).collect(),
        ))
    }

    pub async fn list_blocked(&self) -> Result<Vec<PeerCard>, ApiError> {
        Ok(self
            .rows(Relationship::Blocked)
            .await?
            .into_iter()
            .map(to_card)
            .collect())
    }

    pub async fn send_friend_request(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        match self.row(peer).await?.map(|r| r.relationship) {
            Some(Relationship::Friend) => {
                return Err(ApiError::invalid_input("You are already friends."))
            }
            Some(Relationship::Blocked) => {
                return Err(ApiError::invalid_input(
                    "You blocked this peer. Unblock them first.",
                ))
            }
            Some(Relationship::RequestedIn) => {
                // They asked first: sending ours is accepting theirs.
                return self.accept_request(peer_id).await.map(|_| ());
            }
            _ => {}
        }
        let addresses = self.known_addresses(peer).await?;
        let request = PairRequest::Request {
            profile: self.my_card().await?,
        };
        let answer = self
            .send_pair_retrying(peer, addresses, request)
            .await
            .map_err(|e| unreachable_error("That peer", e))?;
        match answer {
            PairResponse::Pending => {
                let now = now_millis();
                self.shared
                    .store
                    .call(move |c| store::set(c, &peer, Relationship::RequestedOut, None, now))
                    .await?;
                self.publish(Event::RequestsChanged);
                Ok(())
            }
            PairResponse::Friends { profile } => self
                .become_friends(peer, &profile)
                .await
                .map(|_| ())
                .map_err(Into::into),
            PairResponse::Refused { reason } => Err(ApiError::invalid_input(reason.explain())),
            PairResponse::Ack => Err(internal("unexpected answer to a friend request")),
        }
    }

    pub async fn accept_request(&self, peer_id: &str) -> Result<Friend, ApiError> {
        let peer = self.parse_other(peer_id)?;
        if self.row(peer).await?.map(|r| r.relationship) != Some(Relationship::RequestedIn) {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "There is no request from that peer.",
            ));
        }
        let addresses = self.known_addresses(peer).await?;
        let request = PairRequest::Accepted {
            profile: self.my_card().await?,
        };
        let answer = self
            .send_pair_retrying(peer, addresses, request)
            .await
            .map_err(|e| unreachable_error("The person who asked", e))?;
        match answer {
            PairResponse::Friends { profile } => Ok(self.become_friends(peer, &profile).await?),
            PairResponse::Refused { .. } => {
                // They withdrew their request meanwhile.
                self.shared
                    .store
                    .call(move |c| store::delete(c, &peer))
                    .await?;
                self.publish(Event::RequestsChanged);
                Err(ApiError::new(
                    ErrorKind::NotFound,
                    "They withdrew their request.",
                ))
            }
            other => Err(internal(&format!(
                "unexpected answer to an acceptance: {other:?}"
            ))),
        }
    }

    pub async fn reject_request(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        match self.row(peer).await?.map(|r| r.relationship) {
            Some(Relationship::RequestedIn) | Some(Relationship::RequestedOut) => {
                self.shared
                    .store
                    .call(move |c| store::delete(c, &peer))
                    .await?;
                self.publish(Event::RequestsChanged);
                Ok(())
            }
            _ => Err(ApiError::new(
                ErrorKind::NotFound,
                "There is no pending request with that peer.",
            )),
        }
    }

    pub async fn remove_friend(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        if self.row(peer).await?.map(|r| r.relationship) != Some(Relationship::Friend) {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "That peer is not your friend.",
            ));
        }
        self.forget(peer).await?;
        // Tell them, if they are there; they learn nothing new either way.
        let net = self.shared.net.clone();
        tokio::spawn(async move {
            let _ = net.send_pair(peer, Vec::new(), PairRequest::Unfriend).await;
        });
        Ok(())
    }

    pub async fn block(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        let was = self.row(peer).await?.map(|r| r.relationship);
        let now = now_millis();
        self.shared
            .store
            .call(move |c| store::set(c, &peer, Relationship::Blocked, None, now))
            .await?;
        self.shared.net.block(peer).await.map_err(net_error)?;
        self.lock_redial().remove(&peer);
        self.sync_friend_set().await?;
        match was {
            Some(Relationship::Friend) => self.publish(Event::FriendRemoved {
                peer_id: peer.to_base58(),
            }),
            Some(Relationship::RequestedIn) | Some(Relationship::RequestedOut) => {
                self.publish(Event::RequestsChanged)
            }
            _ => {}
        }
        self.publish(Event::BlockedChanged);
        if let Ok(peers) = self.nearby().await {
            self.publish(Event::NearbyChanged { peers });
        }
        Ok(())
    }

    pub async fn unblock(&self, peer_id: &str) -> Result<(), ApiError> {
        let peer = self.parse_other(peer_id)?;
        if self.row(peer).await?.map(|r| r.relationship) != Some(Relationship::Blocked) {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "That peer is not blocked.",
            ));
        }
        self.shared
            .store
            .call(move |c| store::delete(c, &peer))
            .await?;
        self.shared.net.unblock(peer).await.map_err(net_error)?;
        self.publish(Event::BlockedChanged);
        Ok(())
    }

    pub async fn nearby(&self) -> Result<Vec<NearbyPeer>, StoreError> {
        let peers: Vec<PeerId> = self
            .shared
            .nearby
            .lock()
            .expect("nearby lock")
            .keys()
            .copied()
            .collect();
        // One trip to the store for the whole list.
        let rows = self
            .shared
            .store
            .call(move |c| {
                peers
                    .into_iter()
                    .map(|peer| Ok((peer, store::get(c, &peer)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        let mut out = Vec::new();
        for (peer, row) in rows {
            let display_name = row.as_ref().and_then(|r| r.display_name.clone());
            let relationship = match row.map(|r| r.relationship) {
                Some(Relationship::Blocked) => continue,
                Some(Relationship::Friend) => Some(api::Relationship::Friend),
                Some(Relationship::RequestedIn) => Some(api::Relationship::RequestedIn),
                Some(Relationship::RequestedOut) => Some(api::Relationship::RequestedOut),
                None => None,
            };
            out.push(NearbyPeer {
                peer_id: peer.to_base58(),
                display_name,
                relationship,
            });
        }
        out.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        Ok(out)
    }

    /// Sends our new profile to every connected friend.
    pub async fn announce_profile(&self) {
        let Ok(friends) = self.rows(Relationship::Friend).await else {
            return;
        };
        for row in friends {
            if self.connection(&row.peer).is_some() {
                tokio::spawn(self.clone().greet(row.peer));
            }
        }
    }

    // ----------------------------------------------------------------- helpers

    /// Sends a pairing request the user is waiting on, trying once more after a short pause when
    /// no address answered: one of several concurrent dials failing (a hole-punch attempt, a
    /// stale address) can fail a request whose relayed path was about to succeed.
    async fn send_pair_retrying(
        &self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        request: PairRequest,
    ) -> Result<PairResponse, NetError> {
        match self
            .shared
            .net
            .send_pair(peer, addresses.clone(), request.clone())
            .await
        {
            Err(NetError::Unreachable(first)) => {
                tracing::debug!(%peer, error = %first, "pairing request unreachable; retrying once");
                tokio::time::sleep(PAIR_RETRY_PAUSE).await;
                self.shared.net.send_pair(peer, addresses, request).await
            }
            other => other,
        }
    }

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

    async fn known_addresses(&self, peer: PeerId) -> Result<Vec<Multiaddr>, StoreError> {
        let mut addresses = self
            .shared
            .nearby
            .lock()
            .expect("nearby lock")
            .get(&peer)
            .cloned()
            .unwrap_or_default();
        if let Some(row) = self.row(peer).await? {
            addresses.extend(row.addresses);
        }
        Ok(addresses)
    }

    async fn my_card(&self) -> Result<ProfileCard, StoreError> {
        Ok(ProfileCard {
            display_name: profile::get(&self.shared.store).await?.display_name,
        })
    }

    async fn row(&self, peer: PeerId) -> Result<Option<PeerRow>, StoreError> {
        self.shared.store.call(move |c| store::get(c, &peer)).await
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

    async fn card(&self, peer: PeerId) -> Result<Option<PeerCard>, StoreError> {
        Ok(self.row(peer).await?.map(to_card))
    }

    fn to_friend(&self, row: PeerRow) -> Friend {
        Friend {
            peer_id: row.peer.to_base58(),
            display_name: row.display_name.unwrap_or_else(|| short_id(&row.peer)),
            connection: self.connection(&row.peer),
            since: row.since,
            last_seen: row.last_seen,
        }
    }

    fn connection(&self, peer: &PeerId) -> Option<ConnectionKind> {
        self.shared
            .connected
            .lock()
            .expect("connected lock")
            .get(peer)
            .copied()
    }

    fn lock_redial(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, (Instant, Duration)>> {
        self.shared.redial.lock().expect("redial lock")
    }

    async fn sync_friend_set(&self) -> Result<(), StoreError> {
        let friends: HashSet<PeerId> = self
            .rows(Relationship::Friend)
            .await?
            .into_iter()
            .map(|r| r.peer)
            .collect();
        let _ = self.shared.net.set_friends(friends).await;
        Ok(())
    }

    fn publish(&self, event: Event) {
        let _ = self.shared.events.send(event);
    }
}

fn to_card(row: PeerRow) -> PeerCard {
    PeerCard {
        peer_id: row.peer.to_base58(),
        display_name: row.display_name,
        since: row.since,
    }
}

/// `12D3KooW…abc123`: enough to tell peers apart in a list.
pub fn short_id(peer: &PeerId) -> String {
    let text = peer.to_base58();
    let tail = &text[text.len().saturating_sub(6)..];
    format!("Peer …{tail}")
}

/// A name another peer sent us, made safe to show: trimmed, no control characters, at most 64
/// characters; `None` when nothing is left.
pub fn sanitize_name(name: &str) -> Option<String> {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(profile::MAX_NAME_CHARS)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_string())
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
    fn remote_names_are_cleaned_before_they_are_shown() {
        assert_eq!(sanitize_name("  Ada\u{7}  "), Some("Ada".into()));
        assert_eq!(sanitize_name("\n\t"), None);
        assert_eq!(sanitize_name(&"x".repeat(500)).unwrap().chars().count(), 64);
    }

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
