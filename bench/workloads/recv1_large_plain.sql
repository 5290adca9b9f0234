-- Baseline: the SKIP LOCKED lease and delete of recv1_plain.sql on the
-- table of 1 MiB messages.
\set tok random(1, 9223372036854775807)
BEGIN;
UPDATE bench.plain_large m
SET visible_at = now() + interval '30 s', lease_token = :tok,
    receive_count = m.receive_count + 1,
    first_received_at = coalesce(m.first_received_at, now())
WHERE m.msg_seq IN (
    SELECT c.msg_seq FROM bench.plain_large c
    WHERE c.visible_at <= now() AND c.expires_at > now()
    ORDER BY c.msg_seq LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING m.msg_seq AS id, length(m.body) AS bytes \gset
DELETE FROM bench.plain_large WHERE msg_seq = :id AND lease_token = :tok;
COMMIT;
