//! The peer-to-peer node (design §6): one task owns the libp2p `Swarm` ([`EventLoop`]); everyone
//! else holds a cloneable [`Client`] and receives [`NetEvent`]s from one bounded channel.
//!
//! Transports: TCP and QUIC, Noise, Yamux, plus the relay client. Behaviours: identify, ping (which
//! also detects dead friends), AutoNAT, mDNS (LAN discovery, short query interval), DCUtR (hole
//! punching over relayed connections), the block list, and the `/earshot/pair/1` protocol.
//!
//! Connections are never closed for idleness (libp2p's 10 s default would drop friends); instead
//! the event loop closes a stranger's connection once its grace period passes, and closes a
//! connection whose pings fail. Deciding who is a friend is the friends service's job: it tells
//! the loop with [`Client::set_friends`].

pub mod clock;
mod codec;
mod event_loop;
pub mod limits;
pub mod ports;
pub mod protocol;
pub mod relay;
pub mod relays;
mod stats;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::jam::wire::{JamRequest, JamResponse};
pub use event_loop::EventLoop;
use protocol::{
    PairRequest, PairResponse, PresenceRequest, PresenceResponse, SyncRequest, SyncResponse,
    TransferRequest, TransferResponse,
};
pub use protocol::{Summary, SyncHello, SyncRefusal};
pub use stats::{bump, Stats};

/// Whether `address` is on the loopback interface.
pub(crate) fn is_loopback(address: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    address.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// Commands waiting for the event loop.
const COMMAND_QUEUE: usize = 256;
/// Events waiting for the friends service.
const EVENT_QUEUE: usize = 1024;
/// Events waiting for the chat service.
const CHAT_EVENT_QUEUE: usize = 1024;
/// Friends' activity updates waiting for the presence service.
const PRESENCE_EVENT_QUEUE: usize = 256;
/// Jam messages waiting for the jam service.
const JAM_EVENT_QUEUE: usize = 256;
/// How long a caller waits for room in the event loop's inbox. The loop never waits on anyone, so
/// a full inbox for this long means it is overwhelmed: the caller gets `Busy` instead of hanging.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for an answer beyond the loop's own timeouts (a pairing request's
/// 20 s, the first listen address's 3 s), in case the loop is gone or overwhelmed.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// How the node runs.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Relays to reserve a slot on (each ends in `/p2p/<relay id>`).
    pub relays: Vec<Multiaddr>,
    /// How long a stranger may stay connected to redeem an invite or send a request, counted
    /// from their first connection in a 10-minute window (reconnecting does not restart it).
    pub stranger_grace: Duration,
    /// Room for events waiting for the friends service; when it is full the loop defers or drops
    /// events rather than waiting (see `EventLoop`).
    pub event_queue: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".parse().expect("a valid multiaddr"),
                "/ip4/0.0.0.0/udp/0/quic-v1"
                    .parse()
                    .expect("a valid multiaddr"),
            ],
            mdns: true,
            relays: Vec::new(),
            // Long enough for a redeem round trip over a slow relay; short enough that a
            // scanning stranger does not hold connections open.
            stranger_grace: Duration::from_secs(20),
            event_queue: EVENT_QUEUE,
        }
    }
}

impl NetConfig {
    /// Loopback only, no mDNS: for tests and for peers that should stay on this machine.
    pub fn loopback() -> Self {
        Self {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid multiaddr")],
            mdns: false,
            ..Self::default()
        }
    }
}

/// How a peer is reached right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    Direct,
    Relayed,
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot start the network: {0}")]
    Start(String),
    #[error("cannot reach the peer: {0}")]
    Unreachable(String),
    #[error("the peer did not answer in time")]
    Timeout,
    #[error("the peer does not speak Earshot's protocol")]
    Unsupported,
    #[error("the connection failed: {0}")]
    Failed(String),
    #[error("the network is shutting down")]
    Closed,
    #[error("the network node is overwhelmed; try again in a moment")]
    Busy,
}

/// Something that happened on the network.
#[derive(Debug)]
pub enum NetEvent {
    /// A peer sent a pairing request; answer it through `reply`.
    InboundPair {
        peer: PeerId,
        request: PairRequest,
        reply: Reply,
    },
    /// A peer's best connection changed: `Some` when connected, `None` when the last one closed.
    Connection {
        peer: PeerId,
        kind: Option<ConnectionKind>,
    },
    /// A peer told us (identify) where it listens.
    PeerAddresses {
        peer: PeerId,
        addresses: Vec<Multiaddr>,
    },
    /// The set of peers seen on the LAN changed.
    Nearby(Vec<(PeerId, Vec<Multiaddr>)>),
    /// Our own addresses changed.
    ListenAddresses(Vec<Multiaddr>),
}

