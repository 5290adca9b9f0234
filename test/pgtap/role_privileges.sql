-- Privileges: PUBLIC gets nothing; sqsn_admin, sqsn_producer and
-- sqsn_consumer get exactly their functions; no role may touch the catalog
-- or a message table directly.
BEGIN;
SELECT plan(293);

SELECT has_role('sqsn_admin', 'role sqsn_admin exists');
SELECT has_role('sqsn_producer', 'role sqsn_producer exists');
SELECT has_role('sqsn_consumer', 'role sqsn_consumer exists');
SELECT isnt_superuser('sqsn_admin', 'sqsn_admin is not a superuser');
SELECT is_member_of('sqsn_producer', ARRAY['sqsn_admin'], 'sqsn_admin is a producer');
SELECT is_member_of('sqsn_consumer', ARRAY['sqsn_admin'], 'sqsn_admin is a consumer');
SELECT ok(NOT pg_has_role('sqsn_producer', 'sqsn_consumer', 'MEMBER'), 'a producer is not a consumer');
SELECT ok(NOT pg_has_role('sqsn_consumer', 'sqsn_producer', 'MEMBER'), 'a consumer is not a producer');
SELECT ok(NOT pg_has_role('sqsn_producer', 'sqsn_admin', 'MEMBER'), 'a producer is not an admin');

-- schema usage
SELECT schema_privs_are('sqsn', 'sqsn_admin', ARRAY['USAGE'], 'sqsn_admin may use schema sqsn, not create in it');
SELECT schema_privs_are('sqsn', 'sqsn_producer', ARRAY['USAGE'], 'sqsn_producer may use schema sqsn, not create in it');
SELECT schema_privs_are('sqsn', 'sqsn_consumer', ARRAY['USAGE'], 'sqsn_consumer may use schema sqsn, not create in it');
SELECT schema_privs_are('sqsn', 'public', ARRAY[]::name[], 'PUBLIC may not use schema sqsn');

