//! The messages tables (migration 0005): the log, and what the window reads, derived from it by
//! the rules of `log.rs` so that every member ends with the same rows whatever order entries
//! arrived in. Every function runs on the store thread inside the caller's transaction.

use std::collections::HashMap;

use libp2p::PeerId;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::log::{
    self, ConversationId, Entry, EntryId, Hash32, Hlc, Kind, Membership, PeerBytes, Role, Signed,
    Tombstone, Wire,
};

/// Counter bits of a packed time.
const COUNTER_BITS: u32 = 22;

/// A hybrid logical time as one sortable integer.
pub fn pack(hlc: Hlc) -> i64 {
    let counter = hlc.counter.min((1 << COUNTER_BITS) - 1) as i64;
    ((hlc.millis as i64) << COUNTER_BITS) | counter
}

pub fn unpack(packed: i64) -> Hlc {
    Hlc {
        millis: (packed >> COUNTER_BITS) as u64,
        counter: (packed & ((1 << COUNTER_BITS) - 1)) as u32,
    }
}

pub fn millis_of(packed: i64) -> i64 {
    packed >> COUNTER_BITS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    Direct,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvState {
    Active,
    Request,
    Hidden,
}

impl ConvState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConvState::Active => "active",
            ConvState::Request => "request",
            ConvState::Hidden => "hidden",
        }
    }

    fn parse(text: &str) -> ConvState {
        match text {
            "request" => ConvState::Request,
            "hidden" => ConvState::Hidden,
            _ => ConvState::Active,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConvRow {
    pub id: ConversationId,
    pub kind: ConvKind,
    pub peer: Option<PeerId>,
    pub name: String,
    pub state: ConvState,
    pub last_hlc: i64,
}

fn hash_of(bytes: Vec<u8>) -> rusqlite::Result<Hash32> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "a 32-byte id".into(),
        )
    })?;
    Ok(Hash32(array))
}

fn conv_row(row: &rusqlite::Row) -> rusqlite::Result<ConvRow> {
    let kind: String = row.get(1)?;
    let peer: Option<String> = row.get(2)?;
    let state: String = row.get(4)?;
    Ok(ConvRow {
        id: hash_of(row.get(0)?)?,
        kind: if kind == "group" {
            ConvKind::Group
        } else {
            ConvKind::Direct
        },
        peer: peer.and_then(|p| p.parse().ok()),
        name: row.get(3)?,
        state: ConvState::parse(&state),
        last_hlc: row.get(5)?,
    })
}

const CONV_COLUMNS: &str = "id, kind, peer, name, state, last_hlc";

pub fn conversation(conn: &Connection, id: &ConversationId) -> rusqlite::Result<Option<ConvRow>> {
    conn.query_row(
        &format!("SELECT {CONV_COLUMNS} FROM chat_conversations WHERE id = ?1"),
        [&id.0[..]],
        conv_row,
    )
    .optional()
}

/// Conversations in `state`, most recent first.
pub fn conversations(conn: &Connection, state: ConvState) -> rusqlite::Result<Vec<ConvRow>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {CONV_COLUMNS} FROM chat_conversations WHERE state = ?1 ORDER BY last_hlc DESC, created_at DESC"
    ))?;
    let rows = statement.query_map([state.as_str()], conv_row)?;
    rows.collect()
}

/// Makes the direct conversation with `peer` if there is none; returns it.
pub fn ensure_direct(
    conn: &Connection,
    me: &PeerId,
    peer: &PeerId,
    state: ConvState,
    now: i64,
) -> rusqlite::Result<ConvRow> {
    let id = log::direct_id(me, peer);
    conn.execute(
        "INSERT OR IGNORE INTO chat_conversations (id, kind, peer, state, created_at)
         VALUES (?1, 'direct', ?2, ?3, ?4)",
        params![&id.0[..], peer.to_base58(), state.as_str(), now],
    )?;
    for member in [me, peer] {
        conn.execute(
            "INSERT OR IGNORE INTO chat_members (conversation, peer, role, active) VALUES (?1, ?2, 'member', 1)",
            params![&id.0[..], member.to_base58()],
        )?;
    }
    conversation(conn, &id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// Makes a group's row (its name and members come from its `Create` entry when applied).
pub fn ensure_group(conn: &Connection, id: &ConversationId, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO chat_conversations (id, kind, state, created_at) VALUES (?1, 'group', 'active', ?2)",
        params![&id.0[..], now],
    )?;
    Ok(())
}

pub fn set_state(conn: &Connection, id: &ConversationId, state: ConvState) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE chat_conversations SET state = ?2 WHERE id = ?1",
        params![&id.0[..], state.as_str()],
    )?;
    Ok(())
}

