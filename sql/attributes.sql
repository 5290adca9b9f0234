-- Attributes: queue attributes (sq_get_queue_attributes /
-- sq_set_queue_attributes) and message attributes (forms, types, names,
-- limits).

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

-- counts(q): the queue_stats row of q as one line.
CREATE FUNCTION pg_temp.counts(q text) RETURNS text
LANGUAGE sql AS $$
	SELECT format('visible=%s in_flight=%s delayed=%s', visible, in_flight, delayed)
	FROM sqsn.queue_stats WHERE queue_name = q
$$;

-- attrs(q): queue attributes without the timestamps, which vary.
CREATE FUNCTION pg_temp.attrs(q text) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT sqsn.sq_get_queue_attributes(q) - 'CreatedTimestamp' - 'LastModifiedTimestamp'
$$;

-- attr_of(a): the attributes a as a received message carries them.
CREATE FUNCTION pg_temp.attr_of(a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	result jsonb;
BEGIN
	PERFORM sqsn.sq_send('at_msg', 'attribute probe', a);
	SELECT message_attributes INTO result FROM sqsn.sq_receive('at_msg', 1, 0);
	PERFORM sqsn.sq_purge_queue('at_msg');
	RETURN result;
END
$$;

--
-- Queue attributes
--

-- get_queue_attributes_returns_every_sqs_name
SELECT sqsn.sq_create_queue('at_q');
SELECT key, jsonb_typeof(value) AS type
FROM jsonb_each(sqsn.sq_get_queue_attributes('at_q'))
ORDER BY key COLLATE "C";

-- set_queue_attributes_accepts_numbers_and_numeric_strings
SELECT (sqsn.sq_get_queue_attributes('at_q')->>'CreatedTimestamp')::numeric AS created \gset
SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 60, "DelaySeconds": "5"}');
SELECT pg_temp.attrs('at_q');
SELECT sqsn.sq_set_queue_attributes('at_q',
	'{"MessageRetentionPeriod": "3600", "MaximumMessageSize": 4096}');
SELECT pg_temp.attrs('at_q');

-- set_queue_attributes_updates_last_modified_not_created
SELECT (a->>'CreatedTimestamp')::numeric = :created AS created_unchanged,
       (a->>'LastModifiedTimestamp')::numeric >= :created AS modified_after_created,
       abs((a->>'LastModifiedTimestamp')::numeric - extract(epoch FROM now())) < 60 AS modified_is_now
FROM sqsn.sq_get_queue_attributes('at_q') AS a;

-- set_queue_attributes_with_empty_object_changes_nothing
SELECT sqsn.sq_set_queue_attributes('at_q', '{}');
SELECT pg_temp.attrs('at_q');

-- set_queue_attributes_accepts_the_limits
SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 0, "DelaySeconds": 0,
	"MessageRetentionPeriod": 60, "MaximumMessageSize": 1024}');
SELECT pg_temp.attrs('at_q');
SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 43200, "DelaySeconds": 900,
	"MessageRetentionPeriod": 1209600, "MaximumMessageSize": 262144}');
SELECT pg_temp.attrs('at_q');

-- bad_queue_attributes_are_rejected_and_change_nothing
SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 30, "DelaySeconds": 0,
	"MessageRetentionPeriod": 345600, "MaximumMessageSize": 262144}');
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"Foo": 1}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 10, "Foo": 1}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"visibilitytimeout": 10}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"CreatedTimestamp": 1}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"LastModifiedTimestamp": 1}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"ApproximateNumberOfMessages": 0}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"ApproximateNumberOfMessagesNotVisible": 0}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"ApproximateNumberOfMessagesDelayed": 0}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 10, "VisibilityTimeout2": 1}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": -1}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 43201}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": "abc"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 1.5}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": null}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": true}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 99999999999999999999}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"DelaySeconds": 901}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"MessageRetentionPeriod": 59}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"MessageRetentionPeriod": 1209601}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"MaximumMessageSize": 1023}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"MaximumMessageSize": 1048577}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '[]')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '"VisibilityTimeout"')$$);
SELECT pg_temp.attrs('at_q');

