-- The music library: folders the user chose, the tracks scanned in them, cover art, problems met
-- while scanning, playlists and the play history.

-- Folders to scan and watch.
CREATE TABLE folders (
    path     TEXT    PRIMARY KEY,  -- absolute, as the user chose it
    added_at INTEGER NOT NULL      -- unix ms
) STRICT;

-- Cover art, stored once however many tracks carry it. `hash` is BLAKE3 of the image bytes.
CREATE TABLE art (
    hash  TEXT PRIMARY KEY,
    mime  TEXT NOT NULL,
    data  BLOB NOT NULL,           -- the image as embedded
    thumb BLOB                     -- a small JPEG for lists; NULL when the image could not be decoded
) STRICT;

-- One row per audio file. `hash` (BLAKE3 of the file's bytes, hex) is the track's identity across
-- peers; the same music in two places has one hash. `size` and `mtime` let rescans skip files
-- that did not change.
CREATE TABLE tracks (
    path         TEXT    PRIMARY KEY,
    folder       TEXT    NOT NULL REFERENCES folders (path) ON DELETE CASCADE,
    hash         TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    mtime        INTEGER NOT NULL,  -- unix ms
    title        TEXT    NOT NULL,  -- from the tags, else the file name
    artists      TEXT    NOT NULL DEFAULT '[]',  -- JSON array, in tag order
    artist       TEXT    NOT NULL DEFAULT '',    -- the artists joined for display and search
    album        TEXT    NOT NULL DEFAULT '',
    album_artist TEXT    NOT NULL DEFAULT '',    -- the tag, else the first artist
    track_no     INTEGER,
    disc_no      INTEGER,
    year         INTEGER,
    genre        TEXT    NOT NULL DEFAULT '',
    duration_ms  INTEGER NOT NULL,
    frames       INTEGER,           -- frames per channel, when the container says
    sample_rate  INTEGER NOT NULL,
    channels     INTEGER NOT NULL,
    codec        TEXT    NOT NULL,
    art          TEXT    REFERENCES art (hash),
    added_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX tracks_by_hash ON tracks (hash);
CREATE INDEX tracks_by_folder ON tracks (folder);
CREATE INDEX tracks_by_album ON tracks (album_artist COLLATE NOCASE, album COLLATE NOCASE, disc_no, track_no);

-- Files that could not be added, with the reason, until they change or go away.
CREATE TABLE scan_problems (
    path    TEXT    PRIMARY KEY,
    folder  TEXT    NOT NULL REFERENCES folders (path) ON DELETE CASCADE,
    reason  TEXT    NOT NULL,
    size    INTEGER NOT NULL,
    mtime   INTEGER NOT NULL,
    seen_at INTEGER NOT NULL
) STRICT;

CREATE TABLE playlists (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Playlist entries name tracks by hash, so they survive files moving between folders.
CREATE TABLE playlist_items (
    playlist INTEGER NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    hash     TEXT    NOT NULL,
    PRIMARY KEY (playlist, position)
) STRICT;

-- What was played, newest last. Title and artist are copied so the history survives the file.
CREATE TABLE plays (
    id        INTEGER PRIMARY KEY,
    hash      TEXT    NOT NULL,
    title     TEXT    NOT NULL,
    artist    TEXT    NOT NULL,
    album     TEXT    NOT NULL,
    played_at INTEGER NOT NULL
) STRICT;

CREATE INDEX plays_by_time ON plays (played_at);
