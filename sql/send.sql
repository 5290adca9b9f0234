-- Sending: message ids, bodies, attributes, delays, size limit, batches,
-- and transactional sends.

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

SELECT sqsn.sq_create_queue('sd_q');

-- send_returns_a_new_message_id
SELECT sqsn.sq_send('sd_q', 'first') AS id1 \gset
SELECT sqsn.sq_send('sd_q', 'second') AS id2 \gset
SELECT :'id1'::uuid IS NOT NULL AS has_id, :'id1'::uuid <> :'id2'::uuid AS ids_differ;
SELECT pg_temp.counts('sd_q');

-- received_message_carries_the_sent_id_and_body
SELECT message_id = :'id1'::uuid AS same_id, body FROM sqsn.sq_receive('sd_q', 1, 0);
SELECT sqsn.sq_purge_queue('sd_q');

-- body_is_kept_byte_for_byte
CREATE TEMP TABLE bodies (n int, body text);
INSERT INTO bodies VALUES
	(1, 'x'),
	(2, E'line one\nline two\ttabbed\r\n'),
	(3, 'unicode: äöü ß € 日本語 🙂'),
	(4, '   leading and trailing spaces   '),
	(5, '{"json": "as text", "n": [1, 2, 3]}'),
	(6, $b$quotes ' " \ and $$ dollars$b$),
	(7, repeat('z', 262144));
SELECT sqsn.sq_send('sd_q', body) IS NOT NULL AS sent FROM bodies ORDER BY n;
SELECT b.n, r.body = b.body AS same_body, octet_length(r.body) AS bytes
FROM sqsn.sq_receive('sd_q', 10, 0) WITH ORDINALITY AS r(message_id, receipt_handle, body, message_attributes, sent_at, receive_count, first_received_at, message_group_id, message_deduplication_id, sequence_number, ord)
JOIN bodies b ON b.n = r.ord
ORDER BY b.n;
SELECT sqsn.sq_purge_queue('sd_q');

-- message_without_attributes_has_none
SELECT sqsn.sq_send('sd_q', 'plain') IS NOT NULL AS sent;
SELECT sqsn.sq_send('sd_q', 'empty attrs', '{}') IS NOT NULL AS sent;
SELECT body, coalesce(message_attributes, '{}') = '{}' AS no_attributes
FROM sqsn.sq_receive('sd_q', 10, 0);
SELECT sqsn.sq_purge_queue('sd_q');

-- simple_attributes_are_returned_in_typed_form
SELECT sqsn.sq_send('sd_q', 'attrs', '{"color":"red","size":3}') IS NOT NULL AS sent;
SELECT message_attributes FROM sqsn.sq_receive('sd_q', 1, 0);
SELECT sqsn.sq_purge_queue('sd_q');

-- sent_at_is_the_send_time
BEGIN;
SELECT sqsn.sq_send('sd_q', 'timed') IS NOT NULL AS sent;
COMMIT;
SELECT abs(extract(epoch FROM sent_at - now())) < 60 AS sent_recently,
       receive_count, first_received_at >= sent_at AS received_after_sent
FROM sqsn.sq_receive('sd_q', 1, 0);
SELECT sqsn.sq_purge_queue('sd_q');

-- per_message_delay_hides_message_until_due
SELECT sqsn.sq_send('sd_q', 'delayed', delay_seconds => 900) IS NOT NULL AS sent;
SELECT sqsn.sq_send('sd_q', 'now') IS NOT NULL AS sent;
SELECT pg_temp.counts('sd_q');
SELECT body FROM sqsn.sq_receive('sd_q', 10, 0);
SELECT sqsn.sq_purge_queue('sd_q');

-- per_message_delay_zero_and_max_are_accepted
SELECT sqsn.sq_send('sd_q', 'zero', delay_seconds => 0) IS NOT NULL AS sent;
SELECT sqsn.sq_send('sd_q', 'max', delay_seconds => 900) IS NOT NULL AS sent;
SELECT pg_temp.counts('sd_q');
SELECT sqsn.sq_purge_queue('sd_q');

-- queue_delay_applies_to_messages_without_their_own
SELECT sqsn.sq_create_queue('sd_delayed', delay_seconds => 600);
SELECT sqsn.sq_send('sd_delayed', 'queue default delay') IS NOT NULL AS sent;
SELECT pg_temp.counts('sd_delayed');
SELECT count(*) AS received FROM sqsn.sq_receive('sd_delayed', 10, 0);

-- per_message_delay_overrides_queue_delay
SELECT sqsn.sq_send('sd_delayed', 'explicit zero delay', delay_seconds => 0) IS NOT NULL AS sent;
SELECT pg_temp.counts('sd_delayed');
SELECT body FROM sqsn.sq_receive('sd_delayed', 10, 0);

-- size_limit_counts_bytes_of_the_body
SELECT sqsn.sq_create_queue('sd_small', maximum_message_size => 1024);
SELECT sqsn.sq_send('sd_small', repeat('a', 1024)) IS NOT NULL AS exactly_max;
SELECT pg_temp.err($$SELECT sqsn.sq_send('sd_small', repeat('a', 1025))$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('sd_small', repeat('€', 342))$$);
SELECT sqsn.sq_send('sd_small', repeat('€', 341)) IS NOT NULL AS multibyte_under_max;
SELECT pg_temp.counts('sd_small');

-- size_limit_counts_attributes_too
SELECT sqsn.sq_send('sd_small', repeat('a', 900), '{"k":"v"}') IS NOT NULL AS small_attribute_fits;
SELECT pg_temp.err($$SELECT sqsn.sq_send('sd_small', repeat('a', 1024), '{"k":"v"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('sd_small', repeat('a', 900), jsonb_build_object('k', repeat('v', 200)))$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('sd_small', 'x', jsonb_build_object('k', repeat('v', 1100)))$$);
SELECT pg_temp.counts('sd_small');

-- send_batch_returns_ids_in_input_order
CREATE TEMP TABLE sent AS
	SELECT id, ord FROM sqsn.sq_send_batch('sd_q', ARRAY['b1', 'b2', 'b3', 'b4', 'b5']) WITH ORDINALITY AS s(id, ord);
SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids FROM sent;
SELECT s.ord, r.body, r.body = 'b' || s.ord AS id_matches_body
FROM sqsn.sq_receive('sd_q', 10, 0) AS r JOIN sent s ON s.id = r.message_id
ORDER BY s.ord;
SELECT sqsn.sq_purge_queue('sd_q');

-- send_batch_with_attributes_pairs_them_by_position
SELECT count(*) AS sent FROM sqsn.sq_send_batch('sd_q', ARRAY['p1', 'p2', 'p3'],
	ARRAY['{"n":1}', '{"n":2}', '{"n":3}']::jsonb[]);
SELECT body, message_attributes->'n'->>'StringValue' AS n
FROM sqsn.sq_receive('sd_q', 10, 0);
SELECT sqsn.sq_purge_queue('sd_q');

-- send_batch_delay_applies_to_every_message
SELECT count(*) AS sent FROM sqsn.sq_send_batch('sd_q', ARRAY['d1', 'd2'], NULL, 300);
SELECT pg_temp.counts('sd_q');
SELECT count(*) AS received FROM sqsn.sq_receive('sd_q', 10, 0);
SELECT sqsn.sq_purge_queue('sd_q');

-- send_batch_of_empty_array_returns_no_rows
SELECT count(*) AS ids FROM sqsn.sq_send_batch('sd_q', ARRAY[]::text[]);
SELECT count(*) AS ids FROM sqsn.sq_send_batch('sd_q', '{}', '{}');
SELECT pg_temp.counts('sd_q');

-- send_batch_accepts_1000_messages
SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids
FROM sqsn.sq_send_batch('sd_q', array_fill('m'::text, ARRAY[1000])) AS id;
SELECT pg_temp.counts('sd_q');
SELECT count(*) AS received FROM sqsn.sq_receive('sd_q', 1000, 0);
SELECT sqsn.sq_purge_queue('sd_q');

-- send_batch_with_one_bad_message_sends_none
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('sd_q', ARRAY['ok', '', 'ok'])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('sd_q', ARRAY['ok', NULL, 'ok'])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('sd_small', ARRAY['ok', repeat('a', 1025)])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('sd_q', ARRAY['ok', 'ok'], ARRAY['{}', '{"AWS.x":"y"}']::jsonb[])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('sd_q', ARRAY['ok', 'ok'], ARRAY['{}']::jsonb[])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('sd_q', array_fill('m'::text, ARRAY[1001]))$$);
SELECT pg_temp.counts('sd_q');
SELECT pg_temp.counts('sd_small');

-- send_rolled_back_is_never_received
BEGIN;
SELECT sqsn.sq_send('sd_q', 'rolled back') IS NOT NULL AS sent;
SELECT count(*) AS sent FROM sqsn.sq_send_batch('sd_q', ARRAY['rb1', 'rb2']);
ROLLBACK;
SELECT pg_temp.counts('sd_q');
SELECT count(*) AS received FROM sqsn.sq_receive('sd_q', 10, 0);

-- send_in_savepoint_rolled_back_is_dropped_alone
BEGIN;
SELECT sqsn.sq_send('sd_q', 'kept') IS NOT NULL AS sent;
SAVEPOINT s;
SELECT sqsn.sq_send('sd_q', 'dropped') IS NOT NULL AS sent;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT body FROM sqsn.sq_receive('sd_q', 10, 0);

-- a_queue_may_take_messages_of_up_to_1_mib_and_the_default_stays_256_kib
SELECT sqsn.sq_create_queue('sd_big', maximum_message_size => 1048576);
SELECT sqsn.sq_get_queue_attributes('sd_big')->'MaximumMessageSize' AS big,
	sqsn.sq_get_queue_attributes('sd_q')->'MaximumMessageSize' AS default_size;
SELECT sqsn.sq_send('sd_big', repeat('m', 1048576)) IS NOT NULL AS sent_1_mib;
SELECT octet_length(body) AS bytes, body = repeat('m', 1048576) AS same_body
FROM sqsn.sq_receive('sd_big', 1, 0);
SELECT pg_temp.err($$SELECT sqsn.sq_send('sd_big', repeat('m', 1048577))$$) AS one_byte_over;
SELECT pg_temp.err($$SELECT sqsn.sq_send('sd_big', repeat('m', 1048570), '{"a": "bcdefgh"}')$$) AS with_attributes_over;
SELECT pg_temp.err($$SELECT sqsn.sq_send('sd_q', repeat('m', 262145))$$) AS over_the_default;
SELECT sqsn.sq_set_queue_attributes('sd_q', '{"MaximumMessageSize": 1048576}');
SELECT sqsn.sq_send('sd_q', repeat('m', 262145)) IS NOT NULL AS sent_after_raising;
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('sd_q', '{"MaximumMessageSize": 1048577}')$$) AS setting_over_1_mib;

-- clean up
SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('sd_') AS q;
