-- Queue lifecycle: create (idempotent), list, attributes, purge, delete,
-- the per-queue message table, and the queue_stats view.

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

-- attrs(q): queue attributes without the timestamps, which vary.
CREATE FUNCTION pg_temp.attrs(q text) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT sqsn.sq_get_queue_attributes(q) - 'CreatedTimestamp' - 'LastModifiedTimestamp'
$$;

-- create_queue_with_defaults_has_default_attributes
SELECT sqsn.sq_create_queue('qt_default');
SELECT pg_temp.attrs('qt_default');

-- created_queue_has_no_redrive_policy
SELECT sqsn.sq_get_queue_attributes('qt_default') ? 'RedrivePolicy' AS has_redrive_policy;

-- created_and_modified_timestamps_are_epoch_seconds_of_now
SELECT jsonb_typeof(a->'CreatedTimestamp') AS created_type,
       jsonb_typeof(a->'LastModifiedTimestamp') AS modified_type,
       abs((a->>'CreatedTimestamp')::numeric - extract(epoch FROM now())) < 60 AS created_is_now,
       (a->>'LastModifiedTimestamp')::numeric >= (a->>'CreatedTimestamp')::numeric AS modified_not_before_created
FROM sqsn.sq_get_queue_attributes('qt_default') AS a;

-- create_queue_with_custom_attributes_keeps_them
SELECT sqsn.sq_create_queue('qt_custom', visibility_timeout => 45,
	message_retention_period => 7200, delay_seconds => 3,
	maximum_message_size => 2048);
SELECT pg_temp.attrs('qt_custom');

-- create_existing_queue_with_same_attributes_is_a_noop
SELECT sqsn.sq_create_queue('qt_custom', visibility_timeout => 45,
	message_retention_period => 7200, delay_seconds => 3,
	maximum_message_size => 2048);
SELECT sqsn.sq_create_queue('qt_default', 30, 345600, 0, 262144, NULL, NULL);
SELECT count(*) AS queues FROM sqsn.sq_list_queues('qt_');

-- noop_create_keeps_messages
SELECT sqsn.sq_send('qt_default', 'still here') IS NOT NULL AS sent;
SELECT sqsn.sq_create_queue('qt_default');
SELECT pg_temp.counts('qt_default');

-- create_existing_queue_with_different_attributes_fails_and_changes_nothing
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('qt_custom', visibility_timeout => 46,
	message_retention_period => 7200, delay_seconds => 3, maximum_message_size => 2048)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('qt_custom')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('qt_default', delay_seconds => 1)$$);
SELECT pg_temp.attrs('qt_custom');
SELECT pg_temp.counts('qt_default');

-- list_queues_is_sorted_and_filtered_by_prefix
SELECT sqsn.sq_create_queue('qt_b-2');
SELECT sqsn.sq_create_queue('qt_A');
SELECT sqsn.sq_create_queue('qtx');
SELECT sqsn.sq_create_queue('qt_zz_9');
SELECT count(*) AS qt, bool_or(q = 'qtx') AS has_qtx FROM sqsn.sq_list_queues('qt') AS q;
SELECT * FROM sqsn.sq_list_queues('qt_');
SELECT * FROM sqsn.sq_list_queues('qt_b');
SELECT count(*) AS none FROM sqsn.sq_list_queues('nothing_has_this_prefix');

-- list_queues_prefix_is_literal_not_a_pattern
SELECT count(*) AS percent FROM sqsn.sq_list_queues('%');
SELECT count(*) AS underscore FROM sqsn.sq_list_queues('_');
SELECT * FROM sqsn.sq_list_queues('qt_') WHERE sq_list_queues = 'qtx';

-- list_queues_without_prefix_lists_all
SELECT count(*) FILTER (WHERE q LIKE 'qt%') AS ours FROM sqsn.sq_list_queues(NULL) AS q;
SELECT count(*) FILTER (WHERE q LIKE 'qt%') AS ours FROM sqsn.sq_list_queues() AS q;

-- queue_names_are_case_sensitive
SELECT sqsn.sq_create_queue('qt_a');
SELECT q FROM sqsn.sq_list_queues('qt_') AS q WHERE lower(q) = 'qt_a' ORDER BY q COLLATE "C";
SELECT pg_temp.err($$SELECT sqsn.sq_send('QT_A', 'x')$$);

-- name_of_80_chars_is_accepted
SELECT sqsn.sq_create_queue('qt_' || repeat('n', 77));
SELECT count(*) AS long_name FROM sqsn.sq_list_queues('qt_nnn');

