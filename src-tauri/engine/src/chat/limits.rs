//! How much one peer may make us store: entries and bytes per second, per sending peer (pure,
//! time passed in). The network loop already limits sync *requests* per peer; this bounds what
//! the requests carry, bounding how fast a friend's runaway client can fill the disk (it does not
//! stop a slow, patient one: a per-author quota on stored bytes is future work). What is over
//! budget is dropped and counted; anti-entropy offers it again later.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;

/// Entries: a burst of 20,000 (a long history arriving at once), then 10,000 per second.
const ENTRY_BURST: f64 = 20_000.0;
const ENTRIES_PER_SEC: f64 = 10_000.0;
/// Bytes: a burst of 64 MiB, then 16 MiB per second.
const BYTE_BURST: f64 = 64.0 * 1024.0 * 1024.0;
const BYTES_PER_SEC: f64 = 16.0 * 1024.0 * 1024.0;
/// Peers tracked at most (only friends and co-members get this far).
const MAX_TRACKED: usize = 4096;

#[derive(Debug, Clone)]
struct Bucket {
    entries: f64,
    bytes: f64,
    last: Instant,
}

#[derive(Debug, Default)]
pub struct EntryBudget {
    peers: HashMap<PeerId, Bucket>,
}

impl EntryBudget {
    /// Whether `peer` may have one more entry of `size` bytes stored now (spending it if so).
    pub fn allow(&mut self, peer: PeerId, size: usize, now: Instant) -> bool {
        if self.peers.len() >= MAX_TRACKED && !self.peers.contains_key(&peer) {
            self.peers.retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
                b.entries + elapsed * ENTRIES_PER_SEC < ENTRY_BURST
            });
        }
        let bucket = self.peers.entry(peer).or_insert(Bucket {
            entries: ENTRY_BURST,
            bytes: BYTE_BURST,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.entries = (bucket.entries + elapsed * ENTRIES_PER_SEC).min(ENTRY_BURST);
        bucket.bytes = (bucket.bytes + elapsed * BYTES_PER_SEC).min(BYTE_BURST);
        bucket.last = now;
        let size = size as f64;
        if bucket.entries >= 1.0 && bucket.bytes >= size {
            bucket.entries -= 1.0;
            bucket.bytes -= size;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let mut budget = EntryBudget::default();
        let (peer, t0) = (PeerId::random(), Instant::now());
        let passed = (0..25_000).filter(|_| budget.allow(peer, 100, t0)).count();
        assert_eq!(passed, ENTRY_BURST as usize);
        assert!(!budget.allow(peer, 100, t0));
        let later = t0 + Duration::from_millis(100);
        let refilled = (0..5_000)
            .filter(|_| budget.allow(peer, 100, later))
            .count();
        assert_eq!(refilled, 1_000, "a tenth of a second buys 1,000 entries");
        assert!(
            budget.allow(PeerId::random(), 100, later),
            "peers have budgets of their own"
        );
    }

    #[test]
    fn bytes_are_limited_too() {
        let mut budget = EntryBudget::default();
        let (peer, t0) = (PeerId::random(), Instant::now());
        let big = 64 * 1024;
        let passed = (0..2_000).filter(|_| budget.allow(peer, big, t0)).count();
        assert_eq!(passed, 1024, "64 MiB of 64 KiB entries");
    }
}
