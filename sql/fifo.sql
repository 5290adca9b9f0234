-- FIFO queues: names, attributes, sends with message groups and
-- deduplication, ordered group-exclusive receives, dead-letter queues and
-- redrive, and every error that belongs to them.

CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- kind and attributes
SELECT sqsn.sq_create_queue('ff_q.fifo');
SELECT sqsn.sq_create_queue('ff_cb.fifo', content_based_deduplication => true,
	deduplication_scope => 'message_group');
SELECT sqsn.sq_create_queue('ff_std');
SELECT kind, content_based_deduplication, deduplication_scope
FROM sqsn.queue WHERE queue_name IN ('ff_q.fifo', 'ff_cb.fifo', 'ff_std') ORDER BY queue_name;
SELECT a->'FifoQueue' AS fifo, a->'ContentBasedDeduplication' AS cbd,
	a->'DeduplicationScope' AS scope
FROM (SELECT sqsn.sq_get_queue_attributes('ff_cb.fifo') AS a) s;
SELECT sqsn.sq_get_queue_attributes('ff_std') ? 'FifoQueue' AS standard_shows_fifo;
-- the message table of a FIFO queue has the group index
SELECT count(*) AS group_indexes FROM pg_indexes
WHERE schemaname = 'sqsn' AND indexdef LIKE '%(message_group_id, msg_seq)%'
AND tablename = (SELECT 'q_' || queue_id FROM sqsn.queue WHERE queue_name = 'ff_q.fifo');
-- creating again with the same settings is a no-op; other settings fail
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('ff_cb.fifo', content_based_deduplication => true, deduplication_scope => 'message_group')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('ff_cb.fifo')$$);

-- names and settings that are refused
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('.fifo')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('a.b.fifo')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('ff_x.FIFO')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue(repeat('a', 76) || '.fifo')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue(repeat('a', 75) || '.fifo')$$);
SELECT sqsn.sq_delete_queue(repeat('a', 75) || '.fifo');
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('ff_x', content_based_deduplication => true)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('ff_x', deduplication_scope => 'message_group')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('ff_x.fifo', deduplication_scope => 'group')$$);

-- attributes: deduplication settings are mutable, FifoQueue is not
SELECT sqsn.sq_set_queue_attributes('ff_q.fifo',
	'{"ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup"}');
SELECT a->'ContentBasedDeduplication' AS cbd, a->'DeduplicationScope' AS scope
FROM (SELECT sqsn.sq_get_queue_attributes('ff_q.fifo') AS a) s;
SELECT sqsn.sq_set_queue_attributes('ff_q.fifo',
	'{"ContentBasedDeduplication": false, "DeduplicationScope": "messageQueue", "FifoQueue": true}');
