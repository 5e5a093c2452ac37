-- The user's own profile (a single row) and free-form settings.
CREATE TABLE profile (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    display_name TEXT    NOT NULL CHECK (length(display_name) BETWEEN 1 AND 256),
    updated_at   INTEGER NOT NULL  -- unix milliseconds
) STRICT;

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,  -- JSON
    updated_at INTEGER NOT NULL   -- unix milliseconds
) STRICT;
