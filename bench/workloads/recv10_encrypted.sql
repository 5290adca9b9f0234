-- sqsn, encrypted queue: receive up to 10 messages (decrypted on the way
-- out) and delete them with one sq_delete_batch.
BEGIN;
SELECT array_agg(receipt_handle) AS hs, sum(length(body)) AS bytes
FROM sqsn.sq_receive('enc_recv', 10, 30) \gset
SELECT count(*) FROM sqsn.sq_delete_batch('enc_recv', :hs) WHERE deleted;
COMMIT;