SELECT a->'ContentBasedDeduplication' AS cbd, a->'DeduplicationScope' AS scope
FROM (SELECT sqsn.sq_get_queue_attributes('ff_q.fifo') AS a) s;
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('ff_q.fifo', '{"FifoQueue": false}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('ff_std', '{"FifoQueue": true}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('ff_std', '{"ContentBasedDeduplication": true}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('ff_std', '{"DeduplicationScope": "messageGroup"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('ff_q.fifo', '{"ContentBasedDeduplication": "yes"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('ff_q.fifo', '{"DeduplicationScope": 1}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('ff_q.fifo', '{"DeduplicationScope": "perQueue"}')$$);

-- sends that are refused, and change nothing
SELECT pg_temp.err($$SELECT sqsn.sq_send('ff_q.fifo', 'x')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('ff_q.fifo', 'x', message_group_id => 'g')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('ff_q.fifo', 'x', delay_seconds => 0, message_group_id => 'g', message_deduplication_id => 'd')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('ff_q.fifo', 'x', message_group_id => '', message_deduplication_id => 'd')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('ff_q.fifo', 'x', message_group_id => 'a b', message_deduplication_id => 'd')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('ff_q.fifo', 'x', message_group_id => 'g', message_deduplication_id => repeat('d', 129))$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('ff_q.fifo', 'x', message_group_id => 'g', message_deduplication_id => 'é')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('ff_std', 'x', message_deduplication_id => 'd')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('ff_q.fifo', ARRAY['x', 'y'], message_group_ids => ARRAY['g'], message_deduplication_ids => ARRAY['d1', 'd2'])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('ff_q.fifo', ARRAY['x', 'y'], message_group_ids => ARRAY['g', NULL], message_deduplication_ids => ARRAY['d1', 'd2'])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('ff_q.fifo', ARRAY['x', 'y'], message_group_ids => ARRAY['g', 'g'])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('ff_q.fifo', ARRAY['x'], delay_seconds => 5, message_group_ids => ARRAY['g'], message_deduplication_ids => ARRAY['d'])$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('ff_std', ARRAY['x'], message_deduplication_ids => ARRAY['d'])$$);
SELECT visible, in_flight, delayed FROM sqsn.queue_stats WHERE queue_name = 'ff_q.fifo';
SELECT count(*) AS dedup_records FROM sqsn.fifo_dedup;

-- deduplication by id: the duplicate returns the first id and stores nothing
CREATE TEMP TABLE ids AS
SELECT 1 AS n, sqsn.sq_send('ff_q.fifo', 'first', message_group_id => 'g1', message_deduplication_id => 'd1') AS id;
INSERT INTO ids SELECT 2, sqsn.sq_send('ff_q.fifo', 'other body', message_group_id => 'g2', message_deduplication_id => 'd1');
INSERT INTO ids SELECT 3, sqsn.sq_send('ff_q.fifo', 'second', message_group_id => 'g1', message_deduplication_id => 'd2');
SELECT (SELECT id FROM ids WHERE n = 1) = (SELECT id FROM ids WHERE n = 2) AS duplicate_has_first_id,
	(SELECT id FROM ids WHERE n = 1) <> (SELECT id FROM ids WHERE n = 3) AS new_id_is_new;
-- a batch: duplicates of earlier sends and of earlier elements
INSERT INTO ids SELECT 3 + ord, id FROM sqsn.sq_send_batch('ff_q.fifo',
	ARRAY['third', 'dup of first', 'fourth', 'dup of third'],
	message_group_ids => ARRAY['g1', 'g1', 'g2', 'g2'],
	message_deduplication_ids => ARRAY['d3', 'd1', 'd4', 'd3']) WITH ORDINALITY AS b(id, ord);
SELECT n, (SELECT min(i2.n) FROM ids i2 WHERE i2.id = ids.id) AS same_id_as FROM ids ORDER BY n;
SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'ff_q.fifo';
-- the dedup record outlives the message: still a duplicate after the delete
SELECT count(*) AS deleted FROM sqsn.sq_receive('ff_q.fifo', 10, 0) r
WHERE r.body = 'first' AND sqsn.sq_delete('ff_q.fifo', r.receipt_handle);
SELECT sqsn.sq_send('ff_q.fifo', 'again', message_group_id => 'g1', message_deduplication_id => 'd1')
	= (SELECT id FROM ids WHERE n = 1) AS still_duplicate;
-- an expired record (older than five minutes) no longer deduplicates
UPDATE sqsn.fifo_dedup SET expires_at = now() - interval '1 second'
WHERE deduplication_id = 'd1';
SELECT sqsn.sq_send('ff_q.fifo', 'after window', message_group_id => 'g1', message_deduplication_id => 'd1')
	<> (SELECT id FROM ids WHERE n = 1) AS new_after_window;
-- the maintenance sweep removes expired records
UPDATE sqsn.fifo_dedup SET expires_at = now() - interval '1 second'
WHERE deduplication_id IN ('d2', 'd3');
SELECT count(*) AS records_before FROM sqsn.fifo_dedup WHERE queue_id = (SELECT queue_id FROM sqsn.queue WHERE queue_name = 'ff_q.fifo');
SELECT messages_expired FROM sqsn.run_maintenance();
SELECT deduplication_id FROM sqsn.fifo_dedup WHERE queue_id = (SELECT queue_id FROM sqsn.queue WHERE queue_name = 'ff_q.fifo') ORDER BY 1;
SELECT sqsn.sq_purge_queue('ff_q.fifo');

-- content-based deduplication (SHA-256 of the body), per group here
SELECT sqsn.sq_send('ff_cb.fifo', 'same', message_group_id => 'g1')
	= sqsn.sq_send('ff_cb.fifo', 'same', message_group_id => 'g1') AS same_body_same_group_deduplicated;
SELECT sqsn.sq_send('ff_cb.fifo', 'same', message_group_id => 'g2')
	<> sqsn.sq_send('ff_cb.fifo', 'same', message_group_id => 'g1') AS other_group_not_deduplicated;
-- an explicit id wins over the body hash
SELECT sqsn.sq_send('ff_cb.fifo', 'same', message_group_id => 'g1', message_deduplication_id => 'x')
	<> sqsn.sq_send('ff_cb.fifo', 'same', message_group_id => 'g1') AS explicit_id_used;
SELECT deduplication_id FROM sqsn.fifo_dedup
WHERE queue_id = (SELECT queue_id FROM sqsn.queue WHERE queue_name = 'ff_cb.fifo')
ORDER BY scope_key, deduplication_id;
SELECT body, message_group_id, message_deduplication_id = encode(sha256(body::bytea), 'hex') AS hashed
FROM sqsn.sq_receive('ff_cb.fifo', 10, 0) ORDER BY sequence_number;

-- receive: in order within a group, several of one group per call, and a
-- group with a message in flight gives nothing until it is deleted or its
-- lease ends
SELECT sqsn.sq_purge_queue('ff_q.fifo');
SELECT count(*) FROM sqsn.sq_send_batch('ff_q.fifo',
	ARRAY['a1', 'b1', 'a2', 'c1', 'a3', 'b2'],
	message_group_ids => ARRAY['A', 'B', 'A', 'C', 'A', 'B'],
	message_deduplication_ids => ARRAY['1', '2', '3', '4', '5', '6']);
CREATE TEMP TABLE got AS
SELECT body, receipt_handle, message_group_id, sequence_number
FROM sqsn.sq_receive('ff_q.fifo', 2, 30);
SELECT body, message_group_id FROM got;
-- sequence numbers: 20 digits, increasing in send order
SELECT bool_and(sequence_number ~ '^[0-9]{20}$') AS twenty_digits,
	max(sequence_number) FILTER (WHERE body = 'a2') > max(sequence_number) FILTER (WHERE body = 'a1') AS increasing
FROM got;
-- A is in flight: the next receive takes B and C, in order
SELECT body, message_group_id FROM sqsn.sq_receive('ff_q.fifo', 10, 30) ORDER BY sequence_number;
SELECT body FROM sqsn.sq_receive('ff_q.fifo', 10, 30);
-- deleting a1 leaves a2 in flight: still nothing; deleting a2 unblocks a3
SELECT sqsn.sq_delete('ff_q.fifo', receipt_handle) FROM got WHERE body = 'a1';
SELECT body FROM sqsn.sq_receive('ff_q.fifo', 10, 30);
SELECT sqsn.sq_delete('ff_q.fifo', receipt_handle) FROM got WHERE body = 'a2';
SELECT body, receive_count FROM sqsn.sq_receive('ff_q.fifo', 10, 0);
-- a lease of 0 s: a3 again, received a second time
SELECT body, receive_count FROM sqsn.sq_receive('ff_q.fifo', 10, 30);

-- standard queues keep a group id (a fair-queue hint, no ordering) and
-- have no sequence number
SELECT sqsn.sq_send('ff_std', 'x', message_group_id => 'tenant-1') IS NOT NULL AS sent;
SELECT body, message_group_id, message_deduplication_id, sequence_number
FROM sqsn.sq_receive('ff_std', 10, 30);

-- dead-letter queues: the same kind only
SELECT sqsn.sq_create_queue('ff_dlq.fifo');
SELECT sqsn.sq_create_queue('ff_sdlq');
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('ff_d.fifo', dead_letter_queue => 'ff_sdlq', max_receive_count => 1)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('ff_d', dead_letter_queue => 'ff_dlq.fifo', max_receive_count => 1)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('ff_q.fifo', '{"RedrivePolicy": {"deadLetterQueue": "ff_sdlq", "maxReceiveCount": 1}}')$$);
SELECT sqsn.sq_set_queue_attributes('ff_q.fifo', '{"RedrivePolicy": {"deadLetterQueue": "ff_dlq.fifo", "maxReceiveCount": 1}}');
-- x1, received a second time, goes to the DLQ with its group and
-- deduplication id, and its group continues with x2
SELECT sqsn.sq_purge_queue('ff_q.fifo');
SELECT count(*) FROM sqsn.sq_send_batch('ff_q.fifo', ARRAY['x1', 'x2', 'x3'],
	message_group_ids => ARRAY['X', 'X', 'X'], message_deduplication_ids => ARRAY['x1', 'x2', 'x3']);
SELECT body FROM sqsn.sq_receive('ff_q.fifo', 1, 0);
SELECT body, receive_count FROM sqsn.sq_receive('ff_q.fifo', 1, 0);
SELECT body, message_group_id, message_deduplication_id FROM sqsn.sq_receive('ff_dlq.fifo', 10, 0);
-- redrive: back to the source in group order; a standard destination is refused
SELECT sqsn.sq_purge_queue('ff_q.fifo');
SELECT sqsn.sq_set_queue_attributes('ff_q.fifo', '{"RedrivePolicy": {"deadLetterQueue": "ff_dlq.fifo", "maxReceiveCount": 2}}');
SELECT count(*) FROM sqsn.sq_send_batch('ff_q.fifo', ARRAY['y1', 'z1', 'y2', 'z2'],
	message_group_ids => ARRAY['Y', 'Z', 'Y', 'Z'], message_deduplication_ids => ARRAY['y1', 'z1', 'y2', 'z2']);
SELECT count(*) FROM sqsn.sq_receive('ff_q.fifo', 10, 0);
SELECT count(*) FROM sqsn.sq_receive('ff_q.fifo', 10, 0);
SELECT count(*) AS moved_on_third_receive FROM sqsn.sq_receive('ff_q.fifo', 10, 0);
SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'ff_dlq.fifo';
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('ff_dlq.fifo', 'ff_std')$$);
SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'ff_dlq.fifo';
-- a message a DLQ consumer holds (x1) is not redriven; the groups Y and Z
-- arrive in order
CREATE TEMP TABLE held AS SELECT body, receipt_handle FROM sqsn.sq_receive('ff_dlq.fifo', 1, 30);
SELECT body FROM held;
SELECT sqsn.sq_redrive('ff_dlq.fifo') AS redriven;
SELECT body, message_group_id FROM sqsn.sq_receive('ff_q.fifo', 10, 30) ORDER BY sequence_number;
SELECT sqsn.sq_change_visibility('ff_dlq.fifo', receipt_handle, 0) FROM held;
SELECT sqsn.sq_redrive('ff_dlq.fifo') AS redriven;
SELECT sqsn.sq_redrive('ff_dlq.fifo', 'ff_cb.fifo') AS nothing_left;

-- the maintenance sweep moves messages over a lowered receive limit to the
-- DLQ group head first, so the group arrives there in order
SELECT sqsn.sq_purge_queue('ff_q.fifo'), sqsn.sq_purge_queue('ff_dlq.fifo');
SELECT count(*) FROM sqsn.sq_send_batch('ff_q.fifo', ARRAY['w1', 'w2'],
	message_group_ids => ARRAY['W', 'W'], message_deduplication_ids => ARRAY['w1', 'w2']);
SELECT count(*) FROM sqsn.sq_receive('ff_q.fifo', 10, 0);
SELECT count(*) FROM sqsn.sq_receive('ff_q.fifo', 10, 0);
SELECT sqsn.sq_set_queue_attributes('ff_q.fifo', '{"RedrivePolicy": {"deadLetterQueue": "ff_dlq.fifo", "maxReceiveCount": 1}}');
SELECT messages_moved_to_dlq FROM sqsn.run_maintenance();
SELECT messages_moved_to_dlq FROM sqsn.run_maintenance();
SELECT body FROM sqsn.sq_receive('ff_dlq.fifo', 10, 30) ORDER BY sequence_number;

-- scheduled sends cannot target a FIFO queue
SELECT pg_temp.err($$SELECT sqsn.sq_schedule_send('ff_job', '* * * * *', 'ff_q.fifo', 'x')$$);

-- deleting a queue removes its deduplication records
SELECT count(*) > 0 AS had_records FROM sqsn.fifo_dedup
WHERE queue_id = (SELECT queue_id FROM sqsn.queue WHERE queue_name = 'ff_cb.fifo');
CREATE TEMP TABLE cb_id AS SELECT queue_id FROM sqsn.queue WHERE queue_name = 'ff_cb.fifo';
SELECT sqsn.sq_delete_queue('ff_cb.fifo');
SELECT count(*) AS records_left FROM sqsn.fifo_dedup WHERE queue_id = (SELECT queue_id FROM cb_id);

SELECT sqsn.sq_set_queue_attributes('ff_q.fifo', '{"RedrivePolicy": null}');
SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY['ff_q.fifo', 'ff_dlq.fifo', 'ff_std', 'ff_sdlq']) q;
