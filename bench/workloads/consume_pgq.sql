-- PgQ consume: take the next batch of consumer 'c' (all events between two
-- ticks), read its events, finish it; one transaction per batch.
BEGIN;
SELECT coalesce(pgq.next_batch('cons', 'c'), 0) AS batch \gset
\if :batch > 0
SELECT count(*) AS n, sum(length(ev_data)) AS bytes FROM pgq.get_batch_events(:batch) \gset
SELECT pgq.finish_batch(:batch);
\endif
COMMIT;
