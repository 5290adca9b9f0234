-- sqsn, encrypted queue: send one message per transaction (the body and
-- attributes are sealed with AES-256-GCM before the insert).
SELECT sqsn.sq_send('enc_send', :body);
