\echo Use "ALTER EXTENSION sqsn UPDATE TO '0.5'" to load this file. \quit

-- sqsn 0.4 -> 0.5. Every change to sql/sqsn.sql (the 0.5 install script)
-- since 0.4 has its counterpart here; test/t/007_upgrade.pl checks that an
-- updated installation and a fresh one have the same catalog.

-- Storage (docs/storage.md) ---------------------------------------------
-- One sequence for the msg_seq of every queue created from now on (each
-- message table had an identity sequence of its own), dumped with the
-- catalog.
CREATE SEQUENCE sqsn.message_seq;
SELECT pg_catalog.pg_extension_config_dump('sqsn.message_seq', '');
REVOKE ALL ON SEQUENCE sqsn.message_seq FROM PUBLIC;

-- Every message table gets the index on expires_at that the retention sweep
-- walks and that tells the maintenance worker when the queue is next due,
-- and sender_id: each message records the role that sent it (the
-- endpoint's SenderId) as its oid; messages sent before the update have
-- none. Adding a nullable column rewrites nothing. A standard queue that
-- holds messages with a group id gets the index of those messages, which
-- fair receives walk (made for other standard queues when they are first
-- sent one).
DO $$
DECLARE
	q record;
	grouped boolean;
BEGIN
	FOR q IN SELECT queue_id, queue_name FROM sqsn.queue ORDER BY queue_id
	LOOP
		IF pg_catalog.to_regclass(pg_catalog.format('sqsn.q_%s', q.queue_id)) IS NOT NULL
		THEN
			EXECUTE pg_catalog.format(
				'CREATE INDEX IF NOT EXISTS %I ON sqsn.%I (expires_at)',
				'q_' || q.queue_id || '_expires_at_idx', 'q_' || q.queue_id);
			EXECUTE pg_catalog.format(
				'ALTER TABLE sqsn.%I ADD COLUMN IF NOT EXISTS sender_id oid',
				'q_' || q.queue_id);
			grouped := false;
			IF q.queue_name NOT LIKE '%.fifo' THEN
				EXECUTE pg_catalog.format(
					'SELECT EXISTS (SELECT FROM sqsn.%I'
					' WHERE message_group_id IS NOT NULL)', 'q_' || q.queue_id)
				INTO grouped;
			END IF;
			IF grouped THEN
				EXECUTE pg_catalog.format(
					'CREATE INDEX IF NOT EXISTS %I ON sqsn.%I'
					' (message_group_id, msg_seq)'
					' WHERE message_group_id IS NOT NULL',
					'q_' || q.queue_id || '_message_group_id_msg_seq_idx',
					'q_' || q.queue_id);
			END IF;
		END IF;
	END LOOP;
END
$$;

-- The maintenance worker's status says how many queues it tracks, how many
-- its last round swept, and how many rounds went over every queue.
DROP VIEW sqsn.worker_status;
DROP FUNCTION sqsn.worker_status_rows();
CREATE FUNCTION sqsn.worker_status_rows()
RETURNS TABLE (
	pid integer,
	state text,
	last_sweep_at timestamptz,
	messages_expired bigint,
	messages_moved_to_dlq bigint,
	last_error text,
	queues_tracked bigint,
	queues_swept_last_round bigint,
	full_rounds bigint)
AS 'MODULE_PATHNAME', 'sq_worker_status_rows'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW sqsn.worker_status AS
	SELECT pid, state, last_sweep_at, messages_expired, messages_moved_to_dlq,
		last_error, queues_tracked, queues_swept_last_round, full_rounds
	FROM sqsn.worker_status_rows();
REVOKE ALL ON FUNCTION sqsn.worker_status_rows() FROM PUBLIC;
REVOKE ALL ON sqsn.worker_status FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.worker_status_rows()
	TO sqsn_admin, sqsn_producer, sqsn_consumer;
GRANT SELECT ON sqsn.worker_status
	TO sqsn_admin, sqsn_producer, sqsn_consumer;
-- Function consumers ----------------------------------------------------
--
-- SQL functions that sqsn invokes: for the batches of a queue (event
-- source mappings) and for the messages of a topic (function
-- subscriptions, protocol function or lambda, through the push outbox).
-- See docs/functions.md. The protocols email and email-json send mail
-- through sqsn.smtp_url, sms sends SMS through sqsn.sms_gateway_url
-- (docs/topics.md).

ALTER TABLE sqsn.subscription
	DROP CONSTRAINT subscription_protocol_check,
	ADD CONSTRAINT subscription_protocol_check
		CHECK (protocol OPERATOR(pg_catalog.=) ANY (ARRAY['sqs', 'http', 'https', 'function', 'lambda', 'email', 'email-json', 'sms']));

-- The outbox's rows of function subscriptions are the function workers',
-- not the delivery worker's.
ALTER TABLE sqsn.delivery
	ADD COLUMN worker text NOT NULL DEFAULT 'delivery'
		CHECK (worker OPERATOR(pg_catalog.=) ANY (ARRAY['delivery', 'function']));
DROP INDEX sqsn.delivery_due_idx;
CREATE INDEX delivery_due_idx ON sqsn.delivery (next_attempt_at)
	WHERE status OPERATOR(pg_catalog.=) 'pending' AND worker OPERATOR(pg_catalog.=) 'delivery';
CREATE INDEX delivery_function_due_idx ON sqsn.delivery (next_attempt_at)
	WHERE status OPERATOR(pg_catalog.=) 'pending' AND worker OPERATOR(pg_catalog.=) 'function';

CREATE TABLE sqsn.event_source_mapping (
	mapping_id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	queue_id bigint NOT NULL REFERENCES sqsn.queue (queue_id) ON DELETE CASCADE,
	function_name text NOT NULL,
	batch_size integer NOT NULL
		CHECK (batch_size OPERATOR(pg_catalog.>=) 1 AND batch_size OPERATOR(pg_catalog.<=) 10000),
	maximum_batching_window_seconds integer NOT NULL
		CHECK (maximum_batching_window_seconds OPERATOR(pg_catalog.>=) 0
			AND maximum_batching_window_seconds OPERATOR(pg_catalog.<=) 300),
	maximum_concurrency integer NOT NULL
		CHECK (maximum_concurrency OPERATOR(pg_catalog.>=) 2 AND maximum_concurrency OPERATOR(pg_catalog.<=) 1000),
	timeout_seconds integer NOT NULL
		CHECK (timeout_seconds OPERATOR(pg_catalog.>=) 1 AND timeout_seconds OPERATOR(pg_catalog.<=) 900),
	report_batch_item_failures boolean NOT NULL,
	enabled boolean NOT NULL,
	paused_reason text,
	owner name NOT NULL,
	created_at timestamptz NOT NULL,
	last_modified_at timestamptz NOT NULL,
	UNIQUE (queue_id, function_name)
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.event_source_mapping', '');

-- What the batches of each mapping did, counted in each batch's own
-- transaction (so exactly): one row per (mapping, worker) -- worker 0 for
-- sqsn.run_event_source_mapping, 1.. for the function workers -- so that
-- concurrent workers never wait for each other's row.
CREATE TABLE sqsn.event_source_mapping_counter (
	mapping_id uuid NOT NULL
		REFERENCES sqsn.event_source_mapping (mapping_id) ON DELETE CASCADE,
	worker integer NOT NULL,
	invocations bigint NOT NULL DEFAULT 0,
	succeeded bigint NOT NULL DEFAULT 0,
	failed bigint NOT NULL DEFAULT 0,
	timed_out bigint NOT NULL DEFAULT 0,
	messages_deleted bigint NOT NULL DEFAULT 0,
	messages_failed bigint NOT NULL DEFAULT 0,
	duration_ms double precision NOT NULL DEFAULT 0,
	last_invocation_at timestamptz,
	PRIMARY KEY (mapping_id, worker)
) WITH (fillfactor = 50);

CREATE FUNCTION sqsn.sq_create_event_source_mapping(
	queue_name text,
	function_name regprocedure,
	batch_size integer DEFAULT 10,
	maximum_batching_window_seconds integer DEFAULT 0,
	maximum_concurrency integer DEFAULT 2,
	timeout_seconds integer DEFAULT 30,
	report_batch_item_failures boolean DEFAULT false,
	enabled boolean DEFAULT true)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sq_create_event_source_mapping'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_update_event_source_mapping(
	mapping_id uuid,
	function_name regprocedure DEFAULT NULL,
	batch_size integer DEFAULT NULL,
	maximum_batching_window_seconds integer DEFAULT NULL,
	maximum_concurrency integer DEFAULT NULL,
	timeout_seconds integer DEFAULT NULL,
	report_batch_item_failures boolean DEFAULT NULL,
	enabled boolean DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_update_event_source_mapping'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_delete_event_source_mapping(mapping_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_delete_event_source_mapping'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_list_event_source_mappings(queue_name text DEFAULT NULL)
RETURNS TABLE (
	mapping_id uuid,
	queue_name text,
	function_name text,
	batch_size integer,
	maximum_batching_window_seconds integer,
	maximum_concurrency integer,
	timeout_seconds integer,
	report_batch_item_failures boolean,
	state text,
	state_reason text,
	owner name,
	created_at timestamptz,
	last_modified_at timestamptz)
AS 'MODULE_PATHNAME', 'sq_list_event_source_mappings'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- One batch of a mapping, run in the calling session and transaction as
-- the function workers run it: for servers without the preload (e.g.
-- scheduled with pg_cron), and for tests.
CREATE FUNCTION sqsn.run_event_source_mapping(mapping_id uuid)
RETURNS TABLE (
	messages integer,
	deleted integer,
	outcome text,
	error text)
AS 'MODULE_PATHNAME', 'sq_run_event_source_mapping'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- The function launcher and workers, from shared memory (rows of the view
-- sqsn.function_worker_status; none without the preload).
CREATE FUNCTION sqsn.function_worker_rows()
RETURNS TABLE (
	worker text,
	pid integer,
	state text,
	last_invocation_at timestamptz,
	invocations bigint,
	last_error text)
AS 'MODULE_PATHNAME', 'sq_function_worker_rows'
LANGUAGE C STRICT VOLATILE;

-- The counters of a mapping in shared memory since the server started
-- (function/mapping_metrics.c): zeros for a mapping not invoked since,
-- NULLs without the preload. The duration histogram's buckets are
-- cumulative, for the upper bounds (seconds) of duration_bucket_le.
CREATE FUNCTION sqsn.event_source_mapping_counters(mapping_id uuid,
	OUT invocations bigint,
	OUT failed bigint,
	OUT timed_out bigint,
	OUT partially_failed bigint,
	OUT messages bigint,
	OUT duration_seconds_sum double precision,
	OUT duration_bucket_le double precision[],
	OUT duration_buckets bigint[])
AS 'MODULE_PATHNAME', 'sq_event_source_mapping_counters'
LANGUAGE C STRICT VOLATILE;

-- The last sqsn.function_invocation_history invocations, newest first,
-- from shared memory (the view sqsn.function_invocations).
CREATE FUNCTION sqsn.function_invocation_rows()
RETURNS TABLE (
	consumer text,
	consumer_id uuid,
	batch_size integer,
	started_at timestamptz,
	duration_ms double precision,
	outcome text,
	error text,
	pid integer)
AS 'MODULE_PATHNAME', 'sq_function_invocation_rows'
LANGUAGE C STRICT VOLATILE;

-- The function launcher and the function workers, one row each;
-- invocations counts what a function worker invoked since it started.
CREATE VIEW sqsn.function_worker_status AS
	SELECT worker, pid, state, last_invocation_at, invocations, last_error
	FROM sqsn.function_worker_rows();

CREATE VIEW sqsn.function_invocations AS
	SELECT i.consumer, i.consumer_id,
		COALESCE(m.function_name, s.endpoint) AS function_name,
		COALESCE(q.queue_name, t.topic_name) AS source,
		i.batch_size, i.started_at, i.duration_ms, i.outcome, i.error, i.pid
	FROM sqsn.function_invocation_rows() i
	LEFT JOIN sqsn.event_source_mapping m
		ON i.consumer OPERATOR(pg_catalog.=) 'event_source_mapping'
		AND m.mapping_id OPERATOR(pg_catalog.=) i.consumer_id
	LEFT JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) m.queue_id
	LEFT JOIN sqsn.subscription s
		ON i.consumer OPERATOR(pg_catalog.=) 'subscription'
		AND s.subscription_id OPERATOR(pg_catalog.=) i.consumer_id
	LEFT JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) s.topic_id;

