//! Flood limits for what strangers can make us do (pure; time is an argument).
//!
//! Anyone who knows our address can connect and send pairing requests, and peer ids are free, so
//! every allowance here is bounded both per peer and in total, and every refusal is counted
//! ([`super::Stats`]):
//! - [`PairRateLimit`]: token buckets on the `/earshot/pair/1` protocol, one per peer and one for
//!   all strangers together; friends (and peers whose answer we await) have a looser bucket of
//!   their own, so even a friend cannot flood us.
//! - [`StrangerBudget`]: how long a stranger may stay connected: `grace` per connection, and three
//!   times that in all per 10-minute window, however often they reconnect, so a scanner cannot hold
//!   a connection open by reconnecting every 19 seconds, while a person whose first try was slow
//!   can still try again.
//! - libp2p's `connection_limits` (configured in the event loop) caps pending and established
//!   connections per peer and in total, with friends and relays exempt.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Pairing requests one stranger may send: a burst of 4, then one every 6 s. A person redeeming
/// an invite or asking to be friends sends one or two.
const PER_PEER_BURST: f64 = 4.0;
const PER_PEER_PER_SEC: f64 = 1.0 / 6.0;
/// Pairing requests from all strangers together: a burst of 40, then 2 per second. Enough for a
/// party where everyone pairs at once; a flood from many peer ids is capped here.
const GLOBAL_BURST: f64 = 40.0;
const GLOBAL_PER_SEC: f64 = 2.0;
/// Pairing requests from a friend: a burst of 20, then one per second (hellos on every
/// connection and profile change are far fewer).
const KNOWN_BURST: f64 = 20.0;
const KNOWN_PER_SEC: f64 = 1.0;
/// Per-peer state kept at most; beyond this the fullest buckets (peers who have been quiet) go.
const MAX_TRACKED_PEERS: usize = 4096;
/// A stranger's whole budget per window, in connection grace periods.
const GRACES_PER_WINDOW: u32 = 3;
/// A stranger's connection budget is measured over this window.
pub const STRANGER_WINDOW: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            last: now,
        }
    }

    fn take(&mut self, burst: f64, per_sec: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_sec).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn is_full(&self, burst: f64, per_sec: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * per_sec >= burst
    }
}

/// Rate limits on inbound pairing requests from strangers.
#[derive(Debug)]
pub struct PairRateLimit {
    per_peer: HashMap<PeerId, TokenBucket>,
    global: TokenBucket,
    /// Friends' buckets; friends are few (our own choice), but the map is bounded all the same.
    known: HashMap<PeerId, TokenBucket>,
}

impl PairRateLimit {
    pub fn new(now: Instant) -> Self {
        Self {
            per_peer: HashMap::new(),
            global: TokenBucket::full(GLOBAL_BURST, now),
            known: HashMap::new(),
        }
    }

    /// Whether a request from friend `peer` may be handled now (and spends its token).
    pub fn allow_known(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.known.len() >= MAX_TRACKED_PEERS && !self.known.contains_key(&peer) {
            self.known
                .retain(|_, bucket| !bucket.is_full(KNOWN_BURST, KNOWN_PER_SEC, now));
        }
        self.known
            .entry(peer)
            .or_insert_with(|| TokenBucket::full(KNOWN_BURST, now))
            .take(KNOWN_BURST, KNOWN_PER_SEC, now)
    }

    /// Whether a request from stranger `peer` may be handled now (and spends its token).
    pub fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.per_peer.len() >= MAX_TRACKED_PEERS && !self.per_peer.contains_key(&peer) {
            self.per_peer
                .retain(|_, bucket| !bucket.is_full(PER_PEER_BURST, PER_PEER_PER_SEC, now));
            if self.per_peer.len() >= MAX_TRACKED_PEERS {
                // Thousands of peer ids all active at once: a flood. Refuse newcomers until some
                // buckets refill rather than forgetting who already spent theirs.
                return false;
            }
        }
        let bucket = self
            .per_peer
            .entry(peer)
            .or_insert_with(|| TokenBucket::full(PER_PEER_BURST, now));
        if !bucket.take(PER_PEER_BURST, PER_PEER_PER_SEC, now) {
            return false;
        }
        self.global.take(GLOBAL_BURST, GLOBAL_PER_SEC, now)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.per_peer.len()
    }
}

