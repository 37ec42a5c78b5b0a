-- Only messages with an eventId need its uniqueness checked, and most have none: a
-- partial index spares every other message an index entry (as SQLite's 0005 does).
-- `ON CONFLICT DO NOTHING` without a target covers a partial unique index too.
CREATE UNIQUE INDEX messages_event ON messages (app_id, event_id) WHERE event_id IS NOT NULL;
ALTER TABLE messages DROP CONSTRAINT messages_app_id_event_id_key;
