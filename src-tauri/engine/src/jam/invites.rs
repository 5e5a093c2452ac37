//! Pending invitations and requests to jam, both ways, each expiring after [`EXPIRY_MS`].
//! Pure: the caller passes the time in (milliseconds on the engine clock).
//!
//! The wire carries how long an invitation has left, never an instant, so two peers whose clocks
//! disagree still see it disappear together.

/// How long an invitation or a request waits for an answer.
pub const EXPIRY_MS: u64 = 120_000;
/// How long this peer's own invitations and requests last: [`EXPIRY_MS`], or less when the
/// environment variable `EARSHOT_JAM_INVITE_MS` says so (tests of expiry; never more).
pub fn lifetime_ms() -> u64 {
    static LIFETIME: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIFETIME.get_or_init(|| {
        std::env::var("EARSHOT_JAM_INVITE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(EXPIRY_MS, |ms| ms.clamp(1_000, EXPIRY_MS))
    })
}

/// Pending invitations kept at most (each way, all peers): a flood is refused, not stored.
pub const MAX_PENDING: usize = 64;
/// Pending invitations from one peer at most.
pub const MAX_FROM_ONE: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// To join a jam that is on (`jam` is set).
    Invite,
    /// "Host a jam for us" — the one asked hosts, the one asking joins.
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Incoming,
    Outgoing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Random, hex; names the invitation on both sides.
    pub id: String,
    pub kind: Kind,
    pub direction: Direction,
    /// Who sent it (incoming) or who it is for (outgoing).
    pub peer: String,
    /// The jam it is for (invites).
    pub jam: Option<String>,
    /// The request an invite answers: accepting a request sends the requester an invite that
    /// joins at once.
    pub answers: Option<String>,
    /// What the host plays (incoming invitations), for the card.
    pub playing: Option<String>,
    pub expires_at_ms: u64,
}

impl Pending {
    pub fn left_ms(&self, now_ms: u64) -> u64 {
        self.expires_at_ms.saturating_sub(now_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many waiting already (from this peer, or at all).
    TooMany,
    /// The same id is already pending.
    Duplicate,
}

#[derive(Debug, Default)]
pub struct Invites {
    pending: Vec<Pending>,
}

impl Invites {
    /// Keeps an invitation; an incoming one may not flood the list.
    pub fn add(&mut self, invite: Pending) -> Result<(), Refused> {
        if self.pending.iter().any(|p| p.id == invite.id) {
            return Err(Refused::Duplicate);
        }
        let same_way = self
            .pending
            .iter()
            .filter(|p| p.direction == invite.direction);
        if same_way.clone().count() >= MAX_PENDING {
            return Err(Refused::TooMany);
        }
        if invite.direction == Direction::Incoming
            && same_way.filter(|p| p.peer == invite.peer).count() >= MAX_FROM_ONE
        {
            return Err(Refused::TooMany);
        }
        self.pending.push(invite);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Pending> {
        self.pending.iter().find(|p| p.id == id)
    }

    /// Takes an invitation out (answered, cancelled).
    pub fn take(&mut self, id: &str) -> Option<Pending> {
        let index = self.pending.iter().position(|p| p.id == id)?;
        Some(self.pending.remove(index))
    }

    /// Drops everything that expired by `now_ms`; returns what went.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Pending> {
        let (gone, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.expires_at_ms <= now_ms);
        self.pending = kept;
        gone
    }

    /// Drops everything to or from `peer` (they were blocked or unfriended); returns what went.
    pub fn forget_peer(&mut self, peer: &str) -> Vec<Pending> {
        let (gone, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.peer == peer);
        self.pending = kept;
        gone
    }

    /// Drops the outgoing invitations of a jam (it ended, or we no longer host it).
    pub fn forget_jam(&mut self, jam: &str) -> Vec<Pending> {
        let (gone, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.direction == Direction::Outgoing && p.jam.as_deref() == Some(jam));
        self.pending = kept;
        gone
    }

    /// The next instant something expires.
    pub fn next_expiry(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.expires_at_ms).min()
    }

    pub fn all(&self) -> &[Pending] {
        &self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(id: &str, peer: &str, direction: Direction, at: u64) -> Pending {
        Pending {
            id: id.into(),
            kind: Kind::Invite,
            direction,
            peer: peer.into(),
            jam: Some("jam".into()),
            answers: None,
            playing: None,
            expires_at_ms: at + EXPIRY_MS,
        }
    }

    #[test]
    fn an_invitation_expires_after_two_minutes() {
        let mut invites = Invites::default();
        invites
            .add(invite("i", "ada", Direction::Incoming, 1_000))
            .unwrap();
        assert_eq!(invites.get("i").unwrap().left_ms(61_000), 60_000);
        assert!(invites.expire(120_999).is_empty());
        let gone = invites.expire(121_000);
        assert_eq!(gone.len(), 1);
        assert!(invites.get("i").is_none());
        assert_eq!(invites.next_expiry(), None);
    }

    #[test]
    fn one_peer_cannot_flood_the_list() {
        let mut invites = Invites::default();
        invites
            .add(invite("1", "mallory", Direction::Incoming, 0))
            .unwrap();
        invites
            .add(invite("2", "mallory", Direction::Incoming, 0))
            .unwrap();
        assert_eq!(
            invites.add(invite("3", "mallory", Direction::Incoming, 0)),
            Err(Refused::TooMany)
        );
        assert_eq!(
            invites.add(invite("1", "ada", Direction::Incoming, 0)),
            Err(Refused::Duplicate)
        );
        invites
            .add(invite("4", "ada", Direction::Incoming, 0))
            .unwrap();
        // Outgoing ones are ours: any number to one peer (up to the total).
        for i in 0..5 {
            invites
                .add(invite(&format!("o{i}"), "ada", Direction::Outgoing, 0))
                .unwrap();
        }
    }

    #[test]
    fn the_list_has_a_ceiling() {
        let mut invites = Invites::default();
        for i in 0..MAX_PENDING {
            invites
                .add(invite(
                    &format!("{i}"),
                    &format!("p{i}"),
                    Direction::Incoming,
                    0,
                ))
                .unwrap();
        }
        assert_eq!(
            invites.add(invite("x", "late", Direction::Incoming, 0)),
            Err(Refused::TooMany)
        );
    }

    #[test]
    fn answering_or_forgetting_takes_them_out() {
        let mut invites = Invites::default();
        invites
            .add(invite("a", "ada", Direction::Outgoing, 0))
            .unwrap();
        invites
            .add(invite("b", "bob", Direction::Incoming, 0))
            .unwrap();
        invites
            .add(invite("c", "bob", Direction::Outgoing, 0))
            .unwrap();
        assert_eq!(invites.take("a").unwrap().peer, "ada");
        assert!(invites.take("a").is_none());
        assert_eq!(invites.forget_peer("bob").len(), 2);
        assert!(invites.all().is_empty());
    }
}
