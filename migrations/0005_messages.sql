-- Messages (design §6 "Conversation logs"). `chat_entries` is the log itself: every signed entry
-- of every conversation, kept so it can be forwarded to any member who lacks it. The other tables
-- are what the window reads, derived from the log by rules that give every member the same result
-- whatever order entries arrived in (see src-tauri/engine/src/chat/log.rs).
--
-- Ids are 32-byte BLAKE3 hashes; peers are base58 peer ids (as in `peers`); times are hybrid
-- logical times packed into one integer: (unix ms << 22) | counter.

CREATE TABLE chat_conversations (
    id         BLOB    PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    peer       TEXT,                      -- the other person, for a direct conversation
    name       TEXT    NOT NULL DEFAULT '',
    state      TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'request', 'hidden')),
    last_hlc   INTEGER NOT NULL DEFAULT 0,  -- the latest message's time, for the inbox order
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX chat_conversations_by_last ON chat_conversations (state, last_hlc);
CREATE UNIQUE INDEX chat_conversations_direct ON chat_conversations (peer) WHERE kind = 'direct';

CREATE TABLE chat_entries (
    id           BLOB    PRIMARY KEY,
    conversation BLOB    NOT NULL,
    author       TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    hlc          INTEGER NOT NULL,
    kind         TEXT    NOT NULL,        -- log::kind_name, or 'redacted' for a tombstone received as such
    target       BLOB,                    -- the entry a reaction, edit or delete is about
    signed       BLOB,                    -- CBOR of log::Signed; NULL once redacted (a tombstone)
    received_at  INTEGER NOT NULL,
    UNIQUE (conversation, author, seq)
) STRICT;

CREATE INDEX chat_entries_by_target ON chat_entries (target) WHERE target IS NOT NULL;
-- Membership is replayed from these alone.
CREATE INDEX chat_entries_membership ON chat_entries (conversation)
    WHERE kind IN ('create', 'add_members', 'remove_member', 'set_admin', 'rename', 'leave');

-- How far each author's entries are held without a gap: what a sync says we have.
CREATE TABLE chat_have (
    conversation BLOB    NOT NULL,
    author       TEXT    NOT NULL,
    upto         INTEGER NOT NULL,
    PRIMARY KEY (conversation, author)
) STRICT, WITHOUT ROWID;

-- Sequence numbers a Delete redacted: an entry arriving later with one of them is kept as a tombstone.
CREATE TABLE chat_redactions (
    conversation BLOB    NOT NULL,
    author       TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (conversation, author, seq)
) STRICT, WITHOUT ROWID;

-- What the window shows: messages, share cards and notices ("Ada added Bo"), in log order.
CREATE TABLE chat_messages (
    rowid        INTEGER PRIMARY KEY,
    entry        BLOB    NOT NULL UNIQUE,
    conversation BLOB    NOT NULL,
    author       TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    hlc          INTEGER NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('text', 'share', 'notice')),
    text         TEXT    NOT NULL DEFAULT '',
    detail       BLOB,                    -- CBOR: the share card, or the notice's membership entry
    reply_to     BLOB,
    edit_hlc     INTEGER,                 -- the time of the edit whose text is shown
    deleted      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX chat_messages_by_time ON chat_messages (conversation, hlc, author, seq);

CREATE VIRTUAL TABLE chat_search USING fts5(
    text, content = 'chat_messages', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER chat_messages_ai AFTER INSERT ON chat_messages WHEN new.text <> '' BEGIN
    INSERT INTO chat_search (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER chat_messages_au AFTER UPDATE OF text ON chat_messages BEGIN
    INSERT INTO chat_search (chat_search, rowid, text)
        SELECT 'delete', old.rowid, old.text WHERE old.text <> '';
    INSERT INTO chat_search (rowid, text) SELECT new.rowid, new.text WHERE new.text <> '';
END;
CREATE TRIGGER chat_messages_ad AFTER DELETE ON chat_messages WHEN old.text <> '' BEGIN
    INSERT INTO chat_search (chat_search, rowid, text) VALUES ('delete', old.rowid, old.text);
END;

-- The latest reaction per (target, reactor, emoji): on or off, by the latest (hlc, seq).
CREATE TABLE chat_reactions (
    target       BLOB    NOT NULL,
    reactor      TEXT    NOT NULL,
    emoji        TEXT    NOT NULL,
    active       INTEGER NOT NULL,
    hlc          INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    conversation BLOB    NOT NULL,        -- where the reaction was made (shown only there)
    PRIMARY KEY (target, reactor, emoji)
) STRICT, WITHOUT ROWID;

-- Members as the log says now; former members stay with active = 0 (their entries stay valid)
-- and until_hlc = when they stopped: what they write after that is kept but never shown.
CREATE TABLE chat_members (
    conversation BLOB    NOT NULL,
    peer         TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('creator', 'admin', 'member')),
    active       INTEGER NOT NULL,
    until_hlc    INTEGER,
    PRIMARY KEY (conversation, peer)
) STRICT, WITHOUT ROWID;

CREATE INDEX chat_members_by_peer ON chat_members (peer, active);

-- What each other member is known to hold of our entries (delivery receipts).
CREATE TABLE chat_delivered (
    conversation BLOB    NOT NULL,
    member       TEXT    NOT NULL,
    upto         INTEGER NOT NULL,
    PRIMARY KEY (conversation, member)
) STRICT, WITHOUT ROWID;

-- Each member's latest read marker.
CREATE TABLE chat_reads (
    conversation BLOB    NOT NULL,
    member       TEXT    NOT NULL,
    upto         INTEGER NOT NULL,
    PRIMARY KEY (conversation, member)
) STRICT, WITHOUT ROWID;

-- What other peers told us about themselves in a sync: their name and addresses (for members
-- who are not friends: how to reach them) and whether they turned Messages off.
CREATE TABLE chat_peers (
    peer         TEXT    PRIMARY KEY,
    display_name TEXT,
    addresses    TEXT    NOT NULL DEFAULT '[]',  -- JSON array of multiaddrs
    messages_off INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Reports the user made: kept here only (there is no server); exportable to a file.
CREATE TABLE chat_reports (
    id           INTEGER PRIMARY KEY,
    peer         TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    conversation BLOB    NOT NULL,
    reason       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    messages     TEXT    NOT NULL         -- JSON array of api::ChatMessage, as they were
) STRICT;

-- Tracks named by share cards, by who shared them where: a member of that conversation may fetch
-- those bytes from the sharer (`/earshot/transfer/1`) without being the sharer's friend.
CREATE TABLE chat_shared_hashes (
    hash         TEXT    NOT NULL,        -- hex BLAKE3, as in `tracks`
    conversation BLOB    NOT NULL,
    author       TEXT    NOT NULL,
    PRIMARY KEY (hash, conversation, author)
) STRICT, WITHOUT ROWID;
