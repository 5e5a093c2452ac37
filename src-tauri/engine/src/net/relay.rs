//! A relay for friends (design §6, "Relays"): `earshot-node relay` runs this.
//!
//! libp2p's default relay limits (2 minutes and 128 KiB per circuit) cannot carry a jam, so circuits
//! here last up to 12 hours with no byte cap. In exchange, the relay serves only an allow-list of
//! peers: everyone else is refused at the connection level, so it cannot be used as a free relay.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{allow_block_list, identify, noise, ping, relay, tcp, yamux, Multiaddr, PeerId};
use tokio::sync::mpsc;

use super::event_loop::IDENTIFY_PROTOCOL;
use super::{is_loopback, NetError};

/// A circuit may carry a whole evening of jamming.
pub const MAX_CIRCUIT_DURATION: Duration = Duration::from_secs(12 * 60 * 60);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub listen: Vec<Multiaddr>,
    /// Addresses others reach this relay at, when they differ from the listen addresses
    /// (e.g. behind a port forward).
    pub external: Vec<Multiaddr>,
    /// The peers served; everyone else is refused.
    pub allowed: HashSet<PeerId>,
}

/// What the relay reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    Listening(Multiaddr),
    Reserved(PeerId),
    CircuitOpened { src: PeerId, dst: PeerId },
    CircuitClosed { src: PeerId, dst: PeerId },
    Refused(PeerId),
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    relay: relay::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// Runs the relay until `stop` resolves.
pub async fn run(
    keypair: Keypair,
    config: RelayConfig,
    events: mpsc::Sender<RelayEvent>,
    stop: impl Future<Output = ()>,
) -> Result<(), NetError> {
    let start = |e: &dyn std::fmt::Display| NetError::Start(e.to_string());
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| start(&e))?
        .with_quic()
        .with_behaviour(|key| {
            let peer = key.public().to_peer_id();
            let relay_config = relay::Config {
                max_circuit_duration: MAX_CIRCUIT_DURATION,
                max_circuit_bytes: u64::MAX,
                max_circuits: 64,
                max_circuits_per_peer: 8,
                ..Default::default()
            };
            let mut relay = relay::Behaviour::new(peer, relay_config);
            // Serve as soon as we listen: the operator told us where we are reachable.
            relay.set_status(Some(relay::Status::Enable));
            let mut allowed =
                allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
            for peer in &config.allowed {
                allowed.allow_peer(*peer);
            }
            Behaviour {
                allowed,
                relay,
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                        .with_agent_version(format!("earshot-relay/{}", crate::VERSION)),
                ),
                ping: ping::Behaviour::default(),
            }
        })
        .map_err(|e| start(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    for address in &config.listen {
        swarm
            .listen_on(address.clone())
            .map_err(|e| NetError::Start(format!("cannot listen on {address}: {e}")))?;
    }
    for address in &config.external {
        swarm.add_external_address(address.clone());
    }
    tokio::pin!(stop);
    loop {
        let event = tokio::select! {
            _ = &mut stop => return Ok(()),
            event = swarm.select_next_some() => event,
        };
        let report = match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                // Reservations carry the relay's external addresses, and clients refuse one
                // without any: unless told otherwise, where we listen is where we are reached.
                if config.external.is_empty() && !is_loopback(&address) {
                    swarm.add_external_address(address.clone());
                }
                Some(RelayEvent::Listening(address))
            }
            SwarmEvent::IncomingConnectionError {
                peer_id: Some(peer),
                ..
            } => Some(RelayEvent::Refused(peer)),
            SwarmEvent::Behaviour(BehaviourEvent::Relay(event)) => match event {
                relay::Event::ReservationReqAccepted { src_peer_id, .. } => {
                    Some(RelayEvent::Reserved(src_peer_id))
                }
                relay::Event::CircuitReqAccepted {
                    src_peer_id,
                    dst_peer_id,
                } => Some(RelayEvent::CircuitOpened {
                    src: src_peer_id,
                    dst: dst_peer_id,
                }),
                relay::Event::CircuitClosed {
                    src_peer_id,
                    dst_peer_id,
                    ..
                } => Some(RelayEvent::CircuitClosed {
                    src: src_peer_id,
                    dst: dst_peer_id,
                }),
                other => {
                    tracing::debug!(event = ?other, "relay");
                    None
                }
            },
            _ => None,
        };
        if let Some(report) = report {
            tracing::info!(event = ?report, "relay");
            let _ = events.try_send(report);
        }
    }
}
