-- Baseline: one INSERT per transaction into a table shaped like a sqsn
-- message table, with the columns sq_send fills.
INSERT INTO bench.plain_send (message_id, body, sent_at, visible_at, expires_at)
VALUES (gen_random_uuid(), :body, now(), now(), now() + interval '345600 s');
