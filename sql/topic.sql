-- Topics: the catalog (create, delete, list, subscribe, unsubscribe,
-- subscription attributes), publishing with fan-out to subscribed queues,
-- the notification envelope, raw delivery, message structure, limits and
-- privileges.

-- err(stmt): 'ok', or 'SQLSTATE: message' (and the detail) when it fails.
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

-- visible(q): how many messages q holds.
CREATE FUNCTION pg_temp.visible(q text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT visible + in_flight + delayed FROM sqsn.queue_stats WHERE queue_name = q
$$;

-- bodies(q): receive everything from q (and delete it); body and attributes.
CREATE FUNCTION pg_temp.bodies(q text)
RETURNS TABLE (body text, message_attributes jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT * FROM sqsn.sq_receive(q, 10) LOOP
		PERFORM sqsn.sq_delete(q, r.receipt_handle);
		body := r.body;
		message_attributes := r.message_attributes;
		RETURN NEXT;
	END LOOP;
END
$$;

-- topics: created once, names checked, listed in name order
SELECT sqsn.sn_create_topic('orders');
SELECT sqsn.sn_create_topic('orders');	-- exists: nothing happens
SELECT sqsn.sn_create_topic('order-events_2');
SELECT sqsn.sn_create_topic(repeat('t', 256));
SELECT length(t) FROM sqsn.sn_list_topics('ttt') AS t;
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic('')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic(repeat('t', 257))$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic('bad name')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic('orders.x.fifo')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic(NULL)$$);
SELECT * FROM sqsn.sn_list_topics();
SELECT * FROM sqsn.sn_list_topics('order-');
SELECT * FROM sqsn.sn_list_topics('none');
SELECT sqsn.sn_delete_topic(repeat('t', 256));
SELECT pg_temp.err($$SELECT sqsn.sn_delete_topic('nosuchtopic')$$);

-- subscriptions of queues
SELECT sqsn.sq_create_queue('orders_all');
SELECT sqsn.sq_create_queue('orders_raw');
SELECT sqsn.sq_create_queue('orders_red');
CREATE TEMP TABLE sub (name text PRIMARY KEY, id uuid);
INSERT INTO sub SELECT 'all', sqsn.sn_subscribe('orders', 'sqs', 'orders_all');
INSERT INTO sub SELECT 'raw', sqsn.sn_subscribe('orders', 'sqs', 'orders_raw',
	raw_message_delivery => true);
INSERT INTO sub SELECT 'red', sqsn.sn_subscribe('orders', 'sqs', 'orders_red',
	'{"color": ["red"]}');
SELECT sub.name, l.topic_name, l.protocol, l.endpoint, l.filter_policy,
	l.raw_message_delivery, l.status
FROM sqsn.sn_list_subscriptions('orders') l JOIN sub ON sub.id = l.subscription_id
ORDER BY l.endpoint;
-- subscribing again with the same settings returns the same subscription
SELECT sqsn.sn_subscribe('orders', 'sqs', 'orders_red', '{"color": ["red"]}') = id
FROM sub WHERE name = 'red';
SELECT count(*) FROM sqsn.sn_list_subscriptions();
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', 'sqs', 'orders_red', '{"color": ["blue"]}')$$);
-- bad subscriptions
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', 'http', 'https://example.com/hook')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', 'https', 'ftp://example.com/hook')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', 'carrier-pigeon', 'me@example.com')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', NULL, 'orders_all')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('nosuchtopic', 'sqs', 'orders_all')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', 'sqs', 'nosuchqueue')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', 'sqs', 'bad queue')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', 'sqs', NULL)$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', 'sqs', 'orders_all', '{"a": ["x"]}', 'Body')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('orders', 'sqs', 'orders_all', '{"a": "x"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_list_subscriptions('nosuchtopic')$$);
SELECT count(*) FROM sqsn.sn_list_subscriptions();

-- the envelope: every field, escape-correct, MessageId is the publish id
CREATE TEMP TABLE pub AS
SELECT sqsn.sn_publish('orders', E'say "hi" \\ tab\there\nnew line, ünïcødé',
	'{"color": "red", "size": 3, "tags": {"DataType": "String.Array", "StringValue": "[\"a\",\"b\"]"},
	  "blob": {"DataType": "Binary", "BinaryValue": "AAEC"}}',
	subject => 'Order "42"') AS id;
