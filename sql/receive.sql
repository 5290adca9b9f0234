-- Receiving: order, batch size, leases and visibility, receive counts,
-- receipt handles, delays, change_visibility, and transactional receives.

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

SELECT sqsn.sq_create_queue('rc_q');

-- receive_from_empty_queue_returns_no_rows
SELECT count(*) AS received FROM sqsn.sq_receive('rc_q');
SELECT count(*) AS received FROM sqsn.sq_receive('rc_q', 1000, 0);

-- receive_returns_one_message_by_default
SELECT count(*) AS sent FROM sqsn.sq_send_batch('rc_q', ARRAY['m1', 'm2', 'm3', 'm4', 'm5']);
SELECT body, receive_count FROM sqsn.sq_receive('rc_q');

-- receive_returns_oldest_first_up_to_the_maximum
SELECT body, receive_count FROM sqsn.sq_receive('rc_q', 2);

-- received_messages_are_invisible_during_their_lease
SELECT body FROM sqsn.sq_receive('rc_q', 10);
SELECT count(*) AS received FROM sqsn.sq_receive('rc_q', 10);
SELECT pg_temp.counts('rc_q');
SELECT sqsn.sq_purge_queue('rc_q');

-- received_message_has_handle_counts_and_times
SELECT sqsn.sq_send('rc_q', 'fields') AS sent_id \gset
SELECT message_id = :'sent_id'::uuid AS same_id,
       receipt_handle IS NOT NULL AND receipt_handle <> '' AS has_handle,
       body, receive_count,
       first_received_at IS NOT NULL AS has_first_received_at,
       sent_at <= first_received_at AS sent_before_received
FROM sqsn.sq_receive('rc_q', 1, 0);

-- visibility_zero_makes_message_visible_again_with_a_fresh_handle
CREATE TEMP TABLE r AS SELECT 1 AS n, * FROM sqsn.sq_receive('rc_q', 1, 0);
INSERT INTO r SELECT 2, * FROM sqsn.sq_receive('rc_q', 1, 0);
SELECT n, body, receive_count FROM r ORDER BY n;
SELECT count(DISTINCT message_id) AS messages,
       count(DISTINCT receipt_handle) AS handles,
       count(DISTINCT first_received_at) AS first_received_ats
FROM r;

-- first_received_at_is_kept_after_later_receives
SELECT (SELECT first_received_at FROM r WHERE n = 1) = first_received_at AS kept,
       receive_count
FROM sqsn.sq_receive('rc_q', 1, 0);
SELECT sqsn.sq_purge_queue('rc_q');
DROP TABLE r;

-- receive_uses_queue_default_visibility_timeout
SELECT sqsn.sq_create_queue('rc_vt0', visibility_timeout => 0);
SELECT sqsn.sq_send('rc_vt0', 'again and again') IS NOT NULL AS sent;
SELECT body, receive_count FROM sqsn.sq_receive('rc_vt0');
SELECT body, receive_count FROM sqsn.sq_receive('rc_vt0');
SELECT body, receive_count FROM sqsn.sq_receive('rc_vt0', 1, 600);
SELECT count(*) AS received FROM sqsn.sq_receive('rc_vt0');
SELECT pg_temp.counts('rc_vt0');

-- receive_visibility_timeout_overrides_queue_default
SELECT sqsn.sq_send('rc_q', 'overridden') IS NOT NULL AS sent;
SELECT body FROM sqsn.sq_receive('rc_q', 1, 0);
SELECT body FROM sqsn.sq_receive('rc_q', 1, 0);
SELECT body FROM sqsn.sq_receive('rc_q', 1, 43200);
SELECT count(*) AS received FROM sqsn.sq_receive('rc_q', 1, 0);
SELECT sqsn.sq_purge_queue('rc_q');

-- receive_skips_delayed_messages_but_returns_later_ones
SELECT sqsn.sq_send('rc_q', 'delayed', delay_seconds => 900) IS NOT NULL AS sent;
SELECT sqsn.sq_send('rc_q', 'ready') IS NOT NULL AS sent;
SELECT body FROM sqsn.sq_receive('rc_q', 10, 0);
SELECT pg_temp.counts('rc_q');
SELECT sqsn.sq_purge_queue('rc_q');

-- receive_of_1000_returns_all_in_send_order
SELECT count(*) AS sent
FROM sqsn.sq_send_batch('rc_q', ARRAY(SELECT 'n' || i FROM generate_series(1, 1000) AS i));
SELECT count(*) AS received,
       bool_and(body = 'n' || ord) AS in_send_order
FROM sqsn.sq_receive('rc_q', 1000, 0) WITH ORDINALITY AS r(message_id, receipt_handle, body, message_attributes, sent_at, receive_count, first_received_at, message_group_id, message_deduplication_id, sequence_number, ord);
SELECT sqsn.sq_purge_queue('rc_q');