/// A friend's or co-member's sync requests: generous (pushes are batched, so a busy conversation
/// sends a few requests a second), but a peer that loops on requests is held back.
const SYNC_BURST: f64 = 200.0;
const SYNC_PER_SEC: f64 = 50.0;
/// A friend's or co-member's transfer requests, one 512 KiB range each: a fetch keeps a few in
/// flight and may run at disk speed (≈ 400 MB/s sustained), but a loop is held back.
const TRANSFER_BURST: f64 = 400.0;
const TRANSFER_PER_SEC: f64 = 800.0;
/// Outline requests (each may cost reading and hashing a whole file on the server): a fetch asks
/// one per track, so an album is a short burst.
const OUTLINE_BURST: f64 = 32.0;
const OUTLINE_PER_SEC: f64 = 2.0;
/// A friend's activity updates: one per track change, pause or resume; someone skipping through
/// a playlist sends a few a second, a loop is held back (the sender keeps only its latest).
const PRESENCE_BURST: f64 = 20.0;
const PRESENCE_PER_SEC: f64 = 5.0;
/// Jam messages: a burst of queue additions, then a few a second.
const JAM_BURST: f64 = 60.0;
const JAM_PER_SEC: f64 = 20.0;

/// Rate limits on one kind of inbound request, per peer (only friends and co-members get this
/// far).
#[derive(Debug)]
pub struct PeerRateLimit {
    burst: f64,
    per_sec: f64,
    per_peer: HashMap<PeerId, TokenBucket>,
}

impl PeerRateLimit {
    /// Sync requests.
    pub fn sync() -> Self {
        Self::new(SYNC_BURST, SYNC_PER_SEC)
    }

    /// Transfer requests (ranges of audio).
    pub fn transfer() -> Self {
        Self::new(TRANSFER_BURST, TRANSFER_PER_SEC)
    }

    /// Outline requests.
    pub fn outline() -> Self {
        Self::new(OUTLINE_BURST, OUTLINE_PER_SEC)
    }

    /// Activity updates.
    pub fn presence() -> Self {
        Self::new(PRESENCE_BURST, PRESENCE_PER_SEC)
    }

    /// Jam messages.
    pub fn jam() -> Self {
        Self::new(JAM_BURST, JAM_PER_SEC)
    }

    fn new(burst: f64, per_sec: f64) -> Self {
        Self {
            burst,
            per_sec,
            per_peer: HashMap::new(),
        }
    }

    /// Whether a request from `peer` may be handled now (and spends its token).
    pub fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        let (burst, per_sec) = (self.burst, self.per_sec);
        if self.per_peer.len() >= MAX_TRACKED_PEERS && !self.per_peer.contains_key(&peer) {
            self.per_peer
                .retain(|_, bucket| !bucket.is_full(burst, per_sec, now));
        }
        self.per_peer
            .entry(peer)
            .or_insert_with(|| TokenBucket::full(burst, now))
            .take(burst, per_sec, now)
    }
}

/// How long each stranger may stay connected, per [`STRANGER_WINDOW`].
#[derive(Debug)]
pub struct StrangerBudget {
    grace: Duration,
    /// When each stranger's current window began.
    windows: HashMap<PeerId, Instant>,
}

