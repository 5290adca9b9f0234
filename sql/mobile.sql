-- Mobile push: platform applications and endpoints, their attributes and
-- sealed credentials, application subscriptions, publishing to a topic
-- and straight to an endpoint with per-platform payloads, disabled
-- endpoints, and the validation errors. Delivery to the providers is in
-- t/033_mobile_push.pl. The keys are made here, never stored in the tree.

\set rsa_key `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null`
\set ec_key `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null`

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

SELECT jsonb_build_object('type', 'service_account', 'project_id', 'demo-project',
	'client_email', 'push@demo-project.iam.gserviceaccount.com',
	'private_key', :'rsa_key',
	'token_uri', 'http://127.0.0.1:1/token')::text AS account \gset

-- applications: the ARN as the managed service forms it
SELECT sqsn.sn_create_platform_application('android-app', 'GCM',
	jsonb_build_object('PlatformCredential', :'account')) AS gcm_app \gset
SELECT :'gcm_app';
SELECT sqsn.sn_create_platform_application('ios-app', 'APNS',
	jsonb_build_object('PlatformCredential', :'ec_key',
		'PlatformPrincipal', 'ABC123DEFG', 'ApplePlatformTeamID', 'TEAM123456',
		'ApplePlatformBundleID', 'com.example.app')) AS apns_app \gset
SELECT :'apns_app';

-- credentials are never shown back, and are sealed at rest
SELECT sqsn.sn_get_platform_application_attributes(:'gcm_app');
SELECT sqsn.sn_get_platform_application_attributes(:'apns_app');
SELECT * FROM sqsn.sn_list_platform_applications();
SELECT name, credentials LIKE 'sqsn1:%' AS sealed,
	position('PRIVATE KEY' IN credentials) = 0 AS no_key_in_clear,
	position('demo-project' IN credentials) = 0 AS no_account_in_clear
FROM sqsn.platform_application ORDER BY name;

-- set attributes: plain ones change, the credentials stay usable
SELECT sqsn.sn_set_platform_application_attributes(:'apns_app',
	'{"ApplePlatformBundleID": "com.example.other", "EventDeliveryFailure": "arn:aws:sns:us-east-1:000000000000:failures"}');
SELECT sqsn.sn_get_platform_application_attributes(:'apns_app');

-- validation
SELECT pg_temp.err($$SELECT sqsn.sn_create_platform_application('bad name', 'GCM', '{}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_platform_application('x', 'ADM', '{}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_platform_application('x', 'GCM', '{}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_platform_application('x', 'GCM', '{"PlatformCredential": "not json"}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_create_platform_application('x', 'GCM',
	'{"PlatformCredential": "{\"type\": \"service_account\", \"project_id\": \"p\", \"client_email\": \"e\", \"private_key\": \"nope\"}"}')$$);
SELECT pg_temp.err(format($$SELECT sqsn.sn_create_platform_application('x', 'APNS', %L)$$,
	jsonb_build_object('PlatformCredential', :'rsa_key', 'PlatformPrincipal', 'ABC123DEFG',
		'ApplePlatformTeamID', 'TEAM123456', 'ApplePlatformBundleID', 'b')));
SELECT pg_temp.err(format($$SELECT sqsn.sn_create_platform_application('x', 'APNS', %L)$$,
	jsonb_build_object('PlatformCredential', :'ec_key', 'PlatformPrincipal', 'short',
		'ApplePlatformTeamID', 'TEAM123456', 'ApplePlatformBundleID', 'b')));
SELECT pg_temp.err(format($$SELECT sqsn.sn_create_platform_application('x', 'APNS', %L)$$,
	jsonb_build_object('PlatformCredential', :'ec_key', 'PlatformPrincipal', 'ABC123DEFG',
		'ApplePlatformTeamID', 'TEAM123456')));
SELECT pg_temp.err(format($$SELECT sqsn.sn_create_platform_application('android-app', 'GCM', %L)$$,
	jsonb_build_object('PlatformCredential', :'account')));
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_platform_application_attributes(%L, '{"Colour": "red"}')$$, :'gcm_app'));
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_platform_application_attributes(%L, '{"ApplePlatformTeamID": 7}')$$, :'gcm_app'));
SELECT pg_temp.err($$SELECT sqsn.sn_get_platform_application_attributes('arn:aws:sns:us-east-1:000000000000:app/GCM/nope')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_get_platform_application_attributes('arn:aws:sns:us-east-1:000000000000:mytopic')$$);

-- endpoints: one per token; the same token again is the same endpoint
SELECT sqsn.sn_create_platform_endpoint(:'gcm_app', 'device-token-1', 'user 42') AS ep1 \gset
SELECT :'ep1' ~ '^arn:aws:sns:us-east-1:000000000000:endpoint/GCM/android-app/[0-9a-f-]{36}$' AS arn_form;
SELECT sqsn.sn_create_platform_endpoint(:'gcm_app', 'device-token-1', 'user 42') = :'ep1' AS same_endpoint;
SELECT pg_temp.err(format($$SELECT sqsn.sn_create_platform_endpoint(%L, 'device-token-1', 'user 43')$$, :'gcm_app'));
SELECT sqsn.sn_create_platform_endpoint(:'gcm_app', 'device-token-2', NULL, '{"Enabled": "false"}') AS ep2 \gset
SELECT sqsn.sn_create_platform_endpoint(:'apns_app', 'a1b2c3') AS ep3 \gset
SELECT sqsn.sn_get_endpoint_attributes(:'ep1');
SELECT sqsn.sn_get_endpoint_attributes(:'ep2');
SELECT regexp_replace(endpoint_arn, '[0-9a-f-]{36}$', '<id>') AS endpoint_arn, attributes
FROM sqsn.sn_list_endpoints_by_platform_application(:'gcm_app');
SELECT sqsn.sn_set_endpoint_attributes(:'ep1', '{"CustomUserData": "user 44", "Token": "device-token-1b"}');
SELECT sqsn.sn_get_endpoint_attributes(:'ep1');
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_endpoint_attributes(%L, '{"Enabled": "maybe"}')$$, :'ep1'));
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_endpoint_attributes(%L, '{"Colour": "red"}')$$, :'ep1'));
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_endpoint_attributes(%L, '{"Token": "device-token-2"}')$$, :'ep1'));
SELECT pg_temp.err(format($$SELECT sqsn.sn_create_platform_endpoint(%L, '')$$, :'gcm_app'));
SELECT pg_temp.err(format($$SELECT sqsn.sn_create_platform_endpoint(%L, 'has space')$$, :'gcm_app'));
SELECT pg_temp.err($$SELECT sqsn.sn_get_endpoint_attributes('arn:aws:sns:us-east-1:000000000000:endpoint/GCM/android-app/00000000-0000-0000-0000-000000000000')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_get_endpoint_attributes('arn:aws:sns:us-east-1:000000000000:endpoint/GCM/android-app/not-a-uuid')$$);

