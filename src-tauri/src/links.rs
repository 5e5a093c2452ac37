//! `earshot://` links waiting for the window.
//!
//! A link never acts by itself: the shell only keeps it here and tells the window, which reads it
//! (`inspect_link`), asks the user, and redeems it only when they confirm. Links arrive on the
//! command line, from a second `earshot` process (single-instance handover), or from the OS
//! (macOS) — possibly before the window has loaded, so they wait here until the window takes them
//! with the `take_pending_links` command; each new one is announced with the [`LINKS_PENDING`]
//! window event.

use std::sync::Mutex;

/// The window event saying links are waiting (no payload): the window takes them.
pub const LINKS_PENDING: &str = "links-pending";

/// At most this many links wait; a burst beyond it drops the oldest (nobody clicks 16 invites in
/// the seconds before a window loads, and an unbounded queue is a hole).
const MAX_PENDING: usize = 16;

/// Links not yet taken by the window, oldest first.
#[derive(Debug, Default)]
pub struct PendingLinks(Mutex<Vec<String>>);

impl PendingLinks {
    /// Queues `link` unless the same link is already waiting (one click can arrive twice: through
    /// the deep-link plugin and through the handed-over command line). Returns whether it was new.
    /// Links are compared, and kept, in the URL parser's form, which is the form the deep-link
    /// plugin hands over (`EARSHOT://…` from a command line is `earshot://…` from the plugin); a
    /// link that does not parse is kept as it came, for the window to refuse.
    pub fn push(&self, link: String) -> bool {
        let link = normalise(link);
        let mut links = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if links.contains(&link) {
            return false;
        }
        if links.len() == MAX_PENDING {
            links.remove(0);
        }
        links.push(link);
        true
    }

    /// Everything waiting, oldest first; the queue is empty afterwards.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

/// `link` as the URL parser writes it (scheme lower-cased, and so on), or as it is if it does not
/// parse.
fn normalise(link: String) -> String {
    match tauri::Url::parse(link.trim()) {
        Ok(url) => url.to_string(),
        Err(_) => link,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_wait_until_taken_and_are_taken_once() {
        let pending = PendingLinks::default();
        assert!(pending.push("earshot://invite/a".into()));
        assert!(pending.push("earshot://invite/b".into()));
        assert_eq!(pending.take(), ["earshot://invite/a", "earshot://invite/b"]);
        assert!(pending.take().is_empty());
    }

    #[test]
    fn the_same_link_waits_once() {
        let pending = PendingLinks::default();
        assert!(pending.push("earshot://invite/a".into()));
        assert!(!pending.push("earshot://invite/a".into()));
        assert_eq!(pending.take().len(), 1);
    }

    #[test]
    fn one_click_through_the_plugin_and_the_command_line_waits_once() {
        let pending = PendingLinks::default();
        assert!(pending.push("EARSHOT://invite/AbC-_x".into()));
        let plugin = tauri::Url::parse("EARSHOT://invite/AbC-_x")
            .expect("a link")
            .to_string();
        assert!(!pending.push(plugin));
        assert_eq!(
            pending.take(),
            ["earshot://invite/AbC-_x"],
            "the payload keeps its case"
        );
        assert!(pending.push("not a link".into()));
        assert_eq!(pending.take(), ["not a link"]);
    }

    #[test]
    fn a_burst_keeps_the_newest_links() {
        let pending = PendingLinks::default();
        for i in 0..MAX_PENDING + 2 {
            pending.push(format!("earshot://invite/{i}"));
        }
        let links = pending.take();
        assert_eq!(links.len(), MAX_PENDING);
        assert_eq!(links[0], "earshot://invite/2");
    }
}