-- function privileges, role by role
CREATE TEMP TABLE api (fname name, args name[], admin boolean, producer boolean, consumer boolean);
INSERT INTO api VALUES
	('sq_create_queue', ARRAY['text', 'integer', 'integer', 'integer', 'integer', 'text', 'integer', 'integer', 'boolean', 'text', 'boolean'], true, false, false),
	('sq_rotate_queue_key', ARRAY['text'], true, false, false),
	-- per-queue administration: every role may call, the queue's grants decide
	('sq_delete_queue', ARRAY['text'], true, true, true),
	('sq_purge_queue', ARRAY['text'], true, true, true),
	('sq_set_queue_attributes', ARRAY['text', 'jsonb'], true, true, true),
	('sq_redrive', ARRAY['text', 'text', 'integer'], true, true, true),
	('sq_grant', ARRAY['text', 'name', 'text[]'], true, true, true),
	('sq_revoke', ARRAY['text', 'name', 'text[]'], true, true, true),
	('sq_set_queue_owner', ARRAY['text', 'name'], true, true, true),
	('sq_schedule_send', ARRAY['text', 'text', 'text', 'text', 'jsonb'], true, true, false),
	('sq_unschedule_send', ARRAY['text'], true, true, false),
	('sq_send', ARRAY['text', 'text', 'jsonb', 'integer', 'text', 'text'], true, true, false),
	('sq_send_batch', ARRAY['text', 'text[]', 'jsonb[]', 'integer', 'text[]', 'text[]'], true, true, false),
	('sq_receive', ARRAY['text', 'integer', 'integer', 'integer'], true, false, true),
	('sq_delete', ARRAY['text', 'text'], true, false, true),
	('sq_delete_batch', ARRAY['text', 'text[]'], true, false, true),
	('sq_change_visibility', ARRAY['text', 'text', 'integer'], true, false, true),
	('sq_list_queues', ARRAY['text'], true, true, true),
	('sq_list_dead_letter_source_queues', ARRAY['text'], true, true, true),
	-- tags: the queue's or topic's admin action (reading: any action) decides
	('sq_tag_queue', ARRAY['text', 'jsonb'], true, true, true),
	('sq_untag_queue', ARRAY['text', 'text[]'], true, true, true),
	('sq_list_queue_tags', ARRAY['text'], true, true, true),
	('sn_tag_resource', ARRAY['text', 'jsonb'], true, true, true),
	('sn_untag_resource', ARRAY['text', 'text[]'], true, true, true),
	('sn_list_tags_for_resource', ARRAY['text'], true, true, true),
	-- message move tasks: the admin action on the source decides
	('sq_start_message_move_task', ARRAY['text', 'text', 'integer'], true, true, true),
	('sq_list_message_move_tasks', ARRAY['text', 'integer'], true, true, true),
	('sq_cancel_message_move_task', ARRAY['uuid'], true, true, true),
	('sq_get_queue_attributes', ARRAY['text'], true, true, true),
	('queue_stats_rows', ARRAY[]::name[], true, true, true),
	('queue_metrics_rows', ARRAY[]::name[], true, true, true),
	('worker_status_rows', ARRAY[]::name[], true, true, true),
	('run_maintenance', ARRAY[]::name[], true, false, false),
	-- reading a topic's or a subscription's attributes: their actions decide
	('sn_get_topic_attributes', ARRAY['text'], true, true, true),
	('sn_get_subscription_attributes', ARRAY['uuid'], true, true, true),
	-- pausing a push subscription: its owner or the topic's admins
	('sn_pause_subscription', ARRAY['uuid'], true, true, true),
	('sn_resume_subscription', ARRAY['uuid'], true, true, true),
	('api_create_credentials', ARRAY['name', 'text', 'text', 'text'], true, false, false),
	('api_drop_credentials', ARRAY['text'], true, false, false),
	-- event source mappings: consumers; the queue's receive grant and
	-- EXECUTE on the function decide
	('sq_create_event_source_mapping', ARRAY['text', 'regprocedure', 'integer', 'integer', 'integer', 'integer', 'boolean', 'boolean'], true, false, true),
	('sq_update_event_source_mapping', ARRAY['uuid', 'regprocedure', 'integer', 'integer', 'integer', 'integer', 'boolean', 'boolean'], true, false, true),
	('sq_delete_event_source_mapping', ARRAY['uuid'], true, false, true),
	('sq_list_event_source_mappings', ARRAY['text'], true, false, true),
	('run_event_source_mapping', ARRAY['uuid'], true, false, true),
	('function_worker_rows', ARRAY[]::name[], true, true, true),
	('function_invocation_rows', ARRAY[]::name[], true, false, false),
	('event_source_mapping_counters', ARRAY['uuid'], true, false, false),
	('init_handle_key', ARRAY[]::name[], false, false, false),
	('citus_distribute', ARRAY[]::name[], false, false, false);

SELECT function_privs_are('sqsn', fname, args, r.role,
	CASE WHEN (CASE r.role WHEN 'sqsn_admin' THEN admin WHEN 'sqsn_producer' THEN producer ELSE consumer END)
	     THEN ARRAY['EXECUTE'] ELSE ARRAY[]::name[] END,
	format('%s %s execute %s', r.role,
	       CASE WHEN (CASE r.role WHEN 'sqsn_admin' THEN admin WHEN 'sqsn_producer' THEN producer ELSE consumer END)
	            THEN 'may' ELSE 'may not' END, fname))
FROM api CROSS JOIN (VALUES ('sqsn_admin'::name), ('sqsn_producer'), ('sqsn_consumer')) AS r(role)
ORDER BY fname, r.role;

SELECT function_privs_are('sqsn', fname, args, 'public', ARRAY[]::name[],
	format('PUBLIC may not execute %s', fname))
FROM api ORDER BY fname;

