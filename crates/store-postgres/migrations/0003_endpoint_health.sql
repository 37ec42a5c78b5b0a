-- Since when every attempt to the endpoint has failed; NULL while healthy.
ALTER TABLE endpoints ADD COLUMN failing_since BIGINT;

INSERT INTO event_types VALUES (
    'endpoint.disabled',
    'Operational: an endpoint was disabled after failing for ENDPOINT_DISABLE_AFTER.',
    FALSE, FALSE, NULL, 'operational', '[]',
    (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT,
    (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
);
