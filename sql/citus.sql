-- Citus placement (docs/citus.md) changes nothing on a server without the
-- citus extension: queues keep local message tables, and
-- sqsn.citus_distribute() refuses. The TAP test t/037_citus.pl covers a
-- real Citus cluster.

SELECT sqsn.sq_create_queue('citus_local');
SELECT sqsn.sq_send('citus_local', 'stays here') IS NOT NULL AS sent;
-- an ordinary heap table in schema sqsn, not a distributed one
SELECT c.relkind, c.relpersistence, n.nspname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ('sqsn.q_' || (SELECT queue_id FROM sqsn.queue WHERE queue_name = 'citus_local'))::regclass;
SELECT count(*) AS citus_installed FROM pg_extension WHERE extname = 'citus';

-- citus_distribute_refuses_without_citus
DO $$
BEGIN
	PERFORM sqsn.citus_distribute();
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE '%: %', SQLSTATE, SQLERRM;
END
$$;
SELECT body FROM sqsn.sq_receive('citus_local');
SELECT sqsn.sq_delete_queue('citus_local');
