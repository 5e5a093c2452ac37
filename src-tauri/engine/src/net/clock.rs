//! `/earshot/clock/1`: clock exchanges on one long-lived stream per host.
//!
//! A guest opens one stream to its host and, on it, sends its send instant `t0` (8 bytes, big
//! endian); the host answers `t0, t1, t2` (24 bytes): when the question arrived and when the
//! answer left, on its clock. Both directions cross the same stream of the same connection, read
//! and written by a task that does nothing else, so the way there costs what the way back costs —
//! a request-response exchange would open a new stream (and negotiate it) on the way there only,
//! which an NTP-style estimate turns into an offset error of half that difference.
//!
//! The host answers only its jam's participants (the set is shared with the network loop), one
//! stream per peer, and at most [`MAX_PER_SECOND`] answers a second on it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, StreamProtocol};

use super::NetError;
use crate::clock;
use crate::jam::clock::Exchange;

pub const CLOCK_PROTOCOL: StreamProtocol = StreamProtocol::new("/earshot/clock/1");
/// Answers per second on one stream, at most (a guest asks four times a second, sixteen in its
/// first half second).
const MAX_PER_SECOND: u32 = 40;
/// How long an exchange may take before the stream is given up.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);

/// Peers whose clock questions are answered: the jam's participants.
pub type Allowed = Arc<RwLock<HashSet<PeerId>>>;

/// Answers every allowed peer's clock stream until the node stops.
pub async fn serve(mut incoming: libp2p_stream::IncomingStreams, allowed: Allowed) {
    let open: Arc<Mutex<HashSet<PeerId>>> = Arc::default();
    while let Some((peer, stream)) = incoming.next().await {
        let permitted = allowed.read().is_ok_and(|set| set.contains(&peer));
        // One stream per peer; a second one (or a stranger's) is dropped, which closes it.
        let first = open.lock().is_ok_and(|mut set| set.insert(peer));
        if !permitted || !first {
            if permitted {
                tracing::debug!(%peer, "a second clock stream refused");
            }
            continue;
        }
        let open = Arc::clone(&open);
        let allowed = Arc::clone(&allowed);
        tokio::spawn(async move {
            if let Err(error) = answer(stream, peer, &allowed).await {
                tracing::debug!(%peer, %error, "a clock stream ended");
            }
            if let Ok(mut set) = open.lock() {
                set.remove(&peer);
            }
        });
    }
}

/// Answers one peer's questions while it stays allowed.
async fn answer(
    mut stream: libp2p::Stream,
    peer: PeerId,
    allowed: &Allowed,
) -> std::io::Result<()> {
    let mut window_start = tokio::time::Instant::now();
    let mut answered = 0u32;
    loop {
        let mut question = [0u8; 8];
        stream.read_exact(&mut question).await?;
        let t1 = clock::now_ns();
        if !allowed.read().is_ok_and(|set| set.contains(&peer)) {
            return Ok(());
        }
        if window_start.elapsed() >= Duration::from_secs(1) {
            window_start = tokio::time::Instant::now();
            answered = 0;
        }
        answered += 1;
        if answered > MAX_PER_SECOND {
            // Too fast: this one is not answered, and the asker times out.
            return Ok(());
        }
        let mut reply = [0u8; 24];
        reply[..8].copy_from_slice(&question);
        reply[8..16].copy_from_slice(&t1.to_be_bytes());
        let t2 = clock::now_ns();
        reply[16..].copy_from_slice(&t2.to_be_bytes());
        stream.write_all(&reply).await?;
        stream.flush().await?;
    }
}

/// A handle for opening streams, handed out by the network loop.
pub struct Control(pub(super) libp2p_stream::Control);

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stream control")
    }
}

/// A guest's stream to its host's clock.
pub struct ClockStream {
    stream: libp2p::Stream,
}

impl ClockStream {
    /// Opens the stream (dialling the peer if need be).
    pub async fn open(control: Control, peer: PeerId) -> Result<ClockStream, NetError> {
        let mut control = control.0;
        match tokio::time::timeout(EXCHANGE_TIMEOUT, control.open_stream(peer, CLOCK_PROTOCOL))
            .await
        {
            Ok(Ok(stream)) => Ok(ClockStream { stream }),
            Ok(Err(error)) => Err(NetError::Unreachable(error.to_string())),
            Err(_) => Err(NetError::Timeout),
        }
    }

    /// One exchange: our send and receive instants, and the host's.
    pub async fn exchange(&mut self) -> Result<Exchange, NetError> {
        let io = |e: std::io::Error| NetError::Failed(e.to_string());
        let round = async {
            let t0 = clock::now_ns();
            self.stream.write_all(&t0.to_be_bytes()).await.map_err(io)?;
            self.stream.flush().await.map_err(io)?;
            let mut reply = [0u8; 24];
            self.stream.read_exact(&mut reply).await.map_err(io)?;
            let t3 = clock::now_ns();
            let field = |i: usize| {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&reply[i * 8..i * 8 + 8]);
                u64::from_be_bytes(bytes)
            };
            if field(0) != t0 {
                return Err(NetError::Failed(
                    "a clock answer to another question".into(),
                ));
            }
            Ok(Exchange {
                t0,
                t1: field(1),
                t2: field(2),
                t3,
            })
        };
        tokio::time::timeout(EXCHANGE_TIMEOUT, round)
            .await
            .map_err(|_| NetError::Timeout)?
    }
}
