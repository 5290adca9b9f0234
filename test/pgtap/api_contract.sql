-- The SQL API: schema, every function with its exact signature, return
-- type, language and security, the queue_stats view, and nothing else
-- exposed.
BEGIN;
SELECT plan(167);

SELECT has_extension('sqsn', 'extension sqsn is installed');
SELECT has_schema('sqsn', 'schema sqsn exists');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'sqsn'), false,
	'sqsn is not relocatable');
SELECT ok(EXISTS (SELECT FROM pg_depend
	WHERE classid = 'pg_namespace'::regclass AND objid = 'sqsn'::regnamespace
	AND refclassid = 'pg_extension'::regclass AND deptype = 'e'
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'sqsn')),
	'schema sqsn belongs to the extension');

-- every API function, with its exact argument types
SELECT has_function('sqsn', 'sq_create_queue',
	ARRAY['text', 'integer', 'integer', 'integer', 'integer', 'text', 'integer', 'integer', 'boolean', 'text', 'boolean'],
	'sq_create_queue(text, integer, integer, integer, integer, text, integer, integer, boolean, text, boolean) exists');
SELECT has_function('sqsn', 'sq_delete_queue', ARRAY['text'], 'sq_delete_queue(text) exists');
SELECT has_function('sqsn', 'sq_purge_queue', ARRAY['text'], 'sq_purge_queue(text) exists');
SELECT has_function('sqsn', 'sq_list_queues', ARRAY['text'], 'sq_list_queues(text) exists');
SELECT has_function('sqsn', 'sq_get_queue_attributes', ARRAY['text'], 'sq_get_queue_attributes(text) exists');
SELECT has_function('sqsn', 'sq_set_queue_attributes', ARRAY['text', 'jsonb'], 'sq_set_queue_attributes(text, jsonb) exists');
SELECT has_function('sqsn', 'sq_send', ARRAY['text', 'text', 'jsonb', 'integer', 'text', 'text'], 'sq_send(text, text, jsonb, integer, text, text) exists');
SELECT has_function('sqsn', 'sq_send_batch', ARRAY['text', 'text[]', 'jsonb[]', 'integer', 'text[]', 'text[]'], 'sq_send_batch(text, text[], jsonb[], integer, text[], text[]) exists');
SELECT has_function('sqsn', 'sq_receive', ARRAY['text', 'integer', 'integer', 'integer'], 'sq_receive(text, integer, integer, integer) exists');
SELECT has_function('sqsn', 'sq_delete', ARRAY['text', 'text'], 'sq_delete(text, text) exists');
SELECT has_function('sqsn', 'sq_delete_batch', ARRAY['text', 'text[]'], 'sq_delete_batch(text, text[]) exists');
SELECT has_function('sqsn', 'sq_change_visibility', ARRAY['text', 'text', 'integer'], 'sq_change_visibility(text, text, integer) exists');

SELECT has_function('sqsn', 'sq_redrive', ARRAY['text', 'text', 'integer'], 'sq_redrive(text, text, integer) exists');
SELECT has_function('sqsn', 'sq_schedule_send', ARRAY['text', 'text', 'text', 'text', 'jsonb'], 'sq_schedule_send(text, text, text, text, jsonb) exists');
SELECT has_function('sqsn', 'sq_unschedule_send', ARRAY['text'], 'sq_unschedule_send(text) exists');
SELECT has_function('sqsn', 'sq_rotate_queue_key', ARRAY['text'], 'sq_rotate_queue_key(text) exists');

-- return types
SELECT function_returns('sqsn', 'sq_create_queue',
	ARRAY['text', 'integer', 'integer', 'integer', 'integer', 'text', 'integer', 'integer', 'boolean', 'text', 'boolean'], 'void',
	'sq_create_queue returns void');
