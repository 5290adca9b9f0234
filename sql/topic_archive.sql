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

-- Replay (ReplayPolicy) -------------------------------------------------

SELECT sqsn.sn_create_topic('tr.fifo');
SELECT sqsn.sn_set_topic_attributes('tr.fifo', '{"ArchivePolicy": {"MessageRetentionPeriod": "30"}}');
SELECT sqsn.sn_create_topic('tr_noarch.fifo');
SELECT sqsn.sq_create_queue('tr_q.fifo');
SELECT sqsn.sq_create_queue('tr_raw.fifo');
SELECT sqsn.sq_create_queue('tr_na.fifo');
CREATE TEMP TABLE subs AS SELECT
	sqsn.sn_subscribe('tr.fifo', 'sqs', 'tr_q.fifo') AS env,
	sqsn.sn_subscribe('tr.fifo', 'sqs', 'tr_raw.fifo', filter_policy => '{"keep": ["yes"]}',
		raw_message_delivery => true) AS raw,
	sqsn.sn_subscribe('tr_noarch.fifo', 'sqs', 'tr_na.fifo') AS noarch,
	sqsn.sn_subscribe('ta_std', 'sqs', 'ta_s') AS std;

-- five publishes in two groups, delivered live and consumed
CREATE TEMP TABLE tr_pub AS
SELECT n, p.* FROM generate_series(1, 5) AS n,
	LATERAL sqsn.sn_publish_sequenced('tr.fifo', 'm' || n,
		jsonb_build_object('keep', CASE WHEN n % 2 = 1 THEN 'yes' ELSE 'no' END),
		message_group_id => 'g' || (n % 2), message_deduplication_id => 'd' || n) AS p;
SELECT count(*) AS live FROM sqsn.sq_receive('tr_q.fifo', 10) r,
	LATERAL sqsn.sq_delete('tr_q.fifo', r.receipt_handle) AS d WHERE d;
SELECT count(*) AS live_raw FROM sqsn.sq_receive('tr_raw.fifo', 10) r,
	LATERAL sqsn.sq_delete('tr_raw.fifo', r.receipt_handle) AS d WHERE d;

-- refused, each with its SQLSTATE, and no replay recorded
CREATE FUNCTION pg_temp.replay(sub uuid, policy text) RETURNS text
LANGUAGE sql AS $$
	SELECT pg_temp.err(format('SELECT sqsn.sn_set_subscription_attributes(%L, %L)',
		sub, jsonb_build_object('ReplayPolicy', policy::jsonb)))
$$;
SELECT pg_temp.replay(std, '{"PointType": "Timestamp", "StartingPoint": "2026-01-01T00:00:00Z"}') FROM subs;
SELECT pg_temp.replay(noarch, '{"PointType": "Timestamp", "StartingPoint": "2026-01-01T00:00:00Z"}') FROM subs;
SELECT pg_temp.replay(env, '{"PointType": "SequenceNumber", "StartingPoint": "2026-01-01T00:00:00Z"}') FROM subs;
SELECT pg_temp.replay(env, '{"PointType": "Timestamp"}') FROM subs;
SELECT pg_temp.replay(env, '{"PointType": "Timestamp", "StartingPoint": "yesterday-ish"}') FROM subs;
SELECT pg_temp.replay(env, '{"PointType": "Timestamp", "StartingPoint": "infinity"}') FROM subs;
SELECT pg_temp.replay(env, '{"PointType": "Timestamp", "StartingPoint": "2000-01-01T00:00:00Z"}') FROM subs;
SELECT pg_temp.replay(env, '{"PointType": "Timestamp", "StartingPoint": "2999-01-01T00:00:00Z"}') FROM subs;
SELECT pg_temp.replay(env, jsonb_build_object('PointType', 'Timestamp',
	'StartingPoint', a ->> 'BeginningArchiveTime',
	'EndingPoint', (a ->> 'BeginningArchiveTime')::timestamptz - interval '1 millisecond')::text)
FROM subs, sqsn.sn_get_topic_attributes('tr.fifo') a;
SELECT pg_temp.replay(env, '{"PointType": "Timestamp", "StartingPoint": "2026-01-01T00:00:00Z", "Speed": 2}') FROM subs;
SELECT pg_temp.replay(env, '[1]') FROM subs;
SELECT count(*) AS replays FROM sqsn.subscription_replay;

-- from BeginningArchiveTime on, as a JSON text like the endpoint's
-- clients send; Pending until the worker (here: run_topic_replays) runs
SELECT sqsn.sn_set_subscription_attributes(env, jsonb_build_object('ReplayPolicy',
	jsonb_build_object('PointType', 'Timestamp', 'StartingPoint',
		sqsn.sn_get_topic_attributes('tr.fifo') ->> 'BeginningArchiveTime')::text))
