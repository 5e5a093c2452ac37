//! How peers are named on screen: names they send us, made safe, and short fingerprints of peer
//! ids so two friends who both call themselves "Robin" can be told apart.

use libp2p::PeerId;

use crate::profile;

/// Characters of a peer id shown as its fingerprint (the tail: the head is the same for every
/// ed25519 id, `12D3KooW`). 8 base58 characters are ~47 bits: enough to tell friends apart and to
/// compare by eye, not a security proof (the full id is in the invite and shown on demand).
const FINGERPRINT_CHARS: usize = 8;

/// `Xy7Q-9kLm`: the last 8 characters of the peer id, in two groups.
pub fn fingerprint(peer: &PeerId) -> String {
    let text = peer.to_base58();
    let tail = &text[text.len().saturating_sub(FINGERPRINT_CHARS)..];
    let (a, b) = tail.split_at(tail.len() / 2);
    format!("{a}-{b}")
}

/// The name shown for a peer who has not told us theirs.
pub fn short_id(peer: &PeerId) -> String {
    format!("Peer {}", fingerprint(peer))
}

/// A name another peer sent us, under the same rules as a name typed in Settings
/// ([`profile::validate_display_name`]), applied by removing what is not allowed rather than
/// refusing: no control characters, no bidirectional overrides or isolates (which can make a name
/// render reversed or swallow the text after it), trimmed, at most 64 characters; `None` when
/// nothing is left.
pub fn sanitize_name(name: &str) -> Option<String> {
    let clean: String = name
        .chars()
        .filter(|c| !profile::is_forbidden_in_name(*c))
        .collect();
    let clean: String = clean.trim().chars().take(profile::MAX_NAME_CHARS).collect();
    let clean = clean.trim_end();
    (!clean.is_empty()).then(|| clean.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_names_are_cleaned_before_they_are_shown() {
        assert_eq!(sanitize_name("  Ada\u{7}  "), Some("Ada".into()));
        assert_eq!(sanitize_name("\n\t"), None);
        assert_eq!(sanitize_name(&"x".repeat(500)).unwrap().chars().count(), 64);
    }

    #[test]
    fn bidirectional_overrides_are_stripped_from_remote_names() {
        // "Robin" written with a right-to-left override renders as "nriboR…" without this.
        assert_eq!(sanitize_name("\u{202E}niboR\u{202C}"), Some("niboR".into()));
        for control in [
            '\u{202A}', '\u{202B}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
            '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            assert_eq!(
                sanitize_name(&format!("A{control}da")),
                Some("Ada".into()),
                "{control:?}"
            );
        }
        assert_eq!(sanitize_name("\u{202E}\u{2066}"), None);
    }

    #[test]
    fn emoji_sequences_survive_cleaning() {
        // Zero-width joiners hold family and profession emoji together; they are harmless.
        assert_eq!(sanitize_name("Ada 👩‍🎤"), Some("Ada 👩‍🎤".into()));
    }

    #[test]
    fn a_fingerprint_is_the_tail_of_the_peer_id_in_two_groups() {
        let peer = PeerId::random();
        let text = peer.to_base58();
        let fp = fingerprint(&peer);
        assert_eq!(fp.len(), 9);
        assert_eq!(fp.replace('-', ""), text[text.len() - 8..]);
        assert_ne!(fingerprint(&PeerId::random()), fp);
    }
}
