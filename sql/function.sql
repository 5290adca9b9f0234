-- Function consumers: event source mappings (queue -> SQL function), their
-- API, limits and errors with their SQLSTATEs, the permission checks, and
-- one batch run in this session with sqsn.run_event_source_mapping (the
-- function workers run batches the same way; they work in the database
-- named by sqsn.database_name, not in this one): the event's shape, the
-- function's writes committing with the delete, a failing function leaving
-- neither, reported item failures, the time limit, the redrive policy, and
-- function subscriptions' protocol checks.

-- err(stmt): 'ok', or 'SQLSTATE: message' when it fails (ids as <id>).
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM,
		'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END
$$;

-- msgs(q): messages in q, in flight or not.
CREATE FUNCTION pg_temp.msgs(q text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT visible + in_flight + delayed FROM sqsn.queue_stats WHERE queue_name = q
$$;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fn_owner;
DROP ROLE IF EXISTS regress_fn_other;
RESET client_min_messages;
CREATE ROLE regress_fn_owner IN ROLE sqsn_producer, sqsn_consumer;
CREATE ROLE regress_fn_other IN ROLE sqsn_producer, sqsn_consumer;

CREATE SCHEMA fn;
GRANT USAGE ON SCHEMA fn TO PUBLIC;
CREATE TABLE fn.seen (
	message_id text PRIMARY KEY,
	body text,
	receive_count int,
	seen_by name);
GRANT ALL ON fn.seen TO PUBLIC;

-- The handler: one row per record; a body 'fail' fails the whole batch.
CREATE FUNCTION fn.handler(event jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
BEGIN
	FOR r IN SELECT * FROM jsonb_array_elements(event->'Records') LOOP
		INSERT INTO fn.seen VALUES (r->>'messageId', r->>'body',
			(r->'attributes'->>'ApproximateReceiveCount')::int, current_user);
		IF r->>'body' = 'fail' THEN
			RAISE EXCEPTION 'cannot handle %', r->>'messageId';
		END IF;
	END LOOP;
END
$$;

-- Reports the records whose body starts with 'bad' as failed, and writes
-- only the others.
CREATE FUNCTION fn.partial(event jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
	failures jsonb := '[]';
BEGIN
	FOR r IN SELECT * FROM jsonb_array_elements(event->'Records') LOOP
		IF r->>'body' LIKE 'bad%' THEN
			failures := failures || jsonb_build_object('itemIdentifier', r->>'messageId');
		ELSE
			INSERT INTO fn.seen VALUES (r->>'messageId', r->>'body', 0, current_user);
		END IF;
	END LOOP;
	RETURN jsonb_build_object('batchItemFailures', failures);
END
$$;

-- Keeps the last event it got.
CREATE TABLE fn.last_event (e jsonb);
GRANT ALL ON fn.last_event TO PUBLIC;
CREATE FUNCTION fn.keep(event jsonb) RETURNS void
LANGUAGE sql AS $$ DELETE FROM fn.last_event; INSERT INTO fn.last_event VALUES (event) $$;
CREATE FUNCTION fn.slow(event jsonb) RETURNS void
LANGUAGE sql AS $$ INSERT INTO fn.seen VALUES ('slow', 'slow', 0, current_user);
	SELECT pg_sleep(3) $$;
CREATE FUNCTION fn.bad_result(event jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '{"batchItemFailures":[{"itemIdentifier":"nope"}]}'::jsonb $$;
CREATE FUNCTION fn.two_args(event jsonb, x int) RETURNS void
LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION fn.text_arg(event text) RETURNS void
LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION fn.rows(event jsonb) RETURNS SETOF int
LANGUAGE sql AS $$ SELECT 1 $$;
CREATE PROCEDURE fn.proc(event jsonb) LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION fn.private(event jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT $$;
REVOKE EXECUTE ON FUNCTION fn.private(jsonb) FROM PUBLIC;

SELECT sqsn.sq_create_queue('fn_q');
SELECT sqsn.sq_create_queue('fn_dlq');
SELECT sqsn.sq_create_queue('fn_src', visibility_timeout => 0,
	dead_letter_queue => 'fn_dlq', max_receive_count => 2);
SELECT sqsn.sq_create_queue('fn_g.fifo');

-- create_returns_an_id_and_list_shows_the_defaults
SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.handler(jsonb)',
	enabled => false) AS m1 \gset
SELECT queue_name, function_name, batch_size, maximum_batching_window_seconds,
	maximum_concurrency, timeout_seconds, report_batch_item_failures, state,
	state_reason, owner = current_user AS owned_by_creator
FROM sqsn.sq_list_event_source_mappings('fn_q');

-- one_function_consumes_a_queue_through_one_mapping
SELECT pg_temp.err($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.handler(jsonb)')$$);

-- every_limit_and_bad_argument_has_its_sqlstate
SELECT pg_temp.err(s) FROM (VALUES
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', batch_size => 0)$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', batch_size => 10001)$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', maximum_batching_window_seconds => -1)$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', maximum_batching_window_seconds => 301)$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', maximum_concurrency => 1)$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', maximum_concurrency => 1001)$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', timeout_seconds => 0)$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', timeout_seconds => 901)$$),
	($$SELECT sqsn.sq_create_event_source_mapping(NULL, 'fn.keep(jsonb)')$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', NULL)$$),
	($$SELECT sqsn.sq_create_event_source_mapping('no_such_queue', 'fn.keep(jsonb)')$$),
	($$SELECT sqsn.sq_create_event_source_mapping('bad name!', 'fn.keep(jsonb)')$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.nothere(jsonb)')$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.two_args(jsonb, int)')$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.text_arg(text)')$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.rows(jsonb)')$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.proc(jsonb)')$$),
	($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', report_batch_item_failures => true)$$),
	($$SELECT sqsn.sq_update_event_source_mapping(NULL, batch_size => 5)$$),
	($$SELECT sqsn.sq_update_event_source_mapping(gen_random_uuid(), batch_size => 5)$$),
	($$SELECT sqsn.sq_update_event_source_mapping('$$ || :'m1' || $$', batch_size => 0)$$),
	($$SELECT sqsn.sq_update_event_source_mapping('$$ || :'m1' || $$', report_batch_item_failures => true)$$),
	($$SELECT sqsn.sq_delete_event_source_mapping(gen_random_uuid())$$),
	($$SELECT * FROM sqsn.run_event_source_mapping(gen_random_uuid())$$),
	($$SELECT * FROM sqsn.sq_list_event_source_mappings('no_such_queue')$$)
) AS t(s);

-- the_limits_themselves_are_accepted
SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)', batch_size => 10000,
	maximum_batching_window_seconds => 300, maximum_concurrency => 1000,
	timeout_seconds => 900, enabled => false) AS m_keep \gset
