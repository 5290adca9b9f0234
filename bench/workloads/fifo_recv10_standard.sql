-- Baseline of the FIFO workload: the same on a standard queue holding the
-- same messages (group ids kept as hints, no ordering).
BEGIN;
SELECT array_agg(receipt_handle) AS hs, sum(length(body)) AS bytes
FROM sqsn.sq_receive('fifo_std', 10, 30) \gset
SELECT count(*) FROM sqsn.sq_delete_batch('fifo_std', :hs) WHERE deleted;
COMMIT;
