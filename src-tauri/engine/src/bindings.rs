//! TypeScript bindings for the API, generated from the Rust types (conventions 9).
//!
//! [`typescript`] renders every API type into one module, committed as `ui/src/bindings/api.ts`.
//! The test `committed_bindings_are_up_to_date` fails when that file is stale; regenerate it with
//! `cargo run -p earshot-node -- bindings ui/src/bindings/api.ts` (or `UPDATE_BINDINGS=1 cargo test`).

use ts_rs::{Config, TS};

use crate::api;

/// The committed file, relative to the repository root.
pub const COMMITTED_PATH: &str = "ui/src/bindings/api.ts";

/// The bindings module's full text.
pub fn typescript() -> String {
    let cfg = Config::default();
    let decls = [
        api::Request::decl(&cfg),
        api::Response::decl(&cfg),
        api::Status::decl(&cfg),
        api::StoreProtection::decl(&cfg),
        api::Profile::decl(&cfg),
        api::InviteLink::decl(&cfg),
        api::InviteInfo::decl(&cfg),
        api::InviteUse::decl(&cfg),
        api::LinkPreview::decl(&cfg),
        api::LinkStanding::decl(&cfg),
        api::NetStats::decl(&cfg),
        api::Friend::decl(&cfg),
        api::ConnectionKind::decl(&cfg),
        api::PeerCard::decl(&cfg),
        api::NearbyPeer::decl(&cfg),
        api::Relationship::decl(&cfg),
        api::Track::decl(&cfg),
        api::SyncState::decl(&cfg),
        api::JamParticipant::decl(&cfg),
        api::JamEntry::decl(&cfg),
        api::JamState::decl(&cfg),
        api::JamInviteKind::decl(&cfg),
        api::JamInvite::decl(&cfg),
        api::JamEnd::decl(&cfg),
        api::AlbumKey::decl(&cfg),
        api::Album::decl(&cfg),
        api::Artist::decl(&cfg),
        api::ScanProblem::decl(&cfg),
        api::ScanSummary::decl(&cfg),
        api::Playlist::decl(&cfg),
        api::PlaylistItem::decl(&cfg),
        api::Play::decl(&cfg),
        api::PlaybackState::decl(&cfg),
        api::RepeatMode::decl(&cfg),
        api::OutputDevice::decl(&cfg),
        api::PlayerState::decl(&cfg),
        api::NormalisationMode::decl(&cfg),
        api::NormalisationState::decl(&cfg),
        api::QueueState::decl(&cfg),
        api::ConversationKind::decl(&cfg),
        api::ConversationState::decl(&cfg),
        api::MemberRole::decl(&cfg),
        api::Member::decl(&cfg),
        api::Conversation::decl(&cfg),
        api::ShareKind::decl(&cfg),
        api::ShareCard::decl(&cfg),
        api::ShareTarget::decl(&cfg),
        api::Reaction::decl(&cfg),
        api::Quote::decl(&cfg),
        api::Delivery::decl(&cfg),
        api::MessageKind::decl(&cfg),
        api::ChatMessage::decl(&cfg),
        api::MessagePage::decl(&cfg),
        api::SearchHit::decl(&cfg),
        api::Report::decl(&cfg),
        api::ChatStats::decl(&cfg),
        api::ActivityState::decl(&cfg),
        api::ActivityTrack::decl(&cfg),
        api::Activity::decl(&cfg),
        api::FriendActivity::decl(&cfg),
        api::ActivitySettings::decl(&cfg),
        api::Event::decl(&cfg),
        api::ApiError::decl(&cfg),
        api::ErrorKind::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from src-tauri/engine/src/api.rs by earshot-engine's bindings module.\n\
         // Do not edit: run `cargo run -p earshot-node -- bindings ui/src/bindings/api.ts`.\n",
    );
    for decl in decls {
        out.push('\n');
        out.push_str("export ");
        out.push_str(&decl);
        out.push('\n');
    }
    let emojis: Vec<String> = api::ACTIVITY_EMOJIS
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect();
    out.push_str(&format!(
        "\n/** The six reactions to a friend's listening activity, in order. */\n\
         export const ACTIVITY_EMOJIS = [{}] as const;\n",
        emojis.join(", ")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_bindings_are_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(COMMITTED_PATH);
        let fresh = typescript();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{COMMITTED_PATH} is stale: run `UPDATE_BINDINGS=1 cargo test -p earshot-engine bindings` \
             and commit the result"
        );
    }

    /// A type used by the API but missing from the list in [`typescript`] would be a dangling
    /// name in the bindings, found only by the UI's type check.
    #[test]
    fn every_type_the_bindings_name_is_declared_in_them() {
        let text = typescript();
        let code: String = text
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                !(l.starts_with("//") || l.starts_with("/*") || l.starts_with('*'))
            })
            .map(|l| {
                // Drop string literals ("type": "…" tags).
                l.split('"').step_by(2).collect::<Vec<_>>().join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let declared: std::collections::HashSet<&str> = code
            .split("export type ")
            .chain(code.split("export const "))
            .skip(1)
            .filter_map(|d| d.split([' ', '=', '<']).next())
            .collect();
        let builtins = ["Array", "Record", "Partial"];
        let mut missing: Vec<&str> = code
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
            .filter(|w| !declared.contains(w) && !builtins.contains(w))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "add to bindings::typescript: {missing:?}"
        );
    }
}
