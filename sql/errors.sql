-- Bad input: every misuse raises a specific SQLSTATE with a clear message
-- and changes nothing; queue names can never inject SQL.

-- err(stmt): run a statement; 'ok', or 'SQLSTATE: message' when it fails.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- counts(q): the queue_stats row of q as one line.
CREATE FUNCTION pg_temp.counts(q text) RETURNS text
LANGUAGE sql AS $$
	SELECT format('visible=%s in_flight=%s delayed=%s', visible, in_flight, delayed)
	FROM sqsn.queue_stats WHERE queue_name = q
$$;

-- snapshot(): every queue with its attributes and counts, to compare
-- before and after a series of failing calls.
CREATE FUNCTION pg_temp.snapshot() RETURNS text
LANGUAGE sql AS $$
	SELECT coalesce(string_agg(format('%s %s %s', q,
		sqsn.sq_get_queue_attributes(q) - 'CreatedTimestamp' - 'LastModifiedTimestamp',
		pg_temp.counts(q)), E'\n' ORDER BY q), '')
	FROM sqsn.sq_list_queues('er_') AS q
$$;

SELECT sqsn.sq_create_queue('er_q');
SELECT sqsn.sq_create_queue('er_small', maximum_message_size => 1024);
SELECT sqsn.sq_send('er_q', 'resident') IS NOT NULL AS sent;
SELECT receipt_handle AS h FROM sqsn.sq_receive('er_q', 1, 600) \gset
SELECT sqsn.sq_send('er_q', 'visible resident') IS NOT NULL AS sent;
SELECT pg_temp.snapshot() AS before \gset
SELECT count(*) AS relations_before FROM pg_class WHERE relnamespace = 'sqsn'::regnamespace \gset

-- unknown_queue_is_reported_by_every_function
SELECT f, pg_temp.err(stmt) AS result
FROM (VALUES
	('sq_delete_queue', $$SELECT sqsn.sq_delete_queue('er_nope')$$),
	('sq_purge_queue', $$SELECT sqsn.sq_purge_queue('er_nope')$$),
	('sq_get_queue_attributes', $$SELECT sqsn.sq_get_queue_attributes('er_nope')$$),
	('sq_set_queue_attributes', $$SELECT sqsn.sq_set_queue_attributes('er_nope', '{"VisibilityTimeout": 1}')$$),
	('sq_send', $$SELECT sqsn.sq_send('er_nope', 'x')$$),
	('sq_send_batch', $$SELECT sqsn.sq_send_batch('er_nope', ARRAY['x'])$$),
	('sq_receive', $$SELECT sqsn.sq_receive('er_nope')$$),
	('sq_delete', format('SELECT sqsn.sq_delete(%L, %L)', 'er_nope', :'h')),
	('sq_delete_batch', format('SELECT sqsn.sq_delete_batch(%L, ARRAY[%L])', 'er_nope', :'h')),
	('sq_change_visibility', format('SELECT sqsn.sq_change_visibility(%L, %L, 0)', 'er_nope', :'h'))
) AS v(f, stmt);

-- unknown_queue_is_reported_even_for_empty_batches
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('er_nope', ARRAY[]::text[])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_delete_batch('er_nope', ARRAY[]::text[])$$);

-- null_queue_name_is_rejected_by_every_function
SELECT f, pg_temp.err(stmt) AS result
FROM (VALUES
	('sq_create_queue', $$SELECT sqsn.sq_create_queue(NULL)$$),
	('sq_delete_queue', $$SELECT sqsn.sq_delete_queue(NULL)$$),
	('sq_purge_queue', $$SELECT sqsn.sq_purge_queue(NULL)$$),
	('sq_get_queue_attributes', $$SELECT sqsn.sq_get_queue_attributes(NULL)$$),
	('sq_set_queue_attributes', $$SELECT sqsn.sq_set_queue_attributes(NULL, '{}')$$),
	('sq_send', $$SELECT sqsn.sq_send(NULL, 'x')$$),
	('sq_send_batch', $$SELECT sqsn.sq_send_batch(NULL, ARRAY['x'])$$),
	('sq_receive', $$SELECT sqsn.sq_receive(NULL)$$),
	('sq_delete', format('SELECT sqsn.sq_delete(NULL, %L)', :'h')),
	('sq_delete_batch', format('SELECT sqsn.sq_delete_batch(NULL, ARRAY[%L])', :'h')),
	('sq_change_visibility', format('SELECT sqsn.sq_change_visibility(NULL, %L, 0)', :'h'))
) AS v(f, stmt);

