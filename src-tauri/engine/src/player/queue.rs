//! The play queue: what plays now, what comes next, shuffle and repeat. Pure state — the player
//! actor owns one and asks it what to play; tests drive it directly. Its [`Queue::version`] goes
//! up whenever the entries change (not when only the current one moves), so the actor knows when
//! to send the whole queue out and when the small player state is enough.

use crate::api::{RepeatMode, Track};

/// Tracks in play order with a cursor on the current one.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    items: Vec<Track>,
    index: Option<usize>,
    shuffle: bool,
    repeat: RepeatMode,
    /// The order before shuffling, restored when shuffle is turned off.
    unshuffled: Option<Vec<Track>>,
    /// State of the small xorshift generator used for shuffling (seeded by the caller).
    seed: u64,
    /// Changes of the entries (their order included) so far.
    version: u64,
}

impl Queue {
    pub fn new(seed: u64) -> Self {
        Self {
            seed: seed | 1,
            ..Self::default()
        }
    }

    pub fn items(&self) -> &[Track] {
        &self.items
    }

    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// How many times the entries changed (added, removed, moved, shuffled, replaced, cleared).
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn current(&self) -> Option<&Track> {
        self.index.and_then(|i| self.items.get(i))
    }

    pub fn shuffle(&self) -> bool {
        self.shuffle
    }

    pub fn repeat(&self) -> RepeatMode {
        self.repeat
    }

    pub fn set_repeat(&mut self, mode: RepeatMode) {
        self.repeat = mode;
    }

    /// Replaces the queue and makes `start` current (shuffling the rest when shuffle is on).
    pub fn replace(&mut self, tracks: Vec<Track>, start: usize) -> Option<&Track> {
        self.version += 1;
        self.unshuffled = None;
        self.index = (start < tracks.len()).then_some(start);
        self.items = tracks;
        if self.shuffle {
            self.shuffle_upcoming();
        }
        self.current()
    }

    /// Inserts tracks right after the current one (at the front when nothing plays).
    pub fn play_next(&mut self, tracks: Vec<Track>) {
        self.version += 1;
        let at = self.index.map_or(0, |i| i + 1).min(self.items.len());
        if let Some(original) = &mut self.unshuffled {
            original.extend(tracks.iter().cloned());
        }
        self.items.splice(at..at, tracks);
    }

    pub fn append(&mut self, tracks: Vec<Track>) {
        self.version += 1;
        if let Some(original) = &mut self.unshuffled {
            original.extend(tracks.iter().cloned());
        }
        self.items.extend(tracks);
    }

    /// Makes entry `index` current; None when out of range.
    pub fn jump(&mut self, index: usize) -> Option<&Track> {
        if index >= self.items.len() {
            return None;
        }
        self.index = Some(index);
        self.current()
    }

    /// Moves an entry; the current track stays current. False when out of range.
    pub fn move_item(&mut self, from: usize, to: usize) -> bool {
        if from >= self.items.len() || to >= self.items.len() {
            return false;
        }
        self.version += 1;
        let item = self.items.remove(from);
        self.items.insert(to, item);
        if let Some(current) = self.index {
            self.index = Some(if current == from {
                to
            } else if from < current && to >= current {
                current - 1
            } else if from > current && to <= current {
                current + 1
            } else {
                current
            });
        }
        true
    }

    /// Removes an entry. Returns None when out of range, else whether the current track was the
    /// one removed (the entry after it, if any, is then current).
    pub fn remove(&mut self, index: usize) -> Option<bool> {
        if index >= self.items.len() {
            return None;
        }
        self.version += 1;
        let removed = self.items.remove(index);
        if let Some(original) = &mut self.unshuffled {
            if let Some(at) = original.iter().position(|t| t == &removed) {
                original.remove(at);
            }
        }
        let current = self.index?;
        Some(match index.cmp(&current) {
            std::cmp::Ordering::Less => {
                self.index = Some(current - 1);
                false
            }
            std::cmp::Ordering::Equal => {
                if current >= self.items.len() {
                    self.index = None;
                }
                true
            }
            std::cmp::Ordering::Greater => false,
        })
    }

