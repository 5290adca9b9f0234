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

-- The archive (ArchivePolicy) -------------------------------------------

SELECT sqsn.sn_create_topic('ta_arch.fifo');
SELECT sqsn.sq_create_queue('ta_aq.fifo');
SELECT sqsn.sn_subscribe('ta_arch.fifo', 'sqs', 'ta_aq.fifo') IS NOT NULL AS subscribed;

-- refused, each leaving the topic as it was: a standard topic, bad
-- policies, a retention out of 1..365 days
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_std', '{"ArchivePolicy": {"MessageRetentionPeriod": "30"}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": "0"}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": 366}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": "ten"}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {"RetentionDays": "10"}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": [30]}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": "not json"}')$$);
-- a later bad attribute undoes the policy given before it
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": "30"}, "TracingConfig": "Bogus"}')$$);
SELECT topic_name, archive_retention_days, archive_started_at
FROM sqsn.topic WHERE topic_name IN ('ta_std', 'ta_arch.fifo') ORDER BY 1;
SELECT sqsn.sn_get_topic_attributes('ta_arch.fifo') ?| ARRAY['ArchivePolicy', 'BeginningArchiveTime'] AS has_archive_attributes;

-- publishes before archiving are not archived
SELECT sqsn.sn_publish('ta_arch.fifo', 'before', message_group_id => 'g', message_deduplication_id => 'b0') IS NOT NULL AS published;

-- on: as an object, or as the JSON text the endpoint's clients send
SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": "30"}}');
SELECT archive_retention_days, archive_started_at <= now() AS started
FROM sqsn.topic WHERE topic_name = 'ta_arch.fifo';
SELECT a ->> 'ArchivePolicy' AS archive_policy,
	a ->> 'BeginningArchiveTime' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$' AS iso_time,
	abs(extract(epoch FROM (a ->> 'BeginningArchiveTime')::timestamptz - t.archive_started_at)) < 0.001 AS begins_at_start
FROM sqsn.sn_get_topic_attributes('ta_arch.fifo') a, sqsn.topic t
WHERE t.topic_name = 'ta_arch.fifo';
SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": "{\"MessageRetentionPeriod\": 60}"}');
SELECT archive_retention_days FROM sqsn.topic WHERE topic_name = 'ta_arch.fifo';

-- every publish is archived in its transaction: a rolled-back one is not,
-- a duplicate is not; with the text queues get, attributes, subject, ids,
-- sequence number and the time its envelope carries
BEGIN;
SELECT sqsn.sn_publish('ta_arch.fifo', 'rolled back', message_group_id => 'g', message_deduplication_id => 'rb') IS NOT NULL AS published;
ROLLBACK;
CREATE TEMP TABLE arch_pub AS
SELECT * FROM sqsn.sn_publish_sequenced('ta_arch.fifo', 'one', '{"k": "v"}', 'subj',
	message_group_id => 'g1', message_deduplication_id => 'a1');
INSERT INTO arch_pub SELECT * FROM sqsn.sn_publish_batch_sequenced('ta_arch.fifo',
	ARRAY['two', 'three'], message_group_ids => ARRAY['g2', 'g1'],
	message_deduplication_ids => ARRAY['a2', 'a3']);
SELECT sqsn.sn_publish('ta_arch.fifo', 'one again', message_group_id => 'g1', message_deduplication_id => 'a1') IS NOT NULL AS duplicate;
SELECT sqsn.sn_publish('ta_arch.fifo', '{"default": "four", "sqs": "four for queues"}',
	message_structure => 'json', message_group_id => 'g2', message_deduplication_id => 'a4') IS NOT NULL AS published;
SELECT a.message, a.message_attributes, a.subject, a.message_group_id,
	a.message_deduplication_id,
	lpad(a.sequence_number::text, 20, '0') = p.sequence_number AS same_number,
	a.message_id = p.message_id AS same_id
