-- sqsn: receive up to 10 messages, delete them with one sq_delete_batch.
BEGIN;
SELECT array_agg(receipt_handle) AS hs, sum(length(body)) AS bytes
FROM sqsn.sq_receive('recv', 10, 30) \gset
SELECT count(*) FROM sqsn.sq_delete_batch('recv', :hs) WHERE deleted;
COMMIT;
