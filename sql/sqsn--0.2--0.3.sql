\echo Use "ALTER EXTENSION sqsn UPDATE TO '0.3'" to load this file. \quit

-- sqsn 0.2 -> 0.3. Every change to sql/sqsn.sql (the 0.3 install script)
-- since 0.2 has its counterpart here; test/t/007_upgrade.pl checks that an
-- updated installation and a fresh one have the same catalog.

-- Encryption at rest ----------------------------------------------------
--
-- An encrypted queue stores its messages sealed with AES-256-GCM under a
-- key derived from the server's master key (sqsn.master_key_file); an
-- encrypted topic seals its push outbox rows. See crypto.c.

ALTER TABLE sqsn.queue ADD COLUMN encrypted boolean NOT NULL DEFAULT false;
ALTER TABLE sqsn.topic ADD COLUMN encrypted boolean NOT NULL DEFAULT false;

-- sq_create_queue and sn_create_topic take encrypted as their last
-- parameter: a new signature, so drop and create them (with the grants a
-- fresh installation gives them).
DROP FUNCTION sqsn.sq_create_queue(text, integer, integer, integer, integer,
	text, integer, integer, boolean, text);
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
	deduplication_scope text DEFAULT 'queue',
	encrypted boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_create_queue'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;
REVOKE ALL ON FUNCTION sqsn.sq_create_queue(text, integer, integer, integer,
	integer, text, integer, integer, boolean, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sq_create_queue(text, integer, integer, integer,
	integer, text, integer, integer, boolean, text, boolean) TO sqsn_admin;

DROP FUNCTION sqsn.sn_create_topic(text, boolean);
CREATE FUNCTION sqsn.sn_create_topic(
	topic_name text,
	content_based_deduplication boolean DEFAULT false,
	encrypted boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_create_topic'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;
REVOKE ALL ON FUNCTION sqsn.sn_create_topic(text, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sn_create_topic(text, boolean, boolean)
	TO sqsn_admin;

CREATE FUNCTION sqsn.sq_rotate_queue_key(queue_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sq_rotate_queue_key'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

REVOKE ALL ON FUNCTION sqsn.sq_rotate_queue_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sq_rotate_queue_key(text) TO sqsn_admin;
