//! The `settings` table: small JSON values by key, for every module that keeps a preference.

use rusqlite::{Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::now_millis;

/// The value stored under `key`, or `None` when it is absent or no longer readable as `T`
/// (a preference that cannot be read falls back to its default rather than failing start-up).
pub fn get<T: DeserializeOwned>(conn: &Connection, key: &str) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Stores `value` under `key`, replacing what was there.
pub fn put<T: Serialize>(conn: &Connection, key: &str, value: &T) -> rusqlite::Result<()> {
    let json = serde_json::to_string(value).expect("a setting to serialise");
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = ?2, updated_at = ?3",
        (key, json, now_millis()),
    )?;
    Ok(())
}
