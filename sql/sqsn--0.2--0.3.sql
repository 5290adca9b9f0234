\echo Use "ALTER EXTENSION sqsn UPDATE TO '0.3'" to load this file. \quit

-- sqsn 0.2 -> 0.3. Every change to sql/sqsn.sql (the 0.3 install script)
-- since 0.2 has its counterpart here; test/t/007_upgrade.pl checks that an
-- updated installation and a fresh one have the same catalog.

-- Low-water marks -------------------------------------------------------
-- The view sqsn.queue_low_water, as in sqsn.sql.
-- Where receives on each standard queue start their walk (lowwater.c), for
-- monitoring: every message at or below hard_after is deleted; every one at
-- or below soft_after is deleted or invisible until soft_until (NULL: no
-- such message). Kept in shared memory by the background worker.
CREATE FUNCTION sqsn.queue_low_water_rows()
RETURNS TABLE (
	queue_name text,
	hard_after bigint,
	soft_after bigint,
	soft_until timestamptz)
AS 'MODULE_PATHNAME', 'sq_queue_low_water_rows'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW sqsn.queue_low_water AS
	SELECT queue_name, hard_after, soft_after, soft_until
	FROM sqsn.queue_low_water_rows();

REVOKE ALL ON FUNCTION sqsn.queue_low_water_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.queue_low_water_rows() TO sqsn_admin;
GRANT SELECT ON sqsn.queue_low_water TO sqsn_admin;