SELECT sqsn.sq_update_event_source_mapping(:'m_keep', batch_size => 1,
	maximum_batching_window_seconds => 0, maximum_concurrency => 2, timeout_seconds => 1);
SELECT function_name, batch_size, maximum_batching_window_seconds, maximum_concurrency,
	timeout_seconds, state
FROM sqsn.sq_list_event_source_mappings('fn_q') ORDER BY function_name;

-- a_batch_commits_the_functions_writes_with_its_delete
SELECT count(sqsn.sq_send('fn_q', 'm' || g)) FROM generate_series(1, 12) g;
SELECT * FROM sqsn.run_event_source_mapping(:'m1');
SELECT count(*) AS rows_written, min(receive_count), max(receive_count),
	pg_temp.msgs('fn_q') AS left_in_queue FROM fn.seen;
SELECT * FROM sqsn.run_event_source_mapping(:'m1');
SELECT count(*) AS rows_written, pg_temp.msgs('fn_q') AS left_in_queue FROM fn.seen;
-- an empty queue: nothing received, no outcome
SELECT * FROM sqsn.run_event_source_mapping(:'m1');

-- the_event_has_the_managed_services_shape
SELECT sqsn.sq_send('fn_q', 'shape', '{"color": {"DataType": "String", "StringValue": "red"}}') IS NOT NULL AS sent;
SELECT messages, deleted, outcome FROM sqsn.run_event_source_mapping(:'m_keep');
SELECT jsonb_object_keys(e->'Records'->0) AS record_key FROM fn.last_event ORDER BY 1;
SELECT r->>'body' AS body, r->>'eventSource' AS event_source,
	r->>'md5OfBody' = md5('shape') AS md5_ok,
	r->'messageAttributes'->'color' AS color,
	r->'attributes'->>'ApproximateReceiveCount' AS receive_count,
	r->>'eventSourceARN' LIKE '%:fn_q' AS arn_names_queue,
	r->'attributes' ? 'SentTimestamp' AS has_sent,
	r->'attributes' ? 'ApproximateFirstReceiveTimestamp' AS has_first_receive
FROM fn.last_event, jsonb_array_elements(e->'Records') r;

