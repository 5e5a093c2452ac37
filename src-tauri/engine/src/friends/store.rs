//! The `peers` and `invites` tables: queries used by the friends service, run on the store thread.

use libp2p::{Multiaddr, PeerId};
use rusqlite::{params, Connection, OptionalExtension};

use super::policy::{self, InviteVerdict, StoredInvite};
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

/// Puts `peer` in `relationship`, keeping its name unless a new one is given. A block is never
/// overwritten except by another block: a request or a redeem that raced with the user's "Block"
/// cannot undo it (callers read the row back to see which won).
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
            since = CASE WHEN relationship = ?2 THEN since ELSE ?4 END
         WHERE relationship <> 'blocked' OR ?2 = 'blocked'",
        params![peer.to_base58(), relationship.as_str(), display_name, now],
    )?;
    Ok(())
}

/// Stores a new incoming request unless the peer already has a row; returns whether it did.
pub fn insert_request(
    conn: &Connection,
    peer: &PeerId,
    display_name: Option<&str>,
    now: i64,
) -> rusqlite::Result<bool> {
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO peers (peer_id, relationship, display_name, since)
         VALUES (?1, 'requested_in', ?2, ?3)",
        params![peer.to_base58(), display_name, now],
    )?;
    Ok(inserted > 0)
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

/// Deletes `peer`'s row if it is in one of `states` (so a race cannot delete, say, a block when a
/// request was meant); returns whether it did.
pub fn delete_if(
    conn: &Connection,
    peer: &PeerId,
    states: &[Relationship],
) -> rusqlite::Result<bool> {
    let Some(row) = get(conn, peer)? else {
        return Ok(false);
    };
    if !states.contains(&row.relationship) {
        return Ok(false);
    }
    Ok(conn.execute("DELETE FROM peers WHERE peer_id = ?1", [peer.to_base58()])? > 0)
}

/// Rows of a relationship older than `before` (unix ms), oldest first.
pub fn older_than(
    conn: &Connection,
    relationship: Relationship,
    before: i64,
) -> rusqlite::Result<Vec<PeerId>> {
    let mut statement = conn.prepare_cached(
        "SELECT peer_id FROM peers WHERE relationship = ?1 AND since < ?2 ORDER BY since, peer_id",
    )?;
    let rows = statement.query_map(params![relationship.as_str(), before], |r| {
        r.get::<_, String>(0)
    })?;
    let mut out = Vec::new();
    for text in rows {
        if let Ok(peer) = text?.parse() {
            out.push(peer);
        }
    }
    Ok(out)
}

/// Deletes incoming requests older than `before` (unix ms); returns how many went.
pub fn expire_requests(conn: &Connection, before: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM peers WHERE relationship = 'requested_in' AND since < ?1",
        [before],
    )
}

/// Deletes the oldest incoming request; returns whose it was.
pub fn evict_oldest_request(conn: &Connection) -> rusqlite::Result<Option<PeerId>> {
    let oldest: Option<String> = conn
        .query_row(
            "SELECT peer_id FROM peers WHERE relationship = 'requested_in'
             ORDER BY since, peer_id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let Some(oldest) = oldest else {
        return Ok(None);
    };
    conn.execute("DELETE FROM peers WHERE peer_id = ?1", [&oldest])?;
    Ok(oldest.parse().ok())
}

/// Ends a friendship with `peer` and revokes the invites they redeemed, in one transaction: an
/// ex-friend's old link must never work again. Returns whether they were a friend (a block that
/// won a race is left alone).
pub fn forget(conn: &mut Connection, peer: &PeerId) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    revoke_invites_of(&tx, peer)?;
    let removed = delete_if(&tx, peer, &[Relationship::Friend])?;
    tx.commit()?;
    Ok(removed)
}

/// Blocks `peer` and revokes the invites they redeemed, in one transaction.
pub fn block(conn: &mut Connection, peer: &PeerId, now: i64) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    revoke_invites_of(&tx, peer)?;
    set(&tx, peer, Relationship::Blocked, None, now)?;
    tx.commit()
}

// ------------------------------------------------------------------------------------ invites

/// What is stored of an invite's secret: its BLAKE3 hash. The secret is 128 random bits, so a
/// plain (unsalted, fast) hash is enough: nobody can search that space.
pub fn secret_hash(secret: &[u8]) -> Vec<u8> {
    blake3::hash(secret).as_bytes().to_vec()
}

/// Stores a new invite; returns its id.
pub fn insert_invite(
    conn: &Connection,
    secret: &[u8],
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO invites (secret_hash, created_at, expires_at) VALUES (?1, ?2, ?3)",
        params![secret_hash(secret), now, expires_at],
    )?;
    Ok(conn.last_insert_rowid())
}

/// One row of `invites`, with the name of whoever used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRow {
    pub id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub redeemed_by: Option<PeerId>,
    pub redeemed_at: Option<i64>,
    pub redeemer_name: Option<String>,
}

