-- sqsn: receive one 1 MiB message (its body read whole) and delete it, one
-- transaction.
BEGIN;
SELECT receipt_handle AS h, length(body) AS bytes FROM sqsn.sq_receive('large', 1, 30) \gset
SELECT sqsn.sq_delete('large', :h);
COMMIT;
