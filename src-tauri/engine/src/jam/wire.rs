//! The `/earshot/jam/1` messages, and what a peer's message must satisfy before anything acts on
//! it. (The clock exchanges are plain streams: `net/clock.rs`.)
//!
//! Jam messages are CBOR of at most [`MAX_JAM_MESSAGE`]: a whole state of 32 participants and a
//! 200-entry queue fits. Every text field is cleaned like a name and cut, every count bounded.

use serde::{Deserialize, Serialize};

use super::session::{JamTrack, Op, Refusal, Session, Standing, MAX_PARTICIPANTS, MAX_QUEUE};

/// Largest jam message: a full state — 32 participants (a 256-character name, 8 addresses of 256
/// bytes) and 200 entries (three 256-character texts, at up to 4 bytes a character) — is under
/// 1 MiB even at its longest.
pub const MAX_JAM_MESSAGE: u64 = 1024 * 1024;
/// Longest title, artist, album or name kept (characters).
pub const MAX_TEXT: usize = crate::presence::wire::MAX_FIELD_CHARS;
/// Addresses kept per participant, and the longest one.
const MAX_ADDRS: usize = 8;
const MAX_ADDR_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JamRequest {
    /// "Join my jam" (from its host), with how long the invitation has left; `answers` names the
    /// request it answers (then the receiver, who asked, joins at once).
    Invite {
        id: String,
        jam: String,
        host_name: String,
        playing: Option<JamTrack>,
        left_ms: u64,
        answers: Option<String>,
    },
    /// "Host a jam for us."
    Request { id: String, left_ms: u64 },
    /// The invitation or request `id` is withdrawn (by who sent it) or declined (by who got it).
    Withdraw { id: String },
    /// "I accept invitation `invite`": join `jam`.
    Join {
        jam: String,
        invite: String,
        name: String,
        addrs: Vec<String>,
    },
    /// "I have left."
    Leave { jam: String },
    /// A participant asks the host for a change.
    Op { jam: String, op: Op },
    /// The host's state, after every change and periodically.
    State(Box<Session>),
    /// A participant tells the host how it stands (every few seconds, and when it changes).
    Report { jam: String, standing: Standing },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JamResponse {
    Ok,
    /// Joined: the state to align to.
    Joined(Box<Session>),
    Refused(Refusal),
    /// Overwhelmed: try again shortly.
    Busy,
}

/// Cleans text from a peer like a friend's activity: no control or bidi-override characters, at
/// most [`MAX_TEXT`] characters.
pub fn clean(text: &str) -> String {
    crate::presence::wire::clean(text)
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn valid_track(track: &JamTrack) -> bool {
    track.hash.len() == 64
        && track.hash.bytes().all(|b| b.is_ascii_hexdigit())
        && (8_000..=384_000).contains(&track.sample_rate)
        && (1..=24 * 3600 * 1000).contains(&track.duration_ms)
}

fn clean_track(track: &mut JamTrack) {
    track.title = clean(&track.title);
    track.artist = clean(&track.artist);
    track.album = clean(&track.album);
    track.hash.make_ascii_lowercase();
}

/// Why a message was refused before anything acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("a malformed identifier")]
    Id,
    #[error("a track that cannot be true")]
    Track,
    #[error("too many participants or queue entries")]
    TooBig,
    #[error("an expiry beyond two minutes")]
    Expiry,
    #[error(
        "a state that cannot be true (ids twice, an anchor past its track, overflowing numbers)"
    )]
    Inconsistent,
}

/// Checks and cleans a message from a peer.
pub fn validate(request: &mut JamRequest) -> Result<(), Invalid> {
    use super::invites::EXPIRY_MS;
    match request {
        JamRequest::Invite {
            id,
            jam,
            host_name,
            playing,
            left_ms,
            answers,
        } => {
            if !valid_id(id) || !valid_id(jam) || answers.as_deref().is_some_and(|a| !valid_id(a)) {
                return Err(Invalid::Id);
            }
            if *left_ms > EXPIRY_MS {
                return Err(Invalid::Expiry);
            }
            if let Some(track) = playing {
                if !valid_track(track) {
                    return Err(Invalid::Track);
                }
                clean_track(track);
            }
            *host_name = clean(host_name);
        }
        JamRequest::Request { id, left_ms } => {
            if !valid_id(id) {
                return Err(Invalid::Id);
            }
            if *left_ms > EXPIRY_MS {
                return Err(Invalid::Expiry);
            }
        }
        JamRequest::Withdraw { id } => {
            if !valid_id(id) {
                return Err(Invalid::Id);
            }
        }
        JamRequest::Join {
            jam,
            invite,
            name,
            addrs,
        } => {
            if !valid_id(jam) || !valid_id(invite) {
                return Err(Invalid::Id);
            }
            *name = clean(name);
            addrs.truncate(MAX_ADDRS);
            addrs.retain(|a| a.len() <= MAX_ADDR_LEN && a.parse::<libp2p::Multiaddr>().is_ok());
        }
        JamRequest::Leave { jam } | JamRequest::Report { jam, .. } => {
            if !valid_id(jam) {
                return Err(Invalid::Id);
            }
        }
        JamRequest::Op { jam, op } => {
            if !valid_id(jam) {
                return Err(Invalid::Id);
            }
            if let Op::Add(track) = op {
                if !valid_track(track) {
                    return Err(Invalid::Track);
                }
                clean_track(track);
            }
        }
        JamRequest::State(session) => validate_session(session)?,
    }
    Ok(())
}