-- Per mapping: its state and what its batches did since it was created.
CREATE VIEW sqsn.event_source_mapping_stats AS
	SELECT m.mapping_id, q.queue_name, m.function_name,
		CASE WHEN NOT m.enabled THEN 'disabled'
			WHEN m.paused_reason IS NOT NULL THEN 'paused'
			ELSE 'enabled' END AS state,
		COALESCE(pg_catalog.sum(c.invocations), 0)::bigint AS invocations,
		COALESCE(pg_catalog.sum(c.succeeded), 0)::bigint AS succeeded,
		COALESCE(pg_catalog.sum(c.failed), 0)::bigint AS failed,
		COALESCE(pg_catalog.sum(c.timed_out), 0)::bigint AS timed_out,
		COALESCE(pg_catalog.sum(c.messages_deleted), 0)::bigint AS messages_deleted,
		COALESCE(pg_catalog.sum(c.messages_failed), 0)::bigint AS messages_failed,
		pg_catalog.sum(c.duration_ms) OPERATOR(pg_catalog./)
			NULLIF(pg_catalog.sum(c.invocations), 0) AS avg_duration_ms,
		pg_catalog.max(c.last_invocation_at) AS last_invocation_at
	FROM sqsn.event_source_mapping m
	JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) m.queue_id
	LEFT JOIN sqsn.event_source_mapping_counter c
		ON c.mapping_id OPERATOR(pg_catalog.=) m.mapping_id
	GROUP BY m.mapping_id, q.queue_name;