-- invalid_queue_names_are_rejected_on_create
SELECT n, pg_temp.err(format('SELECT sqsn.sq_create_queue(%L)', name)) AS result
FROM (VALUES
	(1, ''),
	(2, repeat('a', 81)),
	(3, 'a b'),
	(4, 'a.b'),
	(5, '.fifo'),
	(6, 'ä'),
	(7, 'a/b'),
	(8, E'a\nb'),
	(9, 'a;b'),
	(10, ' a'),
	(11, 'a '),
	(12, 'x"; DROP TABLE sqsn.queue; --'),
	(13, $n$x'); DROP TABLE sqsn.queue; --$n$),
	(14, 'x; DROP SCHEMA sqsn CASCADE'),
	(15, '$$; DROP TABLE sqsn.queue; $$'),
	(16, 'er_q" OR "1"="1')
) AS v(n, name)
ORDER BY n;
SELECT count(*) AS queues FROM sqsn.sq_list_queues('er_');

-- name_limits_are_inclusive
SELECT sqsn.sq_create_queue(repeat('a', 80));
SELECT sqsn.sq_create_queue('-');
SELECT sqsn.sq_create_queue('_');
SELECT sqsn.sq_create_queue('0');
SELECT count(*) AS created FROM sqsn.sq_list_queues() AS q WHERE q IN (repeat('a', 80), '-', '_', '0');
SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY[repeat('a', 80), '-', '_', '0']) AS q;

