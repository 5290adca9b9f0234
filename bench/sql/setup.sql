-- Schema of the benchmark database sqsn_bench, created fresh by bench/run.
--
-- Three systems side by side:
--   sqsn   queues 'send', 'batch', 'recv', 'steady'
--   plain  tables bench.plain_send, bench.plain_batch, bench.plain_recv,
--          shaped exactly like a sqsn message table: LIKE ... INCLUDING ALL
--          (same columns, identity primary key, defaults) and the same
--          storage parameters (fillfactor, autovacuum thresholds)
--   pgq    queues 'send', 'batch' (producers only) and 'cons' (consumer 'c')

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION sqsn;
CREATE EXTENSION pgq;
CREATE SCHEMA bench;

SELECT sqsn.sq_create_queue(q) FROM unnest(ARRAY['send', 'batch', 'recv', 'steady']) q;

-- Long polling: 'wake' has waiting receivers woken by sends; 'idle' stays
-- empty while 200 sessions wait on it. Wake latencies land in
-- bench.wake_latency (milliseconds from the send to the receive returning).
SELECT sqsn.sq_create_queue('wake'), sqsn.sq_create_queue('idle');
CREATE TABLE bench.wake_latency (ms float8 NOT NULL);

-- Fan-out: topic 'fanout' with 10 subscribed queues (raw delivery, so each
-- copy stores what a plain send would), and 10 more queues for the
-- comparison with 10 sq_send calls in one transaction.
SELECT sqsn.sq_create_queue(format('fan%s', i)), sqsn.sq_create_queue(format('sendfan%s', i))
FROM generate_series(1, 10) i;
SELECT sqsn.sn_create_topic('fanout');
SELECT sqsn.sn_subscribe('fanout', 'sqs', format('fan%s', i), raw_message_delivery => true)
FROM generate_series(1, 10) i;

-- FIFO: 'fifo.fifo' and the standard queue 'fifo_std', filled alike with
-- messages in 100 message groups (a standard queue holds no group back),
-- for receive+delete with 8 consumers; 'fifo_ht.fifo' in the high
-- throughput mode (FifoThroughputLimit perMessageGroupId, deduplication
-- per message group) against 'fifo.fifo' (per queue).
SELECT sqsn.sq_create_queue('fifo.fifo'), sqsn.sq_create_queue('fifo_std'),
	sqsn.sq_create_queue('fifo_ht.fifo', deduplication_scope => 'messageGroup');
SELECT sqsn.sq_set_queue_attributes('fifo_ht.fifo',
	'{"FifoThroughputLimit": "perMessageGroupId"}');

-- Encryption: 'enc_send' and 'enc_recv' are encrypted queues (the cluster
-- of scripts/setup.sh has a master key). Sends are compared with 'enc_base',
-- unencrypted and as empty as 'enc_send' (a queue that has grown through
-- other workloads inserts at another speed); receives with 'recv', both
-- topped up to the same depth.
SELECT sqsn.sq_create_queue('enc_send', encrypted => true),
	sqsn.sq_create_queue('enc_recv', encrypted => true),
	sqsn.sq_create_queue('enc_base');

-- Fill a sqsn queue up to n messages in message groups 'g0'..'g<groups-1>'
-- (round robin), with unique deduplication ids on a FIFO queue.
CREATE FUNCTION bench.top_up_groups(name text, n bigint, groups int, body text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	missing bigint := n - bench.depth('sqsn', name);
	fifo boolean := name LIKE '%.fifo';
	k int;
BEGIN
	IF missing <= 0 THEN
		RETURN 0;
	END IF;
	FOR i IN 0 .. (missing - 1) / 1000 LOOP
		k := least(1000, missing - i * 1000);
		PERFORM sqsn.sq_send_batch(name, array_fill(body, ARRAY[k]),
			message_group_ids => ARRAY(SELECT 'g' || (j % groups) FROM generate_series(1, k) j),
			message_deduplication_ids => CASE WHEN fifo THEN
				ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, k)) END);
	END LOOP;
	RETURN missing;
END
$$;

