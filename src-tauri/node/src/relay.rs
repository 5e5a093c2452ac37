//! `earshot-node relay`: a relay for friends, with its own identity in the data directory.
//!
//! Each event is printed as one JSON line on stdout, e.g.
//! `{"relay":"listening","address":"/ip4/…/tcp/4001/p2p/12D3…"}`, so scripts and tests can
//! read the relay's full address; logs go to stderr.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use earshot_engine::data_dir::{self, DataDirLock};
use earshot_engine::net::relay::{self as engine_relay, RelayConfig, RelayEvent};
use earshot_engine::{identity, keys};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde_json::json;
use tokio::sync::mpsc;

use crate::fail;

pub fn run(
    data_dir: Option<PathBuf>,
    listen: Vec<Multiaddr>,
    external: Vec<Multiaddr>,
    mut allow: Vec<PeerId>,
    allow_file: Option<PathBuf>,
) -> ExitCode {
    if let Some(file) = allow_file {
        match read_allow_file(&file) {
            Ok(peers) => allow.extend(peers),
            Err(e) => return fail(&e),
        }
    }
    if allow.is_empty() {
        eprintln!("earshot-node relay: no peer is allowed (use --allow or --allow-file); the relay will refuse everyone");
    }
    let dir = match data_dir::resolve(data_dir) {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    let _lock = match DataDirLock::acquire(&dir) {
        Ok(lock) => lock,
        Err(e) => return fail(&e),
    };
    // The relay's identity is sealed like a peer's (keyring, or a key file on a headless server).
    let key = match keys::unlock(&dir, &keys::KeyOptions::default()) {
        Ok(key) => key,
        Err(e) => return fail(&e),
    };
    let keypair = match identity::load_or_create(&dir, &key) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let _log_guard = earshot_engine::logging::init(&dir, "earshot-relay");
    let peer = keypair.public().to_peer_id();
    let runtime = match crate::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let (events, mut reports) = mpsc::channel(256);
        let printer = tokio::spawn(async move {
            while let Some(event) = reports.recv().await {
                println!("{}", describe(&event, peer));
            }
        });
        let config = RelayConfig {
            listen,
            external,
            allowed: allow.into_iter().collect::<HashSet<_>>(),
        };
        crate::control::listen_for_stop();
        let outcome =
            engine_relay::run(keypair, config, events, crate::control::stop_signal()).await;
        let _ = printer.await;
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    })
}

fn describe(event: &RelayEvent, me: PeerId) -> serde_json::Value {
    match event {
        RelayEvent::Listening(address) => {
            json!({"relay": "listening", "address": address.clone().with(Protocol::P2p(me)).to_string(), "peer_id": me.to_base58()})
        }
        RelayEvent::Reserved(peer) => json!({"relay": "reserved", "peer_id": peer.to_base58()}),
        RelayEvent::CircuitOpened { src, dst } => {
            json!({"relay": "circuit_opened", "src": src.to_base58(), "dst": dst.to_base58()})
        }
        RelayEvent::CircuitClosed { src, dst } => {
            json!({"relay": "circuit_closed", "src": src.to_base58(), "dst": dst.to_base58()})
        }
        RelayEvent::Refused(peer) => json!({"relay": "refused", "peer_id": peer.to_base58()}),
    }
}

fn read_allow_file(path: &Path) -> Result<Vec<PeerId>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| (i, line.split('#').next().unwrap_or("").trim()))
        .filter(|(_, line)| !line.is_empty())
        .map(|(i, line)| {
            line.parse()
                .map_err(|_| format!("{}:{}: {line:?} is not a peer id", path.display(), i + 1))
        })
        .collect()
}
