-- throttleRate across nodes: each endpoint's next free send slot (microseconds), taken
-- atomically by whichever node sends; a delivery put back to wait for its slot holds it.
ALTER TABLE endpoints ADD COLUMN throttle_next_us INTEGER;
ALTER TABLE deliveries ADD COLUMN holds_slot INTEGER NOT NULL DEFAULT 0;
