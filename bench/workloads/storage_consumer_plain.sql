-- Storage workloads, baseline consumer: lease up to 10 visible rows of
-- bench.@TABLE@ with FOR UPDATE SKIP LOCKED, delete them with one DELETE;
-- back off 10 ms when nothing is visible.
\set tok random(1, 9223372036854775807)
BEGIN;
WITH r AS (
    UPDATE bench.@TABLE@ m
    SET visible_at = now() + interval '30 s', lease_token = :tok,
        receive_count = m.receive_count + 1,
        first_received_at = coalesce(m.first_received_at, now())
    WHERE m.msg_seq IN (
        SELECT c.msg_seq FROM bench.@TABLE@ c
        WHERE c.visible_at <= now() AND c.expires_at > now()
        ORDER BY c.msg_seq LIMIT 10
        FOR UPDATE SKIP LOCKED)
    RETURNING m.msg_seq)
SELECT count(*) AS n, coalesce(array_agg(msg_seq), '{}') AS ids FROM r \gset
\if :n > 0
DELETE FROM bench.@TABLE@ WHERE msg_seq = ANY (:ids) AND lease_token = :tok;
\endif
COMMIT;
\if :n = 0
\sleep 10 ms
\endif
