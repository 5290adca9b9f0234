\echo Use "ALTER EXTENSION sqsn UPDATE TO '0.3'" to load this file. \quit

-- sqsn 0.2 -> 0.3. Every change to sql/sqsn.sql (the 0.3 install script)
-- since 0.2 has its counterpart here; test/t/007_upgrade.pl checks that an
-- updated installation and a fresh one have the same catalog.

-- Low-water marks -------------------------------------------------------
-- The view sqsn.queue_low_water, as in sqsn.sql.
-- Where receives on each standard queue start their walk (lowwater.c), for
-- monitoring: every message at or below hard_after is deleted; every one at
-- or below soft_after is deleted or invisible until soft_until (NULL: no
-- such message). Kept in shared memory by the background worker.
CREATE FUNCTION sqsn.queue_low_water_rows()
RETURNS TABLE (
	queue_name text,
	hard_after bigint,
	soft_after bigint,
	soft_until timestamptz)
AS 'MODULE_PATHNAME', 'sq_queue_low_water_rows'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW sqsn.queue_low_water AS
	SELECT queue_name, hard_after, soft_after, soft_until
	FROM sqsn.queue_low_water_rows();

REVOKE ALL ON FUNCTION sqsn.queue_low_water_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.queue_low_water_rows() TO sqsn_admin;
GRANT SELECT ON sqsn.queue_low_water TO sqsn_admin;
-- Encryption at rest ----------------------------------------------------
--
-- An encrypted queue stores its messages sealed with AES-256-GCM under a
-- key derived from the server's master key (sqsn.master_key_file); an
-- encrypted topic seals its push outbox rows. See crypto.c.

ALTER TABLE sqsn.queue ADD COLUMN encrypted boolean NOT NULL DEFAULT false;
ALTER TABLE sqsn.topic ADD COLUMN encrypted boolean NOT NULL DEFAULT false;

-- sq_create_queue and sn_create_topic take encrypted as their last
-- parameter: a new signature, so drop and create them (with the grants a
-- fresh installation gives them).
DROP FUNCTION sqsn.sq_create_queue(text, integer, integer, integer, integer,
	text, integer, integer, boolean, text);
