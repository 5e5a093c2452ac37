//! Counters of network input that was refused, malformed or held back, read by `net_stats`.
//!
//! Plain relaxed atomics: the event loop and the friends service bump them without waiting on
//! anyone, and a reader gets a snapshot that is exact for each counter.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::api::NetStats;

#[derive(Debug, Default)]
pub struct Stats {
    pub malformed: AtomicU64,
    pub rate_limited: AtomicU64,
    pub connections_denied: AtomicU64,
    pub strangers_closed: AtomicU64,
    pub budget_spent: AtomicU64,
    pub not_friends: AtomicU64,
    pub events_deferred: AtomicU64,
    pub events_dropped: AtomicU64,
    pub busy_refusals: AtomicU64,
    pub requests_evicted: AtomicU64,
    pub requests_expired: AtomicU64,
    pub invites_refused: AtomicU64,
}

/// Adds `n` to a counter.
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub fn snapshot(&self) -> NetStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetStats {
            malformed: get(&self.malformed),
            rate_limited: get(&self.rate_limited),
            connections_denied: get(&self.connections_denied),
            strangers_closed: get(&self.strangers_closed),
            budget_spent: get(&self.budget_spent),
            not_friends: get(&self.not_friends),
            events_deferred: get(&self.events_deferred),
            events_dropped: get(&self.events_dropped),
            busy_refusals: get(&self.busy_refusals),
            requests_evicted: get(&self.requests_evicted),
            requests_expired: get(&self.requests_expired),
            invites_refused: get(&self.invites_refused),
        }
    }
}