SELECT function_returns('sqsn', 'sq_delete_queue', ARRAY['text'], 'void', 'sq_delete_queue returns void');
SELECT function_returns('sqsn', 'sq_purge_queue', ARRAY['text'], 'bigint', 'sq_purge_queue returns bigint');
SELECT function_returns('sqsn', 'sq_list_queues', ARRAY['text'], 'setof text', 'sq_list_queues returns setof text');
SELECT function_returns('sqsn', 'sq_get_queue_attributes', ARRAY['text'], 'jsonb', 'sq_get_queue_attributes returns jsonb');
SELECT function_returns('sqsn', 'sq_set_queue_attributes', ARRAY['text', 'jsonb'], 'void', 'sq_set_queue_attributes returns void');
SELECT function_returns('sqsn', 'sq_send', ARRAY['text', 'text', 'jsonb', 'integer', 'text', 'text'], 'uuid', 'sq_send returns uuid');
SELECT function_returns('sqsn', 'sq_send_batch', ARRAY['text', 'text[]', 'jsonb[]', 'integer', 'text[]', 'text[]'], 'setof uuid', 'sq_send_batch returns setof uuid');
SELECT function_returns('sqsn', 'sq_receive', ARRAY['text', 'integer', 'integer', 'integer'], 'setof record', 'sq_receive returns a table');
SELECT function_returns('sqsn', 'sq_delete', ARRAY['text', 'text'], 'boolean', 'sq_delete returns boolean');
SELECT function_returns('sqsn', 'sq_delete_batch', ARRAY['text', 'text[]'], 'setof record', 'sq_delete_batch returns a table');
SELECT function_returns('sqsn', 'sq_change_visibility', ARRAY['text', 'text', 'integer'], 'boolean', 'sq_change_visibility returns boolean');

SELECT function_returns('sqsn', 'sq_redrive', ARRAY['text', 'text', 'integer'], 'bigint', 'sq_redrive returns bigint');

SELECT function_returns('sqsn', 'sq_schedule_send', ARRAY['text', 'text', 'text', 'text', 'jsonb'], 'bigint', 'sq_schedule_send returns bigint');
SELECT function_returns('sqsn', 'sq_unschedule_send', ARRAY['text'], 'boolean', 'sq_unschedule_send returns boolean');
SELECT function_returns('sqsn', 'sq_rotate_queue_key', ARRAY['text'], 'bigint', 'sq_rotate_queue_key returns bigint');

-- parameter names and defaults, exactly as documented
SELECT is(pg_get_function_arguments('sqsn.sq_schedule_send(text, text, text, text, jsonb)'::regprocedure),
	'job_name text, schedule text, queue_name text, message_body text, message_attributes jsonb DEFAULT NULL::jsonb',
	'sq_schedule_send parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sq_redrive(text, text, integer)'::regprocedure),
	'dead_letter_queue text, destination_queue text DEFAULT NULL::text, max_messages_per_second integer DEFAULT NULL::integer',
	'sq_redrive parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sq_create_queue(text, integer, integer, integer, integer, text, integer, integer, boolean, text, boolean)'::regprocedure),
	'queue_name text, visibility_timeout integer DEFAULT 30, message_retention_period integer DEFAULT 345600, delay_seconds integer DEFAULT 0, maximum_message_size integer DEFAULT 262144, dead_letter_queue text DEFAULT NULL::text, max_receive_count integer DEFAULT NULL::integer, receive_wait_time_seconds integer DEFAULT 0, content_based_deduplication boolean DEFAULT false, deduplication_scope text DEFAULT ''queue''::text, encrypted boolean DEFAULT false',
	'sq_create_queue parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sq_list_queues(text)'::regprocedure),
	'prefix text DEFAULT NULL::text', 'sq_list_queues parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sq_set_queue_attributes(text, jsonb)'::regprocedure),
	'queue_name text, attributes jsonb', 'sq_set_queue_attributes parameters');
SELECT is(pg_get_function_arguments('sqsn.sq_send(text, text, jsonb, integer, text, text)'::regprocedure),
	'queue_name text, message_body text, message_attributes jsonb DEFAULT NULL::jsonb, delay_seconds integer DEFAULT NULL::integer, message_group_id text DEFAULT NULL::text, message_deduplication_id text DEFAULT NULL::text',
	'sq_send parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sq_send_batch(text, text[], jsonb[], integer, text[], text[])'::regprocedure),
	'queue_name text, message_bodies text[], message_attributes jsonb[] DEFAULT NULL::jsonb[], delay_seconds integer DEFAULT NULL::integer, message_group_ids text[] DEFAULT NULL::text[], message_deduplication_ids text[] DEFAULT NULL::text[]',
	'sq_send_batch parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sq_receive(text, integer, integer, integer)'::regprocedure),
	'queue_name text, max_number_of_messages integer DEFAULT 1, visibility_timeout integer DEFAULT NULL::integer, wait_time_seconds integer DEFAULT NULL::integer',
	'sq_receive parameters and defaults');
SELECT is(pg_get_function_result('sqsn.sq_receive(text, integer, integer, integer)'::regprocedure),
	'TABLE(message_id uuid, receipt_handle text, body text, message_attributes jsonb, sent_at timestamp with time zone, receive_count integer, first_received_at timestamp with time zone, message_group_id text, message_deduplication_id text, sequence_number text)',
	'sq_receive result columns');
