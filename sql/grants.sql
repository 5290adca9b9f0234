-- Access policies: per-queue and per-topic grants (sq_grant, sq_revoke,
-- sn_grant, sn_revoke), owners and ownership transfer, the checks of every
-- function (a table-driven matrix role x action -> allowed/denied), the
-- subscription owner's right to send (at subscribe and at publish time),
-- the audit views, and search_path shadowing.

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

-- who(role): the role, or '(session user)' for the one running the test.
CREATE FUNCTION pg_temp.who(r name) RETURNS text
LANGUAGE sql AS $$
	SELECT CASE WHEN r = session_user THEN '(session user)' ELSE r::text END
$$;

-- msgs(q): messages in q, in flight or not.
CREATE FUNCTION pg_temp.msgs(q text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT visible + in_flight + delayed FROM sqsn.queue_stats WHERE queue_name = q
$$;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_g_owner;
DROP ROLE IF EXISTS regress_g_admin;
DROP ROLE IF EXISTS regress_g_send;
DROP ROLE IF EXISTS regress_g_recv;
DROP ROLE IF EXISTS regress_g_adm;
DROP ROLE IF EXISTS regress_g_member;
DROP ROLE IF EXISTS regress_g_group;
DROP ROLE IF EXISTS regress_g_nobody;
DROP ROLE IF EXISTS regress_g_norole;
RESET client_min_messages;

-- Every role but regress_g_norole may execute every per-queue and
-- per-topic function, so what the matrix shows is the grants' doing.
CREATE ROLE regress_g_admin IN ROLE sqsn_admin;
CREATE ROLE regress_g_owner IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_g_send IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_g_recv IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_g_adm IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_g_group NOLOGIN;
CREATE ROLE regress_g_member IN ROLE regress_g_group, sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_g_nobody IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
CREATE ROLE regress_g_norole;

-- new_queues_belong_to_their_creator_and_are_private
SET ROLE regress_g_admin;
SELECT sqsn.sq_create_queue('g_private');
RESET ROLE;
SELECT queue_name, grantee, action FROM sqsn.queue_grants WHERE queue_name = 'g_private';
SET ROLE regress_g_nobody;
SELECT pg_temp.err($$SELECT sqsn.sq_send('g_private', 'x')$$) AS nobody_send;
SELECT pg_temp.err($$SELECT * FROM sqsn.sq_receive('g_private')$$) AS nobody_receive;
SELECT pg_temp.err($$SELECT sqsn.sq_get_queue_attributes('g_private')$$) AS nobody_attributes;
RESET ROLE;

--
-- the queue matrix
--
-- Each cell starts from a fresh queue g_m owned by regress_g_owner (handed
-- over by the admin who created it) with grants: send to regress_g_send,
-- receive to regress_g_recv, admin to regress_g_adm, send and receive to
-- the group regress_g_group; two messages, one of them in flight (its
-- handle in g_handle). The cell runs one call as the role; 'changed' says
-- whether the queue differs afterwards.
CREATE TEMP TABLE g_handle (h text);
GRANT SELECT ON g_handle TO PUBLIC;
CREATE FUNCTION pg_temp.fresh_queue() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('g_m') AS q WHERE q = 'g_m';
	PERFORM sqsn.sq_create_queue('g_m');
	PERFORM sqsn.sq_set_queue_owner('g_m', 'regress_g_owner');
	PERFORM sqsn.sq_grant('g_m', 'regress_g_send', '{send}');
	PERFORM sqsn.sq_grant('g_m', 'regress_g_recv', '{receive}');
	PERFORM sqsn.sq_grant('g_m', 'regress_g_adm', '{admin}');
	PERFORM sqsn.sq_grant('g_m', 'regress_g_group', '{send,receive}');
	PERFORM sqsn.sq_send('g_m', 'one');
	PERFORM sqsn.sq_send('g_m', 'two');
	DELETE FROM g_handle;
	INSERT INTO g_handle SELECT receipt_handle FROM sqsn.sq_receive('g_m', 1, 600);
END
$$;
CREATE FUNCTION pg_temp.queue_state() RETURNS text
LANGUAGE sql AS $$
	SELECT format('%s|%s|%s|%s|%s', (SELECT count(*) FROM sqsn.sq_list_queues('g_m')),
		pg_temp.msgs('g_m'), (SELECT in_flight FROM sqsn.queue_stats WHERE queue_name = 'g_m'),
		sqsn.sq_get_queue_attributes('g_m')->>'VisibilityTimeout',
		(SELECT string_agg(grantee || ':' || action, ',' ORDER BY grantee, action)
		 FROM sqsn.queue_grants WHERE queue_name = 'g_m'))
	WHERE EXISTS (SELECT FROM sqsn.sq_list_queues('g_m'))
$$;
CREATE TEMP TABLE queue_matrix (role text, action text, result text, changed boolean);
DO $$
DECLARE
	r text;
	a record;
	before text;
	res text;
BEGIN
	FOREACH r IN ARRAY ARRAY['regress_g_owner', 'regress_g_admin', 'regress_g_send',
		'regress_g_recv', 'regress_g_adm', 'regress_g_member', 'regress_g_nobody']
	LOOP
		FOR a IN SELECT * FROM (VALUES
			(1, 'send', $q$SELECT sqsn.sq_send('g_m', 'x')$q$),
			(2, 'send_batch', $q$SELECT sqsn.sq_send_batch('g_m', ARRAY['x', 'y'])$q$),
			(3, 'receive', $q$SELECT * FROM sqsn.sq_receive('g_m', 1, 600)$q$),
			(4, 'delete', $q$SELECT sqsn.sq_delete('g_m', (SELECT h FROM g_handle))$q$),
			(5, 'delete_batch', $q$SELECT sqsn.sq_delete_batch('g_m', ARRAY(SELECT h FROM g_handle))$q$),
			(6, 'visibility', $q$SELECT sqsn.sq_change_visibility('g_m', (SELECT h FROM g_handle), 0)$q$),
			(7, 'get_attributes', $q$SELECT sqsn.sq_get_queue_attributes('g_m')$q$),
			(8, 'set_attributes', $q$SELECT sqsn.sq_set_queue_attributes('g_m', '{"VisibilityTimeout": 7}')$q$),
			(9, 'purge', $q$SELECT sqsn.sq_purge_queue('g_m')$q$),
			(10, 'delete_queue', $q$SELECT sqsn.sq_delete_queue('g_m')$q$),
			(11, 'grant', $q$SELECT sqsn.sq_grant('g_m', 'regress_g_nobody', '{send}')$q$),
			(12, 'revoke', $q$SELECT sqsn.sq_revoke('g_m', 'regress_g_send', '{send}')$q$),
			(13, 'set_owner', $q$SELECT sqsn.sq_set_queue_owner('g_m', 'regress_g_nobody')$q$)
		) v(n, action, stmt) ORDER BY n
		LOOP
			PERFORM pg_temp.fresh_queue();
			before := pg_temp.queue_state();
			EXECUTE format('SET ROLE %I', r);
			BEGIN
				EXECUTE a.stmt;
				res := 'allowed';
			EXCEPTION WHEN OTHERS THEN
				res := CASE WHEN SQLSTATE = '42501' THEN 'denied' ELSE SQLSTATE || ': ' || SQLERRM END;
			END;
			RESET ROLE;
			INSERT INTO queue_matrix
				VALUES (r, a.action, res, pg_temp.queue_state() IS DISTINCT FROM before);
		END LOOP;
	END LOOP;
	PERFORM sqsn.sq_delete_queue('g_m');
END
$$;

-- queue_grant_matrix (each role: what it may do)
SELECT replace(role, 'regress_g_', '') AS role,
	max(result) FILTER (WHERE action = 'send') AS send,
	max(result) FILTER (WHERE action = 'send_batch') AS send_batch,
	max(result) FILTER (WHERE action = 'receive') AS receive,
	max(result) FILTER (WHERE action = 'delete') AS delete,
	max(result) FILTER (WHERE action = 'delete_batch') AS delete_batch,
	max(result) FILTER (WHERE action = 'visibility') AS visibility,
	max(result) FILTER (WHERE action = 'get_attributes') AS get_attrs
FROM queue_matrix GROUP BY role ORDER BY min(ctid);
SELECT replace(role, 'regress_g_', '') AS role,
	max(result) FILTER (WHERE action = 'set_attributes') AS set_attrs,
	max(result) FILTER (WHERE action = 'purge') AS purge,
	max(result) FILTER (WHERE action = 'delete_queue') AS delete_queue,
	max(result) FILTER (WHERE action = 'grant') AS grant,
	max(result) FILTER (WHERE action = 'revoke') AS revoke,
	max(result) FILTER (WHERE action = 'set_owner') AS set_owner
FROM queue_matrix GROUP BY role ORDER BY min(ctid);

-- denied_calls_change_nothing, allowed_calls_that_write_change_something
SELECT result, changed, count(*) FROM queue_matrix
WHERE action NOT IN ('get_attributes', 'receive')
GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS denied_but_changed FROM queue_matrix WHERE result = 'denied' AND changed;

-- the errors name the queue and the missing action
SELECT sqsn.sq_create_queue('g_err');
SET ROLE regress_g_nobody;
SELECT sqsn.sq_send('g_err', 'x');
SELECT pg_temp.err($$SELECT * FROM sqsn.sq_receive('g_err')$$) AS receive;
SELECT pg_temp.err($$SELECT sqsn.sq_delete('g_err', 'x')$$) AS delete;
SELECT pg_temp.err($$SELECT sqsn.sq_purge_queue('g_err')$$) AS purge;
SELECT pg_temp.err($$SELECT sqsn.sq_get_queue_attributes('g_err')$$) AS get_attributes;
RESET ROLE;

-- executing_the_function_is_still_needed (a grant alone is not enough)
SELECT sqsn.sq_grant('g_err', 'regress_g_norole', '{send,receive,admin}');
SET ROLE regress_g_norole;
SELECT pg_temp.err($$SELECT sqsn.sq_send('g_err', 'x')$$) AS norole_send;
RESET ROLE;

--
-- grants to PUBLIC and to groups; revocation takes effect at once
--
SELECT sqsn.sq_grant('g_err', 'PUBLIC', '{send}');
SET ROLE regress_g_nobody;
SELECT sqsn.sq_send('g_err', 'via public') IS NOT NULL AS public_send;
RESET ROLE;
SELECT sqsn.sq_revoke('g_err', 'public', '{send}');
SET ROLE regress_g_nobody;
SELECT pg_temp.err($$SELECT sqsn.sq_send('g_err', 'x')$$) AS after_revoke;
RESET ROLE;

SELECT sqsn.sq_grant('g_err', 'regress_g_group', '{send}');
SET ROLE regress_g_member;
SELECT sqsn.sq_send('g_err', 'via group') IS NOT NULL AS member_send;
RESET ROLE;
REVOKE regress_g_group FROM regress_g_member;
SET ROLE regress_g_member;
SELECT pg_temp.err($$SELECT sqsn.sq_send('g_err', 'x')$$) AS after_leaving_group;
RESET ROLE;
GRANT regress_g_group TO regress_g_member;

-- revocation_within_one_transaction_applies_to_the_next_statement
BEGIN;
SET LOCAL ROLE regress_g_member;
SELECT sqsn.sq_send('g_err', 'in tx') IS NOT NULL AS sent;
RESET ROLE;
SELECT sqsn.sq_revoke('g_err', 'regress_g_group', '{send}');
SET LOCAL ROLE regress_g_member;
SELECT pg_temp.err($$SELECT sqsn.sq_send('g_err', 'x')$$) AS after_revoke_in_tx;
ROLLBACK;

-- granting twice changes nothing; revoking what was never granted neither
SELECT sqsn.sq_grant('g_err', 'regress_g_send', '{send,send}');
SELECT sqsn.sq_grant('g_err', 'regress_g_send', '{send}');
SELECT sqsn.sq_revoke('g_err', 'regress_g_recv', '{receive}');
SELECT pg_temp.who(grantee) AS grantee, action FROM sqsn.queue_grants WHERE queue_name = 'g_err' ORDER BY 1, 2;

-- bad arguments
SELECT pg_temp.err($$SELECT sqsn.sq_grant('g_err', 'regress_g_send', '{write}')$$) AS unknown_action;
SELECT pg_temp.err($$SELECT sqsn.sq_grant('g_err', 'regress_g_send', '{}')$$) AS no_action;
SELECT pg_temp.err($$SELECT sqsn.sq_grant('g_err', 'regress_g_send', NULL)$$) AS null_actions;
SELECT pg_temp.err($$SELECT sqsn.sq_grant('g_err', 'regress_g_send', '{send,NULL}')$$) AS null_action;
SELECT pg_temp.err($$SELECT sqsn.sq_grant('g_err', 'regress_g_ghost', '{send}')$$) AS unknown_role;
SELECT pg_temp.err($$SELECT sqsn.sq_grant('g_err', NULL, '{send}')$$) AS null_role;
SELECT pg_temp.err($$SELECT sqsn.sq_grant('g_nope', 'regress_g_send', '{send}')$$) AS unknown_queue;
SELECT pg_temp.err($$SELECT sqsn.sq_grant('g_err', 'regress_g_send', '{publish}')$$) AS topic_action;
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_owner('g_err', 'public')$$) AS public_owner;
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_owner('g_err', 'regress_g_ghost')$$) AS ghost_owner;

