-- sqsn FIFO, high throughput mode: the same receive+delete as
-- fifo_recv1.sql.
BEGIN;
SELECT receipt_handle AS h, length(body) AS bytes FROM sqsn.sq_receive('fifo_ht.fifo', 1, 30) \gset
SELECT sqsn.sq_delete('fifo_ht.fifo', :h);
COMMIT;
