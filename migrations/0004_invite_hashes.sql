-- Invites keep a hash of their secret, never the secret itself: someone who reads the database
-- learns no link that still works. Round-1 rows (secrets in clear) are moved to `invites_round1`;
-- the friends service hashes them into `invites` on its first start and drops that table.
ALTER TABLE invites RENAME TO invites_round1;

CREATE TABLE invites (
    id          INTEGER PRIMARY KEY,
    secret_hash BLOB    NOT NULL UNIQUE,  -- BLAKE3 of the link's 16-byte secret
    created_at  INTEGER NOT NULL,         -- unix ms
    expires_at  INTEGER NOT NULL,         -- unix ms; expired rows are purged
    redeemed_by TEXT,                     -- peer id; the row is deleted when they stop being a friend
    redeemed_at INTEGER
) STRICT;

CREATE INDEX invites_by_redeemer ON invites (redeemed_by);
CREATE INDEX invites_by_expiry ON invites (expires_at);

-- Incoming requests expire and are evicted oldest first: find them by relationship and age.
CREATE INDEX peers_by_relationship_since ON peers (relationship, since);
