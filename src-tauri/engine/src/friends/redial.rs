//! When to dial friends who are not connected (pure: time is an argument).
//!
//! A friend seen connected within the last two minutes is re-dialled after 1 s, then every 2 s
//! (a restart or a replugged cable is over in seconds: they are back within ~3 s). A friend away
//! longer is dialled with a backoff doubling from 1 s to 30 s, so friends away for days cost a
//! dial now and then. A friend who comes back also dials us, and is announced by mDNS on a LAN
//! ([`Redial::dial_soon`]). "Seen" counts connections in this run and, across a restart, the
//! `last_seen` the store kept.
//!
//! A connection that closes within [`STABLE`] of opening does not count as the friend being back:
//! a peer that blocked us silently accepts the handshake and drops it at once, and a broken path can
//! do the same. Such a friend keeps backing off (doubling to 30 s) instead of being dialled every
//! second for ever, and a LAN announcement does not hurry them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

pub const FIRST: Duration = Duration::from_secs(1);
pub const RECENT_MAX: Duration = Duration::from_secs(2);
pub const AWAY_MAX: Duration = Duration::from_secs(30);
pub const RECENTLY_SEEN: Duration = Duration::from_secs(120);
/// A connection shorter than this ends as a failed dial would, keeping the backoff.
pub const STABLE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Next {
    at: Instant,
    backoff: Duration,
    /// Their last connection closed at once: back off as for a friend away.
    unstable: bool,
}

/// A connected friend: since when, and the backoff in force when they connected.
#[derive(Debug, Clone, Copy)]
struct Held {
    since: Instant,
    backoff: Duration,
}

#[derive(Debug, Default)]
pub struct Redial {
    /// Absent friends and when to dial each next.
    next: HashMap<PeerId, Next>,
    /// When each friend was last connected.
    last_connected: HashMap<PeerId, Instant>,
    /// Connected friends.
    held: HashMap<PeerId, Held>,
}

impl Redial {
    /// A friend known at start, absent until they connect; `seen` is when they were last
    /// connected, if we know.
    pub fn absent(&mut self, peer: PeerId, seen: Option<Instant>, now: Instant) {
        if let Some(seen) = seen {
            self.last_connected.insert(peer, seen);
        }
        self.next.insert(
            peer,
            Next {
                at: now,
                backoff: FIRST,
                unstable: false,
            },
        );
    }

    /// A friend connected (again, or by another path: the first connection's time is kept).
    pub fn connected(&mut self, peer: PeerId, now: Instant) {
        let backoff = self.next.remove(&peer).map_or(FIRST, |n| n.backoff);
        self.held.entry(peer).or_insert(Held {
            since: now,
            backoff,
        });
        self.last_connected.insert(peer, now);
    }

    /// A friend's last connection closed: dial them again soon, unless it closed at once.
    pub fn disconnected(&mut self, peer: PeerId, now: Instant) {
        self.last_connected.insert(peer, now);
        let next = match self.held.remove(&peer) {
            Some(held) if now.saturating_duration_since(held.since) < STABLE => {
                let backoff = held.backoff.clamp(FIRST, AWAY_MAX);
                Next {
                    at: now + backoff,
                    backoff,
                    unstable: true,
                }
            }
            Some(_) | None => Next {
                at: now + FIRST,
                backoff: FIRST,
                unstable: false,
            },
        };
        self.next.insert(peer, next);
    }

    /// A friend was seen on the LAN: dial now, whatever the backoff said (not one whose
    /// connections close at once: the LAN is not what keeps them away).
    pub fn dial_soon(&mut self, peer: PeerId, now: Instant) {
        if let Some(next) = self.next.get_mut(&peer) {
            if !next.unstable {
                *next = Next {
                    at: now,
                    backoff: FIRST,
                    unstable: false,
                };
            }
        }
    }

    /// No longer a friend: never dial them again.
    pub fn forget(&mut self, peer: &PeerId) {
        self.next.remove(peer);
        self.last_connected.remove(peer);
        self.held.remove(peer);
    }

    /// The friends to dial now; each is scheduled again after its next backoff.
    pub fn due(&mut self, now: Instant) -> Vec<PeerId> {
        let mut due = Vec::new();
        for (peer, next) in self.next.iter_mut() {
            if next.at > now {
                continue;
            }
            let recent = self
                .last_connected
                .get(peer)
                .is_some_and(|seen| now.saturating_duration_since(*seen) < RECENTLY_SEEN);
            next.backoff = if recent && !next.unstable {
                (next.backoff * 2).min(RECENT_MAX)
            } else {
                (next.backoff * 2).clamp(FIRST, AWAY_MAX)
            };
            next.at = now + next.backoff;
            due.push(*peer);
        }
        due
    }

    /// The earliest instant at which a friend falls due, if any friend is absent.
    pub fn next_due(&self) -> Option<Instant> {
        self.next.values().map(|n| n.at).min()
    }