--
-- ownership transfer
--
SELECT sqsn.sq_set_queue_owner('g_err', 'regress_g_owner');
SELECT grantee FROM sqsn.queue_grants WHERE queue_name = 'g_err' AND action = 'owner';
SET ROLE regress_g_owner;
SELECT sqsn.sq_purge_queue('g_err') >= 0 AS owner_purges;
SELECT sqsn.sq_set_queue_owner('g_err', 'regress_g_recv');
SELECT pg_temp.err($$SELECT sqsn.sq_purge_queue('g_err')$$) AS former_owner_purges;
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_owner('g_err', 'regress_g_owner')$$) AS former_owner_takes_back;
RESET ROLE;
SET ROLE regress_g_recv;
SELECT sqsn.sq_send('g_err', 'new owner sends') IS NOT NULL AS new_owner_sends;
RESET ROLE;

--
-- queues involved besides the one named: dead-letter queues and redrive
--
SELECT sqsn.sq_create_queue('g_src');
SELECT sqsn.sq_create_queue('g_dlq');
SELECT sqsn.sq_create_queue('g_dest');
SELECT sqsn.sq_set_queue_owner(q, 'regress_g_owner') FROM unnest(ARRAY['g_src', 'g_dlq']) q;
SET ROLE regress_g_owner;
-- a redrive policy needs send on the dead-letter queue (owned: yes)
SELECT sqsn.sq_set_queue_attributes('g_src',
	'{"RedrivePolicy": {"deadLetterTargetArn": "g_dlq", "maxReceiveCount": 1}}');
