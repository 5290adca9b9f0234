-- A receiver waiting on a queue that stays empty.
SELECT count(*) FROM sqsn.sq_receive('idle', 1, 30, wait_time_seconds => :wait);
