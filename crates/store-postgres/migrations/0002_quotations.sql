-- Quotations (a customer's quotation request), their files, and each project's
-- quotation secret. Files live in the database: one BYTEA per file, at most 10 MiB each
-- and 25 MiB per quotation (enforced by the API).

-- One secret per application; looked up by application, compared in constant time.
CREATE TABLE quotation_secrets (
    app_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES applications(id) ON DELETE CASCADE,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE quotations (
    id            TEXT COLLATE "C" PRIMARY KEY,
    app_id        TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    msg_id        TEXT COLLATE "C" NOT NULL,   -- its quotation.created message
    customer      TEXT NOT NULL,               -- JSON object
    configuration TEXT NOT NULL,               -- JSON object
    created_at    BIGINT NOT NULL
);
CREATE INDEX quotations_app ON quotations(app_id, id);

CREATE TABLE quotation_files (
    id           TEXT COLLATE "C" PRIMARY KEY,
    quotation_id TEXT COLLATE "C" NOT NULL REFERENCES quotations(id) ON DELETE CASCADE,
    app_id       TEXT COLLATE "C" NOT NULL,    -- copied from the quotation: every lookup is scoped by it
    position     BIGINT NOT NULL,              -- upload order
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content      BYTEA NOT NULL
);
CREATE INDEX quotation_files_quotation ON quotation_files(quotation_id, position);