/// The members of a conversation: `(peer, role)` for current members.
pub fn members(conn: &Connection, id: &ConversationId) -> rusqlite::Result<Vec<(PeerId, Role)>> {
    let mut statement = conn.prepare_cached(
        "SELECT peer, role FROM chat_members WHERE conversation = ?1 AND active = 1
         ORDER BY role = 'creator' DESC, role = 'admin' DESC, peer",
    )?;
    let rows = statement.query_map([&id.0[..]], |row| {
        let peer: String = row.get(0)?;
        let role: String = row.get(1)?;
        Ok((peer, role))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (peer, role) = row?;
        if let Ok(peer) = peer.parse() {
            out.push((peer, role_of(&role)));
        }
    }
    Ok(out)
}

fn role_of(text: &str) -> Role {
    match text {
        "creator" => Role::Creator,
        "admin" => Role::Admin,
        _ => Role::Member,
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Creator => "creator",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

/// Whether `peer` is (`active_only`) or ever was a member.
pub fn is_member(
    conn: &Connection,
    id: &ConversationId,
    peer: &PeerId,
    active_only: bool,
) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM chat_members WHERE conversation = ?1 AND peer = ?2 AND (active = 1 OR ?3 = 0))",
        params![&id.0[..], peer.to_base58(), active_only],
        |row| row.get(0),
    )
}

/// Conversations in which `peer` is an active member beside us (any state but hidden).
pub fn shared_with(conn: &Connection, peer: &PeerId) -> rusqlite::Result<Vec<ConversationId>> {
    let mut statement = conn.prepare_cached(
        "SELECT m.conversation FROM chat_members m JOIN chat_conversations c ON c.id = m.conversation
         WHERE m.peer = ?1 AND m.active = 1 AND c.state <> 'hidden'",
    )?;
    let rows = statement.query_map([peer.to_base58()], |row| hash_of(row.get(0)?))?;
    rows.collect()
}

/// Groups (active) that `peer` and we both belong to: their names.
pub fn shared_groups(conn: &Connection, peer: &PeerId) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare_cached(
        "SELECT c.name FROM chat_members m JOIN chat_conversations c ON c.id = m.conversation
         WHERE m.peer = ?1 AND m.active = 1 AND c.kind = 'group' AND c.state = 'active' ORDER BY c.name",
    )?;
    let rows = statement.query_map([peer.to_base58()], |row| row.get(0))?;
    rows.collect()
}

/// Every peer we share an active group with (co-members who may not be friends).
pub fn co_members(conn: &Connection, me: &PeerId) -> rusqlite::Result<Vec<PeerId>> {
    let mut statement = conn.prepare_cached(
        "SELECT DISTINCT m.peer FROM chat_members m JOIN chat_conversations c ON c.id = m.conversation
         WHERE c.kind = 'group' AND c.state = 'active' AND m.active = 1 AND m.peer <> ?1",
    )?;
    let rows = statement.query_map([me.to_base58()], |row| row.get::<_, String>(0))?;
    Ok(rows.filter_map(|r| r.ok()?.parse().ok()).collect())
}

/// The next sequence number of `author` in a conversation.
pub fn next_seq(conn: &Connection, id: &ConversationId, author: &PeerId) -> rusqlite::Result<u64> {
    let max: Option<i64> = conn.query_row(
        "SELECT max(seq) FROM chat_entries WHERE conversation = ?1 AND author = ?2",
        params![&id.0[..], author.to_base58()],
        |row| row.get(0),
    )?;
    Ok(max.unwrap_or(0) as u64 + 1)
}

/// The latest time of any entry held: our logical clock never starts behind it.
/// (Never more than the allowed skew ahead of `now_ms`, whatever a stored entry says.)
pub fn latest_hlc(conn: &Connection, now_ms: u64) -> rusqlite::Result<Hlc> {
    let ceiling = pack(Hlc {
        millis: now_ms.saturating_add(log::MAX_CLOCK_SKEW_MS),
        counter: 0,
    });
    let max: Option<i64> = conn.query_row(
        "SELECT max(hlc) FROM chat_entries WHERE hlc <= ?1",
        [ceiling],
        |row| row.get(0),
    )?;
    Ok(max.map(unpack).unwrap_or_default())
}

