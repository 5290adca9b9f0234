-- Baseline: one INSERT of the same 1 MiB body per transaction into a table
-- shaped like a sqsn message table.
INSERT INTO bench.plain_large (message_id, body, sent_at, visible_at, expires_at)
SELECT gen_random_uuid(), body, now(), now(), now() + interval '345600 s'
FROM bench.large_body;
