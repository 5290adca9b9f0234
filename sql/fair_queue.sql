-- Fair receives: a standard queue holding messages with a group id gives
-- each group a turn, in the order of the group ids, so a group with a
-- backlog does not hold back the others; the turn closing each round takes
-- the oldest message, grouped or not. A queue without group ids receives
-- in send order as before. Fair receives need an index of the grouped
-- messages, made once the queue holds one.

SELECT sqsn.sq_create_queue('fq');
SELECT sqsn.sq_create_queue('fq_dlq');
-- no index of grouped messages until the queue holds one
CREATE FUNCTION pg_temp.group_index(q text) RETURNS text
LANGUAGE sql AS $$
	SELECT regexp_replace(indexdef, 'q_[0-9]+', 'q_N', 'g')
	FROM pg_indexes WHERE schemaname = 'sqsn'
	  AND tablename = (SELECT 'q_' || queue_id FROM sqsn.queue WHERE queue_name = q)
	  AND indexdef LIKE '%message_group_id%' $$;
SELECT pg_temp.group_index('fq');

-- a backlog of group "a", then three messages each of groups "b" and "c",
-- then two without a group
SELECT count(sqsn.sq_send('fq', 'a' || i, message_group_id => 'a')) FROM generate_series(1, 12) i;
SELECT count(sqsn.sq_send('fq', g || i, message_group_id => g))
FROM generate_series(1, 3) i, unnest(ARRAY['b', 'c']) g;
SELECT count(sqsn.sq_send('fq', 'none' || i)) FROM generate_series(1, 2) i;
-- the maintenance sweep (or the worker) makes the index the sends asked for
SELECT count(*) FROM sqsn.run_maintenance();
SELECT pg_temp.group_index('fq');

-- one message per receive: a, b, c, then the oldest (a), round after round
CREATE TEMP TABLE got (n serial, body text, grp text);
DO $$
BEGIN
	FOR i IN 1..12 LOOP
		INSERT INTO got (body, grp)
		SELECT body, message_group_id FROM sqsn.sq_receive('fq', 1, 300);
	END LOOP;
END $$;
SELECT string_agg(body, ' ' ORDER BY n) AS received FROM got;

-- a batch takes its messages turn by turn too, and once no group has a
-- visible message left the rest come in send order
SELECT string_agg(body, ' ' ORDER BY body) AS batch
FROM sqsn.sq_receive('fq', 10, 300);

-- leased messages wait for their lease like on any queue
SELECT count(*) AS nothing_left FROM sqsn.sq_receive('fq', 10, 300);

-- the receive limit still moves a poison message to the dead-letter queue
SELECT sqsn.sq_create_queue('fq2', dead_letter_queue => 'fq_dlq', max_receive_count => 1);
SELECT sqsn.sq_send('fq2', 'poison', message_group_id => 'p') IS NOT NULL AS sent;
SELECT sqsn.sq_send('fq2', 'fine', message_group_id => 'q') IS NOT NULL AS sent;
SELECT count(*) FROM sqsn.run_maintenance();
SELECT body FROM sqsn.sq_receive('fq2', 1, 0);
-- "poison" was received once already: over maxReceiveCount, it moves
SELECT string_agg(body, ' ' ORDER BY body) AS received FROM sqsn.sq_receive('fq2', 10, 300);
SELECT body FROM sqsn.sq_receive('fq_dlq', 10, 300);

SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY['fq', 'fq2', 'fq_dlq']) q;