CREATE TEMP TABLE got AS SELECT body::jsonb AS env, message_attributes FROM pg_temp.bodies('orders_all');
SELECT count(*) FROM got;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(env) k) AS keys,
	env->>'Type' AS type, env->>'TopicArn' = 'arn:aws:sns:' || current_setting('sqsn.api_region') || ':' || current_setting('sqsn.api_account_id') || ':orders' AS arn_ok,
	env->>'Subject' AS subject,
	env->>'Message' = E'say "hi" \\ tab\there\nnew line, ünïcødé' AS message_ok,
	(env->>'MessageId')::uuid = (SELECT id FROM pub) AS id_ok,
	env->>'Timestamp' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$' AS timestamp_format,
	abs(extract(epoch FROM (env->>'Timestamp')::timestamptz - now())) < 60 AS timestamp_now,
	jsonb_pretty(env->'MessageAttributes') AS attributes,
	message_attributes
FROM got;
-- raw delivery: the message alone, with the attributes as the queue message's
SELECT body = E'say "hi" \\ tab\there\nnew line, ünïcødé' AS body_ok,
	jsonb_pretty(message_attributes) FROM pg_temp.bodies('orders_raw');
-- the red filter matched
SELECT (body::jsonb->>'MessageId')::uuid = (SELECT id FROM pub) FROM pg_temp.bodies('orders_red');

-- without subject or attributes those fields are left out
SELECT sqsn.sn_publish('orders', 'plain') IS NOT NULL;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(body::jsonb) k), body::jsonb->>'Message'
FROM pg_temp.bodies('orders_all');
SELECT body, message_attributes FROM pg_temp.bodies('orders_raw');
SELECT pg_temp.visible('orders_red');

-- message_structure json: "sqs" for queues, else "default"
SELECT sqsn.sn_publish('orders', '{"default": "for everyone", "sqs": "for queues", "https": "for hooks"}',
	message_structure => 'json') IS NOT NULL;
SELECT sqsn.sn_publish('orders', '{"default": "for everyone"}', message_structure => 'json') IS NOT NULL;
SELECT body::jsonb->>'Message' FROM pg_temp.bodies('orders_all');
SELECT body FROM pg_temp.bodies('orders_raw');
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', '{"sqs": "x"}', message_structure => 'json')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', 'not json', message_structure => 'json')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', '["default"]', message_structure => 'json')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', '{"default": 1}', message_structure => 'json')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', '{"default": "x"}', message_structure => 'xml')$$);

-- bad publishes change nothing
SELECT pg_temp.err($$SELECT sqsn.sn_publish('nosuchtopic', 'x')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('bad name', 'x')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', NULL)$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', '')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', repeat('x', 262145))$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', repeat('x', 262140), '{"abc": "de"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', 'x', '{"bad name": "v"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', 'x', subject => '')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', 'x', subject => repeat('s', 101))$$);
SELECT sqsn.sn_publish('orders', 'x', subject => repeat('é', 100)) IS NOT NULL;
SELECT body::jsonb->>'Subject' = repeat('é', 100) FROM pg_temp.bodies('orders_all');
SELECT count(*) FROM pg_temp.bodies('orders_raw');
SELECT count(*) FROM pg_temp.bodies('orders_red');
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', 'x', subject => E'two\nlines')$$);
SELECT pg_temp.visible('orders_all'), pg_temp.visible('orders_raw'), pg_temp.visible('orders_red');

-- the largest message fits; its envelope does not fit a queue, so a topic
-- with an enveloping subscriber refuses it as a whole
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', repeat('x', 262144))$$);
SELECT pg_temp.visible('orders_all'), pg_temp.visible('orders_raw'), pg_temp.visible('orders_red');
SELECT sqsn.sn_create_topic('big');
SELECT sqsn.sn_subscribe('big', 'sqs', 'orders_raw', raw_message_delivery => true) IS NOT NULL;
SELECT sqsn.sn_publish('big', repeat('x', 262144)) IS NOT NULL;
SELECT length(body) FROM pg_temp.bodies('orders_raw');
SELECT sqsn.sn_delete_topic('big');

-- a subscribed queue's own size limit applies: the publish fails as a whole
SELECT sqsn.sq_create_queue('orders_small', maximum_message_size => 1024);
INSERT INTO sub SELECT 'small', sqsn.sn_subscribe('orders', 'sqs', 'orders_small', raw_message_delivery => true);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('orders', repeat('x', 2000))$$);
SELECT pg_temp.visible('orders_all'), pg_temp.visible('orders_raw'), pg_temp.visible('orders_small');