/// Something the chat service needs from the network. Only friends and co-members (see
/// [`Client::set_members`]) get this far.
#[derive(Debug)]
pub enum ChatNetEvent {
    /// A peer sent a sync request; answer it through `reply`.
    InboundSync {
        peer: PeerId,
        request: Box<SyncRequest>,
        reply: SyncReply,
    },
    /// A friend or co-member asked for audio bytes; answer through `reply`.
    InboundTransfer {
        peer: PeerId,
        request: TransferRequest,
        reply: TransferReply,
    },
    /// A friend or co-member connected (`true`) or its last connection closed (`false`).
    Connection { peer: PeerId, connected: bool },
}

/// A friend's activity update (only friends get this far); answer through `reply`.
#[derive(Debug)]
pub struct PresenceNetEvent {
    pub peer: PeerId,
    pub request: PresenceRequest,
    pub reply: PresenceReply,
}

/// A jam message from a friend, co-member or participant; answer through `reply`.
#[derive(Debug)]
pub struct JamNetEvent {
    pub peer: PeerId,
    pub request: JamRequest,
    pub reply: JamReply,
}

/// The way back to a peer that sent a jam message.
#[derive(Debug)]
pub struct JamReply {
    channel: ResponseChannel<JamResponse>,
    client: Client,
}

impl JamReply {
    pub async fn send(self, response: JamResponse) {
        let command = Command::RespondJam {
            channel: self.channel,
            response,
        };
        if let Err(error) = self.client.send(command).await {
            tracing::debug!(%error, "a jam answer could not be handed to the network");
        }
    }
}

/// The way back to a friend that sent an activity update.
#[derive(Debug)]
pub struct PresenceReply {
    channel: ResponseChannel<PresenceResponse>,
    client: Client,
}

impl PresenceReply {
    pub async fn send(self, response: PresenceResponse) {
        let command = Command::RespondPresence {
            channel: self.channel,
            response,
        };
        if let Err(error) = self.client.send(command).await {
            tracing::debug!(%error, "a presence answer could not be handed to the network");
        }
    }
}

/// The way back to a peer that asked for audio bytes.
#[derive(Debug)]
pub struct TransferReply {
    channel: ResponseChannel<TransferResponse>,
    client: Client,
}

impl TransferReply {
    pub async fn send(self, response: TransferResponse) {
        let command = Command::RespondTransfer {
            channel: self.channel,
            response,
        };
        if let Err(error) = self.client.send(command).await {
            tracing::debug!(%error, "a transfer answer could not be handed to the network");
        }
    }
}

/// The way back to a peer that sent us a sync request.
#[derive(Debug)]
pub struct SyncReply {
    channel: ResponseChannel<SyncResponse>,
    client: Client,
}

impl SyncReply {
    pub async fn send(self, response: SyncResponse) {
        let command = Command::RespondSync {
            channel: self.channel,
            response,
        };
        if let Err(error) = self.client.send(command).await {
            tracing::debug!(%error, "a sync answer could not be handed to the network");
        }
    }
}

/// The way back to a peer that sent us a request.
#[derive(Debug)]
pub struct Reply {
    channel: ResponseChannel<PairResponse>,
    client: Client,
}

impl Reply {
    pub async fn send(self, response: PairResponse) {
        let command = Command::Respond {
            channel: self.channel,
            response,
        };
        if let Err(error) = self.client.send(command).await {
            tracing::debug!(%error, "a pairing answer could not be handed to the network");
        }
    }
}

