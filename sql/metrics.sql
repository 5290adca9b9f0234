-- Queue metrics: sends, receives, deletes, empty receives, bytes,
-- dead-lettering and redrive are counted when their transaction commits
-- (never for rolled-back work, savepoints included); sqsn.metrics = off
-- counts nothing; the view sqsn.queue_metrics shows the counters next to
-- the depth under the managed service's names, exact for small queues and
-- measured on a sample for large ones; pausing push subscriptions.

SET sqsn.metrics_cache_time = 0;

-- m(q): the counters and depth of q as one line.
CREATE FUNCTION pg_temp.m(q text) RETURNS text
LANGUAGE sql AS $$
	SELECT format('sent=%s bytes=%s received=%s deleted=%s empty=%s '
		'visible=%s not_visible=%s delayed=%s dead_lettered=%s redriven=%s exact=%s',
		"NumberOfMessagesSent", "SentMessageSize", "NumberOfMessagesReceived",
		"NumberOfMessagesDeleted", "NumberOfEmptyReceives",
		"ApproximateNumberOfMessagesVisible",
		"ApproximateNumberOfMessagesNotVisible",
		"ApproximateNumberOfMessagesDelayed",
		messages_dead_lettered, messages_redriven, depth_exact)
	FROM sqsn.queue_metrics WHERE queue_name = q
$$;

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

SELECT sqsn.sq_create_queue('metrics_dead');
SELECT sqsn.sq_create_queue('metrics_q', dead_letter_queue => 'metrics_dead',
	max_receive_count => 1);
SELECT pg_temp.m('metrics_q');

-- sends count messages and bytes of body and attributes
SELECT count(*) FROM (SELECT sqsn.sq_send('metrics_q', 'a')) s;
SELECT count(*) FROM sqsn.sq_send_batch('metrics_q', ARRAY['bb', 'ccc']);
SELECT count(*) FROM (SELECT sqsn.sq_send('metrics_q', 'dd', '{"k": "v"}')) s;
SELECT pg_temp.m('metrics_q');

-- a rolled-back send counts nothing, nor does a rolled-back savepoint
BEGIN;
SELECT count(*) FROM (SELECT sqsn.sq_send('metrics_q', 'gone')) s;
ROLLBACK;
BEGIN;
SAVEPOINT s1;
SELECT count(*) FROM (SELECT sqsn.sq_send('metrics_q', 'gone too')) s;
ROLLBACK TO s1;
SAVEPOINT s2;
SELECT count(*) FROM (SELECT sqsn.sq_send('metrics_q', 'kept')) s;
RELEASE s2;
COMMIT;
SELECT pg_temp.m('metrics_q');

-- receives and deletes; a stale handle deletes nothing and counts nothing
CREATE TEMP TABLE got AS SELECT * FROM sqsn.sq_receive('metrics_q', 2, 60);
SELECT pg_temp.m('metrics_q');
SELECT count(*) FILTER (WHERE sqsn.sq_delete('metrics_q', receipt_handle)) FROM got;
SELECT count(*) FILTER (WHERE sqsn.sq_delete('metrics_q', receipt_handle)) FROM got;
SELECT pg_temp.m('metrics_q');

-- a receive that finds nothing is an empty receive; with a wait, once
SELECT count(*) FROM sqsn.sq_receive('metrics_dead', 1);
SELECT count(*) FROM sqsn.sq_receive('metrics_dead', 1, NULL, 1);
SELECT "NumberOfEmptyReceives" FROM sqsn.queue_metrics WHERE queue_name = 'metrics_dead';

-- the rest is leased, then moved to the dead-letter queue by the next receive
SELECT count(*) FROM sqsn.sq_receive('metrics_q', 10, 0);
SELECT count(*) FROM sqsn.sq_receive('metrics_q', 10, 0);
SELECT pg_temp.m('metrics_q');
SELECT pg_temp.m('metrics_dead');

-- a redrive counts on the dead-letter queue; the moved messages are no sends
SELECT sqsn.sq_redrive('metrics_dead');
SELECT pg_temp.m('metrics_dead');
SELECT pg_temp.m('metrics_q');

-- a delay shows as delayed; purge empties the depth
SELECT count(*) FROM (SELECT sqsn.sq_send('metrics_q', 'later', NULL, 600)) s;
SELECT pg_temp.m('metrics_q');
SELECT sqsn.sq_purge_queue('metrics_q');
SELECT pg_temp.m('metrics_q');

-- sqsn.metrics = off counts nothing (for superusers only)
SET sqsn.metrics = off;
SELECT count(*) FROM (SELECT sqsn.sq_send('metrics_q', 'uncounted')) s;
RESET sqsn.metrics;
SELECT "NumberOfMessagesSent" FROM sqsn.queue_metrics WHERE queue_name = 'metrics_q';
CREATE ROLE metrics_user IN ROLE sqsn_producer;
SET ROLE metrics_user;
SELECT pg_temp.err('SET sqsn.metrics = off');
RESET ROLE;

