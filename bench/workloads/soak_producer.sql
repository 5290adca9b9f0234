-- bench/soak: a producer, one message per transaction to queue :queue
-- (pgbench -R sets the rate).
SELECT sqsn.sq_send(:queue, :body);
