//! Remembered listen ports: a peer that restarts listens on the same ports, so friends who kept
//! its old addresses reach it again without LAN discovery or a relay.

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use rusqlite::Connection;

use crate::store::settings;

const KEY: &str = "net.listen_ports";

/// Replaces port 0 in `listen` with the port used last time for the same transport.
pub fn apply(conn: &Connection, listen: &[Multiaddr]) -> rusqlite::Result<Vec<Multiaddr>> {
    let remembered: Vec<(String, u16)> = settings::get(conn, KEY)?.unwrap_or_default();
    Ok(listen
        .iter()
        .map(|address| {
            let kind = transport(address);
            match remembered.iter().find(|(k, _)| Some(k.as_str()) == kind) {
                Some((_, port)) if has_port_zero(address) => with_port(address, *port),
                _ => address.clone(),
            }
        })
        .collect())
}

/// Records the ports of `addresses` (actual listen addresses) for the next start.
pub fn remember(conn: &Connection, addresses: &[Multiaddr]) -> rusqlite::Result<()> {
    let mut ports: Vec<(String, u16)> = Vec::new();
    for address in addresses {
        if let (Some(kind), Some(port)) = (transport(address), port(address)) {
            if !ports.iter().any(|(k, _)| k == kind) {
                ports.push((kind.to_string(), port));
            }
        }
    }
    if ports.is_empty() {
        return Ok(());
    }
    settings::put(conn, KEY, &ports)
}

fn transport(address: &Multiaddr) -> Option<&'static str> {
    let mut kind = None;
    for p in address.iter() {
        match p {
            Protocol::P2pCircuit => return None,
            Protocol::Tcp(_) => kind = Some("tcp"),
            Protocol::QuicV1 => kind = Some("quic-v1"),
            _ => {}
        }
    }
    kind
}

fn port(address: &Multiaddr) -> Option<u16> {
    address.iter().find_map(|p| match p {
        Protocol::Tcp(port) | Protocol::Udp(port) => Some(port),
        _ => None,
    })
}

fn has_port_zero(address: &Multiaddr) -> bool {
    port(address) == Some(0)
}

/// `address` with its TCP or UDP port set to `new` (0 = any free port).
pub(crate) fn with_port(address: &Multiaddr, new: u16) -> Multiaddr {
    address
        .iter()
        .map(|p| match p {
            Protocol::Tcp(_) => Protocol::Tcp(new),
            Protocol::Udp(_) => Protocol::Udp(new),
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)")
            .unwrap();
        conn
    }

    #[test]
    fn port_zero_is_replaced_by_the_port_used_last_time() {
        let conn = db();
        let actual: Vec<Multiaddr> = vec![
            "/ip4/192.0.2.1/tcp/4100".parse().unwrap(),
            "/ip4/192.0.2.1/udp/4200/quic-v1".parse().unwrap(),
        ];
        remember(&conn, &actual).unwrap();
        let wanted: Vec<Multiaddr> = vec![
            "/ip4/0.0.0.0/tcp/0".parse().unwrap(),
            "/ip4/0.0.0.0/udp/0/quic-v1".parse().unwrap(),
        ];
        let applied = apply(&conn, &wanted).unwrap();
        assert_eq!(applied[0].to_string(), "/ip4/0.0.0.0/tcp/4100");
        assert_eq!(applied[1].to_string(), "/ip4/0.0.0.0/udp/4200/quic-v1");
    }

    #[test]
    fn explicit_ports_and_first_starts_are_left_alone() {
        let conn = db();
        let wanted: Vec<Multiaddr> = vec!["/ip4/0.0.0.0/tcp/0".parse().unwrap()];
        assert_eq!(apply(&conn, &wanted).unwrap(), wanted);
        remember(&conn, &["/ip4/192.0.2.1/tcp/4100".parse().unwrap()]).unwrap();
        let explicit: Vec<Multiaddr> = vec!["/ip4/0.0.0.0/tcp/9999".parse().unwrap()];
        assert_eq!(apply(&conn, &explicit).unwrap(), explicit);
    }

    #[test]
    fn relayed_addresses_are_not_remembered() {
        let conn = db();
        let relayed: Multiaddr = "/ip4/192.0.2.9/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
            .parse()
            .unwrap();
        remember(&conn, &[relayed]).unwrap();
        let wanted: Vec<Multiaddr> = vec!["/ip4/0.0.0.0/tcp/0".parse().unwrap()];
        assert_eq!(apply(&conn, &wanted).unwrap(), wanted);
    }
}