SELECT is(pg_get_function_arguments('sqsn.sq_delete(text, text)'::regprocedure),
	'queue_name text, receipt_handle text', 'sq_delete parameters');
SELECT is(pg_get_function_arguments('sqsn.sq_delete_batch(text, text[])'::regprocedure),
	'queue_name text, receipt_handles text[]', 'sq_delete_batch parameters');
SELECT is(pg_get_function_result('sqsn.sq_delete_batch(text, text[])'::regprocedure),
	'TABLE(receipt_handle text, deleted boolean)', 'sq_delete_batch result columns');
SELECT is(pg_get_function_arguments('sqsn.sq_change_visibility(text, text, integer)'::regprocedure),
	'queue_name text, receipt_handle text, visibility_timeout integer', 'sq_change_visibility parameters');

-- the API is C, SECURITY DEFINER, and takes NULLs itself (to report them)
SELECT is(array_agg(p.proname::text ORDER BY p.proname) FILTER (WHERE l.lanname <> 'c'), NULL,
	'every sqsn function is written in C')
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'sqsn'::regnamespace;
SELECT is(array_agg(p.proname::text ORDER BY p.proname) FILTER (WHERE NOT p.prosecdef),
	ARRAY['sq_schedule_send', 'sq_unschedule_send'],
	'every sq_ function but the pg_cron ones (whose jobs run as the caller) is SECURITY DEFINER')
FROM pg_proc p WHERE p.pronamespace = 'sqsn'::regnamespace AND p.proname LIKE 'sq\_%';
SELECT is(array_agg(p.proname::text ORDER BY p.proname) FILTER (WHERE p.proisstrict), NULL,
	'no sq_ function is STRICT, so NULL arguments get a clear error')
FROM pg_proc p WHERE p.pronamespace = 'sqsn'::regnamespace AND p.proname LIKE 'sq\_%';
SELECT volatility_is('sqsn', 'sq_send', ARRAY['text', 'text', 'jsonb', 'integer', 'text', 'text'], 'volatile', 'sq_send is volatile');
SELECT volatility_is('sqsn', 'sq_receive', ARRAY['text', 'integer', 'integer', 'integer'], 'volatile', 'sq_receive is volatile');
SELECT volatility_is('sqsn', 'sq_delete', ARRAY['text', 'text'], 'volatile', 'sq_delete is volatile');

-- nothing more than the documented functions
SELECT functions_are('sqsn', ARRAY[
	'sq_create_queue', 'sq_delete_queue', 'sq_purge_queue', 'sq_list_queues',
	'sq_list_dead_letter_source_queues',
	'sq_tag_queue', 'sq_untag_queue', 'sq_list_queue_tags',
	'sq_start_message_move_task', 'sq_list_message_move_tasks', 'sq_cancel_message_move_task',
	'sn_tag_resource', 'sn_untag_resource', 'sn_list_tags_for_resource',
	'sq_get_queue_attributes', 'sq_set_queue_attributes', 'sq_send', 'sq_send_batch',
	'sq_receive', 'sq_delete', 'sq_delete_batch', 'sq_change_visibility', 'sq_redrive',
	'sq_schedule_send', 'sq_unschedule_send', 'sq_rotate_queue_key',
	'queue_stats_rows', 'queue_metrics_rows', 'init_handle_key', 'drop_message_tables',
	'worker_status_rows', 'run_maintenance', 'run_archive_maintenance', 'run_topic_replays', 'queue_low_water_rows',
	'citus_distribute',
	'sn_create_topic', 'sn_delete_topic', 'sn_list_topics', 'sn_subscribe',
	'sn_unsubscribe', 'sn_list_subscriptions', 'sn_set_subscription_attributes',
	'sn_pause_subscription', 'sn_resume_subscription',
	'sn_opt_out_phone_number', 'sn_opt_in_phone_number',
	'sn_check_if_phone_number_is_opted_out', 'sn_list_phone_numbers_opted_out',
	'sn_create_platform_application', 'sn_get_platform_application_attributes',
	'sn_set_platform_application_attributes', 'sn_delete_platform_application',
	'sn_list_platform_applications', 'sn_create_platform_endpoint',
	'sn_get_endpoint_attributes', 'sn_set_endpoint_attributes', 'sn_delete_endpoint',
	'sn_list_endpoints_by_platform_application',
	'sn_publish', 'sn_publish_batch', 'sn_publish_sms', 'sn_confirm_subscription', 'sn_set_topic_attributes',
	'sn_publish_sequenced', 'sn_publish_batch_sequenced',
	'delivery_retry_schedule', 'signing_certificate',
	'sq_grant', 'sq_revoke', 'sq_set_queue_owner',
	'sn_grant', 'sn_revoke', 'sn_set_topic_owner',
	'sn_get_topic_attributes', 'sn_get_subscription_attributes',
	'api_create_credentials', 'api_drop_credentials',
	'sq_create_event_source_mapping', 'sq_update_event_source_mapping',
	'sq_delete_event_source_mapping', 'sq_list_event_source_mappings',
	'run_event_source_mapping', 'function_worker_rows', 'function_invocation_rows',
	'event_source_mapping_counters'],
	'schema sqsn has exactly the documented functions');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'sqsn'::regnamespace AND proname LIKE 'sq\_%'),
	30, 'no sq_ function is overloaded');

