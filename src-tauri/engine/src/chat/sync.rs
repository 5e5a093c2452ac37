//! Anti-entropy over `/earshot/sync/1`: answering peers, syncing with a peer that connects,
//! pushing new entries, and taking in what peers send.
//!
//! Everything a peer sends is checked before it is stored: each entry's signature and limits
//! (`log::verify`), that the conversation is one we hold or may join this way, and that the sender
//! and the author are members. What fails is counted and dropped; the rest of the batch is kept.

use std::collections::{HashMap, HashSet};

use libp2p::PeerId;
use rusqlite::TransactionBehavior;

use super::log::{self, ConversationId, Entry, Kind, PeerBytes, Tombstone, Wire};
use super::store::{self, Applied, ConvKind, ConvState};
use super::{bump, lock, Chat};
use crate::api::Event;
use crate::net::protocol::{
    PeerHint, SyncRefusal, SyncRequest, SyncResponse, MAX_HINTS, MAX_HINT_ADDRESSES,
    MAX_SYNC_CONVERSATIONS, MAX_SYNC_ENTRIES, SYNC_BATCH_BYTES,
};
use crate::net::{Summary, SyncHello, SyncReply};
use crate::store::now_millis;

/// At most this many changed messages are sent to the window one by one after a batch; beyond
/// it the window reloads (a whole history arriving at once).
const MAX_MESSAGE_EVENTS: usize = 64;
/// Authors looked at in one conversation's summary (everyone who ever posted in a group of 32).
const MAX_AUTHORS_PER_SUMMARY: usize = 1024;
/// Entries waiting to be pushed to one peer; beyond this they wait for the next sync instead.
const MAX_QUEUED: usize = 20_000;
/// A push the peer found too fast is tried again after 50 ms, then 100, 200… up to 2 s, 8 times.
const PUSH_RETRIES: usize = 8;
const PUSH_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(50);
const PUSH_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(2);
/// After a push that could not be delivered, a summary exchange this much later.
const RESYNC_AFTER_FAILED_PUSH: std::time::Duration = std::time::Duration::from_secs(3);

/// How a push went.
enum Pushed {
    Stored,
    /// Rate-limited or overwhelmed: try again shortly.
    Busy,
    /// Unreachable, or refused for good (Messages off): anti-entropy later.
    Gone,
}

/// What taking in a batch did.
#[derive(Default)]
pub(super) struct Ingested {
    /// Conversations that got new entries, with those entries (to forward).
    pub fresh: HashMap<ConversationId, Vec<Wire>>,
}

impl Chat {
    pub(super) async fn hello(&self) -> SyncHello {
        let display_name = crate::profile::get(&self.shared.store)
            .await
            .map(|p| p.display_name)
            .unwrap_or_default();
        let addresses = self
            .shared
            .net
            .addresses()
            .await
            .unwrap_or_default()
            .iter()
            .take(MAX_HINT_ADDRESSES)
            .map(|a| a.to_string())
            .collect();
        SyncHello {
            display_name,
            messages_off: self.messages_off(),
            addresses,
        }
    }

