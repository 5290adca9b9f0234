-- sqsn, encrypted queue: receive one message (decrypted on the way out)
-- and delete it, one transaction. An empty queue makes \gset fail.
BEGIN;
SELECT receipt_handle AS h, length(body) AS bytes FROM sqsn.sq_receive('enc_recv', 1, 30) \gset
SELECT sqsn.sq_delete('enc_recv', :h);
COMMIT;
