-- sqsn FIFO: receive one message (the head of a message group no other
-- consumer holds) and delete it, one transaction.
BEGIN;
SELECT receipt_handle AS h, length(body) AS bytes FROM sqsn.sq_receive('fifo.fifo', 1, 30) \gset
SELECT sqsn.sq_delete('fifo.fifo', :h);
COMMIT;
