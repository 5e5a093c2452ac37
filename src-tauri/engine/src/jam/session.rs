//! A jam's shared state, as the host keeps it: who is in, the queue and who added what, the
//! timeline, and who may change what. Pure: the host's clock is passed in to every call.
//!
//! The timeline is an anchor (design §7): *entry E, source frame `frame` plays at host time
//! `at_ns`, playing or paused*, with a sequence number bumped on every change, so a participant
//! can tell a newer state from an older one arriving late. Play, pause, seek and skip take effect
//! [`LEAD_NS`] ahead, so that every participant hears the change at the same instant.

use serde::{Deserialize, Serialize};

/// Most people in one jam, host included (the big service's Jam allows 32).
pub const MAX_PARTICIPANTS: usize = 32;
/// Most entries in a jam's queue (a full state, with every text at its longest, stays under
/// the jam protocol's message limit).
pub const MAX_QUEUE: usize = 200;
/// A track that ended longer ago than this is not followed by the next one "at its end".
const CATCH_UP_NS: u64 = 2_000_000_000;
/// How far ahead a change is scheduled: long enough to reach everyone on a slow link.
pub const LEAD_NS: u64 = 250_000_000;

/// A track in a jam: enough to show it and to fetch it by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JamTrack {
    /// BLAKE3 hex of the file.
    pub hash: String,
    pub title: String,
    pub artist: String,
    pub album: String,
    pub duration_ms: u64,
    /// The file's own sample rate (frames below are counted at this rate).
    pub sample_rate: u32,
}

impl JamTrack {
    fn frames(&self) -> u64 {
        self.duration_ms * self.sample_rate as u64 / 1000
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique within the jam (never reused).
    pub id: u32,
    pub track: JamTrack,
    /// Peer id of who added it.
    pub added_by: String,
    /// Their name when they added it (kept after they leave).
    #[serde(default)]
    pub added_by_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub peer: String,
    pub name: String,
    /// Addresses the others may dial it on, should it come to host.
    pub addrs: Vec<String>,
    /// How it says it stands (it reports to the host every few seconds).
    #[serde(default)]
    pub standing: Option<Standing>,
}

/// How a participant's playback stands against the timeline, as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub sync: crate::api::SyncState,
    /// How far its sound is from the timeline at its device (µs, positive: late).
    pub error_us: i32,
}

/// A reported error that moved less than this is not news (µs).
const STANDING_NEWS_US: i32 = 500;

/// Where the music is: entry `entry`'s source frame `frame` plays at host time `at_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// The entry playing (or paused on); `None`: nothing (an empty or finished queue).
    pub entry: Option<u32>,
    pub frame: u64,
    pub at_ns: u64,
    pub playing: bool,
}

/// The whole state, as the host sends it to every participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    /// Peer id of the host; its clock is the timeline's.
    pub host: String,
    /// In the order they joined: the first after the host takes over when the host leaves.
    pub participants: Vec<Participant>,
    pub queue: Vec<Entry>,
    pub timeline: Timeline,
    /// Guests may reorder, remove, skip, play, pause and seek.
    pub guest_controls: bool,
    /// Bumped on every change.
    pub seq: u64,
    next_entry: u32,
}

/// What a participant asks the host to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Add(JamTrack),
    Remove {
        entry: u32,
    },
    Move {
        entry: u32,
        to: u32,
    },
    /// Play this entry from its start.
    Jump {
        entry: u32,
    },
    Skip,
    Previous,
    Play,
    Pause,
    Seek {
        position_ms: u64,
    },
    GuestControls(bool),
}

/// Why the host refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Only the host may do that (or guests, with guest controls on).
    NotAllowed,
    /// The jam has 32 participants.
    Full,
    /// No such entry (removed meanwhile).
    NoEntry,
    /// The queue has [`MAX_QUEUE`] entries.
    QueueFull,
    /// Not in this jam (or it ended).
    NotInJam,
}

impl Session {
    /// A new jam hosted by `host`.
    pub fn new(id: String, host: Participant) -> Self {
        Self {
            id,
            host: host.peer.clone(),
            participants: vec![host],
            queue: Vec::new(),
            timeline: Timeline {
                entry: None,
                frame: 0,
                at_ns: 0,
                playing: false,
            },
            guest_controls: false,
            seq: 1,
            next_entry: 1,
        }
    }

