-- bench/soak: a FIFO producer, one message per transaction, in one of 20
-- message groups, with a unique deduplication id.
\set g random(0, 19)
SELECT sqsn.sq_send(:queue, :body, message_group_id => (:g)::text,
	message_deduplication_id => gen_random_uuid()::text);