/// What we hold of each author in a conversation, without gaps.
pub fn have(conn: &Connection, id: &ConversationId) -> rusqlite::Result<Vec<(PeerBytes, u64)>> {
    let mut statement =
        conn.prepare_cached("SELECT author, upto FROM chat_have WHERE conversation = ?1")?;
    let rows = statement.query_map([&id.0[..]], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (author, upto) = row?;
        if let Ok(peer) = author.parse::<PeerId>() {
            out.push((PeerBytes::of(&peer), upto as u64));
        }
    }
    Ok(out)
}

/// Entries of a conversation that someone holding `theirs` lacks, oldest first per author, at
/// most `limit`; and whether more remain.
pub fn missing(
    conn: &Connection,
    id: &ConversationId,
    theirs: &HashMap<PeerBytes, u64>,
    limit: usize,
) -> rusqlite::Result<(Vec<Wire>, bool)> {
    let mut out = Vec::new();
    let mut more = false;
    let ours = have(conn, id)?;
    let mut statement = conn.prepare_cached(
        "SELECT id, author, seq, hlc, signed FROM chat_entries
         WHERE conversation = ?1 AND author = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
    )?;
    for (author, upto) in ours {
        let from = theirs.get(&author).copied().unwrap_or(0);
        if from >= upto {
            continue;
        }
        let Some(peer) = author.peer() else { continue };
        let room = limit.saturating_sub(out.len());
        if room == 0 {
            more = true;
            break;
        }
        let rows = statement.query_map(
            params![
                &id.0[..],
                peer.to_base58(),
                from as i64,
                room.saturating_add(1).min(i64::MAX as usize) as i64
            ],
            |row| {
                Ok((
                    hash_of(row.get(0)?)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Option<Vec<u8>>>(4)?,
                ))
            },
        )?;
        for row in rows {
            let (entry_id, seq, hlc, signed) = row?;
            if out.len() >= limit {
                more = true;
                break;
            }
            match signed.map(|b| log::decode_signed(&b)) {
                Some(Ok(signed)) => out.push(Wire::Entry(signed)),
                Some(Err(_)) => {} // cannot happen for what we stored; skip rather than fail the sync
                None => out.push(Wire::Tombstone(Tombstone {
                    conversation: *id,
                    author: author.clone(),
                    seq: seq as u64,
                    hlc: unpack(hlc),
                    id: entry_id,
                })),
            }
        }
    }
    Ok((out, more))
}

/// What applying one entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Stored; `message` is the line on screen that changed (new, edited, deleted, reacted to).
    Stored {
        message: Option<EntryId>,
        membership: bool,
    },
    /// Already held: nothing changed.
    Duplicate,
    /// The author is not (and never was) a member: refused.
    NotMember,
    /// A tombstone with no Delete to vouch for it (yet): refused.
    Unvouched,
}

/// Applies a verified entry of a known conversation. The caller checked that the conversation
/// exists and that the sender may send it.
pub fn apply(tx: &Transaction, entry: &Entry, now: i64) -> rusqlite::Result<Applied> {
    let applied = apply_inner(tx, entry, now)?;
    if let Applied::Stored {
        membership: true, ..
    } = applied
    {
        replay_membership(tx, &entry.body.conversation)?;
    }
    Ok(applied)
}

/// Applies a batch (in the order given), replaying each conversation's membership once at the
/// end rather than after every membership entry.
pub fn apply_batch(
    tx: &Transaction,
    entries: &[Entry],
    now: i64,
) -> rusqlite::Result<Vec<Applied>> {
    let mut changed: Vec<ConversationId> = Vec::new();
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let applied = apply_inner(tx, entry, now)?;
        if let Applied::Stored {
            membership: true, ..
        } = applied
        {
            if !changed.contains(&entry.body.conversation) {
                // The members must be current before the next entry of this conversation is
                // checked: replay now, once per conversation and batch at most…
                replay_membership(tx, &entry.body.conversation)?;
                changed.push(entry.body.conversation);
            }
        }
        out.push(applied);
    }
    // …and once more at the end for those that changed again after their first replay.
    for conv in &changed {
        replay_membership(tx, conv)?;
    }
    Ok(out)
}

