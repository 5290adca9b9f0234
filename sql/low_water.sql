-- Low-water marks: receives move them on (at most every
-- sqsn.low_water_interval), and a receive never misses a message because of
-- them. The isolation spec low_water covers concurrent senders.
--
-- msg_seq comes from one sequence shared by every queue, so the marks are
-- shown relative to the last value it had handed out before a queue's first
-- message (:base).
SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS base
FROM sqsn.message_seq \gset

SELECT sqsn.sq_create_queue('lw_q', visibility_timeout => 600);
SELECT count(sqsn.sq_send('lw_q', 'm' || i)) AS sent FROM generate_series(1, 5) i;
-- receive and delete all five: the next receives walk past them
SELECT count(sqsn.sq_delete('lw_q', receipt_handle)) AS deleted FROM sqsn.sq_receive('lw_q', 10);
SELECT pg_sleep(0.3);
SELECT count(*) AS received FROM sqsn.sq_receive('lw_q', 10);   -- step 1
SELECT pg_sleep(0.3);
SELECT count(*) AS received FROM sqsn.sq_receive('lw_q', 10);   -- step 2: the walk
SELECT greatest(hard_after - :base, 0) AS hard_after, greatest(soft_after - :base, 0) AS soft_after, soft_until
FROM sqsn.queue_low_water WHERE queue_name = 'lw_q';

-- a message delayed at the head is passed until it is due; one in flight
-- until its lease ends; the soft mark says until when
SELECT count(sqsn.sq_send('lw_q', 'delayed', delay_seconds => 900)) AS sent;
SELECT count(sqsn.sq_send('lw_q', 'leased')) AS sent;
SELECT body FROM sqsn.sq_receive('lw_q', 1);
SELECT count(sqsn.sq_send('lw_q', 'visible')) AS sent;
SELECT pg_sleep(0.3);
SELECT count(*) FROM sqsn.sq_receive('lw_q', 10, visibility_timeout => 0);
SELECT pg_sleep(0.3);
SELECT body FROM sqsn.sq_receive('lw_q', 10, visibility_timeout => 0);
SELECT greatest(hard_after - :base, 0) AS hard_after, greatest(soft_after - :base, 0) AS soft_after,
	soft_until > now() + interval '500 s' AS until_lease_end
FROM sqsn.queue_low_water WHERE queue_name = 'lw_q';

-- purge (TRUNCATE) keeps the numbering: new messages come after the marks
SELECT sqsn.sq_purge_queue('lw_q');
SELECT count(sqsn.sq_send('lw_q', 'after purge')) AS sent;
SELECT body FROM sqsn.sq_receive('lw_q', 10, visibility_timeout => 0);

-- with sqsn.low_water_interval = 0 receives take no step
SELECT sqsn.sq_create_queue('lw_off');
SET sqsn.low_water_interval = 0;
SELECT count(sqsn.sq_send('lw_off', 'x')) AS sent;
SELECT count(sqsn.sq_delete('lw_off', receipt_handle)) AS deleted FROM sqsn.sq_receive('lw_off', 10);
SELECT pg_sleep(0.3);
SELECT count(*) FROM sqsn.sq_receive('lw_off', 10);
SELECT pg_sleep(0.3);
SELECT count(*) FROM sqsn.sq_receive('lw_off', 10);
SELECT count(*) AS marked FROM sqsn.queue_low_water WHERE queue_name = 'lw_off';
RESET sqsn.low_water_interval;

-- FIFO queues have no marks
SELECT sqsn.sq_create_queue('lw_f.fifo');
SELECT count(sqsn.sq_send('lw_f.fifo', 'f', message_group_id => 'g', message_deduplication_id => 'd')) AS sent;
SELECT count(sqsn.sq_delete('lw_f.fifo', receipt_handle)) AS deleted FROM sqsn.sq_receive('lw_f.fifo', 10);
SELECT pg_sleep(0.3);
SELECT count(*) FROM sqsn.sq_receive('lw_f.fifo', 10);
SELECT count(*) AS marked FROM sqsn.queue_low_water WHERE queue_name = 'lw_f.fifo';

-- a queue deleted and created again under the same name starts afresh
SELECT sqsn.sq_delete_queue('lw_q');
SELECT sqsn.sq_create_queue('lw_q');
SELECT count(sqsn.sq_send('lw_q', 'new ' || i)) AS sent FROM generate_series(1, 2) i;
SELECT body FROM sqsn.sq_receive('lw_q', 10, visibility_timeout => 0) ORDER BY body;

-- a step inside a transaction that deleted messages takes no walk: were
-- the marks to pass the deleted messages, a rollback would bring them back
-- below the marks
SET sqsn.low_water_interval = 0;
SELECT sqsn.sq_create_queue('lw_rb');
SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS base
FROM sqsn.message_seq \gset
SELECT count(sqsn.sq_send('lw_rb', 'rb' || i)) AS sent FROM generate_series(1, 3) i;
SELECT count(*) AS swept FROM sqsn.run_maintenance();   -- step 1
BEGIN;
SELECT count(sqsn.sq_delete('lw_rb', receipt_handle)) AS deleted FROM sqsn.sq_receive('lw_rb', 10);
SELECT count(*) AS swept FROM sqsn.run_maintenance();   -- no walk here
ROLLBACK;
SELECT greatest(hard_after - :base, 0) AS hard_after, greatest(soft_after - :base, 0) AS soft_after
FROM sqsn.queue_low_water WHERE queue_name = 'lw_rb';
SELECT body FROM sqsn.sq_receive('lw_rb', 10, visibility_timeout => 0) ORDER BY body;
SELECT count(*) AS swept FROM sqsn.run_maintenance();   -- now the walk
SELECT greatest(hard_after - :base, 0) AS hard_after, greatest(soft_after - :base, 0) AS soft_after
FROM sqsn.queue_low_water WHERE queue_name = 'lw_rb';
RESET sqsn.low_water_interval;

-- only sqsn_admin may look
CREATE ROLE regress_lw_consumer IN ROLE sqsn_consumer;
SET ROLE regress_lw_consumer;
SELECT count(*) FROM sqsn.queue_low_water;
RESET ROLE;
DROP ROLE regress_lw_consumer;

SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY['lw_q', 'lw_off', 'lw_f.fifo', 'lw_rb']) q;
