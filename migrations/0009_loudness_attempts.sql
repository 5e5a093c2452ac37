-- The loudness analysis's attempts at files it has not finished with (review of issue 12, M3/M4).
-- A row exists while a hash is being tried and between failed tries; it is deleted once the hash
-- has its `loudness` row. `running` is the session (its start, Unix ms) measuring the file now,
-- written before the file is opened: found set by a later session, that session died while
-- measuring it (an abort, an out-of-memory kill, a fault in a decoder), and `unfinished` counts
-- it; a file that kills the analysis twice is recorded unmeasurable instead of being tried at
-- every start. `failures` counts transient failures (an I/O error, the analysis thread ending);
-- the file is tried again at the next round, and given up on after a few.
CREATE TABLE loudness_attempts (
    hash       TEXT    PRIMARY KEY,
    running    INTEGER,
    unfinished INTEGER NOT NULL DEFAULT 0,
    failures   INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    updated_at INTEGER NOT NULL  -- Unix ms
);