-- invalid_queue_names_never_reach_sql_in_any_function
SELECT f, pg_temp.err(stmt) AS result
FROM (VALUES
	('sq_delete_queue', $$SELECT sqsn.sq_delete_queue('x"; DROP TABLE sqsn.queue; --')$$),
	('sq_purge_queue', $$SELECT sqsn.sq_purge_queue('x"; DROP TABLE sqsn.queue; --')$$),
	('sq_get_queue_attributes', $$SELECT sqsn.sq_get_queue_attributes('x"; DROP TABLE sqsn.queue; --')$$),
	('sq_set_queue_attributes', $$SELECT sqsn.sq_set_queue_attributes('x"; DROP TABLE sqsn.queue; --', '{}')$$),
	('sq_send', $$SELECT sqsn.sq_send($q$x'); DROP TABLE sqsn.queue; --$q$, 'x')$$),
	('sq_send_batch', $$SELECT sqsn.sq_send_batch('x"; DROP TABLE sqsn.queue; --', ARRAY['x'])$$),
	('sq_receive', $$SELECT sqsn.sq_receive($q$er_q' OR '1'='1$q$)$$),
	('sq_delete', format('SELECT sqsn.sq_delete(%L, %L)', 'x"; DROP TABLE sqsn.queue; --', :'h')),
	('sq_delete_batch', format('SELECT sqsn.sq_delete_batch(%L, ARRAY[%L])', 'x"; DROP TABLE sqsn.queue; --', :'h')),
	('sq_change_visibility', format('SELECT sqsn.sq_change_visibility(%L, %L, 0)', 'x"; DROP TABLE sqsn.queue; --', :'h')),
	('sq_create_queue dlq', $$SELECT sqsn.sq_create_queue('er_x', dead_letter_queue => 'x"; DROP TABLE sqsn.queue; --', max_receive_count => 1)$$),
	('sq_set_queue_attributes dlq', $$SELECT sqsn.sq_set_queue_attributes('er_q', '{"RedrivePolicy": {"deadLetterQueue": "x\"; DROP TABLE sqsn.queue; --", "maxReceiveCount": 1}}')$$)
) AS v(f, stmt);
SELECT to_regclass('sqsn.queue') IS NOT NULL AS catalog_intact;
SELECT count(*) AS prefix_is_not_sql FROM sqsn.sq_list_queues($p$' OR '1'='1$p$);

-- queue_limits_are_enforced_on_create
SELECT n, pg_temp.err(stmt) AS result
FROM (VALUES
	(1, $$SELECT sqsn.sq_create_queue('er_new', visibility_timeout => -1)$$),
	(2, $$SELECT sqsn.sq_create_queue('er_new', visibility_timeout => 43201)$$),
	(3, $$SELECT sqsn.sq_create_queue('er_new', message_retention_period => 59)$$),
	(4, $$SELECT sqsn.sq_create_queue('er_new', message_retention_period => 1209601)$$),
	(5, $$SELECT sqsn.sq_create_queue('er_new', delay_seconds => -1)$$),
	(6, $$SELECT sqsn.sq_create_queue('er_new', delay_seconds => 901)$$),
	(7, $$SELECT sqsn.sq_create_queue('er_new', maximum_message_size => 1023)$$),
	(8, $$SELECT sqsn.sq_create_queue('er_new', maximum_message_size => 1048577)$$),
	(9, $$SELECT sqsn.sq_create_queue('er_new', dead_letter_queue => 'er_q')$$),
	(10, $$SELECT sqsn.sq_create_queue('er_new', max_receive_count => 5)$$),
	(11, $$SELECT sqsn.sq_create_queue('er_new', dead_letter_queue => 'er_q', max_receive_count => 0)$$),
	(12, $$SELECT sqsn.sq_create_queue('er_new', dead_letter_queue => 'er_q', max_receive_count => 1001)$$),
	(13, $$SELECT sqsn.sq_create_queue('er_new', dead_letter_queue => 'er_nope', max_receive_count => 5)$$),
	(14, $$SELECT sqsn.sq_create_queue('er_new', visibility_timeout => -2147483648)$$)
) AS v(n, stmt)
ORDER BY n;
SELECT count(*) AS created FROM sqsn.sq_list_queues('er_new');

-- queue_limits_accept_their_bounds
SELECT sqsn.sq_create_queue('er_low', visibility_timeout => 0, message_retention_period => 60,
	delay_seconds => 0, maximum_message_size => 1024);
SELECT sqsn.sq_create_queue('er_high', visibility_timeout => 43200, message_retention_period => 1209600,
	delay_seconds => 900, maximum_message_size => 262144, dead_letter_queue => 'er_low',
	max_receive_count => 1000);
SELECT sqsn.sq_get_queue_attributes('er_high') - 'CreatedTimestamp' - 'LastModifiedTimestamp' AS high;
SELECT sqsn.sq_delete_queue('er_high');
SELECT sqsn.sq_delete_queue('er_low');

-- send_errors
SELECT n, pg_temp.err(stmt) AS result
FROM (VALUES
	(1, $$SELECT sqsn.sq_send('er_q', NULL)$$),
	(2, $$SELECT sqsn.sq_send('er_q', '')$$),
	(3, $$SELECT sqsn.sq_send('er_q', 'x', delay_seconds => -1)$$),
	(4, $$SELECT sqsn.sq_send('er_q', 'x', delay_seconds => 901)$$),
	(5, $$SELECT sqsn.sq_send('er_small', repeat('a', 1025))$$),
	(6, $$SELECT sqsn.sq_send('er_q', repeat('a', 262145))$$),
	(7, $$SELECT sqsn.sq_send('er_q', 'x', '[]')$$),
	(8, $$SELECT sqsn.sq_send('er_q', 'x', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 11) AS i))$$),
	(9, $$SELECT sqsn.sq_send('er_q', 'x', '{"AWS.trace": "1"}')$$),
	(10, $$SELECT sqsn.sq_send('er_q', 'x', '{"t": {"DataType": "Foo", "StringValue": "1"}}')$$),
	(11, $$SELECT sqsn.sq_send('er_q', 'x', '{"t": {"DataType": "Number", "StringValue": "one"}}')$$)
) AS v(n, stmt)
ORDER BY n;