#[derive(Debug)]
enum Command {
    SendPair {
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        request: PairRequest,
        reply: oneshot::Sender<Result<PairResponse, NetError>>,
    },
    Respond {
        channel: ResponseChannel<PairResponse>,
        response: PairResponse,
    },
    SendSync {
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Result<SyncResponse, NetError>>,
    },
    RespondSync {
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    SendPresence {
        peer: PeerId,
        request: PresenceRequest,
        reply: oneshot::Sender<Result<PresenceResponse, NetError>>,
    },
    RespondPresence {
        channel: ResponseChannel<PresenceResponse>,
        response: PresenceResponse,
    },
    SendJam {
        peer: PeerId,
        request: JamRequest,
        reply: oneshot::Sender<Result<JamResponse, NetError>>,
    },
    RespondJam {
        channel: ResponseChannel<JamResponse>,
        response: JamResponse,
    },
    /// A handle for opening plain streams (the clock exchanges).
    StreamControl {
        reply: oneshot::Sender<clock::Control>,
    },
    SetJamPeers {
        peers: HashSet<PeerId>,
    },
    SendTransfer {
        peer: PeerId,
        request: TransferRequest,
        reply: oneshot::Sender<Result<TransferResponse, NetError>>,
    },
    RespondTransfer {
        channel: ResponseChannel<TransferResponse>,
        response: TransferResponse,
    },
    SetMembers {
        members: HashSet<PeerId>,
    },
    Connected {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Dial {
        peer: PeerId,
        addresses: Vec<Multiaddr>,
    },
    Disconnect {
        peer: PeerId,
    },
    Block {
        peer: PeerId,
    },
    Unblock {
        peer: PeerId,
    },
    SetFriends {
        friends: HashSet<PeerId>,
    },
    SetAwaited {
        awaited: HashSet<PeerId>,
    },
    Addresses {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    SetRelays {
        relays: Vec<Multiaddr>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// A handle on the event loop. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    local_peer: PeerId,
    stats: Arc<Stats>,
}

/// Starts the node: builds the swarm, starts listening, spawns the event loop. A panic in the
/// loop is logged; [`start_supervised`] also reports it to the engine's subscribers.
pub fn start(
    keypair: Keypair,
    config: NetConfig,
) -> Result<(Client, mpsc::Receiver<NetEvent>), NetError> {
    let (faults, _) = tokio::sync::broadcast::channel(1);
    let started = start_supervised(keypair, config, faults)?;
    Ok((started.client, started.events))
}

/// A running node: its handle and the event streams of the friends, chat and presence services.
pub struct Started {
    pub client: Client,
    pub events: mpsc::Receiver<NetEvent>,
    pub chat_events: mpsc::Receiver<ChatNetEvent>,
    pub presence_events: mpsc::Receiver<PresenceNetEvent>,
    pub jam_events: mpsc::Receiver<JamNetEvent>,
}

/// [`start`], with a panic of the event loop published as an `engine_fault` on `faults`. The
/// loop cannot be restarted (its connections are gone with it), so the window says networking
/// stopped and to restart Earshot.
pub fn start_supervised(
    keypair: Keypair,
    config: NetConfig,
    faults: tokio::sync::broadcast::Sender<crate::api::Event>,
) -> Result<Started, NetError> {
    let (commands, inbox) = mpsc::channel(COMMAND_QUEUE);
    let (events, events_rx) = mpsc::channel(config.event_queue.max(1));
    let (chat_events, chat_events_rx) = mpsc::channel(CHAT_EVENT_QUEUE);
    let (presence_events, presence_events_rx) = mpsc::channel(PRESENCE_EVENT_QUEUE);
    let (jam_events, jam_events_rx) = mpsc::channel(JAM_EVENT_QUEUE);
    let client = Client {
        commands,
        local_peer: keypair.public().to_peer_id(),
        stats: Arc::default(),
    };
    let event_loop = EventLoop::new(
        keypair,
        config,
        inbox,
        event_loop::Outlets {
            events,
            chat_events,
            presence_events,
            jam_events,
        },
        client.clone(),
    )?;
    crate::supervise::spawn_essential("network", faults, event_loop.run());
    Ok(Started {
        client,
        events: events_rx,
        chat_events: chat_events_rx,
        presence_events: presence_events_rx,
        jam_events: jam_events_rx,
    })
}

impl Client {
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer
    }

    /// The counters of refused, malformed and deferred input (shared with the event loop).
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Sends a pairing request (dialling `addresses` if not connected) and waits for the answer.
    pub async fn send_pair(
        &self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        request: PairRequest,
    ) -> Result<PairResponse, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SendPair {
            peer,
            addresses,
            request,
            reply,
        })
        .await?;
        match tokio::time::timeout(event_loop::PAIR_TIMEOUT + ANSWER_MARGIN, answer).await {
            Ok(answer) => answer.map_err(|_| NetError::Closed)?,
            Err(_) => Err(NetError::Timeout),
        }
    }

    /// Sends a sync request (over a connection, or dialling the addresses libp2p knows) and
    /// waits for the answer.
    pub async fn send_sync(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SendSync {
            peer,
            request,
            reply,
        })
        .await?;
        match tokio::time::timeout(event_loop::SYNC_TIMEOUT + ANSWER_MARGIN, answer).await {
            Ok(answer) => answer.map_err(|_| NetError::Closed)?,
            Err(_) => Err(NetError::Timeout),
        }
    }