    /// Where the fellow members of the groups we share with `peer` can be reached.
    async fn hints(&self, peer: PeerId) -> Vec<PeerHint> {
        let me = self.shared.me;
        self.shared
            .store
            .call(move |c| store::hints_for(c, &me, &peer, MAX_HINTS))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(peer, addresses, display_name)| PeerHint {
                peer: PeerBytes::of(&peer),
                addresses: addresses.into_iter().take(MAX_HINT_ADDRESSES).collect(),
                display_name,
            })
            .collect()
    }

    /// Remembers fellow members' names and addresses; dials those just learned of who lack some
    /// of our entries (a message request waiting for its recipient, say).
    async fn note_hints(&self, hints: Vec<PeerHint>) {
        let me = self.shared.me;
        let waiting = self
            .shared
            .store
            .call(move |c| {
                let mut waiting = Vec::new();
                for hint in hints.into_iter().take(MAX_HINTS) {
                    let addresses: Vec<String> = hint
                        .addresses
                        .into_iter()
                        .take(MAX_HINT_ADDRESSES)
                        .filter(|a| a.len() <= 256 && a.parse::<libp2p::Multiaddr>().is_ok())
                        .collect();
                    let name = hint
                        .display_name
                        .as_deref()
                        .and_then(crate::friends::sanitize_name);
                    if let Some(peer) = hint.peer.peer() {
                        if store::note_hint(c, &me, &peer, &addresses, name.as_deref())?
                            && store::lacks_ours(c, &me, &peer)?
                        {
                            waiting.push(peer);
                        }
                    }
                }
                Ok(waiting)
            })
            .await
            .unwrap_or_default();
        let absent: Vec<PeerId> = waiting.into_iter().filter(|p| !self.is_online(p)).collect();
        if !absent.is_empty() {
            self.dial_members(absent).await;
        }
    }

    /// Remembers what a peer said about itself.
    async fn note_hello(&self, peer: PeerId, hello: SyncHello) {
        let name = crate::friends::sanitize_name(&hello.display_name);
        let addresses: Vec<String> = hello
            .addresses
            .into_iter()
            .take(MAX_HINT_ADDRESSES)
            .filter(|a| a.len() <= 256 && a.parse::<libp2p::Multiaddr>().is_ok())
            .collect();
        let changed = self
            .shared
            .store
            .call(move |c| {
                store::set_peer_info(c, &peer, name.as_deref(), hello.messages_off, &addresses)
            })
            .await;
        if matches!(changed, Ok(true)) {
            self.publish(Event::ConversationsChanged);
        }
    }

    /// Summaries of the conversations we share with `peer` (and those it asked about that it
    /// belongs to).
    async fn summaries(
        &self,
        peer: PeerId,
        also: Vec<ConversationId>,
    ) -> Result<Vec<Summary>, crate::store::StoreError> {
        self.shared
            .store
            .call(move |c| {
                let mut ids = store::shared_with(c, &peer)?;
                for id in also {
                    if !ids.contains(&id) && store::is_member(c, &id, &peer, true)? {
                        ids.push(id);
                    }
                }
                ids.truncate(MAX_SYNC_CONVERSATIONS);
                ids.into_iter()
                    .map(|id| {
                        Ok(Summary {
                            conversation: id,
                            have: store::have(c, &id)?,
                        })
                    })
                    .collect()
            })
            .await
    }

    /// Answers a peer's sync request.
    pub(super) async fn answer(&self, peer: PeerId, request: SyncRequest, reply: SyncReply) {
        let response = match request {
            SyncRequest::Hello { hello } => {
                self.note_hello(peer, hello).await;
                SyncResponse::Ack
            }
            _ if self.messages_off() => {
                bump(&self.shared.counters.refused, 1);
                SyncResponse::Refused {
                    reason: SyncRefusal::MessagesOff,
                }
            }
            SyncRequest::Have {
                hello,
                mut conversations,
                peers,
            } => {
                trim_summaries(&mut conversations);
                self.note_hello(peer, hello).await;
                self.note_hints(peers).await;
                let asked: Vec<ConversationId> = conversations
                    .iter()
                    .take(MAX_SYNC_CONVERSATIONS)
                    .map(|s| s.conversation)
                    .collect();
                self.note_delivered(peer, &conversations).await;
                match self.missing_for(peer, conversations, asked).await {
                    Ok((entries, more, have)) => SyncResponse::Missing {
                        hello: self.hello().await,
                        entries,
                        more,
                        have,
                        peers: self.hints(peer).await,
                    },
                    Err(error) => {
                        tracing::warn!(%error, "cannot answer a sync");
                        SyncResponse::Refused {
                            reason: SyncRefusal::Busy,
                        }
                    }
                }
            }
            SyncRequest::Push { entries } => {
                let ingested = self.ingest(peer, entries).await;
                let touched: Vec<ConversationId> = ingested.fresh.keys().copied().collect();
                self.forward(peer, ingested);
                match self.summaries(peer, touched).await {
                    Ok(have) => SyncResponse::Stored { have },
                    Err(_) => SyncResponse::Refused {
                        reason: SyncRefusal::Busy,
                    },
                }
            }
        };
        reply.send(response).await;
    }

    /// What a peer holding `theirs` lacks of the conversations we share (and that it asked about
    /// and belongs to), and our own summaries.
    async fn missing_for(
        &self,
        peer: PeerId,
        theirs: Vec<Summary>,
        asked: Vec<ConversationId>,
    ) -> Result<(Vec<Wire>, bool, Vec<Summary>), crate::store::StoreError> {
        let have = self.summaries(peer, asked).await?;
        let ids: Vec<ConversationId> = have.iter().map(|s| s.conversation).collect();
        let theirs: HashMap<ConversationId, HashMap<PeerBytes, u64>> = theirs
            .into_iter()
            .map(|s| (s.conversation, s.have.into_iter().collect()))
            .collect();
        let (entries, more) = self
            .shared
            .store
            .call(move |c| {
                let mut out = Vec::new();
                let mut bytes = 0usize;
                let mut more = false;
                let empty = HashMap::new();
                for id in ids {
                    let room = MAX_SYNC_ENTRIES.saturating_sub(out.len());
                    if room == 0 || bytes >= SYNC_BATCH_BYTES {
                        more = true;
                        break;
                    }
                    let (wires, partial) =
                        store::missing(c, &id, theirs.get(&id).unwrap_or(&empty), room)?;
                    more |= partial;
                    for wire in wires {
                        bytes += wire_size(&wire);
                        out.push(wire);
                    }
                }
                Ok((out, more))
            })
            .await?;
        Ok((entries, more, have))
    }

    /// What a peer's summary says it holds of our own entries: delivery receipts.
    async fn note_delivered(&self, peer: PeerId, summaries: &[Summary]) {
        let me = PeerBytes::of(&self.shared.me);
        let marks: Vec<(ConversationId, u64)> = summaries
            .iter()
            .filter_map(|s| {
                s.have
                    .iter()
                    .find(|(author, _)| *author == me)
                    .map(|(_, upto)| (s.conversation, *upto))
            })
            .collect();
        if marks.is_empty() {
            return;
        }
        let changed = self
            .shared
            .store
            .call(move |c| {
                let mut changed = Vec::new();
                for (id, upto) in marks {
                    if store::is_member(c, &id, &peer, true)?
                        && store::set_delivered(c, &id, &peer, upto)?
                    {
                        changed.push(id);
                    }
                }
                Ok(changed)
            })
            .await
            .unwrap_or_default();
        for id in changed {
            self.publish(Event::DeliveryChanged {
                conversation: id.to_hex(),
            });
        }
    }

    /// Exchanges summaries with a peer that connected (or on the periodic resync), then pushes
    /// what it lacks; repeats while either side had more than one batch.
    pub(super) async fn sync_with(&self, peer: PeerId) {
        if self.messages_off() {
            // Still tell them, so their window says so.
            let hello = self.hello().await;
            let _ = self
                .shared
                .net
                .send_sync(peer, SyncRequest::Hello { hello })
                .await;
            return;
        }
        for _round in 0..64 {
            let conversations = match self.summaries(peer, Vec::new()).await {
                Ok(s) => s,
                Err(_) => return,
            };
            let request = SyncRequest::Have {
                hello: self.hello().await,
                conversations,
                peers: self.hints(peer).await,
            };
            let response = match self.shared.net.send_sync(peer, request).await {
                Ok(response) => response,
                Err(error) => {
                    tracing::debug!(%peer, %error, "sync failed");
                    return;
                }
            };
            match response {
                SyncResponse::Missing {
                    hello,
                    entries,
                    more,
                    have,
                    peers,
                } => {
                    self.note_hello(peer, hello).await;
                    self.note_hints(peers).await;
                    let mut have = have;
                    trim_summaries(&mut have);
                    self.note_delivered(peer, &have).await;
                    let ingested = self.ingest(peer, entries).await;
                    self.forward(peer, ingested);
                    let asked = have.iter().map(|s| s.conversation).collect();
                    let pushed_more = match self.missing_for(peer, have, asked).await {
                        Ok((wires, ours_more, _)) => {
                            if !wires.is_empty() {
                                self.push_now(peer, wires).await;
                            }
                            ours_more
                        }
                        Err(_) => false,
                    };
                    if !more && !pushed_more {
                        return;
                    }
                }
                SyncResponse::Refused { reason } => {
                    if reason == SyncRefusal::MessagesOff {
                        self.note_hello_off(peer).await;
                    }
                    return;
                }
                SyncResponse::Stored { .. } | SyncResponse::Ack => return,
            }
        }
    }

    async fn note_hello_off(&self, peer: PeerId) {
        let changed = self
            .shared
            .store
            .call(move |c| store::set_peer_info(c, &peer, None, true, &[]))
            .await;
        if matches!(changed, Ok(true)) {
            self.publish(Event::ConversationsChanged);
        }
    }

    /// Sends entries to a peer and records its receipt.
    async fn push_now(&self, peer: PeerId, wires: Vec<Wire>) -> bool {
        matches!(self.push_once(peer, wires).await, Pushed::Stored)
    }

    async fn push_once(&self, peer: PeerId, wires: Vec<Wire>) -> Pushed {
        let request = SyncRequest::Push { entries: wires };
        match self.shared.net.send_sync(peer, request).await {
            Ok(SyncResponse::Stored { have }) => {
                self.note_delivered(peer, &have).await;
                Pushed::Stored
            }
            Ok(SyncResponse::Refused {
                reason: SyncRefusal::MessagesOff,
            }) => {
                self.note_hello_off(peer).await;
                Pushed::Gone
            }
            Ok(SyncResponse::Refused {
                reason: SyncRefusal::Busy,
            }) => Pushed::Busy,
            Ok(_) => Pushed::Gone,
            Err(crate::net::NetError::Busy) => Pushed::Busy,
            Err(error) => {
                tracing::debug!(%peer, %error, "push failed; anti-entropy will deliver later");
                Pushed::Gone
            }
        }
    }

    /// Pushes one batch, waiting and trying again while the peer says it is busy (its rate
    /// limit); `false` when it could not be delivered.
    async fn push_patiently(&self, peer: PeerId, batch: Vec<Wire>) -> bool {
        let mut wait = PUSH_RETRY_FIRST;
        for _ in 0..PUSH_RETRIES {
            match self.push_once(peer, batch.clone()).await {
                Pushed::Stored => return true,
                Pushed::Gone => return false,
                Pushed::Busy => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(PUSH_RETRY_MAX);
                }
            }
        }
        false
    }

    /// Queues entries for a peer; one push per peer is under way at a time and takes everything
    /// queued meanwhile, so a burst of messages travels in a few batches.
    pub(super) fn enqueue(&self, peer: PeerId, wires: Vec<Wire>) {
        {
            let mut pushes = lock(&self.shared.pushes);
            if let Some(queue) = pushes.get_mut(&peer) {
                let room = MAX_QUEUED.saturating_sub(queue.len());
                queue.extend(wires.into_iter().take(room));
                return;
            }
            pushes.insert(peer, Vec::new());
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut batch = wires;
            loop {
                while !batch.is_empty() {
                    let rest = split_batch(&mut batch);
                    if !this.push_patiently(peer, batch).await {
                        // Unreachable, refused, or busy for long: a summary exchange soon
                        // delivers what is left (not only the minute's resync).
                        lock(&this.shared.pushes).remove(&peer);
                        let resync = this.shared.resync.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(RESYNC_AFTER_FAILED_PUSH).await;
                            let _ = resync.try_send(peer);
                        });
                        return;
                    }
                    batch = rest;
                }
                let mut pushes = lock(&this.shared.pushes);
                match pushes.get_mut(&peer) {
                    Some(queue) if !queue.is_empty() => batch = std::mem::take(queue),
                    _ => {
                        pushes.remove(&peer);
                        return;
                    }
                }
            }
        });
    }

    /// Sends newly stored entries on to the other connected members (not back to `from`).
    pub(super) fn forward(&self, from: PeerId, ingested: Ingested) {
        if ingested.fresh.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            for (id, wires) in ingested.fresh {
                let members = this
                    .shared
                    .store
                    .call(move |c| store::members(c, &id))
                    .await
                    .unwrap_or_default();
                for (member, _) in members {
                    if member != from && member != this.shared.me && this.is_online(&member) {
                        this.enqueue(member, wires.clone());
                    }
                }
            }
        });
    }

    /// Verifies and stores what `peer` sent. Never fails: what cannot be taken is counted.
    pub(super) async fn ingest(&self, peer: PeerId, wires: Vec<Wire>) -> Ingested {
        if wires.is_empty() {
            return Ingested::default();
        }
        let now = now_millis();
        let counters = &self.shared.counters;
        let mut entries: Vec<Entry> = Vec::new();
        let mut stones: Vec<Tombstone> = Vec::new();
        let mut over_budget = 0;
        let started = std::time::Instant::now();
        let wires: Vec<Wire> = {
            let mut budget = lock(&self.shared.budget);
            wires
                .into_iter()
                .take(MAX_SYNC_ENTRIES)
                .filter(|wire| {
                    let allowed = budget.allow(peer, wire_size(wire), started);
                    over_budget += u64::from(!allowed);
                    allowed
                })
                .collect()
        };
        if over_budget > 0 {
            tracing::debug!(%peer, over_budget, "entries over the peer's budget; anti-entropy offers them again");
            bump(&counters.rate_limited, over_budget);
        }
        // Up to a thousand signature checks: off the async workers.
        let verified = tokio::task::spawn_blocking(move || {
            wires
                .into_iter()
                .map(|wire| match wire {
                    Wire::Entry(signed) => Ok(log::verify(signed, now.max(0) as u64)),
                    Wire::Tombstone(stone) => Err(stone),
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for checked in verified {
            match checked {
                Ok(Ok(entry)) => entries.push(entry),
                Ok(Err(log::Invalid::BadSignature)) => bump(&counters.bad_signature, 1),
                Ok(Err(_)) => bump(&counters.malformed, 1),
                Err(stone) => stones.push(stone),
            }
        }
        entries.sort_by_key(|a| a.order());
        let me = self.shared.me;
        let is_friend = self.is_friend(peer).await;
        let result = self
            .shared
            .store
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut outcome = Outcome::default();
                let mut allowed: HashMap<ConversationId, bool> = HashMap::new();
                let mut admitted: Vec<Entry> = Vec::with_capacity(entries.len());
                for entry in &entries {
                    let id = entry.body.conversation;
                    let ok = match allowed.get(&id) {
                        Some(ok) => *ok,
                        None => {
                            let verdict = admit(&tx, &me, peer, is_friend, &id, &entries, now)?;
                            let ok = verdict.is_ok();
                            if let Err(reason) = verdict {
                                outcome.refused.push(reason);
                            }
                            allowed.insert(id, ok);
                            ok
                        }
                    };
                    if ok {
                        admitted.push(entry.clone());
                    }
                }
                let results = store::apply_batch(&tx, &admitted, now)?;
                for (entry, applied) in admitted.iter().zip(results) {
                    let id = entry.body.conversation;
                    match applied {
                        Applied::Stored {
                            message,
                            membership,
                        } => {
                            outcome.stored += 1;
                            outcome.latest = outcome.latest.max(entry.body.hlc);
                            outcome.membership |= membership;
                            outcome
                                .fresh
                                .entry(id)
                                .or_default()
                                .push(Wire::Entry(entry.signed.clone()));
                            if let Some(message) = message {
                                outcome.messages.push((id, message));
                            }
                            if entry.author != me {
                                if let Kind::Text { text, .. } | Kind::Share { text, .. } =
                                    &entry.body.kind
                                {
                                    outcome.notices.push((
                                        id,
                                        entry.author,
                                        notice_line(&entry.body.kind, text),
                                    ));
                                }
                            }
                        }
                        Applied::Duplicate => outcome.duplicates += 1,
                        Applied::NotMember | Applied::Unvouched => {
                            outcome.refused.push(Refused::NotMember)
                        }
                    }
                }
                for stone in &stones {
                    if !allowed
                        .get(&stone.conversation)
                        .copied()
                        .unwrap_or_else(|| {
                            store::is_member(&tx, &stone.conversation, &peer, false)
                                .unwrap_or(false)
                        })
                    {
                        outcome.refused.push(Refused::NotMember);
                        continue;
                    }
                    match store::apply_tombstone(&tx, stone, now)? {
                        Applied::Stored { message, .. } => {
                            outcome.stored += 1;
                            outcome
                                .fresh
                                .entry(stone.conversation)
                                .or_default()
                                .push(Wire::Tombstone(stone.clone()));
                            if let Some(message) = message {
                                outcome.messages.push((stone.conversation, message));
                            }
                        }
                        Applied::Duplicate => outcome.duplicates += 1,
                        Applied::NotMember | Applied::Unvouched => {
                            outcome.refused.push(Refused::NotMember)
                        }
                    }
                }
                // A group we had left comes back only if the batch really made us a member again.
                for (id, ok) in &allowed {
                    if *ok {
                        if let Some(row) = store::conversation(&tx, id)? {
                            if row.kind == ConvKind::Group
                                && row.state == ConvState::Hidden
                                && store::is_member(&tx, id, &me, true)?
                            {
                                store::set_state(&tx, id, ConvState::Active)?;
                            }
                        }
                    }
                }
                tx.commit()?;
                Ok(outcome)
            })
            .await;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(%error, "cannot store received entries; the next sync retries");
                return Ingested::default();
            }
        };
        // Only what was stored moves our clock (refused entries could drag it ahead).
        self.observe(outcome.latest);
        bump(&counters.received, outcome.stored);
        bump(&counters.duplicates, outcome.duplicates);
        for reason in &outcome.refused {
            match reason {
                Refused::NotMember => bump(&counters.not_member, 1),
                Refused::Unknown => bump(&counters.unknown_conversation, 1),
            }
        }
        if outcome.membership {
            if let Err(error) = self.sync_member_set().await {
                tracing::warn!(%error, "cannot update the group member set");
            }
            // New fellow members: a summary exchange with the sender brings their names and
            // addresses (and anything else of the group we lack).
            if self.shared.resync.try_send(peer).is_err() {
                tracing::debug!(%peer, "resync queue full; the periodic sync will do");
            }
        }
        self.announce(outcome.messages, outcome.notices).await;
        Ingested {
            fresh: outcome.fresh,
        }
    }

    /// Tells the window what changed.
    pub(super) async fn announce(
        &self,
        messages: Vec<(ConversationId, log::EntryId)>,
        notices: Vec<(ConversationId, PeerId, String)>,
    ) {
        if messages.is_empty() && notices.is_empty() {
            return;
        }
        self.publish(Event::ConversationsChanged);
        // Blocked peers' entries are never shown, live or in a notification.
        let blocked: HashSet<String> = self
            .shared
            .store
            .call(|c| {
                let mut statement =
                    c.prepare_cached("SELECT peer_id FROM peers WHERE relationship = 'blocked'")?;
                let rows = statement.query_map([], |r| r.get(0))?;
                rows.collect()
            })
            .await
            .unwrap_or_default();
        if messages.len() <= MAX_MESSAGE_EVENTS {
            let mut seen = HashSet::new();
            for (conversation, entry) in messages {
                if !seen.insert(entry) {
                    continue;
                }
                if let Ok(Some(message)) = self.message(conversation, entry).await {
                    if !blocked.contains(&message.author) {
                        self.publish(Event::MessageChanged(Box::new(message)));
                    }
                }
            }
        } else {
            let mut reload = HashSet::new();
            for (conversation, _) in messages {
                if reload.insert(conversation) {
                    self.publish(Event::DeliveryChanged {
                        conversation: conversation.to_hex(),
                    });
                }
            }
        }
        let notices = notices
            .into_iter()
            .filter(|(_, author, _)| !blocked.contains(&author.to_base58()));
        for (conversation, author, first_line) in notices.rev().take(3) {
            let me = self.shared.me;
            let row = self
                .shared
                .store
                .call(move |c| {
                    let row = store::conversation(c, &conversation)?;
                    let mut names = super::view::Names::new(c, me)?;
                    Ok(row.map(|r| (r, names.name(&author))))
                })
                .await;
            if let Ok(Some((row, author_name))) = row {
                if row.state != ConvState::Active {
                    continue;
                }
                let title = match row.kind {
                    ConvKind::Group => row.name.clone(),
                    ConvKind::Direct => author_name.clone(),
                };
                self.publish(Event::MessageNotice {
                    conversation: conversation.to_hex(),
                    title,
                    author_name,
                    first_line,
                });
            }
        }
    }

    pub(super) async fn is_friend(&self, peer: PeerId) -> bool {
        self.shared
            .store
            .call(move |c| store::is_friend(c, &peer))
            .await
            .unwrap_or(false)
    }
}