-- the monitoring view
SELECT has_view('sqsn', 'queue_stats', 'view sqsn.queue_stats exists');
SELECT columns_are('sqsn', 'queue_stats',
	ARRAY['queue_name', 'visible', 'in_flight', 'delayed', 'oldest_message_age'],
	'queue_stats has the documented columns');
SELECT col_type_is('sqsn', 'queue_stats', 'queue_name', 'text', 'queue_stats.queue_name is text');
SELECT col_type_is('sqsn', 'queue_stats', 'visible', 'bigint', 'queue_stats.visible is bigint');
SELECT col_type_is('sqsn', 'queue_stats', 'in_flight', 'bigint', 'queue_stats.in_flight is bigint');
SELECT col_type_is('sqsn', 'queue_stats', 'delayed', 'bigint', 'queue_stats.delayed is bigint');
SELECT col_type_is('sqsn', 'queue_stats', 'oldest_message_age', 'integer', 'queue_stats.oldest_message_age is integer');

-- the metrics view, under the managed service's metric names
SELECT has_view('sqsn', 'queue_metrics', 'view sqsn.queue_metrics exists');
SELECT columns_are('sqsn', 'queue_metrics',
	ARRAY['queue_name', 'ApproximateNumberOfMessagesVisible',
		'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed',
		'ApproximateAgeOfOldestMessage', 'NumberOfMessagesSent',
		'NumberOfMessagesReceived', 'NumberOfMessagesDeleted', 'NumberOfEmptyReceives',
		'SentMessageSize', 'ApproximateNumberOfGroupsWithInflightMessages',
		'messages_dead_lettered', 'messages_redriven', 'depth_exact', 'depth_measured_at'],
	'queue_metrics has the documented columns');
SELECT col_type_is('sqsn', 'queue_metrics', 'NumberOfMessagesSent', 'bigint',
	'queue_metrics.NumberOfMessagesSent is bigint');
SELECT has_function('sqsn', 'sn_pause_subscription', ARRAY['uuid'], 'sn_pause_subscription(uuid) exists');
SELECT has_function('sqsn', 'sn_resume_subscription', ARRAY['uuid'], 'sn_resume_subscription(uuid) exists');

-- the worker's view and the maintenance function
SELECT has_view('sqsn', 'queue_low_water', 'view sqsn.queue_low_water exists');
SELECT columns_are('sqsn', 'queue_low_water',
	ARRAY['queue_name', 'hard_after', 'soft_after', 'soft_until'],
	'queue_low_water has the documented columns');
SELECT has_view('sqsn', 'worker_status', 'view sqsn.worker_status exists');
SELECT columns_are('sqsn', 'worker_status',
	ARRAY['pid', 'state', 'last_sweep_at', 'messages_expired', 'messages_moved_to_dlq', 'last_error',
	      'queues_tracked', 'queues_swept_last_round', 'full_rounds'],
	'worker_status has the documented columns');
SELECT has_view('sqsn', 'function_worker_status', 'view sqsn.function_worker_status exists');
SELECT columns_are('sqsn', 'function_worker_status',
	ARRAY['worker', 'pid', 'state', 'last_invocation_at', 'invocations', 'last_error'],
	'function_worker_status has the documented columns');

-- event source mappings (function consumers)
SELECT is(pg_get_function_arguments('sqsn.sq_create_event_source_mapping(text, regprocedure, integer, integer, integer, integer, boolean, boolean)'::regprocedure),
	'queue_name text, function_name regprocedure, batch_size integer DEFAULT 10, maximum_batching_window_seconds integer DEFAULT 0, maximum_concurrency integer DEFAULT 2, timeout_seconds integer DEFAULT 30, report_batch_item_failures boolean DEFAULT false, enabled boolean DEFAULT true',
	'sq_create_event_source_mapping parameters and defaults');
