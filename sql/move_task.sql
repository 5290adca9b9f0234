-- Message move tasks (sq_start_message_move_task, sq_list_message_move_tasks,
-- sq_cancel_message_move_task): what may be started, one active task per
-- source, listing, cancelling, and a task run to its end by
-- sqsn.run_maintenance(). The maintenance worker may step the tasks too, so
-- what depends on its timing is shown as a condition. Velocity and crashes:
-- test/t/031_message_move_tasks.pl.

-- err(stmt): 'ok', or 'SQLSTATE: message' when it fails.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- to_dlq(q, n): sends n messages to q and receives each twice, so that
-- (max_receive_count 1) they move to q's dead-letter queue.
CREATE FUNCTION pg_temp.to_dlq(q text, n int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sqsn.sq_send(q, 'm' || i) FROM generate_series(1, n) i;
	PERFORM * FROM sqsn.sq_receive(q, 10, 0);
	PERFORM * FROM sqsn.sq_receive(q, 10, 0);
END
$$;

CREATE FUNCTION pg_temp.visible(q text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT visible FROM sqsn.queue_stats WHERE queue_name = q
$$;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_mt_producer;
RESET client_min_messages;
CREATE ROLE regress_mt_producer IN ROLE sqsn_producer;

SELECT sqsn.sq_create_queue('mt_dlq');
SELECT sqsn.sq_create_queue('mt_src', dead_letter_queue => 'mt_dlq', max_receive_count => 1);
SELECT sqsn.sq_create_queue('mt_dest');
SELECT sqsn.sq_create_queue('mt_dlq.fifo');
SELECT sqsn.sq_create_queue('mt_src.fifo', dead_letter_queue => 'mt_dlq.fifo', max_receive_count => 1);
SELECT pg_temp.to_dlq('mt_src', 3);
SELECT pg_temp.visible('mt_src') AS in_source, pg_temp.visible('mt_dlq') AS in_dlq;

-- what_cannot_be_started
SELECT v.what, pg_temp.err(v.stmt) AS result
FROM (VALUES
	('not a dead-letter queue', $$SELECT sqsn.sq_start_message_move_task('mt_src')$$),
	('unknown queue', $$SELECT sqsn.sq_start_message_move_task('mt_none')$$),
	('NULL source', $$SELECT sqsn.sq_start_message_move_task(NULL)$$),
	('rate 0', $$SELECT sqsn.sq_start_message_move_task('mt_dlq', NULL, 0)$$),
	('rate 501', $$SELECT sqsn.sq_start_message_move_task('mt_dlq', NULL, 501)$$),
	('into itself', $$SELECT sqsn.sq_start_message_move_task('mt_dlq', 'mt_dlq')$$),
	('into a FIFO queue', $$SELECT sqsn.sq_start_message_move_task('mt_dlq', 'mt_dlq.fifo')$$),
	('unknown destination', $$SELECT sqsn.sq_start_message_move_task('mt_dlq', 'mt_none')$$),
	('list 11', $$SELECT sqsn.sq_list_message_move_tasks('mt_dlq', 11)$$),
	('cancel unknown', $$SELECT sqsn.sq_cancel_message_move_task('00000000-0000-0000-0000-000000000000')$$),
	('cancel NULL', $$SELECT sqsn.sq_cancel_message_move_task(NULL)$$)
) AS v(what, stmt);
SELECT count(*) AS tasks FROM sqsn.message_move_task;

-- a_producer_without_admin_cannot_start_one
SET ROLE regress_mt_producer;
SELECT pg_temp.err($$SELECT sqsn.sq_start_message_move_task('mt_dlq')$$) AS start;
RESET ROLE;

-- one_active_task_per_source_listed_and_cancelled
SELECT sqsn.sq_start_message_move_task('mt_dlq', max_messages_per_second => 1) AS h1 \gset
SELECT pg_temp.err($$SELECT sqsn.sq_start_message_move_task('mt_dlq')$$) AS second_start;
SELECT task_handle = :'h1' AS same_task, status IN ('RUNNING', 'COMPLETED') AS running,
	source_queue, destination_queue, max_messages_per_second, messages_to_move,
	messages_moved BETWEEN 0 AND 3 AS moved_so_far, started_at <= now() AS started
FROM sqsn.sq_list_message_move_tasks('mt_dlq');
SELECT sqsn.sq_cancel_message_move_task(:'h1') >= 0 AS cancelled;
SELECT status IN ('CANCELLING', 'CANCELLED') AS cancelling FROM sqsn.sq_list_message_move_tasks('mt_dlq');
SELECT left(pg_temp.err(format('SELECT sqsn.sq_cancel_message_move_task(%L)', :'h1')), 5) AS cancel_again;
SELECT count(*) AS rows FROM sqsn.run_maintenance();
SELECT status, finished_at IS NOT NULL AS finished FROM sqsn.sq_list_message_move_tasks('mt_dlq');

-- a_task_moves_every_message_back_to_its_source
SELECT sqsn.sq_start_message_move_task('mt_dlq') AS h2 \gset
SELECT count(*) AS rows FROM sqsn.run_maintenance();
SELECT task_handle = :'h2' AS newest_first, status, messages_moved + (
		SELECT messages_moved FROM sqsn.message_move_task WHERE task_handle = :'h1') AS moved_by_both
FROM sqsn.sq_list_message_move_tasks('mt_dlq');
SELECT pg_temp.visible('mt_src') AS in_source, pg_temp.visible('mt_dlq') AS in_dlq;
SELECT count(*) AS listed FROM sqsn.sq_list_message_move_tasks('mt_dlq', 10);

-- a_task_into_a_destination_that_is_deleted_fails
SELECT pg_temp.to_dlq('mt_src', 2);
SELECT sqsn.sq_start_message_move_task('mt_dlq', 'mt_dest', 1) AS h3 \gset
SELECT sqsn.sq_delete_queue('mt_dest');
SELECT count(*) AS rows FROM sqsn.run_maintenance();
SELECT status, failure_reason, destination_queue FROM sqsn.sq_list_message_move_tasks('mt_dlq');

-- a_source_keeps_its_ten_most_recent_tasks
DO $$
BEGIN
	FOR i IN 1..9 LOOP
		PERFORM sqsn.sq_start_message_move_task('mt_dlq');
		PERFORM * FROM sqsn.run_maintenance();
	END LOOP;
END
$$;
SELECT count(*) AS kept, count(*) FILTER (WHERE task_handle = :'h1') AS oldest_kept
FROM sqsn.sq_list_message_move_tasks('mt_dlq', 10);
SELECT count(*) AS stored FROM sqsn.message_move_task;

SELECT sqsn.sq_set_queue_attributes('mt_src', '{"RedrivePolicy": null}');
SELECT sqsn.sq_delete_queue('mt_dlq');
SELECT count(*) AS tasks FROM sqsn.message_move_task;

-- clean up
SELECT sqsn.sq_delete_queue('mt_src');
SELECT sqsn.sq_delete_queue('mt_src.fifo');
SELECT sqsn.sq_delete_queue('mt_dlq.fifo');
DROP ROLE regress_mt_producer;
