\echo Use "ALTER EXTENSION sqsn UPDATE TO '0.2'" to load this file. \quit

-- sqsn 0.1 -> 0.2. Every change to sql/sqsn.sql (the 0.2 install script)
-- since 0.1 has its counterpart here; test/t/007_upgrade.pl checks that an
-- updated installation and a fresh one have the same catalog.

-- FIFO queues -----------------------------------------------------------
-- Queue kinds, deduplication settings and records; sq_create_queue,
-- sq_send, sq_send_batch and sq_receive gain FIFO parameters and columns.
-- No 0.1 queue can be FIFO (0.1 refused ".fifo" names), so existing
-- message tables need no change.

ALTER TABLE sqsn.queue
	ADD COLUMN content_based_deduplication boolean NOT NULL DEFAULT false,
	ADD COLUMN deduplication_scope text NOT NULL DEFAULT 'queue'
		CHECK (deduplication_scope OPERATOR(pg_catalog.=) ANY (ARRAY['queue', 'message_group']));

CREATE TABLE sqsn.fifo_dedup (
	queue_id bigint NOT NULL,
	scope_key text NOT NULL,
	deduplication_id text NOT NULL,
	message_id uuid NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (queue_id, scope_key, deduplication_id)
);
CREATE INDEX fifo_dedup_expires_idx ON sqsn.fifo_dedup (queue_id, expires_at);
REVOKE ALL ON sqsn.fifo_dedup FROM PUBLIC;

DROP FUNCTION sqsn.sq_create_queue(text, integer, integer, integer, integer, text, integer, integer);
CREATE FUNCTION sqsn.sq_create_queue(
	queue_name text,
	visibility_timeout integer DEFAULT 30,
	message_retention_period integer DEFAULT 345600,
	delay_seconds integer DEFAULT 0,
	maximum_message_size integer DEFAULT 262144,
	dead_letter_queue text DEFAULT NULL,
	max_receive_count integer DEFAULT NULL,
	receive_wait_time_seconds integer DEFAULT 0,
	content_based_deduplication boolean DEFAULT false,
	deduplication_scope text DEFAULT 'queue')
RETURNS void
AS 'MODULE_PATHNAME', 'sq_create_queue'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