-- not on g_dest, which it may not send to
SELECT pg_temp.err($q$SELECT sqsn.sq_set_queue_attributes('g_src',
	'{"RedrivePolicy": {"deadLetterTargetArn": "g_dest", "maxReceiveCount": 1}}')$q$) AS foreign_dlq;
-- other attributes need nothing on the dead-letter queue it has
RESET ROLE;
SELECT sqsn.sq_set_queue_owner('g_dlq', 'regress_g_admin');
SET ROLE regress_g_owner;
SELECT sqsn.sq_set_queue_attributes('g_src', '{"VisibilityTimeout": 0}');
SELECT sqsn.sq_send('g_src', 'to dead letter') IS NOT NULL AS sent;
SELECT count(*) FROM sqsn.sq_receive('g_src', 1, 0);
SELECT count(*) AS moved_on_second_receive FROM sqsn.sq_receive('g_src', 1, 0);
-- redrive needs admin on the dead-letter queue ...
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('g_dlq')$$) AS redrive_foreign_dlq;
RESET ROLE;
SELECT sqsn.sq_grant('g_dlq', 'regress_g_owner', '{admin}');
SET ROLE regress_g_owner;
-- ... and send on the destination
SELECT pg_temp.err($$SELECT sqsn.sq_redrive('g_dlq', 'g_dest')$$) AS redrive_to_foreign;
SELECT sqsn.sq_redrive('g_dlq') AS redriven_to_source;
RESET ROLE;
SELECT pg_temp.msgs('g_src') AS in_source, pg_temp.msgs('g_dlq') AS in_dlq;

