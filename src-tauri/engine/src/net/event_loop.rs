//! The task that owns the libp2p `Swarm` (conventions 1 and 3).
//!
//! `run` selects over shutdown, commands from [`Client`]s, swarm events and a one-second
//! housekeeping tick (closing strangers whose grace period has passed). Pending outbound requests
//! are kept by request id until their answer or failure arrives.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::core::ConnectedPoint;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self as rr, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{allow_block_list, autonat, dcutr, identify, mdns, noise, ping, relay, tcp, yamux};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};

use super::protocol::{PairRequest, PairResponse, MAX_PAIR_MESSAGE, PAIR_PROTOCOL};
use super::{is_loopback, Client, Command, ConnectionKind, NetConfig, NetError, NetEvent, Reply};

/// Identify's protocol version: peers of other apps are told apart by it.
pub const IDENTIFY_PROTOCOL: &str = "/earshot/1.0.0";
/// mDNS query interval: a peer on the LAN is seen within a few seconds (libp2p's default is 5 min).
const MDNS_QUERY_INTERVAL: Duration = Duration::from_secs(2);
/// Ping every 2 s and give up after 4 s: with the close that follows a failure, a friend who
/// vanishes (kill -9, cable pulled) shows offline well within 10 s.
const PING_INTERVAL: Duration = Duration::from_secs(2);
const PING_TIMEOUT: Duration = Duration::from_secs(4);
/// A friend's connection with no successful ping for this long is dead (a pulled cable): with pings every
/// 2 s this is three missed rounds, and it keeps "offline within 10 s" true. libp2p's ping alone
/// would take ~18 s (its first failure is silent, the next waits on a 10 s stream timeout).
const DEAD_AFTER: Duration = Duration::from_secs(7);
/// How long `addresses` waits for the first listen address after start.
const ADDRESS_WAIT: Duration = Duration::from_secs(3);
/// How soon to reserve again after a relay reservation ends.
const RELAY_RETRY: Duration = Duration::from_secs(5);
/// A pairing round trip over a slow relay fits easily.
const PAIR_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    relay_client: relay::client::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    autonat: autonat::Behaviour,
    dcutr: dcutr::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    pair: rr::cbor::Behaviour<PairRequest, PairResponse>,
}

pub struct EventLoop {
    // Channels.
    /// Commands from clients.
    inbox: mpsc::Receiver<Command>,
    /// Events for the friends service.
    events: mpsc::Sender<NetEvent>,
    /// A client of our own, handed out with each inbound request so it can be answered.
    client: Client,

    // State.
    swarm: Swarm<Behaviour>,
    /// Outbound pairing requests waiting for their answer.
    pending_pair: HashMap<OutboundRequestId, oneshot::Sender<Result<PairResponse, NetError>>>,
    /// Open connections per peer, and whether each is relayed.
    connections: HashMap<PeerId, HashMap<ConnectionId, bool>>,
    /// When each connection last proved alive (established, or a ping answered).
    alive: HashMap<ConnectionId, (PeerId, Instant)>,
    /// Peers whose connections are kept: friends, and the relays we reserve on.
    friends: HashSet<PeerId>,
    /// The configured relays' peer ids (never closed as strangers).
    relays: HashSet<PeerId>,
    /// Circuit listeners (reservations) by listener, with their relay's address.
    relay_listeners: HashMap<ListenerId, Multiaddr>,
    /// Relays to reserve on again, and when.
    relay_retries: Vec<(Instant, Multiaddr)>,
    /// Strangers to disconnect once their grace period ends.
    stranger_deadlines: HashMap<PeerId, Instant>,
    /// Peers seen on the LAN.
    nearby: HashMap<PeerId, Vec<Multiaddr>>,
    /// Callers of `addresses` waiting for the first listen address (an invite made right after
    /// start must not come out empty), with when to give up and answer anyway.
    waiting_for_addresses: Vec<(Instant, oneshot::Sender<Vec<Multiaddr>>)>,
    config: NetConfig,
}