    pub fn is_in(&self, peer: &str) -> bool {
        self.participants.iter().any(|p| p.peer == peer)
    }

    pub fn entry(&self, id: u32) -> Option<&Entry> {
        self.queue.iter().find(|e| e.id == id)
    }

    fn index_of(&self, id: u32) -> Option<usize> {
        self.queue.iter().position(|e| e.id == id)
    }

    /// The entry playing now and its index.
    pub fn current(&self) -> Option<(usize, &Entry)> {
        let id = self.timeline.entry?;
        self.index_of(id).map(|i| (i, &self.queue[i]))
    }

    /// Source frame heard at host time `now` (the anchor's frame while paused or before it).
    pub fn frame_at(&self, now: u64) -> u64 {
        let t = &self.timeline;
        let Some((_, entry)) = self.current() else {
            return 0;
        };
        if !t.playing || now <= t.at_ns {
            return t.frame;
        }
        let rate = entry.track.sample_rate.max(1) as u128;
        t.frame + ((now - t.at_ns) as u128 * rate / 1_000_000_000) as u64
    }

    /// Position heard at host time `now`, in milliseconds.
    pub fn position_ms(&self, now: u64) -> u64 {
        match self.current() {
            Some((_, e)) => self.frame_at(now) * 1000 / e.track.sample_rate.max(1) as u64,
            None => 0,
        }
    }

    /// Adds someone who accepted an invitation (again: their name and addresses are updated).
    pub fn join(&mut self, who: Participant) -> Result<(), Refusal> {
        if let Some(p) = self.participants.iter_mut().find(|p| p.peer == who.peer) {
            *p = who;
        } else {
            if self.participants.len() >= MAX_PARTICIPANTS {
                return Err(Refusal::Full);
            }
            self.participants.push(who);
        }
        self.seq += 1;
        Ok(())
    }

    /// Takes someone out; when it is the host, the longest-present participant hosts from now on.
    /// Returns the new host when it changed. The timeline stays on the old host's clock: the new
    /// host converts it with [`Session::rebase`].
    pub fn leave(&mut self, peer: &str) -> Option<String> {
        let before = self.participants.len();
        self.participants.retain(|p| p.peer != peer);
        if self.participants.len() == before {
            return None;
        }
        self.seq += 1;
        if self.host == peer {
            let next = self.participants.first()?.peer.clone();
            self.host = next.clone();
            return Some(next);
        }
        None
    }

    /// Notes how `peer` stands; true when that is news to the others (its sync state changed, or
    /// its error moved by half a millisecond or more).
    pub fn report(&mut self, peer: &str, standing: Standing) -> bool {
        let Some(p) = self.participants.iter_mut().find(|p| p.peer == peer) else {
            return false;
        };
        let news = p.standing.is_none_or(|old| {
            old.sync != standing.sync
                || (old.error_us.saturating_sub(standing.error_us)).abs() >= STANDING_NEWS_US
        });
        p.standing = Some(standing);
        if news {
            self.seq += 1;
        }
        news
    }

    /// Who hosts should the host leave now: the longest-present participant but the host.
    pub fn successor(&self) -> Option<&str> {
        self.participants
            .iter()
            .map(|p| p.peer.as_str())
            .find(|p| *p != self.host)
    }