-- a topic delivers to endpoints through application subscriptions; each
-- platform gets its own text of a structured message, in its payload
SELECT sqsn.sn_create_topic('mobile_news');
SELECT sqsn.sn_subscribe('mobile_news', 'application', :'ep1') AS sub1 \gset
SELECT sqsn.sn_subscribe('mobile_news', 'application', :'ep3') AS sub3 \gset
SELECT protocol, confirmed, endpoint = :'ep1' AS endpoint_is_arn
FROM sqsn.subscription WHERE subscription_id = :'sub1';
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('mobile_news', 'application', 'arn:aws:sns:us-east-1:000000000000:endpoint/GCM/android-app/00000000-0000-0000-0000-000000000000')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('mobile_news', 'application', 'https://example.com/')$$);

BEGIN;
SELECT sqsn.sn_publish('mobile_news', 'plain text') IS NOT NULL AS published;
SELECT sqsn.sn_publish('mobile_news', '{"default": "hello", "GCM": "{\"data\": {\"k\": \"v\"}}"}',
	message_structure => 'json') IS NOT NULL AS published;
SELECT s.endpoint = :'ep1' AS gcm, d.message
FROM sqsn.delivery d JOIN sqsn.subscription s USING (subscription_id)
WHERE s.topic_id = (SELECT topic_id FROM sqsn.topic WHERE topic_name = 'mobile_news')
ORDER BY gcm, d.delivery_id;
ROLLBACK;

-- a platform text that is not a JSON object fails the publish
SELECT pg_temp.err($$SELECT sqsn.sn_publish('mobile_news', '{"default": "x", "APNS": "not json"}', message_structure => 'json')$$);

-- publishing straight to an endpoint (TargetArn)
BEGIN;
SELECT sqsn.sn_publish(:'ep3', '{"default": "d", "APNS": "{\"aps\": {\"alert\": \"direct\"}}"}',
	subject => 'hi', message_structure => 'json') AS direct_id \gset
SELECT subscription_id IS NULL AS no_subscription, topic_arn = :'ep3' AS names_endpoint,
	subject, message, message_id = :'direct_id' AS same_id
FROM sqsn.delivery WHERE endpoint_id IS NOT NULL;
-- the row names exactly one target (subscription, phone number or
-- endpoint), and only an SMS to a phone number has no ARN
SELECT pg_temp.err($$UPDATE sqsn.delivery SET phone_number = '+15555550100' WHERE endpoint_id IS NOT NULL$$);
SELECT pg_temp.err($$UPDATE sqsn.delivery SET endpoint_id = NULL WHERE endpoint_id IS NOT NULL$$);
SELECT pg_temp.err($$UPDATE sqsn.delivery SET topic_arn = NULL WHERE endpoint_id IS NOT NULL$$);
SELECT pg_temp.err($$UPDATE sqsn.delivery SET endpoint_id = NULL, phone_number = '+15555550100', topic_arn = NULL WHERE endpoint_id IS NOT NULL$$);
ROLLBACK;
SELECT pg_temp.err(format($$SELECT sqsn.sn_publish(%L, 'x', message_group_id => 'g')$$, :'ep3'));

-- a disabled endpoint refuses direct publishes (EndpointDisabled)
SELECT pg_temp.err(format($$SELECT sqsn.sn_publish(%L, 'to a disabled endpoint')$$, :'ep2'));
SELECT sqsn.sn_set_endpoint_attributes(:'ep2', '{"Enabled": "true"}');
BEGIN;
SELECT sqsn.sn_publish(:'ep2', 'enabled again') IS NOT NULL AS published;
ROLLBACK;

-- deleting: endpoints, then applications with their endpoints; deleting
-- what does not exist does nothing
SELECT sqsn.sn_delete_endpoint(:'ep2');
SELECT sqsn.sn_delete_endpoint(:'ep2');
SELECT count(*) FROM sqsn.sn_list_endpoints_by_platform_application(:'gcm_app');
SELECT sqsn.sn_delete_platform_application(:'gcm_app');
SELECT sqsn.sn_delete_platform_application(:'gcm_app');
SELECT count(*) FROM sqsn.platform_endpoint;
SELECT regexp_replace(pg_temp.err(format($$SELECT sqsn.sn_publish(%L, 'gone')$$, :'ep1')),
	'[0-9a-f-]{36}', '<id>');
SELECT sqsn.sn_delete_platform_application(:'apns_app');
SELECT sqsn.sn_delete_topic('mobile_news');