SELECT columns_are('sqsn', 'function_invocations',
	ARRAY['consumer', 'consumer_id', 'function_name', 'source', 'batch_size', 'started_at',
		'duration_ms', 'outcome', 'error', 'pid'],
	'function_invocations has the documented columns');
SELECT has_function('sqsn', 'run_maintenance', ARRAY[]::text[], 'run_maintenance() exists');
SELECT is(pg_get_function_result('sqsn.run_maintenance()'::regprocedure),
	'TABLE(messages_expired bigint, messages_moved_to_dlq bigint)', 'run_maintenance result columns');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'sqsn.run_maintenance()'::regprocedure), true,
	'run_maintenance is SECURITY DEFINER');

-- the catalog and the event trigger that cleans up message tables
SELECT has_table('sqsn', 'queue', 'catalog table sqsn.queue exists');
SELECT is((SELECT count(*)::int FROM pg_event_trigger
	WHERE evtname = 'sqsn_drop_message_tables' AND evtevent = 'ddl_command_start' AND evtenabled <> 'D'),
	1, 'event trigger sqsn_drop_message_tables is enabled on ddl_command_start');
SELECT ok((SELECT array_agg(c.relname::text ORDER BY c.relname)
	FROM unnest((SELECT extconfig FROM pg_extension WHERE extname = 'sqsn')) AS t(oid)
	JOIN pg_class c ON c.oid = t.oid) @> ARRAY['queue', 'queue_id_seq'],
	'sqsn.queue and its sequence are dumped by pg_dump');

-- the topic API
SELECT has_function('sqsn', 'sn_create_topic', ARRAY['text', 'boolean', 'boolean'], 'sn_create_topic(text, boolean, boolean) exists');
SELECT has_function('sqsn', 'sn_delete_topic', ARRAY['text'], 'sn_delete_topic(text) exists');
SELECT has_function('sqsn', 'sn_list_topics', ARRAY['text'], 'sn_list_topics(text) exists');
SELECT has_function('sqsn', 'sn_subscribe', ARRAY['text', 'text', 'text', 'jsonb', 'text', 'boolean', 'jsonb', 'jsonb'],
	'sn_subscribe(text, text, text, jsonb, text, boolean, jsonb, jsonb) exists');
SELECT has_function('sqsn', 'sn_unsubscribe', ARRAY['uuid'], 'sn_unsubscribe(uuid) exists');
SELECT has_function('sqsn', 'sn_list_subscriptions', ARRAY['text'], 'sn_list_subscriptions(text) exists');
SELECT has_function('sqsn', 'sn_set_subscription_attributes', ARRAY['uuid', 'jsonb'],
	'sn_set_subscription_attributes(uuid, jsonb) exists');
SELECT has_function('sqsn', 'sn_publish', ARRAY['text', 'text', 'jsonb', 'text', 'text', 'text', 'text'],
	'sn_publish(text, text, jsonb, text, text, text, text) exists');
SELECT has_function('sqsn', 'sn_publish_batch', ARRAY['text', 'text[]', 'jsonb[]', 'text[]', 'text[]'],
	'sn_publish_batch(text, text[], jsonb[], text[], text[]) exists');
SELECT function_returns('sqsn', 'sn_create_topic', ARRAY['text', 'boolean', 'boolean'], 'void', 'sn_create_topic returns void');
SELECT function_returns('sqsn', 'sn_delete_topic', ARRAY['text'], 'void', 'sn_delete_topic returns void');
SELECT function_returns('sqsn', 'sn_list_topics', ARRAY['text'], 'setof text', 'sn_list_topics returns setof text');
SELECT function_returns('sqsn', 'sn_subscribe', ARRAY['text', 'text', 'text', 'jsonb', 'text', 'boolean', 'jsonb', 'jsonb'], 'uuid',
	'sn_subscribe returns uuid');
SELECT function_returns('sqsn', 'sn_unsubscribe', ARRAY['uuid'], 'void', 'sn_unsubscribe returns void');
SELECT function_returns('sqsn', 'sn_set_subscription_attributes', ARRAY['uuid', 'jsonb'], 'void',
	'sn_set_subscription_attributes returns void');
SELECT function_returns('sqsn', 'sn_publish', ARRAY['text', 'text', 'jsonb', 'text', 'text', 'text', 'text'], 'uuid',
	'sn_publish returns uuid');
SELECT function_returns('sqsn', 'sn_publish_batch', ARRAY['text', 'text[]', 'jsonb[]', 'text[]', 'text[]'], 'setof uuid',
	'sn_publish_batch returns setof uuid');
