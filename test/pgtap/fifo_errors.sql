-- FIFO queues and topics: each misuse gets its own SQLSTATE (never XX000)
-- and stores nothing; nobody reads the deduplication records directly.
BEGIN;
SELECT plan(27);

DO $$
BEGIN
	PERFORM sqsn.sq_create_queue('tap_f.fifo');
	PERFORM sqsn.sq_create_queue('tap_f_dlq.fifo');
	PERFORM sqsn.sq_create_queue('tap_s');
	PERFORM sqsn.sn_create_topic('tap_ft.fifo');
	PERFORM sqsn.sn_create_topic('tap_st');
END
$$;

-- missing ids: 22004
SELECT throws_ok($$SELECT sqsn.sq_send('tap_f.fifo', 'x')$$, '22004', NULL, 'FIFO send without a group id');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_f.fifo', 'x', message_group_id => 'g')$$, '22004', NULL, 'FIFO send without a deduplication id');
SELECT throws_ok($$SELECT sqsn.sq_send_batch('tap_f.fifo', ARRAY['x'], message_deduplication_ids => ARRAY['d'])$$, '22004', NULL, 'FIFO batch without group ids');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_ft.fifo', 'x')$$, '22004', NULL, 'FIFO publish without a group id');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_ft.fifo', 'x', message_group_id => 'g')$$, '22004', NULL, 'FIFO publish without a deduplication id');

-- invalid values: 22023
SELECT throws_ok($$SELECT sqsn.sq_send('tap_f.fifo', 'x', delay_seconds => 0, message_group_id => 'g', message_deduplication_id => 'd')$$, '22023', NULL, 'per-message delay on a FIFO queue');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_s', 'x', message_deduplication_id => 'd')$$, '22023', NULL, 'deduplication id on a standard queue');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_f.fifo', 'x', message_group_id => repeat('g', 129), message_deduplication_id => 'd')$$, '22023', NULL, 'group id over 128 characters');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_f.fifo', 'x', message_group_id => 'g', message_deduplication_id => 'd d')$$, '22023', NULL, 'deduplication id with a space');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_s', 'x', message_group_id => '')$$, '22023', NULL, 'empty group id on a standard queue');
SELECT throws_ok($$SELECT sqsn.sq_send_batch('tap_f.fifo', ARRAY['x', 'y'], message_group_ids => ARRAY['g'])$$, '22023', NULL, 'group id array of another length');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x', content_based_deduplication => true)$$, '22023', NULL, 'content-based deduplication on a standard queue');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x.fifo', deduplication_scope => 'topic')$$, '22023', NULL, 'unknown deduplication scope');
SELECT throws_ok($$SELECT sqsn.sq_set_queue_attributes('tap_f.fifo', '{"FifoQueue": false}')$$, '22023', NULL, 'FifoQueue cannot change');
SELECT throws_ok($$SELECT sqsn.sq_set_queue_attributes('tap_s', '{"DeduplicationScope": "messageGroup"}')$$, '22023', NULL, 'deduplication scope on a standard queue');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_st', 'x', message_group_id => 'g', message_deduplication_id => 'd')$$, '22023', NULL, 'deduplication id on a standard topic');
SELECT throws_ok($$SELECT sqsn.sn_create_topic('tap_x', true)$$, '22023', NULL, 'content-based deduplication on a standard topic');

-- the other kind: 42809
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x.fifo', dead_letter_queue => 'tap_s', max_receive_count => 2)$$, '42809', NULL, 'standard dead-letter queue for a FIFO queue');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x', dead_letter_queue => 'tap_f_dlq.fifo', max_receive_count => 2)$$, '42809', NULL, 'FIFO dead-letter queue for a standard queue');
SELECT throws_ok($$SELECT sqsn.sq_redrive('tap_f_dlq.fifo', 'tap_s')$$, '42809', NULL, 'redrive from FIFO to standard');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_ft.fifo', 'sqs', 'tap_s')$$, '42809', NULL, 'standard queue on a FIFO topic');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_st', 'sqs', 'tap_f.fifo')$$, '42809', NULL, 'FIFO queue on a standard topic');

-- names and the rest
SELECT throws_ok($$SELECT sqsn.sq_create_queue('x.y.fifo')$$, '42602', NULL, 'a dot before the .fifo suffix');
SELECT throws_ok($$SELECT sqsn.sq_schedule_send('tap_job', '* * * * *', 'tap_f.fifo', 'x')$$, '0A000', NULL, 'scheduled send to a FIFO queue');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_f.fifo', content_based_deduplication => true)$$, '42710', NULL, 'FIFO queue exists with other settings');

SELECT is((SELECT visible + in_flight + delayed FROM sqsn.queue_stats WHERE queue_name = 'tap_f.fifo'),
	0::bigint, 'nothing was stored');
SELECT ok(NOT has_table_privilege('sqsn_admin', 'sqsn.fifo_dedup', 'SELECT')
	AND NOT has_table_privilege('sqsn_producer', 'sqsn.fifo_dedup', 'SELECT')
	AND NOT has_table_privilege('sqsn_consumer', 'sqsn.fifo_dedup', 'SELECT'),
	'nobody reads the deduplication records directly');

SELECT * FROM finish();
ROLLBACK;
