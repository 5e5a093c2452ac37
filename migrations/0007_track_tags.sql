-- More of what the tags say (read with lofty since issue 12): disc and track totals, the
-- compilation flag, and the names to sort by.
ALTER TABLE tracks ADD COLUMN track_total       INTEGER;
ALTER TABLE tracks ADD COLUMN disc_total        INTEGER;
ALTER TABLE tracks ADD COLUMN compilation       INTEGER NOT NULL DEFAULT 0;  -- 0 or 1
ALTER TABLE tracks ADD COLUMN title_sort        TEXT    NOT NULL DEFAULT '';  -- '' when untagged
ALTER TABLE tracks ADD COLUMN artist_sort       TEXT    NOT NULL DEFAULT '';
ALTER TABLE tracks ADD COLUMN album_sort        TEXT    NOT NULL DEFAULT '';
ALTER TABLE tracks ADD COLUMN album_artist_sort TEXT    NOT NULL DEFAULT '';

-- The next scan rereads every file once: tags the old reader missed (RIFF INFO in WAV, more
-- fields everywhere) fill in, and Opus files, reported as unplayable until now, are added.
UPDATE tracks SET mtime = -1;
UPDATE scan_problems SET mtime = -1;
