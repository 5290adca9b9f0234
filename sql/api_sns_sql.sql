-- What the AWS-compatible endpoint's SNS actions read and keep beyond the
-- rest of the topic API: sn_get_topic_attributes,
-- sn_get_subscription_attributes, the kept topic attributes (DisplayName,
-- Policy, TracingConfig, SignatureVersion) and topic ARNs built from
-- sqsn.api_region and sqsn.api_account_id.

CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(nullif(' (' || detail || ')', ' ()'), '');
END
$$;

-- the ARN: arn:aws:sns:<region>:<account>:<topic>
SELECT sqsn.sn_create_topic('as_std');
SELECT sqsn.sn_get_topic_attributes('as_std')->>'TopicArn'
	= format('arn:aws:sns:%s:%s:as_std', current_setting('sqsn.api_region'),
		current_setting('sqsn.api_account_id')) AS arn_ok;

-- a new standard topic: defaults, no subscriptions
SELECT jsonb_pretty(sqsn.sn_get_topic_attributes('as_std') - 'TopicArn');

-- subscriptions are counted: a queue's at once, an http one pending
SELECT sqsn.sq_create_queue('as_q');
SELECT sqsn.sq_create_queue('as_dlq');
SELECT sqsn.sn_subscribe('as_std', 'sqs', 'as_q', '{"color": ["red"]}') AS sq \gset
SELECT sqsn.sn_subscribe('as_std', 'http', 'http://hooks.example.com/as',
	delivery_policy => '{"healthyRetryPolicy": {"numRetries": 5, "backoffFunction": "exponential"}}',
	redrive_policy => '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:as_dlq"}') AS hs \gset
SELECT a->'SubscriptionsConfirmed' AS confirmed, a->'SubscriptionsPending' AS pending
FROM sqsn.sn_get_topic_attributes('as_std') AS a;

-- a subscription's attributes: the queue's and the http one's
SELECT a->>'SubscriptionArn' = (a->>'TopicArn') || ':' || :'sq' AS arn_ok,
	jsonb_pretty(a - 'SubscriptionArn' - 'TopicArn')
FROM sqsn.sn_get_subscription_attributes(:'sq') AS a;
SELECT jsonb_pretty(a - 'SubscriptionArn' - 'TopicArn')
FROM sqsn.sn_get_subscription_attributes(:'hs') AS a;
SELECT sqsn.sn_set_subscription_attributes(:'sq',
	'{"FilterPolicy": {"n": [{"numeric": [">", 1]}]}, "FilterPolicyScope": "MessageBody", "RawMessageDelivery": "true"}');
SELECT a->'FilterPolicy' AS policy, a->'FilterPolicyScope' AS scope, a->'RawMessageDelivery' AS raw
FROM sqsn.sn_get_subscription_attributes(:'sq') AS a;
SELECT pg_temp.err($$SELECT sqsn.sn_get_subscription_attributes('00000000-0000-0000-0000-000000000000')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_get_subscription_attributes(NULL)$$);

-- the topic's delivery policy is the default of its http subscriptions
SELECT sqsn.sn_set_topic_attributes('as_std', '{"DeliveryPolicy": {"http":
	{"defaultHealthyRetryPolicy": {"minDelayTarget": 2, "maxDelayTarget": 30},
	 "defaultThrottlePolicy": {"maxReceivesPerSecond": 4},
	 "defaultRequestPolicy": {"headerContentType": "application/json"}}}}');
SELECT jsonb_pretty(a->'EffectiveDeliveryPolicy') FROM sqsn.sn_get_topic_attributes('as_std') AS a;
SELECT jsonb_pretty(a->'EffectiveDeliveryPolicy') FROM sqsn.sn_get_subscription_attributes(:'hs') AS a;

-- kept attributes: set, read back, cleared
SELECT sqsn.sn_set_topic_attributes('as_std', '{"DisplayName": "Orders", "TracingConfig": "Active",
	"Policy": "{\"Version\": \"2012-10-17\", \"Statement\": []}", "SignatureVersion": "2"}');
SELECT a->'DisplayName' AS display, a->'TracingConfig' AS tracing, a->'Policy' AS policy,
	a->'SignatureVersion' AS version
FROM sqsn.sn_get_topic_attributes('as_std') AS a;
SELECT sqsn.sn_set_topic_attributes('as_std', '{"DisplayName": "", "Policy": {"Statement": []}}');
SELECT a->'DisplayName' AS display, a->'Policy' AS policy, a->'TracingConfig' AS tracing
FROM sqsn.sn_get_topic_attributes('as_std') AS a;
SELECT pg_temp.err(format('SELECT sqsn.sn_set_topic_attributes(%L, %L)', 'as_std', a))
FROM unnest(ARRAY[
	jsonb_build_object('DisplayName', repeat('d', 101)),
	'{"Policy": "not json"}',
	'{"Policy": "[1]"}',
	'{"TracingConfig": "On"}',
	'{"SignatureVersion": "1"}',
	'{"SignatureVersion": true}'
]::jsonb[]) AS a;
-- a failed change changes nothing
SELECT a->'DisplayName' AS display FROM sqsn.sn_get_topic_attributes('as_std') AS a;

-- FIFO topics show their deduplication setting
SELECT sqsn.sn_create_topic('as_f.fifo', content_based_deduplication => true);
SELECT a->'FifoTopic' AS fifo, a->'ContentBasedDeduplication' AS cbd
FROM sqsn.sn_get_topic_attributes('as_f.fifo') AS a;
SELECT pg_temp.err($$SELECT sqsn.sn_get_topic_attributes('nosuch')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_get_topic_attributes('bad name')$$);

-- who may read: anyone with an action on the topic; the subscription's
-- owner or an administrator of its topic or queue
CREATE ROLE regress_sqsn_as_reader;
GRANT sqsn_consumer TO regress_sqsn_as_reader;
SET ROLE regress_sqsn_as_reader;
SELECT pg_temp.err($$SELECT sqsn.sn_get_topic_attributes('as_std')$$);
SELECT split_part(pg_temp.err(format('SELECT sqsn.sn_get_subscription_attributes(%L)', :'sq')), ' (', 1);
RESET ROLE;
SELECT sqsn.sn_grant('as_std', 'regress_sqsn_as_reader', '{subscribe}');
SET ROLE regress_sqsn_as_reader;
SELECT sqsn.sn_get_topic_attributes('as_std')->'SubscriptionsConfirmed' AS confirmed;
SELECT split_part(pg_temp.err(format('SELECT sqsn.sn_get_subscription_attributes(%L)', :'sq')), ' (', 1);
RESET ROLE;
SELECT sqsn.sn_revoke('as_std', 'regress_sqsn_as_reader', '{subscribe}');
DROP ROLE regress_sqsn_as_reader;

SELECT sqsn.sn_delete_topic(t) FROM sqsn.sn_list_topics('as_') AS t;
SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('as_') AS q;
