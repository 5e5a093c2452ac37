-- Loudness normalisation (issue 12): one row per distinct piece of music (its content hash), so
-- a file copied to another folder is not measured twice and a changed file (a new hash) is.
-- `source` is 'tags' (ReplayGain or R128 tags, converted to LUFS), 'measured' (EBU R128 by the
-- background analysis) or 'unmeasurable' (`error` says why; never retried for this hash).
CREATE TABLE loudness (
    hash        TEXT    PRIMARY KEY,
    source      TEXT    NOT NULL CHECK (source IN ('tags', 'measured', 'unmeasurable')),
    track_lufs  REAL,             -- integrated loudness, LUFS
    track_peak  REAL,             -- sample peak, linear (1.0 = full scale); NULL when unknown
    album_lufs  REAL,             -- from an album gain tag only (measured albums are computed)
    album_peak  REAL,
    error       TEXT,
    measured_at INTEGER NOT NULL  -- Unix ms
);
