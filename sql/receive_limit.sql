-- A receive leases at most max_number_of_messages, whatever plan its
-- statement got. Planned while the queue's table was empty and vacuumed to
-- no page, the lease used to become a nested loop that ran its
-- "LIMIT n FOR UPDATE SKIP LOCKED" subquery again for every row of the
-- table, and leased every visible message (bench/soak saw ReceiveMessage
-- return 43 messages for MaxNumberOfMessages 10).

SELECT sqsn.sq_create_queue('limit_q');
\set ECHO none
SELECT format('VACUUM sqsn.%I', 'q_' || queue_id)
FROM sqsn.queue WHERE queue_name = 'limit_q' \gexec
\set ECHO all

-- the first receive plans the lease on the empty table
SELECT count(*) FROM sqsn.sq_receive('limit_q', 10);

SELECT count(*) FROM sqsn.sq_send_batch('limit_q', array_fill('m'::text, ARRAY[10]));
SELECT count(*) FROM sqsn.sq_send_batch('limit_q', array_fill('m'::text, ARRAY[10]));
SELECT count(*) FROM sqsn.sq_send_batch('limit_q', array_fill('m'::text, ARRAY[10]));

SELECT count(*) FROM sqsn.sq_receive('limit_q', 10);
SELECT count(*) FROM sqsn.sq_receive('limit_q', 3);
SELECT visible, in_flight FROM sqsn.queue_stats WHERE queue_name = 'limit_q';

SELECT sqsn.sq_delete_queue('limit_q');
