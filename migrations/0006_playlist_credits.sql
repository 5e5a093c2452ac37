-- Who added each track of a playlist saved from a jam. Keyed by hash (not position), so the
-- credit stays with the track when the playlist is reordered or edited.
CREATE TABLE playlist_credits (
    playlist INTEGER NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    hash     TEXT    NOT NULL,
    added_by TEXT    NOT NULL,
    PRIMARY KEY (playlist, hash)
) STRICT;