    /// When `peer` will be dialled next, if they are absent.
    pub fn next_dial(&self, peer: &PeerId) -> Option<Instant> {
        self.next.get(peer).map(|n| n.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_due_while_every_friend_is_connected() {
        let (mut redial, now) = (Redial::default(), Instant::now());
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(redial.next_due(), None);
        redial.absent(a, None, now);
        redial.disconnected(b, now);
        assert_eq!(
            redial.next_due(),
            Some(now),
            "the absent friend is due at once"
        );
        redial.connected(a, now);
        assert_eq!(
            redial.next_due(),
            Some(now + FIRST),
            "then the one who just left"
        );
        redial.connected(b, now);
        assert_eq!(
            redial.next_due(),
            None,
            "all connected: the schedule sleeps"
        );
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The instants at which `peer` is dialled between `from` and `until`, ticking every 100 ms.
    fn dials(redial: &mut Redial, peer: PeerId, from: Instant, until: Instant) -> Vec<Duration> {
        let mut out = Vec::new();
        let mut now = from;
        while now <= until {
            if redial.due(now).contains(&peer) {
                out.push(now - from);
            }
            now += Duration::from_millis(100);
        }
        out
    }

    #[test]
    fn a_friend_who_just_dropped_is_dialled_every_two_seconds() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut redial = Redial::default();
        redial.connected(peer, t0);
        redial.disconnected(peer, t0 + secs(10));
        let times = dials(&mut redial, peer, t0 + secs(10), t0 + secs(19));
        assert_eq!(times, vec![secs(1), secs(3), secs(5), secs(7), secs(9)]);
    }

    #[test]
    fn a_friend_away_for_long_backs_off_to_thirty_seconds() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut redial = Redial::default();
        redial.absent(peer, None, t0);
        let times = dials(&mut redial, peer, t0, t0 + secs(200));
        let gaps: Vec<u64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
        assert_eq!(times[0], Duration::ZERO, "dialled at start");
        assert_eq!(&gaps[..5], &[2, 4, 8, 16, 30]);
        assert!(gaps[5..].iter().all(|g| *g == 30), "{gaps:?}");
    }

    #[test]
    fn recently_seen_turns_into_away_after_two_minutes() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut redial = Redial::default();
        redial.disconnected(peer, t0);
        let times = dials(&mut redial, peer, t0, t0 + secs(300));
        let recent = times.iter().filter(|t| **t < RECENTLY_SEEN).count();
        let later = times.iter().filter(|t| **t >= RECENTLY_SEEN).count();
        assert!(recent >= 55, "every 2 s while recent: {recent}");
        assert!(later <= 10, "backing off once away: {later}");
    }

    #[test]
    fn a_friend_seen_just_before_a_restart_is_redialled_fast() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut redial = Redial::default();
        redial.absent(peer, Some(t0 - secs(5)), t0);
        let times = dials(&mut redial, peer, t0, t0 + secs(6));
        assert_eq!(times, vec![secs(0), secs(2), secs(4), secs(6)]);
    }

    #[test]
    fn a_connected_friend_is_not_dialled_and_a_forgotten_one_never_again() {
        let t0 = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut redial = Redial::default();
        redial.absent(a, None, t0);
        redial.absent(b, None, t0);
        redial.connected(a, t0);
        redial.forget(&b);
        assert!(redial.due(t0 + secs(60)).is_empty());
        assert_eq!(redial.next_dial(&a), None);
    }

    #[test]
    fn a_friend_whose_connections_close_at_once_backs_off_to_thirty_seconds() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut redial = Redial::default();
        redial.connected(peer, t0);
        redial.disconnected(peer, t0 + secs(60));
        let mut times = Vec::new();
        let mut now = t0 + secs(60);
        while now <= t0 + secs(300) {
            if redial.due(now).contains(&peer) {
                times.push((now - t0 - secs(60)).as_millis());
                // The handshake succeeds and the far side drops it at once.
                redial.connected(peer, now);
                redial.disconnected(peer, now + Duration::from_millis(50));
                // A LAN announcement does not hurry a dial that would only close again.
                redial.dial_soon(peer, now + Duration::from_millis(100));
            }
            now += Duration::from_millis(100);
        }
        // Whole seconds (each dial lands on the next 100 ms tick).
        let gaps: Vec<u128> = times
            .windows(2)
            .map(|w| (w[1] - w[0] + 500) / 1000)
            .collect();
        assert_eq!(times[0], 1000, "the first loss is redialled fast");
        assert_eq!(&gaps[..5], &[2, 4, 8, 16, 30], "{times:?}");
        assert!(gaps[5..].iter().all(|g| *g == 30), "{gaps:?}");
    }

    #[test]
    fn a_connection_that_lasted_resets_the_backoff() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut redial = Redial::default();
        redial.absent(peer, None, t0);
        for s in 0..100 {
            redial.due(t0 + secs(s));
        }
        redial.connected(peer, t0 + secs(100));
        redial.connected(peer, t0 + secs(105)); // a second path; the first one's time counts
        redial.disconnected(peer, t0 + secs(100) + STABLE);
        let from = t0 + secs(100) + STABLE;
        let times = dials(&mut redial, peer, from, from + secs(5));
        assert_eq!(times, vec![secs(1), secs(3), secs(5)]);
    }

    #[test]
    fn seeing_a_friend_on_the_lan_dials_them_at_once() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut redial = Redial::default();
        redial.absent(peer, None, t0);
        for s in 0..100 {
            redial.due(t0 + secs(s));
        }
        let now = t0 + secs(100);
        assert!(redial.next_dial(&peer).unwrap() > now);
        redial.dial_soon(peer, now);
        assert_eq!(redial.due(now), vec![peer]);
    }
}
