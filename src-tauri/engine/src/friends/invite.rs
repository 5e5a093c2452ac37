//! Invite links: `earshot://invite/<token>`.
//!
//! The token is base64url (no padding) of a small JSON object: the inviter's peer id, the
//! addresses it can be reached at (relayed ones included), a one-time 128-bit secret and an expiry.
//! Nothing in it needs signing: the connection to the peer id is authenticated by Noise, and only
//! the real inviter knows the secret it stored. Parsing is strict and every failure says what is
//! wrong, because a person pasted this.

use data_encoding::BASE64URL_NOPAD;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

pub const SCHEME_PREFIX: &str = "earshot://invite/";
/// Invites last a day unless the user picks otherwise.
pub const DEFAULT_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;
/// Tokens longer than this are refused before decoding (a real one is a few hundred bytes).
const MAX_TOKEN_LEN: usize = 4096;
const MAX_ADDRESSES: usize = 16;
const SECRET_LEN: usize = 16;

/// A decoded invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub inviter: PeerId,
    pub addresses: Vec<Multiaddr>,
    pub secret: [u8; SECRET_LEN],
    /// Unix milliseconds.
    pub expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u8,
    p: String,
    a: Vec<String>,
    s: String,
    e: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("That is not an Earshot invite: it should start with {SCHEME_PREFIX}")]
    NotAnInvite,
    #[error("The invite is damaged ({0}); copy the whole link again")]
    Malformed(String),
    #[error("The invite comes from a newer version of Earshot; update Earshot to use it")]
    UnknownVersion,
    #[error("The invite expired; ask your friend for a new one")]
    Expired,
    #[error("That invite is your own; send it to a friend instead")]
    OwnInvite,
}

impl Invite {
    pub fn new(
        inviter: PeerId,
        addresses: Vec<Multiaddr>,
        now_ms: i64,
        lifetime_ms: i64,
    ) -> Invite {
        Invite {
            inviter,
            addresses: addresses.into_iter().take(MAX_ADDRESSES).collect(),
            secret: rand::random(),
            expires_at: now_ms + lifetime_ms,
        }
    }

    pub fn secret_text(&self) -> String {
        BASE64URL_NOPAD.encode(&self.secret)
    }

    /// The `earshot://invite/…` link.
    pub fn to_link(&self) -> String {
        let wire = Wire {
            v: 1,
            p: self.inviter.to_base58(),
            a: self.addresses.iter().map(|a| a.to_string()).collect(),
            s: self.secret_text(),
            e: self.expires_at,
        };
        let json = serde_json::to_vec(&wire).expect("an invite to serialise");
        format!("{SCHEME_PREFIX}{}", BASE64URL_NOPAD.encode(&json))
    }

    /// Parses a link (or a bare token), checking its shape and expiry against `now_ms`.
    pub fn parse(text: &str, now_ms: i64) -> Result<Invite, InviteError> {
        let text = text.trim();
        let token = text
            .strip_prefix(SCHEME_PREFIX)
            .or_else(|| text.strip_prefix("earshot:invite/"))
            .ok_or(InviteError::NotAnInvite)?
            .trim_end_matches('/');
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(InviteError::Malformed(format!(
                "its code is {} characters long",
                token.len()
            )));
        }
        let bytes = BASE64URL_NOPAD.decode(token.as_bytes()).map_err(|_| {
            InviteError::Malformed("it contains characters that do not belong".into())
        })?;
        let wire: Wire = serde_json::from_slice(&bytes)
            .map_err(|_| InviteError::Malformed("its contents cannot be read".into()))?;
        if wire.v != 1 {
            return Err(InviteError::UnknownVersion);
        }
        let inviter: PeerId = wire
            .p
            .parse()
            .map_err(|_| InviteError::Malformed("the inviter's id is not valid".into()))?;
        if wire.a.len() > MAX_ADDRESSES {
            return Err(InviteError::Malformed("it lists too many addresses".into()));
        }
        let addresses = wire
            .a
            .iter()
            .map(|a| a.parse::<Multiaddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| InviteError::Malformed("an address in it is not valid".into()))?;
        let secret: [u8; SECRET_LEN] = BASE64URL_NOPAD
            .decode(wire.s.as_bytes())
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| InviteError::Malformed("its secret is not valid".into()))?;
        if wire.e <= now_ms {
            return Err(InviteError::Expired);
        }
        Ok(Invite {
            inviter,
            addresses,
            secret,
            expires_at: wire.e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn sample() -> Invite {
        let inviter = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let addr: Multiaddr = "/ip4/192.0.2.7/tcp/4001".parse().unwrap();
        Invite::new(inviter, vec![addr], NOW, DEFAULT_LIFETIME_MS)
    }

    #[test]
    fn a_link_parses_back_to_the_same_invite() {
        let invite = sample();
        let link = invite.to_link();
        assert!(link.starts_with("earshot://invite/"), "{link}");
        assert_eq!(Invite::parse(&link, NOW).unwrap(), invite);
    }

    #[test]
    fn surrounding_whitespace_from_a_paste_is_ignored() {
        let invite = sample();
        let pasted = format!("  {}\n", invite.to_link());
        assert_eq!(Invite::parse(&pasted, NOW).unwrap(), invite);
    }

    #[test]
    fn an_invite_expires_after_its_lifetime() {
        let link = sample().to_link();
        assert!(Invite::parse(&link, NOW + DEFAULT_LIFETIME_MS - 1).is_ok());
        assert_eq!(
            Invite::parse(&link, NOW + DEFAULT_LIFETIME_MS),
            Err(InviteError::Expired)
        );
    }

    #[test]
    fn two_invites_never_share_a_secret() {
        assert_ne!(sample().secret, sample().secret);
    }

    #[test]
    fn text_that_is_not_an_invite_says_so() {
        assert_eq!(
            Invite::parse("https://example.org", NOW),
            Err(InviteError::NotAnInvite)
        );
    }

    #[test]
    fn a_damaged_token_is_malformed() {
        let link = sample().to_link();
        let cut = &link[..link.len() - 10];
        assert!(matches!(
            Invite::parse(cut, NOW),
            Err(InviteError::Malformed(_))
        ));
        assert!(matches!(
            Invite::parse("earshot://invite/!!!", NOW),
            Err(InviteError::Malformed(_))
        ));
        let long = format!("earshot://invite/{}", "A".repeat(MAX_TOKEN_LEN + 1));
        assert!(matches!(
            Invite::parse(&long, NOW),
            Err(InviteError::Malformed(_))
        ));
    }

    #[test]
    fn a_token_with_a_bad_peer_id_is_malformed() {
        let json =
            br#"{"v":1,"p":"not-a-peer","a":[],"s":"AAAAAAAAAAAAAAAAAAAAAA","e":1900000000000}"#;
        let link = format!("{SCHEME_PREFIX}{}", BASE64URL_NOPAD.encode(json));
        assert!(
            matches!(Invite::parse(&link, NOW), Err(InviteError::Malformed(m)) if m.contains("id"))
        );
    }

    #[test]
    fn a_newer_version_asks_for_an_update() {
        let json = br#"{"v":9,"p":"x","a":[],"s":"","e":0}"#;
        let link = format!("{SCHEME_PREFIX}{}", BASE64URL_NOPAD.encode(json));
        assert_eq!(Invite::parse(&link, NOW), Err(InviteError::UnknownVersion));
    }
}
