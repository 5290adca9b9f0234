-- Schema of bench/api's throw-away cluster (database postgres, where the
-- endpoint's workers run): the queues each side uses and the helpers that
-- fill and measure them.
--   api_send, sql_send         sends through the endpoint / through SQL
--   api_recv, api_recv_json,   receive+delete through the endpoint (query,
--   sql_recv                   JSON 1.0) / through SQL, topped up alike
--   wake                       long polling (empty; messages sent one by one)
--   load_send, load_recv       the load phase: sends nobody receives; receive
--                              + delete from a prefilled queue

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION sqsn;
CREATE SCHEMA bench;

SELECT sqsn.sq_create_queue(q)
FROM unnest(ARRAY['api_send', 'sql_send', 'api_recv', 'api_recv_json', 'sql_recv', 'wake',
	'load_send', 'load_recv']) q;

-- The message table of a sqsn queue.
CREATE FUNCTION bench.queue_table(name text) RETURNS regclass
LANGUAGE sql STABLE AS $$
	SELECT to_regclass(format('sqsn.%I', 'q_' || q.queue_id))
	FROM sqsn.queue q WHERE q.queue_name = name
$$;

-- Messages in a queue, in flight or not.
CREATE FUNCTION bench.depth(name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s', bench.queue_table(name)) INTO n;
	RETURN n;
END
$$;

-- Fill a queue up to n messages (batches of 1000); the number added.
CREATE FUNCTION bench.top_up(name text, n bigint, body text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	missing bigint := n - bench.depth(name);
BEGIN
	IF missing <= 0 THEN
		RETURN 0;
	END IF;
	FOR i IN 0 .. (missing - 1) / 1000 LOOP
		PERFORM sqsn.sq_send_batch(name, array_fill(body, ARRAY[least(1000, missing - i * 1000)::int]));
	END LOOP;
	RETURN missing;
END
$$;