fn apply_inner(tx: &Transaction, entry: &Entry, now: i64) -> rusqlite::Result<Applied> {
    let body = &entry.body;
    let conv = body.conversation;
    let author = entry.author.to_base58();
    let is_create = matches!(body.kind, Kind::Create { .. });
    if !is_create && !is_member(tx, &conv, &entry.author, false)? {
        return Ok(Applied::NotMember);
    }
    if log::is_membership(&body.kind)
        && conversation(tx, &conv)?.is_some_and(|c| c.kind == ConvKind::Direct)
    {
        // A 1:1 conversation has no membership to change.
        return Ok(Applied::NotMember);
    }
    let hlc = pack(body.hlc);
    // Only content is ever redacted (what a Delete's UPDATE touches, whichever arrives first).
    let is_content = matches!(
        body.kind,
        Kind::Text { .. } | Kind::Share { .. } | Kind::Edit { .. }
    );
    let redacted: bool = is_content && tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM chat_redactions WHERE conversation = ?1 AND author = ?2 AND seq = ?3)",
        params![&conv.0[..], author, body.seq as i64],
        |row| row.get(0),
    )?;
    let target = match &body.kind {
        Kind::React { target, .. } | Kind::Edit { target, .. } | Kind::Delete { target, .. } => {
            Some(target.0.to_vec())
        }
        Kind::Text { .. }
        | Kind::Share { .. }
        | Kind::Create { .. }
        | Kind::AddMembers { .. }
        | Kind::RemoveMember { .. }
        | Kind::SetAdmin { .. }
        | Kind::Rename { .. }
        | Kind::Leave
        | Kind::Read { .. } => None,
    };
    let signed = (!redacted).then(|| log::encode_signed(&entry.signed));
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO chat_entries (id, conversation, author, seq, hlc, kind, target, signed, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            &entry.id.0[..],
            &conv.0[..],
            author,
            body.seq as i64,
            hlc,
            log::kind_name(&body.kind),
            target,
            signed,
            now
        ],
    )?;
    if inserted == 0 {
        return Ok(Applied::Duplicate);
    }
    advance_have(tx, &conv, &author, body.seq)?;
    if redacted {
        let message = add_tombstone_line(tx, &conv, &author, body.seq, hlc, &entry.id)?;
        return Ok(Applied::Stored {
            message,
            membership: false,
        });
    }
    let mut membership = false;
    let message = match &body.kind {
        Kind::Text { text, reply_to } => {
            insert_message(tx, entry, "text", text, None, reply_to.as_ref())?;
            catch_up_edits(tx, entry)?;
            Some(entry.id)
        }
        Kind::Share { share, text } => {
            for hash in &share.hashes {
                tx.execute(
                    "INSERT OR IGNORE INTO chat_shared_hashes (hash, conversation, author) VALUES (?1, ?2, ?3)",
                    params![hash.to_hex(), &conv.0[..], author],
                )?;
            }
            let detail = cbor4ii::serde::to_vec(Vec::new(), share).unwrap_or_default();
            insert_message(tx, entry, "share", text, Some(detail), None)?;
            Some(entry.id)
        }
        Kind::React { target, emoji, on } => {
            // Not on a deleted message (its reactions went with it).
            tx.execute(
                "INSERT INTO chat_reactions (target, reactor, emoji, active, hlc, seq, conversation)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
                 WHERE NOT EXISTS (SELECT 1 FROM chat_messages WHERE entry = ?1 AND (deleted = 1 OR conversation <> ?7))
                 ON CONFLICT (target, reactor, emoji) DO UPDATE SET active = excluded.active, hlc = excluded.hlc, seq = excluded.seq
                 WHERE (excluded.hlc, excluded.seq) > (chat_reactions.hlc, chat_reactions.seq)",
                params![&target.0[..], author, emoji, on, hlc, body.seq as i64, &conv.0[..]],
            )?;
            Some(*target)
        }
        Kind::Edit { target, text } => {
            tx.execute(
                "UPDATE chat_messages SET text = ?3, edit_hlc = ?4
                 WHERE entry = ?1 AND author = ?2 AND conversation = ?5 AND deleted = 0 AND kind IN ('text', 'share')
                   AND (edit_hlc IS NULL OR edit_hlc < ?4)",
                params![&target.0[..], author, text, hlc, &conv.0[..]],
            )?;
            Some(*target)
        }
        Kind::Delete { target, seqs } => {
            for seq in seqs {
                tx.execute(
                    "INSERT OR IGNORE INTO chat_redactions (conversation, author, seq) VALUES (?1, ?2, ?3)",
                    params![&conv.0[..], author, *seq as i64],
                )?;
                tx.execute(
                    "UPDATE chat_entries SET signed = NULL
                     WHERE conversation = ?1 AND author = ?2 AND seq = ?3 AND kind IN ('text', 'share', 'edit')",
                    params![&conv.0[..], author, *seq as i64],
                )?;
            }
            // A deleted share card no longer lets members fetch its tracks.
            tx.execute(
                "DELETE FROM chat_shared_hashes WHERE conversation = ?1 AND author = ?2
                   AND hash IN (SELECT value FROM json_each(?3))",
                params![
                    &conv.0[..],
                    author,
                    shared_hashes(tx, target, &conv, &author)?
                ],
            )?;
            let deleted = tx.execute(
                "UPDATE chat_messages SET kind = 'text', text = '', detail = NULL, reply_to = NULL, edit_hlc = NULL, deleted = 1
                 WHERE entry = ?1 AND author = ?2 AND conversation = ?3",
                params![&target.0[..], author, &conv.0[..]],
            )?;
            // Only the author's own message loses its reactions; a target not here yet loses them
            // when it arrives (as a tombstone).
            if deleted > 0 {
                tx.execute(
                    "DELETE FROM chat_reactions WHERE target = ?1",
                    [&target.0[..]],
                )?;
            }
            Some(*target)
        }
        Kind::Read { upto } => {
            tx.execute(
                "INSERT INTO chat_reads (conversation, member, upto) VALUES (?1, ?2, ?3)
                 ON CONFLICT (conversation, member) DO UPDATE SET upto = max(upto, excluded.upto)",
                params![&conv.0[..], author, pack(*upto)],
            )?;
            None
        }
        Kind::Create { .. }
        | Kind::AddMembers { .. }
        | Kind::RemoveMember { .. }
        | Kind::SetAdmin { .. }
        | Kind::Rename { .. }
        | Kind::Leave => {
            let detail = cbor4ii::serde::to_vec(Vec::new(), &body.kind).unwrap_or_default();
            insert_message(tx, entry, "notice", "", Some(detail), None)?;
            membership = true;
            Some(entry.id)
        }
    };
    if matches!(body.kind, Kind::Text { .. } | Kind::Share { .. }) {
        tx.execute(
            "UPDATE chat_conversations SET last_hlc = max(last_hlc, ?2) WHERE id = ?1",
            params![&conv.0[..], hlc],
        )?;
    }
    Ok(Applied::Stored {
        message,
        membership,
    })
}

