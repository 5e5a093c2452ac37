//! New-message notifications: the engine's `message_notice` events become OS notifications while
//! the main window is not focused (when it is, the window itself shows the message); a click on
//! one brings the window forward at that conversation ([`OPEN_CONVERSATION`]). Links clicked in
//! messages open in the default browser.
//!
//! Both go through Tauri plugins from Rust only (notification, opener), so the window gets no
//! permission to notify or open anything by itself: it can only ask [`open_link`] for an
//! `http(s)` address.

use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;
use tauri_plugin_opener::OpenerExt;

/// The window event asking it to show a conversation (payload: the conversation's id), sent when
/// the user clicks a new-message notification.
pub const OPEN_CONVERSATION: &str = "open-conversation";

/// The notification's extra field naming its conversation.
const CONVERSATION_KEY: &str = "conversation";

/// A notification's body is the message's first line, cut to this many characters: notification
/// servers show two or three lines at most.
const MAX_BODY_CHARS: usize = 160;

/// What a notification says for one new message.
#[derive(Debug, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// The notification for a message: the conversation's title, with the sender in a group (whose
/// title is the group's name, not the sender's), and the first line of the message.
pub fn notice(title: &str, author_name: &str, first_line: &str) -> Notice {
    let title = if title == author_name || author_name.is_empty() {
        title.to_owned()
    } else {
        format!("{author_name} in {title}")
    };
    let line = first_line.lines().next().unwrap_or("").trim();
    let body = if line.chars().count() > MAX_BODY_CHARS {
        let cut: String = line.chars().take(MAX_BODY_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        line.to_owned()
    };
    Notice { title, body }
}

/// Shows `notice` (about a message in `conversation`) unless the main window has the focus.
pub fn show_unless_focused(app: &AppHandle, notice: Notice, conversation: &str) {
    let focused = app
        .get_webview_window("main")
        .and_then(|window| window.is_focused().ok())
        .unwrap_or(false);
    if focused {
        return;
    }
    if let Err(error) = app
        .notification()
        .builder()
        .title(notice.title)
        .body(notice.body)
        .extra(CONVERSATION_KEY, conversation)
        .show()
    {
        tracing::warn!(%error, "cannot show a new-message notification");
    }
}

/// Brings the window forward when a notification is clicked, and asks it to show that
/// notification's conversation (as far as the notification server reports which one it was).
pub fn follow_clicks(app: &AppHandle) {
    let handle = app.clone();
    let registered = app.notification().on_action(move |performed| {
        if let Some(window) = handle.get_webview_window("main") {
            let _ = window.unminimize();
            let _ = window.show();
            let _ = window.set_focus();
        }
        let conversation = performed
            .notification()
            .and_then(|n| n.extra().get(CONVERSATION_KEY))
            .and_then(|v| v.as_str());
        if let Some(conversation) = conversation {
            if let Err(error) = handle.emit(OPEN_CONVERSATION, conversation) {
                tracing::warn!(%error, "cannot ask the window to show a conversation");
            }
        }
    });
    if let Err(error) = registered {
        tracing::warn!(%error, "cannot follow clicks on notifications");
    }
}

/// Whether `url` may be handed to the browser: `http` and `https` only (never `file:`, `javascript:`
/// or a custom scheme a message could smuggle in), without spaces or control characters.
pub fn is_web_link(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.len() > "http://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Opens an `http(s)` link from a message in the default browser.
#[tauri::command]
pub fn open_link(app: AppHandle, url: String) -> Result<(), String> {
    if !is_web_link(&url) {
        return Err("Only http and https links can be opened.".into());
    }
    app.opener()
        .open_url(url, None::<&str>)
        .map_err(|e| format!("Cannot open the link in your browser: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_message_is_titled_with_the_sender_alone() {
        let n = notice("Robin", "Robin", "hello\nsecond line");
        assert_eq!(
            n,
            Notice {
                title: "Robin".into(),
                body: "hello".into()
            }
        );
    }

    #[test]
    fn a_group_message_names_the_sender_and_the_group() {
        assert_eq!(notice("Band", "Ada", "hi").title, "Ada in Band");
    }

    #[test]
    fn a_long_first_line_is_cut_with_an_ellipsis() {
        let body = notice("A", "A", &"é".repeat(500)).body;
        assert_eq!(body.chars().count(), MAX_BODY_CHARS);
        assert!(body.ends_with('…'), "{body}");
    }

    #[test]
    fn only_web_links_are_opened() {
        assert!(is_web_link("https://example.com/a?b=c"));
        assert!(is_web_link("HTTP://example.com"));
        assert!(!is_web_link("http://"));
        assert!(!is_web_link("javascript:alert(1)"));
        assert!(!is_web_link("file:///etc/passwd"));
        assert!(!is_web_link("earshot://invite/x"));
        assert!(!is_web_link("https://a.com/\nb"));
    }
}
