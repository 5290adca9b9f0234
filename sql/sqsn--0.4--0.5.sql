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
-- walks and that tells the maintenance worker when the queue is next due.
DO $$
DECLARE
	q record;
BEGIN
	FOR q IN SELECT queue_id FROM sqsn.queue ORDER BY queue_id
	LOOP
		IF pg_catalog.to_regclass(pg_catalog.format('sqsn.q_%s', q.queue_id)) IS NOT NULL
		THEN
			EXECUTE pg_catalog.format(
				'CREATE INDEX IF NOT EXISTS %I ON sqsn.%I (expires_at)',
				'q_' || q.queue_id || '_expires_at_idx', 'q_' || q.queue_id);
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
