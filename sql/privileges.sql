-- Privileges: nothing for PUBLIC; sqsn_admin, sqsn_producer and
-- sqsn_consumer can do exactly their part; nobody reads or writes the
-- catalog or message tables directly; the SECURITY DEFINER functions
-- cannot be hijacked through search_path.

-- err(stmt): run a statement; 'ok', or 'SQLSTATE: message' when it fails.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- code(stmt): only the SQLSTATE ('ok' when it succeeds).
CREATE FUNCTION pg_temp.code(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;

-- counts(q): the queue_stats row of q as one line.
CREATE FUNCTION pg_temp.counts(q text) RETURNS text
LANGUAGE sql AS $$
	SELECT format('visible=%s in_flight=%s delayed=%s', visible, in_flight, delayed)
	FROM sqsn.queue_stats WHERE queue_name = q
$$;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_sqsn_admin;
DROP ROLE IF EXISTS regress_sqsn_producer;
DROP ROLE IF EXISTS regress_sqsn_consumer;
DROP ROLE IF EXISTS regress_sqsn_nobody;
RESET client_min_messages;
CREATE ROLE regress_sqsn_admin IN ROLE sqsn_admin;
CREATE ROLE regress_sqsn_producer IN ROLE sqsn_producer;
CREATE ROLE regress_sqsn_consumer IN ROLE sqsn_consumer;
CREATE ROLE regress_sqsn_nobody;

-- the_three_roles_exist_and_cannot_log_in
SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls
FROM pg_roles WHERE rolname IN ('sqsn_admin', 'sqsn_producer', 'sqsn_consumer')
ORDER BY rolname;

-- admin_is_member_of_producer_and_consumer
SELECT pg_has_role('sqsn_admin', 'sqsn_producer', 'MEMBER') AS admin_is_producer,
       pg_has_role('sqsn_admin', 'sqsn_consumer', 'MEMBER') AS admin_is_consumer,
       pg_has_role('sqsn_producer', 'sqsn_consumer', 'MEMBER') AS producer_is_consumer,
       pg_has_role('sqsn_consumer', 'sqsn_producer', 'MEMBER') AS consumer_is_producer,
       pg_has_role('sqsn_producer', 'sqsn_admin', 'MEMBER') AS producer_is_admin;

-- public_may_execute_no_function
SELECT p.oid::regprocedure AS public_function
FROM pg_proc p
WHERE p.pronamespace = 'sqsn'::regnamespace
  AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
ORDER BY p.oid::regprocedure::text COLLATE "C";

-- public_has_no_schema_usage
SELECT has_schema_privilege('regress_sqsn_nobody', 'sqsn', 'USAGE') AS nobody_usage,
       has_schema_privilege('regress_sqsn_nobody', 'sqsn', 'CREATE') AS nobody_create,
       has_schema_privilege('sqsn_producer', 'sqsn', 'CREATE') AS producer_create;

-- each_role_may_execute_exactly_its_functions
SELECT p.oid::regprocedure AS function,
       has_function_privilege('sqsn_admin', p.oid, 'EXECUTE') AS admin,
       has_function_privilege('sqsn_producer', p.oid, 'EXECUTE') AS producer,
       has_function_privilege('sqsn_consumer', p.oid, 'EXECUTE') AS consumer,
       has_function_privilege('regress_sqsn_nobody', p.oid, 'EXECUTE') AS nobody
FROM pg_proc p
WHERE p.pronamespace = 'sqsn'::regnamespace
ORDER BY p.oid::regprocedure::text COLLATE "C";

SELECT sqsn.sq_create_queue('pv_q');
SELECT sqsn.sq_create_queue('pv_dead');
-- on top of the roles, each queue says who may use it (see grants.sql)
SELECT sqsn.sq_grant('pv_q', 'sqsn_producer', '{send}');
SELECT sqsn.sq_grant('pv_q', 'sqsn_consumer', '{receive}');
SELECT format('sqsn.q_%s', queue_id) AS msgtab FROM sqsn.queue WHERE queue_name = 'pv_q' \gset
SELECT sqsn.sq_send('pv_q', 'seed') IS NOT NULL AS sent;

-- public_may_use_no_table_view_or_sequence_including_message_tables
-- (a NULL relacl means the owner's privileges only)
SELECT c.oid::regclass AS public_relation
FROM pg_class c
WHERE c.relnamespace = 'sqsn'::regnamespace
  AND c.relkind IN ('r', 'v', 'S', 'p', 'm')
  AND EXISTS (SELECT FROM aclexplode(c.relacl) a WHERE a.grantee = 0)
ORDER BY c.oid::regclass::text COLLATE "C";

-- no_role_has_any_privilege_on_catalog_or_message_tables
SELECT r.rolname, c.relname IN ('queue', 'handle_key') AS catalog,
       bool_or(has_table_privilege(r.rolname, c.oid, priv)) AS any_privilege
FROM pg_class c
CROSS JOIN (VALUES ('sqsn_admin'), ('sqsn_producer'), ('sqsn_consumer'), ('regress_sqsn_nobody')) AS r(rolname)
CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS priv
WHERE c.relnamespace = 'sqsn'::regnamespace AND c.relkind = 'r'
  AND (c.relname IN ('queue', 'handle_key') OR c.oid = :'msgtab'::regclass)
GROUP BY 1, 2
ORDER BY 1, 2;

--
-- a role with none of the three roles
--
SET ROLE regress_sqsn_nobody;
SELECT f, pg_temp.code(stmt) AS result
FROM (VALUES
	('sq_create_queue', $$SELECT sqsn.sq_create_queue('pv_new')$$),
	('sq_list_queues', $$SELECT sqsn.sq_list_queues()$$),
	('sq_get_queue_attributes', $$SELECT sqsn.sq_get_queue_attributes('pv_q')$$),
	('sq_send', $$SELECT sqsn.sq_send('pv_q', 'x')$$),
	('sq_receive', $$SELECT sqsn.sq_receive('pv_q')$$),
	('queue_stats', $$SELECT * FROM sqsn.queue_stats$$),
	('queue table', $$SELECT * FROM sqsn.queue$$),
	('message table', format('SELECT * FROM %s', :'msgtab'))
) AS v(f, stmt);
RESET ROLE;

--
-- producer: send only
--
SET ROLE regress_sqsn_producer;
SELECT sqsn.sq_send('pv_q', 'from producer') IS NOT NULL AS sent;
SELECT count(*) AS sent FROM sqsn.sq_send_batch('pv_q', ARRAY['p1', 'p2']);
SELECT * FROM sqsn.sq_list_queues('pv_');
SELECT sqsn.sq_get_queue_attributes('pv_q')->'VisibilityTimeout' AS visibility_timeout;
SELECT queue_name, visible FROM sqsn.queue_stats WHERE queue_name LIKE 'pv_%' ORDER BY 1;
SELECT f, pg_temp.err(stmt) AS result
FROM (VALUES
	('sq_receive', $$SELECT sqsn.sq_receive('pv_q')$$),
	('sq_delete', $$SELECT sqsn.sq_delete('pv_q', 'x')$$),
	('sq_delete_batch', $$SELECT sqsn.sq_delete_batch('pv_q', ARRAY['x'])$$),
	('sq_change_visibility', $$SELECT sqsn.sq_change_visibility('pv_q', 'x', 0)$$),
	('sq_create_queue', $$SELECT sqsn.sq_create_queue('pv_new')$$),
	('sq_delete_queue', $$SELECT sqsn.sq_delete_queue('pv_q')$$),
	('sq_purge_queue', $$SELECT sqsn.sq_purge_queue('pv_q')$$),
	('sq_set_queue_attributes', $$SELECT sqsn.sq_set_queue_attributes('pv_q', '{}')$$),
	('queue_stats_rows', $$SELECT * FROM sqsn.queue_stats_rows()$$),
	('init_handle_key', $$SELECT sqsn.init_handle_key()$$)
) AS v(f, stmt);
SELECT f, pg_temp.code(stmt) AS result
FROM (VALUES
	('select queue', $$SELECT * FROM sqsn.queue$$),
	('update queue', $$UPDATE sqsn.queue SET visibility_timeout = 0$$),
	('select handle_key', $$SELECT * FROM sqsn.handle_key$$),
	('nextval queue_id_seq', $$SELECT nextval('sqsn.queue_id_seq')$$),
	('select message table', format('SELECT * FROM %s', :'msgtab')),
	('insert message table', format('INSERT INTO %s DEFAULT VALUES', :'msgtab')),
	('delete message table', format('DELETE FROM %s', :'msgtab')),
	('truncate message table', format('TRUNCATE %s', :'msgtab')),
	('create in schema', $$CREATE TABLE sqsn.intruder (x int)$$)
) AS v(f, stmt);
RESET ROLE;
SELECT pg_temp.counts('pv_q');

--
-- consumer: receive, delete, change visibility only
--
SET ROLE regress_sqsn_consumer;
SELECT * FROM sqsn.sq_list_queues('pv_');
SELECT sqsn.sq_get_queue_attributes('pv_q')->'VisibilityTimeout' AS visibility_timeout;
SELECT queue_name, visible FROM sqsn.queue_stats WHERE queue_name LIKE 'pv_%' ORDER BY 1;
CREATE TEMP TABLE r AS SELECT * FROM sqsn.sq_receive('pv_q', 10, 600);
SELECT body, receive_count FROM r;
SELECT sqsn.sq_change_visibility('pv_q', receipt_handle, 900) AS changed FROM r WHERE body = 'seed';
SELECT sqsn.sq_delete('pv_q', receipt_handle) AS deleted FROM r WHERE body = 'seed';
SELECT deleted FROM sqsn.sq_delete_batch('pv_q', ARRAY(SELECT receipt_handle FROM r WHERE body LIKE 'p%' ORDER BY body));
SELECT f, pg_temp.err(stmt) AS result
FROM (VALUES
	('sq_send', $$SELECT sqsn.sq_send('pv_q', 'x')$$),
	('sq_send_batch', $$SELECT sqsn.sq_send_batch('pv_q', ARRAY['x'])$$),
	('sq_create_queue', $$SELECT sqsn.sq_create_queue('pv_new')$$),
	('sq_delete_queue', $$SELECT sqsn.sq_delete_queue('pv_q')$$),
	('sq_purge_queue', $$SELECT sqsn.sq_purge_queue('pv_q')$$),
	('sq_set_queue_attributes', $$SELECT sqsn.sq_set_queue_attributes('pv_q', '{}')$$)
) AS v(f, stmt);
SELECT f, pg_temp.code(stmt) AS result
FROM (VALUES
	('select queue', $$SELECT * FROM sqsn.queue$$),
	('select handle_key', $$SELECT * FROM sqsn.handle_key$$),
	('select message table', format('SELECT * FROM %s', :'msgtab')),
	('update message table', format('UPDATE %s SET body = body', :'msgtab')),
	('delete message table', format('DELETE FROM %s', :'msgtab'))
) AS v(f, stmt);
RESET ROLE;
SELECT pg_temp.counts('pv_q');
DROP TABLE r;

--
-- admin: administers queues, and as a member of the other two sends and
-- receives; still no direct table access
--
SET ROLE regress_sqsn_admin;
SELECT sqsn.sq_create_queue('pv_admin', dead_letter_queue => 'pv_dead', max_receive_count => 3);
SELECT sqsn.sq_set_queue_attributes('pv_admin', '{"VisibilityTimeout": 5}');
SELECT sqsn.sq_get_queue_attributes('pv_admin')->'VisibilityTimeout' AS visibility_timeout;
SELECT sqsn.sq_send('pv_admin', 'admin sends') IS NOT NULL AS sent;
SELECT receipt_handle AS h, body FROM sqsn.sq_receive('pv_admin', 1, 600) \gset
SELECT :'body' AS body, sqsn.sq_delete('pv_admin', :'h') AS deleted;
SELECT sqsn.sq_send('pv_admin', 'to purge') IS NOT NULL AS sent;
SELECT sqsn.sq_purge_queue('pv_admin');
SELECT * FROM sqsn.sq_list_queues('pv_');
SELECT f, pg_temp.code(stmt) AS result
FROM (VALUES
	('select queue', $$SELECT * FROM sqsn.queue$$),
	('update queue', $$UPDATE sqsn.queue SET visibility_timeout = 0$$),
	('select handle_key', $$SELECT * FROM sqsn.handle_key$$),
	('select message table', format('SELECT * FROM %s', :'msgtab')),
	('insert message table', format('INSERT INTO %s DEFAULT VALUES', :'msgtab')),
	('drop message table', format('DROP TABLE %s', :'msgtab')),
	('init_handle_key', $$SELECT sqsn.init_handle_key()$$),
	('create in schema', $$CREATE TABLE sqsn.intruder (x int)$$)
) AS v(f, stmt);
SELECT sqsn.sq_delete_queue('pv_admin');
RESET ROLE;

-- message_tables_of_new_queues_grant_nothing
SELECT format('sqsn.q_%s', queue_id) AS msgtab2 FROM sqsn.queue WHERE queue_name = 'pv_dead' \gset
SELECT c.relacl IS NULL OR NOT EXISTS (
	SELECT FROM aclexplode(c.relacl) a
	WHERE a.grantee IN (0, 'sqsn_admin'::regrole, 'sqsn_producer'::regrole, 'sqsn_consumer'::regrole)
) AS nothing_granted
FROM pg_class c WHERE c.oid = :'msgtab2'::regclass;

-- search_path_cannot_hijack_the_functions
-- A caller's schema placed before pg_catalog holds look-alike operators and
-- functions that would fail loudly if the SECURITY DEFINER code used them.
CREATE SCHEMA regress_sqsn_evil;
CREATE FUNCTION regress_sqsn_evil.trap_tt(text, text) RETURNS boolean
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE FUNCTION regress_sqsn_evil.trap_bb(bigint, bigint) RETURNS boolean
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE FUNCTION regress_sqsn_evil.trap_uu(uuid, uuid) RETURNS boolean
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE FUNCTION regress_sqsn_evil.trap_zz(timestamptz, timestamptz) RETURNS boolean
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE FUNCTION regress_sqsn_evil.trap_zi(timestamptz, interval) RETURNS timestamptz
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE FUNCTION regress_sqsn_evil.trap_ii(integer, integer) RETURNS integer
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE OPERATOR regress_sqsn_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_sqsn_evil.trap_tt);
CREATE OPERATOR regress_sqsn_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_sqsn_evil.trap_bb);
CREATE OPERATOR regress_sqsn_evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = regress_sqsn_evil.trap_uu);
CREATE OPERATOR regress_sqsn_evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = regress_sqsn_evil.trap_zz);
CREATE OPERATOR regress_sqsn_evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = regress_sqsn_evil.trap_zz);
CREATE OPERATOR regress_sqsn_evil.> (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = regress_sqsn_evil.trap_zz);
CREATE OPERATOR regress_sqsn_evil.+ (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = regress_sqsn_evil.trap_zi);
CREATE OPERATOR regress_sqsn_evil.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = regress_sqsn_evil.trap_ii);
CREATE FUNCTION regress_sqsn_evil.now() RETURNS timestamptz
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE FUNCTION regress_sqsn_evil.clock_timestamp() RETURNS timestamptz
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE FUNCTION regress_sqsn_evil.gen_random_uuid() RETURNS uuid
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE FUNCTION regress_sqsn_evil.nextval(regclass) RETURNS bigint
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE FUNCTION regress_sqsn_evil.make_interval(years int DEFAULT 0, months int DEFAULT 0,
	weeks int DEFAULT 0, days int DEFAULT 0, hours int DEFAULT 0, mins int DEFAULT 0,
	secs double precision DEFAULT 0) RETURNS interval
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'search_path hijacked'; END$$;
CREATE TABLE regress_sqsn_evil.queue (LIKE sqsn.queue);
GRANT USAGE ON SCHEMA regress_sqsn_evil TO PUBLIC;
GRANT SELECT ON regress_sqsn_evil.queue TO PUBLIC;
SET search_path = regress_sqsn_evil, pg_catalog, public;
SELECT pg_temp.err($$SELECT 'a'::text = 'b'::text$$) AS trap_is_armed;
SET ROLE regress_sqsn_admin;
SELECT f, pg_temp.err(stmt) AS result
FROM (VALUES
	('sq_create_queue', $$SELECT sqsn.sq_create_queue('pv_hijack', dead_letter_queue => 'pv_dead', max_receive_count => 2)$$),
	('sq_create_queue again', $$SELECT sqsn.sq_create_queue('pv_hijack', dead_letter_queue => 'pv_dead', max_receive_count => 2)$$),
	('sq_set_queue_attributes', $$SELECT sqsn.sq_set_queue_attributes('pv_hijack', '{"VisibilityTimeout": 0}')$$),
	('sq_get_queue_attributes', $$SELECT sqsn.sq_get_queue_attributes('pv_hijack')$$),
	('sq_list_queues', $$SELECT sqsn.sq_list_queues('pv_')$$),
	('queue_stats', $$SELECT * FROM sqsn.queue_stats$$),
	('sq_send', $$SELECT sqsn.sq_send('pv_hijack', 'x', '{"a": "b"}', 0)$$),
	('sq_send_batch', $$SELECT sqsn.sq_send_batch('pv_hijack', ARRAY['y', 'z'])$$),
	('sq_receive', $$SELECT sqsn.sq_receive('pv_hijack', 10, 0)$$),
	('sq_receive to dlq', $$SELECT sqsn.sq_receive('pv_hijack', 10, 0)$$),
	('sq_receive moves', $$SELECT sqsn.sq_receive('pv_hijack', 10, 0)$$),
	('sq_delete', $$SELECT sqsn.sq_delete('pv_dead', (SELECT receipt_handle FROM sqsn.sq_receive('pv_dead', 1, 0)))$$),
	('sq_change_visibility', $$SELECT sqsn.sq_change_visibility('pv_dead', (SELECT receipt_handle FROM sqsn.sq_receive('pv_dead', 1, 0)), 0)$$),
	('sq_delete_batch', $$SELECT sqsn.sq_delete_batch('pv_dead', ARRAY(SELECT receipt_handle FROM sqsn.sq_receive('pv_dead', 10, 0)))$$),
	('sq_purge_queue', $$SELECT sqsn.sq_purge_queue('pv_hijack')$$),
	('sq_delete_queue', $$SELECT sqsn.sq_delete_queue('pv_hijack')$$)
) AS v(f, stmt);
RESET ROLE;
RESET search_path;
SELECT count(*) AS hijack_queue_left FROM sqsn.sq_list_queues('pv_hijack');
SET client_min_messages = warning;
DROP SCHEMA regress_sqsn_evil CASCADE;
RESET client_min_messages;

-- clean up
SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('pv_') AS q;
DROP ROLE regress_sqsn_admin;
DROP ROLE regress_sqsn_producer;
DROP ROLE regress_sqsn_consumer;
DROP ROLE regress_sqsn_nobody;

-- roles_remain_after_the_test
SELECT count(*) AS sqsn_roles FROM pg_roles WHERE rolname IN ('sqsn_admin', 'sqsn_producer', 'sqsn_consumer');