DROP FUNCTION sqsn.sq_send(text, text, jsonb, integer);
CREATE FUNCTION sqsn.sq_send(
	queue_name text,
	message_body text,
	message_attributes jsonb DEFAULT NULL,
	delay_seconds integer DEFAULT NULL,
	message_group_id text DEFAULT NULL,
	message_deduplication_id text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sq_send'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

DROP FUNCTION sqsn.sq_send_batch(text, text[], jsonb[], integer);
CREATE FUNCTION sqsn.sq_send_batch(
	queue_name text,
	message_bodies text[],
	message_attributes jsonb[] DEFAULT NULL,
	delay_seconds integer DEFAULT NULL,
	message_group_ids text[] DEFAULT NULL,
	message_deduplication_ids text[] DEFAULT NULL)
RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'sq_send_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER ROWS 100;

DROP FUNCTION sqsn.sq_receive(text, integer, integer, integer);
CREATE FUNCTION sqsn.sq_receive(
	queue_name text,
	max_number_of_messages integer DEFAULT 1,
	visibility_timeout integer DEFAULT NULL,
	wait_time_seconds integer DEFAULT NULL)
RETURNS TABLE (
	message_id uuid,
	receipt_handle text,
	body text,
	message_attributes jsonb,
	sent_at timestamptz,
	receive_count integer,
	first_received_at timestamptz,
	message_group_id text,
	message_deduplication_id text,
	sequence_number text)
AS 'MODULE_PATHNAME', 'sq_receive'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER ROWS 10;

REVOKE ALL ON FUNCTION
	sqsn.sq_create_queue(text, integer, integer, integer, integer, text, integer, integer, boolean, text),
	sqsn.sq_send(text, text, jsonb, integer, text, text),
	sqsn.sq_send_batch(text, text[], jsonb[], integer, text[], text[]),
	sqsn.sq_receive(text, integer, integer, integer)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sqsn.sq_create_queue(text, integer, integer, integer, integer, text, integer, integer, boolean, text)
	TO sqsn_admin;
GRANT EXECUTE ON FUNCTION
	sqsn.sq_send(text, text, jsonb, integer, text, text),
	sqsn.sq_send_batch(text, text[], jsonb[], integer, text[], text[])
	TO sqsn_producer;
GRANT EXECUTE ON FUNCTION
	sqsn.sq_receive(text, integer, integer, integer)
	TO sqsn_consumer;

-- end of FIFO queues ----------------------------------------------------

-- FIFO topics -----------------------------------------------------------
-- Topics whose name ends in ".fifo" (0.1 refused such names), with
-- content-based deduplication; sn_create_topic, sn_publish and
-- sn_publish_batch gain the FIFO parameters.

ALTER TABLE sqsn.topic
	ADD COLUMN content_based_deduplication boolean NOT NULL DEFAULT false;

DROP FUNCTION sqsn.sn_create_topic(text);
CREATE FUNCTION sqsn.sn_create_topic(
	topic_name text,
	content_based_deduplication boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_create_topic'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

DROP FUNCTION sqsn.sn_publish(text, text, jsonb, text, text);
CREATE FUNCTION sqsn.sn_publish(
	topic_name text,
	message text,
	message_attributes jsonb DEFAULT NULL,
	subject text DEFAULT NULL,
	message_structure text DEFAULT NULL,
	message_group_id text DEFAULT NULL,
	message_deduplication_id text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sn_publish'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

DROP FUNCTION sqsn.sn_publish_batch(text, text[], jsonb[]);
CREATE FUNCTION sqsn.sn_publish_batch(
	topic_name text,
	messages text[],
	message_attributes jsonb[] DEFAULT NULL,
	message_group_ids text[] DEFAULT NULL,
	message_deduplication_ids text[] DEFAULT NULL)
RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'sn_publish_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER ROWS 10;

REVOKE ALL ON FUNCTION
	sqsn.sn_create_topic(text, boolean),
	sqsn.sn_publish(text, text, jsonb, text, text, text, text),
	sqsn.sn_publish_batch(text, text[], jsonb[], text[], text[])
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sqsn.sn_create_topic(text, boolean)
	TO sqsn_admin;
GRANT EXECUTE ON FUNCTION
	sqsn.sn_publish(text, text, jsonb, text, text, text, text),
	sqsn.sn_publish_batch(text, text[], jsonb[], text[], text[])
	TO sqsn_publisher;

-- end of FIFO topics ----------------------------------------------------

-- Push delivery: sn_subscribe takes a delivery policy and a redrive policy.
DROP FUNCTION sqsn.sn_subscribe(text, text, text, jsonb, text, boolean);
CREATE FUNCTION sqsn.sn_subscribe(
	topic_name text,
	protocol text,
	endpoint text,
	filter_policy jsonb DEFAULT NULL,
	filter_policy_scope text DEFAULT 'MessageAttributes',
	raw_message_delivery boolean DEFAULT false,
	delivery_policy jsonb DEFAULT NULL,
	redrive_policy jsonb DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sn_subscribe'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;
REVOKE ALL ON FUNCTION sqsn.sn_subscribe(text, text, text, jsonb, text, boolean, jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sn_subscribe(text, text, text, jsonb, text, boolean, jsonb, jsonb) TO sqsn_admin;

-- Push delivery ---------------------------------------------------------
--
-- HTTP/HTTPS subscriptions: the endpoint URL, confirmation state and
-- token, a delivery policy and a dead-letter queue; the topic's default
-- delivery policy; the outbox sqsn.delivery that publishes write into and
-- the delivery worker empties; one row per POST in sqsn.delivery_attempt;
-- per-subscription counters of finished deliveries.

ALTER TABLE sqsn.subscription
	ALTER COLUMN queue_id DROP NOT NULL,
	DROP CONSTRAINT subscription_protocol_check,
	ADD CONSTRAINT subscription_protocol_check
		CHECK (protocol OPERATOR(pg_catalog.=) ANY (ARRAY['sqs', 'http', 'https'])),
	ADD COLUMN endpoint text,
	ADD COLUMN confirmed boolean NOT NULL DEFAULT true,
	ADD COLUMN confirmation_token text,
	ADD COLUMN delivery_policy jsonb,
	ADD COLUMN dead_letter_queue_id bigint
		REFERENCES sqsn.queue (queue_id) ON DELETE SET NULL,
	ADD CONSTRAINT subscription_endpoint_check
		CHECK ((protocol OPERATOR(pg_catalog.=) 'sqs') OPERATOR(pg_catalog.=) (queue_id IS NOT NULL)
			AND (queue_id IS NULL) OPERATOR(pg_catalog.=) (endpoint IS NOT NULL));
CREATE UNIQUE INDEX subscription_endpoint_idx
	ON sqsn.subscription (topic_id, protocol, endpoint) WHERE endpoint IS NOT NULL;
CREATE UNIQUE INDEX subscription_token_idx
	ON sqsn.subscription (confirmation_token) WHERE confirmation_token IS NOT NULL;
CREATE INDEX subscription_dead_letter_queue_id_idx
	ON sqsn.subscription (dead_letter_queue_id);

ALTER TABLE sqsn.topic ADD COLUMN delivery_policy jsonb;

CREATE SEQUENCE sqsn.delivery_id_seq;

-- The outbox: one row per (published message, confirmed HTTP/HTTPS
-- subscription), and one per confirmation request. A row is due when
-- status is pending, next_attempt_at has passed and no lease is running.
CREATE TABLE sqsn.delivery (
	delivery_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('sqsn.delivery_id_seq'),
	subscription_id uuid NOT NULL
		REFERENCES sqsn.subscription (subscription_id) ON DELETE CASCADE,
	message_type text NOT NULL
		CHECK (message_type OPERATOR(pg_catalog.=) ANY (ARRAY['Notification', 'SubscriptionConfirmation'])),
	message_id uuid NOT NULL,
	topic_arn text NOT NULL,
	subject text,
	message text NOT NULL,
	message_attributes jsonb,
	published_at timestamptz NOT NULL,
	status text NOT NULL DEFAULT 'pending'
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'delivered', 'failed', 'dead_lettered'])),
	attempts integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL,
	leased_until timestamptz,
	finished_at timestamptz,
	last_result text
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01,
	autovacuum_vacuum_threshold = 500, autovacuum_vacuum_insert_scale_factor = 0.05,
	autovacuum_vacuum_cost_delay = 0);
ALTER SEQUENCE sqsn.delivery_id_seq OWNED BY sqsn.delivery.delivery_id;
CREATE INDEX delivery_due_idx ON sqsn.delivery (next_attempt_at)
	WHERE status OPERATOR(pg_catalog.=) 'pending';
CREATE INDEX delivery_finished_idx ON sqsn.delivery (finished_at)
	WHERE status OPERATOR(pg_catalog.<>) 'pending';
CREATE INDEX delivery_subscription_id_idx ON sqsn.delivery (subscription_id);

-- One row per POST (no foreign key: a subscription deleted while its
-- POST is in flight still gets its attempt recorded; the worker removes
-- attempts with their deliveries).
CREATE TABLE sqsn.delivery_attempt (
	delivery_id bigint NOT NULL,
	attempt integer NOT NULL,
	subscription_id uuid NOT NULL,
	message_id uuid NOT NULL,
	attempted_at timestamptz NOT NULL,
	http_status integer,
	error text,
	latency_ms double precision NOT NULL,
	next_attempt_at timestamptz,
	PRIMARY KEY (delivery_id, attempt)
);
CREATE INDEX delivery_attempt_subscription_id_idx
	ON sqsn.delivery_attempt (subscription_id, attempted_at);
CREATE INDEX delivery_attempt_attempted_at_idx
	ON sqsn.delivery_attempt (attempted_at);

-- Finished deliveries per subscription (delivered rows are cleaned up).
CREATE TABLE sqsn.subscription_counter (
	subscription_id uuid PRIMARY KEY,
	delivered bigint NOT NULL DEFAULT 0,
	failed bigint NOT NULL DEFAULT 0,
	dead_lettered bigint NOT NULL DEFAULT 0
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.delivery', '');
SELECT pg_catalog.pg_extension_config_dump('sqsn.delivery_id_seq', '');

CREATE FUNCTION sqsn.sn_confirm_subscription(topic_name text, token text)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sn_confirm_subscription'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

CREATE FUNCTION sqsn.sn_set_topic_attributes(topic_name text, attributes jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_set_topic_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

-- The retry schedule a delivery policy gives: one row per retry.
CREATE FUNCTION sqsn.delivery_retry_schedule(delivery_policy jsonb DEFAULT NULL)
RETURNS TABLE (
	retry integer,
	phase text,
	delay_seconds double precision)
AS 'MODULE_PATHNAME', 'sn_delivery_retry_schedule'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;

CREATE FUNCTION sqsn.signing_certificate()
RETURNS text
AS 'MODULE_PATHNAME', 'sn_signing_certificate'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

CREATE VIEW sqsn.delivery_attempts AS
	SELECT a.subscription_id, a.message_id, a.attempt, a.attempted_at,
		a.http_status, a.error, a.latency_ms, a.next_attempt_at
	FROM sqsn.delivery_attempt a;

CREATE VIEW sqsn.subscription_stats AS
	SELECT s.subscription_id, t.topic_name, s.protocol,
		COALESCE(s.endpoint, q.queue_name) AS endpoint,
		s.confirmed,
		COALESCE(c.delivered, 0) AS delivered,
		COALESCE(c.failed, 0) AS failed,
		COALESCE(c.dead_lettered, 0) AS dead_lettered,
		COALESCE(p.pending, 0) AS pending,
		p.oldest_pending_age
	FROM sqsn.subscription s
	JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) s.topic_id
	LEFT JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id
	LEFT JOIN sqsn.subscription_counter c
		ON c.subscription_id OPERATOR(pg_catalog.=) s.subscription_id
	LEFT JOIN LATERAL (
		SELECT pg_catalog.count(*) AS pending,
			pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(d.published_at) AS oldest_pending_age
		FROM sqsn.delivery d
		WHERE d.subscription_id OPERATOR(pg_catalog.=) s.subscription_id
		  AND d.status OPERATOR(pg_catalog.=) 'pending') p ON true;

REVOKE ALL ON sqsn.delivery, sqsn.delivery_attempt, sqsn.subscription_counter,
	sqsn.delivery_attempts, sqsn.subscription_stats FROM PUBLIC;
REVOKE ALL ON SEQUENCE sqsn.delivery_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION sqsn.sn_confirm_subscription(text, text),
	sqsn.sn_set_topic_attributes(text, jsonb),
	sqsn.delivery_retry_schedule(jsonb),
	sqsn.signing_certificate() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	sqsn.sn_confirm_subscription(text, text),
	sqsn.sn_set_topic_attributes(text, jsonb)
	TO sqsn_admin;
GRANT EXECUTE ON FUNCTION
	sqsn.delivery_retry_schedule(jsonb),
	sqsn.signing_certificate()
	TO sqsn_admin, sqsn_publisher, sqsn_producer, sqsn_consumer;
GRANT SELECT ON sqsn.delivery_attempts, sqsn.subscription_stats TO sqsn_admin;
