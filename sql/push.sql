-- Push delivery, the parts that need no HTTP server (test/t/008 does the
-- POSTs): HTTP/HTTPS subscriptions and their confirmation, the outbox rows
-- a publish writes, delivery and redrive policies with every limit, the
-- retry schedule of every backoff function, topic attributes, email and
-- email-json subscriptions (test/t/028 sends the mail).
-- The delivery worker works in another database, so rows stay pending.

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

SELECT sqsn.sn_create_topic('push');
SELECT sqsn.sq_create_queue('push_dlq');
SELECT sqsn.sq_create_queue('push_q');

-- an http subscription is pending; a confirmation request waits in the outbox
SELECT sqsn.sn_subscribe('push', 'http', 'http://hooks.example.com/a') AS a \gset
SELECT protocol, endpoint, status FROM sqsn.sn_list_subscriptions('push');
SELECT message_type, topic_arn, message, status, attempts, next_attempt_at <= now() AS due
FROM sqsn.delivery WHERE subscription_id = :'a';
SELECT length(confirmation_token) FROM sqsn.subscription WHERE subscription_id = :'a';
-- the same endpoint again: the same subscription, no second request
SELECT sqsn.sn_subscribe('push', 'http', 'http://hooks.example.com/a') = :'a';
SELECT count(*) FROM sqsn.delivery WHERE subscription_id = :'a';
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'http', 'http://hooks.example.com/a', raw_message_delivery => true)$$);

-- unconfirmed: a publish writes nothing for it
SELECT sqsn.sn_publish('push', 'not yet') IS NOT NULL;
SELECT count(*) FROM sqsn.delivery WHERE message_type = 'Notification';

-- confirmation: wrong tokens change nothing; the right one confirms
SELECT pg_temp.err($$SELECT sqsn.sn_confirm_subscription('push', 'wrong')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_confirm_subscription('nosuchtopic', 'wrong')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_confirm_subscription('push', NULL)$$);
SELECT status FROM sqsn.sn_list_subscriptions('push');
SELECT sqsn.sn_confirm_subscription('push', confirmation_token) = :'a'
FROM sqsn.subscription WHERE subscription_id = :'a';
SELECT status FROM sqsn.sn_list_subscriptions('push');
-- the pending confirmation request is gone
SELECT count(*) FROM sqsn.delivery WHERE subscription_id = :'a';

-- a publish writes one outbox row per confirmed, matching push subscription
SELECT sqsn.sn_subscribe('push', 'https', 'https://hooks.example.com/b',
	filter_policy => '{"kind": ["b"]}') AS b \gset
SELECT sqsn.sn_confirm_subscription('push', confirmation_token) = :'b'
FROM sqsn.subscription WHERE subscription_id = :'b';
SELECT sqsn.sn_subscribe('push', 'sqs', 'push_q') IS NOT NULL;
SELECT sqsn.sn_publish('push', 'for a only', '{"kind": "a"}', subject => 'Hi') AS m1 \gset
SELECT sqsn.sn_publish('push', '{"default": "d", "http": "for http", "sqs": "for sqs"}', '{"kind": "b"}',
	message_structure => 'json') AS m2 \gset
SELECT s.endpoint, d.message_id = :'m1' AS m1, d.message_id = :'m2' AS m2, d.topic_arn,
	d.subject, d.message, d.message_attributes, d.status, d.attempts
FROM sqsn.delivery d JOIN sqsn.subscription s USING (subscription_id)
WHERE d.message_type = 'Notification' ORDER BY d.message_id = :'m2', s.endpoint;
SELECT body::jsonb->>'Message' FROM sqsn.sq_receive('push_q', 10) WHERE body LIKE '%for sqs%';
-- a rolled-back publish leaves no row
BEGIN;
SELECT sqsn.sn_publish('push', 'rolled back', '{"kind": "a"}') IS NOT NULL;
ROLLBACK;
SELECT count(*) FROM sqsn.delivery WHERE message = 'rolled back';
SELECT endpoint, confirmed, delivered, failed, dead_lettered, pending, oldest_pending_age IS NOT NULL AS has_age
FROM sqsn.subscription_stats WHERE topic_name = 'push' ORDER BY endpoint;
-- unsubscribing removes its outbox rows
SELECT sqsn.sn_unsubscribe(:'b');
SELECT count(*) FROM sqsn.delivery WHERE subscription_id = :'b';

