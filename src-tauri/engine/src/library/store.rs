//! The library's tables (`folders`, `tracks`, `art`, `scan_problems`, `playlists`,
//! `playlist_items`, `plays`, `loudness`): queries run on the store thread.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::api::{Album, Artist, Play, Playlist, PlaylistItem, ScanProblem, Track};

/// What a scan learned about one audio file: the track as the API shows it, plus what only the
/// scanner needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRow {
    pub track: Track,
    pub folder: String,
    pub size: i64,
    pub mtime: i64,
    pub frames: Option<u64>,
    /// What else the tags say, kept for sorting (not in the API's `Track`).
    pub more: MoreTags,
}

/// Tag fields the library keeps beyond those of `Track`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoreTags {
    /// Sort names; empty when the tags give none.
    pub title_sort: String,
    pub artist_sort: String,
    pub album_sort: String,
    pub album_artist_sort: String,
}

/// Size and modification time of every file a folder's last scan saw (tracks and problems).
pub fn known_files(
    conn: &Connection,
    folder: &str,
) -> rusqlite::Result<HashMap<String, (i64, i64)>> {
    let mut known = HashMap::new();
    for table in ["tracks", "scan_problems"] {
        let mut statement = conn.prepare_cached(&format!(
            "SELECT path, size, mtime FROM {table} WHERE folder = ?1"
        ))?;
        let rows = statement.query_map([folder], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
        for row in rows {
            let (path, stamp): (String, (i64, i64)) = row?;
            known.insert(path, stamp);
        }
    }
    Ok(known)
}

pub fn add_folder(conn: &Connection, path: &str, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "INSERT INTO folders (path, added_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![path, now],
    )? == 1)
}

pub fn remove_folder(conn: &Connection, path: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM folders WHERE path = ?1", [path])? == 1)
}

pub fn folders(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare_cached("SELECT path FROM folders ORDER BY path")?;
    let rows = statement.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Stores a track (new or changed) and forgets any problem recorded for its path.
pub fn put_track(conn: &Connection, row: &TrackRow, now: i64) -> rusqlite::Result<()> {
    let track = &row.track;
    let artists = serde_json::to_string(&track.artists).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO tracks (path, folder, hash, size, mtime, title, artists, artist, album,
             album_artist, track_no, disc_no, year, genre, duration_ms, frames, sample_rate, channels,
             codec, art, added_at, track_total, disc_total, compilation, title_sort, artist_sort,
             album_sort, album_artist_sort)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
             ?22, ?23, ?24, ?25, ?26, ?27, ?28)
         ON CONFLICT (path) DO UPDATE SET
             folder = ?2, hash = ?3, size = ?4, mtime = ?5, title = ?6, artists = ?7, artist = ?8,
             album = ?9, album_artist = ?10, track_no = ?11, disc_no = ?12, year = ?13, genre = ?14,
             duration_ms = ?15, frames = ?16, sample_rate = ?17, channels = ?18, codec = ?19, art = ?20,
             track_total = ?22, disc_total = ?23, compilation = ?24, title_sort = ?25,
             artist_sort = ?26, album_sort = ?27, album_artist_sort = ?28",
    )?
    .execute(params![
        track.path,
        row.folder,
        track.hash,
        row.size,
        row.mtime,
        track.title,
        artists,
        track.artist,
        track.album,
        track.album_artist,
        track.track_no,
        track.disc_no,
        track.year,
        track.genre,
        track.duration_ms as i64,
        row.frames.map(|f| f as i64),
        track.sample_rate,
        track.channels,
        track.codec,
        track.art,
        now,
        track.track_total,
        track.disc_total,
        track.compilation,
        row.more.title_sort,
        row.more.artist_sort,
        row.more.album_sort,
        row.more.album_artist_sort,
    ])?;
    conn.prepare_cached("DELETE FROM scan_problems WHERE path = ?1")?
        .execute([&track.path])?;
    Ok(())
}

/// Stores cover art once; a second track with the same image only refers to it. Scan workers race:
/// the copy stored first may lack the thumbnail another worker made, so a thumbnail fills a gap.
pub fn put_art(
    conn: &Connection,
    hash: &str,
    mime: &str,
    data: &[u8],
    thumb: Option<&[u8]>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO art (hash, mime, data, thumb) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (hash) DO UPDATE SET thumb = excluded.thumb
         WHERE art.thumb IS NULL AND excluded.thumb IS NOT NULL",
    )?
    .execute(params![hash, mime, data, thumb])?;
    Ok(())
}

