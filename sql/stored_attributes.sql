-- Queue attributes kept as given (Policy, RedriveAllowPolicy, KmsMasterKeyId,
-- KmsDataKeyReusePeriodSeconds, FifoThroughputLimit): stored, returned,
-- removed with an empty string, checked with SQLSTATE 22023, and a
-- RedriveAllowPolicy enforced when a redrive policy names the queue
-- (22023, as the service answers InvalidParameterValue). A refused change
-- changes nothing.

-- err(stmt): 'ok', or 'SQLSTATE: message' when it fails.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- stored(queue): the kept attributes sq_get_queue_attributes returns
CREATE FUNCTION pg_temp.stored(q text) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT jsonb_object_agg(key, value) FILTER (WHERE key IN ('Policy',
		'RedriveAllowPolicy', 'KmsMasterKeyId', 'KmsDataKeyReusePeriodSeconds',
		'FifoThroughputLimit'))
	FROM jsonb_each(sqsn.sq_get_queue_attributes(q))
$$;

SELECT sqsn.sq_create_queue('sa_src'), sqsn.sq_create_queue('sa_other'),
	sqsn.sq_create_queue('sa_dlq'), sqsn.sq_create_queue('sa.fifo');

-- kept and returned; a policy as an object or as its JSON text
SELECT sqsn.sq_set_queue_attributes('sa_src', '{"Policy": {"Version": "2012-10-17",
	"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}]},
	"KmsMasterKeyId": "alias/aws/sqs", "KmsDataKeyReusePeriodSeconds": "300"}');
SELECT pg_temp.stored('sa_src');
SELECT sqsn.sq_set_queue_attributes('sa_src',
	jsonb_build_object('Policy', '{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sqs:ReceiveMessage"}}'));
SELECT pg_temp.stored('sa_src') -> 'Policy' AS policy_from_text;
-- an empty string removes one
SELECT sqsn.sq_set_queue_attributes('sa_src', '{"KmsMasterKeyId": ""}');
SELECT pg_temp.stored('sa_src') ? 'KmsMasterKeyId' AS key_id_kept;
SELECT sqsn.sq_set_queue_attributes('sa.fifo', '{"FifoThroughputLimit": "perMessageGroupId",
	"DeduplicationScope": "messageGroup"}');
SELECT pg_temp.stored('sa.fifo');

-- errors: 22023, and nothing changed
SELECT v.what, pg_temp.err(format('SELECT sqsn.sq_set_queue_attributes(%L, %L)', v.q, v.attrs)) AS result
FROM (VALUES
	('policy not JSON', 'sa_src', '{"Policy": "{not json"}'),
	('policy not an object', 'sa_src', '{"Policy": "[1]"}'),
	('policy without Statement', 'sa_src', '{"Policy": {"Version": "2012-10-17"}}'),
	('policy with an empty Statement', 'sa_src', '{"Policy": {"Statement": []}}'),
	('policy over 20 kB', 'sa_src', jsonb_build_object('Policy', '{"Statement": {}, "x": "' || repeat('x', 20480) || '"}')::text),
	('unknown redrivePermission', 'sa_dlq', '{"RedriveAllowPolicy": {"redrivePermission": "some"}}'),
	('byQueue without sources', 'sa_dlq', '{"RedriveAllowPolicy": {"redrivePermission": "byQueue"}}'),
	('allowAll with sources', 'sa_dlq', '{"RedriveAllowPolicy": {"redrivePermission": "allowAll", "sourceQueueArns": ["arn:aws:sqs:us-east-1:000000000000:sa_src"]}}'),
	('eleven sources', 'sa_dlq', jsonb_build_object('RedriveAllowPolicy', jsonb_build_object('redrivePermission', 'byQueue',
		'sourceQueueArns', (SELECT jsonb_agg('arn:aws:sqs:us-east-1:000000000000:q' || i) FROM generate_series(1, 11) i)))::text),
	('a source that is no queue ARN', 'sa_dlq', '{"RedriveAllowPolicy": {"redrivePermission": "byQueue", "sourceQueueArns": ["sa_src"]}}'),
	('reuse period 59 s', 'sa_src', '{"KmsDataKeyReusePeriodSeconds": "59"}'),
	('reuse period not a number', 'sa_src', '{"KmsDataKeyReusePeriodSeconds": "5m"}'),
	('key id too long', 'sa_src', jsonb_build_object('KmsMasterKeyId', repeat('k', 2049))::text),
	('throughput limit of a standard queue', 'sa_src', '{"FifoThroughputLimit": "perQueue"}'),
	('unknown throughput limit', 'sa.fifo', '{"FifoThroughputLimit": "perGroup"}'),
	('a good and a bad one', 'sa.fifo', '{"KmsMasterKeyId": "alias/new", "FifoThroughputLimit": "fast"}')
) AS v(what, q, attrs);
SELECT pg_temp.stored('sa_src') ->> 'KmsDataKeyReusePeriodSeconds' AS reuse_unchanged,
	pg_temp.stored('sa.fifo') AS fifo_unchanged, pg_temp.stored('sa_dlq') AS dlq_unchanged;

-- RedriveAllowPolicy: denyAll refuses every source
SELECT sqsn.sq_set_queue_attributes('sa_dlq', '{"RedriveAllowPolicy": {"redrivePermission": "denyAll"}}');
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('sa_src',
	'{"RedrivePolicy": {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:sa_dlq", "maxReceiveCount": 3}}')$$) AS deny_all;
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('sa_new', dead_letter_queue => 'sa_dlq', max_receive_count => 3)$$) AS deny_all_at_create;
SELECT count(*) AS sa_new_created FROM sqsn.queue WHERE queue_name = 'sa_new';
SELECT sqsn.sq_get_queue_attributes('sa_src') ? 'RedrivePolicy' AS src_has_redrive;
-- byQueue lets the listed sources in, and only them
SELECT sqsn.sq_set_queue_attributes('sa_dlq', '{"RedriveAllowPolicy": {"redrivePermission": "byQueue",
	"sourceQueueArns": ["arn:aws:sqs:us-east-1:000000000000:sa_src"]}}');
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('sa_src',
	'{"RedrivePolicy": {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:sa_dlq", "maxReceiveCount": 3}}')$$) AS listed_source;
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('sa_other',
	'{"RedrivePolicy": {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:sa_dlq", "maxReceiveCount": 3}}')$$) AS other_source;
-- allowAll (the default) lets anyone in again
SELECT sqsn.sq_set_queue_attributes('sa_dlq', '{"RedriveAllowPolicy": ""}');
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('sa_other',
	'{"RedrivePolicy": {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:sa_dlq", "maxReceiveCount": 3}}')$$) AS after_removal;

SELECT sqsn.sq_delete_queue(q) FROM unnest(ARRAY['sa_src', 'sa_other', 'sa.fifo', 'sa_dlq']) q;