--
-- the topic matrix
--
SELECT sqsn.sq_create_queue('g_tq');
SELECT sqsn.sq_create_queue('g_tq2');
SELECT sqsn.sq_grant('g_tq', 'public', '{send}');
SELECT sqsn.sq_grant('g_tq2', 'public', '{send}');
CREATE FUNCTION pg_temp.fresh_topic() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sqsn.sn_delete_topic(t) FROM sqsn.sn_list_topics('g_t') AS t WHERE t = 'g_t';
	PERFORM sqsn.sn_create_topic('g_t');
	PERFORM sqsn.sn_set_topic_owner('g_t', 'regress_g_owner');
	PERFORM sqsn.sn_grant('g_t', 'regress_g_send', '{publish}');
	PERFORM sqsn.sn_grant('g_t', 'regress_g_recv', '{subscribe}');
	PERFORM sqsn.sn_grant('g_t', 'regress_g_adm', '{admin}');
	PERFORM sqsn.sn_grant('g_t', 'regress_g_group', '{publish,subscribe}');
	PERFORM sqsn.sn_subscribe('g_t', 'sqs', 'g_tq');
	PERFORM sqsn.sq_purge_queue('g_tq');
END
$$;
CREATE FUNCTION pg_temp.topic_state() RETURNS text
LANGUAGE sql AS $$
	SELECT format('%s|%s|%s|%s', (SELECT count(*) FROM sqsn.sn_list_topics('g_t')),
		(SELECT count(*) FROM sqsn.sn_list_subscriptions() WHERE topic_name = 'g_t'),
		pg_temp.msgs('g_tq'),
		(SELECT string_agg(grantee || ':' || action, ',' ORDER BY grantee, action)
		 FROM sqsn.topic_grants WHERE topic_name = 'g_t'))
