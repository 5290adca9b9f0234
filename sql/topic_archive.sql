-- FIFO topics: sequence numbers of publishes; the archive (ArchivePolicy)
-- and BeginningArchiveTime.

CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT sqsn.sn_create_topic('ta_orders.fifo');
SELECT sqsn.sn_create_topic('ta_std');
SELECT sqsn.sq_create_queue('ta_q.fifo');
SELECT sqsn.sq_create_queue('ta_s');
SELECT sqsn.sn_subscribe('ta_orders.fifo', 'sqs', 'ta_q.fifo') IS NOT NULL AS subscribed;
SELECT sqsn.sn_subscribe('ta_std', 'sqs', 'ta_s') IS NOT NULL AS subscribed;

-- Sequence numbers ------------------------------------------------------

-- every publish to a FIFO topic gets a 20-digit sequence number, strictly
-- increasing in publish order, within a batch in input order
CREATE TEMP TABLE published (n serial, message_id uuid, sequence_number text);
INSERT INTO published (message_id, sequence_number)
SELECT * FROM sqsn.sn_publish_sequenced('ta_orders.fifo', 'first',
	message_group_id => 'g1', message_deduplication_id => 'd1');
INSERT INTO published (message_id, sequence_number)
SELECT * FROM sqsn.sn_publish_sequenced('ta_orders.fifo', 'second',
	message_group_id => 'g2', message_deduplication_id => 'd2');
INSERT INTO published (message_id, sequence_number)
SELECT * FROM sqsn.sn_publish_batch_sequenced('ta_orders.fifo',
	ARRAY['third', 'fourth', 'fifth'],
	message_group_ids => ARRAY['g1', 'g2', 'g1'],
	message_deduplication_ids => ARRAY['d3', 'd4', 'd5']);
SELECT count(*) AS published,
	bool_and(sequence_number ~ '^[0-9]{20}$') AS twenty_digits
FROM published;
SELECT bool_and(sequence_number > prev) AS strictly_increasing
FROM (SELECT sequence_number,
	lag(sequence_number) OVER (ORDER BY n) AS prev FROM published) p
WHERE prev IS NOT NULL;

-- a duplicate returns the first publish's id and sequence number, and
-- delivers nothing
SELECT (d.message_id, d.sequence_number) = (p.message_id, p.sequence_number)
	AS same_as_first
FROM sqsn.sn_publish_sequenced('ta_orders.fifo', 'first again',
	message_group_id => 'g1', message_deduplication_id => 'd1') d,
	published p WHERE p.n = 1;
SELECT d.message_id = p.message_id AND d.sequence_number = p.sequence_number
	AS batch_duplicate_same_as_first
FROM sqsn.sn_publish_batch_sequenced('ta_orders.fifo', ARRAY['x'],
	message_group_ids => ARRAY['g2'],
	message_deduplication_ids => ARRAY['d2']) d,
	published p WHERE p.n = 2;

-- sn_publish keeps returning the message id alone; its publish is numbered
-- after the others
SELECT pg_typeof(sqsn.sn_publish('ta_orders.fifo', 'sixth',
	message_group_id => 'g3', message_deduplication_id => 'd6')) AS sn_publish_returns;

-- the queue's copies carry the sequence number in the envelope, the same
-- as Publish returned, in publish order (sixth: published with sn_publish)
SELECT message, envelope_has_it, message_group_id,
	number > lag(number) OVER (ORDER BY queue_seq) AS after_previous
FROM (SELECT r.body::jsonb ->> 'Message' AS message,
	r.body::jsonb ->> 'SequenceNumber' AS number,
	r.body::jsonb ->> 'SequenceNumber' = p.sequence_number AS envelope_has_it,
	r.message_group_id, r.sequence_number AS queue_seq
	FROM sqsn.sq_receive('ta_q.fifo', 10) r
	LEFT JOIN published p
		ON p.message_id = (r.body::jsonb ->> 'MessageId')::uuid) c
ORDER BY queue_seq;

-- a standard topic has none, and its envelopes no SequenceNumber
SELECT message_id IS NOT NULL AS has_id, sequence_number
FROM sqsn.sn_publish_sequenced('ta_std', 'plain');
SELECT sequence_number FROM sqsn.sn_publish_batch_sequenced('ta_std', ARRAY['a', 'b']);
SELECT count(*) FILTER (WHERE body::jsonb ? 'SequenceNumber') AS with_number,
	count(*) AS copies
FROM sqsn.sq_receive('ta_s', 10);

-- errors are sn_publish's
SELECT pg_temp.err($$SELECT sqsn.sn_publish_sequenced('ta_orders.fifo', 'no group', message_deduplication_id => 'dx')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_sequenced('ta_nope.fifo', 'x', message_group_id => 'g')$$);
