-- The two background workers at work, for make valgrind (scripts/valgrind.sh
-- runs this with psql in the database they work in, with :sink and
-- :tls_sink the URLs of test/http_sink.py on 127.0.0.1 over HTTP and HTTPS,
-- :ca_file the HTTPS sink's certificate, and compares the output with
-- workers.out).
-- The regress suite runs in another database, where the workers only idle:
-- here the worker sweeps expired messages and messages over their receive
-- limit, and the delivery worker signs and POSTs notifications (plain and
-- raw, with attributes, over HTTP and HTTPS), retries a failing endpoint
-- and dead-letters what it gives up on. Each wait allows 300 s: everything is slow under valgrind.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- Settings of this scenario (the regress suite runs with the cluster's own).
ALTER SYSTEM SET sqsn.http_allowed_hosts = '127.0.0.1';
ALTER SYSTEM SET sqsn.poll_interval = '200ms';
ALTER SYSTEM SET sqsn.http_ca_file = :'ca_file';
SELECT pg_reload_conf();
SET sqsn.http_auto_confirm_hosts = '127.0.0.1';
DROP EXTENSION IF EXISTS sqsn CASCADE;
CREATE EXTENSION sqsn;

-- wait_for(condition): true as soon as the query returns true, false after
-- 300 s.
CREATE FUNCTION pg_temp.wait_for(q text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	ok boolean;
BEGIN
	FOR i IN 1..3000 LOOP
		EXECUTE q INTO ok;
		IF ok THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN false;
END
$$;

-- q_table(q): the message table of queue q.
CREATE FUNCTION pg_temp.q_table(q text) RETURNS text
LANGUAGE sql AS $$
	SELECT format('sqsn.%I', 'q_' || queue_id) FROM sqsn.queue WHERE queue_name = q
$$;

-- The worker's counters run from its start (an earlier run of this
-- scenario in the same cluster counted too): the waits below look at what
-- they gained since here.
SELECT messages_expired AS expired_before, messages_moved_to_dlq AS moved_before
FROM sqsn.worker_status \gset

-- worker_removes_expired_messages
SELECT sqsn.sq_create_queue('vg_retained', message_retention_period => 60);
SELECT count(*) FROM sqsn.sq_send_batch('vg_retained', ARRAY['keep', 'old 1', 'old 2']);
DO $$
BEGIN
	EXECUTE format('UPDATE %s SET expires_at = now() - interval ''1 second'' WHERE body LIKE ''old%%''',
		pg_temp.q_table('vg_retained'));
END
$$;
-- The worker looks only at queues with something due: a change of the
-- queue's attributes has it look again (the expiry written behind its back
-- would otherwise be found when the messages were due, in 60 s).
SELECT sqsn.sq_set_queue_attributes('vg_retained', '{"MessageRetentionPeriod": 60}');
SELECT pg_temp.wait_for(format('SELECT messages_expired = %s + 2 FROM sqsn.worker_status',
	:expired_before)) AS expired;
SELECT body FROM sqsn.sq_receive('vg_retained', 10);

-- worker_moves_messages_over_a_lowered_receive_limit
SELECT sqsn.sq_create_queue('vg_dead');
SELECT sqsn.sq_create_queue('vg_source');
SELECT sqsn.sq_send('vg_source', 'received twice') IS NOT NULL AS sent;
SELECT count(*) FROM sqsn.sq_receive('vg_source', 1, 0);
SELECT count(*) FROM sqsn.sq_receive('vg_source', 1, 0);
SELECT sqsn.sq_set_queue_attributes('vg_source',
	'{"RedrivePolicy": {"deadLetterQueue": "vg_dead", "maxReceiveCount": 1}}');
SELECT pg_temp.wait_for(format('SELECT messages_moved_to_dlq = %s + 1 FROM sqsn.worker_status',
	:moved_before)) AS moved;
SELECT body FROM sqsn.sq_receive('vg_dead', 10);
SELECT last_error FROM sqsn.worker_status;

-- delivery_worker_posts_signed_notifications
SELECT sqsn.sn_create_topic('vg_topic');
SELECT sqsn.sn_subscribe('vg_topic', 'http', :'sink' || '/ok/plain') IS NOT NULL AS subscribed;
SELECT sqsn.sn_subscribe('vg_topic', 'http', :'sink' || '/ok/raw',
	raw_message_delivery => true) IS NOT NULL AS subscribed;
SELECT sqsn.sn_subscribe('vg_topic', 'https', :'tls_sink' || '/ok/tls') IS NOT NULL AS subscribed;
SELECT sqsn.sq_create_queue('vg_push_dlq');
SELECT sqsn.sn_subscribe('vg_topic', 'http', :'sink' || '/fail/retried',
	delivery_policy => '{"healthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1}}',
	redrive_policy => '{"deadLetterTargetArn": "vg_push_dlq"}') IS NOT NULL AS subscribed;
SELECT regexp_replace(endpoint, ':[0-9]+/', ':<port>/') AS endpoint, raw_message_delivery, status
FROM sqsn.sn_list_subscriptions('vg_topic') ORDER BY endpoint;
SELECT count(*) FROM sqsn.sn_publish_batch('vg_topic', ARRAY['one', 'two', 'three']);
SELECT sqsn.sn_publish('vg_topic', 'with attributes', subject => 'S',
	message_attributes => '{"color": "red", "size": 3, "tags": {"DataType": "String.Array", "StringValue": "[\"a\",\"b\"]"}, "blob": {"DataType": "Binary", "BinaryValue": "AAEC"}}')
	IS NOT NULL AS published;
SELECT pg_temp.wait_for($$SELECT count(*) FILTER (WHERE status = 'pending') = 0 FROM sqsn.delivery$$)
	AS all_done;
SELECT regexp_replace(s.endpoint, ':[0-9]+/', ':<port>/') AS endpoint, d.status, count(*),
	sum(d.attempts) AS attempts
FROM sqsn.delivery d JOIN sqsn.sn_list_subscriptions('vg_topic') s USING (subscription_id)
GROUP BY 1, 2 ORDER BY 1, 2;
SELECT (body::jsonb)->>'Message' AS dead_lettered,
	message_attributes->'ErrorCode'->>'StringValue' AS error_code
FROM sqsn.sq_receive('vg_push_dlq', 10) ORDER BY 1;

DROP EXTENSION sqsn CASCADE;
ALTER SYSTEM RESET sqsn.http_allowed_hosts;
ALTER SYSTEM RESET sqsn.poll_interval;
ALTER SYSTEM RESET sqsn.http_ca_file;
SELECT pg_reload_conf();