CREATE FUNCTION sqsn.sq_create_queue(
	queue_name text,
	visibility_timeout integer DEFAULT 30,
	message_retention_period integer DEFAULT 345600,
	delay_seconds integer DEFAULT 0,
	maximum_message_size integer DEFAULT 262144,
	dead_letter_queue text DEFAULT NULL,
	max_receive_count integer DEFAULT NULL,
	receive_wait_time_seconds integer DEFAULT 0,
	content_based_deduplication boolean DEFAULT false,
	deduplication_scope text DEFAULT 'queue',
	encrypted boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_create_queue'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;
REVOKE ALL ON FUNCTION sqsn.sq_create_queue(text, integer, integer, integer,
	integer, text, integer, integer, boolean, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sq_create_queue(text, integer, integer, integer,
	integer, text, integer, integer, boolean, text, boolean) TO sqsn_admin;

DROP FUNCTION sqsn.sn_create_topic(text, boolean);
CREATE FUNCTION sqsn.sn_create_topic(
	topic_name text,
	content_based_deduplication boolean DEFAULT false,
	encrypted boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_create_topic'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;
REVOKE ALL ON FUNCTION sqsn.sn_create_topic(text, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sn_create_topic(text, boolean, boolean)
	TO sqsn_admin;

CREATE FUNCTION sqsn.sq_rotate_queue_key(queue_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sq_rotate_queue_key'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

REVOKE ALL ON FUNCTION sqsn.sq_rotate_queue_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sqsn.sq_rotate_queue_key(text) TO sqsn_admin;

-- Access policies -------------------------------------------------------
--
-- Per-queue and per-topic grants on top of the roles. A call needs EXECUTE
-- on the function (the roles above) and the action on the queue or topic:
-- its owner (the role that created it), superusers and sqsn_admin members
-- may do everything; anyone else needs a grant to a role whose privileges
-- they have (or to PUBLIC). Checked in C before any work. Roles are
-- recorded by name, like the owner columns.

CREATE TABLE sqsn.queue_grant (
	queue_id bigint NOT NULL REFERENCES sqsn.queue (queue_id) ON DELETE CASCADE,
	grantee name NOT NULL,
	action text NOT NULL
		CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY['send', 'receive', 'admin'])),
	granted_by name NOT NULL,
	granted_at timestamptz NOT NULL,
	PRIMARY KEY (queue_id, grantee, action)
);

CREATE TABLE sqsn.topic_grant (
	topic_id bigint NOT NULL REFERENCES sqsn.topic (topic_id) ON DELETE CASCADE,
	grantee name NOT NULL,
	action text NOT NULL
		CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY['publish', 'subscribe', 'admin'])),
	granted_by name NOT NULL,
	granted_at timestamptz NOT NULL,
	PRIMARY KEY (topic_id, grantee, action)
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.queue_grant', '');
SELECT pg_catalog.pg_extension_config_dump('sqsn.topic_grant', '');

-- Publishes that skipped a subscription whose owner may no longer send to
-- its queue.
ALTER TABLE sqsn.subscription_counter
	ADD COLUMN denied bigint NOT NULL DEFAULT 0;

CREATE FUNCTION sqsn.sq_grant(queue_name text, role name, actions text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sq_grant'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

CREATE FUNCTION sqsn.sq_revoke(queue_name text, role name, actions text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sq_revoke'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

CREATE FUNCTION sqsn.sq_set_queue_owner(queue_name text, new_owner name)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_set_queue_owner'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

CREATE FUNCTION sqsn.sn_grant(topic_name text, role name, actions text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sn_grant'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

CREATE FUNCTION sqsn.sn_revoke(topic_name text, role name, actions text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sn_revoke'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

CREATE FUNCTION sqsn.sn_set_topic_owner(topic_name text, new_owner name)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_set_topic_owner'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER;

-- Who may do what: the owner (action 'owner') and every grant. sqsn_admin
-- members and superusers see every row; anyone else the rows of the queues
-- and topics they own and the grants that apply to them.
CREATE VIEW sqsn.queue_grants WITH (security_barrier) AS
	SELECT g.queue_name, g.grantee, g.action, g.granted_by, g.granted_at
	FROM (
		SELECT q.queue_name, q.owner AS grantee, 'owner'::text AS action,
			NULL::name AS granted_by, q.created_at AS granted_at, q.owner
		FROM sqsn.queue q
		UNION ALL
		SELECT q.queue_name, qg.grantee, qg.action, qg.granted_by,
			qg.granted_at, q.owner
		FROM sqsn.queue_grant qg
		JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) qg.queue_id
	) g
	WHERE pg_catalog.pg_has_role('sqsn_admin', 'USAGE')
	   OR g.grantee OPERATOR(pg_catalog.=) 'public'
	   OR EXISTS (SELECT FROM pg_catalog.pg_roles r
			WHERE r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[g.grantee, g.owner])
			  AND pg_catalog.pg_has_role(r.oid, 'USAGE'));

CREATE VIEW sqsn.topic_grants WITH (security_barrier) AS
	SELECT g.topic_name, g.grantee, g.action, g.granted_by, g.granted_at
	FROM (
		SELECT t.topic_name, t.owner AS grantee, 'owner'::text AS action,
			NULL::name AS granted_by, t.created_at AS granted_at, t.owner
		FROM sqsn.topic t
		UNION ALL
		SELECT t.topic_name, tg.grantee, tg.action, tg.granted_by,
			tg.granted_at, t.owner
		FROM sqsn.topic_grant tg
		JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) tg.topic_id
	) g
	WHERE pg_catalog.pg_has_role('sqsn_admin', 'USAGE')
	   OR g.grantee OPERATOR(pg_catalog.=) 'public'
	   OR EXISTS (SELECT FROM pg_catalog.pg_roles r
			WHERE r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[g.grantee, g.owner])
			  AND pg_catalog.pg_has_role(r.oid, 'USAGE'));

CREATE OR REPLACE VIEW sqsn.subscription_stats AS
	SELECT s.subscription_id, t.topic_name, s.protocol,
		COALESCE(s.endpoint, q.queue_name) AS endpoint,
		s.confirmed,
		COALESCE(c.delivered, 0) AS delivered,
		COALESCE(c.failed, 0) AS failed,
		COALESCE(c.dead_lettered, 0) AS dead_lettered,
		COALESCE(p.pending, 0) AS pending,
		p.oldest_pending_age,
		COALESCE(c.denied, 0) AS denied
	FROM sqsn.subscription s
	JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) s.topic_id
	LEFT JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id
	LEFT JOIN sqsn.subscription_counter c
		ON c.subscription_id OPERATOR(pg_catalog.=) s.subscription_id
	LEFT JOIN LATERAL (
		SELECT pg_catalog.count(*) AS pending,
			pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(d.published_at) AS oldest_pending_age
		FROM sqsn.delivery d
		WHERE d.subscription_id OPERATOR(pg_catalog.=) s.subscription_id
		  AND d.status OPERATOR(pg_catalog.=) 'pending') p ON true;

REVOKE ALL ON sqsn.queue_grant, sqsn.topic_grant, sqsn.queue_grants,
	sqsn.topic_grants FROM PUBLIC;
REVOKE ALL ON FUNCTION
	sqsn.sq_grant(text, name, text[]),
	sqsn.sq_revoke(text, name, text[]),
	sqsn.sq_set_queue_owner(text, name),
	sqsn.sn_grant(text, name, text[]),
	sqsn.sn_revoke(text, name, text[]),
	sqsn.sn_set_topic_owner(text, name)
	FROM PUBLIC;

-- The per-queue administrative functions are open to every sqsn role: the
-- admin action on the queue decides. Creating queues stays with sqsn_admin.
GRANT EXECUTE ON FUNCTION
	sqsn.sq_grant(text, name, text[]),
	sqsn.sq_revoke(text, name, text[]),
	sqsn.sq_set_queue_owner(text, name),
	sqsn.sq_delete_queue(text),
	sqsn.sq_purge_queue(text),
	sqsn.sq_set_queue_attributes(text, jsonb),
	sqsn.sq_redrive(text, text, integer)
	TO sqsn_admin, sqsn_producer, sqsn_consumer;

-- Likewise for topics; subscribing is for consumers and producers too (the
-- subscribe action on the topic and send on the queue decide).
GRANT EXECUTE ON FUNCTION
	sqsn.sn_grant(text, name, text[]),
	sqsn.sn_revoke(text, name, text[]),
	sqsn.sn_set_topic_owner(text, name),
	sqsn.sn_delete_topic(text),
	sqsn.sn_set_topic_attributes(text, jsonb),
	sqsn.sn_subscribe(text, text, text, jsonb, text, boolean, jsonb, jsonb),
	sqsn.sn_unsubscribe(uuid),
	sqsn.sn_set_subscription_attributes(uuid, jsonb)
	TO sqsn_admin, sqsn_publisher, sqsn_producer, sqsn_consumer;

GRANT SELECT ON sqsn.queue_grants, sqsn.topic_grants
	TO sqsn_admin, sqsn_producer, sqsn_consumer, sqsn_publisher;

-- Every SECURITY DEFINER function runs with search_path pinned, so nothing
-- a caller creates in another schema can stand in for a built-in.
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid FROM pg_catalog.pg_proc p
		WHERE p.pronamespace OPERATOR(pg_catalog.=) 'sqsn'::regnamespace
		  AND p.prosecdef AND p.proconfig IS NULL
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
	END LOOP;
END
$$;

-- Queues and topics made before 0.3 keep working as they did: the roles
-- that could use them through EXECUTE alone get the matching grants.
INSERT INTO sqsn.queue_grant (queue_id, grantee, action, granted_by, granted_at)
	SELECT q.queue_id, r.grantee, r.action, q.owner, pg_catalog.clock_timestamp()
	FROM sqsn.queue q,
		(VALUES ('sqsn_producer'::name, 'send'), ('sqsn_consumer'::name, 'receive')) r(grantee, action);
INSERT INTO sqsn.topic_grant (topic_id, grantee, action, granted_by, granted_at)
	SELECT t.topic_id, 'sqsn_publisher', 'publish', t.owner, pg_catalog.clock_timestamp()
	FROM sqsn.topic t;