FROM subs;
SELECT a -> 'ReplayPolicy' ->> 'PointType' AS point_type, a ->> 'ReplayStatus' AS replay_status
FROM subs, sqsn.sn_get_subscription_attributes(env) a;
SELECT sqsn.sn_get_subscription_attributes(raw) ? 'ReplayStatus' AS raw_has_replay FROM subs;
-- published after the policy was set: delivered live, not replayed
SELECT sqsn.sn_publish('tr.fifo', 'm6', '{"keep": "yes"}', message_group_id => 'g0',
	message_deduplication_id => 'd6') IS NOT NULL AS published;

-- steps of 2 messages: In progress, then Completed; returns the replays
-- still active
SELECT sqsn.run_topic_replays(2) AS active;
SELECT status, messages_replayed FROM sqsn.subscription_replay;
SELECT sqsn.run_topic_replays(2) AS active;
SELECT status, messages_replayed FROM sqsn.subscription_replay;
SELECT sqsn.run_topic_replays(2) AS active;
SELECT status, messages_replayed FROM sqsn.subscription_replay;
SELECT sqsn.run_topic_replays(2) AS active;
SELECT a ->> 'ReplayStatus' AS replay_status FROM subs, sqsn.sn_get_subscription_attributes(env) a;

-- the queue got m6 live and m1..m5 replayed, in order within each group:
-- the same MessageId, SequenceNumber and Timestamp, "Replayed": true, a
-- deduplication id of their own
CREATE TEMP TABLE got AS SELECT * FROM sqsn.sq_receive('tr_q.fifo', 10);
SELECT g.message_group_id, g.body::jsonb ->> 'Message' AS message,
	g.body::jsonb -> 'Replayed' AS replayed,
	(g.body::jsonb ->> 'MessageId')::uuid = p.message_id AS same_id,
	g.body::jsonb ->> 'SequenceNumber' = p.sequence_number AS same_number,
	g.body::jsonb ->> 'Timestamp' = to_char(a.published_at AT TIME ZONE 'UTC',
		'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS same_time,
	g.message_deduplication_id <> a.message_deduplication_id AS own_dedup_id
FROM got g
LEFT JOIN sqsn.topic_archive a ON a.message_id = (g.body::jsonb ->> 'MessageId')::uuid
LEFT JOIN tr_pub p ON p.message_id = a.message_id
ORDER BY g.message_group_id, g.sequence_number;
SELECT count(*) AS deleted FROM got, LATERAL sqsn.sq_delete('tr_q.fifo', got.receipt_handle) AS d WHERE d;
-- the raw subscription: nothing replayed (no policy), only m6 live
SELECT body FROM sqsn.sq_receive('tr_raw.fifo', 10);

-- a window with an end: the raw subscription's filter still applies; a new
-- replay sends the same messages again (its own deduplication ids)
SELECT sqsn.sn_set_subscription_attributes(raw, jsonb_build_object('ReplayPolicy',
	jsonb_build_object('PointType', 'Timestamp',
		'StartingPoint', (SELECT published_at FROM sqsn.topic_archive a JOIN tr_pub p USING (message_id) WHERE p.n = 1),
		'EndingPoint', (SELECT published_at FROM sqsn.topic_archive a JOIN tr_pub p USING (message_id) WHERE p.n = 3))))
FROM subs;
SELECT sqsn.run_topic_replays() AS active;
SELECT r.body, r.message_attributes -> 'keep' ->> 'StringValue' AS keep FROM sqsn.sq_receive('tr_raw.fifo', 10, 0) r ORDER BY r.sequence_number;
SELECT sqsn.sn_set_subscription_attributes(raw, jsonb_build_object('ReplayPolicy',
	jsonb_build_object('PointType', 'Timestamp',
		'StartingPoint', (SELECT published_at FROM sqsn.topic_archive a JOIN tr_pub p USING (message_id) WHERE p.n = 1),
		'EndingPoint', (SELECT published_at FROM sqsn.topic_archive a JOIN tr_pub p USING (message_id) WHERE p.n = 3))))
FROM subs;
SELECT sqsn.run_topic_replays() AS active;
SELECT count(*) AS copies, count(DISTINCT message_deduplication_id) AS dedup_ids FROM sqsn.sq_receive('tr_raw.fifo', 10, 0);

-- {} removes the replay; turning the archive off fails a pending one
SELECT sqsn.sn_set_subscription_attributes(raw, '{"ReplayPolicy": {}}') FROM subs;
SELECT sqsn.sn_get_subscription_attributes(raw) ?| ARRAY['ReplayPolicy', 'ReplayStatus'] AS has_replay FROM subs;
SELECT sqsn.sn_set_subscription_attributes(env, jsonb_build_object('ReplayPolicy',
	jsonb_build_object('PointType', 'Timestamp', 'StartingPoint',
		sqsn.sn_get_topic_attributes('tr.fifo') ->> 'BeginningArchiveTime')))
FROM subs;
SELECT sqsn.sn_set_topic_attributes('tr.fifo', '{"ArchivePolicy": ""}');
SELECT status, error FROM sqsn.subscription_replay;
SELECT sqsn.run_topic_replays() AS active;
-- unsubscribing removes the replay
SELECT sqsn.sn_unsubscribe(env) FROM subs;
SELECT count(*) AS replays FROM sqsn.subscription_replay;