    pub fn clear(&mut self) {
        self.version += 1;
        self.items.clear();
        self.unshuffled = None;
        self.index = None;
    }

    /// What follows the current track when it ends by itself (for gapless preloading).
    pub fn peek_after_end(&self) -> Option<(usize, &Track)> {
        let current = self.index?;
        let next = match self.repeat {
            RepeatMode::One => current,
            _ if current + 1 < self.items.len() => current + 1,
            RepeatMode::All if !self.items.is_empty() => 0,
            _ => return None,
        };
        self.items.get(next).map(|t| (next, t))
    }

    /// The current track ended by itself: moves on as repeat says; None at the end of the queue.
    pub fn advance_after_end(&mut self) -> Option<&Track> {
        match self.peek_after_end().map(|(i, _)| i) {
            Some(next) => {
                self.index = Some(next);
                self.current()
            }
            None => {
                self.index = None;
                None
            }
        }
    }

    /// The listener pressed Next: the following entry (wrapping when repeating), repeat-one aside.
    pub fn forward(&mut self) -> Option<&Track> {
        let current = self.index?;
        let next = if current + 1 < self.items.len() {
            current + 1
        } else if self.repeat != RepeatMode::Off {
            0
        } else {
            return None;
        };
        self.index = Some(next);
        self.current()
    }

    /// The listener pressed Previous (the caller restarts the track instead past its start).
    pub fn back(&mut self) -> Option<&Track> {
        let current = self.index?;
        let previous = if current > 0 {
            current - 1
        } else if self.repeat != RepeatMode::Off {
            self.items.len() - 1
        } else {
            0
        };
        self.index = Some(previous);
        self.current()
    }

    /// Turns shuffle on (the entries after the current one are shuffled) or off (the original
    /// order comes back, the current track still current).
    pub fn set_shuffle(&mut self, on: bool) {
        if on == self.shuffle {
            return;
        }
        self.shuffle = on;
        self.version += 1;
        if on {
            self.unshuffled = Some(self.items.clone());
            self.shuffle_upcoming();
        } else if let Some(original) = self.unshuffled.take() {
            let current = self.current().cloned();
            self.items = original;
            self.index = current.and_then(|c| self.items.iter().position(|t| *t == c));
        }
    }

