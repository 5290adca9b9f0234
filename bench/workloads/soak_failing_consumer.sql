-- bench/soak: a consumer that fails every message of queue :queue: it
-- receives (waiting up to 5 s) and never deletes, so each message comes back
-- when its visibility timeout ends, and one received more than the queue's
-- max_receive_count times moves to the dead-letter queue.
SELECT count(*) FROM sqsn.sq_receive(:queue, 10, NULL, 5);