SELECT is(pg_get_function_arguments('sqsn.sn_list_topics(text)'::regprocedure),
	'prefix text DEFAULT NULL::text', 'sn_list_topics parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sn_subscribe(text, text, text, jsonb, text, boolean, jsonb, jsonb)'::regprocedure),
	'topic_name text, protocol text, endpoint text, filter_policy jsonb DEFAULT NULL::jsonb, filter_policy_scope text DEFAULT ''MessageAttributes''::text, raw_message_delivery boolean DEFAULT false, delivery_policy jsonb DEFAULT NULL::jsonb, redrive_policy jsonb DEFAULT NULL::jsonb',
	'sn_subscribe parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sn_list_subscriptions(text)'::regprocedure),
	'topic_name text DEFAULT NULL::text', 'sn_list_subscriptions parameters and defaults');
SELECT is(pg_get_function_result('sqsn.sn_list_subscriptions(text)'::regprocedure),
	'TABLE(subscription_id uuid, topic_name text, protocol text, endpoint text, filter_policy jsonb, raw_message_delivery boolean, status text)',
	'sn_list_subscriptions result columns');
SELECT is(pg_get_function_arguments('sqsn.sn_set_subscription_attributes(uuid, jsonb)'::regprocedure),
	'subscription_id uuid, attributes jsonb', 'sn_set_subscription_attributes parameters');
SELECT is(pg_get_function_arguments('sqsn.sn_create_topic(text, boolean, boolean)'::regprocedure),
	'topic_name text, content_based_deduplication boolean DEFAULT false, encrypted boolean DEFAULT false',
	'sn_create_topic parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sn_publish(text, text, jsonb, text, text, text, text)'::regprocedure),
	'topic_name text, message text, message_attributes jsonb DEFAULT NULL::jsonb, subject text DEFAULT NULL::text, message_structure text DEFAULT NULL::text, message_group_id text DEFAULT NULL::text, message_deduplication_id text DEFAULT NULL::text',
	'sn_publish parameters and defaults');
SELECT is(pg_get_function_arguments('sqsn.sn_publish_batch(text, text[], jsonb[], text[], text[])'::regprocedure),
	'topic_name text, messages text[], message_attributes jsonb[] DEFAULT NULL::jsonb[], message_group_ids text[] DEFAULT NULL::text[], message_deduplication_ids text[] DEFAULT NULL::text[]',
	'sn_publish_batch parameters and defaults');
SELECT is(array_agg(p.proname::text ORDER BY p.proname) FILTER (WHERE NOT p.prosecdef OR p.proisstrict), NULL,
	'every sn_ function is SECURITY DEFINER and not STRICT')
FROM pg_proc p WHERE p.pronamespace = 'sqsn'::regnamespace AND p.proname LIKE 'sn\_%';
SELECT is((SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'sqsn'::regnamespace AND proname LIKE 'sn\_%'),
	38, 'no sn_ function is overloaded');
SELECT is(pg_get_function_result('sqsn.sn_publish_sequenced(text, text, jsonb, text, text, text, text)'::regprocedure)
	|| ' / ' || pg_get_function_result('sqsn.sn_publish_batch_sequenced(text, text[], jsonb[], text[], text[])'::regprocedure),
	'record / TABLE(message_id uuid, sequence_number text)',
	'sn_publish_sequenced and sn_publish_batch_sequenced return the message id and sequence number');
SELECT has_table('sqsn', 'topic', 'catalog table sqsn.topic exists');
SELECT has_table('sqsn', 'subscription', 'catalog table sqsn.subscription exists');
SELECT ok((SELECT array_agg(c.relname::text ORDER BY c.relname)
	FROM unnest((SELECT extconfig FROM pg_extension WHERE extname = 'sqsn')) AS t(oid)
	JOIN pg_class c ON c.oid = t.oid) @> ARRAY['subscription', 'topic', 'topic_id_seq'],
	'sqsn.topic, its sequence and sqsn.subscription are dumped by pg_dump');


-- push delivery
SELECT has_function('sqsn', 'sn_confirm_subscription', ARRAY['text', 'text'], 'sn_confirm_subscription(text, text) exists');
SELECT function_returns('sqsn', 'sn_confirm_subscription', ARRAY['text', 'text'], 'uuid', 'sn_confirm_subscription returns uuid');
SELECT is(pg_get_function_arguments('sqsn.sn_confirm_subscription(text, text)'::regprocedure),
	'topic_name text, token text', 'sn_confirm_subscription parameters');