pub fn has_art(conn: &Connection, hash: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM art WHERE hash = ?1")?
        .exists([hash])
}

/// The art's MIME type and bytes (the thumbnail when `thumb` and one exists).
pub fn art(
    conn: &Connection,
    hash: &str,
    thumb: bool,
) -> rusqlite::Result<Option<(String, Vec<u8>)>> {
    conn.query_row(
        "SELECT mime, data, thumb FROM art WHERE hash = ?1",
        [hash],
        |r| {
            let small: Option<Vec<u8>> = r.get(2)?;
            Ok(match (thumb, small) {
                (true, Some(small)) => ("image/jpeg".to_string(), small),
                _ => (r.get(0)?, r.get(1)?),
            })
        },
    )
    .optional()
}

/// Records why a file could not be added (replacing a track that was there).
pub fn put_problem(
    conn: &Connection,
    folder: &str,
    path: &str,
    reason: &str,
    size: i64,
    mtime: i64,
    now: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM tracks WHERE path = ?1")?
        .execute([path])?;
    conn.prepare_cached(
        "INSERT INTO scan_problems (path, folder, reason, size, mtime, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (path) DO UPDATE SET folder = ?2, reason = ?3, size = ?4, mtime = ?5, seen_at = ?6",
    )?
    .execute(params![path, folder, reason, size, mtime, now])?;
    Ok(())
}

/// Forgets tracks and problems for files that are gone; returns how many tracks went.
pub fn remove_paths(conn: &Connection, paths: &[String]) -> rusqlite::Result<u32> {
    let mut removed = 0;
    for path in paths {
        removed += conn
            .prepare_cached("DELETE FROM tracks WHERE path = ?1")?
            .execute([path])? as u32;
        conn.prepare_cached("DELETE FROM scan_problems WHERE path = ?1")?
            .execute([path])?;
    }
    Ok(removed)
}

/// `text` as a literal inside a LIKE pattern (with `ESCAPE '\'`).
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub fn problems(conn: &Connection) -> rusqlite::Result<Vec<ScanProblem>> {
    let mut statement =
        conn.prepare_cached("SELECT path, reason FROM scan_problems ORDER BY path")?;
    let rows = statement.query_map([], |r| {
        Ok(ScanProblem {
            path: r.get(0)?,
            reason: r.get(1)?,
        })
    })?;
    rows.collect()
}

const TRACK_COLUMNS: &str = "hash, path, title, artists, artist, album, album_artist, track_no, \
     disc_no, year, genre, duration_ms, sample_rate, channels, codec, art, track_total, disc_total, \
     compilation";

/// By the tags' sort names where they give them ("Beatles, The"), else the names shown.
const TRACK_ORDER: &str = "coalesce(nullif(album_artist_sort, ''), album_artist) COLLATE NOCASE, \
     coalesce(nullif(album_sort, ''), album) COLLATE NOCASE, disc_no, track_no, \
     coalesce(nullif(title_sort, ''), title) COLLATE NOCASE, path";