    /// Asks a peer for a range of audio bytes and waits for the answer.
    pub async fn send_transfer(
        &self,
        peer: PeerId,
        request: TransferRequest,
    ) -> Result<TransferResponse, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SendTransfer {
            peer,
            request,
            reply,
        })
        .await?;
        match tokio::time::timeout(event_loop::TRANSFER_TIMEOUT + ANSWER_MARGIN, answer).await {
            Ok(answer) => answer.map_err(|_| NetError::Closed)?,
            Err(_) => Err(NetError::Timeout),
        }
    }

    /// Pushes our activity to a friend.
    pub async fn send_presence(
        &self,
        peer: PeerId,
        request: PresenceRequest,
    ) -> Result<PresenceResponse, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SendPresence {
            peer,
            request,
            reply,
        })
        .await?;
        match tokio::time::timeout(event_loop::PRESENCE_TIMEOUT + ANSWER_MARGIN, answer).await {
            Ok(answer) => answer.map_err(|_| NetError::Closed)?,
            Err(_) => Err(NetError::Timeout),
        }
    }

    /// Sends a jam message to a friend, co-member or jam participant and waits for the answer.
    pub async fn send_jam(
        &self,
        peer: PeerId,
        request: JamRequest,
    ) -> Result<JamResponse, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SendJam {
            peer,
            request,
            reply,
        })
        .await?;
        match tokio::time::timeout(event_loop::JAM_TIMEOUT + ANSWER_MARGIN, answer).await {
            Ok(answer) => answer.map_err(|_| NetError::Closed)?,
            Err(_) => Err(NetError::Timeout),
        }
    }

    /// Opens a clock stream to a jam's host (`clock.rs`).
    pub async fn clock_stream(&self, peer: PeerId) -> Result<clock::ClockStream, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::StreamControl { reply }).await?;
        let control = answer.await.map_err(|_| NetError::Closed)?;
        clock::ClockStream::open(control, peer).await
    }

    /// Tells the loop who is in our jam: they may exchange jam and clock messages and fetch the
    /// jam's tracks, and are not held to a stranger's connection budget.
    pub async fn set_jam_peers(&self, peers: HashSet<PeerId>) -> Result<(), NetError> {
        self.send(Command::SetJamPeers { peers }).await
    }

    /// Tells the loop who shares a group with us without being a friend: they may sync (and
    /// nothing else), and are not held to a stranger's connection budget.
    pub async fn set_members(&self, members: HashSet<PeerId>) -> Result<(), NetError> {
        self.send(Command::SetMembers { members }).await
    }

    /// The peers connected now.
    pub async fn connected(&self) -> Result<Vec<PeerId>, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Connected { reply }).await?;
        match tokio::time::timeout(ANSWER_MARGIN, answer).await {
            Ok(answer) => answer.map_err(|_| NetError::Closed),
            Err(_) => Err(NetError::Busy),
        }
    }

    /// Dials `peer` if it is not connected (errors surface as no connection event).
    pub async fn dial(&self, peer: PeerId, addresses: Vec<Multiaddr>) -> Result<(), NetError> {
        self.send(Command::Dial { peer, addresses }).await
    }

    pub async fn disconnect(&self, peer: PeerId) -> Result<(), NetError> {
        self.send(Command::Disconnect { peer }).await
    }

    /// Refuses every connection from `peer` and closes the open ones.
    pub async fn block(&self, peer: PeerId) -> Result<(), NetError> {
        self.send(Command::Block { peer }).await
    }

    pub async fn unblock(&self, peer: PeerId) -> Result<(), NetError> {
        self.send(Command::Unblock { peer }).await
    }

    /// Tells the loop whose connections to keep.
    pub async fn set_friends(&self, friends: HashSet<PeerId>) -> Result<(), NetError> {
        self.send(Command::SetFriends { friends }).await
    }

    /// Tells the loop whose answer we await (peers we asked to be friends): they are not held to
    /// a stranger's connection budget, so an answer given minutes later still gets through.
    pub async fn set_awaited(&self, awaited: HashSet<PeerId>) -> Result<(), NetError> {
        self.send(Command::SetAwaited { awaited }).await
    }

    /// Where this node can be reached: listen addresses (relayed ones included) and confirmed
    /// external addresses, the most widely useful first.
    pub async fn addresses(&self) -> Result<Vec<Multiaddr>, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Addresses { reply }).await?;
        match tokio::time::timeout(event_loop::ADDRESS_WAIT + ANSWER_MARGIN, answer).await {
            Ok(answer) => answer.map_err(|_| NetError::Closed),
            Err(_) => Err(NetError::Busy),
        }
    }

    /// Reserves on exactly these relays from now on (new ones are reserved, dropped ones released).
    pub async fn set_relays(&self, relays: Vec<Multiaddr>) -> Result<(), NetError> {
        self.send(Command::SetRelays { relays }).await
    }

    /// Stops the event loop, closing every connection.
    pub async fn shutdown(&self, timeout: Duration) {
        let (done, finished) = oneshot::channel();
        if self.send(Command::Shutdown { done }).await.is_ok() {
            let _ = tokio::time::timeout(timeout, finished).await;
        }
    }

    async fn send(&self, command: Command) -> Result<(), NetError> {
        match self.commands.send_timeout(command, COMMAND_TIMEOUT).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(NetError::Closed),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(NetError::Busy),
        }
    }
}
