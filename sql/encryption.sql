-- Encrypted queues and topics: what is stored (sealed envelopes, no
-- plaintext), round trips through every path that reads or moves a message
-- (receive, batch, FIFO, dead-letter move, redrive, topic fan-out, push
-- outbox), tampering detected with a clear error that loses nothing,
-- switching the attribute, sq_rotate_queue_key, and the errors.
-- The cluster of make test has sqsn.master_key_file set; running without a
-- key, with a wrong key and key rotation are in t/011_encryption.pl.

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

-- err_detail(stmt): like err, with the error's detail (message ids masked)
CREATE FUNCTION pg_temp.err_detail(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || E'\n' ||
		regexp_replace(detail, '[0-9a-f]{8}-[0-9a-f-]{27}', '<id>', 'g');
END
$$;

-- stored(q): the rows of q's message table as they are on disk: whether
-- each is sealed, and whether its body or attributes contain 'secret'.
CREATE FUNCTION pg_temp.stored(q text)
RETURNS TABLE (sealed boolean, envelope boolean, plaintext_visible boolean)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format(
		'SELECT message_attributes IS NOT NULL AND jsonb_typeof(message_attributes) = ''string'','
		' body LIKE ''sqsn1:%%'','
		' body LIKE ''%%secret%%'' OR coalesce(message_attributes::text, '''') LIKE ''%%secret%%'''
		' FROM sqsn.%I ORDER BY msg_seq',
		'q_' || (SELECT queue_id FROM sqsn.queue WHERE queue_name = q));
END
$$;

-- table_of(q): the message table of q
CREATE FUNCTION pg_temp.table_of(q text) RETURNS regclass
LANGUAGE sql AS $$
	SELECT ('sqsn.q_' || queue_id)::regclass FROM sqsn.queue WHERE queue_name = q
$$;

-- encrypted_queue_is_created_and_says_so
SELECT sqsn.sq_create_queue('enc_q', visibility_timeout => 0, encrypted => true);
SELECT sqsn.sq_create_queue('enc_plain', visibility_timeout => 0);
SELECT sqsn.sq_get_queue_attributes('enc_q')->'SqsManagedSseEnabled' AS enc_q_sse,
	sqsn.sq_get_queue_attributes('enc_plain')->'SqsManagedSseEnabled' AS plain_sse;
-- the same again is a no-op; a different setting is refused
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('enc_q', visibility_timeout => 0, encrypted => true)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('enc_q', visibility_timeout => 0)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('enc_plain', visibility_timeout => 0, encrypted => true)$$);

-- send_stores_only_a_sealed_envelope
SELECT sqsn.sq_send('enc_q', 'top secret body', '{"who": "secret agent", "n": {"DataType": "Number", "StringValue": "7"}}') IS NOT NULL AS sent;
SELECT sqsn.sq_send('enc_plain', 'plain secret body') IS NOT NULL AS sent;
SELECT * FROM pg_temp.stored('enc_q');
SELECT * FROM pg_temp.stored('enc_plain');

-- receive_returns_the_plaintext
SELECT body, message_attributes, receive_count FROM sqsn.sq_receive('enc_q');
SELECT body, message_attributes FROM sqsn.sq_receive('enc_plain');
SELECT sqsn.sq_purge_queue('enc_q'), sqsn.sq_purge_queue('enc_plain');

-- batch_send_and_receive_round_trip
SELECT count(*) FROM sqsn.sq_send_batch('enc_q', ARRAY['secret one', 'secret two', 'secret three'],
	ARRAY['{"k": "secret a"}', NULL, '{"k": "secret c"}']::jsonb[]);
SELECT * FROM pg_temp.stored('enc_q');
SELECT body, message_attributes FROM sqsn.sq_receive('enc_q', 10) ORDER BY body;
-- the message size limit applies to the plaintext, not the envelope
SELECT sqsn.sq_set_queue_attributes('enc_q', '{"MaximumMessageSize": 1024}');
SELECT pg_temp.err(format('SELECT sqsn.sq_send(%L, %L)', 'enc_q', repeat('x', 1024)));
SELECT pg_temp.err(format('SELECT sqsn.sq_send(%L, %L)', 'enc_q', repeat('x', 1025)));
SELECT sqsn.sq_set_queue_attributes('enc_q', '{"MaximumMessageSize": 262144}');
SELECT sqsn.sq_purge_queue('enc_q');