#[derive(Default)]
struct Outcome {
    stored: u64,
    latest: log::Hlc,
    duplicates: u64,
    refused: Vec<Refused>,
    membership: bool,
    fresh: HashMap<ConversationId, Vec<Wire>>,
    messages: Vec<(ConversationId, log::EntryId)>,
    notices: Vec<(ConversationId, PeerId, String)>,
}

enum Refused {
    NotMember,
    Unknown,
}

/// A title from a peer, fit for a notification: nothing that steers the text, 64 characters.
fn clean_title(title: &str) -> String {
    crate::friends::sanitize_name(title).unwrap_or_default()
}

fn notice_line(kind: &Kind, text: &str) -> String {
    match kind {
        Kind::Share { share, .. } => match &share.reaction {
            Some(emoji) => format!("Reacted {emoji} to “{}”", clean_title(&share.title)),
            None if text.trim().is_empty() => format!("Shared “{}”", clean_title(&share.title)),
            None => super::view::first_line(text),
        },
        _ => super::view::first_line(text),
    }
}

/// Whether `sender` may give us entries of conversation `id` (making the conversation when this
/// is how it may begin). A known conversation: the sender must be, or have been, a member. An
/// unknown one: a direct conversation from a friend (or, as a message request, from someone we
/// share a group with), or a group whose `Create` in this batch names us, sent by a friend.
fn admit(
    tx: &rusqlite::Transaction,
    me: &PeerId,
    sender: PeerId,
    sender_is_friend: bool,
    id: &ConversationId,
    batch: &[Entry],
    now: i64,
) -> rusqlite::Result<Result<(), Refused>> {
    if let Some(row) = store::conversation(tx, id)? {
        if row.state == ConvState::Hidden && row.kind == ConvKind::Direct {
            // Declined or reported: nothing new from them.
            return Ok(Err(Refused::NotMember));
        }
        if row.kind == ConvKind::Group && !store::is_member(tx, id, me, true)? {
            // We left or were removed: nothing more, unless this batch adds us back.
            let adds_me = batch.iter().any(|e| {
                e.body.conversation == *id
                    && matches!(&e.body.kind, Kind::AddMembers { members } if members.contains(&PeerBytes::of(me)))
            });
            if !adds_me {
                return Ok(Err(Refused::NotMember));
            }
        }
        let adds_sender = batch.iter().any(|e| {
            e.body.conversation == *id
                && matches!(&e.body.kind, Kind::AddMembers { members } if members.contains(&PeerBytes::of(&sender)))
        });
        return Ok(
            if store::is_member(tx, id, &sender, false)? || adds_sender {
                Ok(())
            } else {
                Err(Refused::NotMember)
            },
        );
    }
    if *id == log::direct_id(me, &sender) {
        let state = if sender_is_friend {
            ConvState::Active
        } else if !store::shared_groups(tx, &sender)?.is_empty() {
            ConvState::Request
        } else {
            return Ok(Err(Refused::Unknown));
        };
        store::ensure_direct(tx, me, &sender, state, now)?;
        return Ok(Ok(()));
    }
    let names_me = batch.iter().any(|e| {
        e.body.conversation == *id
            && match &e.body.kind {
                Kind::Create { members, .. } | Kind::AddMembers { members } => {
                    members.contains(&PeerBytes::of(me))
                }
                _ => false,
            }
    });
    let has_create = batch
        .iter()
        .any(|e| e.body.conversation == *id && matches!(e.body.kind, Kind::Create { .. }));
    if sender_is_friend && names_me && has_create {
        store::ensure_group(tx, id, now)?;
        return Ok(Ok(()));
    }
    Ok(Err(Refused::Unknown))
}