-- The message table of a sqsn queue (see "Storage" in README.md).
CREATE FUNCTION bench.sqsn_table(name text) RETURNS regclass
LANGUAGE sql STABLE AS $$
	SELECT to_regclass(format('sqsn.%I', 'q_' || q.queue_id))
	FROM sqsn.queue q WHERE q.queue_name = name
$$;

-- A plain table with the shape and storage parameters of a sqsn message table.
CREATE FUNCTION bench.create_plain(name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	model regclass := bench.sqsn_table('send');
	opts text;
BEGIN
	IF model IS NULL THEN
		RAISE EXCEPTION 'cannot find the message table of sqsn queue "send"';
	END IF;
	SELECT array_to_string(reloptions, ', ') INTO opts FROM pg_class WHERE oid = model;
	EXECUTE format('CREATE TABLE bench.%I (LIKE %s INCLUDING ALL)%s', name, model,
		CASE WHEN opts IS NULL THEN '' ELSE format(' WITH (%s)', opts) END);
END
$$;

SELECT bench.create_plain(t) FROM unnest(ARRAY['plain_send', 'plain_batch', 'plain_recv']) t;

-- 1 MiB messages (workload large): a queue that takes them, a plain table
-- of the same shape, and one body of exactly 1 MiB of pseudo-random hex
-- digits, which TOAST compresses no better than real payloads.
SELECT sqsn.sq_create_queue('large', maximum_message_size => 1048576);
SELECT bench.create_plain('plain_large');
CREATE TABLE bench.large_body AS
	SELECT string_agg(md5(i::text || random()::text), '') AS body
	FROM generate_series(1, 32768) i;

-- Tops queue 'large' and table plain_large up to n messages each.
CREATE FUNCTION bench.top_up_large(n bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	b text := (SELECT body FROM bench.large_body);
BEGIN
	FOR i IN 1 .. n - bench.depth('sqsn', 'large') LOOP
		PERFORM sqsn.sq_send('large', b);
	END LOOP;
	INSERT INTO bench.plain_large (message_id, body, sent_at, visible_at, expires_at)
	SELECT gen_random_uuid(), b, now(), now(), now() + interval '345600 s'
	FROM generate_series(1, n - bench.depth('plain', 'plain_large'));
END
$$;

SELECT pgq.create_queue(q) FROM unnest(ARRAY['send', 'batch', 'cons']) q;
SELECT pgq.register_consumer('cons', 'c');

-- The table holding the messages of sqsn queue or plain table name.
CREATE FUNCTION bench.message_table(sys text, name text) RETURNS regclass
LANGUAGE sql STABLE AS $$
	SELECT CASE sys WHEN 'sqsn' THEN bench.sqsn_table(name)
	                ELSE to_regclass(format('bench.%I', name)) END
$$;

-- Messages waiting in a queue or table (visible, leased or delayed; for
-- PgQ: events in ticked batches consumer 'c' has not finished).
CREATE FUNCTION bench.depth(sys text, name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	IF sys = 'pgq' THEN
		SELECT pending_events INTO n FROM pgq.get_consumer_info(name, 'c');
	ELSE
		EXECUTE format('SELECT count(*) FROM %s', bench.message_table(sys, name)) INTO n;
	END IF;
	RETURN n;
END
$$;

-- Messages sent to a queue or table, up to a constant: the last value of
-- the sequence its msg_seq comes from. A plain table has an identity
-- sequence of its own; sqsn queues share sqsn.message_seq, so the figure
-- counts sends to every queue, and a workload reads differences of it
-- while it alone sends.
CREATE FUNCTION bench.sent(sys text, name text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT coalesce(pg_sequence_last_value(coalesce(
		pg_get_serial_sequence(bench.message_table(sys, name)::text, 'msg_seq'),
		'sqsn.message_seq')::regclass), 0)
$$;

-- Events PgQ's consumer 'c' of queue name has finished (event sequence at
-- the tick of its last finished batch).
CREATE FUNCTION bench.pgq_consumed(name text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT t.tick_event_seq
	FROM pgq.queue q
	JOIN pgq.subscription s ON s.sub_queue = q.queue_id
	JOIN pgq.consumer c ON c.co_id = s.sub_consumer AND c.co_name = 'c'
	JOIN pgq.tick t ON t.tick_queue = q.queue_id AND t.tick_id = s.sub_last_tick
	WHERE q.queue_name = name
$$;

-- "consumed depth": messages consumed so far (sent - waiting) and waiting.
CREATE FUNCTION bench.counters(sys text, name text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	d bigint := bench.depth(sys, name);
BEGIN
	IF sys = 'pgq' THEN
		RETURN format('%s %s', bench.pgq_consumed(name), d);
	END IF;
	RETURN format('%s %s', bench.sent(sys, name) - d, d);
END
$$;

-- One CSV line of the samplers (steady state, bench/storage): time,
-- consumed, depth, sent, table, index and total bytes, dead tuples,
-- autovacuum runs, of sqsn queue or plain table name.
CREATE FUNCTION bench.sample(name text, sys text DEFAULT 'sqsn') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	t regclass := bench.message_table(sys, name);
	d bigint := bench.depth(sys, name);
	s bigint := bench.sent(sys, name);
	st record;
BEGIN
	SELECT n_dead_tup, autovacuum_count INTO st FROM pg_stat_user_tables WHERE relid = t;
	RETURN concat_ws(',', extract(epoch FROM clock_timestamp()), s - d, d, s,
		pg_relation_size(t), pg_indexes_size(t), pg_total_relation_size(t),
		st.n_dead_tup, st.autovacuum_count);
END
$$;

-- bench/storage: what the held snapshot of the long-transaction workload
-- reads one row of.
CREATE TABLE bench.snapshot_holder (id int PRIMARY KEY);
INSERT INTO bench.snapshot_holder VALUES (1);

-- Fill a queue or table up to n messages (bodies of 256 bytes): sqsn with
-- sq_send_batch of 1000, plain with INSERT ... SELECT.
CREATE FUNCTION bench.top_up(sys text, name text, n bigint, body text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	missing bigint := n - bench.depth(sys, name);
	k int;
BEGIN
	IF missing <= 0 THEN
		RETURN 0;
	END IF;
	IF sys = 'sqsn' THEN
		FOR i IN 0 .. (missing - 1) / 1000 LOOP
			k := least(1000, missing - i * 1000);
			PERFORM sqsn.sq_send_batch(name, array_fill(body, ARRAY[k]));
		END LOOP;
	ELSIF sys = 'plain' THEN
		EXECUTE format('INSERT INTO bench.%I (message_id, body, sent_at, visible_at, expires_at)'
			' SELECT gen_random_uuid(), $1, now(), now(), now() + interval ''345600 s'''
			' FROM generate_series(1, $2)', name) USING body, missing;
	ELSE
		RAISE EXCEPTION 'use CALL bench.fill_pgq for PgQ';
	END IF;
	RETURN missing;
END
$$;

-- Fill PgQ queue name with n events, ticking every per_tick events, as
-- pgqd would under load (queue_ticker_max_count defaults to 500): each
-- batch its consumer gets then holds per_tick events. A procedure, so that
-- the events and each tick commit separately.
CREATE PROCEDURE bench.fill_pgq(name text, n bigint, per_tick int, body text)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pgq.set_queue_config(name, 'ticker_max_count', per_tick::text);
	COMMIT;
	FOR i IN 1 .. greatest(1, n / per_tick) LOOP
		PERFORM pgq.insert_event(name, 'bench', body) FROM generate_series(1, per_tick);
		COMMIT;
		PERFORM pgq.ticker(name);
		COMMIT;
	END LOOP;
END
$$;

-- bench/storage, delayed backlog: n messages delayed 15 minutes.
CREATE FUNCTION bench.delayed_backlog(sys text, name text, n bigint, body text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	k int;
BEGIN
	IF sys = 'sqsn' THEN
		FOR i IN 0 .. (n - 1) / 1000 LOOP
			k := least(1000, n - i * 1000);
			PERFORM sqsn.sq_send_batch(name, array_fill(body, ARRAY[k]), delay_seconds => 900);
		END LOOP;
	ELSE
		EXECUTE format('INSERT INTO bench.%I (message_id, body, sent_at, visible_at, expires_at)'
			' SELECT gen_random_uuid(), $1, now(), now() + interval ''900 s'', now() + interval ''345600 s'''
			' FROM generate_series(1, $2)', name) USING body, n;
	END IF;
END
$$;