-- deleting a subscribed queue deletes its subscriptions
SELECT sqsn.sq_delete_queue('orders_small');
SELECT endpoint FROM sqsn.sn_list_subscriptions('orders');
SELECT regexp_replace(pg_temp.err(format('SELECT sqsn.sn_unsubscribe(%L)', (SELECT id FROM sub WHERE name = 'small'))),
	'[0-9a-f-]{36}', '<id>');

-- subscription attributes
SELECT sqsn.sn_set_subscription_attributes(id, '{"RawMessageDelivery": "true", "FilterPolicy": {"color": ["blue"]}}')
FROM sub WHERE name = 'all';
SELECT filter_policy, raw_message_delivery FROM sqsn.sn_list_subscriptions('orders')
WHERE endpoint = 'orders_all';
SELECT sqsn.sn_publish('orders', 'blue one', '{"color": "blue"}') IS NOT NULL;
SELECT sqsn.sn_publish('orders', 'red one', '{"color": "red"}') IS NOT NULL;
SELECT body FROM pg_temp.bodies('orders_all');
SELECT body FROM pg_temp.bodies('orders_raw') ORDER BY body;
SELECT body::jsonb->>'Message' FROM pg_temp.bodies('orders_red');
-- a body policy needs the MessageBody scope; both can change at once
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_subscription_attributes(%L, '{"FilterPolicy": {"a": {"b": ["c"]}}}')$$,
	(SELECT id FROM sub WHERE name = 'all')));
SELECT sqsn.sn_set_subscription_attributes(id,
	'{"FilterPolicy": {"a": {"b": ["c"]}}, "FilterPolicyScope": "MessageBody", "RawMessageDelivery": false}')
FROM sub WHERE name = 'all';
SELECT sqsn.sn_publish('orders', '{"a": {"b": "c"}}') IS NOT NULL;
SELECT sqsn.sn_publish('orders', '{"a": {"b": "d"}}') IS NOT NULL;
SELECT sqsn.sn_publish('orders', 'not json at all') IS NOT NULL;
SELECT body::jsonb->>'Message' FROM pg_temp.bodies('orders_all');
SELECT count(*) FROM pg_temp.bodies('orders_raw');
-- removing the policy
SELECT sqsn.sn_set_subscription_attributes(id, '{"FilterPolicy": null, "FilterPolicyScope": "MessageAttributes"}')
FROM sub WHERE name = 'all';
SELECT filter_policy IS NULL FROM sqsn.sn_list_subscriptions('orders') WHERE endpoint = 'orders_all';
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_subscription_attributes(%L, '{"DeliveryPolicy": {}}')$$,
	(SELECT id FROM sub WHERE name = 'all')));
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_subscription_attributes(%L, '{"RawMessageDelivery": "yes"}')$$,
	(SELECT id FROM sub WHERE name = 'all')));
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_subscription_attributes(%L, '{"FilterPolicyScope": "Body"}')$$,
	(SELECT id FROM sub WHERE name = 'all')));
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_subscription_attributes(%L, '[]')$$,
	(SELECT id FROM sub WHERE name = 'all')));
SELECT pg_temp.err($$SELECT sqsn.sn_set_subscription_attributes('00000000-0000-0000-0000-000000000000', '{}')$$);

-- publish_batch: ids in input order, one copy per message and matching queue
SELECT count(DISTINCT id) FROM sqsn.sn_publish_batch('orders', ARRAY['b1', 'b2', 'b3'],
	ARRAY['{"color": "red"}', NULL, '{"color": "red"}']::jsonb[]) AS id;
SELECT body::jsonb->>'Message' AS m FROM pg_temp.bodies('orders_all') ORDER BY m;
SELECT body FROM pg_temp.bodies('orders_raw') ORDER BY body;
SELECT body::jsonb->>'Message' AS m FROM pg_temp.bodies('orders_red') ORDER BY m;
SELECT count(*) FROM sqsn.sn_publish_batch('orders', ARRAY[]::text[]);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_batch('orders', ARRAY['a', NULL])$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_batch('orders', ARRAY['a', 'b'], ARRAY['{}']::jsonb[])$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_batch('orders', ARRAY['a', ''])$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_batch('nosuchtopic', ARRAY['a'])$$);
SELECT pg_temp.visible('orders_all'), pg_temp.visible('orders_raw'), pg_temp.visible('orders_red');

