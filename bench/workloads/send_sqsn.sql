-- sqsn: send one message per transaction.
SELECT sqsn.sq_send('send', :body);
