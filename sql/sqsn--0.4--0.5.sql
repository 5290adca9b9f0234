\echo Use "ALTER EXTENSION sqsn UPDATE TO '0.5'" to load this file. \quit

-- sqsn 0.4 -> 0.5. Every change to sql/sqsn.sql (the 0.5 install script)
-- since 0.4 has its counterpart here; test/t/007_upgrade.pl checks that an
-- updated installation and a fresh one have the same catalog.

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