-- catalog tables, the sequence and the view
SELECT table_privs_are('sqsn', 'queue', r, ARRAY[]::name[], format('%s has no privilege on sqsn.queue', r))
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer', 'public']::name[]) AS r;
SELECT table_privs_are('sqsn', 'handle_key', r, ARRAY[]::name[], format('%s has no privilege on sqsn.handle_key', r))
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer', 'public']::name[]) AS r;
SELECT sequence_privs_are('sqsn', 'queue_id_seq', 'sqsn_admin', ARRAY[]::name[], 'sqsn_admin has no privilege on sqsn.queue_id_seq');
SELECT table_privs_are('sqsn', 'queue_stats', r, ARRAY['SELECT'], format('%s may only select from sqsn.queue_stats', r))
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer']::name[]) AS r;
SELECT table_privs_are('sqsn', 'queue_stats', 'public', ARRAY[]::name[], 'PUBLIC may not select from sqsn.queue_stats');
SELECT table_privs_are('sqsn', 'queue_metrics', r, ARRAY['SELECT'], format('%s may only select from sqsn.queue_metrics', r))
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer']::name[]) AS r;
SELECT table_privs_are('sqsn', 'queue_metrics', 'public', ARRAY[]::name[], 'PUBLIC may not select from sqsn.queue_metrics');
SELECT table_privs_are('sqsn', 'worker_status', r, ARRAY['SELECT'], format('%s may only select from sqsn.worker_status', r))
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer']::name[]) AS r;
SELECT table_privs_are('sqsn', 'worker_status', 'public', ARRAY[]::name[], 'PUBLIC may not select from sqsn.worker_status');
SELECT table_privs_are('sqsn', 'function_worker_status', r, ARRAY['SELECT'], format('%s may only select from sqsn.function_worker_status', r))
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer']::name[]) AS r;
SELECT table_privs_are('sqsn', 'function_worker_status', 'public', ARRAY[]::name[], 'PUBLIC may not select from sqsn.function_worker_status');

-- event source mappings: through the API only; the invocation log for sqsn_admin
SELECT table_privs_are('sqsn', 'event_source_mapping', r, ARRAY[]::name[], format('%s has no privilege on sqsn.event_source_mapping', r))
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer', 'public']::name[]) AS r;
SELECT table_privs_are('sqsn', 'function_invocations', 'sqsn_admin', ARRAY['SELECT'], 'sqsn_admin may only select from sqsn.function_invocations');
SELECT table_privs_are('sqsn', 'function_invocations', r, ARRAY[]::name[], format('%s may not select from sqsn.function_invocations', r))
FROM unnest(ARRAY['sqsn_producer', 'sqsn_consumer', 'public']::name[]) AS r;
SELECT table_privs_are('sqsn', 'event_source_mapping_metrics', 'sqsn_admin', ARRAY['SELECT'], 'sqsn_admin may only select from sqsn.event_source_mapping_metrics');
SELECT table_privs_are('sqsn', 'event_source_mapping_metrics', r, ARRAY[]::name[], format('%s may not select from sqsn.event_source_mapping_metrics', r))
FROM unnest(ARRAY['sqsn_producer', 'sqsn_consumer', 'public']::name[]) AS r;

-- tags: through the API only
SELECT table_privs_are('sqsn', t, r, ARRAY[]::name[], format('%s has no privilege on sqsn.%s', r, t))
FROM unnest(ARRAY['queue_tag', 'topic_tag', 'message_move_task']::name[]) AS t,
	unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer', 'sqsn_publisher', 'public']::name[]) AS r;

-- the endpoint's credentials: secrets for nobody, the keys for sqsn_admin
SELECT table_privs_are('sqsn', 'api_credentials', r, ARRAY[]::name[], format('%s has no privilege on sqsn.api_credentials', r))
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer', 'sqsn_publisher', 'public']::name[]) AS r;
SELECT table_privs_are('sqsn', 'api_access_keys', 'sqsn_admin', ARRAY['SELECT'], 'sqsn_admin may only select from sqsn.api_access_keys');
SELECT table_privs_are('sqsn', 'api_access_keys', r, ARRAY[]::name[], format('%s has no privilege on sqsn.api_access_keys', r))
FROM unnest(ARRAY['sqsn_producer', 'sqsn_consumer', 'sqsn_publisher', 'public']::name[]) AS r;