    /// Whether a state from a peer can be true: unique participants and entries, entry ids below
    /// the next one to give, the anchor inside its track, instants and counters far from overflow.
    pub fn is_consistent(&self) -> bool {
        const FAR: u64 = 1 << 62;
        let mut peers: Vec<&str> = self.participants.iter().map(|p| p.peer.as_str()).collect();
        peers.sort_unstable();
        peers.dedup();
        let mut ids: Vec<u32> = self.queue.iter().map(|e| e.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let anchor_fits = match self.current() {
            Some((_, e)) => self.timeline.frame <= e.track.frames() + e.track.sample_rate as u64,
            None => true,
        };
        peers.len() == self.participants.len()
            && ids.len() == self.queue.len()
            && ids.last().is_none_or(|last| *last < self.next_entry)
            && self.next_entry < u32::MAX / 2
            && anchor_fits
            && self.timeline.at_ns < FAR
            && self.seq < FAR
    }

    /// Replaces the timeline (a handover rebuilt it).
    pub fn set_timeline(&mut self, timeline: Timeline) {
        self.timeline = timeline;
        self.seq += 1;
    }

    /// Moves the timeline onto another clock: `offset_ns` is the new clock minus the old one.
    pub fn rebase(&mut self, offset_ns: i64) {
        self.timeline.at_ns = (self.timeline.at_ns as i128 + offset_ns as i128).max(0) as u64;
        self.seq += 1;
    }

    fn may_control(&self, by: &str) -> bool {
        by == self.host || (self.guest_controls && self.is_in(by))
    }

    /// Starts `entry` at `frame`, `LEAD_NS` after `now`, keeping play/pause unless told.
    fn start(&mut self, entry: Option<u32>, frame: u64, playing: bool, now: u64) {
        self.timeline = Timeline {
            entry,
            frame,
            at_ns: now + LEAD_NS,
            playing: playing && entry.is_some(),
        };
    }

    /// Carries out `op` asked by `by` at host time `now`.
    pub fn apply(&mut self, by: &str, op: Op, now: u64) -> Result<(), Refusal> {
        if !self.is_in(by) {
            return Err(Refusal::NotInJam);
        }
        match op {
            Op::Add(track) => {
                if self.queue.len() >= MAX_QUEUE {
                    return Err(Refusal::QueueFull);
                }
                let id = self.next_entry;
                self.next_entry += 1;
                self.queue.push(Entry {
                    id,
                    track,
                    added_by: by.to_string(),
                    added_by_name: self
                        .participants
                        .iter()
                        .find(|p| p.peer == by)
                        .map(|p| p.name.clone())
                        .unwrap_or_default(),
                });
                if self.timeline.entry.is_none() {
                    // Nothing was playing: the first track added starts the jam's music.
                    self.start(Some(id), 0, true, now);
                }
            }
            Op::Remove { entry } => {
                if !self.may_control(by) {
                    return Err(Refusal::NotAllowed);
                }
                let index = self.index_of(entry).ok_or(Refusal::NoEntry)?;
                if self.timeline.entry == Some(entry) {
                    let next = self.queue.get(index + 1).map(|e| e.id);
                    let playing = self.timeline.playing;
                    self.start(next, 0, playing, now);
                }
                self.queue.remove(index);
            }
            Op::Move { entry, to } => {
                if !self.may_control(by) {
                    return Err(Refusal::NotAllowed);
                }
                let from = self.index_of(entry).ok_or(Refusal::NoEntry)?;
                let moved = self.queue.remove(from);
                let to = (to as usize).min(self.queue.len());
                self.queue.insert(to, moved);
            }
            Op::Jump { entry } => {
                if !self.may_control(by) {
                    return Err(Refusal::NotAllowed);
                }
                self.index_of(entry).ok_or(Refusal::NoEntry)?;
                self.start(Some(entry), 0, true, now);
            }
            Op::Skip => {
                if !self.may_control(by) {
                    return Err(Refusal::NotAllowed);
                }
                let next = match self.current() {
                    Some((i, _)) => self.queue.get(i + 1).map(|e| e.id),
                    None => None,
                };
                let playing = self.timeline.playing;
                self.start(next, 0, playing, now);
            }
            Op::Previous => {
                if !self.may_control(by) {
                    return Err(Refusal::NotAllowed);
                }
                let Some((i, _)) = self.current() else {
                    return Err(Refusal::NoEntry);
                };
                // Back a track near the start, else to the start of this one.
                let back = if self.position_ms(now) < 3000 && i > 0 {
                    self.queue[i - 1].id
                } else {
                    self.queue[i].id
                };
                let playing = self.timeline.playing;
                self.start(Some(back), 0, playing, now);
            }
            Op::Play => {
                if !self.may_control(by) {
                    return Err(Refusal::NotAllowed);
                }
                if !self.timeline.playing {
                    let (entry, frame) = match self.timeline.entry {
                        Some(e) => (Some(e), self.timeline.frame),
                        None => (self.queue.first().map(|e| e.id), 0),
                    };
                    self.start(entry, frame, true, now);
                }
            }
            Op::Pause => {
                if !self.may_control(by) {
                    return Err(Refusal::NotAllowed);
                }
                if self.timeline.playing {
                    let frame = self.frame_at(now + LEAD_NS);
                    self.start(self.timeline.entry, frame, false, now);
                }
            }
            Op::Seek { position_ms } => {
                if !self.may_control(by) {
                    return Err(Refusal::NotAllowed);
                }
                let Some((_, entry)) = self.current() else {
                    return Err(Refusal::NoEntry);
                };
                let track = &entry.track;
                let frame = position_ms.min(track.duration_ms) * track.sample_rate as u64 / 1000;
                let (id, playing) = (entry.id, self.timeline.playing);
                self.start(Some(id), frame, playing, now);
            }
            Op::GuestControls(on) => {
                if by != self.host {
                    return Err(Refusal::NotAllowed);
                }
                self.guest_controls = on;
            }
        }
        self.seq += 1;
        Ok(())
    }

    /// When the playing track ends, at host time, if it plays.
    pub fn ends_at(&self) -> Option<u64> {
        let t = &self.timeline;
        let (_, entry) = self.current()?;
        if !t.playing {
            return None;
        }
        let left = entry.track.frames().saturating_sub(t.frame) as u128;
        Some(t.at_ns + (left * 1_000_000_000 / entry.track.sample_rate.max(1) as u128) as u64)
    }

    /// Moves on to the next entry once the playing one has ended by `now`: it starts exactly at
    /// the end of the last (every player chains it gaplessly already). True when it moved.
    pub fn advance(&mut self, now: u64) -> bool {
        let Some(end) = self.ends_at() else {
            return false;
        };
        if now < end {
            return false;
        }
        let next = self
            .current()
            .and_then(|(i, _)| self.queue.get(i + 1))
            .map(|e| e.id);
        // Exactly at the end, as every player chains it; a timeline left far behind (a host
        // that slept, a clock carried over badly) starts the next entry afresh instead of
        // racing through the queue.
        let at_ns = if now - end > CATCH_UP_NS {
            now + LEAD_NS
        } else {
            end
        };
        self.timeline = Timeline {
            entry: next,
            frame: 0,
            at_ns,
            playing: next.is_some(),
        };
        self.seq += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn person(peer: &str) -> Participant {
        Participant {
            standing: None,
            peer: peer.into(),
            name: peer.to_uppercase(),
            addrs: Vec::new(),
        }
    }

    fn track(name: &str, seconds: u64) -> JamTrack {
        JamTrack {
            hash: format!("{name:0>64}"),
            title: name.into(),
            artist: "Artist".into(),
            album: "Album".into(),
            duration_ms: seconds * 1000,
            sample_rate: 48_000,
        }
    }

    /// Host "h" with guests "a" and "b", and two tracks queued by "h" at host time 10 s.
    fn jam() -> Session {
        let mut s = Session::new("j".into(), person("h"));
        s.join(person("a")).unwrap();
        s.join(person("b")).unwrap();
        s.apply("h", Op::Add(track("one", 60)), 10 * SECOND)
            .unwrap();
        s.apply("h", Op::Add(track("two", 30)), 10 * SECOND)
            .unwrap();
        s
    }

    #[test]
    fn the_first_track_added_starts_a_lead_ahead() {
        let s = jam();
        assert_eq!(s.timeline.entry, Some(s.queue[0].id));
        assert!(s.timeline.playing);
        assert_eq!(s.timeline.at_ns, 10 * SECOND + LEAD_NS);
        assert_eq!(s.frame_at(10 * SECOND + LEAD_NS + SECOND), 48_000);
        assert_eq!(s.position_ms(12 * SECOND + LEAD_NS), 2000);
    }

    #[test]
    fn everyone_adds_and_each_entry_says_who() {
        let mut s = jam();
        s.apply("b", Op::Add(track("three", 10)), 11 * SECOND)
            .unwrap();
        assert_eq!(s.queue.len(), 3);
        assert_eq!(s.queue[2].added_by, "b");
        assert_eq!(
            s.queue[2].added_by_name, "B",
            "the name stays when they leave"
        );
        s.leave("b");
        assert_eq!(s.queue[2].added_by_name, "B");
        assert_eq!(s.queue[0].added_by, "h");
    }

    #[test]
    fn guests_control_only_with_guest_controls_on() {
        let mut s = jam();
        let seq = s.seq;
        assert_eq!(
            s.apply("a", Op::Skip, 11 * SECOND),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(
            s.apply("a", Op::Pause, 11 * SECOND),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(
            s.apply("a", Op::GuestControls(true), 11 * SECOND),
            Err(Refusal::NotAllowed),
            "only the host turns guest controls on"
        );
        assert_eq!(s.seq, seq, "a refusal changes nothing");
        s.apply("h", Op::GuestControls(true), 11 * SECOND).unwrap();
        s.apply("a", Op::Skip, 12 * SECOND).unwrap();
        assert_eq!(s.timeline.entry, Some(s.queue[1].id));
        s.apply("h", Op::GuestControls(false), 13 * SECOND).unwrap();
        assert_eq!(
            s.apply("a", Op::Play, 14 * SECOND),
            Err(Refusal::NotAllowed)
        );
    }

    #[test]
    fn strangers_are_refused() {
        let mut s = jam();
        assert_eq!(
            s.apply("z", Op::Add(track("x", 1)), 11 * SECOND),
            Err(Refusal::NotInJam)
        );
    }

    #[test]
    fn pause_and_play_resume_from_the_frame_where_it_paused() {
        let mut s = jam();
        let start = s.timeline.at_ns;
        s.apply("h", Op::Pause, start + 2 * SECOND).unwrap();
        assert!(!s.timeline.playing);
        // Paused a lead after it was asked: 2.25 s in.
        assert_eq!(s.timeline.frame, 48_000 * 2 + 12_000);
        assert_eq!(s.timeline.at_ns, start + 2 * SECOND + LEAD_NS);
        assert_eq!(s.frame_at(start + 100 * SECOND), s.timeline.frame);
        s.apply("h", Op::Play, start + 5 * SECOND).unwrap();
        assert!(s.timeline.playing);
        assert_eq!(s.timeline.frame, 108_000);
        assert_eq!(s.timeline.at_ns, start + 5 * SECOND + LEAD_NS);
    }

    #[test]
    fn seek_lands_on_the_frame_asked_for_and_keeps_playing() {
        let mut s = jam();
        s.apply(
            "h",
            Op::Seek {
                position_ms: 30_500,
            },
            20 * SECOND,
        )
        .unwrap();
        assert_eq!(s.timeline.frame, 30_500 * 48);
        assert!(s.timeline.playing);
        s.apply(
            "h",
            Op::Seek {
                position_ms: 999_000,
            },
            21 * SECOND,
        )
        .unwrap();
        assert_eq!(s.timeline.frame, 60 * 48_000, "clamped to the track's end");
    }

    #[test]
    fn the_next_track_starts_exactly_where_the_last_ended() {
        let mut s = jam();
        let end = s.ends_at().unwrap();
        assert_eq!(end, 10 * SECOND + LEAD_NS + 60 * SECOND);
        assert!(!s.advance(end - 1));
        assert!(s.advance(end + 30_000_000));
        assert_eq!(s.timeline.entry, Some(s.queue[1].id));
        assert_eq!((s.timeline.frame, s.timeline.at_ns), (0, end));
        let end = s.ends_at().unwrap();
        assert!(s.advance(end));
        assert_eq!(s.timeline.entry, None, "the queue ran out");
        assert!(!s.timeline.playing);
    }

    #[test]
    fn a_timeline_left_far_behind_starts_the_next_entry_afresh() {
        let mut s = jam();
        let end = s.ends_at().unwrap();
        let late = end + 3600 * SECOND;
        assert!(s.advance(late));
        assert_eq!(s.timeline.entry, Some(s.queue[1].id));
        assert_eq!(s.timeline.at_ns, late + LEAD_NS);
        assert!(
            !s.advance(late + 1),
            "one step, not a race through the queue"
        );
    }

    #[test]
    fn a_state_must_be_consistent() {
        let s = jam();
        assert!(s.is_consistent());
        let mut twice = s.clone();
        twice.queue.push(twice.queue[0].clone());
        assert!(!twice.is_consistent(), "an entry id twice");
        let mut beyond = s.clone();
        beyond.timeline.frame = u64::MAX / 2;
        assert!(!beyond.is_consistent(), "an anchor past the track's end");
        let mut far = s.clone();
        far.timeline.at_ns = u64::MAX - 5;
        assert!(!far.is_consistent(), "an instant about to overflow");
        let mut crowd = s;
        crowd.participants.push(crowd.participants[1].clone());
        assert!(!crowd.is_consistent(), "someone twice");
    }

    #[test]
    fn the_successor_is_the_longest_present_but_the_host() {
        let mut s = jam();
        assert_eq!(s.successor(), Some("a"));
        s.leave("h");
        assert_eq!(s.host, "a");
        assert_eq!(s.successor(), Some("b"));
    }

    #[test]
    fn removing_or_skipping_the_playing_entry_moves_on() {
        let mut s = jam();
        let first = s.queue[0].id;
        s.apply("h", Op::Remove { entry: first }, 11 * SECOND)
            .unwrap();
        assert_eq!(s.queue.len(), 1);
        assert_eq!(s.timeline.entry, Some(s.queue[0].id));
        s.apply("h", Op::Skip, 12 * SECOND).unwrap();
        assert_eq!(s.timeline.entry, None);
        assert_eq!(
            s.apply("h", Op::Remove { entry: first }, 13 * SECOND),
            Err(Refusal::NoEntry)
        );
    }

    #[test]
    fn moving_reorders_and_clamps() {
        let mut s = jam();
        s.apply("h", Op::Add(track("three", 10)), 11 * SECOND)
            .unwrap();
        let last = s.queue[2].id;
        s.apply("h", Op::Move { entry: last, to: 0 }, 12 * SECOND)
            .unwrap();
        assert_eq!(s.queue[0].id, last);
        s.apply(
            "h",
            Op::Move {
                entry: last,
                to: 99,
            },
            12 * SECOND,
        )
        .unwrap();
        assert_eq!(s.queue[2].id, last);
    }

    #[test]
    fn previous_goes_back_near_a_start_and_restarts_otherwise() {
        let mut s = jam();
        let (one, two) = (s.queue[0].id, s.queue[1].id);
        s.apply("h", Op::Jump { entry: two }, 20 * SECOND).unwrap();
        s.apply("h", Op::Previous, 21 * SECOND).unwrap();
        assert_eq!(s.timeline.entry, Some(one));
        s.apply("h", Op::Previous, 40 * SECOND).unwrap();
        assert_eq!((s.timeline.entry, s.timeline.frame), (Some(one), 0));
    }

    #[test]
    fn thirty_two_at_most() {
        let mut s = Session::new("j".into(), person("h"));
        for i in 1..MAX_PARTICIPANTS {
            s.join(person(&format!("p{i}"))).unwrap();
        }
        assert_eq!(s.join(person("late")), Err(Refusal::Full));
        // Someone already in may join again (a reconnect), and is not counted twice.
        s.join(person("p3")).unwrap();
        assert_eq!(s.participants.len(), MAX_PARTICIPANTS);
    }

    #[test]
    fn when_the_host_leaves_the_longest_present_hosts() {
        let mut s = jam();
        assert_eq!(s.leave("b"), None);
        assert_eq!(s.leave("h"), Some("a".to_string()));
        assert_eq!(s.host, "a");
        assert!(s.may_control("a"));
        assert_eq!(s.leave("nobody"), None);
        assert_eq!(s.leave("a"), None, "the last one out ends it");
        assert!(s.participants.is_empty());
    }

    #[test]
    fn a_report_is_news_only_when_the_state_or_the_error_moved() {
        let mut s = jam();
        let in_sync = |error_us| Standing {
            sync: crate::api::SyncState::InSync,
            error_us,
        };
        let seq = s.seq;
        assert!(s.report("a", in_sync(100)));
        assert!(!s.report("a", in_sync(300)), "0.2 ms is not news");
        assert!(s.report("a", in_sync(900)));
        assert!(s.report(
            "a",
            Standing {
                sync: crate::api::SyncState::Buffering,
                error_us: 900
            }
        ));
        assert!(!s.report("stranger", in_sync(0)));
        assert_eq!(s.seq, seq + 3);
    }

    #[test]
    fn rebasing_moves_the_anchor_onto_the_new_clock() {
        let mut s = jam();
        let at = s.timeline.at_ns;
        s.rebase(-3 * SECOND as i64);
        assert_eq!(s.timeline.at_ns, at - 3 * SECOND);
    }
}