-- auto-confirmed hosts (superuser-only setting)
SET sqsn.http_auto_confirm_hosts = '*.internal.example, 10.1.2.3';
SELECT sqsn.sn_subscribe('push', 'http', 'http://svc.internal.example:8080/x') AS c \gset
SELECT sqsn.sn_subscribe('push', 'http', 'http://10.1.2.3/y') AS d \gset
SELECT sqsn.sn_subscribe('push', 'http', 'http://internal.example/z') AS e \gset
SELECT endpoint, status FROM sqsn.sn_list_subscriptions('push') WHERE subscription_id IN (:'c', :'d', :'e') ORDER BY endpoint;
SELECT count(*) FROM sqsn.delivery WHERE subscription_id IN (:'c', :'d');
RESET sqsn.http_auto_confirm_hosts;

-- endpoint URLs
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'http', 'https://x.example/')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'https', 'http://x.example/')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'http', 'http://x.example/a b')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'http', 'http://')$$);
SELECT pg_temp.err(format('SELECT sqsn.sn_subscribe(%L, %L, %L)', 'push', 'http', 'http://x.example/' || repeat('a', 2048)));
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'sqs', 'push_q', delivery_policy => '{}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'sqs', 'push_q', redrive_policy => '{"deadLetterTargetArn": "push_dlq"}')$$);

-- redrive policies
SELECT sqsn.sn_subscribe('push', 'http', 'http://hooks.example.com/r',
	redrive_policy => '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:push_dlq"}') AS r \gset
SELECT q.queue_name FROM sqsn.subscription s JOIN sqsn.queue q ON q.queue_id = s.dead_letter_queue_id
WHERE s.subscription_id = :'r';
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'http', 'http://hooks.example.com/r2', redrive_policy => '{"deadLetterTargetArn": "nosuchqueue"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'http', 'http://hooks.example.com/r2', redrive_policy => '{"maxReceiveCount": 3}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'http', 'http://hooks.example.com/r2', redrive_policy => '{"deadLetterTargetArn": 3}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'http', 'http://hooks.example.com/r2', redrive_policy => '"push_dlq"')$$);
SELECT count(*) FROM sqsn.subscription WHERE endpoint LIKE '%/r2';
SELECT sqsn.sn_set_subscription_attributes(:'r', '{"RedrivePolicy": null}');
SELECT dead_letter_queue_id IS NULL FROM sqsn.subscription WHERE subscription_id = :'r';
SELECT sqsn.sn_set_subscription_attributes(:'r', '{"RedrivePolicy": {"deadLetterTargetArn": "push_dlq"},
	"DeliveryPolicy": {"healthyRetryPolicy": {"numRetries": 5}}}');
SELECT dead_letter_queue_id IS NOT NULL, delivery_policy FROM sqsn.subscription WHERE subscription_id = :'r';
SELECT pg_temp.err($$SELECT sqsn.sn_set_subscription_attributes('$$ || :'r' || $$', '{"DeliveryPolicy": {"healthyRetryPolicy": {"numRetries": 101}}}')$$);
SELECT delivery_policy FROM sqsn.subscription WHERE subscription_id = :'r';
SELECT sqsn.sn_set_subscription_attributes(:'r', '{"DeliveryPolicy": ""}');
SELECT delivery_policy FROM sqsn.subscription WHERE subscription_id = :'r';
SELECT pg_temp.err(format('SELECT sqsn.sn_set_subscription_attributes(%L, %L)',
	(SELECT subscription_id FROM sqsn.subscription WHERE protocol = 'sqs' LIMIT 1),
	'{"DeliveryPolicy": {}}'));
-- deleting the dead-letter queue leaves the subscription without one
SELECT sqsn.sq_delete_queue('push_dlq');
SELECT dead_letter_queue_id IS NULL FROM sqsn.subscription WHERE subscription_id = :'r';

-- delivery policies: the defaults, and every backoff function
SELECT * FROM sqsn.delivery_retry_schedule();
SELECT * FROM sqsn.delivery_retry_schedule('{}');
SELECT f, array_agg(delay_seconds ORDER BY retry) AS delays
FROM unnest(ARRAY['linear', 'arithmetic', 'geometric', 'exponential']) AS f,
	sqsn.delivery_retry_schedule(jsonb_build_object('healthyRetryPolicy', jsonb_build_object(
		'minDelayTarget', 1, 'maxDelayTarget', 100, 'numRetries', 6, 'backoffFunction', f)))
