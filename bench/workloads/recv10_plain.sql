-- Baseline: lease up to 10 messages with FOR UPDATE SKIP LOCKED, delete them
-- with one DELETE ... WHERE msg_seq = ANY.
\set tok random(1, 9223372036854775807)
BEGIN;
WITH r AS (
    UPDATE bench.plain_recv m
    SET visible_at = now() + interval '30 s', lease_token = :tok,
        receive_count = m.receive_count + 1,
        first_received_at = coalesce(m.first_received_at, now())
    WHERE m.msg_seq IN (
        SELECT c.msg_seq FROM bench.plain_recv c
        WHERE c.visible_at <= now() AND c.expires_at > now()
        ORDER BY c.msg_seq LIMIT 10
        FOR UPDATE SKIP LOCKED)
    RETURNING m.msg_seq, m.body)
SELECT array_agg(msg_seq) AS ids, sum(length(body)) AS bytes FROM r \gset
DELETE FROM bench.plain_recv WHERE msg_seq = ANY (:ids) AND lease_token = :tok;
COMMIT;
