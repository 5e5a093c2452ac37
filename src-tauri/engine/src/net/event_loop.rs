//! The task that owns the libp2p `Swarm` (conventions 1 and 3).
//!
//! `run` selects over shutdown, commands from [`Client`]s, swarm events and a one-second
//! housekeeping tick (closing strangers whose grace period has passed). Pending outbound requests
//! are kept by request id until their answer or failure arrives.
//!
//! **The loop never waits on anyone.** It hands events to the friends service with `try_send`
//! only, so a slow or stuck consumer can never stop the swarm from being polled (pings keep being
//! answered, friends stay online). When the event queue is full:
//! - a peer's connection state, the nearby list and our own addresses are *deferred*: kept in an
//!   [`Outbox`] where a newer value replaces an older one, and delivered as soon as there is room
//!   (nothing is lost but intermediate states);
//! - an inbound pairing request is answered `Busy` at once (the peer may try again);
//! - a peer's identify addresses are dropped (they are a hint, repeated on every connection).
//!
//! Each case is counted in [`Stats`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
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
use libp2p::{
    allow_block_list, autonat, connection_limits, dcutr, identify, mdns, noise, ping, relay, tcp,
    yamux,
};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use super::clock::CLOCK_PROTOCOL;
use super::codec::CountedCodec;
use super::limits::{PairRateLimit, PeerRateLimit, StrangerBudget};
use super::protocol::JAM_PROTOCOL;
use super::protocol::{
    PairRequest, PairResponse, PresenceRefusal, PresenceRequest, PresenceResponse, Refusal,
    SyncRefusal, SyncRequest, SyncResponse, TransferRefusal, TransferRequest, TransferResponse,
    MAX_PAIR_MESSAGE, MAX_PRESENCE_MESSAGE, MAX_SYNC_MESSAGE, MAX_TRANSFER_MESSAGE, PAIR_PROTOCOL,
    PRESENCE_PROTOCOL, SYNC_PROTOCOL, TRANSFER_PROTOCOL,
};
use super::stats::{bump, Stats};
use super::{
    is_loopback, ChatNetEvent, Client, Command, ConnectionKind, JamNetEvent, JamReply, NetConfig,
    NetError, NetEvent, PresenceNetEvent, PresenceReply, Reply, SyncReply, TransferReply,
};
use crate::jam::session::Refusal as JamRefusal;
use crate::jam::wire::{JamRequest, JamResponse, MAX_JAM_MESSAGE};

/// Waiting callers of one request-response protocol, by request.
type Pending<Resp> = HashMap<OutboundRequestId, oneshot::Sender<Result<Resp, NetError>>>;

/// Settles what a request-response event says about our own requests (an answer or a failure,
/// handed to the waiting caller) and returns an inbound request, if the event is one. Malformed
/// and oversized requests are counted by `CountedCodec`: libp2p reports no event for a request
/// that fails to decode.
fn settle<Req, Resp>(
    event: rr::Event<Req, Resp>,
    pending: &mut Pending<Resp>,
    protocol: &'static str,
) -> Option<(PeerId, Req, rr::ResponseChannel<Resp>)> {
    match event {
        rr::Event::Message { peer, message, .. } => match message {
            rr::Message::Request {
                request, channel, ..
            } => Some((peer, request, channel)),
            rr::Message::Response {
                request_id,
                response,
            } => {
                if let Some(reply) = pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
                None
            }
        },
        rr::Event::OutboundFailure {
            request_id,
            error,
            peer,
            ..
        } => {
            tracing::debug!(%peer, %error, protocol, "a request failed");
            if let Some(reply) = pending.remove(&request_id) {
                let _ = reply.send(Err(outbound_error(error)));
            }
            None
        }
        rr::Event::InboundFailure { peer, error, .. } => {
            tracing::debug!(%peer, %error, protocol, "an inbound request failed");
            None
        }
        rr::Event::ResponseSent { .. } => None,
    }
}