GROUP BY f ORDER BY f;
-- the four phases
SELECT * FROM sqsn.delivery_retry_schedule('{"healthyRetryPolicy": {"minDelayTarget": 2,
	"maxDelayTarget": 10, "numRetries": 9, "numNoDelayRetries": 2, "numMinDelayRetries": 2,
	"numMaxDelayRetries": 2, "backoffFunction": "linear"}}');
-- one backoff retry is at minDelayTarget; none with every retry in other phases
SELECT * FROM sqsn.delivery_retry_schedule('{"healthyRetryPolicy": {"minDelayTarget": 3, "maxDelayTarget": 9, "numRetries": 1}}');
SELECT * FROM sqsn.delivery_retry_schedule('{"healthyRetryPolicy": {"numRetries": 2, "numNoDelayRetries": 2}}');
SELECT count(*) FROM sqsn.delivery_retry_schedule('{"healthyRetryPolicy": {"numRetries": 0}}');
-- numbers as strings, as the managed service accepts them
SELECT * FROM sqsn.delivery_retry_schedule('{"healthyRetryPolicy": {"numRetries": "2", "minDelayTarget": "5", "maxDelayTarget": "5"}}');
-- limits and errors: 22023, naming the problem
SELECT pg_temp.err(format('SELECT * FROM sqsn.delivery_retry_schedule(%L)', p))
FROM unnest(ARRAY[
	'[]',
	'{"retryPolicy": {}}',
	'{"healthyRetryPolicy": []}',
	'{"healthyRetryPolicy": {"numRetries": -1}}',
	'{"healthyRetryPolicy": {"numRetries": 101}}',
	'{"healthyRetryPolicy": {"numRetries": 1.5}}',
	'{"healthyRetryPolicy": {"numRetries": true}}',
	'{"healthyRetryPolicy": {"minDelayTarget": 0}}',
	'{"healthyRetryPolicy": {"maxDelayTarget": 3601}}',
	'{"healthyRetryPolicy": {"minDelayTarget": 30, "maxDelayTarget": 20}}',
	'{"healthyRetryPolicy": {"numRetries": 3, "numNoDelayRetries": 2, "numMaxDelayRetries": 2}}',
	'{"healthyRetryPolicy": {"numNoDelayRetries": -1}}',
	'{"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 40, "maxDelayTarget": 40}}',
	'{"healthyRetryPolicy": {"backoffFunction": "cubic"}}',
	'{"healthyRetryPolicy": {"jitter": true}}',
	'{"throttlePolicy": {"maxReceivesPerSecond": 0}}',
	'{"throttlePolicy": {"rate": 1}}',
	'{"requestPolicy": {"headerContentType": "image/png"}}',
	'{"requestPolicy": {"headerContentType": 5}}'
]::jsonb[]) AS p;
-- at the limits
SELECT count(*), sum(delay_seconds) FROM sqsn.delivery_retry_schedule('{"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 36, "maxDelayTarget": 36}}');
SELECT count(*), max(delay_seconds) FROM sqsn.delivery_retry_schedule('{"healthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 3600, "maxDelayTarget": 3600}}');
SELECT count(*) FROM sqsn.delivery_retry_schedule('{"throttlePolicy": {"maxReceivesPerSecond": 1}, "requestPolicy": {"headerContentType": "application/json"}}');
-- invalid policies are refused at subscribe and change nothing
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'http', 'http://hooks.example.com/p', delivery_policy => '{"healthyRetryPolicy": {"numRetries": 101}}')$$);
SELECT count(*) FROM sqsn.subscription WHERE endpoint LIKE '%/p';

-- topic attributes: the topic form of the delivery policy
SELECT sqsn.sn_set_topic_attributes('push', '{"DeliveryPolicy": {"http": {"defaultHealthyRetryPolicy":
	{"numRetries": 5, "minDelayTarget": 1, "maxDelayTarget": 9}, "disableSubscriptionOverrides": false,
	"defaultThrottlePolicy": {"maxReceivesPerSecond": 10}}}}');