$$;
CREATE TEMP TABLE topic_matrix (role text, action text, result text, changed boolean);
DO $$
DECLARE
	r text;
	a record;
	before text;
	res text;
BEGIN
	FOREACH r IN ARRAY ARRAY['regress_g_owner', 'regress_g_admin', 'regress_g_send',
		'regress_g_recv', 'regress_g_adm', 'regress_g_member', 'regress_g_nobody']
	LOOP
		FOR a IN SELECT * FROM (VALUES
			(1, 'publish', $q$SELECT sqsn.sn_publish('g_t', 'x')$q$),
			(2, 'publish_batch', $q$SELECT sqsn.sn_publish_batch('g_t', ARRAY['x'])$q$),
			(3, 'subscribe', $q$SELECT sqsn.sn_subscribe('g_t', 'sqs', 'g_tq2')$q$),
			(4, 'set_attributes', $q$SELECT sqsn.sn_set_topic_attributes('g_t', '{"DeliveryPolicy": null}')$q$),
			(5, 'delete_topic', $q$SELECT sqsn.sn_delete_topic('g_t')$q$),
			(6, 'grant', $q$SELECT sqsn.sn_grant('g_t', 'regress_g_nobody', '{publish}')$q$),
			(7, 'set_owner', $q$SELECT sqsn.sn_set_topic_owner('g_t', 'regress_g_nobody')$q$)
		) v(n, action, stmt) ORDER BY n
		LOOP
			PERFORM pg_temp.fresh_topic();
			before := pg_temp.topic_state();
			EXECUTE format('SET ROLE %I', r);
			BEGIN
				EXECUTE a.stmt;
				res := 'allowed';
			EXCEPTION WHEN OTHERS THEN
				res := CASE WHEN SQLSTATE = '42501' THEN 'denied' ELSE SQLSTATE || ': ' || SQLERRM END;
			END;
			RESET ROLE;
			INSERT INTO topic_matrix
				VALUES (r, a.action, res, pg_temp.topic_state() IS DISTINCT FROM before);
		END LOOP;
	END LOOP;