SELECT has_function('sqsn', 'sn_set_topic_attributes', ARRAY['text', 'jsonb'], 'sn_set_topic_attributes(text, jsonb) exists');
SELECT function_returns('sqsn', 'sn_set_topic_attributes', ARRAY['text', 'jsonb'], 'void', 'sn_set_topic_attributes returns void');
SELECT has_function('sqsn', 'delivery_retry_schedule', ARRAY['jsonb'], 'delivery_retry_schedule(jsonb) exists');
SELECT is(pg_get_function_result('sqsn.delivery_retry_schedule(jsonb)'::regprocedure),
	'TABLE(retry integer, phase text, delay_seconds double precision)', 'delivery_retry_schedule result columns');
SELECT has_function('sqsn', 'signing_certificate', ARRAY[]::text[], 'signing_certificate() exists');
SELECT function_returns('sqsn', 'signing_certificate', ARRAY[]::text[], 'text', 'signing_certificate returns text');
SELECT has_table('sqsn', 'delivery', 'the outbox sqsn.delivery exists');
SELECT has_view('sqsn', 'delivery_attempts', 'view sqsn.delivery_attempts exists');
SELECT has_view('sqsn', 'subscription_stats', 'view sqsn.subscription_stats exists');
SELECT columns_are('sqsn', 'delivery_attempts', ARRAY['subscription_id', 'message_id', 'attempt',
	'attempted_at', 'http_status', 'error', 'latency_ms', 'next_attempt_at'], 'delivery_attempts columns');
SELECT columns_are('sqsn', 'subscription_stats', ARRAY['subscription_id', 'topic_name', 'protocol',
	'endpoint', 'confirmed', 'delivered', 'failed', 'dead_lettered', 'pending', 'oldest_pending_age',
	'denied'],
	'subscription_stats columns');
SELECT ok((SELECT array_agg(c.relname::text ORDER BY c.relname)
	FROM unnest((SELECT extconfig FROM pg_extension WHERE extname = 'sqsn')) AS t(oid)
	JOIN pg_class c ON c.oid = t.oid) @> ARRAY['delivery', 'delivery_id_seq'],
	'the outbox and its sequence are dumped by pg_dump');

-- access policies
SELECT has_function('sqsn', 'sq_grant', ARRAY['text', 'name', 'text[]'], 'sq_grant(text, name, text[]) exists');
SELECT has_function('sqsn', 'sq_revoke', ARRAY['text', 'name', 'text[]'], 'sq_revoke(text, name, text[]) exists');
SELECT has_function('sqsn', 'sq_set_queue_owner', ARRAY['text', 'name'], 'sq_set_queue_owner(text, name) exists');
SELECT has_function('sqsn', 'sn_grant', ARRAY['text', 'name', 'text[]'], 'sn_grant(text, name, text[]) exists');
SELECT has_function('sqsn', 'sn_revoke', ARRAY['text', 'name', 'text[]'], 'sn_revoke(text, name, text[]) exists');
SELECT has_function('sqsn', 'sn_set_topic_owner', ARRAY['text', 'name'], 'sn_set_topic_owner(text, name) exists');
SELECT function_returns('sqsn', 'sq_grant', ARRAY['text', 'name', 'text[]'], 'void', 'sq_grant returns void');
SELECT function_returns('sqsn', 'sq_revoke', ARRAY['text', 'name', 'text[]'], 'void', 'sq_revoke returns void');
SELECT function_returns('sqsn', 'sq_set_queue_owner', ARRAY['text', 'name'], 'void', 'sq_set_queue_owner returns void');
SELECT function_returns('sqsn', 'sn_grant', ARRAY['text', 'name', 'text[]'], 'void', 'sn_grant returns void');
SELECT function_returns('sqsn', 'sn_revoke', ARRAY['text', 'name', 'text[]'], 'void', 'sn_revoke returns void');
SELECT function_returns('sqsn', 'sn_set_topic_owner', ARRAY['text', 'name'], 'void', 'sn_set_topic_owner returns void');
SELECT is(pg_get_function_arguments('sqsn.sq_grant(text, name, text[])'::regprocedure),
	'queue_name text, role name, actions text[]', 'sq_grant parameters');
SELECT is(pg_get_function_arguments('sqsn.sn_set_topic_owner(text, name)'::regprocedure),
	'topic_name text, new_owner name', 'sn_set_topic_owner parameters');
SELECT has_view('sqsn', 'queue_grants', 'view sqsn.queue_grants exists');
SELECT has_view('sqsn', 'topic_grants', 'view sqsn.topic_grants exists');
SELECT columns_are('sqsn', 'queue_grants', ARRAY['queue_name', 'grantee', 'action', 'granted_by', 'granted_at', 'from_policy'],
	'queue_grants columns');
