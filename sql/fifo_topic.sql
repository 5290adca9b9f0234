-- FIFO topics: names, subscriptions of FIFO queues only, publishing with
-- message groups and deduplication, group order in every subscribed queue.

CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT sqsn.sn_create_topic('ft_orders.fifo');
SELECT sqsn.sn_create_topic('ft_cb.fifo', content_based_deduplication => true);
SELECT sqsn.sn_create_topic('ft_std');
SELECT topic_name, content_based_deduplication FROM sqsn.topic
WHERE topic_name LIKE 'ft\_%' ORDER BY 1;
-- again with the same setting: nothing happens; with another: an error
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic('ft_cb.fifo', true)$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic('ft_cb.fifo')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic('ft_x', content_based_deduplication => true)$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic('.fifo')$$);

SELECT sqsn.sq_create_queue('ft_a.fifo');
SELECT sqsn.sq_create_queue('ft_b.fifo');
SELECT sqsn.sq_create_queue('ft_s');

-- FIFO topics deliver to FIFO queues only, standard topics to standard
-- queues only
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('ft_orders.fifo', 'sqs', 'ft_s')$$);
-- a FIFO topic has no HTTP/HTTPS subscriptions, and a FIFO queue is no
-- subscription's dead-letter queue
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('ft_orders.fifo', 'http', 'http://127.0.0.1:9/')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('ft_std', 'http', 'http://127.0.0.1:9/', redrive_policy => '{"deadLetterTargetArn": "ft_a.fifo"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('ft_std', 'sqs', 'ft_a.fifo')$$);
SELECT count(*) AS subscriptions FROM sqsn.subscription;
SELECT sqsn.sn_subscribe('ft_orders.fifo', 'sqs', 'ft_a.fifo', raw_message_delivery => true) IS NOT NULL AS subscribed;
SELECT sqsn.sn_subscribe('ft_orders.fifo', 'sqs', 'ft_b.fifo',
	filter_policy => '{"kind": ["keep"]}') IS NOT NULL AS subscribed;
SELECT sqsn.sn_subscribe('ft_cb.fifo', 'sqs', 'ft_a.fifo', raw_message_delivery => true) IS NOT NULL AS subscribed;

-- publishes that are refused, and deliver nothing
SELECT pg_temp.err($$SELECT sqsn.sn_publish('ft_orders.fifo', 'x')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('ft_orders.fifo', 'x', message_group_id => 'g')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('ft_orders.fifo', 'x', message_group_id => 'a b', message_deduplication_id => 'd')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('ft_orders.fifo', 'x', message_group_id => 'g', message_deduplication_id => repeat('d', 129))$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('ft_std', 'x', message_group_id => 'a b')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('ft_std', 'x', message_deduplication_id => 'd')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('ft_std', 'x', message_group_id => 'g', message_deduplication_id => 'd')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_batch('ft_std', ARRAY['x'], message_deduplication_ids => ARRAY['d'])$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('ft_nope.fifo', 'x', message_group_id => 'g')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_batch('ft_orders.fifo', ARRAY['x', 'y'], message_group_ids => ARRAY['g'], message_deduplication_ids => ARRAY['1', '2'])$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_batch('ft_orders.fifo', ARRAY['x', 'y'], message_group_ids => ARRAY['g', NULL], message_deduplication_ids => ARRAY['1', '2'])$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_batch('ft_orders.fifo', ARRAY['x', 'y'], message_group_ids => ARRAY['g', 'g'])$$);
SELECT queue_name, visible FROM sqsn.queue_stats WHERE queue_name LIKE 'ft\_%' ORDER BY 1;

-- a publish reaches every matching FIFO queue with its group and
-- deduplication ids; a duplicate returns the first id and delivers nothing
CREATE TEMP TABLE pub AS
SELECT 1 AS n, sqsn.sn_publish('ft_orders.fifo', 'o1', '{"kind": "keep"}',
	message_group_id => 'cust-1', message_deduplication_id => 'o1') AS id;
INSERT INTO pub SELECT 2, sqsn.sn_publish('ft_orders.fifo', 'o1 again', '{"kind": "keep"}',
	message_group_id => 'cust-1', message_deduplication_id => 'o1');
SELECT (SELECT id FROM pub WHERE n = 1) = (SELECT id FROM pub WHERE n = 2) AS duplicate_has_first_id;
INSERT INTO pub SELECT 2 + ord, id FROM sqsn.sn_publish_batch('ft_orders.fifo',
	ARRAY['o2', 'p1', 'o3', 'p2', 'o1 in batch'],
	ARRAY['{"kind": "keep"}', NULL, '{"kind": "keep"}', '{"kind": "drop"}', NULL]::jsonb[],
	message_group_ids => ARRAY['cust-1', 'cust-2', 'cust-1', 'cust-2', 'cust-1'],
	message_deduplication_ids => ARRAY['o2', 'p1', 'o3', 'p2', 'o1']) WITH ORDINALITY AS b(id, ord);
SELECT n, (SELECT min(p2.n) FROM pub p2 WHERE p2.id = pub.id) AS same_id_as FROM pub ORDER BY n;
-- ft_a (raw): everything, in group order
SELECT body, message_group_id, message_deduplication_id
FROM sqsn.sq_receive('ft_a.fifo', 10, 30) ORDER BY sequence_number;
-- ft_b (envelope, filter kind=keep): cust-1 only, in order
SELECT body::jsonb->>'Message' AS message, message_group_id,
	(body::jsonb->>'MessageId')::uuid IN (SELECT id FROM pub) AS envelope_id_is_published_id
FROM sqsn.sq_receive('ft_b.fifo', 10, 30) ORDER BY sequence_number;

-- content-based deduplication: the SHA-256 of the message
SELECT sqsn.sn_publish('ft_cb.fifo', 'same', message_group_id => 'g')
	= sqsn.sn_publish('ft_cb.fifo', 'same', message_group_id => 'g') AS same_message_deduplicated;
SELECT body, message_deduplication_id = encode(sha256('same'::bytea), 'hex') AS hashed
FROM sqsn.sq_receive('ft_a.fifo', 10, 30);

-- ContentBasedDeduplication can be changed later; only on FIFO topics
SELECT pg_temp.err($$SELECT sqsn.sn_publish('ft_orders.fifo', 'no id', message_group_id => 'cb')$$);
SELECT sqsn.sn_set_topic_attributes('ft_orders.fifo', '{"ContentBasedDeduplication": "true"}');
SELECT sqsn.sn_publish('ft_orders.fifo', 'no id', message_group_id => 'cb')
	= sqsn.sn_publish('ft_orders.fifo', 'no id', message_group_id => 'cb') AS deduplicated_by_content;
SELECT sqsn.sn_set_topic_attributes('ft_orders.fifo', '{"ContentBasedDeduplication": false}');
SELECT content_based_deduplication FROM sqsn.topic WHERE topic_name = 'ft_orders.fifo';
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ft_std', '{"ContentBasedDeduplication": true}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ft_orders.fifo', '{"ContentBasedDeduplication": "yes"}')$$);
SELECT body FROM sqsn.sq_receive('ft_a.fifo', 10, 30);

-- a rolled-back publish records no deduplication id
BEGIN;
SELECT sqsn.sn_publish('ft_orders.fifo', 'rolled back', message_group_id => 'h', message_deduplication_id => 'rb') IS NOT NULL AS published;
ROLLBACK;
CREATE TEMP TABLE rb AS SELECT sqsn.sn_publish('ft_orders.fifo', 'kept', message_group_id => 'h', message_deduplication_id => 'rb') AS id;
SELECT body FROM sqsn.sq_receive('ft_a.fifo', 10, 30);

-- a standard topic carries a publish's message group id to its standard
-- queues with each copy
SELECT sqsn.sn_subscribe('ft_std', 'sqs', 'ft_s', raw_message_delivery => true) IS NOT NULL AS subscribed;
SELECT sqsn.sn_publish('ft_std', 's1', message_group_id => 'tenant-1') IS NOT NULL AS published;
SELECT sqsn.sn_publish('ft_std', 's2') IS NOT NULL AS published;
SELECT count(*) FROM sqsn.sn_publish_batch('ft_std', ARRAY['s3', 's4'], message_group_ids => ARRAY['tenant-2', NULL]);
SELECT body, message_group_id, message_deduplication_id, sequence_number
FROM sqsn.sq_receive('ft_s', 10, 30) ORDER BY body;

-- the maintenance sweep removes expired records of topics
UPDATE sqsn.fifo_dedup SET expires_at = now() - interval '1 second'
WHERE queue_id < 0 AND deduplication_id = 'o1';
SELECT count(*) AS expired_topic_records FROM sqsn.fifo_dedup WHERE queue_id < 0 AND expires_at <= now();
SELECT messages_expired FROM sqsn.run_maintenance();
SELECT count(*) AS expired_topic_records FROM sqsn.fifo_dedup WHERE queue_id < 0 AND expires_at <= now();
-- deleting a topic removes its deduplication records
CREATE TEMP TABLE topic_ids AS SELECT topic_id FROM sqsn.topic WHERE topic_name LIKE 'ft\_%';
SELECT count(*) > 0 AS had_records FROM sqsn.fifo_dedup WHERE -queue_id IN (SELECT topic_id FROM topic_ids);
SELECT sqsn.sn_delete_topic(t) FROM unnest(ARRAY['ft_orders.fifo', 'ft_cb.fifo', 'ft_std']) t;
SELECT count(*) AS records_left FROM sqsn.fifo_dedup WHERE -queue_id IN (SELECT topic_id FROM topic_ids);
SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY['ft_a.fifo', 'ft_b.fifo', 'ft_s']) q;