-- FIFO queues show the groups with messages in flight
SELECT sqsn.sq_create_queue('metrics.fifo', content_based_deduplication => true);
SELECT count(*) FROM sqsn.sq_send_batch('metrics.fifo', ARRAY['1', '2', '3', '4'],
	message_group_ids => ARRAY['g1', 'g1', 'g2', 'g3']);
SELECT count(*) FROM sqsn.sq_receive('metrics.fifo', 10, 60);
SELECT "ApproximateNumberOfGroupsWithInflightMessages",
	"ApproximateNumberOfMessagesNotVisible"
FROM sqsn.queue_metrics WHERE queue_name = 'metrics.fifo';
SELECT "ApproximateNumberOfGroupsWithInflightMessages" IS NULL AS standard_has_none
FROM sqsn.queue_metrics WHERE queue_name = 'metrics_q';

-- a queue larger than sqsn.metrics_scan_rows is measured on a sample
-- scaled to the table's statistics
SELECT sqsn.sq_create_queue('metrics_big');
SELECT count(*) FROM sqsn.sq_send_batch('metrics_big',
	(SELECT array_agg('message ' || i) FROM generate_series(1, 1000) i));
-- the 1000 inserts reach the statistics before ANALYZE sets them, or would
-- be added to its count when this session flushes them later
SELECT pg_stat_force_next_flush();
DO $$
BEGIN
	EXECUTE format('ANALYZE sqsn.q_%s',
		(SELECT queue_id FROM sqsn.queue WHERE queue_name = 'metrics_big'));
END
$$;
SET sqsn.metrics_scan_rows = 100;
SELECT "ApproximateNumberOfMessagesVisible", depth_exact
FROM sqsn.queue_metrics WHERE queue_name = 'metrics_big';
RESET sqsn.metrics_scan_rows;
SELECT "ApproximateNumberOfMessagesVisible", depth_exact
FROM sqsn.queue_metrics WHERE queue_name = 'metrics_big';

-- cached depth: within sqsn.metrics_cache_time the figures are reused
SET sqsn.metrics_cache_time = '1h';
SELECT "ApproximateNumberOfMessagesVisible" FROM sqsn.queue_metrics
WHERE queue_name = 'metrics_big';
SELECT count(*) FROM sqsn.sq_send_batch('metrics_big', ARRAY['x', 'y']);
SELECT "ApproximateNumberOfMessagesVisible" FROM sqsn.queue_metrics
WHERE queue_name = 'metrics_big';
SET sqsn.metrics_cache_time = 0;
SELECT "ApproximateNumberOfMessagesVisible" FROM sqsn.queue_metrics
WHERE queue_name = 'metrics_big';

-- statistics that still call a table large after most of it went: the
-- sample finds too few rows, and the table is counted
DO $$
BEGIN
	EXECUTE format('DELETE FROM sqsn.q_%s WHERE msg_seq > (SELECT min(msg_seq) + 9 FROM sqsn.q_%1$s)',
		(SELECT queue_id FROM sqsn.queue WHERE queue_name = 'metrics_big'));
END
$$;
SET sqsn.metrics_scan_rows = 100;
SELECT "ApproximateNumberOfMessagesVisible", depth_exact
FROM sqsn.queue_metrics WHERE queue_name = 'metrics_big';
RESET sqsn.metrics_scan_rows;

-- a dropped queue leaves the view; a new queue starts from zero
SELECT sqsn.sq_delete_queue('metrics_big');
SELECT count(*) FROM sqsn.queue_metrics WHERE queue_name = 'metrics_big';
SELECT sqsn.sq_create_queue('metrics_big');
SELECT pg_temp.m('metrics_big');

-- pausing push subscriptions: only HTTP/HTTPS ones, by their owner or the
-- topic's administrators
SELECT sqsn.sn_create_topic('metrics_topic');
SELECT sqsn.sn_subscribe('metrics_topic', 'https', 'https://hooks.example/x') AS sub \gset
SELECT sqsn.sn_subscribe('metrics_topic', 'sqs', 'metrics_q') AS qsub \gset
SELECT sqsn.sn_pause_subscription(:'sub');
SELECT paused FROM sqsn.subscription WHERE subscription_id = :'sub';
SELECT pg_temp.err(format('SELECT sqsn.sn_pause_subscription(%L)', :'qsub'));
SET ROLE metrics_user;
SELECT pg_temp.err(format('SELECT sqsn.sn_resume_subscription(%L)', :'sub'));
RESET ROLE;
SELECT sqsn.sn_resume_subscription(:'sub');
SELECT paused FROM sqsn.subscription WHERE subscription_id = :'sub';
SELECT pg_temp.err('SELECT sqsn.sn_pause_subscription(''00000000-0000-0000-0000-000000000000'')');

SELECT sqsn.sn_delete_topic('metrics_topic');
SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY['metrics_q', 'metrics_dead',
	'metrics.fifo', 'metrics_big']) q;
DROP ROLE metrics_user;