/// Identify's protocol version: peers of other apps are told apart by it.
pub const IDENTIFY_PROTOCOL: &str = "/earshot/1.0.0";
/// mDNS: each interface starts by querying after 0.5 s, then at doubling intervals until one
/// answers or the interval reaches this, then every minute (libp2p's default is 5 min). A peer
/// that starts is seen at once both ways: its own queries are looped back to itself and answered
/// by it on the multicast group, where every peer hears the answer. A new network interface
/// starts its own fast round. What an idle peer on a quiet LAN costs is one query a minute.
const MDNS_QUERY_INTERVAL: Duration = Duration::from_secs(60);
/// How long others keep our mDNS record: a little over two query rounds, so one lost answer does
/// not drop us from their Nearby list, and a peer that left without a word goes within 2.5 min.
const MDNS_TTL: Duration = Duration::from_secs(150);
/// Ping every 2 s and give up after 4 s: with the close that follows a failure, a friend who
/// vanishes (kill -9, cable pulled) shows offline well within 10 s.
const PING_INTERVAL: Duration = Duration::from_secs(2);
const PING_TIMEOUT: Duration = Duration::from_secs(4);
/// A friend's connection with no successful ping for this long is dead (a pulled cable): with pings every
/// 2 s this is three missed rounds, and it keeps "offline within 10 s" true. libp2p's ping alone
/// would take ~18 s (its first failure is silent, the next waits on a 10 s stream timeout).
const DEAD_AFTER: Duration = Duration::from_secs(7);
/// How often a stranger with a spent budget whom we are asking something is looked at again.
const ASKING_RECHECK: Duration = Duration::from_secs(1);
/// How long `addresses` waits for the first listen address after start.
pub(super) const ADDRESS_WAIT: Duration = Duration::from_secs(3);
/// How soon to reserve again after a relay reservation ends.
const RELAY_RETRY: Duration = Duration::from_secs(5);
/// A pairing round trip over a slow relay fits easily.
pub(super) const PAIR_TIMEOUT: Duration = Duration::from_secs(20);
/// A sync round trip carries up to a few MiB of entries.
pub(super) const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// A chunk of audio over a slow relay.
pub(super) const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);
/// An activity update is small: a friend who cannot take one in 5 s gets the next one later.
pub(super) const PRESENCE_TIMEOUT: Duration = Duration::from_secs(5);
/// A jam message (a full state is at most 512 KiB).
pub(super) const JAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Peers kept in the nearby list, and addresses per peer: a LAN has a handful of Earshots; a
/// host announcing thousands of peer ids over mDNS is ignored beyond this.
const MAX_NEARBY: usize = 64;
const MAX_NEARBY_ADDRESSES: usize = 8;
/// Connection limits. Friends and relays are exempt; these bound what strangers can hold open:
/// handshakes in progress, connections per peer (a direct and a relayed one, plus a redial), and
/// connections in all.
const MAX_PENDING_INCOMING: u32 = 32;
const MAX_PER_PEER: u32 = 4;
const MAX_ESTABLISHED: u32 = 512;

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    limits: connection_limits::Behaviour,
    relay_client: relay::client::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    autonat: autonat::Behaviour,
    dcutr: dcutr::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    pair: rr::Behaviour<CountedCodec<PairRequest, PairResponse>>,
    sync: rr::Behaviour<CountedCodec<SyncRequest, SyncResponse>>,
    transfer: rr::Behaviour<CountedCodec<TransferRequest, TransferResponse>>,
    presence: rr::Behaviour<CountedCodec<PresenceRequest, PresenceResponse>>,
    jam: rr::Behaviour<CountedCodec<JamRequest, JamResponse>>,
    /// Plain streams: the clock exchanges (`net/clock.rs`).
    stream: libp2p_stream::Behaviour,
}

/// Events that found the friends service's queue full, newest value per key, delivered in this
/// order as soon as there is room.
#[derive(Default)]
struct Outbox {
    connections: HashMap<PeerId, Option<ConnectionKind>>,
    nearby: Option<Vec<(PeerId, Vec<Multiaddr>)>>,
    listen: Option<Vec<Multiaddr>>,
}

impl Outbox {
    fn is_empty(&self) -> bool {
        self.connections.is_empty() && self.nearby.is_none() && self.listen.is_none()
    }
}

pub struct EventLoop {
    // Channels.
    /// Commands from clients.
    inbox: mpsc::Receiver<Command>,
    /// Events for the friends service; only ever `try_send` (see the module doc).
    events: mpsc::Sender<NetEvent>,
    /// Events waiting for room in `events`.
    outbox: Outbox,
    /// Events for the chat service; only ever `try_send`. A connection event that finds it full
    /// is dropped (the service re-checks who is connected on its own tick); a sync request is
    /// answered `Busy`.
    chat_events: mpsc::Sender<ChatNetEvent>,
    /// Friends' activity updates for the presence service; only ever `try_send` (a full queue
    /// answers `Busy`, and the friend sends its latest again later).
    presence_events: mpsc::Sender<PresenceNetEvent>,
    /// Jam messages for the jam service; only ever `try_send` (a full queue answers `Busy`).
    jam_events: mpsc::Sender<JamNetEvent>,
    /// Counters shared with every `Client`.
    stats: Arc<Stats>,
    /// A client of our own, handed out with each inbound request so it can be answered.
    client: Client,