-- a message table
DO $$
BEGIN
	PERFORM sqsn.sq_create_queue('tap_priv');
	PERFORM sqsn.sq_grant('tap_priv', 'sqsn_producer', '{send}');
	PERFORM sqsn.sq_grant('tap_priv', 'sqsn_consumer', '{receive}');
	PERFORM sqsn.sq_send('tap_priv', 'secret');
END
$$;
SELECT table_privs_are('sqsn', (SELECT 'q_' || queue_id FROM sqsn.queue WHERE queue_name = 'tap_priv')::name,
	r, ARRAY[]::name[], format('%s has no privilege on a message table', r))
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer', 'public']::name[]) AS r;

-- direct access is refused at run time as well
CREATE ROLE tap_sqsn_admin IN ROLE sqsn_admin;
CREATE ROLE tap_sqsn_producer IN ROLE sqsn_producer;
CREATE ROLE tap_sqsn_consumer IN ROLE sqsn_consumer;
CREATE ROLE tap_sqsn_nobody;
SELECT 'sqsn.q_' || queue_id AS msgtab FROM sqsn.queue WHERE queue_name = 'tap_priv' \gset

SET LOCAL ROLE tap_sqsn_admin;
SELECT throws_ok('SELECT * FROM sqsn.queue', '42501', NULL, 'an admin cannot read sqsn.queue');
SELECT throws_ok(format('SELECT * FROM %s', :'msgtab'), '42501', NULL, 'an admin cannot read a message table');
SELECT throws_ok(format('DELETE FROM %s', :'msgtab'), '42501', NULL, 'an admin cannot delete from a message table');
SELECT lives_ok($$SELECT sqsn.sq_set_queue_attributes('tap_priv', '{"VisibilityTimeout": 10}')$$, 'an admin can set queue attributes');
SELECT throws_ok('SELECT secret_access_key FROM sqsn.api_credentials', '42501', NULL, 'an admin cannot read the secrets of the endpoint''s credentials');
RESET ROLE;

SET LOCAL ROLE tap_sqsn_producer;
SELECT throws_ok('SELECT * FROM sqsn.queue', '42501', NULL, 'a producer cannot read sqsn.queue');
SELECT throws_ok(format('INSERT INTO %s DEFAULT VALUES', :'msgtab'), '42501', NULL, 'a producer cannot insert into a message table');
SELECT throws_ok($$SELECT sqsn.sq_receive('tap_priv')$$, '42501', NULL, 'a producer cannot receive');
SELECT throws_ok($$SELECT sqsn.sq_create_queue('tap_other')$$, '42501', NULL, 'a producer cannot create a queue');
SELECT lives_ok($$SELECT sqsn.sq_send('tap_priv', 'from producer')$$, 'a producer can send');
SELECT throws_ok($$SELECT sqsn.api_create_credentials('tap_sqsn_producer')$$, '42501', NULL, 'a producer cannot create credentials, even for itself');
RESET ROLE;

SET LOCAL ROLE tap_sqsn_consumer;
SELECT throws_ok(format('SELECT * FROM %s', :'msgtab'), '42501', NULL, 'a consumer cannot read a message table');
SELECT throws_ok(format('UPDATE %s SET body = body', :'msgtab'), '42501', NULL, 'a consumer cannot update a message table');
SELECT throws_ok($$SELECT sqsn.sq_send('tap_priv', 'x')$$, '42501', NULL, 'a consumer cannot send');
SELECT throws_ok($$SELECT sqsn.sq_purge_queue('tap_priv')$$, '42501', NULL, 'a consumer cannot purge');
SELECT results_eq($$SELECT body FROM sqsn.sq_receive('tap_priv', 10, 0)$$,
	ARRAY['secret', 'from producer'], 'a consumer can receive');
RESET ROLE;

SET LOCAL ROLE tap_sqsn_nobody;
SELECT throws_ok($$SELECT sqsn.sq_list_queues()$$, '42501', NULL, 'a role without sqsn roles cannot list queues');
SELECT throws_ok($$SELECT * FROM sqsn.queue_stats$$, '42501', NULL, 'a role without sqsn roles cannot read queue_stats');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
