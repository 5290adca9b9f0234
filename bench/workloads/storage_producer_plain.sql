-- Storage workloads, baseline producer: one INSERT per transaction into
-- bench.@TABLE@ (shaped like a sqsn message table).
INSERT INTO bench.@TABLE@ (message_id, body, sent_at, visible_at, expires_at)
VALUES (gen_random_uuid(), :body, now(), now(), now() + interval '345600 s');