-- a_failing_function_leaves_neither_its_writes_nor_the_delete
TRUNCATE fn.seen;
SELECT count(sqsn.sq_send('fn_q', b)) FROM unnest(ARRAY['ok1', 'fail', 'ok2']) b;
SELECT messages, deleted, outcome, error LIKE 'P0001: cannot handle %' AS error_recorded
FROM sqsn.run_event_source_mapping(:'m1');
SELECT count(*) AS rows_written FROM fn.seen;
SELECT visible, in_flight FROM sqsn.queue_stats WHERE queue_name = 'fn_q';
SELECT invocations, succeeded, failed, messages_deleted
FROM sqsn.event_source_mapping_stats WHERE mapping_id = :'m1';
SELECT outcome, batch_size, error LIKE 'P0001: cannot handle %' AS error_recorded
FROM sqsn.function_invocations WHERE consumer_id = :'m1' ORDER BY started_at DESC LIMIT 1;

-- reported_item_failures_stay_in_the_queue_the_rest_is_deleted
SELECT sqsn.sq_create_queue('fn_p', visibility_timeout => 0);
SELECT sqsn.sq_create_event_source_mapping('fn_p', 'fn.partial(jsonb)',
	report_batch_item_failures => true, enabled => false) AS m_p \gset
SELECT count(*) FROM (SELECT sqsn.sq_send('fn_p', b)
	FROM unnest(ARRAY['good1', 'bad1', 'good2', 'bad2', 'good3']) b) s;
SELECT messages, deleted, outcome FROM sqsn.run_event_source_mapping(:'m_p');
SELECT body FROM fn.seen ORDER BY body;
SELECT body FROM sqsn.sq_receive('fn_p', 10) ORDER BY body;
-- a result naming no message of the batch fails the whole batch
SELECT sqsn.sq_update_event_source_mapping(:'m_p', function_name => 'fn.bad_result(jsonb)');
SELECT messages, deleted, outcome, error IS NOT NULL AS has_error
FROM sqsn.run_event_source_mapping(:'m_p');
SELECT pg_temp.msgs('fn_p') AS left_in_queue;

-- a_slow_function_times_out_and_its_batch_is_kept
TRUNCATE fn.seen;
SELECT sqsn.sq_create_queue('fn_t', visibility_timeout => 0);
SELECT sqsn.sq_create_event_source_mapping('fn_t', 'fn.slow(jsonb)', timeout_seconds => 1,
	enabled => false) AS m_t \gset
SELECT sqsn.sq_send('fn_t', 'x') \gset
SELECT messages, deleted, outcome, error FROM sqsn.run_event_source_mapping(:'m_t');
SELECT count(*) AS rows_written, pg_temp.msgs('fn_t') AS left_in_queue FROM fn.seen;
SELECT timed_out FROM sqsn.event_source_mapping_stats WHERE mapping_id = :'m_t';

-- a_poison_message_reaches_the_dead_letter_queue_after_max_receive_count
TRUNCATE fn.seen;
SELECT sqsn.sq_create_event_source_mapping('fn_src', 'fn.handler(jsonb)',
	enabled => false) AS m_src \gset
SELECT sqsn.sq_send('fn_src', 'fail') \gset
SELECT messages, deleted, outcome FROM sqsn.run_event_source_mapping(:'m_src');
SELECT messages, deleted, outcome FROM sqsn.run_event_source_mapping(:'m_src');
-- the third receive moves it to the DLQ instead of handing it out
SELECT messages, deleted, outcome FROM sqsn.run_event_source_mapping(:'m_src');
SELECT pg_temp.msgs('fn_src') AS in_source, pg_temp.msgs('fn_dlq') AS in_dlq,
	(SELECT count(*) FROM fn.seen) AS rows_written;

-- fifo_batches_hold_whole_group_prefixes_and_keep_order_across_retries
TRUNCATE fn.seen;
SELECT sqsn.sq_create_event_source_mapping('fn_g.fifo', 'fn.handler(jsonb)',
	enabled => false) AS m_g \gset
SELECT count(*) FROM (SELECT sqsn.sq_send('fn_g.fifo', b, message_group_id => 'g1',
	message_deduplication_id => b) FROM unnest(ARRAY['a1', 'fail', 'a3']) b) s;
SELECT messages, deleted, outcome FROM sqsn.run_event_source_mapping(:'m_g');
SELECT sqsn.sq_update_event_source_mapping(:'m_g', function_name => 'fn.keep(jsonb)');
-- the lease of the failed batch holds the whole group back
SELECT messages FROM sqsn.run_event_source_mapping(:'m_g');