-- queue_has_its_own_message_table_outside_the_extension
SELECT queue_id AS default_id FROM sqsn.queue WHERE queue_name = 'qt_default' \gset
SELECT to_regclass('sqsn.q_' || :default_id) IS NOT NULL AS table_exists;
SELECT count(*) AS extension_members
FROM pg_depend
WHERE classid = 'pg_class'::regclass
  AND objid = to_regclass('sqsn.q_' || :default_id)
  AND refclassid = 'pg_extension'::regclass
  AND deptype = 'e';

-- queue_stats_counts_visible_in_flight_delayed_and_oldest_age
SELECT sqsn.sq_create_queue('qt_stats');
SELECT * FROM sqsn.queue_stats WHERE queue_name = 'qt_stats';
SELECT count(*) AS sent FROM sqsn.sq_send_batch('qt_stats', ARRAY['a', 'b', 'c']);
SELECT sqsn.sq_send('qt_stats', 'later', delay_seconds => 600) IS NOT NULL AS sent_delayed;
SELECT body FROM sqsn.sq_receive('qt_stats', 1, 300);
SELECT queue_name, visible, in_flight, delayed,
       oldest_message_age BETWEEN 0 AND 60 AS oldest_age_is_recent
FROM sqsn.queue_stats WHERE queue_name = 'qt_stats';

-- queue_stats_lists_every_queue_once
SELECT count(*) = count(DISTINCT queue_name) AS unique_names,
       count(*) FILTER (WHERE queue_name LIKE 'qt%') AS ours
FROM sqsn.queue_stats;

-- purge_removes_every_message_and_returns_the_count
SELECT sqsn.sq_purge_queue('qt_stats');
SELECT * FROM sqsn.queue_stats WHERE queue_name = 'qt_stats';
SELECT count(*) AS received_after_purge FROM sqsn.sq_receive('qt_stats', 10, 0);

-- purge_of_empty_queue_returns_zero
SELECT sqsn.sq_purge_queue('qt_stats');

-- purge_keeps_the_queue_usable
SELECT sqsn.sq_send('qt_stats', 'after purge') IS NOT NULL AS sent;
SELECT body, receive_count FROM sqsn.sq_receive('qt_stats', 10, 0);

-- purge_rolled_back_keeps_messages
BEGIN;
SELECT sqsn.sq_purge_queue('qt_stats');
ROLLBACK;
SELECT pg_temp.counts('qt_stats');

-- delete_queue_removes_queue_and_its_message_table
SELECT sqsn.sq_delete_queue('qt_default');
SELECT count(*) AS listed FROM sqsn.sq_list_queues('qt_default');
SELECT to_regclass('sqsn.q_' || :default_id) IS NULL AS table_dropped;
SELECT count(*) AS in_stats FROM sqsn.queue_stats WHERE queue_name = 'qt_default';
SELECT pg_temp.err($$SELECT sqsn.sq_get_queue_attributes('qt_default')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('qt_default', 'x')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_delete_queue('qt_default')$$);

-- deleted_queue_can_be_created_again_empty
SELECT sqsn.sq_create_queue('qt_default', visibility_timeout => 10);
SELECT pg_temp.attrs('qt_default');
SELECT count(*) AS received FROM sqsn.sq_receive('qt_default', 10);

-- delete_queue_rolled_back_keeps_queue_and_messages
SELECT sqsn.sq_send('qt_default', 'kept') IS NOT NULL AS sent;
BEGIN;
SELECT sqsn.sq_delete_queue('qt_default');
ROLLBACK;
SELECT pg_temp.counts('qt_default');
SELECT body FROM sqsn.sq_receive('qt_default', 10, 0);

-- create_queue_rolled_back_leaves_nothing
BEGIN;
SELECT sqsn.sq_create_queue('qt_rolled_back');
SELECT count(*) AS inside FROM sqsn.sq_list_queues('qt_rolled_back');
ROLLBACK;
SELECT count(*) AS after FROM sqsn.sq_list_queues('qt_rolled_back');

-- queue_created_earlier_in_the_same_statement_is_usable
SELECT sqsn.sq_create_queue('qt_same'),
       sqsn.sq_send('qt_same', 'same statement') IS NOT NULL AS sent;
SELECT pg_temp.counts('qt_same');

-- clean up
SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('qt') AS q;
SELECT count(*) AS left_over FROM sqsn.sq_list_queues('qt');