-- bad_redrive_policy_is_rejected_and_changes_nothing
SELECT sqsn.sq_create_queue('at_dlq');
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": {"deadLetterQueue": "at_dlq"}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": {"maxReceiveCount": 3}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": {"deadLetterQueue": "at_dlq", "maxReceiveCount": 0}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": {"deadLetterQueue": "at_dlq", "maxReceiveCount": 1001}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": {"deadLetterQueue": "at_dlq", "maxReceiveCount": 3, "extra": 1}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": {"deadLetterQueue": "at_missing", "maxReceiveCount": 3}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": {"deadLetterQueue": "at_q", "maxReceiveCount": 3}}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": [1]}')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 5, "RedrivePolicy": {"deadLetterQueue": "at_missing", "maxReceiveCount": 3}}')$$);
SELECT pg_temp.attrs('at_q');

-- redrive_policy_can_be_set_and_removed
SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": {"deadLetterQueue": "at_dlq", "maxReceiveCount": 5}}');
SELECT sqsn.sq_get_queue_attributes('at_q')->'RedrivePolicy' AS redrive_policy;
SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": {"deadLetterQueue": "at_dlq", "maxReceiveCount": "7"}}');
SELECT sqsn.sq_get_queue_attributes('at_q')->'RedrivePolicy' AS redrive_policy;
SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 31}');
SELECT sqsn.sq_get_queue_attributes('at_q')->'RedrivePolicy' AS kept_by_other_change;
SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": null}');
SELECT sqsn.sq_get_queue_attributes('at_q') ? 'RedrivePolicy' AS has_redrive_policy;
SELECT sqsn.sq_set_queue_attributes('at_q', '{"RedrivePolicy": null}');
SELECT sqsn.sq_get_queue_attributes('at_q') ? 'RedrivePolicy' AS has_redrive_policy;

-- changed_visibility_timeout_applies_to_receives
SELECT sqsn.sq_set_queue_attributes('at_q', '{"VisibilityTimeout": 0}');
SELECT sqsn.sq_send('at_q', 'vt') IS NOT NULL AS sent;
SELECT body, receive_count FROM sqsn.sq_receive('at_q');
SELECT body, receive_count FROM sqsn.sq_receive('at_q');
SELECT sqsn.sq_purge_queue('at_q');

-- changed_delay_applies_to_new_messages_only
SELECT sqsn.sq_send('at_q', 'before') IS NOT NULL AS sent;
SELECT sqsn.sq_set_queue_attributes('at_q', '{"DelaySeconds": 600}');
SELECT sqsn.sq_send('at_q', 'after') IS NOT NULL AS sent;
SELECT pg_temp.counts('at_q');
SELECT body FROM sqsn.sq_receive('at_q', 10, 0);
SELECT sqsn.sq_purge_queue('at_q');

-- changed_maximum_message_size_applies_to_sends
SELECT sqsn.sq_set_queue_attributes('at_q', '{"DelaySeconds": 0, "MaximumMessageSize": 1024}');
SELECT pg_temp.err($$SELECT sqsn.sq_send('at_q', repeat('a', 1025))$$);
SELECT sqsn.sq_send('at_q', repeat('a', 1024)) IS NOT NULL AS sent;
SELECT sqsn.sq_set_queue_attributes('at_q', '{"MaximumMessageSize": 2048}');
SELECT sqsn.sq_send('at_q', repeat('a', 1025)) IS NOT NULL AS sent;
SELECT pg_temp.counts('at_q');
SELECT sqsn.sq_purge_queue('at_q');

-- approximate_counts_follow_the_messages
SELECT sqsn.sq_send('at_q', 'visible') IS NOT NULL AS sent;
SELECT sqsn.sq_send('at_q', 'in flight') IS NOT NULL AS sent;
SELECT sqsn.sq_send('at_q', 'delayed', delay_seconds => 900) IS NOT NULL AS sent;
SELECT body FROM sqsn.sq_receive('at_q', 1, 600);
SELECT a->'ApproximateNumberOfMessages' AS visible,
       a->'ApproximateNumberOfMessagesNotVisible' AS not_visible,
       a->'ApproximateNumberOfMessagesDelayed' AS delayed
FROM sqsn.sq_get_queue_attributes('at_q') AS a;
SELECT sqsn.sq_purge_queue('at_q');

--
-- Message attributes
--

SELECT sqsn.sq_create_queue('at_msg');