FROM sqsn.topic_archive a JOIN sqsn.topic t USING (topic_id)
LEFT JOIN arch_pub p ON p.message_id = a.message_id
WHERE t.topic_name = 'ta_arch.fifo' ORDER BY a.sequence_number;
SELECT bool_and(to_char(a.published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
	= r.body::jsonb ->> 'Timestamp') AS envelope_time_archived
FROM sqsn.sq_receive('ta_aq.fifo', 10) r
JOIN sqsn.topic_archive a ON a.message_id = (r.body::jsonb ->> 'MessageId')::uuid;

-- the maintenance deletes what is past the retention period, in batches,
-- oldest first, and nothing else
UPDATE sqsn.topic_archive SET published_at = published_at - interval '61 days'
WHERE message_id IN (SELECT message_id FROM arch_pub);
SELECT sqsn.run_archive_maintenance(1) AS deleted;
SELECT message FROM sqsn.topic_archive a JOIN sqsn.topic t USING (topic_id)
WHERE t.topic_name = 'ta_arch.fifo' ORDER BY sequence_number;
SELECT sqsn.run_archive_maintenance() AS deleted;
SELECT sqsn.run_archive_maintenance() AS deleted;
SELECT message FROM sqsn.topic_archive a JOIN sqsn.topic t USING (topic_id)
WHERE t.topic_name = 'ta_arch.fifo' ORDER BY sequence_number;
SELECT pg_temp.err($$SELECT sqsn.run_archive_maintenance(0)$$);

-- a shorter retention keeps the start; BeginningArchiveTime is the later
-- of the start and now minus the retention
UPDATE sqsn.topic SET archive_started_at = '2000-01-01 00:00:00+00'
WHERE topic_name = 'ta_arch.fifo';
SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": 1}}');
SELECT archive_retention_days, archive_started_at = '2000-01-01 00:00:00+00' AS start_kept
FROM sqsn.topic WHERE topic_name = 'ta_arch.fifo';
SELECT (a ->> 'BeginningArchiveTime')::timestamptz = date_trunc('milliseconds', now() - interval '1 day') AS begins_a_day_ago
FROM sqsn.sn_get_topic_attributes('ta_arch.fifo') a;

-- an archived topic cannot be encrypted (the archive keeps the text), and
-- the other way round; nothing changes
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"SqsManagedSseEnabled": true}')$$);
SELECT sqsn.sn_create_topic('ta_enc.fifo', encrypted => true);
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('ta_enc.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": "3"}}')$$);
SELECT topic_name, encrypted, archive_retention_days FROM sqsn.topic
WHERE topic_name IN ('ta_arch.fifo', 'ta_enc.fifo') ORDER BY 1;

-- {} (or "") turns archiving off and deletes the archive
SELECT count(*) AS archived FROM sqsn.topic_archive a JOIN sqsn.topic t USING (topic_id)
WHERE t.topic_name = 'ta_arch.fifo';
SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {}}');
SELECT archive_retention_days, archive_started_at FROM sqsn.topic WHERE topic_name = 'ta_arch.fifo';
SELECT count(*) AS archived FROM sqsn.topic_archive a JOIN sqsn.topic t USING (topic_id)
WHERE t.topic_name = 'ta_arch.fifo';
SELECT sqsn.sn_get_topic_attributes('ta_arch.fifo') ?| ARRAY['ArchivePolicy', 'BeginningArchiveTime'] AS has_archive_attributes;
SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": "7"}}');
SELECT sqsn.sn_publish('ta_arch.fifo', 'five', message_group_id => 'g', message_deduplication_id => 'a5') IS NOT NULL AS published;
SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": ""}');
SELECT count(*) AS archived FROM sqsn.topic_archive;

-- deleting the topic deletes its archive
SELECT sqsn.sn_set_topic_attributes('ta_arch.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": "7"}}');
SELECT sqsn.sn_publish('ta_arch.fifo', 'six', message_group_id => 'g', message_deduplication_id => 'a6') IS NOT NULL AS published;
SELECT count(*) AS archived FROM sqsn.topic_archive;
SELECT sqsn.sn_delete_topic('ta_arch.fifo');
SELECT count(*) AS archived FROM sqsn.topic_archive;

-- the archive is dumped with the catalog, as is the sequence
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS x(oid)
JOIN pg_class c ON c.oid = x.oid
WHERE e.extname = 'sqsn' AND c.relname IN ('topic_archive', 'topic_message_seq', 'fifo_dedup')
ORDER BY 1;
