//! Property test of the conversation log (design §9): three members of a group author random
//! entries (messages, edits, deletes, reactions, read markers, renames, admin changes — allowed or
//! not), hand each other random subsets in random orders and with duplicates, then sync; every
//! replica must end with exactly the same derived state. Runs on real SQLite stores (in memory)
//! through the same `store::apply` / `store::missing` the network path uses.

use std::collections::HashMap;

use libp2p::identity::Keypair;
use libp2p::PeerId;
use proptest::prelude::*;
use rusqlite::{Connection, TransactionBehavior};

use super::log::{self, Body, ConversationId, Entry, Hlc, Kind, PeerBytes, Wire};
use super::store::{self, ConvState};

const EMOJI: [&str; 3] = ["🔥", "❤️", "😂"];
/// The wall clock as the replicas see it when taking in entries (after every entry made here).
const NOW: i64 = 4_000_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    Text,
    Reply(usize),
    Edit(usize),
    Delete(usize),
    React(usize, usize, bool),
    Read,
    Rename,
    SetAdmin(usize, bool),
    Leave,
}

#[derive(Debug, Clone)]
enum Step {
    /// Member `0` authors `1`, its clock moved on by `2` ms (0: the same millisecond).
    Author(usize, Op, u8),
    /// Member `from` hands member `to` a random selection of what it holds, in random order.
    Gossip {
        from: usize,
        to: usize,
        picks: Vec<usize>,
    },
    /// A full anti-entropy exchange between two members.
    Sync(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Text),
        1 => any::<usize>().prop_map(Op::Reply),
        2 => any::<usize>().prop_map(Op::Edit),
        1 => any::<usize>().prop_map(Op::Delete),
        3 => (any::<usize>(), 0..EMOJI.len(), any::<bool>()).prop_map(|(t, e, on)| Op::React(t, e, on)),
        1 => Just(Op::Read),
        1 => Just(Op::Rename),
        1 => (0..3usize, any::<bool>()).prop_map(|(m, a)| Op::SetAdmin(m, a)),
        1 => Just(Op::Leave),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..3usize, op(), 0u8..3).prop_map(|(who, op, dt)| Step::Author(who, op, dt)),
        3 => (0..3usize, 0..3usize, prop::collection::vec(any::<usize>(), 0..12))
            .prop_map(|(from, to, picks)| Step::Gossip { from, to, picks }),
        1 => (0..3usize, 0..3usize).prop_map(|(a, b)| Step::Sync(a, b)),
    ]
}

struct Replica {
    conn: Connection,
    key: Keypair,
    me: PeerId,
    clock: Hlc,
}

impl Replica {
    fn new(key: Keypair) -> Replica {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrations().to_latest(&mut conn).unwrap();
        let me = key.public().to_peer_id();
        Replica {
            conn,
            key,
            me,
            clock: Hlc::default(),
        }
    }

