-- Baseline of the FIFO workload: the same on a standard queue holding the
-- same messages (group ids kept as hints, no ordering).
BEGIN;
SELECT receipt_handle AS h, length(body) AS bytes FROM sqsn.sq_receive('fifo_std', 1, 30) \gset
SELECT sqsn.sq_delete('fifo_std', :h);
COMMIT;
