-- sqsn FIFO: receive up to 10 messages (the leading ones of a message group
-- no other consumer holds), delete them with one sq_delete_batch.
BEGIN;
SELECT array_agg(receipt_handle) AS hs, sum(length(body)) AS bytes
FROM sqsn.sq_receive('fifo.fifo', 10, 30) \gset
SELECT count(*) FROM sqsn.sq_delete_batch('fifo.fifo', :hs) WHERE deleted;
COMMIT;
