-- Topics: each misuse gets its own SQLSTATE (never XX000) and changes
-- nothing; the publisher role and who may manage topics.
BEGIN;
SELECT plan(46);

DO $$
BEGIN
	PERFORM sqsn.sq_create_queue('tap_topic_q');
	PERFORM sqsn.sq_create_queue('tap_topic_small', maximum_message_size => 1024);
	PERFORM sqsn.sn_create_topic('tap_topic');
	PERFORM sqsn.sn_subscribe('tap_topic', 'sqs', 'tap_topic_q');
END
$$;
SELECT subscription_id AS sub FROM sqsn.sn_list_subscriptions('tap_topic') \gset

-- unknown topic, subscription or queue: 42704
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_nope', 'x')$$, '42704', 'topic "tap_nope" does not exist', 'publish to an unknown topic');
SELECT throws_ok($$SELECT sqsn.sn_publish_batch('tap_nope', ARRAY['x'])$$, '42704', 'topic "tap_nope" does not exist', 'batch publish to an unknown topic');
SELECT throws_ok($$SELECT sqsn.sn_delete_topic('tap_nope')$$, '42704', 'topic "tap_nope" does not exist', 'delete an unknown topic');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_nope', 'sqs', 'tap_topic_q')$$, '42704', 'topic "tap_nope" does not exist', 'subscribe to an unknown topic');
SELECT throws_ok($$SELECT * FROM sqsn.sn_list_subscriptions('tap_nope')$$, '42704', 'topic "tap_nope" does not exist', 'subscriptions of an unknown topic');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'sqs', 'tap_nope')$$, '42704', 'queue "tap_nope" does not exist', 'subscribe a queue that does not exist');
SELECT throws_ok($$SELECT sqsn.sn_unsubscribe('00000000-0000-0000-0000-000000000000')$$, '42704', NULL, 'unsubscribe an unknown subscription');
SELECT throws_ok($$SELECT sqsn.sn_set_subscription_attributes('00000000-0000-0000-0000-000000000000', '{"RawMessageDelivery": true}')$$, '42704', NULL, 'attributes of an unknown subscription');

-- invalid names: 42602
SELECT throws_ok($$SELECT sqsn.sn_create_topic('')$$, '42602', NULL, 'empty topic name');
SELECT throws_ok(format('SELECT sqsn.sn_create_topic(%L)', repeat('a', 257)), '42602', NULL, 'topic name of 257 characters');
SELECT lives_ok(format('SELECT sqsn.sn_create_topic(%L)', repeat('a', 256)), 'topic name of 256 characters');
SELECT throws_ok($$SELECT sqsn.sn_create_topic('t.x.fifo')$$, '42602', NULL, 'a dot before the .fifo suffix');
SELECT throws_ok($$SELECT sqsn.sn_create_topic('x"; drop table sqsn.topic; --')$$, '42602', NULL, 'topic name carrying SQL');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'sqs', 'a b')$$, '42602', NULL, 'invalid queue name as endpoint');
SELECT has_table('sqsn', 'topic', 'sqsn.topic survived the injection attempt');

-- protocols: sqs, http and https (with a URL of that scheme); others are invalid (22023)
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'http', 'https://localhost/x')$$, '22023', 'endpoint of an http subscription must be an http:// URL', 'http needs an http:// URL');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'https', 'localhost/x')$$, '22023', 'endpoint of an https subscription must be an https:// URL', 'https needs an https:// URL');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'email', E'a@b.c\r\nDATA')$$, '22023', E'invalid email address "a@b.c\r\nDATA"', 'an email address with a line break is refused');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'SQS', 'tap_topic_q')$$, '22023', NULL, 'protocol names are lower case');

-- an existing subscription with other settings: 42710
SELECT is(sqsn.sn_subscribe('tap_topic', 'sqs', 'tap_topic_q'), :'sub'::uuid, 'the same subscription again returns its id');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'sqs', 'tap_topic_q', raw_message_delivery => true)$$, '42710', NULL, 'same queue, other settings');