/// Bounds what a peer's summaries make us look up: conversations, and authors in each.
fn trim_summaries(summaries: &mut Vec<Summary>) {
    summaries.truncate(MAX_SYNC_CONVERSATIONS);
    for summary in summaries.iter_mut() {
        summary.have.truncate(MAX_AUTHORS_PER_SUMMARY);
    }
}

fn wire_size(wire: &Wire) -> usize {
    match wire {
        Wire::Entry(signed) => signed.body.len() + signed.key.len() + signed.signature.len() + 16,
        Wire::Tombstone(_) => 128,
    }
}

/// Cuts `batch` to what one message carries; returns the rest.
fn split_batch(batch: &mut Vec<Wire>) -> Vec<Wire> {
    let mut bytes = 0;
    let mut cut = batch.len().min(MAX_SYNC_ENTRIES);
    for (i, wire) in batch.iter().enumerate().take(cut) {
        bytes += wire_size(wire);
        if bytes > SYNC_BATCH_BYTES {
            cut = i.max(1);
            break;
        }
    }
    batch.split_off(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_cut_at_the_entry_limit() {
        let stone = |seq| {
            Wire::Tombstone(Tombstone {
                conversation: log::Hash32([0; 32]),
                author: PeerBytes(vec![]),
                seq,
                hlc: log::Hlc::default(),
                id: log::Hash32([0; 32]),
            })
        };
        let mut batch: Vec<Wire> = (1..=(MAX_SYNC_ENTRIES as u64 + 5)).map(stone).collect();
        let rest = split_batch(&mut batch);
        assert_eq!(batch.len(), MAX_SYNC_ENTRIES);
        assert_eq!(rest.len(), 5);
    }
}