    /// Own or others' messages held (text or share, not deleted), oldest first.
    fn messages(&self, conv: &ConversationId, own: bool) -> Vec<log::EntryId> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT entry FROM chat_messages WHERE conversation = ?1 AND kind = 'text'
                   AND deleted = 0 AND (?2 = 0 OR author = ?3) ORDER BY hlc, author, seq",
            )
            .unwrap();
        statement
            .query_map(
                rusqlite::params![&conv.0[..], own, self.me.to_base58()],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .unwrap()
            .map(|b| log::Hash32(b.unwrap().try_into().unwrap()))
            .collect()
    }

    fn author(&mut self, conv: ConversationId, kind: Kind, dt: u8, now: &mut u64) {
        *now += dt as u64;
        self.clock = self.clock.tick(*now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        if !store::is_member(&tx, &conv, &self.me, true).unwrap()
            && !matches!(kind, Kind::Create { .. })
        {
            return; // no longer in the group: the app refuses to author
        }
        let seq = store::next_seq(&tx, &conv, &self.me).unwrap();
        let body = Body {
            conversation: conv,
            author: PeerBytes::of(&self.me),
            seq,
            hlc: self.clock,
            kind,
        };
        let entry = log::sign(&self.key, body).unwrap();
        store::apply(&tx, &entry, 0).unwrap();
        tx.commit().unwrap();
    }

    /// Everything held, as it would be sent.
    fn wires(&self, conv: &ConversationId) -> Vec<Wire> {
        store::missing(&self.conn, conv, &HashMap::new(), usize::MAX)
            .unwrap()
            .0
    }

    /// Takes in wires as `sync.rs` does: verified, entries in log order, tombstones last.
    fn ingest(&mut self, wires: Vec<Wire>, sorted: bool) {
        let mut entries: Vec<Entry> = Vec::new();
        let mut stones = Vec::new();
        for wire in wires {
            match wire {
                Wire::Entry(signed) => {
                    let entry = log::verify(signed, u64::MAX / 2).unwrap();
                    self.clock = self.clock.observe(entry.body.hlc);
                    entries.push(entry);
                }
                Wire::Tombstone(stone) => stones.push(stone),
            }
        }
        if sorted {
            entries.sort_by_key(|e| e.order());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        for entry in &entries {
            store::apply(&tx, entry, 0).unwrap();
        }
        for stone in &stones {
            store::apply_tombstone(&tx, stone, NOW).unwrap();
        }
        tx.commit().unwrap();
    }

    fn sync_from(&mut self, other: &Replica, conv: &ConversationId) {
        let have: HashMap<PeerBytes, u64> =
            store::have(&self.conn, conv).unwrap().into_iter().collect();
        let (wires, _) = store::missing(&other.conn, conv, &have, usize::MAX).unwrap();
        self.ingest(wires, true);
    }

    /// The derived state the window reads, in a canonical order.
    fn state(&self) -> Vec<String> {
        let dump = |sql: &str| -> Vec<String> {
            let mut statement = self.conn.prepare(sql).unwrap();
            let count = statement.column_count();
            statement
                .query_map([], |r| {
                    let mut row = Vec::new();
                    for i in 0..count {
                        let value: rusqlite::types::Value = r.get(i)?;
                        row.push(format!("{value:?}"));
                    }
                    Ok(row.join("|"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let mut out = Vec::new();
        out.extend(dump("SELECT entry, author, seq, hlc, kind, text, detail, reply_to, edit_hlc, deleted FROM chat_messages ORDER BY entry"));
        out.extend(dump("SELECT target, reactor, emoji, active, hlc, seq FROM chat_reactions ORDER BY target, reactor, emoji"));
        out.extend(dump(
            "SELECT conversation, peer, role, active FROM chat_members ORDER BY conversation, peer",
        ));
        out.extend(dump(
            "SELECT id, name, last_hlc FROM chat_conversations ORDER BY id",
        ));
        out.extend(dump(
            "SELECT id, author, seq, hlc, signed IS NULL FROM chat_entries ORDER BY id",
        ));
        out.extend(dump(
            "SELECT conversation, author, upto FROM chat_have ORDER BY conversation, author",
        ));
        out.extend(dump(
            "SELECT conversation, member, upto FROM chat_reads ORDER BY conversation, member",
        ));
        out
    }
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let keys: Vec<Keypair> = (0..3).map(|_| Keypair::generate_ed25519()).collect();
    let peers: Vec<PeerId> = keys.iter().map(|k| k.public().to_peer_id()).collect();
    let mut replicas: Vec<Replica> = keys.into_iter().map(Replica::new).collect();
    let nonce = vec![9u8; 16];
    let conv = log::group_id(&peers[0], &nonce);
    for replica in &replicas {
        store::ensure_group(&replica.conn, &conv, 0).unwrap();
    }
    let mut now = 1_700_000_000_000u64;
    let create = Kind::Create {
        name: "Band".into(),
        members: vec![PeerBytes::of(&peers[1]), PeerBytes::of(&peers[2])],
        nonce,
    };
    replicas[0].author(conv, create, 1, &mut now);

    for step in steps {
        match step {
            Step::Author(who, op, dt) => {
                let replica = &mut replicas[who];
                let own = replica.messages(&conv, true);
                let any = replica.messages(&conv, false);
                let pick =
                    |list: &[log::EntryId], i: usize| list.get(i % list.len().max(1)).copied();
                let kind = match op {
                    Op::Text => Some(Kind::Text {
                        text: format!("hello from {who} at {now}"),
                        reply_to: None,
                    }),
                    Op::Reply(i) => pick(&any, i).map(|target| Kind::Text {
                        text: "a reply".into(),
                        reply_to: Some(target),
                    }),
                    Op::Edit(i) => pick(&own, i).map(|target| Kind::Edit {
                        target,
                        text: format!("edited by {who} at {now}"),
                    }),
                    Op::Delete(i) => pick(&own, i).map(|target| {
                        let seqs: Vec<u64> = replica
                            .conn
                            .prepare("SELECT seq FROM chat_entries WHERE author = ?1 AND (id = ?2 OR (kind = 'edit' AND target = ?2))")
                            .unwrap()
                            .query_map(rusqlite::params![replica.me.to_base58(), &target.0[..]], |r| r.get::<_, i64>(0))
                            .unwrap()
                            .map(|s| s.unwrap() as u64)
                            .collect();
                        Kind::Delete { target, seqs }
                    }),
                    Op::React(i, e, on) => pick(&any, i).map(|target| Kind::React {
                        target,
                        emoji: EMOJI[e].into(),
                        on,
                    }),
                    Op::Read => Some(Kind::Read { upto: replica.clock }),
                    Op::Rename => Some(Kind::Rename {
                        name: format!("Band {who} {now}"),
                    }),
                    Op::SetAdmin(member, admin) => Some(Kind::SetAdmin {
                        member: PeerBytes::of(&peers[member]),
                        admin,
                    }),
                    Op::Leave => Some(Kind::Leave),
                };
                if let Some(kind) = kind {
                    replica.author(conv, kind, dt, &mut now);
                }
            }
            Step::Gossip { from, to, picks } => {
                if from == to {
                    continue;
                }
                let wires = replicas[from].wires(&conv);
                if wires.is_empty() {
                    continue;
                }
                // Random entries, repeats allowed, in the order picked (not log order).
                let chosen: Vec<Wire> = picks
                    .iter()
                    .map(|i| wires[i % wires.len()].clone())
                    .collect();
                for wire in chosen {
                    replicas[to].ingest(vec![wire], false);
                }
            }
            Step::Sync(a, b) => {
                if a == b {
                    continue;
                }
                let (x, y) = two(&mut replicas, a, b);
                x.sync_from(y, &conv);
                y.sync_from(x, &conv);
            }
        }
    }
    // Everyone meets everyone until nothing changes (twice round is enough; three to be sure).
    for _ in 0..3 {
        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
            let (x, y) = two(&mut replicas, a, b);
            x.sync_from(y, &conv);
            y.sync_from(x, &conv);
        }
    }
    let states: Vec<Vec<String>> = replicas.iter().map(Replica::state).collect();
    for (a, b) in [(0, 1), (1, 2)] {
        let only = |x: &Vec<String>, y: &Vec<String>| -> Vec<String> {
            x.iter().filter(|l| !y.contains(l)).cloned().collect()
        };
        prop_assert!(
            states[a] == states[b],
            "replicas {} and {} differ:\n only in {}: {:?}\n only in {}: {:?}",
            a,
            b,
            a,
            only(&states[a], &states[b]),
            b,
            only(&states[b], &states[a])
        );
    }
    // The conversation is visible everywhere it should be.
    for replica in &replicas {
        let row = store::conversation(&replica.conn, &conv).unwrap().unwrap();
        prop_assert_eq!(row.state, ConvState::Active);
    }
    Ok(())
}

fn two(replicas: &mut [Replica], a: usize, b: usize) -> (&mut Replica, &mut Replica) {
    assert_ne!(a, b);
    if a < b {
        let (left, right) = replicas.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = replicas.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn three_replicas_converge_whatever_the_order_and_duplicates(steps in prop::collection::vec(step(), 1..60)) {
        run(steps)?;
    }
}

#[test]
fn a_delete_that_arrives_before_its_message_still_wins() {
    let keys: Vec<Keypair> = (0..2).map(|_| Keypair::generate_ed25519()).collect();
    let peers: Vec<PeerId> = keys.iter().map(|k| k.public().to_peer_id()).collect();
    let mut replicas: Vec<Replica> = keys.into_iter().map(Replica::new).collect();
    let conv = log::group_id(&peers[0], &[1; 16]);
    for replica in &replicas {
        store::ensure_group(&replica.conn, &conv, 0).unwrap();
    }
    let mut now = 1_700_000_000_000;
    let create = Kind::Create {
        name: "Duo".into(),
        members: vec![PeerBytes::of(&peers[1])],
        nonce: vec![1; 16],
    };
    replicas[0].author(conv, create, 1, &mut now);
    let before_text = replicas[0].wires(&conv);
    replicas[0].author(
        conv,
        Kind::Text {
            text: "oops".into(),
            reply_to: None,
        },
        1,
        &mut now,
    );
    let wires_with_text = replicas[0].wires(&conv);
    let text = wires_with_text.last().cloned().unwrap();
    let target = replicas[0].messages(&conv, true)[0];
    replicas[0].author(
        conv,
        Kind::Delete {
            target,
            seqs: vec![2],
        },
        1,
        &mut now,
    );
    let delete = replicas[0].wires(&conv).last().cloned().unwrap();

    let (a, b) = two(&mut replicas, 0, 1);
    let _ = a;
    b.ingest(before_text, true);
    b.ingest(vec![delete], true);
    b.ingest(vec![text], true);
    let shown: (String, bool) = b
        .conn
        .query_row(
            "SELECT text, deleted FROM chat_messages WHERE kind = 'text'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(shown, (String::new(), true));
    let kept: Option<Vec<u8>> = b
        .conn
        .query_row(
            "SELECT signed FROM chat_entries WHERE kind = 'text'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        kept.is_none(),
        "the deleted text is not stored, even arriving late"
    );
}

#[test]
fn a_tombstone_from_the_future_is_refused_even_when_a_delete_vouches_for_it() {
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut replica = Replica::new(key);
    let conv = log::group_id(&me, &[2; 16]);
    store::ensure_group(&replica.conn, &conv, 0).unwrap();
    let mut now = 1_700_000_000_000;
    let create = Kind::Create {
        name: "Solo".into(),
        members: vec![],
        nonce: vec![2; 16],
    };
    replica.author(conv, create, 1, &mut now);
    replica.author(
        conv,
        Kind::Text {
            text: "x".into(),
            reply_to: None,
        },
        1,
        &mut now,
    );
    let target = replica.messages(&conv, true)[0];
    // A Delete naming a sequence number that does not exist yet vouches for a tombstone there.
    replica.author(
        conv,
        Kind::Delete {
            target,
            seqs: vec![2, 999],
        },
        1,
        &mut now,
    );
    let stone = |millis| log::Tombstone {
        conversation: conv,
        author: PeerBytes::of(&me),
        seq: 999,
        hlc: Hlc { millis, counter: 0 },
        id: log::Hash32([7; 32]),
    };
    let tx = replica.conn.transaction().unwrap();
    let wall = now as i64;
    let ahead = now + 5 * 365 * 24 * 3600 * 1000;
    assert_eq!(
        store::apply_tombstone(&tx, &stone(ahead), wall).unwrap(),
        store::Applied::Unvouched
    );
    assert!(matches!(
        store::apply_tombstone(&tx, &stone(now), wall).unwrap(),
        store::Applied::Stored { .. }
    ));
    tx.commit().unwrap();
    assert!(store::latest_hlc(&replica.conn, now).unwrap().millis <= now + log::MAX_CLOCK_SKEW_MS);
}

#[test]
fn what_a_removed_member_writes_afterwards_is_kept_but_never_shown() {
    let keys: Vec<Keypair> = (0..2).map(|_| Keypair::generate_ed25519()).collect();
    let peers: Vec<PeerId> = keys.iter().map(|k| k.public().to_peer_id()).collect();
    let mut ada = Replica::new(keys[0].clone());
    let conv = log::group_id(&peers[0], &[3; 16]);
    store::ensure_group(&ada.conn, &conv, 0).unwrap();
    let mut now = 1_700_000_000_000;
    let create = Kind::Create {
        name: "Band".into(),
        members: vec![PeerBytes::of(&peers[1])],
        nonce: vec![3; 16],
    };
    ada.author(conv, create, 1, &mut now);
    let post = |seq, millis, text: &str| {
        let body = Body {
            conversation: conv,
            author: PeerBytes::of(&peers[1]),
            seq,
            hlc: Hlc { millis, counter: 0 },
            kind: Kind::Text {
                text: text.into(),
                reply_to: None,
            },
        };
        Wire::Entry(log::sign(&keys[1], body).unwrap().signed)
    };
    ada.ingest(vec![post(1, now + 1, "before")], true);
    now += 10;
    ada.author(
        conv,
        Kind::RemoveMember {
            member: PeerBytes::of(&peers[1]),
        },
        1,
        &mut now,
    );
    // Cy's client would refuse; a malicious one signs anyway.
    ada.ingest(vec![post(2, now + 5, "after")], true);
    let page = super::view::Builder::new(&ada.conn, peers[0], &conv)
        .unwrap()
        .page(&conv, None, 50)
        .unwrap();
    let texts: Vec<&str> = page
        .messages
        .iter()
        .filter(|m| m.kind == crate::api::MessageKind::Text)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts, ["before"]);
    let held: i64 = ada
        .conn
        .query_row(
            "SELECT count(*) FROM chat_entries WHERE kind = 'text'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(held, 2, "kept, so every member holds the same log");
}