impl EventLoop {
    pub(super) fn new(
        keypair: Keypair,
        config: NetConfig,
        inbox: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
        client: Client,
    ) -> Result<Self, NetError> {
        let start = |e: &dyn std::fmt::Display| NetError::Start(e.to_string());
        let use_mdns = config.mdns;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| start(&e))?
            .with_quic()
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| start(&e))?
            .with_behaviour(|key, relay_client| {
                let peer = key.public().to_peer_id();
                let mdns = if use_mdns {
                    let config = mdns::Config {
                        query_interval: MDNS_QUERY_INTERVAL,
                        ttl: Duration::from_secs(30),
                        ..Default::default()
                    };
                    Some(mdns::tokio::Behaviour::new(config, peer)?)
                } else {
                    None
                };
                let codec = rr::cbor::codec::Codec::<PairRequest, PairResponse>::default()
                    .set_request_size_maximum(MAX_PAIR_MESSAGE)
                    .set_response_size_maximum(MAX_PAIR_MESSAGE);
                Ok(Behaviour {
                    blocked: Default::default(),
                    relay_client,
                    identify: identify::Behaviour::new(
                        identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                            .with_agent_version(format!("earshot/{}", crate::VERSION)),
                    ),
                    ping: ping::Behaviour::new(
                        ping::Config::new()
                            .with_interval(PING_INTERVAL)
                            .with_timeout(PING_TIMEOUT),
                    ),
                    autonat: autonat::Behaviour::new(peer, autonat::Config::default()),
                    dcutr: dcutr::Behaviour::new(peer),
                    mdns: Toggle::from(mdns),
                    pair: rr::cbor::Behaviour::with_codec(
                        codec,
                        [(PAIR_PROTOCOL, ProtocolSupport::Full)],
                        rr::Config::default().with_request_timeout(PAIR_TIMEOUT),
                    ),
                })
            })
            .map_err(|e| start(&e))?
            // Never close for idleness: friends stay connected; strangers are closed by policy.
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(u64::MAX)))
            .build();

        for address in &config.listen {
            if let Err(error) = swarm.listen_on(address.clone()) {
                // A remembered port may be taken by now: any port is better than none.
                let any_port = super::ports::with_port(address, 0);
                if any_port == *address {
                    return Err(NetError::Start(format!(
                        "cannot listen on {address}: {error}"
                    )));
                }
                tracing::warn!(%address, %error, "the remembered port is taken; using another");
                swarm
                    .listen_on(any_port.clone())
                    .map_err(|e| NetError::Start(format!("cannot listen on {any_port}: {e}")))?;
            }
        }
        // The circuit listener dials the relay itself: dialling it here as well would make that
        // dial fail ("already dialling") and the reservation would never be made.
        let mut relay_listeners = HashMap::new();
        for relay in &config.relays {
            match swarm.listen_on(relay.clone().with(Protocol::P2pCircuit)) {
                Ok(id) => {
                    relay_listeners.insert(id, relay.clone());
                }
                Err(e) => tracing::warn!(%relay, error = %e, "cannot reserve on the relay"),
            }
        }
        Ok(EventLoop {
            inbox,
            events,
            client,
            swarm,
            pending_pair: HashMap::new(),
            connections: HashMap::new(),
            alive: HashMap::new(),
            friends: HashSet::new(),
            relays: config.relays.iter().filter_map(peer_of).collect(),
            relay_listeners,
            relay_retries: Vec::new(),
            stranger_deadlines: HashMap::new(),
            nearby: HashMap::new(),
            waiting_for_addresses: Vec::new(),
            config,
        })
    }

    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                command = self.inbox.recv() => match command {
                    Some(Command::Shutdown { done }) => {
                        self.close_all();
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.handle_command(command),
                    None => return,
                },
                event = self.swarm.select_next_some() => self.handle_event(event).await,
                _ = tick.tick() => {
                    self.answer_address_waiters(false);
                    self.close_expired_strangers();
                    self.retry_relays();
                    self.drop_dead_connections().await;
                }
            }
        }
    }

    fn close_all(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::SendPair {
                peer,
                addresses,
                request,
                reply,
            } => {
                for address in addresses {
                    self.swarm.add_peer_address(peer, address);
                }
                let id = self.swarm.behaviour_mut().pair.send_request(&peer, request);
                self.pending_pair.insert(id, reply);
            }
            Command::Respond { channel, response } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .pair
                    .send_response(channel, response)
                    .is_err()
                {
                    tracing::debug!("a pairing answer could not be sent: the peer left");
                }
            }
            Command::Dial { peer, addresses } => {
                if self.swarm.is_connected(&peer) {
                    return;
                }
                let options = DialOpts::peer_id(peer)
                    .addresses(addresses)
                    .extend_addresses_through_behaviour()
                    .build();
                if let Err(e) = self.swarm.dial(options) {
                    tracing::debug!(%peer, error = %e, "dial not started");
                }
            }
            Command::Disconnect { peer } => {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Block { peer } => {
                self.swarm.behaviour_mut().blocked.block_peer(peer);
            }
            Command::Unblock { peer } => {
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            }
            Command::SetFriends { friends } => {
                let now = Instant::now();
                // Peers who just stopped being friends become strangers with a fresh grace period.
                for peer in self.connections.keys() {
                    if !friends.contains(peer) && self.friends.contains(peer) {
                        self.stranger_deadlines
                            .insert(*peer, now + self.config.stranger_grace);
                    }
                }
                for friend in &friends {
                    self.stranger_deadlines.remove(friend);
                }
                self.friends = friends;
            }
            Command::Addresses { reply } => {
                if self.swarm.listeners().next().is_none() && !self.config.listen.is_empty() {
                    self.waiting_for_addresses
                        .push((Instant::now() + ADDRESS_WAIT, reply));
                } else {
                    let _ = reply.send(self.addresses());
                }
            }
            Command::SetRelays { relays } => {
                let wanted: HashSet<Multiaddr> = relays.iter().cloned().collect();
                let dropped: Vec<ListenerId> = self
                    .relay_listeners
                    .iter()
                    .filter(|(_, relay)| !wanted.contains(*relay))
                    .map(|(id, _)| *id)
                    .collect();
                for id in dropped {
                    self.relay_listeners.remove(&id);
                    self.swarm.remove_listener(id);
                }
                self.relay_retries
                    .retain(|(_, relay)| wanted.contains(relay));
                let known: HashSet<Multiaddr> = self
                    .relay_listeners
                    .values()
                    .chain(self.relay_retries.iter().map(|(_, r)| r))
                    .cloned()
                    .collect();
                let now = Instant::now();
                for relay in relays.iter().filter(|r| !known.contains(*r)) {
                    self.relay_retries.push((now, relay.clone()));
                }
                self.relays = relays.iter().filter_map(peer_of).collect();
                self.retry_relays();
            }
            Command::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    /// Our reachable addresses: confirmed external ones, then listen addresses (relayed included),
    /// loopback last.
    fn addresses(&self) -> Vec<Multiaddr> {
        let mut out: Vec<Multiaddr> = self.swarm.external_addresses().cloned().collect();
        let mut listen: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
        listen.sort_by_key(is_loopback);
        for address in listen {
            if !out.contains(&address) {
                out.push(address);
            }
        }
        out
    }

    /// Declares connections without a recent ping dead: reported at once, then closed (a graceful
    /// close over a dead link can itself take long).
    async fn drop_dead_connections(&mut self) {
        let now = Instant::now();
        let dead: Vec<(ConnectionId, PeerId)> = self
            .alive
            .iter()
            // Only friends: the rule exists to show a vanished friend offline quickly. A relay's
            // connection (which carries every circuit) is left to the transport's own timeouts.
            .filter(|(_, (peer, at))| {
                self.friends.contains(peer) && now.duration_since(*at) > DEAD_AFTER
            })
            .map(|(id, (peer, _))| (*id, *peer))
            .collect();
        for (id, peer) in dead {
            tracing::debug!(%peer, "no ping answered for {DEAD_AFTER:?}; the connection is dead");
            self.alive.remove(&id);
            self.forget_connection(peer, id).await;
            self.swarm.close_connection(id);
        }
    }

    /// Removes a connection from the books, reporting the peer's new state if it changed.
    async fn forget_connection(&mut self, peer: PeerId, id: ConnectionId) {
        let before = self.best_kind(&peer);
        if let Some(connections) = self.connections.get_mut(&peer) {
            connections.remove(&id);
            if connections.is_empty() {
                self.connections.remove(&peer);
                self.stranger_deadlines.remove(&peer);
            }
        }
        let after = self.best_kind(&peer);
        if before != after {
            emit(&self.events, NetEvent::Connection { peer, kind: after }).await;
        }
    }

    /// Answers callers waiting for addresses: all of them when `now_known`, else those whose
    /// wait is over.
    fn answer_address_waiters(&mut self, now_known: bool) {
        if self.waiting_for_addresses.is_empty() {
            return;
        }
        let now = Instant::now();
        let addresses = self.addresses();
        let (due, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_for_addresses)
            .into_iter()
            .partition(|(deadline, _)| now_known || *deadline <= now);
        self.waiting_for_addresses = wait;
        for (_, reply) in due {
            let _ = reply.send(addresses.clone());
        }
    }

    /// Reserves again on relays whose reservation ended (relay restarted, network changed).
    fn retry_relays(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.relay_retries)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.relay_retries = later;
        for (_, relay) in due {
            match self
                .swarm
                .listen_on(relay.clone().with(Protocol::P2pCircuit))
            {
                Ok(id) => {
                    self.relay_listeners.insert(id, relay);
                }
                Err(error) => {
                    tracing::warn!(%relay, %error, "cannot reserve on the relay; retrying");
                    self.relay_retries.push((now + RELAY_RETRY, relay));
                }
            }
        }
    }

    fn close_expired_strangers(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .stranger_deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in expired {
            self.stranger_deadlines.remove(&peer);
            if !self.friends.contains(&peer) && self.swarm.is_connected(&peer) {
                tracing::debug!(%peer, "closing a stranger's connection");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    fn best_kind(&self, peer: &PeerId) -> Option<ConnectionKind> {
        let connections = self.connections.get(peer)?;
        if connections.is_empty() {
            None
        } else if connections.values().any(|relayed| !relayed) {
            Some(ConnectionKind::Direct)
        } else {
            Some(ConnectionKind::Relayed)
        }
    }

    async fn handle_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let before = self.best_kind(&peer_id);
                self.connections
                    .entry(peer_id)
                    .or_default()
                    .insert(connection_id, endpoint.is_relayed());
                self.alive.insert(connection_id, (peer_id, Instant::now()));
                if !self.friends.contains(&peer_id) && !self.relays.contains(&peer_id) {
                    self.stranger_deadlines
                        .entry(peer_id)
                        .or_insert_with(|| Instant::now() + self.config.stranger_grace);
                }
                tracing::debug!(peer = %peer_id, address = %remote_address(&endpoint), "connected");
                let after = self.best_kind(&peer_id);
                if before != after {
                    emit(
                        &self.events,
                        NetEvent::Connection {
                            peer: peer_id,
                            kind: after,
                        },
                    )
                    .await;
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                cause,
                ..
            } => {
                tracing::debug!(peer = %peer_id, cause = ?cause, "connection closed");
                self.alive.remove(&connection_id);
                self.forget_connection(peer_id, connection_id).await;
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.answer_address_waiters(true);
                emit(&self.events, NetEvent::ListenAddresses(self.addresses())).await;
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::info!(%address, "reachable at");
                emit(&self.events, NetEvent::ListenAddresses(self.addresses())).await;
            }
            SwarmEvent::ExpiredListenAddr { .. } | SwarmEvent::ExternalAddrExpired { .. } => {
                emit(&self.events, NetEvent::ListenAddresses(self.addresses())).await;
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                if let Some(relay) = self.relay_listeners.remove(&listener_id) {
                    tracing::warn!(%relay, ?reason, "the relay reservation ended; reserving again in {RELAY_RETRY:?}");
                    self.relay_retries
                        .push((Instant::now() + RELAY_RETRY, relay));
                } else if let Err(error) = reason {
                    tracing::warn!(?addresses, %error, "a listener closed");
                }
                emit(&self.events, NetEvent::ListenAddresses(self.addresses())).await;
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::IncomingConnectionError { error, peer_id, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "incoming connection refused");
            }
            SwarmEvent::Behaviour(event) => self.handle_behaviour_event(event).await,
            _ => {}
        }
    }

    async fn handle_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Pair(rr::Event::Message { peer, message, .. }) => match message {
                rr::Message::Request {
                    request, channel, ..
                } => {
                    let reply = Reply {
                        channel,
                        client: self.client.clone(),
                    };
                    emit(
                        &self.events,
                        NetEvent::InboundPair {
                            peer,
                            request,
                            reply,
                        },
                    )
                    .await;
                }
                rr::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending_pair.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            BehaviourEvent::Pair(rr::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            }) => {
                tracing::debug!(%peer, %error, "pairing request failed");
                if let Some(reply) = self.pending_pair.remove(&request_id) {
                    let error = match error {
                        rr::OutboundFailure::DialFailure => {
                            NetError::Unreachable("no address of it answered".into())
                        }
                        rr::OutboundFailure::Timeout => NetError::Timeout,
                        rr::OutboundFailure::UnsupportedProtocols => NetError::Unsupported,
                        other => NetError::Failed(other.to_string()),
                    };
                    let _ = reply.send(Err(error));
                }
            }
            BehaviourEvent::Pair(rr::Event::InboundFailure { peer, error, .. }) => {
                // Includes malformed and oversized requests (the codec refuses them).
                tracing::debug!(%peer, %error, "an inbound pairing request failed");
            }
            BehaviourEvent::Pair(_) => {}
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version != IDENTIFY_PROTOCOL {
                    tracing::debug!(peer = %peer_id, version = %info.protocol_version, "not an Earshot peer");
                    return;
                }
                for address in &info.listen_addrs {
                    self.swarm.add_peer_address(peer_id, address.clone());
                }
                emit(
                    &self.events,
                    NetEvent::PeerAddresses {
                        peer: peer_id,
                        addresses: info.listen_addrs,
                    },
                )
                .await;
            }
            BehaviourEvent::Identify(_) => {}
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result,
            }) => match result {
                Ok(_) => {
                    if let Some((_, at)) = self.alive.get_mut(&connection) {
                        *at = Instant::now();
                    }
                }
                Err(failure) => {
                    // Ping does not close a dead connection by itself; without this a friend whose
                    // cable was pulled would look online until TCP gave up, minutes later.
                    tracing::debug!(%peer, %failure, "ping failed; closing the connection");
                    self.swarm.close_connection(connection);
                }
            },
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, address) in found {
                    if peer == *self.swarm.local_peer_id() {
                        continue;
                    }
                    let addresses = self.nearby.entry(peer).or_default();
                    if !addresses.contains(&address) {
                        addresses.push(address.clone());
                    }
                    self.swarm.add_peer_address(peer, address);
                }
                self.emit_nearby().await;
            }
            BehaviourEvent::Mdns(mdns::Event::Expired(gone)) => {
                for (peer, address) in gone {
                    if let Some(addresses) = self.nearby.get_mut(&peer) {
                        addresses.retain(|a| *a != address);
                        if addresses.is_empty() {
                            self.nearby.remove(&peer);
                        }
                    }
                }
                self.emit_nearby().await;
            }
            BehaviourEvent::RelayClient(event) => tracing::info!(?event, "relay"),
            BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            }) => match result {
                Ok(_) => tracing::info!(peer = %remote_peer_id, "hole punched: direct connection"),
                Err(error) => {
                    tracing::info!(peer = %remote_peer_id, %error, "hole punching failed; staying relayed")
                }
            },
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { old, new }) => {
                tracing::info!(?old, ?new, "NAT status changed");
            }
            BehaviourEvent::Autonat(_) => {}
        }
    }

    async fn emit_nearby(&mut self) {
        let list = self
            .nearby
            .iter()
            .map(|(peer, addresses)| (*peer, addresses.clone()))
            .collect();
        emit(&self.events, NetEvent::Nearby(list)).await;
    }
}

fn remote_address(endpoint: &ConnectedPoint) -> &Multiaddr {
    endpoint.get_remote_address()
}

/// Sends `event` to the friends service. Borrowing only the sender keeps the event loop's future
/// `Send` (the swarm is not `Sync`).
async fn emit(events: &mpsc::Sender<NetEvent>, event: NetEvent) {
    if events.send(event).await.is_err() {
        tracing::debug!("no one listens to network events any more");
    }
}

/// The peer id at the end of `address` (`…/p2p/<id>`), if any.
fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}