fn track(r: &rusqlite::Row) -> rusqlite::Result<Track> {
    let artists: String = r.get(3)?;
    Ok(Track {
        hash: r.get(0)?,
        path: r.get(1)?,
        title: r.get(2)?,
        artists: serde_json::from_str(&artists).unwrap_or_default(),
        artist: r.get(4)?,
        album: r.get(5)?,
        album_artist: r.get(6)?,
        track_no: r.get(7)?,
        track_total: r.get(16)?,
        disc_no: r.get(8)?,
        disc_total: r.get(17)?,
        compilation: r.get(18)?,
        year: r.get(9)?,
        genre: r.get(10)?,
        duration_ms: r.get::<_, i64>(11)?.max(0) as u64,
        sample_rate: r.get(12)?,
        channels: r.get(13)?,
        codec: r.get(14)?,
        art: r.get(15)?,
    })
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct TrackFilter {
    /// Every word must appear in the title, artist or album.
    pub words: Vec<String>,
    pub album: Option<(String, String)>,
    pub artist: Option<String>,
}

/// Words of a search, lower-cased, at most eight.
pub fn search_words(query: &str) -> Vec<String> {
    query
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .take(8)
        .collect()
}

pub fn tracks(conn: &Connection, filter: &TrackFilter) -> rusqlite::Result<Vec<Track>> {
    let (words, mut values) =
        name_filter(&filter.words, &["title", "artist", "album", "album_artist"]);
    let mut clauses = vec![format!("1 = 1{words}")];
    if let Some((album, album_artist)) = &filter.album {
        values.push(album.clone());
        values.push(album_artist.clone());
        let n = values.len();
        clauses.push(format!("album = ?{} AND album_artist = ?{n}", n - 1));
    }
    if let Some(artist) = &filter.artist {
        values.push(artist.clone());
        let n = values.len();
        clauses.push(format!(
            "(album_artist = ?{n} OR EXISTS (SELECT 1 FROM json_each(artists) WHERE value = ?{n}))"
        ));
    }
    let filter = format!("WHERE {}", clauses.join(" AND "));
    // One row per hash: the same music in two folders is one track.
    let sql = format!(
        "SELECT {TRACK_COLUMNS} FROM tracks WHERE rowid IN
             (SELECT min(rowid) FROM tracks {filter} GROUP BY hash)
         ORDER BY {TRACK_ORDER}"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(values.iter()), track)?;
    rows.collect()
}

/// The track with this hash (any of its copies), if it is in the library.
pub fn track_by_hash(conn: &Connection, hash: &str) -> rusqlite::Result<Option<Track>> {
    conn.query_row(
        &format!("SELECT {TRACK_COLUMNS} FROM tracks WHERE hash = ?1 ORDER BY path LIMIT 1"),
        [hash],
        track,
    )
    .optional()
}

pub fn albums(conn: &Connection, words: &[String]) -> rusqlite::Result<Vec<Album>> {
    let (filter, values) = name_filter(words, &["album", "album_artist"]);
    let sql = format!(
        "SELECT album, album_artist, max(year), count(DISTINCT hash), sum(duration_ms), max(art)
         FROM tracks WHERE album != '' {filter}
         GROUP BY album, album_artist
         ORDER BY album_artist COLLATE NOCASE, album COLLATE NOCASE"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(values.iter()), |r| {
        Ok(Album {
            album: r.get(0)?,
            album_artist: r.get(1)?,
            year: r.get(2)?,
            tracks: r.get(3)?,
            duration_ms: r.get::<_, Option<i64>>(4)?.unwrap_or(0).max(0) as u64,
            art: r.get(5)?,
        })
    })?;
    rows.collect()
}

pub fn artists(conn: &Connection, words: &[String]) -> rusqlite::Result<Vec<Artist>> {
    let (filter, values) = name_filter(words, &["name"]);
    let sql = format!(
        "SELECT name, count(DISTINCT album), count(DISTINCT hash), max(art) FROM
             (SELECT album_artist AS name, album, hash, art FROM tracks WHERE album_artist != ''
              UNION ALL
              SELECT value AS name, album, hash, art FROM tracks, json_each(tracks.artists))
         WHERE name != '' {filter}
         GROUP BY name ORDER BY name COLLATE NOCASE"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(values.iter()), |r| {
        Ok(Artist {
            name: r.get(0)?,
            albums: r.get(1)?,
            tracks: r.get(2)?,
            art: r.get(3)?,
        })
    })?;
    rows.collect()
}

/// `AND (col1 LIKE ?n OR col2 LIKE ?n)` per word, with its values.
fn name_filter(words: &[String], columns: &[&str]) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    for word in words {
        values.push(format!("%{}%", escape_like(word)));
        let n = values.len();
        let any = columns
            .iter()
            .map(|c| format!("lower({c}) LIKE ?{n} ESCAPE '\\'"))
            .collect::<Vec<_>>()
            .join(" OR ");
        sql.push_str(&format!(" AND ({any})"));
    }
    (sql, values)
}

// ── Playlists ────────────────────────────────────────────────────────────────────────────────

