-- The group commit keeps the applications' enabled endpoints in memory between batches
-- (reading them was a round trip of its own per batch, 14-20% of the writer's time).
-- `routing_version.n` moves on every change routing could see, whichever connection or
-- process makes it; a batch that used remembered routes checks the number inside its
-- transaction (through `routing_guard`) and is aborted if it moved.
CREATE TABLE routing_version (n INTEGER NOT NULL);
INSERT INTO routing_version VALUES (0);

CREATE TRIGGER routing_endpoint_created AFTER INSERT ON endpoints
BEGIN UPDATE routing_version SET n = n + 1; END;
CREATE TRIGGER routing_endpoint_deleted AFTER DELETE ON endpoints
BEGIN UPDATE routing_version SET n = n + 1; END;
-- Every column a delivery is routed or sent by (failing_since too: the worker disables
-- an endpoint by it), all but `seq` (never updated) and `throttle_next_us`, which moves
-- on every throttled send and lives in the table, not in the routes. A column added to
-- `endpoints` must be added here (a test compares this list with the table).
CREATE TRIGGER routing_endpoint_updated AFTER UPDATE OF
    id, app_id, uid, url, description, throttle_rate, disabled, event_types, channels,
    metadata, headers, secrets, created_at, updated_at, failing_since
ON endpoints
BEGIN UPDATE routing_version SET n = n + 1; END;
-- An application's deletion deletes its endpoints (which moves the number already), but
-- an application without endpoints is a route too: its messages are stored, with no
-- delivery.
CREATE TRIGGER routing_application_deleted AFTER DELETE ON applications
BEGIN UPDATE routing_version SET n = n + 1; END;

-- `INSERT INTO routing_guard VALUES (n)` aborts the statement (and so the batch's script)
-- unless `n` is the current version: a check that needs no round trip of its own.
CREATE VIEW routing_guard (expected) AS SELECT n FROM routing_version WHERE 0;
CREATE TRIGGER routing_guard_check INSTEAD OF INSERT ON routing_guard
BEGIN
    SELECT RAISE(ABORT, 'routes changed')
    WHERE NEW.expected IS NOT (SELECT n FROM routing_version);
END;