END
$$;

-- topic_grant_matrix
SELECT replace(role, 'regress_g_', '') AS role,
	max(result) FILTER (WHERE action = 'publish') AS publish,
	max(result) FILTER (WHERE action = 'publish_batch') AS publish_batch,
	max(result) FILTER (WHERE action = 'subscribe') AS subscribe,
	max(result) FILTER (WHERE action = 'set_attributes') AS set_attrs,
	max(result) FILTER (WHERE action = 'delete_topic') AS delete_topic,
	max(result) FILTER (WHERE action = 'grant') AS grant,
	max(result) FILTER (WHERE action = 'set_owner') AS set_owner
FROM topic_matrix GROUP BY role ORDER BY min(ctid);
SELECT result, changed, count(*) FROM topic_matrix GROUP BY 1, 2 ORDER BY 1, 2;

SET ROLE regress_g_nobody;
SELECT pg_temp.err($$SELECT sqsn.sn_publish('g_t', 'x')$$) AS nobody_publishes;
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('g_t', 'sqs', 'g_tq2')$$) AS nobody_subscribes;
RESET ROLE;

--
-- subscriptions: the subscriber needs send on the queue; a publish skips
-- a subscription whose owner may no longer send to its queue
--
SELECT sqsn.sq_create_queue('g_sub_a');
SELECT sqsn.sq_create_queue('g_sub_b');
SELECT sqsn.sq_grant('g_sub_a', 'regress_g_recv', '{receive}');
SET ROLE regress_g_recv;
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('g_t', 'sqs', 'g_sub_a')$$) AS subscribe_without_send;
RESET ROLE;
SELECT sqsn.sq_grant('g_sub_a', 'regress_g_recv', '{send}');
SELECT sqsn.sq_grant('g_sub_b', 'regress_g_group', '{send}');
SET ROLE regress_g_recv;
SELECT sqsn.sn_subscribe('g_t', 'sqs', 'g_sub_a') IS NOT NULL AS subscribed_a;
RESET ROLE;
SET ROLE regress_g_member;
SELECT sqsn.sn_subscribe('g_t', 'sqs', 'g_sub_b') IS NOT NULL AS subscribed_b;
RESET ROLE;
SELECT q.queue_name, s.owner FROM sqsn.subscription s JOIN sqsn.queue q USING (queue_id)
WHERE q.queue_name LIKE 'g_sub_%' ORDER BY 1;
SET ROLE regress_g_send;
SELECT sqsn.sn_publish('g_t', 'both get it') IS NOT NULL AS published;
RESET ROLE;
SELECT pg_temp.msgs('g_sub_a') AS a, pg_temp.msgs('g_sub_b') AS b;
-- the owner of the subscription of g_sub_a loses send: the next publish
-- skips it with a WARNING, still delivers to g_sub_b, and counts it
SELECT sqsn.sq_revoke('g_sub_a', 'regress_g_recv', '{send}');
SET ROLE regress_g_send;
SELECT sqsn.sn_publish('g_t', 'only b') IS NOT NULL AS published;
SELECT count(*) AS published FROM sqsn.sn_publish_batch('g_t', ARRAY['b1', 'b2']);
RESET ROLE;
SELECT pg_temp.msgs('g_sub_a') AS a, pg_temp.msgs('g_sub_b') AS b;
SELECT endpoint, delivered, denied FROM sqsn.subscription_stats
WHERE topic_name = 'g_t' ORDER BY endpoint;
-- a group member's subscription follows the group's grant
REVOKE regress_g_group FROM regress_g_member;
SELECT sqsn.sn_publish('g_t', 'none') IS NOT NULL AS published;
GRANT regress_g_group TO regress_g_member;
SELECT sqsn.sq_grant('g_sub_a', 'regress_g_recv', '{send}');
SELECT sqsn.sn_publish('g_t', 'both again') IS NOT NULL AS published;
SELECT pg_temp.msgs('g_sub_a') AS a, pg_temp.msgs('g_sub_b') AS b;