pub fn playlists(conn: &Connection) -> rusqlite::Result<Vec<Playlist>> {
    let mut statement = conn.prepare_cached(
        "SELECT p.id, p.name, count(i.hash),
                coalesce(sum((SELECT duration_ms FROM tracks t WHERE t.hash = i.hash LIMIT 1)), 0)
         FROM playlists p LEFT JOIN playlist_items i ON i.playlist = p.id
         GROUP BY p.id ORDER BY p.name COLLATE NOCASE, p.id",
    )?;
    let rows = statement.query_map([], |r| {
        Ok(Playlist {
            id: r.get(0)?,
            name: r.get(1)?,
            tracks: r.get(2)?,
            duration_ms: r.get::<_, i64>(3)?.max(0) as u64,
        })
    })?;
    rows.collect()
}

pub fn playlist(
    conn: &Connection,
    id: i64,
) -> rusqlite::Result<Option<(Playlist, Vec<PlaylistItem>)>> {
    let Some(playlist) = playlists(conn)?.into_iter().find(|p| p.id == id) else {
        return Ok(None);
    };
    let hashes: Vec<(String, Option<String>)> = {
        let mut statement = conn.prepare_cached(
            "SELECT i.hash, c.added_by FROM playlist_items i
             LEFT JOIN playlist_credits c ON c.playlist = i.playlist AND c.hash = i.hash
             WHERE i.playlist = ?1 ORDER BY i.position",
        )?;
        let rows = statement.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut items = Vec::with_capacity(hashes.len());
    for (position, (hash, added_by)) in hashes.into_iter().enumerate() {
        items.push(PlaylistItem {
            position: position as u32,
            track: track_by_hash(conn, &hash)?,
            hash,
            added_by,
        });
    }
    Ok(Some((playlist, items)))
}

pub fn create_playlist(conn: &Connection, name: &str, now: i64) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO playlists (name, created_at, updated_at) VALUES (?1, ?2, ?2)",
        params![name, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn rename_playlist(conn: &Connection, id: i64, name: &str, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE playlists SET name = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, name, now],
    )? == 1)
}

pub fn delete_playlist(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM playlists WHERE id = ?1", [id])? == 1)
}

