-- The Policy attribute evaluated into grants: how each kind of statement
-- maps to grants of queue_grant/topic_grant marked from_policy, every
-- refusal (22023, naming the statement, nothing changed), replacing and
-- removing a Policy revokes only the grants it made, grants made with
-- sq_grant/sn_grant are never touched, and roles use what a policy granted.

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

-- doc(name, statements): a policy document; $ARN in statements stands for
-- the ARN of the queue (or, with a topic name, the topic) called name.
CREATE FUNCTION pg_temp.doc(name text, statements text, topic boolean DEFAULT false)
RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('Version', '2012-10-17', 'Statement',
		replace(statements, '$ARN', format('arn:aws:%s:%s:%s:%s',
			CASE WHEN topic THEN 'sns' ELSE 'sqs' END,
			current_setting('sqsn.api_region'), current_setting('sqsn.api_account_id'),
			name))::jsonb)
$$;

-- setq(queue, statements) / sett(topic, statements): sets the Policy.
CREATE FUNCTION pg_temp.setq(q text, statements text) RETURNS text
LANGUAGE sql AS $$
	SELECT pg_temp.err(format('SELECT sqsn.sq_set_queue_attributes(%L, %L)', q,
		jsonb_build_object('Policy', pg_temp.doc(q, statements))))
$$;
CREATE FUNCTION pg_temp.sett(t text, statements text) RETURNS text
LANGUAGE sql AS $$
	SELECT pg_temp.err(format('SELECT sqsn.sn_set_topic_attributes(%L, %L)', t,
		jsonb_build_object('Policy', pg_temp.doc(t, statements, true))))
$$;

-- qgrants(queue) / tgrants(topic): its grants, "role:action", policy
-- grants marked with a star
CREATE FUNCTION pg_temp.qgrants(q text) RETURNS text
LANGUAGE sql AS $$
	SELECT coalesce(string_agg(grantee || ':' || action || CASE WHEN from_policy THEN '*' ELSE '' END,
		' ' ORDER BY grantee, action, from_policy), '-')
	FROM sqsn.queue_grants WHERE queue_name = q AND action <> 'owner'
$$;
CREATE FUNCTION pg_temp.tgrants(t text) RETURNS text
LANGUAGE sql AS $$
	SELECT coalesce(string_agg(grantee || ':' || action || CASE WHEN from_policy THEN '*' ELSE '' END,
		' ' ORDER BY grantee, action, from_policy), '-')
	FROM sqsn.topic_grants WHERE topic_name = t AND action <> 'owner'
$$;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_p_owner;
DROP ROLE IF EXISTS regress_p_app;
DROP ROLE IF EXISTS regress_p_other;
DROP ROLE IF EXISTS regress_p_manual;
DROP ROLE IF EXISTS regress_p_nobody;
RESET client_min_messages;
CREATE ROLE regress_p_owner IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_p_app IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_p_other IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_p_manual IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_p_nobody IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
SELECT access_key_id FROM sqsn.api_create_credentials('regress_p_app', 'AKIAREGRESSPOLICY001');

SELECT sqsn.sq_create_queue('p_q'), sqsn.sq_create_queue('p_other'),
	sqsn.sn_create_topic('p_t');
SELECT sqsn.sq_set_queue_owner('p_q', 'regress_p_owner'),
	sqsn.sn_set_topic_owner('p_t', 'regress_p_owner');

