-- sqsn FIFO, high throughput mode (FifoThroughputLimit perMessageGroupId,
-- DeduplicationScope messageGroup): the same send as fifo_send.sql.
\set g random(0, 99)
SELECT sqsn.sq_send('fifo_ht.fifo', :body, message_group_id => 'g' || :g,
	message_deduplication_id => gen_random_uuid()::text);
