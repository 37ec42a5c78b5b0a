-- Since when every attempt to the endpoint has failed; NULL while healthy.
ALTER TABLE endpoints ADD COLUMN failing_since INTEGER;

INSERT INTO event_types VALUES (
    'endpoint.disabled',
    'Operational: an endpoint was disabled after failing for ENDPOINT_DISABLE_AFTER.',
    0, 0, NULL, 'operational', '[]',
    CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER)
);
