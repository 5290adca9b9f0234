-- sqsn: receive one message and delete it, one transaction. An empty queue
-- makes \gset fail: a receive workload must never run the queue dry.
BEGIN;
SELECT receipt_handle AS h, length(body) AS bytes FROM sqsn.sq_receive('recv', 1, 30) \gset
SELECT sqsn.sq_delete('recv', :h);
COMMIT;