/// Applies a received tombstone: accepted when a Delete of its author names its sequence number.
pub fn apply_tombstone(tx: &Transaction, stone: &Tombstone, now: i64) -> rusqlite::Result<Applied> {
    let Some(author) = stone.author.peer() else {
        return Ok(Applied::Unvouched);
    };
    let author = author.to_base58();
    let conv = stone.conversation;
    let vouched: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM chat_redactions WHERE conversation = ?1 AND author = ?2 AND seq = ?3)",
        params![&conv.0[..], author, stone.seq as i64],
        |row| row.get(0),
    )?;
    // Its time is not signed: one from the future would drag every reader's clock along.
    let latest_allowed = (now.max(0) as u64).saturating_add(log::MAX_CLOCK_SKEW_MS);
    if !vouched || stone.hlc.millis > latest_allowed {
        return Ok(Applied::Unvouched);
    }
    let hlc = pack(stone.hlc);
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO chat_entries (id, conversation, author, seq, hlc, kind, signed, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'redacted', NULL, ?6)",
        params![&stone.id.0[..], &conv.0[..], author, stone.seq as i64, hlc, now],
    )?;
    if inserted == 0 {
        return Ok(Applied::Duplicate);
    }
    advance_have(tx, &conv, &author, stone.seq)?;
    let message = add_tombstone_line(tx, &conv, &author, stone.seq, hlc, &stone.id)?;
    Ok(Applied::Stored {
        message,
        membership: false,
    })
}

/// The track hashes of a share card (JSON array), for revoking them.
fn shared_hashes(
    tx: &Transaction,
    entry: &EntryId,
    conv: &ConversationId,
    author: &str,
) -> rusqlite::Result<String> {
    let detail: Option<Vec<u8>> = tx
        .query_row(
            "SELECT detail FROM chat_messages WHERE entry = ?1 AND conversation = ?2 AND author = ?3 AND kind = 'share'",
            params![&entry.0[..], &conv.0[..], author],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let hashes: Vec<String> = detail
        .and_then(|d| cbor4ii::serde::from_slice::<log::Share>(&d).ok())
        .map(|s| s.hashes.iter().map(Hash32::to_hex).collect())
        .unwrap_or_default();
    Ok(serde_json::to_string(&hashes).unwrap_or_else(|_| "[]".into()))
}

/// A deleted message arriving as a tombstone (or redacted on arrival) still holds its place in
/// the conversation, shown as deleted: when it is the target of its author's Delete.
fn add_tombstone_line(
    tx: &Transaction,
    conv: &ConversationId,
    author: &str,
    seq: u64,
    hlc: i64,
    id: &EntryId,
) -> rusqlite::Result<Option<EntryId>> {
    let is_target: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM chat_entries WHERE conversation = ?1 AND author = ?2 AND kind = 'delete' AND target = ?3)",
        params![&conv.0[..], author, &id.0[..]],
        |row| row.get(0),
    )?;
    if !is_target {
        return Ok(None);
    }
    tx.execute(
        "INSERT OR IGNORE INTO chat_messages (entry, conversation, author, seq, hlc, kind, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, 'text', 1)",
        params![&id.0[..], &conv.0[..], author, seq as i64, hlc],
    )?;
    tx.execute("DELETE FROM chat_reactions WHERE target = ?1", [&id.0[..]])?;
    // It held its place in the inbox order too, whichever way it arrived.
    tx.execute(
        "UPDATE chat_conversations SET last_hlc = max(last_hlc, ?2) WHERE id = ?1",
        params![&conv.0[..], hlc],
    )?;
    Ok(Some(*id))
}