SELECT delivery_policy FROM sqsn.topic WHERE topic_name = 'push';
SELECT pg_temp.err(format('SELECT sqsn.sn_set_topic_attributes(%L, %L)', 'push', a))
FROM unnest(ARRAY[
	'{"DeliveryPolicy": {"https": {}}}',
	'{"DeliveryPolicy": {"http": {"healthyRetryPolicy": {}}}}',
	'{"DeliveryPolicy": {"http": {"defaultHealthyRetryPolicy": {"numRetries": 101}}}}',
	'{"DeliveryPolicy": {"http": {"disableSubscriptionOverrides": "yes"}}}',
	'{"DeliveryPolicy": {"http": 5}}',
	'{"NoSuchAttribute": "x"}',
	'[]'
]::jsonb[]) AS a;
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('nosuchtopic', '{}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_set_topic_attributes('push', NULL)$$);
SELECT delivery_policy IS NOT NULL FROM sqsn.topic WHERE topic_name = 'push';
SELECT sqsn.sn_set_topic_attributes('push', '{"DeliveryPolicy": null}');
SELECT delivery_policy FROM sqsn.topic WHERE topic_name = 'push';

-- the signing certificate (make test/demo configure one; without it: 55000)
SELECT CASE WHEN current_setting('sqsn.signing_certificate_file') = ''
	THEN pg_temp.err('SELECT sqsn.signing_certificate()') = '55000: no signing certificate is configured'
	ELSE sqsn.signing_certificate() LIKE '-----BEGIN CERTIFICATE-----%' END AS certificate_ok;

-- email and email-json subscriptions: an address that can be neither an
-- SMTP command nor a header line; always pending until the mailed token
-- confirms it, its confirmation mail waiting in the outbox
SELECT pg_temp.err(format('SELECT sqsn.sn_subscribe(%L, %L, %L)', 'push', 'email', a))
FROM unnest(ARRAY['no-at-sign', 'two@@example.com', '@example.com', 'me@',
	'me@exa mple.com', 'me@-example.com', 'me@example..com', 'a..b@example.com',
	'.a@example.com', E'me@example.com\r\nRCPT TO:<x@y.z>', 'me<x>@example.com',
	'mé@example.com', repeat('a', 65) || '@example.com',
	'me@' || repeat('a', 64) || '.com', 'me@' || repeat('a.', 126) || 'com', '']) AS a;
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push', 'email', NULL)$$);
SELECT sqsn.sn_subscribe('push', 'email', 'me@example.com') AS e \gset
SELECT sqsn.sn_subscribe('push', 'email-json', 'Me.Too+tag@mail.example.com') AS ej \gset
SELECT sqsn.sn_subscribe('push', 'email', 'me@example.com') = :'e' AS same_subscription;
SELECT protocol, endpoint, status FROM sqsn.sn_list_subscriptions('push')
WHERE protocol LIKE 'email%' ORDER BY protocol;
SELECT s.protocol, d.message_type, d.status, length(s.confirmation_token)
FROM sqsn.delivery d JOIN sqsn.subscription s USING (subscription_id)
WHERE s.protocol LIKE 'email%' ORDER BY 1;
-- nothing is queued for a pending email subscription
SELECT sqsn.sn_publish('push', 'to nobody yet') IS NOT NULL;
SELECT count(*) FROM sqsn.delivery d JOIN sqsn.subscription s USING (subscription_id)
WHERE s.protocol LIKE 'email%' AND d.message_type = 'Notification';
-- confirmed: notifications are queued, with delivery and redrive policies
SELECT sqsn.sq_create_queue('push_mail_dlq');
SELECT sqsn.sn_confirm_subscription('push',
	(SELECT confirmation_token FROM sqsn.subscription WHERE subscription_id = :'e')) = :'e';
SELECT sqsn.sn_publish('push', 'to the mailbox', subject => 'Hello') IS NOT NULL;
SELECT sqsn.sn_publish('push', '{"default": "d", "http": "h", "email": "e", "email-json": "ej"}',
	message_structure => 'json') IS NOT NULL;
-- with message_structure json, an email subscriber gets the "email" text
SELECT d.subject, d.message FROM sqsn.delivery d
WHERE d.subscription_id = :'e' AND d.message_type = 'Notification' ORDER BY d.delivery_id;
SELECT sqsn.sn_set_subscription_attributes(:'e', '{"DeliveryPolicy": {"healthyRetryPolicy": {"numRetries": 7}},
	"RedrivePolicy": {"deadLetterTargetArn": "push_mail_dlq"}}');
SELECT a->>'Protocol', a->>'Endpoint', a->'EffectiveDeliveryPolicy'->'healthyRetryPolicy'->>'numRetries',
	a->>'RedrivePolicy' FROM sqsn.sn_get_subscription_attributes(:'e') AS a;
-- a FIFO topic delivers to FIFO queues only
SELECT sqsn.sn_create_topic('push_mail.fifo');
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('push_mail.fifo', 'email', 'me@example.com')$$);
SELECT sqsn.sn_delete_topic('push_mail.fifo');
SELECT sqsn.sq_delete_queue('push_mail_dlq');

