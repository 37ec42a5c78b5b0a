-- Quotations (a customer's quotation request), their files, and each project's
-- quotation secret. Files live in the database: one BLOB per file, at most 10 MiB each
-- and 25 MiB per quotation (enforced by the API).

-- One secret per application; looked up by application, compared in constant time.
CREATE TABLE quotation_secrets (
    app_id     TEXT PRIMARY KEY REFERENCES applications(id) ON DELETE CASCADE,
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE quotations (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    msg_id        TEXT NOT NULL,           -- its quotation.created message
    customer      TEXT NOT NULL,           -- JSON object
    configuration TEXT NOT NULL,           -- JSON object
    created_at    INTEGER NOT NULL
);
CREATE INDEX quotations_app ON quotations(app_id, id);

CREATE TABLE quotation_files (
    id           TEXT PRIMARY KEY,
    quotation_id TEXT NOT NULL REFERENCES quotations(id) ON DELETE CASCADE,
    app_id       TEXT NOT NULL,            -- copied from the quotation: every lookup is scoped by it
    position     INTEGER NOT NULL,         -- upload order
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content      BLOB NOT NULL
);
CREATE INDEX quotation_files_quotation ON quotation_files(quotation_id, position);
