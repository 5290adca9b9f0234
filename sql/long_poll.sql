-- Long polling in one session: the ReceiveMessageWaitTimeSeconds queue
-- attribute, wait_time_seconds and its range, a wait that ends when a
-- delayed message becomes visible, a wait that runs out, and no wait in
-- REPEATABLE READ. (Waking by another session's commit:
-- test/isolation/specs/long_poll.spec.)

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

SET statement_timeout = '30s';

-- wait_time_attribute_defaults_to_0_and_can_be_set
SELECT sqsn.sq_create_queue('lp_q');
SELECT sqsn.sq_get_queue_attributes('lp_q')->'ReceiveMessageWaitTimeSeconds' AS wait_time;
SELECT sqsn.sq_create_queue('lp_waits', receive_wait_time_seconds => 1);
SELECT sqsn.sq_get_queue_attributes('lp_waits')->'ReceiveMessageWaitTimeSeconds' AS wait_time;
SELECT sqsn.sq_create_queue('lp_waits', receive_wait_time_seconds => 1);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('lp_waits', receive_wait_time_seconds => 2)$$);
SELECT sqsn.sq_set_queue_attributes('lp_q', '{"ReceiveMessageWaitTimeSeconds": "20"}');
SELECT sqsn.sq_get_queue_attributes('lp_q')->'ReceiveMessageWaitTimeSeconds' AS wait_time;
SELECT sqsn.sq_set_queue_attributes('lp_q', '{"ReceiveMessageWaitTimeSeconds": 0}');

-- wait_times_out_of_range_are_rejected
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('lp_bad', receive_wait_time_seconds => 21)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('lp_bad', receive_wait_time_seconds => -1)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('lp_q', '{"ReceiveMessageWaitTimeSeconds": 21}')$$);
SELECT pg_temp.err($$SELECT * FROM sqsn.sq_receive('lp_q', wait_time_seconds => 21)$$);
SELECT pg_temp.err($$SELECT * FROM sqsn.sq_receive('lp_q', wait_time_seconds => -1)$$);

-- receive_with_messages_returns_at_once
-- (The session's first receive prepares its plans, which takes more than a
-- second under valgrind (make valgrind): one untimed receive first, so that
-- the timed ones measure waiting only.)
SELECT count(*) AS received FROM sqsn.sq_receive('lp_q', 1, 0, wait_time_seconds => 0);
SELECT sqsn.sq_send('lp_q', 'ready') IS NOT NULL AS sent;
SELECT body, clock_timestamp() - statement_timestamp() < interval '1 second' AS at_once
FROM sqsn.sq_receive('lp_q', 10, 0, wait_time_seconds => 20);

-- zero_wait_returns_at_once_when_empty
SELECT sqsn.sq_purge_queue('lp_q');
SELECT count(*) AS received, clock_timestamp() - statement_timestamp() < interval '1 second' AS at_once
FROM sqsn.sq_receive('lp_q', 1, 0, wait_time_seconds => 0);

-- wait_runs_out_empty
SELECT count(*) AS received, clock_timestamp() - statement_timestamp() >= interval '1 second' AS waited
FROM sqsn.sq_receive('lp_q', 1, 0, wait_time_seconds => 1);

-- queue_wait_time_applies_when_the_argument_is_null
SELECT count(*) AS received, clock_timestamp() - statement_timestamp() >= interval '1 second' AS waited
FROM sqsn.sq_receive('lp_waits', 1, 0);

-- delayed_message_ends_the_wait_when_it_becomes_visible
SELECT sqsn.sq_send('lp_q', 'delayed', delay_seconds => 2) IS NOT NULL AS sent;
SELECT body,
	clock_timestamp() - statement_timestamp() >= interval '1 second' AS waited_for_the_delay,
	clock_timestamp() - statement_timestamp() < interval '10 seconds' AS not_the_whole_wait
FROM sqsn.sq_receive('lp_q', 1, 1, wait_time_seconds => 20);

-- ended_lease_ends_the_wait
SELECT body,
	clock_timestamp() - statement_timestamp() < interval '10 seconds' AS not_the_whole_wait
FROM sqsn.sq_receive('lp_q', 1, 0, wait_time_seconds => 20);

-- repeatable_read_does_not_wait
SELECT sqsn.sq_purge_queue('lp_q');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) AS received, clock_timestamp() - statement_timestamp() < interval '1 second' AS at_once
FROM sqsn.sq_receive('lp_q', 1, 0, wait_time_seconds => 20);
COMMIT;

-- statement_timeout_cancels_a_waiting_receive
SET statement_timeout = '300ms';
SELECT count(*) FROM sqsn.sq_receive('lp_q', wait_time_seconds => 20);
SET statement_timeout = '30s';
SELECT sqsn.sq_send('lp_q', 'after cancel') IS NOT NULL AS sent;
SELECT body FROM sqsn.sq_receive('lp_q', 1, 0, wait_time_seconds => 1);

SELECT sqsn.sq_delete_queue('lp_q');
SELECT sqsn.sq_delete_queue('lp_waits');
RESET statement_timeout;
