-- Times are Unix milliseconds; lists of strings and maps are JSON text.
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,          -- SHA-256 of the token, hex
    app_id     TEXT,                      -- NULL: admin token
    created_at INTEGER NOT NULL
);

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    throttle_rate INTEGER,
    metadata      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE event_types (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL,
    archived      INTEGER NOT NULL,
    deprecated    INTEGER NOT NULL,
    schemas       TEXT,
    group_name    TEXT,
    feature_flags TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

INSERT INTO event_types VALUES (
    'quotation.created',
    'A customer submitted a quotation request with its generated files.',
    0, 0, NULL, 'quotations', '[]',
    CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER)
);

CREATE TABLE endpoints (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    uid           TEXT,
    url           TEXT NOT NULL,
    description   TEXT NOT NULL,
    throttle_rate INTEGER,
    disabled      INTEGER NOT NULL,
    event_types   TEXT NOT NULL,
    channels      TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    headers       TEXT NOT NULL,
    secrets       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (app_id, uid)
);
CREATE INDEX endpoints_app ON endpoints(app_id, id);

CREATE TABLE messages (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    event_id   TEXT,
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL,             -- exactly as received, delivered byte for byte
    channels   TEXT NOT NULL,
    tags       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (app_id, event_id)
);
CREATE INDEX messages_app ON messages(app_id, id);

-- One row per (message, endpoint): its status and, while pending or sending, when it is
-- next due (for a sending row: when its lease runs out). `lease` is the fencing token.
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY,
    msg_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status      INTEGER NOT NULL,
    run_at      INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    manual      INTEGER NOT NULL DEFAULT 0,
    lease       TEXT,
    updated_at  INTEGER NOT NULL,
    UNIQUE (msg_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries(run_at) WHERE run_at IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, msg_id);

CREATE TABLE attempts (
    id                   TEXT PRIMARY KEY,
    msg_id               TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id          TEXT NOT NULL,
    url                  TEXT NOT NULL,
    status               INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response             TEXT NOT NULL,
    response_duration_ms INTEGER NOT NULL,
    trigger_type         INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);
CREATE INDEX attempts_msg ON attempts(msg_id, id);
CREATE INDEX attempts_endpoint ON attempts(endpoint_id, id);

CREATE TABLE idempotency (
    key        TEXT PRIMARY KEY,
    status     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