-- fifo_encrypted_queue_keeps_order_and_deduplicates_by_content
SELECT sqsn.sq_create_queue('enc_f.fifo', content_based_deduplication => true, encrypted => true);
SELECT sqsn.sq_send('enc_f.fifo', 'secret f1', message_group_id => 'g') AS f1 \gset
SELECT sqsn.sq_send('enc_f.fifo', 'secret f1', message_group_id => 'g') = :'f1' AS deduplicated;
SELECT sqsn.sq_send('enc_f.fifo', 'secret f2', message_group_id => 'g') IS NOT NULL AS sent;
SELECT * FROM pg_temp.stored('enc_f.fifo');
SELECT body, message_group_id FROM sqsn.sq_receive('enc_f.fifo', 10);

-- dead_letter_move_opens_and_reseals_for_the_destination
SELECT sqsn.sq_create_queue('enc_dlq', encrypted => true);
SELECT sqsn.sq_create_queue('plain_dlq');
SELECT sqsn.sq_create_queue('enc_src', visibility_timeout => 0, dead_letter_queue => 'enc_dlq', max_receive_count => 1, encrypted => true);
SELECT sqsn.sq_create_queue('enc_src2', visibility_timeout => 0, dead_letter_queue => 'plain_dlq', max_receive_count => 1, encrypted => true);
SELECT sqsn.sq_send('enc_src', 'secret to dlq', '{"k": "secret attr"}') AS d1 \gset
SELECT sqsn.sq_send('enc_src2', 'secret to plain dlq') AS d2 \gset
SELECT count(*) FROM sqsn.sq_receive('enc_src');
SELECT count(*) FROM sqsn.sq_receive('enc_src');  -- over the limit: moved
SELECT count(*) FROM sqsn.sq_receive('enc_src2');
SELECT count(*) FROM sqsn.sq_receive('enc_src2');
SELECT * FROM pg_temp.stored('enc_dlq');
SELECT * FROM pg_temp.stored('plain_dlq');  -- an unencrypted DLQ stores the clear text
SELECT message_id = :'d1' AS same_id, body, message_attributes FROM sqsn.sq_receive('enc_dlq', 1, 0);
SELECT message_id = :'d2' AS same_id, body FROM sqsn.sq_receive('plain_dlq', 1, 0);

-- redrive_moves_sealed_messages_back
SELECT sqsn.sq_redrive('enc_dlq');
SELECT * FROM pg_temp.stored('enc_src');
SELECT message_id = :'d1' AS same_id, body, message_attributes FROM sqsn.sq_receive('enc_src');
SELECT sqsn.sq_purge_queue('enc_src'), sqsn.sq_purge_queue('plain_dlq');

-- tampering_or_moving_a_sealed_row_is_refused_and_loses_nothing
SELECT sqsn.sq_send('enc_q', 'secret victim') AS v \gset
SELECT sqsn.sq_send('enc_src', 'secret other') IS NOT NULL AS sent;
-- a row copied from another encrypted queue does not open here
SELECT format('INSERT INTO %s (message_id, body, message_attributes, sent_at, visible_at, expires_at)'
	' SELECT message_id, body, message_attributes, sent_at, visible_at, expires_at FROM %s',
	pg_temp.table_of('enc_q'), pg_temp.table_of('enc_src')) AS copy_sql \gset
SELECT format('DELETE FROM %s WHERE message_id <> %L', pg_temp.table_of('enc_q'), :'v') AS keep_victim \gset
:keep_victim;
:copy_sql;
SELECT pg_temp.err_detail($$SELECT count(*) FROM sqsn.sq_receive('enc_q', 10)$$);
-- nothing was leased or counted: the failed receive rolled back
SELECT format('SELECT count(*), sum(receive_count) FROM %s', pg_temp.table_of('enc_q')) AS counts \gset
:counts;
-- a changed envelope fails authentication, with the same error code
SELECT format('DELETE FROM %s WHERE message_id <> %L', pg_temp.table_of('enc_q'), :'v') AS drop_copy \gset
:drop_copy;
SELECT format('UPDATE %s SET body = overlay(body placing CASE WHEN substr(body, 30, 1) = ''A'' THEN ''B'' ELSE ''A'' END from 30 for 1)',
	pg_temp.table_of('enc_q')) AS flip \gset
:flip;
SELECT pg_temp.err_detail($$SELECT count(*) FROM sqsn.sq_receive('enc_q', 10)$$);
SELECT format('UPDATE %s SET body = ''sqsn1:AAAA''', pg_temp.table_of('enc_q')) AS truncate_it \gset
:truncate_it;
SELECT pg_temp.err_detail($$SELECT count(*) FROM sqsn.sq_receive('enc_q', 10)$$);
:counts;
SELECT sqsn.sq_purge_queue('enc_q'), sqsn.sq_purge_queue('enc_src');

