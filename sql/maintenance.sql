-- Maintenance: the worker's settings, the sqsn.worker_status view, and
-- sqsn.run_maintenance() doing the retention and dead-letter sweeps in the
-- calling session. (The worker itself works in another database: the TAP
-- test t/004_worker.pl watches it sweep.)

-- expire(q, body): make a message of q expired, as if its retention ran out.
CREATE FUNCTION pg_temp.expire(q text, b text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('UPDATE sqsn.%I SET expires_at = now() - interval ''1 second'' WHERE body = $1',
		'q_' || (SELECT queue_id FROM sqsn.queue WHERE queue_name = q))
	USING b;
END
$$;

-- bodies(q): the bodies stored in q's table, in send order.
CREATE FUNCTION pg_temp.bodies(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE format('SELECT string_agg(body, '','' ORDER BY msg_seq) FROM sqsn.%I',
		'q_' || (SELECT queue_id FROM sqsn.queue WHERE queue_name = q))
	INTO result;
	RETURN result;
END
$$;

-- settings_have_documented_defaults (boot values: make test sets some)
SELECT name, boot_val AS setting, unit, context, vartype
FROM pg_settings WHERE name LIKE 'sqsn.%' ORDER BY name;

-- settings_are_reserved_under_the_prefix
SET sqsn.no_such_setting = 1;

-- worker_status_shows_the_running_worker
SELECT attname, format_type(atttypid, atttypmod) AS type
FROM pg_attribute WHERE attrelid = 'sqsn.worker_status'::regclass AND attnum > 0
ORDER BY attnum;
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN EXISTS (SELECT FROM sqsn.worker_status WHERE pid IS NOT NULL);
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT count(*) AS rows, bool_and(pid IS NOT NULL) AS has_pid,
	bool_and(pid IN (SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn worker')) AS pid_is_the_worker
FROM sqsn.worker_status;
-- function_worker_status_shows_the_launcher (its workers come and go)
SELECT worker, pid IN (SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'sqsn function launcher') AS pid_is_the_launcher
FROM sqsn.function_worker_status WHERE worker = 'function launcher';

-- run_maintenance_with_nothing_due_does_nothing
SELECT * FROM sqsn.run_maintenance();

-- run_maintenance_removes_expired_messages_only
SELECT sqsn.sq_create_queue('mt_q', message_retention_period => 60);
SELECT count(*) FROM sqsn.sq_send_batch('mt_q', ARRAY['m1', 'm2', 'm3', 'm4']);
SELECT pg_temp.expire('mt_q', 'm1'), pg_temp.expire('mt_q', 'm3');
SELECT * FROM sqsn.run_maintenance();
SELECT pg_temp.bodies('mt_q');
SELECT * FROM sqsn.run_maintenance();

-- run_maintenance_expires_messages_in_a_dead_letter_queue
SELECT sqsn.sq_create_queue('mt_dead', message_retention_period => 60);
SELECT sqsn.sq_send('mt_dead', 'old dead letter') IS NOT NULL AS sent;
SELECT pg_temp.expire('mt_dead', 'old dead letter');
SELECT * FROM sqsn.run_maintenance();
SELECT pg_temp.bodies('mt_dead');

-- lowered_receive_limit_moves_messages_to_the_dlq
SELECT sqsn.sq_create_queue('mt_src');
SELECT sqsn.sq_send('mt_src', 'in flight') IS NOT NULL AS sent;
SELECT body, receive_count FROM sqsn.sq_receive('mt_src', 1, 0);
SELECT body, receive_count FROM sqsn.sq_receive('mt_src', 1, 600);
SELECT sqsn.sq_send('mt_src', 'tried twice', '{"n": 1}') AS tried_id \gset
SELECT sqsn.sq_send('mt_src', 'tried once') IS NOT NULL AS sent;
SELECT body, receive_count FROM sqsn.sq_receive('mt_src', 2, 0);
SELECT body, receive_count FROM sqsn.sq_receive('mt_src', 1, 0);
-- in flight: received twice and leased now; tried twice: 2; tried once: 1
SELECT sqsn.sq_set_queue_attributes('mt_src',
	'{"RedrivePolicy": {"deadLetterQueue": "mt_dead", "maxReceiveCount": 1}}');
SELECT * FROM sqsn.run_maintenance();
SELECT pg_temp.bodies('mt_src') AS left_in_source, pg_temp.bodies('mt_dead') AS moved;
SELECT message_id = :'tried_id' AS same_id, body, message_attributes, receive_count
FROM sqsn.sq_receive('mt_dead', 10, 0);

-- run_maintenance_needs_sqsn_admin
CREATE ROLE mt_consumer;
GRANT sqsn_consumer TO mt_consumer;
SET ROLE mt_consumer;
SELECT * FROM sqsn.run_maintenance();
SELECT count(*) FROM sqsn.worker_status;
RESET ROLE;
CREATE ROLE mt_admin;
GRANT sqsn_admin TO mt_admin;
SET ROLE mt_admin;
SELECT * FROM sqsn.run_maintenance();
RESET ROLE;
DROP ROLE mt_consumer, mt_admin;

SELECT sqsn.sq_delete_queue('mt_src');
SELECT sqsn.sq_delete_queue('mt_dead');
SELECT sqsn.sq_delete_queue('mt_q');
