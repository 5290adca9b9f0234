-- Steady state, producer: one message per transaction.
SELECT sqsn.sq_send('steady', :body);