    // State.
    swarm: Swarm<Behaviour>,
    /// Outbound pairing requests waiting for their answer.
    pending_pair: Pending<PairResponse>,
    /// Whom each pairing request still awaiting its answer went to: a stranger we are asking
    /// (accepting their request, say) is not closed on for a spent budget until they answered.
    asking: HashMap<OutboundRequestId, PeerId>,
    /// Outbound sync requests waiting for their answer.
    pending_sync: Pending<SyncResponse>,
    /// Peers who share a group with us without being friends: they may sync, nothing else.
    members: HashSet<PeerId>,
    /// Rate limits on sync requests.
    sync_limit: PeerRateLimit,
    /// Outbound transfer requests waiting for their answer.
    pending_transfer: Pending<TransferResponse>,
    /// Rate limits on transfer requests (a chunk each).
    transfer_limit: PeerRateLimit,
    /// Rate limits on outline requests (each may cost a whole file's hash).
    outline_limit: PeerRateLimit,
    /// Outbound activity updates waiting for their answer.
    pending_presence: Pending<PresenceResponse>,
    /// Rate limits on friends' activity updates.
    presence_limit: PeerRateLimit,
    /// Outbound jam messages waiting for their answer.
    pending_jam: Pending<JamResponse>,
    jam_limit: PeerRateLimit,
    /// The participants of our jam: they may talk jam and clock, and fetch the jam's tracks.
    jam_peers: HashSet<PeerId>,
    /// The same set, read by the clock streams' task.
    clock_allowed: super::clock::Allowed,
    /// Opens clock streams.
    stream_control: libp2p_stream::Control,
    /// Open connections per peer, and whether each is relayed.
    connections: HashMap<PeerId, HashMap<ConnectionId, bool>>,
    /// When each connection last proved alive (established, or a ping answered).
    alive: HashMap<ConnectionId, (PeerId, Instant)>,
    /// Peers whose connections are kept: friends, and the relays we reserve on.
    friends: HashSet<PeerId>,
    /// Peers we asked to be friends, whose answer we await: not held to a stranger's budget.
    awaited: HashSet<PeerId>,
    /// The configured relays' peer ids (never closed as strangers).
    relays: HashSet<PeerId>,
    /// Circuit listeners (reservations) by listener, with their relay's address.
    relay_listeners: HashMap<ListenerId, Multiaddr>,
    /// Relays to reserve on again, and when.
    relay_retries: Vec<(Instant, Multiaddr)>,
    /// Strangers to disconnect once their grace period ends.
    stranger_deadlines: HashMap<PeerId, Instant>,
    /// Strangers whose grace ran out and whose connections are closing: a request already on its
    /// way in is refused, not served (until their last connection is gone).
    strangers_closing: HashSet<PeerId>,
    /// How long each stranger may stay, across reconnects.
    stranger_budget: StrangerBudget,
    /// Rate limits on strangers' pairing requests.
    pair_limit: PairRateLimit,
    /// Peers seen on the LAN.
    nearby: HashMap<PeerId, Vec<Multiaddr>>,
    /// Callers of `addresses` waiting for the first listen address (an invite made right after
    /// start must not come out empty), with when to give up and answer anyway.
    waiting_for_addresses: Vec<(Instant, oneshot::Sender<Vec<Multiaddr>>)>,
    config: NetConfig,
}

/// Where the loop hands what arrives: one bounded queue per service.
pub(super) struct Outlets {
    pub events: mpsc::Sender<NetEvent>,
    pub chat_events: mpsc::Sender<ChatNetEvent>,
    pub presence_events: mpsc::Sender<PresenceNetEvent>,
    pub jam_events: mpsc::Sender<JamNetEvent>,
}