-- Per mapping: what its invocations did since the server started, from
-- the counters in shared memory (approximate in that an invocation is
-- counted whether or not its transaction commits; zero again after a
-- restart). The exact, persistent figures are in
-- sqsn.event_source_mapping_stats.
CREATE VIEW sqsn.event_source_mapping_metrics AS
	SELECT m.mapping_id, q.queue_name, m.function_name,
		c.invocations,
		c.failed OPERATOR(pg_catalog.+) c.timed_out AS errors,
		c.failed, c.timed_out, c.partially_failed,
		c.messages AS messages_processed,
		c.duration_seconds_sum, c.duration_bucket_le, c.duration_buckets
	FROM sqsn.event_source_mapping m
	JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) m.queue_id
	CROSS JOIN LATERAL sqsn.event_source_mapping_counters(m.mapping_id) c;

REVOKE ALL ON sqsn.event_source_mapping, sqsn.event_source_mapping_counter,
	sqsn.function_invocations, sqsn.event_source_mapping_stats,
	sqsn.event_source_mapping_metrics FROM PUBLIC;
REVOKE ALL ON FUNCTION
	sqsn.sq_create_event_source_mapping(text, regprocedure, integer, integer, integer, integer, boolean, boolean),
	sqsn.sq_update_event_source_mapping(uuid, regprocedure, integer, integer, integer, integer, boolean, boolean),
	sqsn.sq_delete_event_source_mapping(uuid),
	sqsn.sq_list_event_source_mappings(text),
	sqsn.run_event_source_mapping(uuid),
	sqsn.function_worker_rows(),
	sqsn.function_invocation_rows(),
	sqsn.event_source_mapping_counters(uuid)
	FROM PUBLIC;