-- switching_the_attribute_applies_to_new_messages_and_rotation_rewrites_the_rest
SELECT sqsn.sq_send('enc_q', 'secret sealed earlier') IS NOT NULL AS sent;
SELECT sqsn.sq_set_queue_attributes('enc_q', '{"SqsManagedSseEnabled": "false"}');
SELECT sqsn.sq_get_queue_attributes('enc_q')->'SqsManagedSseEnabled' AS sse;
SELECT sqsn.sq_send('enc_q', 'secret sent in the clear') IS NOT NULL AS sent;
SELECT * FROM pg_temp.stored('enc_q');
SELECT body FROM sqsn.sq_receive('enc_q', 10, 0) ORDER BY body;
-- rotation in an unencrypted queue opens the sealed rows
SELECT sqsn.sq_rotate_queue_key('enc_q') AS rewritten;
SELECT * FROM pg_temp.stored('enc_q');
SELECT sqsn.sq_set_queue_attributes('enc_q', '{"SqsManagedSseEnabled": true}');
SELECT sqsn.sq_send('enc_q', 'secret sealed again') IS NOT NULL AS sent;
SELECT * FROM pg_temp.stored('enc_q');
-- in an encrypted queue it seals the clear rows; rows under the current
-- key are left alone, so a second run rewrites nothing
SELECT sqsn.sq_rotate_queue_key('enc_q') AS rewritten;
SELECT sqsn.sq_rotate_queue_key('enc_q') AS rewritten_again;
SELECT * FROM pg_temp.stored('enc_q');
SELECT body FROM sqsn.sq_receive('enc_q', 10, 0) ORDER BY body;
SELECT sqsn.sq_purge_queue('enc_q');

-- topic_fan_out_follows_each_queue_and_the_push_outbox_is_sealed
SELECT sqsn.sn_create_topic('enc_t', encrypted => true);
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic('enc_t')$$);
SELECT sqsn.sn_create_topic('enc_t', encrypted => true);
SELECT sqsn.sn_subscribe('enc_t', 'sqs', 'enc_q') IS NOT NULL AS raw_off;
SELECT sqsn.sn_subscribe('enc_t', 'sqs', 'enc_plain', raw_message_delivery => true) IS NOT NULL AS raw_on;
SELECT sqsn.sn_subscribe('enc_t', 'http', 'http://hooks.example.com/enc') AS hs \gset
SELECT sqsn.sn_confirm_subscription('enc_t', confirmation_token) = :'hs' AS confirmed
FROM sqsn.subscription WHERE subscription_id = :'hs';
SELECT sqsn.sn_publish('enc_t', 'published secret', '{"k": "secret attr"}', subject => 'secret subject') AS pm \gset
SELECT * FROM pg_temp.stored('enc_q');
SELECT * FROM pg_temp.stored('enc_plain');
SELECT message_id = :'pm' AS same_id, subject IS NULL AS no_subject, message LIKE 'sqsn1:%' AS envelope,
	message LIKE '%secret%' AS plaintext_visible, message_attributes
FROM sqsn.delivery WHERE subscription_id = :'hs' AND message_type = 'Notification';
SELECT body::jsonb->>'Message' AS message, body::jsonb->>'Subject' AS subject FROM sqsn.sq_receive('enc_q');
SELECT body, message_attributes FROM sqsn.sq_receive('enc_plain');
-- the topic attribute switches the outbox back to the clear
SELECT sqsn.sn_set_topic_attributes('enc_t', '{"SqsManagedSseEnabled": "false"}');
SELECT sqsn.sn_publish('enc_t', 'clear secret') AS pm2 \gset
SELECT message, message_attributes FROM sqsn.delivery WHERE message_id = :'pm2';
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('enc_t', '{"SqsManagedSseEnabled": "maybe"}')$$);
DELETE FROM sqsn.delivery WHERE subscription_id = :'hs';
SELECT sqsn.sn_delete_topic('enc_t');
SELECT sqsn.sq_purge_queue('enc_q'), sqsn.sq_purge_queue('enc_plain');

-- errors
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('enc_q', '{"SqsManagedSseEnabled": "maybe"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_rotate_queue_key('no_such_queue')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_rotate_queue_key(NULL)$$);
-- the key settings are superuser-only and the key never shows (the
-- SQLSTATE only: PostgreSQL 16 reworded the message)
SET ROLE sqsn_admin;
SELECT split_part(pg_temp.err($$SHOW sqsn.master_key_file$$), ':', 1) AS err;
RESET ROLE;

-- clean up
SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY['enc_src', 'enc_src2', 'enc_dlq', 'plain_dlq',
	'enc_q', 'enc_plain', 'enc_f.fifo']) AS q;