fn insert_message(
    tx: &Transaction,
    entry: &Entry,
    kind: &str,
    text: &str,
    detail: Option<Vec<u8>>,
    reply_to: Option<&EntryId>,
) -> rusqlite::Result<()> {
    let body = &entry.body;
    tx.execute(
        "INSERT OR IGNORE INTO chat_messages (entry, conversation, author, seq, hlc, kind, text, detail, reply_to)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            &entry.id.0[..],
            &body.conversation.0[..],
            entry.author.to_base58(),
            body.seq as i64,
            pack(body.hlc),
            kind,
            text,
            detail,
            reply_to.map(|r| r.0.to_vec())
        ],
    )?;
    Ok(())
}

/// An edit may arrive before the message it edits: when the message comes, the latest edit of
/// its author applies at once.
fn catch_up_edits(tx: &Transaction, entry: &Entry) -> rusqlite::Result<()> {
    let latest: Option<(i64, Option<Vec<u8>>)> = tx
        .query_row(
            "SELECT hlc, signed FROM chat_entries WHERE target = ?1 AND kind = 'edit' AND author = ?2
             ORDER BY hlc DESC, seq DESC LIMIT 1",
            params![&entry.id.0[..], entry.author.to_base58()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((hlc, Some(signed))) = latest else {
        return Ok(());
    };
    let text = log::decode_signed(&signed)
        .ok()
        .and_then(|s| cbor4ii::serde::from_slice::<log::Body>(&s.body).ok())
        .and_then(|b| match b.kind {
            Kind::Edit { text, .. } => Some(text),
            _ => None,
        });
    if let Some(text) = text {
        tx.execute(
            "UPDATE chat_messages SET text = ?2, edit_hlc = ?3 WHERE entry = ?1",
            params![&entry.id.0[..], text, hlc],
        )?;
    }
    Ok(())
}

fn advance_have(
    tx: &Transaction,
    conv: &ConversationId,
    author: &str,
    seq: u64,
) -> rusqlite::Result<()> {
    let upto: i64 = tx
        .query_row(
            "SELECT upto FROM chat_have WHERE conversation = ?1 AND author = ?2",
            params![&conv.0[..], author],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    if seq as i64 != upto + 1 {
        return Ok(()); // a gap: the contiguous mark moves when the missing entries arrive
    }
    let mut next = upto + 1;
    let mut exists = tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM chat_entries WHERE conversation = ?1 AND author = ?2 AND seq = ?3)",
    )?;
    while exists.query_row(params![&conv.0[..], author, next + 1], |row| {
        row.get::<_, bool>(0)
    })? {
        next += 1;
    }
    tx.execute(
        "INSERT INTO chat_have (conversation, author, upto) VALUES (?1, ?2, ?3)
         ON CONFLICT (conversation, author) DO UPDATE SET upto = excluded.upto",
        params![&conv.0[..], author, next],
    )?;
    Ok(())
}

/// Recomputes a group's members and name from its membership entries.
fn replay_membership(tx: &Transaction, conv: &ConversationId) -> rusqlite::Result<()> {
    let mut statement = tx.prepare_cached(
        "SELECT signed FROM chat_entries WHERE conversation = ?1
           AND kind IN ('create', 'add_members', 'remove_member', 'set_admin', 'rename', 'leave')
           AND signed IS NOT NULL",
    )?;
    let rows = statement.query_map([&conv.0[..]], |row| row.get::<_, Vec<u8>>(0))?;
    let mut bodies = Vec::new();
    for row in rows {
        let signed: Signed = match log::decode_signed(&row?) {
            Ok(signed) => signed,
            Err(_) => continue,
        };
        if let Ok(body) = cbor4ii::serde::from_slice::<log::Body>(&signed.body) {
            if let Some(author) = body.author.peer() {
                bodies.push((author, body));
            }
        }
    }
    let state = Membership::replay(bodies.iter().map(|(a, b)| (a, &b.hlc, b.seq, &b.kind)));
    tx.execute(
        "UPDATE chat_members SET active = 0 WHERE conversation = ?1",
        [&conv.0[..]],
    )?;
    for (peer, until) in &state.ever {
        let (role, active) = match state.members.get(peer) {
            Some(role) => (*role, true),
            None => (Role::Member, false),
        };
        tx.execute(
            "INSERT INTO chat_members (conversation, peer, role, active, until_hlc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (conversation, peer) DO UPDATE SET role = excluded.role, active = excluded.active,
                 until_hlc = excluded.until_hlc",
            params![&conv.0[..], peer.to_base58(), role_name(role), active, until.map(pack)],
        )?;
    }
    tx.execute(
        "UPDATE chat_conversations SET name = ?2 WHERE id = ?1",
        params![&conv.0[..], state.name],
    )?;
    Ok(())
}

/// Records that `member` holds our entries of a conversation up to `upto`.
pub fn set_delivered(
    conn: &Connection,
    conv: &ConversationId,
    member: &PeerId,
    upto: u64,
) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "INSERT INTO chat_delivered (conversation, member, upto) VALUES (?1, ?2, ?3)
         ON CONFLICT (conversation, member) DO UPDATE SET upto = excluded.upto WHERE excluded.upto > upto",
        params![&conv.0[..], member.to_base58(), upto as i64],
    )?;
    Ok(changed > 0)
}