/// Invites that have not expired, newest first.
pub fn list_invites(conn: &Connection, now: i64) -> rusqlite::Result<Vec<InviteRow>> {
    let mut statement = conn.prepare_cached(
        "SELECT i.id, i.created_at, i.expires_at, i.redeemed_by, i.redeemed_at, p.display_name
         FROM invites i LEFT JOIN peers p ON p.peer_id = i.redeemed_by
         WHERE i.expires_at > ?1 ORDER BY i.created_at DESC, i.id DESC",
    )?;
    let rows = statement.query_map([now], |r| {
        let by: Option<String> = r.get(3)?;
        Ok(InviteRow {
            id: r.get(0)?,
            created_at: r.get(1)?,
            expires_at: r.get(2)?,
            redeemed_by: by.and_then(|b| b.parse().ok()),
            redeemed_at: r.get(4)?,
            redeemer_name: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// Deletes invite `id`; `false` when there was none.
pub fn revoke_invite(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM invites WHERE id = ?1", [id])? > 0)
}

/// Deletes the invites `peer` redeemed; returns how many.
pub fn revoke_invites_of(conn: &Connection, peer: &PeerId) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM invites WHERE redeemed_by = ?1",
        [peer.to_base58()],
    )
}

/// Deletes expired invites (used or not: once expired, no redeem can succeed); returns how many.
pub fn purge_expired_invites(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM invites WHERE expires_at <= ?1", [now])
}

/// Moves round-1 invites (secrets kept in clear, renamed to `invites_round1` by migration 0004)
/// into `invites` as hashes, then drops the old table. Returns how many were moved.
pub fn hash_round1_invites(conn: &mut Connection) -> rusqlite::Result<usize> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'invites_round1'",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    let tx = conn.transaction()?;
    // (secret, created_at, expires_at, redeemed_by, redeemed_at)
    type Round1 = (Vec<u8>, i64, i64, Option<String>, Option<i64>);
    let rows: Vec<Round1> = {
        let mut statement = tx.prepare(
            "SELECT secret, created_at, expires_at, redeemed_by, redeemed_at FROM invites_round1",
        )?;
        let rows = statement.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (secret, created_at, expires_at, redeemed_by, redeemed_at) in &rows {
        tx.execute(
            "INSERT OR IGNORE INTO invites (secret_hash, created_at, expires_at, redeemed_by, redeemed_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![secret_hash(secret), created_at, expires_at, redeemed_by, redeemed_at],
        )?;
    }
    tx.execute("DROP TABLE invites_round1", [])?;
    tx.commit()?;
    Ok(rows.len())
}

/// How a redeem went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// First use, now recorded as used by the peer.
    First,
    /// The same friend again while it is valid.
    Repeat,
}

/// Decides a redeem of the invite with `secret` by `peer` ([`policy::invite_verdict`]) and records
/// a first use, in one transaction.
pub fn redeem_invite(
    conn: &mut Connection,
    secret: &[u8],
    peer: &PeerId,
    now: i64,
) -> rusqlite::Result<Result<Redeemed, Refusal>> {
    let tx = conn.transaction()?;
    let hash = secret_hash(secret);
    let found: Option<(i64, Option<String>)> = tx
        .query_row(
            "SELECT expires_at, redeemed_by FROM invites WHERE secret_hash = ?1",
            [&hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let invite = found.map(|(expires_at, by)| StoredInvite {
        expires_at,
        // A redeemer id that no longer parses cannot be anyone: it counts as used by another.
        redeemed_by: by.map(|b| b.parse().unwrap_or(PeerId::random())),
    });
    let relationship = get(&tx, peer)?.map(|r| r.relationship);
    let verdict = match policy::invite_verdict(invite, *peer, relationship, now) {
        InviteVerdict::Redeem => {
            tx.execute(
                "UPDATE invites SET redeemed_by = ?2, redeemed_at = ?3 WHERE secret_hash = ?1",
                params![hash, peer.to_base58(), now],
            )?;
            Ok(Redeemed::First)
        }
        InviteVerdict::Repeat => Ok(Redeemed::Repeat),
        InviteVerdict::Refuse(reason) => Err(reason),
    };
    tx.commit()?;
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The friends tables as round 1 left them, then as migration 0004 makes them.
    fn round1() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../../migrations/0002_friends.sql"))
            .unwrap();
        conn
    }

    fn migrated(conn: Connection) -> Connection {
        conn.execute_batch(include_str!(
            "../../../../migrations/0004_invite_hashes.sql"
        ))
        .unwrap();
        conn
    }

    /// Every byte stored in `invites`, as one buffer.
    fn invite_bytes(conn: &Connection) -> Vec<u8> {
        let mut statement = conn.prepare("SELECT * FROM invites").unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        let mut out = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Blob(b) => out.extend_from_slice(b),
                    rusqlite::types::ValueRef::Text(t) => out.extend_from_slice(t),
                    _ => {}
                }
            }
        }
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn the_store_keeps_a_hash_of_each_secret_never_the_secret() {
        let mut conn = migrated(round1());
        let secret: [u8; 16] = rand::random();
        insert_invite(&conn, &secret, 1, 1_000).unwrap();
        assert!(!contains(&invite_bytes(&conn), &secret));
        let peer = PeerId::random();
        assert_eq!(
            redeem_invite(&mut conn, &secret, &peer, 2).unwrap(),
            Ok(Redeemed::First),
            "the secret still redeems by its hash"
        );
    }

    #[test]
    fn round_one_invites_are_hashed_on_upgrade_and_still_redeem() {
        let conn = round1();
        let (open, used): ([u8; 16], [u8; 16]) = (rand::random(), rand::random());
        let friend = PeerId::random();
        conn.execute(
            "INSERT INTO invites (secret, created_at, expires_at) VALUES (?1, 1, 5000)",
            [&open[..]],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO invites (secret, created_at, expires_at, redeemed_by, redeemed_at)
             VALUES (?1, 1, 5000, ?2, 2)",
            params![&used[..], friend.to_base58()],
        )
        .unwrap();
        let mut conn = migrated(conn);
        assert_eq!(hash_round1_invites(&mut conn).unwrap(), 2);
        assert_eq!(hash_round1_invites(&mut conn).unwrap(), 0, "done once");
        let bytes = invite_bytes(&conn);
        assert!(!contains(&bytes, &open) && !contains(&bytes, &used));
        let listed = list_invites(&conn, 3).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            listed
                .iter()
                .filter(|i| i.redeemed_by == Some(friend))
                .count(),
            1
        );
        assert_eq!(
            redeem_invite(&mut conn, &open, &PeerId::random(), 3).unwrap(),
            Ok(Redeemed::First)
        );
    }

    #[test]
    fn unfriending_or_blocking_revokes_the_invites_a_peer_redeemed() {
        let mut conn = migrated(round1());
        let (bob, eve) = (PeerId::random(), PeerId::random());
        for (peer, secret) in [(bob, [1u8; 16]), (eve, [2u8; 16])] {
            insert_invite(&conn, &secret, 1, 1_000).unwrap();
            redeem_invite(&mut conn, &secret, &peer, 2)
                .unwrap()
                .unwrap();
            set(&conn, &peer, Relationship::Friend, None, 2).unwrap();
        }
        assert!(forget(&mut conn, &bob).unwrap());
        block(&mut conn, &eve, 3).unwrap();
        assert!(list_invites(&conn, 3).unwrap().is_empty());
        assert_eq!(
            redeem_invite(&mut conn, &[1u8; 16], &bob, 4).unwrap(),
            Err(Refusal::InvalidInvite)
        );
    }

    #[test]
    fn a_block_is_never_overwritten_by_a_racing_request_or_friendship() {
        let mut conn = migrated(round1());
        let peer = PeerId::random();
        block(&mut conn, &peer, 1).unwrap();
        set(&conn, &peer, Relationship::Friend, Some("Mallory"), 2).unwrap();
        set(&conn, &peer, Relationship::RequestedIn, None, 3).unwrap();
        assert!(!forget(&mut conn, &peer).unwrap());
        assert!(!delete_if(&conn, &peer, &[Relationship::RequestedIn]).unwrap());
        let row = get(&conn, &peer).unwrap().unwrap();
        assert_eq!(row.relationship, Relationship::Blocked);
        assert_eq!(
            row.display_name, None,
            "nothing from a blocked peer is stored"
        );
        assert!(
            delete_if(&conn, &peer, &[Relationship::Blocked]).unwrap(),
            "unblock"
        );
    }

    #[test]
    fn expired_invites_are_purged_and_old_requests_expire_or_are_evicted_oldest_first() {
        let conn = migrated(round1());
        insert_invite(&conn, &[1u8; 16], 1, 100).unwrap();
        insert_invite(&conn, &[2u8; 16], 1, 300).unwrap();
        assert_eq!(purge_expired_invites(&conn, 200).unwrap(), 1);
        assert_eq!(list_invites(&conn, 200).unwrap().len(), 1);

        let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        for (i, peer) in peers.iter().enumerate() {
            set(&conn, peer, Relationship::RequestedIn, None, 10 + i as i64).unwrap();
        }
        assert_eq!(evict_oldest_request(&conn).unwrap(), Some(peers[0]));
        assert_eq!(expire_requests(&conn, 12).unwrap(), 1, "the one from 11");
        assert_eq!(
            older_than(&conn, Relationship::RequestedIn, i64::MAX).unwrap(),
            vec![peers[2]]
        );
    }
}