/// Checks and cleans a state from a host (or in a `Joined` answer).
pub fn validate_session(session: &mut Session) -> Result<(), Invalid> {
    if !valid_id(&session.id) {
        return Err(Invalid::Id);
    }
    if session.participants.len() > MAX_PARTICIPANTS || session.queue.len() > MAX_QUEUE {
        return Err(Invalid::TooBig);
    }
    for p in &mut session.participants {
        if p.peer.parse::<libp2p::PeerId>().is_err() {
            return Err(Invalid::Id);
        }
        p.name = clean(&p.name);
        p.addrs.truncate(MAX_ADDRS);
        p.addrs
            .retain(|a| a.len() <= MAX_ADDR_LEN && a.parse::<libp2p::Multiaddr>().is_ok());
    }
    if !session.is_in(&session.host.clone()) {
        return Err(Invalid::Id);
    }
    for entry in &mut session.queue {
        if !valid_track(&entry.track) || entry.added_by.parse::<libp2p::PeerId>().is_err() {
            return Err(Invalid::Track);
        }
        clean_track(&mut entry.track);
        entry.added_by_name = clean(&entry.added_by_name);
    }
    if let Some(id) = session.timeline.entry {
        if session.entry(id).is_none() {
            return Err(Invalid::Track);
        }
    }
    if !session.is_consistent() {
        return Err(Invalid::Inconsistent);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jam::session::Participant;

    fn peer() -> String {
        libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
            .to_string()
    }

    fn track() -> JamTrack {
        JamTrack {
            hash: "AB".repeat(32),
            title: "Gulls\u{202e}".into(),
            artist: "x".repeat(1000),
            album: String::new(),
            duration_ms: 1000,
            sample_rate: 44_100,
        }
    }

    #[test]
    fn text_is_cleaned_and_cut() {
        let mut request = JamRequest::Op {
            jam: "abc".into(),
            op: Op::Add(track()),
        };
        validate(&mut request).unwrap();
        let JamRequest::Op { op: Op::Add(t), .. } = request else {
            panic!("still an add")
        };
        assert_eq!(t.title, "Gulls");
        assert!(t.artist.chars().count() <= MAX_TEXT);
        assert_eq!(t.hash, "ab".repeat(32));
    }

    #[test]
    fn impossible_tracks_and_ids_are_refused() {
        let mut bad_rate = track();
        bad_rate.sample_rate = 0;
        let mut request = JamRequest::Op {
            jam: "abc".into(),
            op: Op::Add(bad_rate),
        };
        assert_eq!(validate(&mut request), Err(Invalid::Track));
        let mut request = JamRequest::Leave {
            jam: "../../etc".into(),
        };
        assert_eq!(validate(&mut request), Err(Invalid::Id));
        let mut request = JamRequest::Request {
            id: "a".into(),
            left_ms: 10 * 60 * 1000,
        };
        assert_eq!(validate(&mut request), Err(Invalid::Expiry));
    }

    #[test]
    fn a_state_must_hold_together() {
        let host = peer();
        let mut session = Session::new(
            "j1".into(),
            Participant {
                standing: None,
                peer: host.clone(),
                name: "Ada\u{7}".into(),
                addrs: vec!["/ip4/127.0.0.1/tcp/1".into(), "nonsense".into()],
            },
        );
        session.apply(&host, Op::Add(track()), 0).unwrap();
        let mut good = session.clone();
        validate_session(&mut good).unwrap();
        assert_eq!(good.participants[0].name, "Ada");
        assert_eq!(good.participants[0].addrs.len(), 1);

        let mut no_host = session.clone();
        no_host.host = peer();
        assert_eq!(validate_session(&mut no_host), Err(Invalid::Id));

        let mut dangling = session.clone();
        dangling.timeline.entry = Some(999);
        assert_eq!(validate_session(&mut dangling), Err(Invalid::Track));

        let mut crowded = session;
        for _ in 0..MAX_PARTICIPANTS {
            crowded.participants.push(crowded.participants[0].clone());
        }
        assert_eq!(validate_session(&mut crowded), Err(Invalid::TooBig));
    }
}