-- unsubscribing and changing a subscription: its owner or a topic admin
SELECT subscription_id AS sub_a FROM sqsn.subscription s JOIN sqsn.queue q USING (queue_id)
WHERE q.queue_name = 'g_sub_a' \gset
SET ROLE regress_g_nobody;
SELECT pg_temp.err(format($$SELECT sqsn.sn_set_subscription_attributes(%L, '{"RawMessageDelivery": true}')$$, :'sub_a')) AS stranger_changes;
SELECT pg_temp.err(format($$SELECT sqsn.sn_unsubscribe(%L)$$, :'sub_a')) AS stranger_unsubscribes;
RESET ROLE;
SET ROLE regress_g_recv;
SELECT sqsn.sn_set_subscription_attributes(:'sub_a', '{"RawMessageDelivery": true}');
SELECT sqsn.sn_unsubscribe(:'sub_a');
RESET ROLE;

--
-- the views
--
SELECT sqsn.sn_grant('g_t', 'regress_g_nobody', '{subscribe}');
SET ROLE regress_g_admin;
SELECT queue_name, pg_temp.who(grantee) AS grantee, action, granted_by IS NOT NULL AS has_granted_by
FROM sqsn.queue_grants WHERE queue_name LIKE 'g\_%' ORDER BY 1, 2, 3;
SELECT topic_name, pg_temp.who(grantee) AS grantee, action FROM sqsn.topic_grants WHERE topic_name = 'g_t' ORDER BY 1, 2, 3;
RESET ROLE;
-- others see what they own and what applies to them
SET ROLE regress_g_nobody;
SELECT queue_name, grantee, action FROM sqsn.queue_grants WHERE queue_name LIKE 'g\_%' ORDER BY 1, 2, 3;
SELECT topic_name, grantee, action FROM sqsn.topic_grants ORDER BY 1, 2, 3;
RESET ROLE;
SET ROLE regress_g_member;
SELECT queue_name, grantee, action FROM sqsn.queue_grants WHERE queue_name LIKE 'g\_%' ORDER BY 1, 2, 3;
RESET ROLE;
SET ROLE regress_g_norole;
SELECT pg_temp.err($$SELECT * FROM sqsn.queue_grants$$) AS norole_reads_view;
SELECT pg_temp.err($$SELECT * FROM sqsn.queue_grant$$) AS norole_reads_table;
RESET ROLE;
SET ROLE regress_g_owner;
SELECT pg_temp.err($$SELECT * FROM sqsn.queue_grant$$) AS table_is_private;
SELECT pg_temp.err($$INSERT INTO sqsn.queue_grant VALUES (1, 'regress_g_owner', 'admin', 'x', now())$$) AS table_is_read_only;
RESET ROLE;

-- deleting a queue or topic deletes its grants
SELECT sqsn.sq_delete_queue('g_err');
SELECT sqsn.sn_delete_topic('g_t');
SELECT count(*) AS grants_left FROM sqsn.queue_grant g
WHERE NOT EXISTS (SELECT FROM sqsn.queue q WHERE q.queue_id = g.queue_id);
SELECT count(*) AS topic_grants_left FROM sqsn.topic_grant;