-- Function consumers are consumers: the receive action on the queue and
-- EXECUTE on the function decide (an administrator of the queue may also
-- delete a mapping).
GRANT EXECUTE ON FUNCTION
	sqsn.sq_create_event_source_mapping(text, regprocedure, integer, integer, integer, integer, boolean, boolean),
	sqsn.sq_update_event_source_mapping(uuid, regprocedure, integer, integer, integer, integer, boolean, boolean),
	sqsn.sq_delete_event_source_mapping(uuid),
	sqsn.sq_list_event_source_mappings(text),
	sqsn.run_event_source_mapping(uuid)
	TO sqsn_admin, sqsn_consumer;
GRANT EXECUTE ON FUNCTION sqsn.function_worker_rows()
	TO sqsn_admin, sqsn_producer, sqsn_consumer;
REVOKE ALL ON sqsn.function_worker_status FROM PUBLIC;
GRANT SELECT ON sqsn.function_worker_status
	TO sqsn_admin, sqsn_producer, sqsn_consumer;
GRANT SELECT ON sqsn.function_invocations, sqsn.event_source_mapping_stats,
	sqsn.event_source_mapping_metrics
	TO sqsn_admin;
GRANT EXECUTE ON FUNCTION sqsn.function_invocation_rows(),
	sqsn.event_source_mapping_counters(uuid) TO sqsn_admin;
-- Queue metrics (queue/metrics.c) ------------------------------------

-- Rows of the view sqsn.queue_metrics: each queue's depth and what happened
-- to it since the server started, under the managed service's metric
-- names (queue/metrics.c). Depth figures are approximate for large queues
-- and cached for sqsn.metrics_cache_time; counters are NULL without the
-- preload.
CREATE FUNCTION sqsn.queue_metrics_rows()
RETURNS TABLE (
	queue_name text,
	"ApproximateNumberOfMessagesVisible" bigint,
	"ApproximateNumberOfMessagesNotVisible" bigint,
	"ApproximateNumberOfMessagesDelayed" bigint,
	"ApproximateAgeOfOldestMessage" integer,
	"NumberOfMessagesSent" bigint,
	"NumberOfMessagesReceived" bigint,
	"NumberOfMessagesDeleted" bigint,
	"NumberOfEmptyReceives" bigint,
	"SentMessageSize" bigint,
	messages_dead_lettered bigint,
	messages_redriven bigint,
	"ApproximateNumberOfGroupsWithInflightMessages" bigint,
	depth_exact boolean,
	depth_measured_at timestamptz)
AS 'MODULE_PATHNAME', 'sq_queue_metrics_rows'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE VIEW sqsn.queue_metrics AS
	SELECT queue_name,
		"ApproximateNumberOfMessagesVisible",
		"ApproximateNumberOfMessagesNotVisible",
		"ApproximateNumberOfMessagesDelayed",
		"ApproximateAgeOfOldestMessage",
		"NumberOfMessagesSent",
		"NumberOfMessagesReceived",
		"NumberOfMessagesDeleted",
		"NumberOfEmptyReceives",
		"SentMessageSize",
		"ApproximateNumberOfGroupsWithInflightMessages",
		messages_dead_lettered,
		messages_redriven,
		depth_exact,
		depth_measured_at
	FROM sqsn.queue_metrics_rows();

REVOKE ALL ON FUNCTION sqsn.queue_metrics_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.queue_metrics_rows()
	TO sqsn_admin, sqsn_producer, sqsn_consumer;
GRANT SELECT ON sqsn.queue_metrics TO sqsn_admin, sqsn_producer, sqsn_consumer;

-- Paused push subscriptions (topic/subscription.c, push/push_worker.c) -----

ALTER TABLE sqsn.subscription ADD COLUMN paused boolean NOT NULL DEFAULT false;

