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
