//! The user's own profile: validation and its row in the store.

use rusqlite::OptionalExtension;

use crate::api::{ApiError, Profile};
use crate::store::{now_millis, Store, StoreError};

/// Display names are 1–64 characters (Unicode scalar values) after trimming.
pub const MAX_NAME_CHARS: usize = 64;

/// Trims `name` and checks its length and content; the error says what is wrong.
pub fn validate_display_name(name: &str) -> Result<String, ApiError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(ApiError::invalid_input("The display name cannot be empty."));
    }
    if chars > MAX_NAME_CHARS {
        return Err(ApiError::invalid_input(format!(
            "The display name is {chars} characters long; the limit is {MAX_NAME_CHARS}."
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::invalid_input(
            "The display name cannot contain control characters such as line breaks.",
        ));
    }
    if trimmed.chars().any(is_forbidden_in_name) {
        return Err(ApiError::invalid_input(
            "The display name cannot contain text-direction marks (they can make a name read backwards).",
        ));
    }
    Ok(trimmed.to_string())
}

/// Characters no display name may hold, typed here or received from a peer: control characters,
/// and the Unicode bidirectional marks, embeddings, overrides and isolates, which can make a name
/// render reversed or reorder the text around it ("Trojan Source", CVE-2021-42574).
pub fn is_forbidden_in_name(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// The name used until the user picks one: their OS account name, else a neutral default.
pub fn default_display_name() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find_map(|n| validate_display_name(&n).ok())
        .filter(|n| n != "root")
        .unwrap_or_else(|| "Earshot listener".to_string())
}

pub async fn get(store: &Store) -> Result<Profile, StoreError> {
    let name: Option<String> = store
        .call(|c| {
            c.query_row("SELECT display_name FROM profile WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
        })
        .await?;
    Ok(Profile {
        display_name: name.unwrap_or_else(default_display_name),
    })
}

pub async fn set_display_name(store: &Store, name: String) -> Result<Profile, StoreError> {
    let stored = name.clone();
    store
        .call(move |c| {
            c.execute(
                "INSERT INTO profile (id, display_name, updated_at) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET display_name = ?1, updated_at = ?2",
                (stored, now_millis()),
            )
        })
        .await?;
    Ok(Profile { display_name: name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(validate_display_name("  Ada  ").unwrap(), "Ada");
    }

    #[test]
    fn an_empty_or_blank_name_is_refused() {
        assert!(validate_display_name("").is_err());
        assert!(validate_display_name(" \t ").is_err());
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let sixty_four_emoji = "🎧".repeat(64);
        assert!(validate_display_name(&sixty_four_emoji).is_ok());
        let error = validate_display_name(&"a".repeat(65)).unwrap_err();
        assert!(error.message.contains("65"), "{}", error.message);
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(validate_display_name("Ada\nLovelace").is_err());
    }
}