-- policy_statements_map_to_grants (one statement at a time)
SELECT s.what, pg_temp.setq('p_q', s.statements) AS result, pg_temp.qgrants('p_q') AS grants
FROM (VALUES
	(1, 'an access key sends',
		'{"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sqs:SendMessage", "Resource": "$ARN"}'),
	(2, 'an IAM user ARN names a role; receive with delete',
		'{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/regress_p_other"}, "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": "$ARN"}'),
	(3, 'a role ARN with a path, a batch of sends',
		'{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::000000000000:role/team/regress_p_other"]}, "Action": "sqs:SendMessageBatch", "Resource": "$ARN"}'),
	(4, 'everyone, every action, any resource',
		'{"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*"}'),
	(5, '{"AWS": "*"} is everyone; wildcards and case',
		'{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["SQS:send*", "sqs:ReceiveMess?ge"], "Resource": "arn:aws:sqs:*:*:p_*"}'),
	(6, 'two principals, no Resource (this queue), readers'' actions ride along',
		'{"Effect": "Allow", "Principal": {"AWS": ["AKIAREGRESSPOLICY001", "arn:aws:iam::000000000000:user/regress_p_other"]}, "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]}'),
	(7, 'every administrative action: admin',
		'{"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": ["sqs:SetQueueAttributes", "sqs:PurgeQueue", "sqs:DeleteQueue", "sqs:AddPermission", "sqs:RemovePermission", "sqs:TagQueue", "sqs:UntagQueue", "sqs:StartMessageMoveTask", "sqs:CancelMessageMoveTask"], "Resource": "$ARN"}'),
	(8, 'a topic''s delivery: accepted, no grant',
		'{"Sid": "topic", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": "$ARN", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:000000000000:p_t"}}}'),
	(9, 'the same with Principal "*" and ArnLike',
		'{"Effect": "Allow", "Principal": "*", "Action": ["sqs:SendMessage"], "Resource": "$ARN", "Condition": {"ArnLike": {"AWS:SourceArn": ["arn:aws:sns:*:*:p_*"]}}}'),
	(10, 'a single statement object, several statements merged',
		'[{"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sqs:SendMessage"}, {"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sqs:ReceiveMessage"}]')
) AS s(n, what, statements)
ORDER BY s.n;
SELECT pg_temp.err(format('SELECT sqsn.sq_set_queue_attributes(%L, %L)', 'p_q',
	jsonb_build_object('Policy', jsonb_build_object('Statement',
	'{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}'::jsonb)))) AS single_object,
	pg_temp.qgrants('p_q') AS grants;
-- the document is kept and returned as it was given
SELECT sqsn.sq_get_queue_attributes('p_q') -> 'Policy' AS policy;

-- every_refusal_is_22023_names_the_statement_and_changes_nothing
SELECT pg_temp.setq('p_q', '{"Sid": "keep", "Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sqs:SendMessage"}');
CREATE TEMP TABLE before AS
	SELECT sqsn.sq_get_queue_attributes('p_q') -> 'Policy' AS policy, pg_temp.qgrants('p_q') AS grants;