SELECT columns_are('sqsn', 'topic_grants', ARRAY['topic_name', 'grantee', 'action', 'granted_by', 'granted_at', 'from_policy'],
	'topic_grants columns');
SELECT ok((SELECT array_agg(c.relname::text ORDER BY c.relname)
	FROM unnest((SELECT extconfig FROM pg_extension WHERE extname = 'sqsn')) AS t(oid)
	JOIN pg_class c ON c.oid = t.oid) @> ARRAY['queue_grant', 'topic_grant'],
	'the grants are dumped by pg_dump');
SELECT ok((SELECT array_agg(c.relname::text ORDER BY c.relname)
	FROM unnest((SELECT extconfig FROM pg_extension WHERE extname = 'sqsn')) AS t(oid)
	JOIN pg_class c ON c.oid = t.oid) @> ARRAY['queue_tag', 'topic_tag', 'message_move_task'],
	'the tags are dumped by pg_dump');
SELECT is(array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text)
	FILTER (WHERE p.proconfig IS NULL OR NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig)), NULL,
	'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp')
FROM pg_proc p WHERE p.pronamespace = 'sqsn'::regnamespace AND p.prosecdef;

-- reading attributes (the SNS endpoint's GetTopicAttributes and
-- GetSubscriptionAttributes)
SELECT function_returns('sqsn', 'sn_get_topic_attributes', ARRAY['text'], 'jsonb',
	'sn_get_topic_attributes(text) returns jsonb');
SELECT is(pg_get_function_arguments('sqsn.sn_get_topic_attributes(text)'::regprocedure),
	'topic_name text', 'sn_get_topic_attributes parameters');
SELECT function_returns('sqsn', 'sn_get_subscription_attributes', ARRAY['uuid'], 'jsonb',
	'sn_get_subscription_attributes(uuid) returns jsonb');
SELECT is(pg_get_function_arguments('sqsn.sn_get_subscription_attributes(uuid)'::regprocedure),
	'subscription_id uuid', 'sn_get_subscription_attributes parameters');
SELECT volatility_is('sqsn', 'sn_get_topic_attributes', ARRAY['text'], 'volatile',
	'sn_get_topic_attributes is volatile');
SELECT has_column('sqsn', 'topic', 'extra_attributes', 'sqsn.topic keeps DisplayName, Policy and the like');

-- AWS endpoint credentials
SELECT has_function('sqsn', 'api_create_credentials', ARRAY['name', 'text', 'text', 'text'],
	'api_create_credentials(name, text, text, text) exists');
SELECT has_function('sqsn', 'api_drop_credentials', ARRAY['text'], 'api_drop_credentials(text) exists');
SELECT is(pg_get_function_arguments('sqsn.api_create_credentials(name, text, text, text)'::regprocedure),
	'role name, access_key_id text DEFAULT NULL::text, secret_access_key text DEFAULT NULL::text, session_token text DEFAULT NULL::text',
	'api_create_credentials parameters and defaults');
SELECT is(pg_get_function_result('sqsn.api_create_credentials(name, text, text, text)'::regprocedure),
	'TABLE(access_key_id text, secret_access_key text)', 'api_create_credentials result columns');
SELECT function_returns('sqsn', 'api_drop_credentials', ARRAY['text'], 'boolean', 'api_drop_credentials returns boolean');
SELECT is(array_agg(p.proname::text ORDER BY p.proname) FILTER (WHERE NOT p.prosecdef OR p.proisstrict), NULL,
	'every api_ function is SECURITY DEFINER and not STRICT')
FROM pg_proc p WHERE p.pronamespace = 'sqsn'::regnamespace AND p.proname LIKE 'api\_%';
SELECT has_table('sqsn', 'api_credentials', 'table sqsn.api_credentials exists');
SELECT columns_are('sqsn', 'api_credentials',
	ARRAY['access_key_id', 'secret_access_key', 'role', 'created_at', 'created_by', 'session_token'],
	'api_credentials columns');
SELECT has_view('sqsn', 'api_access_keys', 'view sqsn.api_access_keys exists');
SELECT columns_are('sqsn', 'api_access_keys', ARRAY['access_key_id', 'role', 'created_at', 'created_by',
	'with_session_token'], 'api_access_keys columns: no secret, no session token');
SELECT ok((SELECT array_agg(c.relname::text ORDER BY c.relname)
	FROM unnest((SELECT extconfig FROM pg_extension WHERE extname = 'sqsn')) AS t(oid)
	JOIN pg_class c ON c.oid = t.oid) @> ARRAY['api_credentials'],
	'the credentials are dumped by pg_dump');

SELECT * FROM finish();
ROLLBACK;
