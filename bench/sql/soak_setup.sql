-- Schema of bench/soak's throw-away cluster (database postgres, where the
-- workers run): the queues and topics of the mixed load, the table the
-- consumers write their end-to-end latencies into, and what the sampler
-- reads. The HTTP subscription of the push workload is made by
-- bench/lib/soak.py once the sink listens.
--
--   soak_std              standard queue: SQL producers, long-polling consumers
--   soak.fifo             FIFO queue, 20 message groups
--   soak_src -> soak_dlq  messages received twice without a delete move to
--                         the dead-letter queue (max_receive_count 2), whose
--                         consumer drains it
--   soak_ret              nobody consumes; retention 60 s, the worker sweeps
--   soak_fan_1..3         subscribed (raw) to topic soak_fan
--   soak_api              the SDK client's queue (endpoint), also subscribed
--                         to topic soak_sdk, which the SDK client publishes to
--   topic soak_push       pushed to the local sink over HTTP

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION sqsn;
CREATE SCHEMA soak;

SELECT sqsn.sq_create_queue('soak_std');
SELECT sqsn.sq_create_queue('soak.fifo');
SELECT sqsn.sq_create_queue('soak_dlq');
SELECT sqsn.sq_create_queue('soak_src', visibility_timeout => 1,
	dead_letter_queue => 'soak_dlq', max_receive_count => 2);
SELECT sqsn.sq_create_queue('soak_ret', message_retention_period => 60);
SELECT sqsn.sq_create_queue('soak_fan_' || i) FROM generate_series(1, 3) i;
SELECT sqsn.sq_create_queue('soak_api');

SELECT sqsn.sn_create_topic('soak_push');
SELECT sqsn.sn_create_topic('soak_fan');
SELECT sqsn.sn_subscribe('soak_fan', 'sqs', 'soak_fan_' || i, raw_message_delivery => true)
FROM generate_series(1, 3) i;
SELECT sqsn.sn_create_topic('soak_sdk');
SELECT sqsn.sn_subscribe('soak_sdk', 'sqs', 'soak_api', raw_message_delivery => true);

-- End-to-end latencies (send -> receive) the SQL consumers write, one row
-- per message; the sampler moves them to the results and deletes them.
CREATE UNLOGGED TABLE soak.latency (
	workload text NOT NULL,
	t timestamptz NOT NULL DEFAULT clock_timestamp(),
	ms float8 NOT NULL
);
GRANT INSERT ON soak.latency TO PUBLIC;

-- One line per queue for the sampler: messages ever sent (rows inserted
-- into its table, as the statistics count them: every queue draws msg_seq
-- from one sequence), messages waiting (in flight or not), table and index bytes,
-- live and dead tuples, vacuums and autovacuums so far.
CREATE FUNCTION soak.queue_sample() RETURNS TABLE (
	queue_name text, sent bigint, depth bigint, table_bytes bigint,
	index_bytes bigint, live_tuples bigint, dead_tuples bigint,
	vacuums bigint, autovacuums bigint)
LANGUAGE plpgsql AS $$
DECLARE
	q record;
BEGIN
	FOR q IN SELECT s.queue_name AS name, format('sqsn.%I', 'q_' || s.queue_id)::regclass AS rel
		FROM sqsn.queue s WHERE s.queue_name LIKE 'soak%' ORDER BY s.queue_name
	LOOP
		queue_name := q.name;
		EXECUTE format('SELECT count(*) FROM %s', q.rel) INTO depth;
		table_bytes := pg_table_size(q.rel);
		index_bytes := pg_indexes_size(q.rel);
		SELECT n_tup_ins, n_live_tup, n_dead_tup, vacuum_count, autovacuum_count
		INTO sent, live_tuples, dead_tuples, vacuums, autovacuums
		FROM pg_stat_user_tables WHERE relid = q.rel;
		RETURN NEXT;
	END LOOP;
	-- the push outbox and its attempts
	FOR q IN SELECT c.relname AS name, c.oid::regclass AS rel FROM pg_class c
		WHERE c.relnamespace = 'sqsn'::regnamespace
		AND c.relname IN ('delivery', 'delivery_attempt') ORDER BY c.relname
	LOOP
		queue_name := 'sqsn.' || q.name;
		sent := NULL;
		EXECUTE format('SELECT count(*) FROM %s', q.rel) INTO depth;
		table_bytes := pg_table_size(q.rel);
		index_bytes := pg_indexes_size(q.rel);
		SELECT n_live_tup, n_dead_tup, vacuum_count, autovacuum_count
		INTO live_tuples, dead_tuples, vacuums, autovacuums
		FROM pg_stat_user_tables WHERE relid = q.rel;
		RETURN NEXT;
	END LOOP;
END
$$;
