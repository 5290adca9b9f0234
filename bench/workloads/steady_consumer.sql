-- Steady state, consumer: receive up to 10, delete them in one batch; when
-- the queue is empty, back off for 10 ms as a polling consumer would.
BEGIN;
SELECT count(*) AS n, coalesce(array_agg(receipt_handle), '{}') AS hs
FROM sqsn.sq_receive('steady', 10, 30) \gset
\if :n > 0
SELECT count(*) FROM sqsn.sq_delete_batch('steady', :hs) WHERE deleted;
\endif
COMMIT;
\if :n = 0
\sleep 10 ms
\endif