    fn shuffle_upcoming(&mut self) {
        let start = self.index.map_or(0, |i| i + 1);
        if self.unshuffled.is_none() {
            self.unshuffled = Some(self.items.clone());
        }
        // Fisher–Yates over the upcoming entries.
        let start = start.min(self.items.len());
        let mut seed = self.seed;
        let upcoming = &mut self.items[start..];
        for i in (1..upcoming.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let j = (seed % (i as u64 + 1)) as usize;
            upcoming.swap(i, j);
        }
        self.seed = seed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(n: u32) -> Track {
        Track {
            track_no: Some(n),
            ..Track::for_tests(
                &format!("h{n}"),
                &format!("/music/{n}.flac"),
                &format!("Song {n}"),
            )
        }
    }

    fn queue_of(n: u32) -> Queue {
        let mut q = Queue::new(7);
        q.replace((0..n).map(track).collect(), 0);
        q
    }

    fn titles(q: &Queue) -> Vec<u32> {
        q.items().iter().map(|t| t.track_no.unwrap()).collect()
    }

    #[test]
    fn the_queue_ends_after_its_last_track_unless_repeating() {
        let mut q = queue_of(2);
        assert_eq!(q.advance_after_end().map(|t| t.track_no), Some(Some(1)));
        assert!(q.advance_after_end().is_none());
        assert_eq!(q.index(), None);

        let mut q = queue_of(2);
        q.set_repeat(RepeatMode::All);
        q.advance_after_end();
        assert_eq!(q.advance_after_end().map(|t| t.track_no), Some(Some(0)));
    }

    #[test]
    fn repeat_one_replays_the_track_but_next_still_moves_on() {
        let mut q = queue_of(3);
        q.set_repeat(RepeatMode::One);
        assert_eq!(q.peek_after_end().map(|(i, _)| i), Some(0));
        assert_eq!(q.forward().map(|t| t.track_no), Some(Some(1)));
    }

    #[test]
    fn play_next_inserts_right_after_the_current_track() {
        let mut q = queue_of(3);
        q.jump(1);
        q.play_next(vec![track(9)]);
        assert_eq!(titles(&q), vec![0, 1, 9, 2]);
        assert_eq!(q.index(), Some(1));
    }

    #[test]
    fn moving_entries_keeps_the_current_track_current() {
        let mut q = queue_of(4);
        q.jump(2);
        assert!(q.move_item(0, 3));
        assert_eq!(titles(&q), vec![1, 2, 3, 0]);
        assert_eq!(q.current().unwrap().track_no, Some(2));
        assert!(q.move_item(1, 0));
        assert_eq!(q.current().unwrap().track_no, Some(2));
        assert!(!q.move_item(0, 9));
    }

    #[test]
    fn removing_the_current_track_makes_the_next_one_current() {
        let mut q = queue_of(3);
        q.jump(1);
        assert_eq!(q.remove(1), Some(true));
        assert_eq!(q.current().unwrap().track_no, Some(2));
        assert_eq!(q.remove(0), Some(false));
        assert_eq!(q.index(), Some(0));
        assert_eq!(q.remove(5), None);
    }

    #[test]
    fn shuffle_keeps_the_current_track_and_off_restores_the_order() {
        let mut q = queue_of(20);
        q.jump(3);
        q.set_shuffle(true);
        assert_eq!(q.index(), Some(3));
        assert_eq!(titles(&q)[..4], [0, 1, 2, 3]);
        assert_ne!(
            titles(&q)[4..],
            (4..20).collect::<Vec<_>>()[..],
            "upcoming entries are shuffled"
        );
        let mut sorted = titles(&q);
        sorted.sort();
        assert_eq!(
            sorted,
            (0..20).collect::<Vec<_>>(),
            "nothing lost or doubled"
        );
        q.forward();
        let playing = q.current().unwrap().track_no;
        q.set_shuffle(false);
        assert_eq!(titles(&q), (0..20).collect::<Vec<_>>());
        assert_eq!(q.current().unwrap().track_no, playing);
    }

    #[test]
    fn the_version_counts_changes_of_the_entries_not_moves_of_the_cursor() {
        let mut q = queue_of(5);
        let mut version = q.version();
        let mut changed = |q: &Queue, what: &str, expected: bool| {
            assert_eq!(q.version() != version, expected, "{what}");
            version = q.version();
        };
        q.jump(2);
        changed(&q, "jump", false);
        q.forward();
        q.back();
        q.advance_after_end();
        changed(&q, "next, previous and the end of a track", false);
        q.set_repeat(RepeatMode::All);
        changed(&q, "repeat", false);
        q.set_shuffle(false);
        changed(&q, "shuffle already off", false);
        assert!(!q.move_item(0, 9));
        assert_eq!(q.remove(9), None);
        changed(&q, "refused edits", false);
        q.append(vec![track(5)]);
        changed(&q, "append", true);
        q.play_next(vec![track(6)]);
        changed(&q, "play next", true);
        q.move_item(0, 1);
        changed(&q, "move", true);
        q.remove(0);
        changed(&q, "remove", true);
        q.set_shuffle(true);
        changed(&q, "shuffle on", true);
        q.set_shuffle(false);
        changed(&q, "shuffle off", true);
        q.replace(vec![track(1)], 0);
        changed(&q, "replace", true);
        q.clear();
        changed(&q, "clear", true);
    }

    #[test]
    fn previous_stops_at_the_first_track_unless_repeating() {
        let mut q = queue_of(3);
        assert_eq!(q.back().unwrap().track_no, Some(0));
        q.set_repeat(RepeatMode::All);
        assert_eq!(q.back().unwrap().track_no, Some(2));
    }
}
