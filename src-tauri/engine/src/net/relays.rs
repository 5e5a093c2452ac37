//! The relays a peer reserves on, as chosen in Settings (stored) and by `--relay` (this run only).

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use rusqlite::Connection;

use super::Client;
use crate::api::{ApiError, ErrorKind};
use crate::store::{settings, Store};

const KEY: &str = "net.relays";
/// More relays than this is a mistake, not a configuration.
pub const MAX_RELAYS: usize = 8;

/// Checks one relay address as a person typed it: a multiaddr ending in `/p2p/<relay id>`.
pub fn parse(text: &str) -> Result<Multiaddr, String> {
    let text = text.trim();
    let address: Multiaddr = text.parse().map_err(|_| {
        format!("\"{text}\" is not an address like /ip4/203.0.113.5/udp/4001/quic-v1/p2p/12D3KooW…")
    })?;
    let protocols: Vec<Protocol> = address.iter().collect();
    if protocols.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
        return Err(format!(
            "\"{text}\" is a relayed address; give the relay's own address"
        ));
    }
    if !matches!(protocols.last(), Some(Protocol::P2p(_))) {
        return Err(format!(
            "\"{text}\" must end with /p2p/ and the relay's peer id (the relay prints it)"
        ));
    }
    Ok(address)
}

/// The stored relays (unreadable entries are skipped).
pub fn load(conn: &Connection) -> rusqlite::Result<Vec<Multiaddr>> {
    let list: Vec<String> = settings::get(conn, KEY)?.unwrap_or_default();
    Ok(list.iter().filter_map(|a| parse(a).ok()).collect())
}

pub fn save(conn: &Connection, relays: &[Multiaddr]) -> rusqlite::Result<()> {
    let list: Vec<String> = relays.iter().map(|a| a.to_string()).collect();
    settings::put(conn, KEY, &list)
}

/// The relay settings: those chosen in Settings (stored, applied live) and those given on the
/// command line for this run (kept in addition).
#[derive(Clone)]
pub struct RelaySettings {
    store: Store,
    /// The node to apply changes to; `None` when networking is off.
    client: Option<Client>,
    command_line: Vec<Multiaddr>,
}

/// Relays chosen in Settings, and those from the command line, as addresses.
pub type RelayLists = (Vec<String>, Vec<String>);

impl RelaySettings {
    pub fn new(store: Store, client: Option<Client>, command_line: Vec<Multiaddr>) -> Self {
        Self {
            store,
            client,
            command_line,
        }
    }

    pub async fn get(&self) -> Result<RelayLists, ApiError> {
        let stored = self.store.call(|c| load(c)).await?;
        Ok((
            stored.iter().map(|a| a.to_string()).collect(),
            self.command_line.iter().map(|a| a.to_string()).collect(),
        ))
    }

    /// Replaces the relays chosen in Settings (each checked first; nothing changes if one is
    /// wrong), stores them and applies them at once.
    pub async fn set(&self, relays: Vec<String>) -> Result<RelayLists, ApiError> {
        if relays.len() > MAX_RELAYS {
            return Err(ApiError::invalid_input(format!(
                "At most {MAX_RELAYS} relays can be used."
            )));
        }
        let parsed = relays
            .iter()
            .filter(|r| !r.trim().is_empty())
            .map(|r| parse(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ApiError::invalid_input)?;
        let stored = parsed.clone();
        self.store.call(move |c| save(c, &stored)).await?;
        let mut all = self.command_line.clone();
        all.extend(
            parsed
                .into_iter()
                .filter(|r| !self.command_line.contains(r)),
        );
        if let Some(client) = &self.client {
            client
                .set_relays(all)
                .await
                .map_err(|e| ApiError::new(ErrorKind::ShuttingDown, e.to_string()))?;
        }
        self.get().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str = "/ip4/203.0.113.5/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

    #[test]
    fn a_relay_address_must_name_the_relay() {
        assert!(parse(RELAY).is_ok());
        assert!(parse(" /ip4/203.0.113.5/tcp/4001 ")
            .unwrap_err()
            .contains("/p2p/"));
        assert!(parse("relay.example")
            .unwrap_err()
            .contains("not an address"));
        let circuit = format!("{RELAY}/p2p-circuit");
        assert!(parse(&circuit).unwrap_err().contains("relayed"));
    }

    #[test]
    fn saved_relays_load_back() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)")
            .unwrap();
        assert!(load(&conn).unwrap().is_empty());
        save(&conn, &[parse(RELAY).unwrap()]).unwrap();
        assert_eq!(load(&conn).unwrap(), vec![parse(RELAY).unwrap()]);
    }
}
