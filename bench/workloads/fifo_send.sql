-- sqsn FIFO: send one message to one of 100 message groups, with a
-- deduplication id of its own, one transaction (the per-queue mode).
\set g random(0, 99)
SELECT sqsn.sq_send('fifo.fifo', :body, message_group_id => 'g' || :g,
	message_deduplication_id => gen_random_uuid()::text);
