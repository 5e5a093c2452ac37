//! Editing a playlist's entries: add, remove, move. Each is one step on the store thread
//! ([`Library::edit_playlist`]), refused with a clear message when a position does not exist.

use super::Library;
use crate::api::{ApiError, Playlist, PlaylistItem};

type Edited = Result<(Playlist, Vec<PlaylistItem>), ApiError>;

impl Library {
    /// Appends tracks (by hash), or inserts them at `position`. Only tracks in the library can be
    /// added: an unknown hash is refused.
    pub async fn add_to_playlist(
        &self,
        id: i64,
        hashes: Vec<String>,
        position: Option<u32>,
    ) -> Edited {
        self.tracks_by_hash(&hashes).await?;
        self.edit_playlist(id, move |entries| {
            let at = position.map_or(entries.len(), |p| (p as usize).min(entries.len()));
            entries.splice(at..at, hashes);
            Ok(())
        })
        .await
    }

    pub async fn remove_from_playlist(&self, id: i64, position: u32) -> Edited {
        self.edit_playlist(id, move |entries| {
            if (position as usize) < entries.len() {
                entries.remove(position as usize);
                Ok(())
            } else {
                Err(format!("The playlist has no entry {position}."))
            }
        })
        .await
    }

    pub async fn move_in_playlist(&self, id: i64, from: u32, to: u32) -> Edited {
        self.edit_playlist(id, move |entries| {
            let (from, to) = (from as usize, to as usize);
            if from < entries.len() && to < entries.len() {
                let entry = entries.remove(from);
                entries.insert(to, entry);
                Ok(())
            } else {
                Err(format!("The playlist has no entry {}.", from.max(to)))
            }
        })
        .await
    }
}
