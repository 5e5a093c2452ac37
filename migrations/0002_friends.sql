-- Other peers we have a relationship with. One row per peer, in exactly one state:
--   friend         paired; may use every app protocol
--   requested_out  we sent them a friend request; waiting for their answer
--   requested_in   they sent us a friend request; waiting for ours
--   blocked        refused at the connection level; nothing from them is stored or shown
CREATE TABLE peers (
    peer_id      TEXT    PRIMARY KEY,
    relationship TEXT    NOT NULL CHECK (relationship IN ('friend', 'requested_out', 'requested_in', 'blocked')),
    display_name TEXT,              -- as they told us; NULL until they do
    addresses    TEXT    NOT NULL DEFAULT '[]',  -- JSON array of multiaddrs, most recent first
    since        INTEGER NOT NULL,  -- unix ms when the relationship entered this state
    last_seen    INTEGER            -- unix ms of the last connection
) STRICT;

CREATE INDEX peers_by_relationship ON peers (relationship);

-- Invites we issued. The secret travels in the link; redeeming it once makes the redeemer a friend.
CREATE TABLE invites (
    secret      BLOB    PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,   -- unix ms
    redeemed_by TEXT,
    redeemed_at INTEGER
) STRICT;