-- a rolled-back publish delivers nothing; a topic without subscribers takes
-- publishes and delivers nothing
BEGIN;
SELECT sqsn.sn_publish('orders', 'rolled back') IS NOT NULL;
SELECT pg_temp.visible('orders_all'), pg_temp.visible('orders_raw');
ROLLBACK;
SELECT pg_temp.visible('orders_all'), pg_temp.visible('orders_raw'), pg_temp.visible('orders_red');
SELECT sqsn.sn_publish('order-events_2', 'nobody listens') IS NOT NULL;

-- unsubscribe and delete
SELECT sqsn.sn_unsubscribe(id) FROM sub WHERE name = 'raw';
SELECT endpoint FROM sqsn.sn_list_subscriptions('orders');
SELECT regexp_replace(pg_temp.err(format('SELECT sqsn.sn_unsubscribe(%L)', (SELECT id FROM sub WHERE name = 'raw'))),
	'[0-9a-f-]{36}', '<id>');
SELECT pg_temp.err('SELECT sqsn.sn_unsubscribe(NULL)');
SELECT sqsn.sn_delete_topic('orders');
SELECT count(*) FROM sqsn.sn_list_subscriptions();
SELECT * FROM sqsn.sn_list_topics();

-- privileges: sqsn_admin manages, sqsn_publisher publishes, and
-- subscribing a queue needs the right to send to it
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_sqsn_topic_admin;
DROP ROLE IF EXISTS regress_sqsn_topic_publisher;
DROP ROLE IF EXISTS regress_sqsn_topic_other;
RESET client_min_messages;
CREATE ROLE regress_sqsn_topic_admin IN ROLE sqsn_admin;
CREATE ROLE regress_sqsn_topic_publisher IN ROLE sqsn_publisher;
CREATE ROLE regress_sqsn_topic_other IN ROLE sqsn_consumer;
GRANT EXECUTE ON FUNCTION sqsn.sn_subscribe(text, text, text, jsonb, text, boolean, jsonb, jsonb)
	TO regress_sqsn_topic_other;
SET ROLE regress_sqsn_topic_admin;
SELECT sqsn.sn_create_topic('priv');
SELECT sqsn.sn_grant('priv', 'sqsn_publisher', '{publish}');
SELECT sqsn.sn_grant('priv', 'regress_sqsn_topic_other', '{subscribe}');
SELECT sqsn.sn_subscribe('priv', 'sqs', 'orders_all') IS NOT NULL;
SELECT sqsn.sn_publish('priv', 'from an admin') IS NOT NULL;
RESET ROLE;
SET ROLE regress_sqsn_topic_publisher;
SELECT sqsn.sn_publish('priv', 'from a publisher') IS NOT NULL;
SELECT count(*) FROM sqsn.sn_publish_batch('priv', ARRAY['b']);
SELECT * FROM sqsn.sn_list_topics('priv');
SELECT pg_temp.err($$SELECT sqsn.sn_create_topic('priv2')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('priv', 'sqs', 'orders_red')$$);
SELECT pg_temp.err($$SELECT * FROM sqsn.sn_list_subscriptions()$$);
SELECT pg_temp.err($$SELECT * FROM sqsn.topic$$);
SELECT pg_temp.err($$SELECT * FROM sqsn.subscription$$);
SELECT pg_temp.err($$SELECT sqsn.sq_send('orders_all', 'x')$$);
RESET ROLE;
SET ROLE regress_sqsn_topic_other;
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('priv', 'sqs', 'orders_red')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish('priv', 'x')$$);
RESET ROLE;
SELECT body::jsonb->>'Message' AS m FROM pg_temp.bodies('orders_all') ORDER BY m;
SELECT sqsn.sn_delete_topic('priv');
DROP ROLE regress_sqsn_topic_admin;
DROP ROLE regress_sqsn_topic_publisher;
REVOKE EXECUTE ON FUNCTION sqsn.sn_subscribe(text, text, text, jsonb, text, boolean, jsonb, jsonb)
	FROM regress_sqsn_topic_other;
DROP ROLE regress_sqsn_topic_other;

SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('orders_') AS q;
SELECT sqsn.sn_delete_topic(t) FROM sqsn.sn_list_topics() AS t;