-- sms subscriptions: E.164 numbers only (22023), confirmed at once; the
-- opt-out list
SELECT pg_temp.err(format('SELECT sqsn.sn_subscribe(%L, %L, %L)', 'push', 'sms', a))
FROM unnest(ARRAY['15555550100', '+0555550100', '+1 555 555 0100', '+1-555-555-0100',
	'+1234567890123456', '+1', '+1555555010a', E'+15555550100\n', '']) AS a;
SELECT sqsn.sn_subscribe('push', 'sms', '+15555550100') AS s \gset
SELECT protocol, endpoint, status FROM sqsn.sn_list_subscriptions('push') WHERE protocol = 'sms';
SELECT count(*) FROM sqsn.delivery WHERE subscription_id = :'s';
SELECT sqsn.sn_publish('push', '{"default": "d", "sms": "s"}', message_structure => 'json') IS NOT NULL;
SELECT message FROM sqsn.delivery WHERE subscription_id = :'s';
SELECT sqsn.sn_opt_out_phone_number('+15555550100');
SELECT sqsn.sn_opt_out_phone_number('+15555550100');
SELECT sqsn.sn_opt_out_phone_number('+4915112345678');
SELECT * FROM sqsn.sn_list_phone_numbers_opted_out();
SELECT sqsn.sn_check_if_phone_number_is_opted_out('+15555550100'),
	sqsn.sn_check_if_phone_number_is_opted_out('+15555550199');
SELECT sqsn.sn_opt_in_phone_number('+15555550100');
SELECT * FROM sqsn.sn_list_phone_numbers_opted_out();
SELECT pg_temp.err($$SELECT sqsn.sn_opt_out_phone_number('555-0100')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_check_if_phone_number_is_opted_out(NULL)$$);
SELECT sqsn.sn_opt_in_phone_number('+4915112345678');

-- SMS straight to a phone number: an outbox row without subscription or
-- topic, in the caller's transaction; bad input changes nothing
SELECT pg_temp.err(format('SELECT sqsn.sn_publish_sms(%L, %L)', a, 'hi'))
FROM unnest(ARRAY['15555550100', '+0555550100', '+1 555 555 0100', '']) AS a;
SELECT pg_temp.err($$SELECT sqsn.sn_publish_sms(NULL, 'hi')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_sms('+15555550100', NULL)$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_sms('+15555550100', '')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_publish_sms('+15555550100', repeat('x', 262145))$$);
SELECT pg_temp.err(format('SELECT sqsn.sn_publish_sms(%L, %L, %L)', '+15555550100', 'hi', a))
FROM unnest(ARRAY[
	'{"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Urgent"}}',
	'{"AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "TwelveLetter"}}',
	'{"AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "12345"}}',
	'{"AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "My Brand"}}',
	'{"a": {"DataType": "Strange", "StringValue": "x"}}']) AS a;
SELECT sqsn.sn_opt_out_phone_number('+15555550177');
SELECT pg_temp.err($$SELECT sqsn.sn_publish_sms('+15555550177', 'to an opted-out number')$$);
SELECT count(*) FROM sqsn.delivery WHERE phone_number IS NOT NULL;
SET ROLE sqsn_publisher;
SELECT pg_temp.err($$SELECT sqsn.sn_publish_sms('+15555550100', 'not for publishers')$$);
RESET ROLE;
SELECT count(*) FROM sqsn.delivery WHERE phone_number IS NOT NULL;
BEGIN;
SELECT sqsn.sn_publish_sms('+15555550100', 'rolled back') IS NOT NULL;
ROLLBACK;
SELECT count(*) FROM sqsn.delivery WHERE phone_number IS NOT NULL;
SELECT sqsn.sn_publish_sms('+15555550100', 'Your code is 1234', '{
	"AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "MyBrand"},
	"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}') AS m \gset
SELECT phone_number, subscription_id, topic_arn, message_type, message,
	message_attributes->'AWS.SNS.SMS.SenderID'->>'StringValue' AS sender, worker
FROM sqsn.delivery WHERE message_id = :'m';
SELECT sqsn.sn_opt_in_phone_number('+15555550177');
DELETE FROM sqsn.delivery WHERE phone_number IS NOT NULL;

SELECT sqsn.sn_delete_topic('push');
SELECT count(*) FROM sqsn.delivery;
