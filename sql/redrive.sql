-- Redrive: sq_redrive moves dead-letter messages back to the queues they
-- came from, or to a named queue, keeping id, body and attributes and
-- resetting the receive count; messages in flight and messages without a
-- source stay; the rate limit spreads the work; errors and privileges.

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

SELECT sqsn.sq_create_queue('rd_dead');
SELECT sqsn.sq_create_queue('rd_a', dead_letter_queue => 'rd_dead', max_receive_count => 1);
SELECT sqsn.sq_create_queue('rd_b', dead_letter_queue => 'rd_dead', max_receive_count => 1);
SELECT sqsn.sq_create_queue('rd_other');

-- exhausted messages land in the dead-letter queue
SELECT sqsn.sq_send('rd_a', 'a1', '{"k": "v"}') AS a1_id \gset
SELECT sqsn.sq_send('rd_b', 'b1') IS NOT NULL AS sent;
SELECT sqsn.sq_send('rd_a', 'a2') IS NOT NULL AS sent;
SELECT count(*) FROM sqsn.sq_receive('rd_a', 10, 0);
SELECT count(*) FROM sqsn.sq_receive('rd_b', 10, 0);
SELECT count(*) FROM sqsn.sq_receive('rd_a', 10, 0);
SELECT count(*) FROM sqsn.sq_receive('rd_b', 10, 0);
SELECT sqsn.sq_send('rd_dead', 'sent to the dlq') IS NOT NULL AS sent;
SELECT pg_temp.bodies('rd_dead') AS dlq, pg_temp.bodies('rd_a') AS a, pg_temp.bodies('rd_b') AS b;

-- redrive_returns_messages_to_their_source_queues
SELECT sqsn.sq_redrive('rd_dead') AS moved;
SELECT pg_temp.bodies('rd_dead') AS dlq, pg_temp.bodies('rd_a') AS a, pg_temp.bodies('rd_b') AS b;

-- redriven_message_keeps_id_body_attributes_and_starts_counting_again
SELECT message_id = :'a1_id' AS same_id, body, message_attributes, receive_count
FROM sqsn.sq_receive('rd_a', 1, 0);

-- redriven_messages_can_exhaust_again
SELECT count(*) FROM sqsn.sq_receive('rd_a', 10, 0);
SELECT pg_temp.bodies('rd_dead') AS dlq, pg_temp.bodies('rd_a') AS a;

-- redrive_to_a_named_queue_moves_every_visible_message
SELECT body, receive_count FROM sqsn.sq_receive('rd_dead', 1, 600);
SELECT sqsn.sq_redrive('rd_dead', 'rd_other') AS moved;
SELECT pg_temp.bodies('rd_dead') AS dlq_in_flight, pg_temp.bodies('rd_other') AS other;
SELECT body, receive_count FROM sqsn.sq_receive('rd_other', 10, 0);

-- nothing_to_redrive_returns_0
SELECT sqsn.sq_redrive('rd_dead', 'rd_other') AS moved;

-- rate_limit_spreads_the_moves
SELECT count(*) FROM sqsn.sq_send_batch('rd_other', ARRAY['r1', 'r2', 'r3', 'r4']);
SELECT sqsn.sq_redrive('rd_other', 'rd_b', max_messages_per_second => 2) AS moved,
	clock_timestamp() - statement_timestamp() >= interval '1 second' AS took_a_second;
SELECT pg_temp.bodies('rd_b') AS b;

-- redrive_errors
SELECT pg_temp.err($$SELECT sqsn.sq_redrive(NULL)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('rd_nope')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('rd_dead', 'rd_nope')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('rd_dead', 'rd_dead')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('rd_dead', 'bad name!')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('rd_dead', NULL, 0)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('rd_dead', NULL, 501)$$);

-- redrive_needs_sqsn_admin
CREATE ROLE rd_consumer;
GRANT sqsn_consumer, sqsn_producer TO rd_consumer;
SET ROLE rd_consumer;
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('rd_dead')$$);
RESET ROLE;
DROP ROLE rd_consumer;

SELECT sqsn.sq_delete_queue('rd_a');
SELECT sqsn.sq_delete_queue('rd_b');
SELECT sqsn.sq_delete_queue('rd_other');
SELECT sqsn.sq_delete_queue('rd_dead');