impl StrangerBudget {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            windows: HashMap::new(),
        }
    }

    /// The instant by which stranger `peer`, connecting now, must be gone. It is in the past when
    /// the budget of the current window is already spent.
    pub fn deadline(&mut self, peer: PeerId, now: Instant) -> Instant {
        if self.windows.len() >= MAX_TRACKED_PEERS && !self.windows.contains_key(&peer) {
            self.windows
                .retain(|_, start| now.saturating_duration_since(*start) < STRANGER_WINDOW);
            if self.windows.len() >= MAX_TRACKED_PEERS {
                // Still full of live windows: a flood of fresh peer ids gets no grace at all.
                return now;
            }
        }
        let start = self.windows.entry(peer).or_insert(now);
        if now.saturating_duration_since(*start) >= STRANGER_WINDOW {
            *start = now;
        }
        (now + self.grace).min(*start + self.grace * GRACES_PER_WINDOW)
    }

    /// Starts a fresh budget for `peer` (a friend who was just removed gets the usual grace).
    pub fn restart(&mut self, peer: PeerId, now: Instant) -> Instant {
        self.windows.insert(peer, now);
        now + self.grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_stranger_gets_a_burst_then_one_request_every_six_seconds() {
        let t0 = Instant::now();
        let mut limit = PairRateLimit::new(t0);
        let peer = PeerId::random();
        let allowed = (0..10).filter(|_| limit.allow(peer, t0)).count();
        assert_eq!(allowed, 4, "the burst");
        assert!(!limit.allow(peer, t0 + secs(5.0)), "not yet refilled");
        assert!(limit.allow(peer, t0 + secs(6.1)), "one token after 6 s");
    }

    #[test]
    fn many_peer_ids_together_hit_the_global_limit() {
        let t0 = Instant::now();
        let mut limit = PairRateLimit::new(t0);
        let allowed = (0..1000)
            .filter(|_| limit.allow(PeerId::random(), t0))
            .count();
        assert_eq!(
            allowed, 40,
            "the global burst caps a flood of fresh peer ids"
        );
        let later = t0 + secs(10.0);
        let allowed = (0..1000)
            .filter(|_| limit.allow(PeerId::random(), later))
            .count();
        assert_eq!(allowed, 20, "two per second refill");
    }

    #[test]
    fn a_friend_has_a_looser_bucket_of_its_own() {
        let t0 = Instant::now();
        let mut limit = PairRateLimit::new(t0);
        let friend = PeerId::random();
        let allowed = (0..50).filter(|_| limit.allow_known(friend, t0)).count();
        assert_eq!(allowed, 20, "a friend cannot flood either");
        assert!(limit.allow_known(friend, t0 + secs(1.0)));
        assert!(
            limit.allow(PeerId::random(), t0),
            "a friend's requests do not spend the strangers' bucket"
        );
    }

    #[test]
    fn the_per_peer_table_stays_bounded_under_a_flood() {
        let t0 = Instant::now();
        let mut limit = PairRateLimit::new(t0);
        for i in 0..20_000u64 {
            limit.allow(PeerId::random(), t0 + Duration::from_millis(i));
        }
        assert!(limit.tracked() <= MAX_TRACKED_PEERS, "{}", limit.tracked());
    }

    #[test]
    fn reconnecting_cannot_stretch_a_strangers_budget_past_three_grace_periods() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(20);
        let mut budget = StrangerBudget::new(grace);
        let peer = PeerId::random();
        assert_eq!(budget.deadline(peer, t0), t0 + grace);
        assert_eq!(
            budget.deadline(peer, t0 + secs(19.0)),
            t0 + secs(39.0),
            "a second try gets a grace period of its own"
        );
        assert_eq!(
            budget.deadline(peer, t0 + secs(50.0)),
            t0 + secs(60.0),
            "but no more than three in all"
        );
        assert!(
            budget.deadline(peer, t0 + secs(61.0)) < t0 + secs(61.0),
            "a reconnect after the budget is spent is already due"
        );
        let next_window = t0 + STRANGER_WINDOW + secs(1.0);
        assert_eq!(
            budget.deadline(peer, next_window),
            next_window + grace,
            "a new window brings a new budget"
        );
    }

    #[test]
    fn a_flood_of_strangers_gets_no_grace_once_the_table_is_full() {
        let t0 = Instant::now();
        let mut budget = StrangerBudget::new(Duration::from_secs(20));
        for _ in 0..MAX_TRACKED_PEERS {
            budget.deadline(PeerId::random(), t0);
        }
        assert_eq!(
            budget.deadline(PeerId::random(), t0 + secs(1.0)),
            t0 + secs(1.0)
        );
        assert!(budget.windows.len() <= MAX_TRACKED_PEERS);
    }
}