-- simple_string_and_number_become_typed
SELECT pg_temp.attr_of('{"color": "red", "size": 3}');
SELECT pg_temp.attr_of('{"neg": -2, "frac": 3.5, "big": 12345678901234567890, "exp": 1e3}');
SELECT pg_temp.attr_of('{"plain": "x", "unicode": "äöü €"}');

-- typed_form_is_kept
SELECT pg_temp.attr_of('{"s": {"DataType": "String", "StringValue": "hello"}}');
SELECT pg_temp.attr_of('{"n": {"DataType": "Number", "StringValue": "-1.5e3"}}');
SELECT pg_temp.attr_of('{"b": {"DataType": "Binary", "BinaryValue": "aGVsbG8="}}');

-- custom_types_are_kept
SELECT pg_temp.attr_of('{"s": {"DataType": "String.uuid", "StringValue": "abc"},
                         "n": {"DataType": "Number.int", "StringValue": "42"},
                         "b": {"DataType": "Binary.png", "BinaryValue": "AAEC"}}');

-- simple_and_typed_forms_mix
SELECT pg_temp.attr_of('{"a": "x", "b": {"DataType": "Number", "StringValue": "1"}}');

-- ten_attributes_are_accepted
SELECT count(*) AS attributes
FROM jsonb_object_keys(pg_temp.attr_of(
	(SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 10) AS i)));

-- names_follow_sqs_rules
SELECT pg_temp.attr_of('{"a.b": "1", "A-b_c.D9": "2"}');
SELECT length(k) AS name_length
FROM jsonb_object_keys(pg_temp.attr_of(jsonb_build_object(repeat('n', 256), 'x'))) AS k;
SELECT pg_temp.attr_of('{"AWSish": "1", "Amazonian": "2", "x.AWS.y": "3"}');

-- bad_message_attributes_are_rejected_and_send_nothing
SELECT n, pg_temp.err(format('SELECT sqsn.sq_send(%L, %L, %L::jsonb)', 'at_msg', 'body', a)) AS result
FROM (VALUES
	(1, (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 11) AS i)::text),
	(2, jsonb_build_object(repeat('n', 257), 'x')::text),
	(3, '{"AWS.x": "1"}'),
	(4, '{"aws.x": "1"}'),
	(5, '{"Amazon.x": "1"}'),
	(6, '{"AMAZON.x": "1"}'),
	(7, '{".a": "1"}'),
	(8, '{"a.": "1"}'),
	(9, '{"a..b": "1"}'),
	(10, '{"a b": "1"}'),
	(11, '{"": "1"}'),
	(12, '{"ä": "1"}'),
	(13, '{"a/b": "1"}'),
	(14, '{"t": true}'),
	(15, '{"t": null}'),
	(16, '{"t": [1]}'),
	(17, '{"t": {}}'),
	(18, '{"t": {"StringValue": "x"}}'),
	(19, '{"t": {"DataType": "Foo", "StringValue": "x"}}'),
	(20, '{"t": {"DataType": "string", "StringValue": "x"}}'),
	(21, '{"t": {"DataType": "String"}}'),
	(22, '{"t": {"DataType": "Number", "StringValue": "abc"}}'),
	(23, '{"t": {"DataType": "Number", "StringValue": ""}}'),
	(24, '{"t": {"DataType": "Number.int", "StringValue": "1x"}}'),
	(25, '{"t": {"DataType": "Binary", "BinaryValue": "!!!not base64"}}'),
	(26, '{"t": {"DataType": "Binary"}}'),
	(27, '{"t": {"DataType": "Binary", "StringValue": "aGVsbG8="}}'),
	(28, '{"t": {"DataType": 7, "StringValue": "x"}}'),
	(30, '[{"a": "1"}]'),
	(31, '"a"'),
	(32, '3'),
	(33, 'null')
) AS v(n, a)
ORDER BY n;
SELECT pg_temp.counts('at_msg');

-- bad_attributes_in_one_message_of_a_batch_send_nothing
SELECT pg_temp.err($$SELECT sqsn.sq_send_batch('at_msg', ARRAY['a', 'b'], ARRAY['{"ok": "1"}', '{"Amazon.no": "1"}']::jsonb[])$$);
SELECT pg_temp.counts('at_msg');

-- clean up
SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('at_') AS q;
