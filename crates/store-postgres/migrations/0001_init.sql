-- The same schema as the SQLite store: times are Unix milliseconds (BIGINT), every
-- integer is BIGINT and lists and maps are JSON text, so rows map onto the domain
-- records exactly as on SQLite. Keys that lists page and sort by use the "C" collation
-- (byte order), as SQLite does: ids are base62 and their order is their creation order.
CREATE TABLE tokens (
    hash       TEXT COLLATE "C" PRIMARY KEY,   -- SHA-256 of the token, hex
    app_id     TEXT COLLATE "C",               -- NULL: admin token
    created_at BIGINT NOT NULL
);

CREATE TABLE applications (
    id            TEXT COLLATE "C" PRIMARY KEY,
    uid           TEXT COLLATE "C" UNIQUE,
    name          TEXT NOT NULL,
    throttle_rate BIGINT,
    metadata      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE event_types (
    name          TEXT COLLATE "C" PRIMARY KEY,
    description   TEXT NOT NULL,
    archived      BOOLEAN NOT NULL,
    deprecated    BOOLEAN NOT NULL,
    schemas       TEXT,
    group_name    TEXT,
    feature_flags TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

INSERT INTO event_types VALUES (
    'quotation.created',
    'A customer submitted a quotation request with its generated files.',
    FALSE, FALSE, NULL, 'quotations', '[]',
    (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT,
    (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
);

CREATE TABLE endpoints (
    id            TEXT COLLATE "C" PRIMARY KEY,
    app_id        TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    uid           TEXT COLLATE "C",
    url           TEXT NOT NULL,
    description   TEXT NOT NULL,
    throttle_rate BIGINT,
    disabled      BOOLEAN NOT NULL,
    event_types   TEXT NOT NULL,
    channels      TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    headers       TEXT NOT NULL,
    secrets       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (app_id, uid)
);
CREATE INDEX endpoints_app ON endpoints(app_id, id);

CREATE TABLE messages (
    id         TEXT COLLATE "C" PRIMARY KEY,
    app_id     TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    event_id   TEXT COLLATE "C",
    event_type TEXT COLLATE "C" NOT NULL,
    payload    TEXT NOT NULL,             -- exactly as received, delivered byte for byte
    channels   TEXT NOT NULL,
    tags       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (app_id, event_id)
);
CREATE INDEX messages_app ON messages(app_id, id);

-- One row per (message, endpoint): its status and, while pending or sending, when it is
-- next due (for a sending row: when its lease runs out). `lease` is the fencing token.
-- Workers claim due rows with FOR UPDATE SKIP LOCKED, so nodes never wait on each other.
CREATE TABLE deliveries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msg_id      TEXT COLLATE "C" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id TEXT COLLATE "C" NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status      BIGINT NOT NULL,
    run_at      BIGINT,
    attempts    BIGINT NOT NULL DEFAULT 0,
    manual      BOOLEAN NOT NULL DEFAULT FALSE,
    lease       TEXT,
    updated_at  BIGINT NOT NULL,
    UNIQUE (msg_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries(run_at) WHERE run_at IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, msg_id);
CREATE INDEX deliveries_lease ON deliveries(lease) WHERE lease IS NOT NULL;

CREATE TABLE attempts (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    msg_id               TEXT COLLATE "C" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id          TEXT COLLATE "C" NOT NULL,
    url                  TEXT NOT NULL,
    status               BIGINT NOT NULL,
    response_status_code BIGINT NOT NULL,
    response             TEXT NOT NULL,
    response_duration_ms BIGINT NOT NULL,
    trigger_type         BIGINT NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE INDEX attempts_msg ON attempts(msg_id, id);
CREATE INDEX attempts_endpoint ON attempts(endpoint_id, id);

CREATE TABLE idempotency (
    key        TEXT COLLATE "C" PRIMARY KEY,
    status     BIGINT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