--
-- shadowing: objects an unprivileged role creates in public, first on
-- its search_path, are never used by the extension's functions
--
SELECT sqsn.sq_create_queue('g_shadow');
SELECT sqsn.sn_create_topic('g_shadow_t');
SELECT sqsn.sn_subscribe('g_shadow_t', 'sqs', 'g_shadow') IS NOT NULL AS subscribed;
GRANT CREATE ON SCHEMA public TO regress_g_nobody;
SELECT sqsn.sq_grant('g_shadow', 'regress_g_nobody', '{send,receive,admin}');
SELECT sqsn.sn_grant('g_shadow_t', 'regress_g_nobody', '{publish}');
CREATE TABLE public.g_shadow_calls (fn text);
GRANT INSERT, SELECT, DELETE ON public.g_shadow_calls TO PUBLIC;
SET ROLE regress_g_nobody;
CREATE FUNCTION public.g_eq_text(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('=(text)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION public.g_eq_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('=(bigint)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION public.g_eq_name(name, name) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('=(name)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.g_eq_text);
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.g_eq_int8);
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.g_eq_name);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('now'); RETURN pg_catalog.now(); END$$;
CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END$$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('lower'); RETURN pg_catalog.lower($1); END$$;
CREATE FUNCTION public.jsonb_build_object(text, text) RETURNS jsonb LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('jsonb_build_object'); RETURN '{}'; END$$;
CREATE FUNCTION public.to_jsonb(anyelement) RETURNS jsonb LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('to_jsonb'); RETURN '{}'; END$$;
CREATE FUNCTION public.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('count'); RETURN 0; END$$;
CREATE FUNCTION public.pg_has_role(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.g_shadow_calls VALUES ('pg_has_role'); RETURN true; END$$;
CREATE TABLE public.queue (queue_id bigint, queue_name text, owner name);
CREATE TABLE public.queue_grant (queue_id bigint, grantee name, action text);
CREATE TABLE public.topic (topic_id bigint, topic_name text, owner name);
CREATE TYPE public.subscription AS (x int);
INSERT INTO public.queue_grant VALUES (0, 'regress_g_nobody', 'admin');
SET search_path = public, pg_catalog;
SELECT 'a'::text = 'a'::text AS shadow_is_armed;
SELECT string_agg(fn, ', ') AS called FROM public.g_shadow_calls;
DELETE FROM public.g_shadow_calls;
SELECT sqsn.sq_send('g_shadow', 'shadowed', '{"k": {"DataType": "String", "StringValue": "v"}}') IS NOT NULL AS sent;
SELECT count(*) AS sent FROM sqsn.sq_send_batch('g_shadow', ARRAY['s1', 's2']);
SELECT sqsn.sn_publish('g_shadow_t', 'published') IS NOT NULL AS published;
SELECT CASE WHEN body LIKE '{%' THEN (body::jsonb)->>'Message' ELSE body END AS body,
	receive_count
FROM sqsn.sq_receive('g_shadow', 10, 0) ORDER BY sent_at, body;
SELECT queue_name, visible, in_flight, delayed FROM sqsn.queue_stats
WHERE queue_name OPERATOR(pg_catalog.=) 'g_shadow';
SELECT sqsn.sq_get_queue_attributes('g_shadow')->>'ApproximateNumberOfMessages' AS approx;
SELECT sqsn.sq_set_queue_attributes('g_shadow', '{"VisibilityTimeout": 9}');
SELECT sqsn.sq_grant('g_shadow', 'regress_g_send', '{send}');
SELECT grantee, action FROM sqsn.queue_grants
WHERE queue_name OPERATOR(pg_catalog.=) 'g_shadow' ORDER BY 1, 2;
SELECT sqsn.sq_purge_queue('g_shadow');
RESET search_path;
SELECT count(*) AS shadow_calls, string_agg(fn, ', ') AS called FROM public.g_shadow_calls;
RESET ROLE;
DROP TABLE public.g_shadow_calls, public.queue, public.queue_grant, public.topic;
DROP TYPE public.subscription;
DROP OPERATOR public.= (text, text), public.= (bigint, bigint), public.= (name, name);
DROP FUNCTION public.g_eq_text(text, text), public.g_eq_int8(bigint, bigint),
	public.g_eq_name(name, name), public.now(), public.clock_timestamp(), public.lower(text),
	public.jsonb_build_object(text, text), public.to_jsonb(anyelement),
	public.count(anyelement), public.pg_has_role(text, text);
REVOKE CREATE ON SCHEMA public FROM regress_g_nobody;

-- every SECURITY DEFINER function pins search_path
SELECT p.oid::regprocedure AS unpinned
FROM pg_proc p
WHERE p.pronamespace = 'sqsn'::regnamespace AND p.prosecdef
  AND (p.proconfig IS NULL OR NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig));

-- clean up
SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('g_') AS q
ORDER BY q = 'g_dlq', q;
SELECT sqsn.sn_delete_topic(t) FROM sqsn.sn_list_topics('g_') AS t;
DROP ROLE regress_g_owner, regress_g_admin, regress_g_send, regress_g_recv,
	regress_g_adm, regress_g_member, regress_g_group, regress_g_nobody,
	regress_g_norole;