-- receive_order_follows_send_order_across_calls
SELECT sqsn.sq_send('rc_q', 's' || i) IS NOT NULL AS sent FROM generate_series(1, 3) AS i;
SELECT count(*) AS sent FROM sqsn.sq_send_batch('rc_q', ARRAY['s4', 's5']);
SELECT string_agg(body, ',') AS bodies FROM sqsn.sq_receive('rc_q', 10, 0);
SELECT sqsn.sq_purge_queue('rc_q');

-- message_made_visible_again_keeps_its_place_in_order
SELECT count(*) AS sent FROM sqsn.sq_send_batch('rc_q', ARRAY['o1', 'o2', 'o3']);
SELECT body FROM sqsn.sq_receive('rc_q', 1, 0);
SELECT string_agg(body, ',') AS bodies FROM sqsn.sq_receive('rc_q', 10, 0);
SELECT sqsn.sq_purge_queue('rc_q');

-- change_visibility_zero_makes_message_visible_now
SELECT sqsn.sq_send('rc_q', 'cv') IS NOT NULL AS sent;
SELECT receipt_handle AS h FROM sqsn.sq_receive('rc_q', 1, 600) \gset
SELECT count(*) AS received FROM sqsn.sq_receive('rc_q', 1, 600);
SELECT sqsn.sq_change_visibility('rc_q', :'h', 0) AS changed;
SELECT pg_temp.counts('rc_q');
SELECT body, receive_count FROM sqsn.sq_receive('rc_q', 1, 0);

-- change_visibility_extends_the_lease
SELECT receipt_handle AS h FROM sqsn.sq_receive('rc_q', 1, 0) \gset
SELECT sqsn.sq_change_visibility('rc_q', :'h', 600) AS changed;
SELECT count(*) AS received FROM sqsn.sq_receive('rc_q', 1, 0);
SELECT pg_temp.counts('rc_q');

-- change_visibility_keeps_the_handle_valid
SELECT sqsn.sq_change_visibility('rc_q', :'h', 43200) AS changed;
SELECT sqsn.sq_change_visibility('rc_q', :'h', 0) AS changed;
SELECT sqsn.sq_delete('rc_q', :'h') AS deleted;
SELECT pg_temp.counts('rc_q');

-- change_visibility_with_stale_handle_returns_false
SELECT sqsn.sq_send('rc_q', 'stale cv') IS NOT NULL AS sent;
SELECT receipt_handle AS h_old FROM sqsn.sq_receive('rc_q', 1, 0) \gset
SELECT receipt_handle AS h_new FROM sqsn.sq_receive('rc_q', 1, 600) \gset
SELECT sqsn.sq_change_visibility('rc_q', :'h_old', 0) AS changed;
SELECT count(*) AS received FROM sqsn.sq_receive('rc_q', 1, 0);
SELECT sqsn.sq_delete('rc_q', :'h_new') AS deleted;
SELECT sqsn.sq_change_visibility('rc_q', :'h_new', 0) AS changed_after_delete;

-- change_visibility_rejects_bad_timeouts_and_changes_nothing
SELECT sqsn.sq_send('rc_q', 'bad cv') IS NOT NULL AS sent;
SELECT receipt_handle AS h FROM sqsn.sq_receive('rc_q', 1, 600) \gset
SELECT pg_temp.err(format('SELECT sqsn.sq_change_visibility(%L, %L, -1)', 'rc_q', :'h'));
SELECT pg_temp.err(format('SELECT sqsn.sq_change_visibility(%L, %L, 43201)', 'rc_q', :'h'));
SELECT pg_temp.err(format('SELECT sqsn.sq_change_visibility(%L, %L, NULL)', 'rc_q', :'h'));
SELECT pg_temp.counts('rc_q');
SELECT sqsn.sq_delete('rc_q', :'h') AS deleted;

-- receive_rejects_bad_arguments_and_changes_nothing
SELECT sqsn.sq_send('rc_q', 'untouched') IS NOT NULL AS sent;
SELECT pg_temp.err($$SELECT sqsn.sq_receive('rc_q', 0)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_receive('rc_q', -1)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_receive('rc_q', 1001)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_receive('rc_q', NULL)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_receive('rc_q', 1, -1)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_receive('rc_q', 1, 43201)$$);
SELECT pg_temp.counts('rc_q');
SELECT body, receive_count FROM sqsn.sq_receive('rc_q', 10, 0);
SELECT sqsn.sq_purge_queue('rc_q');

-- receive_rolled_back_leaves_message_untouched
SELECT sqsn.sq_send('rc_q', 'rolled back receive') IS NOT NULL AS sent;
BEGIN;
SELECT body, receive_count FROM sqsn.sq_receive('rc_q', 1, 600);
ROLLBACK;
SELECT pg_temp.counts('rc_q');
SELECT body, receive_count FROM sqsn.sq_receive('rc_q', 1, 0);

-- receive_returns_attributes_in_typed_form
SELECT sqsn.sq_send('rc_q', 'with attributes',
	'{"color":"red","size":3,"kind":{"DataType":"String.custom","StringValue":"k"}}') IS NOT NULL AS sent;
SELECT body, message_attributes FROM sqsn.sq_receive('rc_q', 10, 0) WHERE body = 'with attributes';

-- clean up
SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('rc_') AS q;
