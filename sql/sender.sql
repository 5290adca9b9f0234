-- Senders: every message records the role that sent it (the endpoint's
-- SenderId), kept through a move to a dead-letter queue and a redrive back,
-- and the queue a dead-lettered message came from (the endpoint's
-- DeadLetterQueueSourceArn). A queue's table made before the 0.5 update
-- has no sender column: sends and moves still work and record none.

DROP ROLE IF EXISTS regress_s_app;
CREATE ROLE regress_s_app IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;

-- origins(q): body, sender (the superuser shows as "superuser") and source
-- queue of each message of q, in sending order.
CREATE FUNCTION pg_temp.origins(q text)
RETURNS TABLE (body text, sender text, source_queue text)
LANGUAGE plpgsql AS $$
DECLARE
	has_sender boolean;
BEGIN
	SELECT EXISTS (SELECT FROM pg_attribute
		WHERE attrelid = format('sqsn.q_%s', queue_id)::regclass
		AND attname = 'sender_id' AND NOT attisdropped)
	INTO has_sender FROM sqsn.queue WHERE queue_name = q;
	RETURN QUERY EXECUTE format(
		'SELECT m.body, CASE WHEN m.s = %L::regrole THEN %L ELSE m.s::regrole::text END,'
		' (SELECT queue_name FROM sqsn.queue WHERE queue_id = m.source_queue_id)'
		' FROM (SELECT *, %s AS s FROM sqsn.q_%s) m ORDER BY m.msg_seq',
		session_user, 'superuser',
		CASE WHEN has_sender THEN 'sender_id' ELSE 'NULL::oid' END,
		(SELECT queue_id FROM sqsn.queue WHERE queue_name = q));
END
$$;

SELECT sqsn.sq_create_queue('snd_dead');
SELECT sqsn.sq_create_queue('snd_src', dead_letter_queue => 'snd_dead', max_receive_count => 1);
SELECT sqsn.sq_grant('snd_src', 'regress_s_app', ARRAY['send', 'receive']);

-- send_records_the_sending_role: the superuser, a role taken with SET ROLE
-- (single sends and a batch, one insert of several rows)
SELECT sqsn.sq_send('snd_src', 'by superuser') IS NOT NULL AS sent;
SET ROLE regress_s_app;
SELECT sqsn.sq_send('snd_src', 'by app') IS NOT NULL AS sent;
SELECT count(*) FROM sqsn.sq_send_batch('snd_src', ARRAY['app batch 1', 'app batch 2']);
RESET ROLE;
SELECT * FROM pg_temp.origins('snd_src');

-- a_dead_lettered_message_keeps_its_sender_and_names_its_source
SELECT count(*) AS received FROM sqsn.sq_receive('snd_src', 10, 0);
SELECT count(*) AS received_again FROM sqsn.sq_receive('snd_src', 10, 0);
SELECT * FROM pg_temp.origins('snd_src');
SELECT * FROM pg_temp.origins('snd_dead');

-- a_redrive_keeps_the_sender_and_forgets_the_source
SELECT sqsn.sq_redrive('snd_dead') AS moved;
SELECT * FROM pg_temp.origins('snd_src');

-- a_topic_copy_is_sent_by_the_publisher
SELECT sqsn.sn_create_topic('snd_topic');
SELECT sqsn.sn_grant('snd_topic', 'regress_s_app', ARRAY['publish']);
SELECT sqsn.sq_create_queue('snd_sub');
SELECT sqsn.sn_subscribe('snd_topic', 'sqs', 'snd_sub', raw_message_delivery => true) IS NOT NULL AS subscribed;
SET ROLE regress_s_app;
SELECT sqsn.sn_publish('snd_topic', 'published by app') IS NOT NULL AS published;
RESET ROLE;
SELECT * FROM pg_temp.origins('snd_sub');

-- a_table_without_the_sender_column: as made before the 0.5 update; sends
-- (one, several), a move to a dead-letter queue that has the column and a
-- redrive back work, and what has no sender stays without one
SELECT sqsn.sq_create_queue('snd_old', dead_letter_queue => 'snd_dead', max_receive_count => 1);
DO $$ BEGIN EXECUTE format('ALTER TABLE sqsn.q_%s DROP COLUMN sender_id',
	(SELECT queue_id FROM sqsn.queue WHERE queue_name = 'snd_old')); END $$;
SELECT sqsn.sq_send('snd_old', 'old one') IS NOT NULL AS sent;
SELECT count(*) FROM sqsn.sq_send_batch('snd_old', ARRAY['old two', 'old three']);
SELECT * FROM pg_temp.origins('snd_old');
SELECT count(*) AS received FROM sqsn.sq_receive('snd_old', 1, 0);
SELECT count(*) AS received_again FROM sqsn.sq_receive('snd_old', 1, 0);
SELECT * FROM pg_temp.origins('snd_dead');
SELECT sqsn.sq_redrive('snd_dead') AS moved;
SELECT * FROM pg_temp.origins('snd_old');
SELECT * FROM pg_temp.origins('snd_src');

-- the column comes back as the update adds it (a nullable oid): the next
-- send records its sender again
DO $$ BEGIN EXECUTE format('ALTER TABLE sqsn.q_%s ADD COLUMN IF NOT EXISTS sender_id oid',
	(SELECT queue_id FROM sqsn.queue WHERE queue_name = 'snd_old')); END $$;
SELECT sqsn.sq_grant('snd_old', 'regress_s_app', ARRAY['send']);
SET ROLE regress_s_app;
SELECT sqsn.sq_send('snd_old', 'after the update') IS NOT NULL AS sent;
RESET ROLE;
SELECT * FROM pg_temp.origins('snd_old');

SELECT sqsn.sn_delete_topic('snd_topic');
SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY['snd_src', 'snd_old', 'snd_sub', 'snd_dead']) AS q;
DROP ROLE regress_s_app;