/// Remembers what a peer told us about itself (addresses only when it gave some).
pub fn set_peer_info(
    conn: &Connection,
    peer: &PeerId,
    display_name: Option<&str>,
    messages_off: bool,
    addresses: &[String],
) -> rusqlite::Result<bool> {
    let addresses = (!addresses.is_empty())
        .then(|| serde_json::to_string(addresses).unwrap_or_else(|_| "[]".into()));
    let changed = conn.execute(
        "INSERT INTO chat_peers (peer, display_name, messages_off, addresses) VALUES (?1, ?2, ?3, coalesce(?4, '[]'))
         ON CONFLICT (peer) DO UPDATE SET display_name = coalesce(excluded.display_name, display_name),
             messages_off = excluded.messages_off,
             addresses = coalesce(?4, addresses)
         WHERE chat_peers.display_name IS NOT coalesce(excluded.display_name, chat_peers.display_name)
            OR chat_peers.messages_off <> excluded.messages_off
            OR chat_peers.addresses IS NOT coalesce(?4, chat_peers.addresses)",
        params![peer.to_base58(), display_name, messages_off, addresses],
    )?;
    Ok(changed > 0)
}

/// Where a peer can be reached, as far as we know: a friend's own addresses, else what it (or a
/// fellow member) told us in a sync.
pub fn peer_addresses(conn: &Connection, peer: &PeerId) -> rusqlite::Result<Vec<String>> {
    let found: Option<(Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT (SELECT addresses FROM peers WHERE peer_id = ?1),
                    (SELECT addresses FROM chat_peers WHERE peer = ?1)",
            [peer.to_base58()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let parse = |json: Option<String>| -> Vec<String> {
        json.and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default()
    };
    let (friend, told) = found.unwrap_or((None, None));
    let friend = parse(friend);
    Ok(if friend.is_empty() {
        parse(told)
    } else {
        friend
    })
}

/// A fellow member's addresses learned from another member: kept only for someone we share an
/// active group with, and only when we know none.
pub fn note_hint(
    conn: &Connection,
    me: &PeerId,
    peer: &PeerId,
    addresses: &[String],
    display_name: Option<&str>,
) -> rusqlite::Result<bool> {
    if peer == me || !co_members(conn, me)?.contains(peer) {
        return Ok(false);
    }
    if let Some(name) = display_name {
        // A name as a fellow member knows it, until the peer tells us its own.
        conn.execute(
            "INSERT INTO chat_peers (peer, display_name) VALUES (?1, ?2)
             ON CONFLICT (peer) DO UPDATE SET display_name = excluded.display_name WHERE display_name IS NULL",
            params![peer.to_base58(), name],
        )?;
    }
    if addresses.is_empty() || !peer_addresses(conn, peer)?.is_empty() {
        return Ok(false);
    }
    let json = serde_json::to_string(addresses).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO chat_peers (peer, addresses) VALUES (?1, ?2)
         ON CONFLICT (peer) DO UPDATE SET addresses = excluded.addresses",
        params![peer.to_base58(), json],
    )?;
    Ok(true)
}

/// A fellow member, where it can be reached, and its name as we know it.
pub type Hint = (PeerId, Vec<String>, Option<String>);

/// Addresses of the other active members of the groups we share with `requester`.
pub fn hints_for(
    conn: &Connection,
    me: &PeerId,
    requester: &PeerId,
    max: usize,
) -> rusqlite::Result<Vec<Hint>> {
    let mut statement = conn.prepare_cached(
        "SELECT DISTINCT other.peer FROM chat_members mine
         JOIN chat_conversations c ON c.id = mine.conversation AND c.kind = 'group' AND c.state = 'active'
         JOIN chat_members other ON other.conversation = mine.conversation AND other.active = 1
         WHERE mine.peer = ?1 AND mine.active = 1 AND other.peer NOT IN (?1, ?2)",
    )?;
    let peers: Vec<String> = statement
        .query_map(params![requester.to_base58(), me.to_base58()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for peer in peers.iter().filter_map(|p| p.parse::<PeerId>().ok()) {
        if out.len() >= max {
            break;
        }
        let addresses = peer_addresses(conn, &peer)?;
        let name: Option<String> = conn.query_row(
            "SELECT coalesce((SELECT display_name FROM peers WHERE peer_id = ?1),
                             (SELECT display_name FROM chat_peers WHERE peer = ?1))",
            [peer.to_base58()],
            |r| r.get(0),
        )?;
        if !addresses.is_empty() || name.is_some() {
            out.push((peer, addresses, name));
        }
    }
    Ok(out)
}

/// Whether `peer` is our friend.
pub fn is_friend(conn: &Connection, peer: &PeerId) -> rusqlite::Result<bool> {
    Ok(crate::friends::store::get(conn, peer)?
        .is_some_and(|r| r.relationship == crate::friends::store::Relationship::Friend))
}

/// Whether `peer`, a member of some conversation of ours, is not known to hold all our entries.
pub fn lacks_ours(conn: &Connection, me: &PeerId, peer: &PeerId) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM chat_members m
            JOIN chat_have h ON h.conversation = m.conversation AND h.author = ?1
            LEFT JOIN chat_delivered d ON d.conversation = m.conversation AND d.member = ?2
            WHERE m.peer = ?2 AND m.active = 1 AND h.upto > coalesce(d.upto, 0))",
        params![me.to_base58(), peer.to_base58()],
        |r| r.get(0),
    )
}