SELECT s.what, pg_temp.setq('p_q', s.statements) AS result
FROM (VALUES
	(1, 'Deny', '[{"Sid": "ok", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}, {"Sid": "no", "Effect": "Deny", "Principal": "*", "Action": "sqs:*"}]'),
	(2, 'NotPrincipal', '{"Effect": "Allow", "NotPrincipal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sqs:SendMessage"}'),
	(3, 'NotAction', '{"Effect": "Allow", "Principal": "*", "NotAction": "sqs:DeleteQueue"}'),
	(4, 'NotResource', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "NotResource": "$ARN"}'),
	(5, 'an unknown key', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "When": "now"}'),
	(6, 'no Effect', '{"Principal": "*", "Action": "sqs:SendMessage"}'),
	(7, 'no Principal', '{"Effect": "Allow", "Action": "sqs:SendMessage"}'),
	(8, 'no Action', '{"Effect": "Allow", "Principal": "*"}'),
	(9, 'a Principal string other than *', '{"Effect": "Allow", "Principal": "regress_p_app", "Action": "sqs:SendMessage"}'),
	(10, 'a federated principal', '{"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"}, "Action": "sqs:SendMessage"}'),
	(11, 'another account', '{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/regress_p_app"}, "Action": "sqs:SendMessage"}'),
	(12, 'an account root', '{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sqs:SendMessage"}'),
	(13, 'a role that does not exist', '{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/regress_p_missing"}, "Action": "sqs:SendMessage"}'),
	(14, 'an unknown access key', '{"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY999"}, "Action": "sqs:SendMessage"}'),
	(15, 'an account id', '{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sqs:SendMessage"}'),
	(16, 'another service principal', '{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sqs:SendMessage", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:000000000000:p_t"}}}'),
	(17, 'the SNS service without a condition', '{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage"}'),
	(18, 'another condition', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Condition": {"StringEquals": {"aws:SourceAccount": "000000000000"}}}'),
	(19, 'another condition key', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:sns:us-east-1:000000000000:p_t"}}}'),
	(20, 'a source that is no topic', '{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sqs:us-east-1:000000000000:p_other"}}}'),
	(21, 'a condition on a grant to a role', '{"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sqs:SendMessage", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:000000000000:p_t"}}}'),
	(22, 'a topic''s delivery with more than send', '{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": ["sqs:SendMessage", "sqs:ReceiveMessage"], "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:000000000000:p_t"}}}'),
	(23, 'an unknown action', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessages"}'),
	(24, 'a topic action on a queue', '{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish"}'),
	(25, 'not a queue action', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:CreateQueue"}'),
	(26, 'delete without receive', '{"Effect": "Allow", "Principal": "*", "Action": ["sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]}'),
	(27, 'part of admin', '{"Effect": "Allow", "Principal": "*", "Action": ["sqs:SendMessage", "sqs:PurgeQueue"]}'),
	(28, 'reading only', '{"Effect": "Allow", "Principal": "*", "Action": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"]}'),
	(29, 'another queue', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:000000000000:p_other"}'),
	(30, 'this queue and another', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": ["$ARN", "arn:aws:sqs:*:*:p_other"]}'),
	(31, 'a statement that is no object', '["sqs:SendMessage"]'),
	(32, 'an Action that is no string', '{"Effect": "Allow", "Principal": "*", "Action": [1]}'),
	(33, 'an empty Action array', '{"Effect": "Allow", "Principal": "*", "Action": []}')
) AS s(n, what, statements)
ORDER BY s.n;
SELECT (sqsn.sq_get_queue_attributes('p_q') -> 'Policy') = b.policy AS policy_unchanged,
	pg_temp.qgrants('p_q') = b.grants AS grants_unchanged, pg_temp.qgrants('p_q') AS grants
FROM before b;

-- replacing_or_removing_the_policy_revokes_only_its_grants
SELECT sqsn.sq_grant('p_q', 'regress_p_manual', '{send}'),
	sqsn.sq_grant('p_q', 'regress_p_app', '{send}');
SELECT pg_temp.setq('p_q', '{"Effect": "Allow", "Principal": {"AWS": ["AKIAREGRESSPOLICY001", "arn:aws:iam::000000000000:user/regress_p_other"]}, "Action": ["sqs:SendMessage", "sqs:ReceiveMessage"]}');
SELECT pg_temp.qgrants('p_q') AS with_policy;
SELECT pg_temp.setq('p_q', '{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/regress_p_other"}, "Action": "sqs:SendMessage"}');
SELECT pg_temp.qgrants('p_q') AS policy_replaced;
-- sq_revoke takes back what sq_grant gave, never a policy's grant
SELECT sqsn.sq_revoke('p_q', 'regress_p_other', '{send}'), sqsn.sq_revoke('p_q', 'regress_p_app', '{send}');
SELECT pg_temp.qgrants('p_q') AS after_revoke;
SELECT sqsn.sq_set_queue_attributes('p_q', '{"Policy": ""}');
SELECT pg_temp.qgrants('p_q') AS policy_removed, sqsn.sq_get_queue_attributes('p_q') ? 'Policy' AS policy_kept;
SELECT sqsn.sq_set_queue_attributes('p_q', '{"Policy": {"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}}}');
SELECT sqsn.sq_set_queue_attributes('p_q', '{"Policy": null}');
SELECT pg_temp.qgrants('p_q') AS removed_with_null;
-- the audit view: who granted it and that it comes from the policy
SELECT pg_temp.setq('p_q', '{"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sqs:SendMessage"}');
SELECT grantee, action, granted_by = session_user AS by_caller, from_policy
FROM sqsn.queue_grants WHERE queue_name = 'p_q' ORDER BY grantee, action, from_policy;

-- a_role_uses_what_a_policy_grants
SELECT sqsn.sq_set_queue_attributes('p_q', '{"Policy": ""}');
SELECT sqsn.sq_revoke('p_q', 'regress_p_manual', '{send}');
SET ROLE regress_p_app;
SELECT pg_temp.err($$SELECT sqsn.sq_send('p_q', 'denied')$$) AS app_before;
RESET ROLE;
SELECT pg_temp.setq('p_q', '{"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sqs:SendMessage"}');
SET ROLE regress_p_app;
SELECT pg_temp.err($$SELECT sqsn.sq_send('p_q', 'from app')$$) AS app_sends,
	pg_temp.err($$SELECT sqsn.sq_receive('p_q')$$) AS app_receives;
RESET ROLE;
-- the owner, a non-admin, sets the policy (admin on the queue is enough)
SET ROLE regress_p_owner;
SELECT pg_temp.setq('p_q', '{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/regress_p_other"}, "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]}') AS owner_sets;
RESET ROLE;
SET ROLE regress_p_other;
SELECT body FROM sqsn.sq_receive('p_q');
SELECT pg_temp.err($$SELECT sqsn.sq_send('p_q', 'x')$$) AS other_sends;
RESET ROLE;
SET ROLE regress_p_app;
SELECT pg_temp.err($$SELECT sqsn.sq_send('p_q', 'x')$$) AS app_lost_send;
RESET ROLE;
-- PUBLIC: any role
SELECT pg_temp.setq('p_q', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}');
SET ROLE regress_p_nobody;
SELECT pg_temp.err($$SELECT sqsn.sq_send('p_q', 'from anyone')$$) AS nobody_sends,
	pg_temp.err($$SELECT sqsn.sq_purge_queue('p_q')$$) AS nobody_purges;
RESET ROLE;
-- a non-admin without admin on the queue cannot set a policy
SET ROLE regress_p_nobody;
SELECT pg_temp.setq('p_q', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}') AS nobody_sets;
RESET ROLE;

-- topics: the same mapping for publish, subscribe and admin
SELECT s.what, pg_temp.sett('p_t', s.statements) AS result, pg_temp.tgrants('p_t') AS grants
FROM (VALUES
	(1, 'an access key publishes', '{"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sns:Publish", "Resource": "$ARN"}'),
	(2, 'subscribe and receive', '{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/regress_p_other"}, "Action": ["sns:Subscribe", "sns:Receive", "sns:GetTopicAttributes"], "Resource": "$ARN"}'),
	(3, 'everything', '{"Effect": "Allow", "Principal": "*", "Action": "sns:*", "Resource": "*"}'),
	(4, 'receive without subscribe', '{"Effect": "Allow", "Principal": "*", "Action": "sns:Receive"}'),
	(5, 'part of admin', '{"Sid": "half", "Effect": "Allow", "Principal": "*", "Action": ["sns:Publish", "sns:DeleteTopic"]}'),
	(6, 'a service principal', '{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sns:Publish", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:000000000000:p_t"}}}'),
	(7, 'a queue action on a topic', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}'),
	(8, 'another topic', '{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "arn:aws:sns:us-east-1:000000000000:p_other"}'),
	(9, 'Deny', '{"Effect": "Deny", "Principal": "*", "Action": "sns:Publish"}')
) AS s(n, what, statements)
ORDER BY s.n;
SELECT sqsn.sn_grant('p_t', 'regress_p_manual', '{publish}');
SELECT pg_temp.sett('p_t', '{"Effect": "Allow", "Principal": {"AWS": "AKIAREGRESSPOLICY001"}, "Action": "sns:Publish"}');
SET ROLE regress_p_app;
SELECT pg_temp.err($$SELECT sqsn.sn_publish('p_t', 'hello')$$) AS app_publishes;
RESET ROLE;
SET ROLE regress_p_other;
SELECT pg_temp.err($$SELECT sqsn.sn_publish('p_t', 'hello')$$) AS other_publishes;
RESET ROLE;
SELECT sqsn.sn_set_topic_attributes('p_t', '{"Policy": ""}');
SELECT pg_temp.tgrants('p_t') AS policy_removed;
SET ROLE regress_p_app;
SELECT pg_temp.err($$SELECT sqsn.sn_publish('p_t', 'hello')$$) AS app_after_removal;
RESET ROLE;
-- a topic's Policy may have no statement: no grants
SELECT sqsn.sn_set_topic_attributes('p_t', '{"Policy": {"Statement": []}}');
SELECT pg_temp.tgrants('p_t') AS empty_policy;

-- deleting a queue or topic deletes its grants
SELECT pg_temp.setq('p_q', '{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}');
SELECT sqsn.sq_delete_queue('p_q'), sqsn.sq_delete_queue('p_other'), sqsn.sn_delete_topic('p_t');
SELECT count(*) AS grants_left FROM sqsn.queue_grants WHERE queue_name IN ('p_q', 'p_t')
	UNION ALL SELECT count(*) FROM sqsn.topic_grants WHERE topic_name = 'p_t';

-- clean up
SELECT sqsn.api_drop_credentials('AKIAREGRESSPOLICY001');
DROP ROLE regress_p_owner, regress_p_app, regress_p_other, regress_p_manual, regress_p_nobody;