impl EventLoop {
    pub(super) fn new(
        keypair: Keypair,
        config: NetConfig,
        inbox: mpsc::Receiver<Command>,
        outlets: Outlets,
        client: Client,
    ) -> Result<Self, NetError> {
        let Outlets {
            events,
            chat_events,
            presence_events,
            jam_events,
        } = outlets;
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
                        ttl: MDNS_TTL,
                        ..Default::default()
                    };
                    Some(mdns::tokio::Behaviour::new(config, peer)?)
                } else {
                    None
                };
                let codec = CountedCodec::new(client.stats().clone(), MAX_PAIR_MESSAGE);
                let sync_codec = CountedCodec::new(client.stats().clone(), MAX_SYNC_MESSAGE);
                let transfer_codec =
                    CountedCodec::new(client.stats().clone(), MAX_TRANSFER_MESSAGE);
                let presence_codec =
                    CountedCodec::new(client.stats().clone(), MAX_PRESENCE_MESSAGE);
                let jam_codec = CountedCodec::new(client.stats().clone(), MAX_JAM_MESSAGE);
                Ok(Behaviour {
                    blocked: Default::default(),
                    limits: connection_limits::Behaviour::new(
                        connection_limits::ConnectionLimits::default()
                            .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                            .with_max_established_per_peer(Some(MAX_PER_PEER))
                            .with_max_established(Some(MAX_ESTABLISHED)),
                    ),
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
                    pair: rr::Behaviour::with_codec(
                        codec,
                        [(PAIR_PROTOCOL, ProtocolSupport::Full)],
                        rr::Config::default().with_request_timeout(PAIR_TIMEOUT),
                    ),
                    sync: rr::Behaviour::with_codec(
                        sync_codec,
                        [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                        rr::Config::default().with_request_timeout(SYNC_TIMEOUT),
                    ),
                    transfer: rr::Behaviour::with_codec(
                        transfer_codec,
                        [(TRANSFER_PROTOCOL, ProtocolSupport::Full)],
                        rr::Config::default().with_request_timeout(TRANSFER_TIMEOUT),
                    ),
                    presence: rr::Behaviour::with_codec(
                        presence_codec,
                        [(PRESENCE_PROTOCOL, ProtocolSupport::Full)],
                        rr::Config::default().with_request_timeout(PRESENCE_TIMEOUT),
                    ),
                    jam: rr::Behaviour::with_codec(
                        jam_codec,
                        [(JAM_PROTOCOL, ProtocolSupport::Full)],
                        rr::Config::default().with_request_timeout(JAM_TIMEOUT),
                    ),
                    stream: libp2p_stream::Behaviour::new(),
                })
            })
            .map_err(|e| start(&e))?
            // Never close for idleness: friends stay connected; strangers are closed by policy.
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(Duration::from_secs(u64::MAX))
                    // Send a request with its protocol proposal instead of waiting a round trip
                    // for the negotiation first (multistream-select "V1Lazy"): a push over a
                    // 20 ms link arrives in one trip, not two.
                    .with_substream_upgrade_protocol_override(
                        libp2p::core::upgrade::Version::V1Lazy,
                    )
            })
            .build();
        // Clock questions from the jam's participants are answered on their own task.
        let clock_allowed = super::clock::Allowed::default();
        let mut stream_control = swarm.behaviour().stream.new_control();
        let incoming = stream_control
            .accept(CLOCK_PROTOCOL)
            .map_err(|e| start(&e))?;
        tokio::spawn(super::clock::serve(incoming, clock_allowed.clone()));

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
        for relay in config.relays.iter().filter_map(peer_of) {
            swarm.behaviour_mut().limits.bypass_peer_id(&relay);
        }
        for relay in &config.relays {
            match swarm.listen_on(relay.clone().with(Protocol::P2pCircuit)) {
                Ok(id) => {
                    relay_listeners.insert(id, relay.clone());
                }
                Err(e) => tracing::warn!(%relay, error = %e, "cannot reserve on the relay"),
            }
        }
        let now = Instant::now();
        Ok(EventLoop {
            inbox,
            events,
            outbox: Outbox::default(),
            chat_events,
            presence_events,
            jam_events,
            stats: client.stats().clone(),
            client,
            swarm,
            pending_pair: HashMap::new(),
            asking: HashMap::new(),
            pending_sync: HashMap::new(),
            members: HashSet::new(),
            sync_limit: PeerRateLimit::sync(),
            pending_transfer: HashMap::new(),
            transfer_limit: PeerRateLimit::transfer(),
            outline_limit: PeerRateLimit::outline(),
            pending_presence: HashMap::new(),
            presence_limit: PeerRateLimit::presence(),
            pending_jam: HashMap::new(),
            jam_limit: PeerRateLimit::jam(),
            jam_peers: HashSet::new(),
            clock_allowed,
            stream_control,
            connections: HashMap::new(),
            alive: HashMap::new(),
            friends: HashSet::new(),
            awaited: HashSet::new(),
            relays: config.relays.iter().filter_map(peer_of).collect(),
            relay_listeners,
            relay_retries: Vec::new(),
            stranger_deadlines: HashMap::new(),
            strangers_closing: HashSet::new(),
            stranger_budget: StrangerBudget::new(config.stranger_grace),
            pair_limit: PairRateLimit::new(now),
            nearby: HashMap::new(),
            waiting_for_addresses: Vec::new(),
            config,
        })
    }

    pub async fn run(mut self) {
        // One timer for every deadline the loop keeps (address waiters, strangers' grace, relay
        // retries, friends' liveness), set to the earliest: an idle loop sleeps until then
        // rather than ticking.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            self.flush_outbox();
            let wake = self.next_wake();
            if wake != armed {
                if let Some(at) = wake {
                    timer.as_mut().reset(tokio::time::Instant::from_std(at));
                }
                armed = wake;
            }
            tokio::select! {
                biased;
                command = self.inbox.recv() => match command {
                    Some(command) => {
                        if let Some(done) = self.handle_command(command) {
                            self.close_all();
                            let _ = done.send(());
                            return;
                        }
                    }
                    None => return,
                },
                event = self.swarm.select_next_some() => self.handle_event(event),
                // Room in the friends service's queue for deferred events: the loop's top
                // delivers them (the permit is only a wake-up and is released at once).
                true = has_room(&self.events), if !self.outbox.is_empty() => {}
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.answer_address_waiters(false);
                    self.close_expired_strangers();
                    self.retry_relays();
                    self.drop_dead_connections();
                }
            }
        }
    }

    /// The earliest instant at which one of the loop's deadlines falls due, if any.
    fn next_wake(&self) -> Option<Instant> {
        let addresses = self.waiting_for_addresses.iter().map(|(at, _)| *at);
        let strangers = self.stranger_deadlines.values().copied();
        let relays = self.relay_retries.iter().map(|(at, _)| *at);
        // `drop_dead_connections` wants strictly more than DEAD_AFTER of silence.
        let dead = self
            .alive
            .values()
            .filter(|(peer, _)| self.friends.contains(peer))
            .map(|(_, at)| *at + DEAD_AFTER + Duration::from_millis(1));
        addresses.chain(strangers).chain(relays).chain(dead).min()
    }

    fn close_all(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Carries out a command; `Some` (whom to tell when done) when it asks the loop to stop.
    fn handle_command(&mut self, command: Command) -> Option<oneshot::Sender<()>> {
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
                self.asking
                    .retain(|id, _| self.pending_pair.contains_key(id));
                self.asking.insert(id, peer);
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
            Command::SendSync {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending_sync.insert(id, reply);
            }
            Command::RespondSync { channel, response } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response)
                    .is_err()
                {
                    tracing::debug!("a sync answer could not be sent: the peer left");
                }
            }
            Command::SendTransfer {
                peer,
                request,
                reply,
            } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .transfer
                    .send_request(&peer, request);
                self.pending_transfer.insert(id, reply);
            }
            Command::SendPresence {
                peer,
                request,
                reply,
            } => {
                // Only ever to a friend, whatever the caller believed a moment ago (an unfriend
                // or a block updates this set before it is announced).
                if !self.friends.contains(&peer) {
                    let _ = reply.send(Err(NetError::Unreachable("not a friend".into())));
                    return None;
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .presence
                    .send_request(&peer, request);
                self.pending_presence.insert(id, reply);
            }
            Command::RespondPresence { channel, response } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .presence
                    .send_response(channel, response)
                    .is_err()
                {
                    tracing::debug!("a presence answer could not be sent: the peer left");
                }
            }
            Command::SendJam {
                peer,
                request,
                reply,
            } => {
                if !self.may_jam(&peer) {
                    let _ = reply.send(Err(NetError::Unreachable("not a friend".into())));
                    return None;
                }
                let id = self.swarm.behaviour_mut().jam.send_request(&peer, request);
                self.pending_jam.insert(id, reply);
            }
            Command::RespondJam { channel, response } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .jam
                    .send_response(channel, response)
                    .is_err()
                {
                    tracing::debug!("a jam answer could not be sent: the peer left");
                }
            }
            Command::StreamControl { reply } => {
                let _ = reply.send(super::clock::Control(self.stream_control.clone()));
            }
            Command::SetJamPeers { peers } => {
                for peer in &peers {
                    self.stranger_deadlines.remove(peer);
                }
                // Former participants we share nothing else with are strangers again.
                let now = Instant::now();
                let gone: Vec<PeerId> = self
                    .jam_peers
                    .difference(&peers)
                    .filter(|p| {
                        !self.friends.contains(*p)
                            && !self.members.contains(*p)
                            && self.connections.contains_key(*p)
                    })
                    .copied()
                    .collect();
                for peer in gone {
                    let deadline = self.stranger_budget.restart(peer, now);
                    self.stranger_deadlines.insert(peer, deadline);
                }
                if let Ok(mut allowed) = self.clock_allowed.write() {
                    allowed.clone_from(&peers);
                }
                self.jam_peers = peers;
            }
            Command::RespondTransfer { channel, response } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .transfer
                    .send_response(channel, response)
                    .is_err()
                {
                    tracing::debug!("a transfer answer could not be sent: the peer left");
                }
            }
            Command::SetMembers { members } => {
                for peer in &members {
                    self.stranger_deadlines.remove(peer);
                }
                let newcomers: Vec<PeerId> = members
                    .difference(&self.members)
                    .filter(|p| !self.friends.contains(*p))
                    .copied()
                    .collect();
                self.members = members;
                self.tell_chat_already_connected(newcomers);
            }
            Command::Connected { reply } => {
                let _ = reply.send(self.connections.keys().copied().collect());
            }
            Command::Dial { peer, addresses } => {
                if self.swarm.is_connected(&peer) {
                    return None;
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
                        let deadline = self.stranger_budget.restart(*peer, now);
                        self.stranger_deadlines.insert(*peer, deadline);
                    }
                }
                let limits = &mut self.swarm.behaviour_mut().limits;
                for gone in self.friends.difference(&friends) {
                    if !self.relays.contains(gone) {
                        limits.remove_peer_id(gone);
                    }
                }
                for friend in &friends {
                    self.stranger_deadlines.remove(friend);
                    limits.bypass_peer_id(friend);
                }
                let newcomers: Vec<PeerId> = friends
                    .difference(&self.friends)
                    .filter(|p| !self.members.contains(*p))
                    .copied()
                    .collect();
                self.friends = friends;
                self.tell_chat_already_connected(newcomers);
            }
            Command::SetAwaited { awaited } => {
                for peer in &awaited {
                    self.stranger_deadlines.remove(peer);
                }
                self.awaited = awaited;
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
                for relay in &self.relays {
                    self.swarm.behaviour_mut().limits.bypass_peer_id(relay);
                }
                self.retry_relays();
            }
            Command::Shutdown { done } => return Some(done),
        }
        None
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
    fn drop_dead_connections(&mut self) {
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
            self.forget_connection(peer, id);
            self.swarm.close_connection(id);
        }
    }

    /// Removes a connection from the books, reporting the peer's new state if it changed.
    fn forget_connection(&mut self, peer: PeerId, id: ConnectionId) {
        let before = self.best_kind(&peer);
        if let Some(connections) = self.connections.get_mut(&peer) {
            connections.remove(&id);
            if connections.is_empty() {
                self.connections.remove(&peer);
                self.stranger_deadlines.remove(&peer);
                self.strangers_closing.remove(&peer);
            }
        }
        let after = self.best_kind(&peer);
        if before != after {
            self.emit_connection(peer, after);
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
        // A stranger we still await an answer from is looked at again a little later.
        self.asking
            .retain(|id, _| self.pending_pair.contains_key(id));
        for peer in self.asking.values() {
            if let Some(deadline) = self.stranger_deadlines.get_mut(peer) {
                if *deadline <= now {
                    *deadline = now + ASKING_RECHECK;
                }
            }
        }
        let expired: Vec<PeerId> = self
            .stranger_deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in expired {
            self.stranger_deadlines.remove(&peer);
            if !self.is_known(&peer) && self.swarm.is_connected(&peer) {
                tracing::debug!(%peer, "closing a stranger's connection");
                bump(&self.stats.strangers_closed, 1);
                self.strangers_closing.insert(peer);
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

    fn handle_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
                let now = Instant::now();
                self.alive.insert(connection_id, (peer_id, now));
                if !self.is_known(&peer_id) && !self.relays.contains(&peer_id) {
                    // The budget runs from their first connection in the window: reconnecting
                    // does not buy more time. An already spent budget closes at the next tick.
                    let deadline = self.stranger_budget.deadline(peer_id, now);
                    self.stranger_deadlines.insert(peer_id, deadline);
                }
                tracing::debug!(peer = %peer_id, address = %remote_address(&endpoint), "connected");
                let after = self.best_kind(&peer_id);
                if before != after {
                    self.emit_connection(peer_id, after);
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
                self.forget_connection(peer_id, connection_id);
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.answer_address_waiters(true);
                self.emit_listen_addresses();
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::info!(%address, "reachable at");
                self.emit_listen_addresses();
            }
            SwarmEvent::ExpiredListenAddr { .. } | SwarmEvent::ExternalAddrExpired { .. } => {
                self.emit_listen_addresses();
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
                self.emit_listen_addresses();
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::IncomingConnectionError { error, peer_id, .. } => {
                if matches!(error, libp2p::swarm::ListenError::Denied { .. }) {
                    bump(&self.stats.connections_denied, 1);
                }
                tracing::debug!(peer = ?peer_id, %error, "incoming connection refused");
            }
            SwarmEvent::Behaviour(event) => self.handle_behaviour_event(event),
            _ => {}
        }
    }

    fn handle_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Pair(event) => {
                if let Some((peer, request, channel)) =
                    settle(event, &mut self.pending_pair, "pairing")
                {
                    self.on_inbound_pair(peer, request, channel);
                }
            }
            BehaviourEvent::Sync(event) => {
                if let Some((peer, request, channel)) =
                    settle(event, &mut self.pending_sync, "sync")
                {
                    self.on_inbound_sync(peer, request, channel);
                }
            }
            BehaviourEvent::Presence(event) => {
                if let Some((peer, request, channel)) =
                    settle(event, &mut self.pending_presence, "presence")
                {
                    self.on_inbound_presence(peer, request, channel);
                }
            }
            BehaviourEvent::Jam(event) => {
                if let Some((peer, request, channel)) = settle(event, &mut self.pending_jam, "jam")
                {
                    self.on_inbound_jam(peer, request, channel);
                }
            }
            BehaviourEvent::Stream(()) => {}
            BehaviourEvent::Transfer(event) => {
                if let Some((peer, request, channel)) =
                    settle(event, &mut self.pending_transfer, "transfer")
                {
                    self.on_inbound_transfer(peer, request, channel);
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version != IDENTIFY_PROTOCOL {
                    tracing::debug!(peer = %peer_id, version = %info.protocol_version, "not an Earshot peer");
                    return;
                }
                for address in &info.listen_addrs {
                    self.swarm.add_peer_address(peer_id, address.clone());
                }
                let event = NetEvent::PeerAddresses {
                    peer: peer_id,
                    addresses: info.listen_addrs,
                };
                if self.events.try_send(event).is_err() {
                    // A hint, repeated on every connection: dropping it loses nothing lasting.
                    bump(&self.stats.events_dropped, 1);
                }
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
                    // mDNS is unauthenticated: one host can announce any number of peer ids.
                    if !self.nearby.contains_key(&peer) && self.nearby.len() >= MAX_NEARBY {
                        tracing::debug!(%peer, "the nearby list is full; ignoring an announcement");
                        continue;
                    }
                    let addresses = self.nearby.entry(peer).or_default();
                    if addresses.len() >= MAX_NEARBY_ADDRESSES || addresses.contains(&address) {
                        continue;
                    }
                    addresses.push(address.clone());
                    self.swarm.add_peer_address(peer, address);
                }
                self.emit_nearby();
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
                self.emit_nearby();
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

    /// Hands an inbound pairing request to the friends service, unless a flood limit or a full
    /// queue says to answer `Busy` here and now.
    fn on_inbound_pair(
        &mut self,
        peer: PeerId,
        request: PairRequest,
        channel: rr::ResponseChannel<PairResponse>,
    ) {
        let now = Instant::now();
        let allowed = if self.is_known(&peer) {
            self.pair_limit.allow_known(peer, now)
        } else {
            let budget_spent = self.strangers_closing.contains(&peer)
                || self
                    .stranger_deadlines
                    .get(&peer)
                    .is_some_and(|deadline| *deadline <= now);
            if budget_spent {
                bump(&self.stats.budget_spent, 1);
                tracing::debug!(%peer, "a stranger whose connection budget is spent asked again");
                self.answer_busy(channel);
                return;
            }
            self.pair_limit.allow(peer, now)
        };
        if !allowed {
            bump(&self.stats.rate_limited, 1);
            tracing::debug!(%peer, "pairing request over the rate limit");
            self.answer_busy(channel);
            return;
        }
        let full = match self.events.try_reserve() {
            Ok(permit) => {
                permit.send(NetEvent::InboundPair {
                    peer,
                    request,
                    reply: Reply {
                        channel,
                        client: self.client.clone(),
                    },
                });
                return;
            }
            Err(error) => matches!(error, TrySendError::Full(())),
        };
        if full {
            bump(&self.stats.busy_refusals, 1);
            tracing::debug!(%peer, "the friends service is busy; answering busy");
        }
        self.answer_busy(channel);
    }

    /// Hands an inbound sync request to the chat service: only from friends and co-members,
    /// within their rate limit, and only when the service has room.
    fn on_inbound_sync(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: rr::ResponseChannel<SyncResponse>,
    ) {
        let refuse = |this: &mut Self, channel, reason| {
            let response = SyncResponse::Refused { reason };
            let _ = this
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, response);
        };
        if !self.friends.contains(&peer) && !self.members.contains(&peer) {
            bump(&self.stats.not_friends, 1);
            tracing::debug!(%peer, "a sync request from someone we share nothing with");
            return refuse(self, channel, SyncRefusal::NotAllowed);
        }
        if !self.sync_limit.allow(peer, Instant::now()) {
            bump(&self.stats.rate_limited, 1);
            return refuse(self, channel, SyncRefusal::Busy);
        }
        let event = ChatNetEvent::InboundSync {
            peer,
            request: Box::new(request),
            reply: SyncReply {
                channel,
                client: self.client.clone(),
            },
        };
        if let Err(error) = self.chat_events.try_send(event) {
            let (TrySendError::Full(event) | TrySendError::Closed(event)) = error;
            bump(&self.stats.busy_refusals, 1);
            if let ChatNetEvent::InboundSync { reply, .. } = event {
                refuse(self, reply.channel, SyncRefusal::Busy);
            }
        }
    }

    /// Hands an inbound transfer request to the chat service (which checks what may be fetched):
    /// only from friends and co-members, within their rate limit.
    fn on_inbound_transfer(
        &mut self,
        peer: PeerId,
        request: TransferRequest,
        channel: rr::ResponseChannel<TransferResponse>,
    ) {
        let refuse = |this: &mut Self, channel, reason| {
            let response = TransferResponse::Refused { reason };
            let _ = this
                .swarm
                .behaviour_mut()
                .transfer
                .send_response(channel, response);
        };
        if !self.may_jam(&peer) {
            bump(&self.stats.not_friends, 1);
            return refuse(self, channel, TransferRefusal::NotAllowed);
        }
        let allowed = match request {
            TransferRequest::Outline { .. } => self.outline_limit.allow(peer, Instant::now()),
            TransferRequest::Range { .. } => self.transfer_limit.allow(peer, Instant::now()),
        };
        if !allowed {
            bump(&self.stats.rate_limited, 1);
            return refuse(self, channel, TransferRefusal::Busy);
        }
        let event = ChatNetEvent::InboundTransfer {
            peer,
            request,
            reply: TransferReply {
                channel,
                client: self.client.clone(),
            },
        };
        if let Err(error) = self.chat_events.try_send(event) {
            let (TrySendError::Full(event) | TrySendError::Closed(event)) = error;
            bump(&self.stats.busy_refusals, 1);
            if let ChatNetEvent::InboundTransfer { reply, .. } = event {
                refuse(self, reply.channel, TransferRefusal::Busy);
            }
        }
    }

    /// Hands a friend's activity update to the presence service: only from friends (never a
    /// co-member who is not one), within their rate limit.
    fn on_inbound_presence(
        &mut self,
        peer: PeerId,
        request: PresenceRequest,
        channel: rr::ResponseChannel<PresenceResponse>,
    ) {
        let refuse = |this: &mut Self, channel, reason| {
            let response = PresenceResponse::Refused { reason };
            let _ = this
                .swarm
                .behaviour_mut()
                .presence
                .send_response(channel, response);
        };
        if !self.friends.contains(&peer) {
            bump(&self.stats.not_friends, 1);
            return refuse(self, channel, PresenceRefusal::NotAllowed);
        }
        if !self.presence_limit.allow(peer, Instant::now()) {
            bump(&self.stats.rate_limited, 1);
            return refuse(self, channel, PresenceRefusal::Busy);
        }
        let event = PresenceNetEvent {
            peer,
            request,
            reply: PresenceReply {
                channel,
                client: self.client.clone(),
            },
        };
        if let Err(error) = self.presence_events.try_send(event) {
            let (TrySendError::Full(event) | TrySendError::Closed(event)) = error;
            bump(&self.stats.busy_refusals, 1);
            refuse(self, event.reply.channel, PresenceRefusal::Busy);
        }
    }

    /// Friends, co-members and our jam's participants may talk jam and clock.
    fn may_jam(&self, peer: &PeerId) -> bool {
        self.friends.contains(peer) || self.members.contains(peer) || self.jam_peers.contains(peer)
    }

    /// Hands a jam message to the jam service, from those who may send one, within their rate.
    fn on_inbound_jam(
        &mut self,
        peer: PeerId,
        request: JamRequest,
        channel: rr::ResponseChannel<JamResponse>,
    ) {
        let refuse = |this: &mut Self, channel, response| {
            let _ = this
                .swarm
                .behaviour_mut()
                .jam
                .send_response(channel, response);
        };
        if !self.may_jam(&peer) {
            bump(&self.stats.not_friends, 1);
            return refuse(self, channel, JamResponse::Refused(JamRefusal::NotAllowed));
        }
        if !self.jam_limit.allow(peer, Instant::now()) {
            bump(&self.stats.rate_limited, 1);
            return refuse(self, channel, JamResponse::Busy);
        }
        let event = JamNetEvent {
            peer,
            request,
            reply: JamReply {
                channel,
                client: self.client.clone(),
            },
        };
        if let Err(error) = self.jam_events.try_send(event) {
            let (TrySendError::Full(event) | TrySendError::Closed(event)) = error;
            bump(&self.stats.busy_refusals, 1);
            refuse(self, event.reply.channel, JamResponse::Busy);
        }
    }

    /// Peers who just became friends or co-members while connected: the chat service hears of
    /// their connection now (it was not told when they connected as strangers).
    fn tell_chat_already_connected(&mut self, peers: Vec<PeerId>) {
        for peer in peers {
            if self.connections.contains_key(&peer) {
                let event = ChatNetEvent::Connection {
                    peer,
                    connected: true,
                };
                if let Err(TrySendError::Full(_)) = self.chat_events.try_send(event) {
                    bump(&self.stats.events_dropped, 1);
                }
            }
        }
    }

    /// A friend, a co-member, or a peer whose answer to our friend request we await.
    fn is_known(&self, peer: &PeerId) -> bool {
        self.friends.contains(peer)
            || self.awaited.contains(peer)
            || self.members.contains(peer)
            || self.jam_peers.contains(peer)
    }

    fn answer_busy(&mut self, channel: rr::ResponseChannel<PairResponse>) {
        let busy = PairResponse::Refused {
            reason: Refusal::Busy,
        };
        let _ = self.swarm.behaviour_mut().pair.send_response(channel, busy);
    }

    fn emit_connection(&mut self, peer: PeerId, kind: Option<ConnectionKind>) {
        if self.friends.contains(&peer) || self.members.contains(&peer) {
            let event = ChatNetEvent::Connection {
                peer,
                connected: kind.is_some(),
            };
            if let Err(TrySendError::Full(_)) = self.chat_events.try_send(event) {
                bump(&self.stats.events_dropped, 1);
            }
        }
        // An older deferred state of the same peer must not arrive after this one.
        if self.outbox.connections.contains_key(&peer)
            || !self.try_emit(NetEvent::Connection { peer, kind })
        {
            self.outbox.connections.insert(peer, kind);
        }
    }

    fn emit_nearby(&mut self) {
        let list: Vec<(PeerId, Vec<Multiaddr>)> = self
            .nearby
            .iter()
            .map(|(peer, addresses)| (*peer, addresses.clone()))
            .collect();
        if self.outbox.nearby.is_some() || !self.try_emit(NetEvent::Nearby(list.clone())) {
            self.outbox.nearby = Some(list);
        }
    }

    fn emit_listen_addresses(&mut self) {
        let addresses = self.addresses();
        if self.outbox.listen.is_some()
            || !self.try_emit(NetEvent::ListenAddresses(addresses.clone()))
        {
            self.outbox.listen = Some(addresses);
        }
    }

    /// Sends without waiting; `false` when the queue is full (the caller defers the event).
    fn try_emit(&mut self, event: NetEvent) -> bool {
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                bump(&self.stats.events_deferred, 1);
                false
            }
            // No one listens any more (shutting down): nothing to defer for.
            Err(TrySendError::Closed(_)) => true,
        }
    }

    /// Delivers deferred events while there is room, oldest kind first.
    fn flush_outbox(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let peers: Vec<PeerId> = self.outbox.connections.keys().copied().collect();
        for peer in peers {
            let Ok(permit) = self.events.try_reserve() else {
                return;
            };
            if let Some(kind) = self.outbox.connections.remove(&peer) {
                permit.send(NetEvent::Connection { peer, kind });
            }
        }
        if self.outbox.nearby.is_some() {
            let Ok(permit) = self.events.try_reserve() else {
                return;
            };
            if let Some(list) = self.outbox.nearby.take() {
                permit.send(NetEvent::Nearby(list));
            }
        }
        if self.outbox.listen.is_some() {
            let Ok(permit) = self.events.try_reserve() else {
                return;
            };
            if let Some(addresses) = self.outbox.listen.take() {
                permit.send(NetEvent::ListenAddresses(addresses));
            }
        }
    }
}

fn outbound_error(error: rr::OutboundFailure) -> NetError {
    match error {
        rr::OutboundFailure::DialFailure => {
            NetError::Unreachable("no address of it answered".into())
        }
        rr::OutboundFailure::Timeout => NetError::Timeout,
        rr::OutboundFailure::UnsupportedProtocols => NetError::Unsupported,
        other => NetError::Failed(other.to_string()),
    }
}

fn remote_address(endpoint: &ConnectedPoint) -> &Multiaddr {
    endpoint.get_remote_address()
}

/// Resolves when the friends service's queue has room (the permit is released at once: it only
/// wakes the loop to deliver deferred events).
async fn has_room(events: &mpsc::Sender<NetEvent>) -> bool {
    events.reserve().await.is_ok()
}

/// The peer id at the end of `address` (`…/p2p/<id>`), if any.
fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}
