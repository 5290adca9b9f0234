-- Error SQLSTATEs of the API: each misuse gets its own code, never XX000.
BEGIN;
SELECT plan(43);

DO $$
BEGIN
	PERFORM sqsn.sq_create_queue('tap_err');
	PERFORM sqsn.sq_create_queue('tap_err_small', maximum_message_size => 1024);
	PERFORM sqsn.sq_create_queue('tap_err_dead');
	PERFORM sqsn.sq_create_queue('tap_err_src', dead_letter_queue => 'tap_err_dead', max_receive_count => 3);
	PERFORM sqsn.sq_send('tap_err', 'x');
END
$$;
SELECT receipt_handle AS h FROM sqsn.sq_receive('tap_err', 1, 600) \gset

-- unknown queue: 42704
SELECT throws_ok($$SELECT sqsn.sq_send('tap_nope', 'x')$$, '42704', 'queue "tap_nope" does not exist', 'send to an unknown queue');
SELECT throws_ok($$SELECT sqsn.sq_receive('tap_nope')$$, '42704', 'queue "tap_nope" does not exist', 'receive from an unknown queue');
SELECT throws_ok($$SELECT sqsn.sq_delete_queue('tap_nope')$$, '42704', 'queue "tap_nope" does not exist', 'delete an unknown queue');
SELECT throws_ok($$SELECT sqsn.sq_purge_queue('tap_nope')$$, '42704', 'queue "tap_nope" does not exist', 'purge an unknown queue');
SELECT throws_ok($$SELECT sqsn.sq_get_queue_attributes('tap_nope')$$, '42704', 'queue "tap_nope" does not exist', 'attributes of an unknown queue');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x', dead_letter_queue => 'tap_nope', max_receive_count => 1)$$, '42704', NULL, 'a DLQ that does not exist');

-- invalid names: 42602
SELECT throws_ok($$SELECT sqsn.sq_create_queue('')$$, '42602', NULL, 'empty queue name');
SELECT throws_ok(format('SELECT sqsn.sq_create_queue(%L)', repeat('a', 81)), '42602', NULL, 'queue name of 81 characters');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('a.b')$$, '42602', NULL, 'queue name with a dot');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('x"; drop table sqsn.queue; --')$$, '42602', NULL, 'queue name carrying SQL');
SELECT throws_ok($$SELECT sqsn.sq_send('x''); drop table sqsn.queue; --', 'b')$$, '42602', NULL, 'queue name carrying SQL on send');
SELECT has_table('sqsn', 'queue', 'sqsn.queue survived the injection attempts');

-- existing queue with other attributes: 42710
SELECT lives_ok($$SELECT sqsn.sq_create_queue('tap_err')$$, 'same attributes again is a no-op');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_err', visibility_timeout => 31)$$, '42710', NULL, 'same name, other attributes');

-- NULL where a value is required: 22004
SELECT throws_ok($$SELECT sqsn.sq_create_queue(NULL)$$, '22004', NULL, 'NULL queue name');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_err', NULL)$$, '22004', NULL, 'NULL message body');
SELECT throws_ok($$SELECT sqsn.sq_delete('tap_err', NULL)$$, '22004', NULL, 'NULL receipt handle');
SELECT throws_ok(format('SELECT sqsn.sq_change_visibility(%L, %L, NULL)', 'tap_err', :'h'), '22004', NULL, 'NULL visibility timeout for change_visibility');
SELECT throws_ok($$SELECT sqsn.sq_receive('tap_err', NULL)$$, '22004', NULL, 'NULL max_number_of_messages');

-- out of range or inconsistent: 22023
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x', visibility_timeout => 43201)$$, '22023', NULL, 'visibility timeout over 12 hours');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x', message_retention_period => 59)$$, '22023', NULL, 'retention under 60 seconds');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x', delay_seconds => 901)$$, '22023', NULL, 'delay over 900 seconds');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x', maximum_message_size => 1048577)$$, '22023', NULL, 'maximum message size over 1 MiB');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x', dead_letter_queue => 'tap_err')$$, '22023', NULL, 'DLQ without max_receive_count');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_x', dead_letter_queue => 'tap_err', max_receive_count => 1001)$$, '22023', NULL, 'max_receive_count over 1000');
SELECT throws_ok($$SELECT sqsn.sq_set_queue_attributes('tap_err', '{"RedrivePolicy": {"deadLetterQueue": "tap_err", "maxReceiveCount": 2}}')$$, '22023', NULL, 'a queue as its own DLQ');
SELECT throws_ok($$SELECT sqsn.sq_set_queue_attributes('tap_err', '{"ApproximateNumberOfMessages": 1}')$$, '22023', NULL, 'a read-only queue attribute');
SELECT throws_ok($$SELECT sqsn.sq_set_queue_attributes('tap_err', '{"Nope": 1}')$$, '22023', NULL, 'an unknown queue attribute');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_err', '')$$, '22023', NULL, 'empty message body');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_err', 'x', delay_seconds => 901)$$, '22023', NULL, 'per-message delay over 900 seconds');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_err', 'x', (SELECT jsonb_object_agg('a' || i, i) FROM generate_series(1, 11) i))$$, '22023', NULL, 'eleven message attributes');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_err', 'x', '{"AWS.x": "1"}')$$, '22023', NULL, 'reserved attribute name');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_err', 'x', '{"a": {"DataType": "Number", "StringValue": "NaNa"}}')$$, '22023', NULL, 'Number attribute that is not a number');
SELECT throws_ok($$SELECT sqsn.sq_send_batch('tap_err', ARRAY['a', 'b'], ARRAY['{}']::jsonb[])$$, '22023', NULL, 'attribute array of another length');
SELECT throws_ok($$SELECT sqsn.sq_send_batch('tap_err', array_fill('m'::text, ARRAY[1001]))$$, '22023', NULL, 'batch of 1001 messages');
SELECT throws_ok($$SELECT sqsn.sq_receive('tap_err', 1001)$$, '22023', NULL, 'receive of 1001 messages');
SELECT throws_ok($$SELECT sqsn.sq_receive('tap_err', 1, -1)$$, '22023', NULL, 'negative visibility timeout');

-- too large: 22001
SELECT throws_ok($$SELECT sqsn.sq_send('tap_err_small', repeat('a', 1025))$$, '22001', NULL, 'body over maximum_message_size');

-- bad receipt handles: 22P02
SELECT throws_ok($$SELECT sqsn.sq_delete('tap_err', 'garbage')$$, '22P02', 'receipt handle is invalid', 'malformed receipt handle');
SELECT throws_ok(format('SELECT sqsn.sq_delete(%L, %L)', 'tap_err', overlay(:'h' PLACING CASE WHEN substr(:'h', 5, 1) = 'A' THEN 'B' ELSE 'A' END FROM 5 FOR 1)),
	'22P02', 'receipt handle is invalid', 'forged receipt handle');
SELECT throws_ok(format('SELECT sqsn.sq_delete(%L, %L)', 'tap_err_small', :'h'), '22P02', 'receipt handle is invalid', 'receipt handle of another queue');

-- a queue still used as a DLQ: 2BP01
SELECT throws_ok($$SELECT sqsn.sq_delete_queue('tap_err_dead')$$, '2BP01', NULL, 'deleting a queue that is a DLQ');

-- and the errors changed nothing
SELECT results_eq($$SELECT visible, in_flight FROM sqsn.queue_stats WHERE queue_name = 'tap_err'$$,
	$$VALUES (0::bigint, 1::bigint)$$, 'the failing calls left tap_err as it was');

SELECT * FROM finish();
ROLLBACK;