/// Whether `peer` may fetch the track `hash` from us: a friend may fetch anything in our
/// library; anyone else only what we shared in a conversation they are an active member of.
pub fn may_fetch(
    conn: &Connection,
    me: &PeerId,
    peer: &PeerId,
    hash: &str,
) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM peers WHERE peer_id = ?2 AND relationship = 'friend')
             OR EXISTS (SELECT 1 FROM chat_shared_hashes s
                        JOIN chat_members m ON m.conversation = s.conversation
                        JOIN chat_conversations c ON c.id = s.conversation AND c.state <> 'hidden'
                        WHERE s.hash = ?3 AND s.author = ?1 AND m.peer = ?2 AND m.active = 1)",
        params![me.to_base58(), peer.to_base58(), hash],
        |r| r.get(0),
    )
}

/// Messages from others after our read marker (blocked authors' do not count).
pub fn unread_count(
    conn: &Connection,
    conv: &ConversationId,
    me: &PeerId,
) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT count(*) FROM chat_messages m
         WHERE m.conversation = ?1 AND m.author <> ?2 AND m.kind IN ('text', 'share') AND m.deleted = 0
           AND m.hlc > coalesce((SELECT upto FROM chat_reads WHERE conversation = ?1 AND member = ?2), 0)
           AND m.author NOT IN (SELECT peer_id FROM peers WHERE relationship = 'blocked')
           AND NOT EXISTS (SELECT 1 FROM chat_members x WHERE x.conversation = m.conversation
                 AND x.peer = m.author AND x.until_hlc IS NOT NULL AND m.hlc > x.until_hlc)",
        params![&conv.0[..], me.to_base58()],
        |row| row.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_times_sort_like_hybrid_times() {
        let a = Hlc {
            millis: 1_700_000_000_000,
            counter: 5,
        };
        let b = Hlc {
            millis: 1_700_000_000_000,
            counter: 6,
        };
        let c = Hlc {
            millis: 1_700_000_000_001,
            counter: 0,
        };
        assert!(pack(a) < pack(b) && pack(b) < pack(c));
        assert_eq!(unpack(pack(a)), a);
    }
}