/// Replaces a playlist's entries (positions are renumbered 0…n−1) in one transaction.
pub fn set_playlist_items(
    conn: &mut Connection,
    id: i64,
    hashes: &[String],
    now: i64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM playlist_items WHERE playlist = ?1", [id])?;
    for (position, hash) in hashes.iter().enumerate() {
        tx.execute(
            "INSERT INTO playlist_items (playlist, position, hash) VALUES (?1, ?2, ?3)",
            params![id, position as i64, hash],
        )?;
    }
    tx.execute(
        "UPDATE playlists SET updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    tx.commit()
}

/// Credits tracks of a playlist to who added them (a jam's queue saved).
pub fn credit_playlist(
    conn: &Connection,
    id: i64,
    credits: &[(String, String)],
) -> rusqlite::Result<()> {
    for (hash, added_by) in credits {
        conn.execute(
            "INSERT OR REPLACE INTO playlist_credits (playlist, hash, added_by) VALUES (?1, ?2, ?3)",
            params![id, hash, added_by],
        )?;
    }
    Ok(())
}

pub fn playlist_hashes(conn: &Connection, id: i64) -> rusqlite::Result<Option<Vec<String>>> {
    if !conn
        .prepare_cached("SELECT 1 FROM playlists WHERE id = ?1")?
        .exists([id])?
    {
        return Ok(None);
    }
    let mut statement = conn
        .prepare_cached("SELECT hash FROM playlist_items WHERE playlist = ?1 ORDER BY position")?;
    let rows = statement.query_map([id], |r| r.get(0))?;
    rows.collect::<rusqlite::Result<_>>().map(Some)
}

// ── Plays ────────────────────────────────────────────────────────────────────────────────────

pub fn add_play(conn: &Connection, track: &Track, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO plays (hash, title, artist, album, played_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![track.hash, track.title, track.artist, track.album, now],
    )?;
    Ok(())
}

pub fn recent_plays(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<Play>> {
    let mut statement = conn.prepare_cached(
        "SELECT hash, title, artist, album, played_at FROM plays ORDER BY played_at DESC, id DESC LIMIT ?1",
    )?;
    let rows = statement.query_map([limit], |r| {
        Ok(Play {
            hash: r.get(0)?,
            title: r.get(1)?,
            artist: r.get(2)?,
            album: r.get(3)?,
            played_at: r.get(4)?,
        })
    })?;
    rows.collect()
}

// ── Loudness ─────────────────────────────────────────────────────────────────────────────────

/// Every distinct track with its album, length and loudness state, for `loudness::Table`.
pub fn loudness_entries(
    conn: &mut Connection,
) -> rusqlite::Result<Vec<(String, super::loudness::Entry)>> {
    use super::loudness::{Entry, EntryState, Level};
    let mut statement = conn.prepare_cached(
        "SELECT t.hash, min(t.album), min(t.album_artist), max(t.duration_ms),
                l.source, l.track_lufs, l.track_peak, l.album_lufs, l.album_peak
         FROM tracks t LEFT JOIN loudness l ON l.hash = t.hash
         GROUP BY t.hash",
    )?;
    let rows = statement.query_map([], |r| {
        let source: Option<String> = r.get(4)?;
        let track_lufs: Option<f64> = r.get(5)?;
        let track_peak: Option<f64> = r.get(6)?;
        let album_lufs: Option<f64> = r.get(7)?;
        let album_peak: Option<f64> = r.get(8)?;
        let state = match (source.as_deref(), track_lufs) {
            (None, _) => EntryState::Pending,
            (Some("tags" | "measured"), Some(lufs)) => EntryState::Known {
                track: Level {
                    lufs: lufs as f32,
                    peak: track_peak.map(|p| p as f32),
                },
                album_tag: album_lufs.map(|lufs| Level {
                    lufs: lufs as f32,
                    peak: album_peak.map(|p| p as f32),
                }),
            },
            (Some(_), _) => EntryState::Unmeasurable,
        };
        Ok((
            r.get::<_, String>(0)?,
            Entry {
                album: (r.get(1)?, r.get(2)?),
                seconds: r.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as f64 / 1000.0,
                state,
            },
        ))
    })?;
    rows.collect()
}

/// Up to `limit` distinct tracks with no loudness row yet (one path each), in path order, so
/// an album's tracks are measured together and its album gain is ready soon; the first `skip`
/// left out (those passed over in this round: see `loudness::catch_up`).
pub fn unmeasured(
    conn: &mut Connection,
    limit: u32,
    skip: u32,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut statement = conn.prepare_cached(
        "SELECT t.hash, min(t.path) AS first FROM tracks t
         WHERE NOT EXISTS (SELECT 1 FROM loudness l WHERE l.hash = t.hash)
         GROUP BY t.hash ORDER BY first LIMIT ?1 OFFSET ?2",
    )?;
    let rows = statement.query_map([limit, skip], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// What became of a finding handed to [`put_loudness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Kept as the hash's `loudness` row.
    Kept,
    /// A transient failure: the hash is tried again at a later round.
    Later,
    /// A transient failure once too often: recorded unmeasurable with this reason.
    GaveUp(String),
}

/// Records what the loudness analysis found for the music with this hash, and ends its attempt.
/// A [`Finding::Retry`](super::loudness::Finding::Retry) is counted, not kept, until it has
/// happened `max_failures` times; then the hash is recorded unmeasurable.
pub fn put_loudness(
    conn: &mut Connection,
    hash: &str,
    finding: &super::loudness::Finding,
    now: i64,
    max_failures: u32,
) -> rusqlite::Result<Recorded> {
    use super::loudness::Finding;
    let tx = conn.transaction()?;
    let gave_up;
    let (source, track, album, error) = match finding {
        Finding::Tags(tags) => ("tags", tags.track, tags.album, None),
        Finding::Measured { lufs, peak, .. } => (
            "measured",
            Some(super::loudness::Level {
                lufs: *lufs,
                peak: Some(*peak),
            }),
            None,
            None,
        ),
        Finding::Unmeasurable(reason) => ("unmeasurable", None, None, Some(reason.as_str())),
        Finding::Retry(reason) => {
            let failures: u32 = tx
                .prepare_cached(
                    "INSERT INTO loudness_attempts (hash, failures, error, updated_at)
                     VALUES (?1, 1, ?2, ?3)
                     ON CONFLICT (hash) DO UPDATE SET running = NULL,
                         failures = failures + 1, error = ?2, updated_at = ?3
                     RETURNING failures",
                )?
                .query_row(params![hash, reason, now], |r| r.get(0))?;
            if failures < max_failures {
                tx.commit()?;
                return Ok(Recorded::Later);
            }
            gave_up = format!("could not be read ({failures} tries): {reason}");
            ("unmeasurable", None, None, Some(gave_up.as_str()))
        }
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO loudness
             (hash, source, track_lufs, track_peak, album_lufs, album_peak, error, measured_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        hash,
        source,
        track.map(|l| l.lufs as f64),
        track.and_then(|l| l.peak).map(|p| p as f64),
        album.map(|l| l.lufs as f64),
        album.and_then(|l| l.peak).map(|p| p as f64),
        error,
        now,
    ])?;
    tx.prepare_cached("DELETE FROM loudness_attempts WHERE hash = ?1")?
        .execute([hash])?;
    tx.commit()?;
    Ok(match finding {
        Finding::Retry(_) => Recorded::GaveUp(error.unwrap_or_default().to_string()),
        Finding::Tags(_) | Finding::Measured { .. } | Finding::Unmeasurable(_) => Recorded::Kept,
    })
}

/// Whether the analysis may measure a file now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Go,
    /// Earlier sessions died while measuring it `max_unfinished` times: now recorded
    /// unmeasurable with this reason.
    GaveUp(String),
}

/// Marks `hash` as being measured by `session` (durably, before the file is opened), unless
/// earlier sessions already died while measuring it `max_unfinished` times: then it is recorded
/// unmeasurable. A mark left by this same session (a store error after the measuring) is not a
/// death.
pub fn begin_loudness_attempt(
    conn: &mut Connection,
    hash: &str,
    session: i64,
    now: i64,
    max_unfinished: u32,
) -> rusqlite::Result<Attempt> {
    let tx = conn.transaction()?;
    let previous: Option<(Option<i64>, u32)> = tx
        .query_row(
            "SELECT running, unfinished FROM loudness_attempts WHERE hash = ?1",
            [hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (running, mut unfinished) = previous.unwrap_or((None, 0));
    if running.is_some_and(|s| s != session) {
        unfinished += 1;
    }
    if unfinished >= max_unfinished {
        let reason = "the analysis stopped while measuring this file".to_string();
        tx.prepare_cached(
            "INSERT OR REPLACE INTO loudness (hash, source, error, measured_at)
             VALUES (?1, 'unmeasurable', ?2, ?3)",
        )?
        .execute(params![hash, reason, now])?;
        tx.prepare_cached("DELETE FROM loudness_attempts WHERE hash = ?1")?
            .execute([hash])?;
        tx.commit()?;
        return Ok(Attempt::GaveUp(reason));
    }
    tx.prepare_cached(
        "INSERT INTO loudness_attempts (hash, running, unfinished, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (hash) DO UPDATE SET running = ?2, unfinished = ?3, updated_at = ?4",
    )?
    .execute(params![hash, session, unfinished, now])?;
    tx.commit()?;
    Ok(Attempt::Go)
}

/// Takes away this session's "being measured" mark from `hash` when it was never tried after
/// all (the analysis thread could not be started).
pub fn drop_loudness_mark(conn: &mut Connection, hash: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE loudness_attempts SET running = NULL WHERE hash = ?1")?
        .execute([hash])?;
    Ok(())
}

/// Why the loudness of the music with this hash could not be measured, if it could not.
pub fn loudness_error(conn: &Connection, hash: &str) -> rusqlite::Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT error FROM loudness WHERE hash = ?1 AND source = 'unmeasurable'",
            [hash],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbnail_made_by_a_slower_scan_worker_is_kept() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrations().to_latest(&mut conn).unwrap();
        put_art(&conn, "h", "image/png", b"big", None).unwrap();
        put_art(&conn, "h", "image/png", b"big", Some(b"small")).unwrap();
        put_art(&conn, "h", "image/png", b"big", None).unwrap();
        let thumb: Option<Vec<u8>> = conn
            .query_row("SELECT thumb FROM art WHERE hash = 'h'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(thumb.as_deref(), Some(&b"small"[..]));
    }
}