-- send_batch_errors
SELECT n, pg_temp.err(stmt) AS result
FROM (VALUES
	(1, $$SELECT sqsn.sq_send_batch('er_q', NULL)$$),
	(2, $$SELECT sqsn.sq_send_batch('er_q', ARRAY['a', NULL])$$),
	(3, $$SELECT sqsn.sq_send_batch('er_q', ARRAY['a', ''])$$),
	(4, $$SELECT sqsn.sq_send_batch('er_q', ARRAY['a', 'b'], ARRAY['{}']::jsonb[])$$),
	(5, $$SELECT sqsn.sq_send_batch('er_q', ARRAY['a'], ARRAY['{}', '{}']::jsonb[])$$),
	(6, $$SELECT sqsn.sq_send_batch('er_q', array_fill('m'::text, ARRAY[1001]))$$),
	(7, $$SELECT sqsn.sq_send_batch('er_q', ARRAY['a'], NULL, 901)$$),
	(8, $$SELECT sqsn.sq_send_batch('er_q', ARRAY['a'], NULL, -1)$$),
	(9, $$SELECT sqsn.sq_send_batch('er_small', ARRAY['a', repeat('a', 1025)])$$),
	(10, $$SELECT sqsn.sq_send_batch('er_q', ARRAY['a'], ARRAY['[1]']::jsonb[])$$)
) AS v(n, stmt)
ORDER BY n;

-- receive_errors
SELECT n, pg_temp.err(stmt) AS result
FROM (VALUES
	(1, $$SELECT sqsn.sq_receive('er_q', NULL)$$),
	(2, $$SELECT sqsn.sq_receive('er_q', 0)$$),
	(3, $$SELECT sqsn.sq_receive('er_q', 1001)$$),
	(4, $$SELECT sqsn.sq_receive('er_q', 1, -1)$$),
	(5, $$SELECT sqsn.sq_receive('er_q', 1, 43201)$$)
) AS v(n, stmt)
ORDER BY n;

-- handle_errors
SELECT n, pg_temp.err(stmt) AS result
FROM (VALUES
	(1, $$SELECT sqsn.sq_delete('er_q', NULL)$$),
	(2, $$SELECT sqsn.sq_delete('er_q', 'garbage')$$),
	(3, $$SELECT sqsn.sq_delete('er_q', '')$$),
	(4, $$SELECT sqsn.sq_change_visibility('er_q', NULL, 0)$$),
	(5, $$SELECT sqsn.sq_change_visibility('er_q', 'garbage', 0)$$),
	(6, format('SELECT sqsn.sq_change_visibility(%L, %L, NULL)', 'er_q', :'h')),
	(7, format('SELECT sqsn.sq_change_visibility(%L, %L, -1)', 'er_q', :'h')),
	(8, format('SELECT sqsn.sq_change_visibility(%L, %L, 43201)', 'er_q', :'h')),
	(9, $$SELECT sqsn.sq_delete_batch('er_q', ARRAY['garbage'])$$),
	(10, format('SELECT sqsn.sq_delete_batch(%L, ARRAY[%L, NULL])', 'er_q', :'h')),
	(11, $$SELECT sqsn.sq_delete_batch('er_q', NULL)$$)
) AS v(n, stmt)
ORDER BY n;

-- errors_changed_nothing
SELECT pg_temp.snapshot() = :'before' AS queues_unchanged;
SELECT pg_temp.snapshot();
SELECT count(*) = :relations_before AS relations_unchanged
FROM pg_class WHERE relnamespace = 'sqsn'::regnamespace;
SELECT sqsn.sq_delete('er_q', :'h') AS resident_handle_still_deletes;

-- error_inside_a_transaction_aborts_it_whole
BEGIN;
SELECT sqsn.sq_send('er_q', 'in doomed transaction') IS NOT NULL AS sent;
\set VERBOSITY sqlstate
SELECT sqsn.sq_send('er_q', '');
\set VERBOSITY default
ROLLBACK;
SELECT pg_temp.counts('er_q');

-- errors_are_never_internal
SELECT count(*) AS internal_errors
FROM (VALUES
	($$SELECT sqsn.sq_send('er_q', repeat('a', 300000))$$),
	($$SELECT sqsn.sq_send('er_q', 'x', '{"t": {"DataType": "Number", "StringValue": "NaN"}}')$$),
	($$SELECT sqsn.sq_send('er_q', 'x', '{"t": {"DataType": "Number", "StringValue": "1e999999"}}')$$),
	($$SELECT sqsn.sq_set_queue_attributes('er_q', '{"MaximumMessageSize": "1e999"}')$$),
	($$SELECT sqsn.sq_receive('er_q', 2147483647, 2147483647)$$),
	($$SELECT sqsn.sq_delete('er_q', repeat('=', 100))$$),
	($$SELECT sqsn.sq_delete('er_q', E'\\x00')$$)
) AS v(stmt)
WHERE pg_temp.err(stmt) LIKE 'XX%';

-- clean up
SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('er_') AS q;
