//! The `peers` and `invites` tables: queries used by the friends service, run on the store thread.

use libp2p::{Multiaddr, PeerId};
use rusqlite::{params, Connection, OptionalExtension};

use crate::net::protocol::Refusal;

/// Stored addresses per peer; the newest win.
const MAX_ADDRESSES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    Friend,
    RequestedOut,
    RequestedIn,
    Blocked,
}

impl Relationship {
    fn as_str(self) -> &'static str {
        match self {
            Relationship::Friend => "friend",
            Relationship::RequestedOut => "requested_out",
            Relationship::RequestedIn => "requested_in",
            Relationship::Blocked => "blocked",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "friend" => Relationship::Friend,
            "requested_out" => Relationship::RequestedOut,
            "requested_in" => Relationship::RequestedIn,
            "blocked" => Relationship::Blocked,
            _ => return None,
        })
    }
}

/// One row of `peers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    pub peer: PeerId,
    pub relationship: Relationship,
    pub display_name: Option<String>,
    pub addresses: Vec<Multiaddr>,
    pub since: i64,
    pub last_seen: Option<i64>,
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<Option<PeerRow>> {
    let peer: String = r.get(0)?;
    let relationship: String = r.get(1)?;
    let addresses: String = r.get(3)?;
    let (Ok(peer), Some(relationship)) = (peer.parse(), Relationship::parse(&relationship)) else {
        // A row we cannot read is skipped rather than failing every listing.
        return Ok(None);
    };
    let addresses: Vec<String> = serde_json::from_str(&addresses).unwrap_or_default();
    Ok(Some(PeerRow {
        peer,
        relationship,
        display_name: r.get(2)?,
        addresses: addresses.iter().filter_map(|a| a.parse().ok()).collect(),
        since: r.get(4)?,
        last_seen: r.get(5)?,
    }))
}

const COLUMNS: &str = "peer_id, relationship, display_name, addresses, since, last_seen";

pub fn get(conn: &Connection, peer: &PeerId) -> rusqlite::Result<Option<PeerRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM peers WHERE peer_id = ?1"),
        [peer.to_base58()],
        row,
    )
    .optional()
    .map(Option::flatten)
}

pub fn list(conn: &Connection, relationship: Relationship) -> rusqlite::Result<Vec<PeerRow>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM peers WHERE relationship = ?1 ORDER BY display_name COLLATE NOCASE, peer_id"
    ))?;
    let rows = statement.query_map([relationship.as_str()], row)?;
    rows.filter_map(Result::transpose).collect()
}

pub fn count(conn: &Connection, relationship: Relationship) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT count(*) FROM peers WHERE relationship = ?1",
        [relationship.as_str()],
        |r| r.get(0),
    )
}

/// Puts `peer` in `relationship`, keeping its name unless a new one is given.
pub fn set(
    conn: &Connection,
    peer: &PeerId,
    relationship: Relationship,
    display_name: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO peers (peer_id, relationship, display_name, since) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (peer_id) DO UPDATE SET
            relationship = ?2,
            display_name = coalesce(?3, display_name),
            since = CASE WHEN relationship = ?2 THEN since ELSE ?4 END",
        params![peer.to_base58(), relationship.as_str(), display_name, now],
    )?;
    Ok(())
}

pub fn set_name(conn: &Connection, peer: &PeerId, name: &str) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE peers SET display_name = ?2 WHERE peer_id = ?1 AND display_name IS NOT ?2",
        params![peer.to_base58(), name],
    )?;
    Ok(changed > 0)
}

/// Remembers `fresh` addresses ahead of the known ones.
pub fn add_addresses(
    conn: &Connection,
    peer: &PeerId,
    fresh: &[Multiaddr],
) -> rusqlite::Result<()> {
    let Some(existing) = get(conn, peer)? else {
        return Ok(());
    };
    let mut merged: Vec<Multiaddr> = fresh.to_vec();
    for address in existing.addresses {
        if !merged.contains(&address) {
            merged.push(address);
        }
    }
    merged.truncate(MAX_ADDRESSES);
    let text: Vec<String> = merged.iter().map(|a| a.to_string()).collect();
    conn.execute(
        "UPDATE peers SET addresses = ?2 WHERE peer_id = ?1",
        params![
            peer.to_base58(),
            serde_json::to_string(&text).expect("strings to serialise")
        ],
    )?;
    Ok(())
}

pub fn touch(conn: &Connection, peer: &PeerId, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE peers SET last_seen = ?2 WHERE peer_id = ?1",
        params![peer.to_base58(), now],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, peer: &PeerId) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM peers WHERE peer_id = ?1", [peer.to_base58()])? > 0)
}

pub fn insert_invite(
    conn: &Connection,
    secret: &[u8],
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO invites (secret, created_at, expires_at) VALUES (?1, ?2, ?3)",
        params![secret, now, expires_at],
    )?;
    Ok(())
}

/// Marks the invite with `secret` as used by `peer`, or says why it cannot be. Redeeming again by
/// the same peer succeeds (their first answer may have been lost).
pub fn redeem_invite(
    conn: &mut Connection,
    secret: &[u8],
    peer: &PeerId,
    now: i64,
) -> rusqlite::Result<Result<(), Refusal>> {
    let tx = conn.transaction()?;
    let found: Option<(i64, Option<String>)> = tx
        .query_row(
            "SELECT expires_at, redeemed_by FROM invites WHERE secret = ?1",
            [secret],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let verdict = match found {
        None => Err(Refusal::InvalidInvite),
        Some((_, Some(by))) if by == peer.to_base58() => Ok(()),
        Some((_, Some(_))) => Err(Refusal::InviteAlreadyUsed),
        Some((expires_at, None)) if expires_at <= now => Err(Refusal::InviteExpired),
        Some((_, None)) => {
            tx.execute(
                "UPDATE invites SET redeemed_by = ?2, redeemed_at = ?3 WHERE secret = ?1",
                params![secret, peer.to_base58(), now],
            )?;
            Ok(())
        }
    };
    tx.commit()?;
    Ok(verdict)
}