-- NULL where a value is required: 22004
SELECT throws_ok($$SELECT sqsn.sn_create_topic(NULL)$$, '22004', NULL, 'NULL topic name');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_topic', NULL)$$, '22004', NULL, 'NULL message');
SELECT throws_ok($$SELECT sqsn.sn_publish_batch('tap_topic', NULL)$$, '22004', NULL, 'NULL batch');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'sqs', NULL)$$, '22004', NULL, 'NULL endpoint');
SELECT throws_ok($$SELECT sqsn.sn_unsubscribe(NULL)$$, '22004', NULL, 'NULL subscription id');

-- invalid values: 22023; too large: 22001
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_topic', '')$$, '22023', 'message must not be empty', 'empty message');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_topic', repeat('x', 262145))$$, '22001', 'message is too large to publish', 'message over 256 KiB');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_topic', 'x', '{"a": []}')$$, '22023', NULL, 'invalid message attribute');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_topic', 'x', subject => repeat('s', 101))$$, '22023', NULL, 'subject over 100 characters');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_topic', '{"sqs": "x"}', message_structure => 'json')$$, '22023', NULL, 'json structure without default');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_topic', 'x', message_structure => 'text')$$, '22023', NULL, 'unknown message structure');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'sqs', 'tap_topic_small', '{"a": [{"like": "x"}]}')$$, '22023', 'invalid filter policy', 'unknown filter operator');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'sqs', 'tap_topic_small', '{"a": [{"numeric": [">", "x"]}]}')$$, '22023', 'invalid filter policy', 'wrong operand type');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'sqs', 'tap_topic_small', '{"a":[1],"b":[1],"c":[1],"d":[1],"e":[1],"f":[1]}')$$, '22023', 'invalid filter policy', 'too many keys');
SELECT throws_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'sqs', 'tap_topic_small', filter_policy_scope => 'Body')$$, '22023', NULL, 'unknown filter policy scope');
SELECT throws_ok(format('SELECT sqsn.sn_set_subscription_attributes(%L, %L)', :'sub', '{"Protocol": "http"}'), '22023', NULL, 'unknown subscription attribute');
SELECT is((SELECT count(*)::int FROM sqsn.sn_list_subscriptions('tap_topic')), 1, 'no refused subscription was created');

-- a subscribed queue too small for the message: the publish fails as a whole
SELECT lives_ok($$SELECT sqsn.sn_subscribe('tap_topic', 'sqs', 'tap_topic_small', raw_message_delivery => true)$$, 'subscribe the small queue');
SELECT throws_ok($$SELECT sqsn.sn_publish('tap_topic', repeat('x', 2000))$$, '22001', NULL, 'message too large for one subscribed queue');
SELECT is((SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'tap_topic_q'), 0::bigint, 'the other queue got nothing');

-- roles
SELECT has_role('sqsn_publisher', 'role sqsn_publisher exists');
SELECT is_member_of('sqsn_publisher', ARRAY['sqsn_admin'], 'sqsn_admin may publish');
SELECT ok(has_function_privilege('sqsn_publisher', 'sqsn.sn_publish(text, text, jsonb, text, text, text, text)', 'EXECUTE')
	AND has_function_privilege('sqsn_publisher', 'sqsn.sn_publish_batch(text, text[], jsonb[], text[], text[])', 'EXECUTE'),
	'sqsn_publisher may publish');
-- (every sqsn role may call sn_subscribe; the topic's subscribe grant
-- decides, see the regress test grants)
SELECT ok(NOT has_function_privilege('public', 'sqsn.sn_subscribe(text, text, text, jsonb, text, boolean, jsonb, jsonb)', 'EXECUTE')
	AND NOT has_function_privilege('sqsn_producer', 'sqsn.sn_publish(text, text, jsonb, text, text, text, text)', 'EXECUTE')
	AND NOT has_function_privilege('public', 'sqsn.sn_publish(text, text, jsonb, text, text, text, text)', 'EXECUTE'),
	'PUBLIC does not subscribe; producers and PUBLIC do not publish');
SELECT ok(NOT has_table_privilege('sqsn_publisher', 'sqsn.topic', 'SELECT')
	AND NOT has_table_privilege('sqsn_admin', 'sqsn.subscription', 'SELECT'),
	'nobody reads the topic catalog directly');

SELECT * FROM finish();
ROLLBACK;