-- permissions_creating_needs_receive_and_execute
SET ROLE regress_fn_owner;
SELECT pg_temp.err($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.keep(jsonb)')$$);
RESET ROLE;
SELECT sqsn.sq_grant('fn_q', 'regress_fn_owner', '{send,receive}');
SET ROLE regress_fn_owner;
SELECT pg_temp.err($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.private(jsonb)')$$);
-- one function consumes a queue once, whoever owns the mapping
SELECT pg_temp.err($$SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.handler(jsonb)')$$);
RESET ROLE;
SELECT sqsn.sq_delete_event_source_mapping(:'m1');
SET ROLE regress_fn_owner;
SELECT sqsn.sq_create_event_source_mapping('fn_q', 'fn.handler(jsonb)', enabled => false) AS m_o \gset
-- the function runs as the mapping's owner
TRUNCATE fn.seen;
SELECT sqsn.sq_send('fn_q', 'as owner') \gset
SELECT messages, deleted, outcome FROM sqsn.run_event_source_mapping(:'m_o');
SELECT body, seen_by FROM fn.seen;
RESET ROLE;

-- permissions_only_the_owner_changes_or_runs_it
SET ROLE regress_fn_other;
SELECT pg_temp.err($$SELECT sqsn.sq_update_event_source_mapping('$$ || :'m_o' || $$', batch_size => 2)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_delete_event_source_mapping('$$ || :'m_o' || $$')$$);
SELECT pg_temp.err($$SELECT * FROM sqsn.run_event_source_mapping('$$ || :'m_o' || $$')$$);
SELECT count(*) AS mappings_seen FROM sqsn.sq_list_event_source_mappings();
RESET ROLE;

-- a_revoked_right_pauses_the_mapping_with_the_reason
SELECT sqsn.sq_revoke('fn_q', 'regress_fn_owner', '{receive}');
SET ROLE regress_fn_owner;
SELECT pg_temp.err($$SELECT * FROM sqsn.run_event_source_mapping('$$ || :'m_o' || $$')$$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION fn.handler(jsonb) FROM PUBLIC;
SELECT sqsn.sq_grant('fn_q', 'regress_fn_owner', '{receive}');
SET ROLE regress_fn_owner;
SELECT pg_temp.err($$SELECT * FROM sqsn.run_event_source_mapping('$$ || :'m_o' || $$')$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION fn.handler(jsonb) TO PUBLIC;
SET ROLE regress_fn_owner;
SELECT messages, outcome FROM sqsn.run_event_source_mapping(:'m_o');
-- an administrator of the queue may delete another owner's mapping
RESET ROLE;
SET ROLE regress_fn_other;
SELECT pg_temp.err($$SELECT sqsn.sq_update_event_source_mapping('$$ || :'m_o' || $$', enabled => false)$$) AS without_admin_before;
RESET ROLE;
SELECT sqsn.sq_grant('fn_q', 'regress_fn_other', '{admin}');
SET ROLE regress_fn_other;
-- ... and disable and enable it (enabled alone: not its settings)
SELECT pg_temp.err($$SELECT sqsn.sq_update_event_source_mapping('$$ || :'m_o' || $$', enabled => false)$$) AS disable;
SELECT state FROM sqsn.sq_list_event_source_mappings('fn_q') WHERE mapping_id = :'m_o';
SELECT pg_temp.err($$SELECT sqsn.sq_update_event_source_mapping('$$ || :'m_o' || $$', enabled => true, batch_size => 2)$$) AS settings_too;
SELECT pg_temp.err($$SELECT sqsn.sq_update_event_source_mapping('$$ || :'m_o' || $$', enabled => true)$$) AS enable;
SELECT state FROM sqsn.sq_list_event_source_mappings('fn_q') WHERE mapping_id = :'m_o';
SELECT sqsn.sq_delete_event_source_mapping(:'m_o');
RESET ROLE;

-- the_counters_in_shared_memory_match_the_exact_figures: invocations,
-- errors and messages since the start, beside the table-counted stats
SELECT mm.queue_name, mm.invocations, mm.errors, mm.failed, mm.timed_out,
	mm.partially_failed, mm.messages_processed,
	mm.invocations = st.invocations AS same_invocations,
	mm.failed = st.failed AND mm.timed_out = st.timed_out AS same_errors,
	mm.duration_buckets[array_length(mm.duration_buckets, 1)] = mm.invocations
		AS histogram_counts_all,
	mm.duration_bucket_le[array_length(mm.duration_bucket_le, 1)] = 'infinity'
		AS last_bucket_infinite
FROM sqsn.event_source_mapping_metrics mm
JOIN sqsn.event_source_mapping_stats st USING (mapping_id)
WHERE mapping_id IN (:'m1', :'m_t', :'m_p') ORDER BY mm.queue_name;
-- the timed out invocation took at least its one-second limit
SELECT duration_buckets[array_position(duration_bucket_le, 0.5)] AS within_half_second,
	duration_seconds_sum >= 1 AS took_a_second
FROM sqsn.event_source_mapping_metrics WHERE mapping_id = :'m_t';
-- sqsn.metrics = off stops the counting; the exact figures go on
SET sqsn.metrics = off;
SELECT sqsn.sq_send('fn_t', 'y') IS NOT NULL AS sent;
SELECT outcome FROM sqsn.run_event_source_mapping(:'m_t');
RESET sqsn.metrics;
SELECT mm.invocations AS counted, st.invocations AS exact
FROM sqsn.event_source_mapping_metrics mm
JOIN sqsn.event_source_mapping_stats st USING (mapping_id)
WHERE mapping_id = :'m_t';

-- disable_enable_and_delete
SELECT sqsn.sq_update_event_source_mapping(:'m_keep', enabled => true);
SELECT state FROM sqsn.sq_list_event_source_mappings('fn_q') WHERE mapping_id = :'m_keep';
SELECT sqsn.sq_update_event_source_mapping(:'m_keep', enabled => false);
SELECT state FROM sqsn.sq_list_event_source_mappings('fn_q') WHERE mapping_id = :'m_keep';
SELECT invocations AS counted_before_delete
FROM sqsn.event_source_mapping_counters(:'m_keep');
SELECT sqsn.sq_delete_event_source_mapping(:'m_keep');
-- its slot is freed: a mapping of that id would count from zero
SELECT invocations AS counted_after_delete
FROM sqsn.event_source_mapping_counters(:'m_keep');
SELECT count(*) AS left_on_fn_q FROM sqsn.sq_list_event_source_mappings('fn_q');
-- dropping the queue drops its mappings
SELECT sqsn.sq_delete_queue('fn_p');
SELECT count(*) AS mapping_of_dropped_queue FROM sqsn.event_source_mapping WHERE mapping_id = :'m_p';

-- function_subscriptions_check_their_function
SELECT sqsn.sn_create_topic('fn_topic');
SELECT pg_temp.err(s) FROM (VALUES
	($$SELECT sqsn.sn_subscribe('fn_topic', 'function', 'fn.nothere(jsonb)')$$),
	($$SELECT sqsn.sn_subscribe('fn_topic', 'function', 'fn.text_arg(text)')$$),
	($$SELECT sqsn.sn_subscribe('fn_topic', 'lambda', 'not a function(')$$),
	($$SELECT sqsn.sn_subscribe('fn_topic', 'function', 'fn.keep(jsonb)', delivery_policy => '{"MaximumRetryAttempts": 3}')$$),
	($$SELECT sqsn.sn_subscribe('fn_topic', 'function', 'fn.keep(jsonb)', delivery_policy => '{"MaximumEventAgeInSeconds": 59}')$$)
) AS t(s);
SELECT sqsn.sn_subscribe('fn_topic', 'function', 'fn.keep(jsonb)') IS NOT NULL AS subscribed;
SELECT sqsn.sn_subscribe('fn_topic', 'lambda', 'fn.handler(jsonb)') IS NOT NULL AS subscribed;
SELECT protocol, endpoint FROM sqsn.subscription s JOIN sqsn.topic t USING (topic_id)
WHERE t.topic_name = 'fn_topic' ORDER BY protocol;
-- a publish writes one outbox row per function subscription, for the
-- function workers
SELECT sqsn.sn_publish('fn_topic', 'hello') IS NOT NULL AS published;
SELECT worker, status, count(*) FROM sqsn.delivery d
JOIN sqsn.subscription s USING (subscription_id) JOIN sqsn.topic t USING (topic_id)
WHERE t.topic_name = 'fn_topic' GROUP BY 1, 2;

SET client_min_messages = warning;
DROP SCHEMA fn CASCADE;
RESET client_min_messages;
SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY['fn_q', 'fn_src', 'fn_dlq', 'fn_g.fifo', 'fn_t']) q;
SELECT sqsn.sn_delete_topic('fn_topic');
DROP OWNED BY regress_fn_owner, regress_fn_other;
DROP ROLE regress_fn_owner;
DROP ROLE regress_fn_other;
