-- Compact storage (issue 8: at most 600 bytes per message and attempt beyond the payload).
-- The public text ids (`msg_…`, `ep_…`, `atmpt_…`, 31–33 bytes) were repeated in every
-- row and index of `deliveries` and `attempts`: about 500 bytes per delivered message.
-- Messages, endpoints and attempts now get an integer key (`seq`, an alias of the rowid,
-- so VACUUM keeps it), their text id is stored once under a unique index, and the other
-- tables refer to them by `seq`. Lists page by `seq` (the insertion order).
-- Tables are rebuilt (SQLite cannot change a primary key in place): new tables are
-- filled from the old, the old are dropped children first (so no cascade fires), and the
-- new take their names; the rename also rewrites the new tables' foreign keys.
-- An attempt now belongs to its endpoint as it does to its message: deleting either
-- deletes its attempts (before, attempts of a deleted endpoint were kept without it).

CREATE TABLE endpoints_new (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    app_id           TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    uid              TEXT,
    url              TEXT NOT NULL,
    description      TEXT NOT NULL,
    throttle_rate    INTEGER,
    disabled         INTEGER NOT NULL,
    event_types      TEXT NOT NULL,
    channels         TEXT NOT NULL,
    metadata         TEXT NOT NULL,
    headers          TEXT NOT NULL,
    secrets          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    failing_since    INTEGER,
    throttle_next_us INTEGER,
    UNIQUE (app_id, uid)
);
INSERT INTO endpoints_new (id, app_id, uid, url, description, throttle_rate, disabled, event_types,
    channels, metadata, headers, secrets, created_at, updated_at, failing_since, throttle_next_us)
SELECT id, app_id, uid, url, description, throttle_rate, disabled, event_types,
    channels, metadata, headers, secrets, created_at, updated_at, failing_since, throttle_next_us
FROM endpoints ORDER BY id;

CREATE TABLE messages_new (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    app_id     TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    event_id   TEXT,
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL,             -- exactly as received, delivered byte for byte
    channels   TEXT NOT NULL,
    tags       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
-- Ids sort by creation time, so existing messages keep their list order.
INSERT INTO messages_new (id, app_id, event_id, event_type, payload, channels, tags, created_at)
SELECT id, app_id, event_id, event_type, payload, channels, tags, created_at
FROM messages ORDER BY id;

-- One row per (message, endpoint): its status and, while pending or sending, when it is
-- next due (for a sending row: when its lease runs out). `lease` is the fencing token.
CREATE TABLE deliveries_new (
    id           INTEGER PRIMARY KEY,
    msg_seq      INTEGER NOT NULL REFERENCES messages_new(seq) ON DELETE CASCADE,
    endpoint_seq INTEGER NOT NULL REFERENCES endpoints_new(seq) ON DELETE CASCADE,
    status       INTEGER NOT NULL,
    run_at       INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    manual       INTEGER NOT NULL DEFAULT 0,
    lease        TEXT,
    updated_at   INTEGER NOT NULL,
    holds_slot   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (msg_seq, endpoint_seq)
);
INSERT INTO deliveries_new (id, msg_seq, endpoint_seq, status, run_at, attempts, manual, lease, updated_at, holds_slot)
SELECT d.id, m.seq, e.seq, d.status, d.run_at, d.attempts, d.manual, d.lease, d.updated_at, d.holds_slot
FROM deliveries d JOIN messages_new m ON m.id = d.msg_id JOIN endpoints_new e ON e.id = d.endpoint_id;

CREATE TABLE attempts_new (
    seq                  INTEGER PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    msg_seq              INTEGER NOT NULL REFERENCES messages_new(seq) ON DELETE CASCADE,
    endpoint_seq         INTEGER NOT NULL REFERENCES endpoints_new(seq) ON DELETE CASCADE,
    url                  TEXT NOT NULL,
    status               INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response             TEXT NOT NULL,
    response_duration_ms INTEGER NOT NULL,
    trigger_type         INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);
INSERT INTO attempts_new (id, msg_seq, endpoint_seq, url, status, response_status_code, response,
    response_duration_ms, trigger_type, created_at)
SELECT a.id, m.seq, e.seq, a.url, a.status, a.response_status_code, a.response,
    a.response_duration_ms, a.trigger_type, a.created_at
FROM attempts a JOIN messages_new m ON m.id = a.msg_id JOIN endpoints_new e ON e.id = a.endpoint_id
ORDER BY a.id;

DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE messages;
DROP TABLE endpoints;
ALTER TABLE endpoints_new RENAME TO endpoints;
ALTER TABLE messages_new RENAME TO messages;
ALTER TABLE deliveries_new RENAME TO deliveries;
ALTER TABLE attempts_new RENAME TO attempts;

CREATE INDEX endpoints_app ON endpoints(app_id, id);
-- Only messages with an eventId need the uniqueness check (most have none).
CREATE UNIQUE INDEX messages_event ON messages(app_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX messages_app ON messages(app_id, seq);
CREATE INDEX deliveries_due ON deliveries(run_at) WHERE run_at IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_seq, msg_seq);
CREATE INDEX attempts_msg ON attempts(msg_seq, seq);
CREATE INDEX attempts_endpoint ON attempts(endpoint_seq, seq);
