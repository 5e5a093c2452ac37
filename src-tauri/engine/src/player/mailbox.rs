//! The player actor's end of the command channel to the audio thread. It never blocks.
//!
//! The actor runs on a tokio worker, and the audio thread may itself be waiting to hand the actor
//! a report (`blocking_send`): if the actor waited for room in the command channel, each could
//! wait on the other for good, and meanwhile a worker of a two-core machine's runtime would be
//! stuck. So when the channel is full (the audio thread is opening a slow device, say), commands
//! wait in a backlog here that keeps only the latest command of each kind — every [`Command`]
//! either supersedes the previous one of its kind (a load, the next track, pause, volume, device)
//! or repeats it (stop, shutdown) — so the backlog holds at most one per kind however long the
//! audio thread is busy. The actor retries it every few milliseconds ([`Mailbox::flush`]).

use std::collections::VecDeque;
use std::mem::discriminant;
use std::sync::mpsc::{SyncSender, TrySendError};

use super::audio::Command;

pub struct Mailbox {
    channel: SyncSender<Command>,
    /// Commands that found the channel full, oldest first; at most one of each kind.
    backlog: VecDeque<Command>,
}

impl Mailbox {
    pub fn new(channel: SyncSender<Command>) -> Self {
        Self {
            channel,
            backlog: VecDeque::new(),
        }
    }

    /// Hands `command` to the audio thread, or keeps it for [`Mailbox::flush`] when the channel
    /// is full. Commands reach the thread in the order sent (older ones of the same kind aside).
    pub fn send(&mut self, command: Command) {
        let command = if self.flush() {
            match self.channel.try_send(command) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(command)) => command,
            }
        } else {
            command
        };
        let kind = discriminant(&command);
        self.backlog.retain(|waiting| discriminant(waiting) != kind);
        self.backlog.push_back(command);
    }

    /// Moves what fits of the backlog into the channel. True when nothing is left waiting.
    pub fn flush(&mut self) -> bool {
        while let Some(command) = self.backlog.pop_front() {
            match self.channel.try_send(command) {
                Ok(()) => {}
                Err(TrySendError::Full(command)) => {
                    self.backlog.push_front(command);
                    return false;
                }
                // The audio thread is gone: nobody will ever read these.
                Err(TrySendError::Disconnected(_)) => self.backlog.clear(),
            }
        }
        true
    }

    /// Whether commands are waiting for room.
    pub fn backlogged(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// The channel and the waiting commands, for a shutdown that delivers them with blocking
    /// sends off the async workers (once nothing the audio thread waits for depends on the actor).
    pub fn take(&mut self) -> (SyncSender<Command>, Vec<Command>) {
        (self.channel.clone(), self.backlog.drain(..).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::mpsc::{sync_channel, Receiver};

    fn load(id: u64) -> Command {
        Command::Load {
            id,
            path: PathBuf::from(format!("/music/{id}.flac")),
            start: 0,
            paused: false,
            at_ns: None,
            gain: 0.5,
            timing: crate::player::output::Timing::Relaxed,
        }
    }

    fn received(commands: &Receiver<Command>) -> Vec<String> {
        commands.try_iter().map(|c| format!("{c:?}")).collect()
    }

    #[test]
    fn a_full_channel_never_blocks_and_the_backlog_keeps_the_latest_of_each_kind() {
        let (channel, commands) = sync_channel(2);
        let mut mailbox = Mailbox::new(channel);
        // Nobody reads: a blocking send would never return from the third command on.
        mailbox.send(Command::Pause(true));
        mailbox.send(Command::Volume(0.1));
        for i in 0..10_000 {
            mailbox.send(Command::Volume(i as f32 / 10_000.0));
            mailbox.send(load(i));
            mailbox.send(Command::Pause(i % 2 == 0));
        }
        mailbox.send(Command::Stop);
        mailbox.send(Command::Volume(0.5));
        assert!(mailbox.backlogged());
        assert_eq!(
            mailbox.backlog.len(),
            4,
            "one load, one pause, one stop, one volume"
        );

        assert!(!mailbox.flush(), "the channel is still full");
        assert_eq!(
            received(&commands),
            vec!["Pause(true)".to_string(), "Volume(0.1)".to_string()]
        );
        assert!(!mailbox.flush(), "two fit, two wait");
        assert_eq!(
            received(&commands),
            vec![format!("{:?}", load(9_999)), "Pause(false)".to_string()]
        );
        assert!(mailbox.flush());
        assert!(!mailbox.backlogged());
        assert_eq!(
            received(&commands),
            vec!["Stop".to_string(), "Volume(0.5)".to_string()]
        );
    }

    #[test]
    fn commands_keep_their_order_while_a_backlog_waits() {
        let (channel, commands) = sync_channel(1);
        let mut mailbox = Mailbox::new(channel);
        mailbox.send(Command::Stop);
        mailbox.send(Command::Volume(0.2));
        // Room again, but the volume waits in the backlog: the load must not overtake it.
        assert_eq!(received(&commands), vec!["Stop".to_string()]);
        mailbox.send(load(1));
        assert_eq!(received(&commands), vec!["Volume(0.2)".to_string()]);
        assert!(mailbox.flush());
        assert_eq!(received(&commands), vec![format!("{:?}", load(1))]);
    }

    #[test]
    fn a_load_and_a_next_track_that_wait_in_the_backlog_arrive_with_their_gains() {
        use crate::player::audio::Next;
        let (channel, commands) = sync_channel(1);
        let mut mailbox = Mailbox::new(channel);
        mailbox.send(Command::Stop);
        // The audio thread is busy (a slow device): everything below waits in the backlog.
        mailbox.send(load(1));
        mailbox.send(Command::SetNext(Some(Next {
            id: 2,
            path: PathBuf::from("/music/2.flac"),
            gain: 0.25,
        })));
        for i in 0..100 {
            mailbox.send(Command::Volume(i as f32 / 100.0));
        }
        let mut arrived = Vec::new();
        loop {
            arrived.extend(commands.try_iter());
            if mailbox.flush() {
                break;
            }
        }
        arrived.extend(commands.try_iter());
        let gains: Vec<(u64, f32)> = arrived
            .iter()
            .filter_map(|c| match c {
                Command::Load { id, gain, .. } => Some((*id, *gain)),
                Command::SetNext(Some(next)) => Some((next.id, next.gain)),
                _ => None,
            })
            .collect();
        assert_eq!(gains, vec![(1, 0.5), (2, 0.25)]);
    }

    #[test]
    fn a_gone_audio_thread_drops_what_waits() {
        let (channel, commands) = sync_channel(1);
        let mut mailbox = Mailbox::new(channel);
        mailbox.send(Command::Stop);
        mailbox.send(Command::Shutdown);
        drop(commands);
        assert!(mailbox.flush());
        mailbox.send(Command::Stop);
        assert!(!mailbox.backlogged());
    }
}
