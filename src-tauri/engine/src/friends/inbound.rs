//! The friends actor's side of the network: events from the swarm, and the answers to other
//! peers' pairing requests (carrying out [`policy::decide`]).

use libp2p::{Multiaddr, PeerId};

use super::policy::{self, Ask, Decision, Limits};
use super::store::{self, Redeemed, Relationship};
use super::{decode_secret, is_shareable, lock, sanitize_name, Friends, MAX_INCOMING_REQUESTS};
use crate::api::{Event, Friend};
use crate::net::protocol::{PairRequest, PairResponse, ProfileCard, Refusal};
use crate::net::{self, ConnectionKind, NetEvent};
use crate::profile;
use crate::store::{now_millis, StoreError};
use crate::supervise;

impl Friends {
    pub(super) async fn handle_net_event(&self, event: NetEvent) -> Result<(), StoreError> {
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
                let appeared: Vec<PeerId> = {
                    let mut nearby = lock(&self.shared.nearby);
                    let before = std::mem::replace(&mut *nearby, list.into_iter().collect());
                    nearby
                        .keys()
                        .filter(|peer| !before.contains_key(peer))
                        .copied()
                        .collect()
                };
                let peers = self.nearby().await?;
                // A friend who appears on the LAN is dialled at once rather than at the next
                // backoff (once: the list changes whenever anyone else comes or goes).
                let now = std::time::Instant::now();
                for peer in &peers {
                    if peer.relationship == Some(crate::api::Relationship::Friend) {
                        if let Ok(id) = peer.peer_id.parse() {
                            if appeared.contains(&id) {
                                self.lock_redial().dial_soon(id, now);
                            }
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
            let mut connected = lock(&self.shared.connected);
            match kind {
                Some(kind) => connected.insert(peer, kind),
                None => connected.remove(&peer),
            }
        };
        if self.relationship(peer).await? != Some(Relationship::Friend) {
            return Ok(());
        }
        let now = now_millis();
        self.shared
            .store
            .call(move |c| store::touch(c, &peer, now))
            .await?;
        let instant = std::time::Instant::now();
        match kind {
            Some(_) => {
                self.lock_redial().connected(peer, instant);
                if was.is_none() {
                    supervise::spawn(
                        "friends",
                        self.shared.events.clone(),
                        self.clone().greet(peer),
                    );
                }
            }
            None => self.lock_redial().disconnected(peer, instant),
        }
        if let Some(friend) = self.friend(peer).await? {
            self.publish(Event::FriendUpdated(friend));
        }
        Ok(())
    }

    /// Sends our profile to a friend and records theirs.
    pub(super) async fn greet(self, peer: PeerId) {
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

    /// Notes the name a peer sent (cleaned first), publishing the change for a friend.
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
        let ask = Ask::of(&request);
        // One store trip; the request count matters only to a new request.
        let (relationship, incoming) = self
            .shared
            .store
            .call(move |c| {
                let relationship = store::get(c, &peer)?.map(|r| r.relationship);
                let incoming = match ask {
                    Ask::Request => store::count(c, Relationship::RequestedIn)?,
                    Ask::Redeem | Ask::Accepted | Ask::Hello | Ask::Unfriend => 0,
                };
                Ok((relationship, incoming))
            })
            .await?;
        let limits = Limits {
            incoming,
            max_incoming: MAX_INCOMING_REQUESTS,
        };
        let decision = policy::decide(relationship, ask, limits);
        let (secret, card) = match request {
            PairRequest::Redeem { secret, profile } => (Some(secret), Some(profile)),
            PairRequest::Request { profile }
            | PairRequest::Accepted { profile }
            | PairRequest::Hello { profile } => (None, Some(profile)),
            PairRequest::Unfriend => (None, None),
        };
        let card = card.unwrap_or(ProfileCard {
            display_name: String::new(),
        });
        let refused = |reason| PairResponse::Refused { reason };
        Ok(match decision {
            Decision::Refuse(Refusal::NotFriends) => self.refuse_not_friends(),
            Decision::Refuse(reason) => refused(reason),
            Decision::CheckInvite => {
                let Some(secret) = secret.as_deref().and_then(decode_secret) else {
                    net::bump(&self.shared.net.stats().invites_refused, 1);
                    return Ok(refused(Refusal::InvalidInvite));
                };
                let now = now_millis();
                let verdict = self
                    .shared
                    .store
                    .call(move |c| store::redeem_invite(c, &secret, &peer, now))
                    .await?;
                match verdict {
                    Ok(Redeemed::First) => {
                        self.publish(Event::InvitesChanged);
                        match self.become_friends(peer, &card).await? {
                            Some(_) => self.friends_answer().await?,
                            None => self.refuse_not_friends(),
                        }
                    }
                    Ok(Redeemed::Repeat) => self.friends_answer().await?,
                    Err(reason) => {
                        net::bump(&self.shared.net.stats().invites_refused, 1);
                        refused(reason)
                    }
                }
            }
            Decision::BecomeFriends => match self.become_friends(peer, &card).await? {
                Some(_) => self.friends_answer().await?,
                None => self.refuse_not_friends(),
            },
            Decision::StoreRequest { evict_oldest } => {
                self.store_request(peer, &card, evict_oldest).await?;
                PairResponse::Pending
            }
            Decision::RefreshRequest => {
                if let Some(name) = sanitize_name(&card.display_name) {
                    self.shared
                        .store
                        .call(move |c| store::set_name(c, &peer, &name))
                        .await?;
                }
                PairResponse::Pending
            }
            Decision::GreetBack => {
                self.learn_name(peer, &card).await?;
                self.friends_answer().await?
            }
            Decision::Forget => {
                self.forget(peer).await?;
                PairResponse::Ack
            }
            Decision::Ack => PairResponse::Ack,
        })
    }

    /// Only friends may do that (or the peer was blocked meanwhile): refused, and counted.
    fn refuse_not_friends(&self) -> PairResponse {
        net::bump(&self.shared.net.stats().not_friends, 1);
        PairResponse::Refused {
            reason: Refusal::NotFriends,
        }
    }

    async fn friends_answer(&self) -> Result<PairResponse, StoreError> {
        Ok(PairResponse::Friends {
            profile: self.my_card().await?,
        })
    }

    /// Stores a new incoming request, first evicting the oldest when the list is full.
    async fn store_request(
        &self,
        peer: PeerId,
        card: &ProfileCard,
        evict_oldest: bool,
    ) -> Result<(), StoreError> {
        let name = sanitize_name(&card.display_name);
        let now = now_millis();
        let (evicted, row) = self
            .shared
            .store
            .call(move |c| {
                let evicted = if evict_oldest {
                    store::evict_oldest_request(c)?
                } else {
                    None
                };
                // Insert only: a row that appeared meanwhile (a block, a friendship) stays.
                let stored = store::insert_request(c, &peer, name.as_deref(), now)?;
                Ok((evicted, if stored { store::get(c, &peer)? } else { None }))
            })
            .await?;
        if let Some(evicted) = evicted {
            net::bump(&self.shared.net.stats().requests_evicted, 1);
            tracing::info!(%evicted, "the request list is full; the oldest request was evicted");
        }
        if let Some(row) = row {
            self.publish(Event::RequestReceived(super::to_card(row)));
        }
        self.publish(Event::RequestsChanged);
        Ok(())
    }

    /// Records `peer` as a friend (named by `card`), tells the network, publishes the change.
    /// The row is written and read back in one store call; `None` when the user blocked the peer
    /// meanwhile (a block is never overwritten, see [`store::set`]).
    pub(super) async fn become_friends(
        &self,
        peer: PeerId,
        card: &ProfileCard,
    ) -> Result<Option<Friend>, StoreError> {
        let name = sanitize_name(&card.display_name);
        let now = now_millis();
        let (was, row) = self
            .shared
            .store
            .call(move |c| {
                let was = store::get(c, &peer)?.map(|r| r.relationship);
                store::set(c, &peer, Relationship::Friend, name.as_deref(), now)?;
                let row = store::get(c, &peer)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                Ok((was, row))
            })
            .await?;
        if row.relationship != Relationship::Friend {
            return Ok(None);
        }
        self.sync_friend_set().await?;
        let friend = self.to_friend(row);
        if was != Some(Relationship::Friend) {
            let now = std::time::Instant::now();
            if self.connection(&peer).is_some() {
                self.lock_redial().connected(peer, now);
            } else {
                self.lock_redial().absent(peer, None, now);
            }
            if was.is_some() {
                self.publish(Event::RequestsChanged);
            }
            self.publish(Event::FriendAdded(friend.clone()));
        }
        Ok(Some(friend))
    }

    /// Ends a friendship on our side: the row goes, and so do the invites they redeemed.
    pub(super) async fn forget(&self, peer: PeerId) -> Result<(), StoreError> {
        let removed = self
            .shared
            .store
            .call(move |c| store::forget(c, &peer))
            .await?;
        self.lock_redial().forget(&peer);
        self.sync_friend_set().await?;
        if removed {
            self.publish(Event::FriendRemoved {
                peer_id: peer.to_base58(),
            });
            self.publish(Event::InvitesChanged);
        }
        Ok(())
    }

    pub(super) async fn my_card(&self) -> Result<ProfileCard, StoreError> {
        Ok(ProfileCard {
            display_name: profile::get(&self.shared.store).await?.display_name,
        })
    }
}