-- Pausing and resuming the push deliveries of an HTTP/HTTPS subscription
-- (its owner or the topic's administrators): while paused, deliveries stay
-- in the outbox.
CREATE FUNCTION sqsn.sn_pause_subscription(subscription_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_pause_subscription'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_resume_subscription(subscription_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_resume_subscription'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION sqsn.sn_pause_subscription(uuid),
	sqsn.sn_resume_subscription(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sn_pause_subscription(uuid),
	sqsn.sn_resume_subscription(uuid)
	TO sqsn_admin, sqsn_publisher, sqsn_producer, sqsn_consumer;

-- Phone numbers that opted out of SMS (sn_opt_out_phone_number).
CREATE TABLE sqsn.phone_number_opt_out (
	phone_number text PRIMARY KEY,
	opted_out_at timestamptz NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.phone_number_opt_out', '');

-- SMS: the numbers that opted out of SMS get none (sms subscriptions;
-- docs/topics.md). Managing the list is sqsn_admin's.
CREATE FUNCTION sqsn.sn_opt_out_phone_number(phone_number text)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_opt_out_phone_number'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_opt_in_phone_number(phone_number text)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_opt_in_phone_number'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_check_if_phone_number_is_opted_out(phone_number text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sn_check_if_phone_number_is_opted_out'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_phone_numbers_opted_out()
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'sn_list_phone_numbers_opted_out'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION sqsn.sn_opt_out_phone_number(text),
	sqsn.sn_opt_in_phone_number(text),
	sqsn.sn_check_if_phone_number_is_opted_out(text),
	sqsn.sn_list_phone_numbers_opted_out() FROM PUBLIC;
REVOKE ALL ON sqsn.phone_number_opt_out FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sn_opt_out_phone_number(text),
	sqsn.sn_opt_in_phone_number(text),
	sqsn.sn_check_if_phone_number_is_opted_out(text),
	sqsn.sn_list_phone_numbers_opted_out()
	TO sqsn_admin;
-- Paging and dead-letter source queues (queue/admin.c, api/sqs.c) --------

-- The queues whose redrive policy names queue_name as their dead-letter
-- queue, in name order.
CREATE FUNCTION sqsn.sq_list_dead_letter_source_queues(queue_name text)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'sq_list_dead_letter_source_queues'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION sqsn.sq_list_dead_letter_source_queues(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sq_list_dead_letter_source_queues(text)
	TO sqsn_admin, sqsn_producer, sqsn_consumer;

-- Tags of queues and topics (common/tags.c, queue/queue_tags.c,
-- topic/topic_tags.c, api/sqs.c, api/sns.c) -----------------------------

CREATE TABLE sqsn.queue_tag (
	queue_id bigint NOT NULL REFERENCES sqsn.queue (queue_id) ON DELETE CASCADE,
	tag_key text NOT NULL,
	tag_value text NOT NULL,
	PRIMARY KEY (queue_id, tag_key)
);
SELECT pg_catalog.pg_extension_config_dump('sqsn.queue_tag', '');

CREATE TABLE sqsn.topic_tag (
	topic_id bigint NOT NULL REFERENCES sqsn.topic (topic_id) ON DELETE CASCADE,
	tag_key text NOT NULL,
	tag_value text NOT NULL,
	PRIMARY KEY (topic_id, tag_key)
);
SELECT pg_catalog.pg_extension_config_dump('sqsn.topic_tag', '');
REVOKE ALL ON sqsn.queue_tag, sqsn.topic_tag FROM PUBLIC;

CREATE FUNCTION sqsn.sq_tag_queue(queue_name text, tags jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_tag_queue'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_untag_queue(queue_name text, tag_keys text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sq_untag_queue'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_list_queue_tags(queue_name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sq_list_queue_tags'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_tag_resource(topic_name text, tags jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_tag_resource'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_untag_resource(topic_name text, tag_keys text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sn_untag_resource'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_tags_for_resource(topic_name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sn_list_tags_for_resource'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION sqsn.sq_tag_queue(text, jsonb),
	sqsn.sq_untag_queue(text, text[]),
	sqsn.sq_list_queue_tags(text),
	sqsn.sn_tag_resource(text, jsonb),
	sqsn.sn_untag_resource(text, text[]),
	sqsn.sn_list_tags_for_resource(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sq_tag_queue(text, jsonb),
	sqsn.sq_untag_queue(text, text[]),
	sqsn.sq_list_queue_tags(text)
	TO sqsn_admin, sqsn_producer, sqsn_consumer;
GRANT EXECUTE ON FUNCTION sqsn.sn_tag_resource(text, jsonb),
	sqsn.sn_untag_resource(text, text[]),
	sqsn.sn_list_tags_for_resource(text)
	TO sqsn_admin, sqsn_publisher, sqsn_producer, sqsn_consumer;

-- Message move tasks (queue/move_task.c, worker/worker.c, api/sqs.c) -----

CREATE TABLE sqsn.message_move_task (
	task_handle uuid PRIMARY KEY,
	source_queue_id bigint NOT NULL REFERENCES sqsn.queue (queue_id) ON DELETE CASCADE,
	destination_queue_id bigint,
	max_messages_per_second integer
		CHECK (max_messages_per_second OPERATOR(pg_catalog.>=) 1
			AND max_messages_per_second OPERATOR(pg_catalog.<=) 500),
	status text NOT NULL DEFAULT 'RUNNING'
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['RUNNING', 'CANCELLING', 'COMPLETED', 'CANCELLED', 'FAILED'])),
	messages_moved bigint NOT NULL DEFAULT 0,
	messages_to_move bigint NOT NULL,
	last_msg_seq bigint NOT NULL DEFAULT 0,
	failure_reason text,
	started_at timestamptz NOT NULL,
	finished_at timestamptz,
	started_by name NOT NULL
);
CREATE UNIQUE INDEX message_move_task_active_idx
	ON sqsn.message_move_task (source_queue_id)
	WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['RUNNING', 'CANCELLING']);
CREATE INDEX message_move_task_source_idx
	ON sqsn.message_move_task (source_queue_id, started_at);
SELECT pg_catalog.pg_extension_config_dump('sqsn.message_move_task', '');

REVOKE ALL ON sqsn.message_move_task FROM PUBLIC;

CREATE FUNCTION sqsn.sq_start_message_move_task(
	source_queue text,
	destination_queue text DEFAULT NULL,
	max_messages_per_second integer DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sq_start_message_move_task'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_list_message_move_tasks(source_queue text, max_results integer DEFAULT 1)
RETURNS TABLE (
	task_handle uuid,
	status text,
	source_queue text,
	destination_queue text,
	max_messages_per_second integer,
	messages_moved bigint,
	messages_to_move bigint,
	failure_reason text,
	started_at timestamptz,
	finished_at timestamptz)
AS 'MODULE_PATHNAME', 'sq_list_message_move_tasks'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_cancel_message_move_task(task_handle uuid)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sq_cancel_message_move_task'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION sqsn.sq_start_message_move_task(text, text, integer),
	sqsn.sq_list_message_move_tasks(text, integer),
	sqsn.sq_cancel_message_move_task(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sq_start_message_move_task(text, text, integer),
	sqsn.sq_list_message_move_tasks(text, integer),
	sqsn.sq_cancel_message_move_task(uuid)
	TO sqsn_admin, sqsn_producer, sqsn_consumer;

-- Temporary credentials: an access key may carry a session token, which
-- requests signed with it must present (X-Amz-Security-Token).
ALTER TABLE sqsn.api_credentials ADD COLUMN session_token text;
DROP FUNCTION sqsn.api_create_credentials(name, text, text);
CREATE FUNCTION sqsn.api_create_credentials(role name,
	access_key_id text DEFAULT NULL, secret_access_key text DEFAULT NULL,
	session_token text DEFAULT NULL)
RETURNS TABLE (access_key_id text, secret_access_key text)
AS 'MODULE_PATHNAME', 'api_create_credentials'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp ROWS 1;
REVOKE ALL ON FUNCTION sqsn.api_create_credentials(name, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.api_create_credentials(name, text, text, text) TO sqsn_admin;
CREATE OR REPLACE VIEW sqsn.api_access_keys AS
	SELECT access_key_id, role, created_at, created_by,
		session_token IS NOT NULL AS with_session_token
	FROM sqsn.api_credentials;

-- Queue attributes kept as given: Policy, RedriveAllowPolicy (enforced),
-- KmsMasterKeyId, KmsDataKeyReusePeriodSeconds, FifoThroughputLimit.
ALTER TABLE sqsn.queue ADD COLUMN extra_attributes jsonb NOT NULL DEFAULT '{}';
-- SMS straight to a phone number (push/sms.c) ----------------------------

-- Its outbox row has no subscription and no topic, but the number (the
-- check on the row's target is added with mobile push's endpoint_id below).
ALTER TABLE sqsn.delivery
	ALTER COLUMN subscription_id DROP NOT NULL,
	ALTER COLUMN topic_arn DROP NOT NULL,
	ADD COLUMN phone_number text;
ALTER TABLE sqsn.delivery_attempt ALTER COLUMN subscription_id DROP NOT NULL;

-- Not for sqsn_publisher: SMS cost money and no topic grant covers a
-- number, so sqsn_admin grants EXECUTE on it to the roles that may send them.
CREATE FUNCTION sqsn.sn_publish_sms(
	phone_number text,
	message text,
	message_attributes jsonb DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sn_publish_sms'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION sqsn.sn_publish_sms(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sn_publish_sms(text, text, jsonb) TO sqsn_admin;

-- Mobile push: platform applications (GCM for Firebase Cloud Messaging,
-- APNS and APNS_SANDBOX for the Apple Push Notification service) and
-- their endpoints, one per device token. attributes holds what
-- sn_get_platform_application_attributes shows; credentials the
-- PlatformCredential and PlatformPrincipal, sealed with the master key
-- (security/crypto.c), never shown back. push/platform.c.
CREATE TABLE sqsn.platform_application (
	application_id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	name text NOT NULL,
	platform text NOT NULL
		CHECK (platform OPERATOR(pg_catalog.=) ANY (ARRAY['GCM', 'APNS', 'APNS_SANDBOX'])),
	attributes jsonb NOT NULL DEFAULT '{}',
	credentials text NOT NULL,
	owner name NOT NULL,
	created_at timestamptz NOT NULL,
	UNIQUE (platform, name)
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.platform_application', '');

-- A device of a platform application: its token, the application's own
-- data, and whether it is enabled (a provider that calls the token invalid
-- disables it; publishing to a disabled endpoint fails).
CREATE TABLE sqsn.platform_endpoint (
	endpoint_id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	application_id uuid NOT NULL
		REFERENCES sqsn.platform_application (application_id) ON DELETE CASCADE,
	token text NOT NULL,
	custom_user_data text,
	enabled boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL,
	disabled_reason text,
	UNIQUE (application_id, token)
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.platform_endpoint', '');

ALTER TABLE sqsn.subscription
	DROP CONSTRAINT subscription_protocol_check,
	ADD CONSTRAINT subscription_protocol_check
		CHECK (protocol OPERATOR(pg_catalog.=) ANY (ARRAY['sqs', 'http', 'https', 'function', 'lambda', 'email', 'email-json', 'sms', 'application']));

-- A publish straight to a platform endpoint (TargetArn) has no
-- subscription: the row names the endpoint instead, and has the endpoint's
-- ARN in topic_arn. A row is for exactly one subscription, phone number or
-- endpoint; only an SMS to a phone number has no topic (or endpoint) ARN.
ALTER TABLE sqsn.delivery
	ADD COLUMN endpoint_id uuid
		REFERENCES sqsn.platform_endpoint (endpoint_id) ON DELETE CASCADE,
	ADD CONSTRAINT delivery_target_check
		CHECK (pg_catalog.num_nonnulls(subscription_id, phone_number, endpoint_id) OPERATOR(pg_catalog.=) 1
			AND (phone_number IS NULL) OPERATOR(pg_catalog.=) (topic_arn IS NOT NULL));
CREATE INDEX delivery_endpoint_id_idx ON sqsn.delivery (endpoint_id)
	WHERE endpoint_id IS NOT NULL;

-- Mobile push: platform applications and their endpoints (push/platform.c;
-- docs/topics.md, "Mobile push"). Applications are named by their ARN,
-- arn:aws:sns:<region>:<account>:app/<platform>/<name>, endpoints by
-- arn:aws:sns:<region>:<account>:endpoint/<platform>/<name>/<uuid>.
CREATE FUNCTION sqsn.sn_create_platform_application(
	name text,
	platform text,
	attributes jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'sn_create_platform_application'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_get_platform_application_attributes(application_arn text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sn_get_platform_application_attributes'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_set_platform_application_attributes(
	application_arn text,
	attributes jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_set_platform_application_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_delete_platform_application(application_arn text)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_delete_platform_application'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_platform_applications()
RETURNS TABLE (
	platform_application_arn text,
	attributes jsonb)
AS 'MODULE_PATHNAME', 'sn_list_platform_applications'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_create_platform_endpoint(
	application_arn text,
	token text,
	custom_user_data text DEFAULT NULL,
	attributes jsonb DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'sn_create_platform_endpoint'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_get_endpoint_attributes(endpoint_arn text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sn_get_endpoint_attributes'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_set_endpoint_attributes(
	endpoint_arn text,
	attributes jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_set_endpoint_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_delete_endpoint(endpoint_arn text)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_delete_endpoint'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_endpoints_by_platform_application(application_arn text)
RETURNS TABLE (
	endpoint_arn text,
	attributes jsonb)
AS 'MODULE_PATHNAME', 'sn_list_endpoints_by_platform_application'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION sqsn.sn_create_platform_application(text, text, jsonb),
	sqsn.sn_get_platform_application_attributes(text),
	sqsn.sn_set_platform_application_attributes(text, jsonb),
	sqsn.sn_delete_platform_application(text),
	sqsn.sn_list_platform_applications(),
	sqsn.sn_create_platform_endpoint(text, text, text, jsonb),
	sqsn.sn_get_endpoint_attributes(text),
	sqsn.sn_set_endpoint_attributes(text, jsonb),
	sqsn.sn_delete_endpoint(text),
	sqsn.sn_list_endpoints_by_platform_application(text) FROM PUBLIC;
REVOKE ALL ON sqsn.platform_application, sqsn.platform_endpoint FROM PUBLIC;

-- Mobile push: applications (and their credentials) are sqsn_admin's;
-- publishers register and manage the devices of an application.
GRANT EXECUTE ON FUNCTION
	sqsn.sn_create_platform_application(text, text, jsonb),
	sqsn.sn_set_platform_application_attributes(text, jsonb),
	sqsn.sn_delete_platform_application(text)
	TO sqsn_admin;
GRANT EXECUTE ON FUNCTION
	sqsn.sn_get_platform_application_attributes(text),
	sqsn.sn_list_platform_applications(),
	sqsn.sn_create_platform_endpoint(text, text, text, jsonb),
	sqsn.sn_get_endpoint_attributes(text),
	sqsn.sn_set_endpoint_attributes(text, jsonb),
	sqsn.sn_delete_endpoint(text),
	sqsn.sn_list_endpoints_by_platform_application(text)
	TO sqsn_admin, sqsn_publisher;

-- Access policies from the Policy attribute (security/policy.c) ----------

-- Grants made from a queue's or topic's Policy are marked, so that setting
-- the Policy again replaces exactly them and sq_grant/sq_revoke never touch
-- them. A Policy stored before this version keeps no grants until it is
-- set again.
ALTER TABLE sqsn.queue_grant
	ADD COLUMN from_policy boolean NOT NULL DEFAULT false,
	DROP CONSTRAINT queue_grant_pkey,
	ADD PRIMARY KEY (queue_id, grantee, action, from_policy);
ALTER TABLE sqsn.topic_grant
	ADD COLUMN from_policy boolean NOT NULL DEFAULT false,
	DROP CONSTRAINT topic_grant_pkey,
	ADD PRIMARY KEY (topic_id, grantee, action, from_policy);

CREATE OR REPLACE VIEW sqsn.queue_grants WITH (security_barrier) AS
	SELECT g.queue_name, g.grantee, g.action, g.granted_by, g.granted_at,
		g.from_policy
	FROM (
		SELECT q.queue_name, q.owner AS grantee, 'owner'::text AS action,
			NULL::name AS granted_by, q.created_at AS granted_at, q.owner,
			false AS from_policy
		FROM sqsn.queue q
		UNION ALL
		SELECT q.queue_name, qg.grantee, qg.action, qg.granted_by,
			qg.granted_at, q.owner, qg.from_policy
		FROM sqsn.queue_grant qg
		JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) qg.queue_id
	) g
	WHERE pg_catalog.pg_has_role('sqsn_admin', 'USAGE')
	   OR g.grantee OPERATOR(pg_catalog.=) 'public'
	   OR EXISTS (SELECT FROM pg_catalog.pg_roles r
			WHERE r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[g.grantee, g.owner])
			  AND pg_catalog.pg_has_role(r.oid, 'USAGE'));

CREATE OR REPLACE VIEW sqsn.topic_grants WITH (security_barrier) AS
	SELECT g.topic_name, g.grantee, g.action, g.granted_by, g.granted_at,
		g.from_policy
	FROM (
		SELECT t.topic_name, t.owner AS grantee, 'owner'::text AS action,
			NULL::name AS granted_by, t.created_at AS granted_at, t.owner,
			false AS from_policy
		FROM sqsn.topic t
		UNION ALL
		SELECT t.topic_name, tg.grantee, tg.action, tg.granted_by,
			tg.granted_at, t.owner, tg.from_policy
		FROM sqsn.topic_grant tg
		JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) tg.topic_id
	) g
	WHERE pg_catalog.pg_has_role('sqsn_admin', 'USAGE')
	   OR g.grantee OPERATOR(pg_catalog.=) 'public'
	   OR EXISTS (SELECT FROM pg_catalog.pg_roles r
			WHERE r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[g.grantee, g.owner])
			  AND pg_catalog.pg_has_role(r.oid, 'USAGE'));
-- Queues on a Citus cluster ----------------------------------------------

-- On a Citus cluster: places every queue whose message table is still
-- local (made before citus was installed, or before a node could hold
-- shards) on a node of the cluster, keeping its messages; returns how many
-- (docs/citus.md). New queues are placed when they are created. For the
-- extension's owner and superusers only.
CREATE FUNCTION sqsn.citus_distribute()
RETURNS bigint
AS 'MODULE_PATHNAME', 'citus_distribute'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION sqsn.citus_distribute() FROM PUBLIC;
-- FIFO topics: sequence numbers (topic/publish.c) ---------------------------
-- The sequence numbers of publishes to FIFO topics, one sequence for every
-- topic, dumped; a duplicate publish returns the first one's number, kept
-- with its deduplication record.
CREATE SEQUENCE sqsn.topic_message_seq;
SELECT pg_catalog.pg_extension_config_dump('sqsn.topic_message_seq', '');
REVOKE ALL ON SEQUENCE sqsn.topic_message_seq FROM PUBLIC;
ALTER TABLE sqsn.fifo_dedup ADD COLUMN sequence_number bigint;

CREATE FUNCTION sqsn.sn_publish_sequenced(
	topic_name text,
	message text,
	message_attributes jsonb DEFAULT NULL,
	subject text DEFAULT NULL,
	message_structure text DEFAULT NULL,
	message_group_id text DEFAULT NULL,
	message_deduplication_id text DEFAULT NULL,
	OUT message_id uuid,
	OUT sequence_number text)
AS 'MODULE_PATHNAME', 'sn_publish_sequenced'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_publish_batch_sequenced(
	topic_name text,
	messages text[],
	message_attributes jsonb[] DEFAULT NULL,
	message_group_ids text[] DEFAULT NULL,
	message_deduplication_ids text[] DEFAULT NULL)
RETURNS TABLE (
	message_id uuid,
	sequence_number text)
AS 'MODULE_PATHNAME', 'sn_publish_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER ROWS 10
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION
	sqsn.sn_publish_sequenced(text, text, jsonb, text, text, text, text),
	sqsn.sn_publish_batch_sequenced(text, text[], jsonb[], text[], text[])
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sqsn.sn_publish_sequenced(text, text, jsonb, text, text, text, text),
	sqsn.sn_publish_batch_sequenced(text, text[], jsonb[], text[], text[])
	TO sqsn_publisher;

-- FIFO topics: the archive (topic/archive.c) --------------------------------
-- ArchivePolicy: how long a FIFO topic keeps its published messages, and
-- the archive itself, dumped with the catalog.
ALTER TABLE sqsn.topic
	ADD COLUMN archive_retention_days integer
		CHECK (archive_retention_days OPERATOR(pg_catalog.>=) 1
			AND archive_retention_days OPERATOR(pg_catalog.<=) 365),
	ADD COLUMN archive_started_at timestamptz;

CREATE TABLE sqsn.topic_archive (
	topic_id bigint NOT NULL REFERENCES sqsn.topic (topic_id) ON DELETE CASCADE,
	sequence_number bigint NOT NULL,
	message_id uuid NOT NULL,
	published_at timestamptz NOT NULL,
	message text NOT NULL,
	message_attributes jsonb,
	subject text,
	message_group_id text NOT NULL,
	message_deduplication_id text NOT NULL,
	PRIMARY KEY (topic_id, sequence_number)
);
CREATE INDEX topic_archive_published_at_idx
	ON sqsn.topic_archive (topic_id, published_at);
SELECT pg_catalog.pg_extension_config_dump('sqsn.topic_archive', '');
REVOKE ALL ON sqsn.topic_archive FROM PUBLIC;

CREATE FUNCTION sqsn.run_archive_maintenance(batch_size integer DEFAULT 1000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'run_archive_maintenance'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION sqsn.run_archive_maintenance(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.run_archive_maintenance(integer) TO sqsn_admin;

-- FIFO topics: replays of the archive to a subscription (topic/archive.c) ---
CREATE TABLE sqsn.subscription_replay (
	subscription_id uuid PRIMARY KEY
		REFERENCES sqsn.subscription (subscription_id) ON DELETE CASCADE,
	replay_id uuid NOT NULL,
	replay_policy jsonb NOT NULL,
	starting_point timestamptz NOT NULL,
	ending_point timestamptz,
	last_sequence_number bigint NOT NULL,
	replayed_through bigint NOT NULL,
	messages_replayed bigint NOT NULL,
	status text NOT NULL
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['Pending', 'In progress', 'Completed', 'Failed'])),
	error text,
	requested_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('sqsn.subscription_replay', '');
REVOKE ALL ON sqsn.subscription_replay FROM PUBLIC;

CREATE FUNCTION sqsn.run_topic_replays(batch_size integer DEFAULT 1000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'run_topic_replays'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION sqsn.run_topic_replays(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.run_topic_replays(integer) TO sqsn_admin;
