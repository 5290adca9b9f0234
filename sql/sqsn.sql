\echo Use "CREATE EXTENSION sqsn" to load this file. \quit

-- sqsn: SQS-style queues and SNS-style topics inside PostgreSQL.
--
-- The install script of the current version. It declares every object once,
-- in its final shape, grouped by subsystem:
--
--   schema and roles
--   catalogs and their indexes   queues, topics and subscriptions, the push
--                                outbox, function consumers, access policies,
--                                endpoint credentials
--   housekeeping                 the receipt-handle key, the event trigger
--   queue API                    sq_*, monitoring, maintenance
--   topic API                    sn_*
--   push / outbox                confirmation, topic attributes, retry schedule
--   function consumers           event source mappings, their runs and workers
--   security / grants            per-queue and per-topic grants and owners
--   encryption                   key rotation
--   endpoint credentials         access keys of the AWS-compatible endpoint
--   views
--   privileges
--
-- Catalog tables live in schema sqsn and are registered with
-- pg_extension_config_dump so pg_dump keeps their rows. Each queue's
-- messages live in their own table sqsn.q_<queue_id>, created by
-- sq_create_queue (docs/storage.md); those tables are ordinary (non-member)
-- tables, so pg_dump dumps their definition and rows, and an event trigger
-- drops them when the extension itself is dropped.
--
-- Shipped versions keep their own install scripts (sql/sqsn--0.1.sql, ...);
-- sql/sqsn--<from>--<to>.sql update an installation, and
-- test/t/007_upgrade.pl checks that every update chain ends in the catalog
-- this script makes.

-- Schema and roles ------------------------------------------------------

-- The schema sqsn is created here, so it belongs to the extension and DROP
-- EXTENSION removes it (a schema named in the control file would not be a
-- member); like pg_cron, the control file names pg_catalog instead.
CREATE SCHEMA sqsn;

-- Roles are cluster-wide: create them only when no earlier installation (in
-- another database) already did. sqsn_admin manages queues and topics,
-- sqsn_producer sends, sqsn_consumer receives, sqsn_publisher publishes.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'sqsn_admin') THEN
		CREATE ROLE sqsn_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'sqsn_producer') THEN
		CREATE ROLE sqsn_producer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'sqsn_consumer') THEN
		CREATE ROLE sqsn_consumer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'sqsn_publisher') THEN
		CREATE ROLE sqsn_publisher NOLOGIN;
	END IF;
END
$$;

-- Catalogs: queues ------------------------------------------------------

CREATE SEQUENCE sqsn.queue_id_seq;

CREATE TABLE sqsn.queue (
	queue_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('sqsn.queue_id_seq'),
	queue_name text NOT NULL UNIQUE,
	kind text NOT NULL DEFAULT 'standard'
		CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['standard', 'fifo'])),
	visibility_timeout integer NOT NULL,
	message_retention_period integer NOT NULL,
	delay_seconds integer NOT NULL,
	maximum_message_size integer NOT NULL,
	receive_wait_time_seconds integer NOT NULL DEFAULT 0,
	dead_letter_queue_id bigint REFERENCES sqsn.queue (queue_id),
	max_receive_count integer,
	owner name NOT NULL,
	created_at timestamptz NOT NULL,
	last_modified_at timestamptz NOT NULL,
	CHECK ((dead_letter_queue_id IS NULL) OPERATOR(pg_catalog.=) (max_receive_count IS NULL)),
	content_based_deduplication boolean NOT NULL DEFAULT false,
	deduplication_scope text NOT NULL DEFAULT 'queue'
		CHECK (deduplication_scope OPERATOR(pg_catalog.=) ANY (ARRAY['queue', 'message_group'])),
	-- Messages sealed at rest (see "Encryption" below).
	encrypted boolean NOT NULL DEFAULT false,
	-- Policy, RedriveAllowPolicy, KmsMasterKeyId, KmsDataKeyReusePeriodSeconds,
	-- FifoThroughputLimit: kept as given (queue/stored_attributes.c)
	extra_attributes jsonb NOT NULL DEFAULT '{}'
);
ALTER SEQUENCE sqsn.queue_id_seq OWNED BY sqsn.queue.queue_id;

SELECT pg_catalog.pg_extension_config_dump('sqsn.queue', '');
SELECT pg_catalog.pg_extension_config_dump('sqsn.queue_id_seq', '');

-- The ordering ids (msg_seq) of every queue's messages, one sequence for all
-- queues (a table of its own per queue cost a relation each). Dumped, so a
-- restored database goes on from where it was.
CREATE SEQUENCE sqsn.message_seq;
SELECT pg_catalog.pg_extension_config_dump('sqsn.message_seq', '');

-- The key that authenticates receipt handles (HMAC-SHA256). Not dumped: a
-- restored database starts with a new key, and handles issued before the dump
-- are rejected (their leases simply expire).
CREATE TABLE sqsn.handle_key (
	id integer PRIMARY KEY CHECK (id OPERATOR(pg_catalog.=) 1),
	secret bytea NOT NULL
);

-- Deduplication records of FIFO queues and topics: a send or publish with
-- the same deduplication id (or body hash) within five minutes of the first
-- returns the first message's id and stores nothing. queue_id is a queue's
-- id, or minus a FIFO topic's id; scope_key is '' for a queue-wide (or
-- topic) scope and the message group id for deduplication_scope
-- 'message_group'. Kept after the message is deleted (the window counts
-- from the send); expired records are ignored and removed by the
-- maintenance sweep. Not dumped: the records are transient. For a FIFO
-- topic, sequence_number is the first publish's, which a duplicate returns.
CREATE TABLE sqsn.fifo_dedup (
	queue_id bigint NOT NULL,
	scope_key text NOT NULL,
	deduplication_id text NOT NULL,
	message_id uuid NOT NULL,
	expires_at timestamptz NOT NULL,
	sequence_number bigint,
	PRIMARY KEY (queue_id, scope_key, deduplication_id)
);
CREATE INDEX fifo_dedup_expires_idx ON sqsn.fifo_dedup (queue_id, expires_at);

-- Catalogs: topics and subscriptions ------------------------------------

CREATE SEQUENCE sqsn.topic_id_seq;

CREATE TABLE sqsn.topic (
	topic_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('sqsn.topic_id_seq'),
	topic_name text NOT NULL UNIQUE,
	owner name NOT NULL,
	created_at timestamptz NOT NULL,
	content_based_deduplication boolean NOT NULL DEFAULT false,
	-- The default delivery policy of the topic's HTTP/HTTPS subscriptions.
	delivery_policy jsonb,
	-- Push outbox rows sealed at rest (see "Encryption" below).
	encrypted boolean NOT NULL DEFAULT false,
	-- Attributes kept for the endpoint's clients (DisplayName, Policy,
	-- TracingConfig, SignatureVersion).
	extra_attributes jsonb NOT NULL DEFAULT '{}',
	-- FIFO topics: how many days sqsn.topic_archive keeps published
	-- messages (the ArchivePolicy's MessageRetentionPeriod; NULL: no
	-- archive), and since when it archives.
	archive_retention_days integer
		CHECK (archive_retention_days OPERATOR(pg_catalog.>=) 1
			AND archive_retention_days OPERATOR(pg_catalog.<=) 365),
	archive_started_at timestamptz
);
ALTER SEQUENCE sqsn.topic_id_seq OWNED BY sqsn.topic.topic_id;

SELECT pg_catalog.pg_extension_config_dump('sqsn.topic', '');
SELECT pg_catalog.pg_extension_config_dump('sqsn.topic_id_seq', '');

-- The archive of FIFO topics with an ArchivePolicy: every message published
-- (not its duplicates), written in the publish's transaction, kept for the
-- topic's archive_retention_days (the maintenance worker deletes older ones
-- in batches) and replayed to subscriptions on request (ReplayPolicy).
-- message is the text queue subscribers get. Dumped with the catalog: an
-- archive is the history its owner chose to keep (queues' messages are
-- not dumped). Turning the archive off or deleting the topic deletes it.
CREATE TABLE sqsn.topic_archive (
	topic_id bigint NOT NULL REFERENCES sqsn.topic (topic_id) ON DELETE CASCADE,
	sequence_number bigint NOT NULL,
	message_id uuid NOT NULL,
	published_at timestamptz NOT NULL,
	message text NOT NULL,
	message_attributes jsonb,
	subject text,
	message_group_id text NOT NULL,
	message_deduplication_id text NOT NULL,
	PRIMARY KEY (topic_id, sequence_number)
);
CREATE INDEX topic_archive_published_at_idx
	ON sqsn.topic_archive (topic_id, published_at);
SELECT pg_catalog.pg_extension_config_dump('sqsn.topic_archive', '');

-- The sequence numbers of publishes to FIFO topics (the SequenceNumber of
-- Publish and of the notifications), one sequence for every topic: strictly
-- increasing per topic. Dumped, so numbers keep increasing after a restore.
CREATE SEQUENCE sqsn.topic_message_seq;
SELECT pg_catalog.pg_extension_config_dump('sqsn.topic_message_seq', '');

-- A subscription of a queue (protocol sqs), of an HTTP/HTTPS endpoint or of
-- a SQL function (protocol function or lambda) to a topic. Deleting the
-- topic or the queue deletes the subscription. An HTTP/HTTPS subscription
-- has its endpoint URL, confirmation state and token, a delivery policy and
-- a dead-letter queue; a function subscription its function as endpoint
-- ("schema.name(jsonb)"), an invocation policy as delivery policy and a
-- dead-letter queue; an email or email-json subscription its address, sent
-- to through sqsn.smtp_url by the delivery worker; an sms subscription its
-- E.164 phone number, sent to through sqsn.sms_gateway_url; an application
-- subscription the ARN of a platform endpoint (mobile push).
CREATE TABLE sqsn.subscription (
	subscription_id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	topic_id bigint NOT NULL REFERENCES sqsn.topic (topic_id) ON DELETE CASCADE,
	protocol text NOT NULL
		CHECK (protocol OPERATOR(pg_catalog.=) ANY (ARRAY['sqs', 'http', 'https', 'function', 'lambda', 'email', 'email-json', 'sms', 'application'])),
	queue_id bigint REFERENCES sqsn.queue (queue_id) ON DELETE CASCADE,
	filter_policy jsonb,
	filter_policy_scope text NOT NULL DEFAULT 'MessageAttributes'
		CHECK (filter_policy_scope OPERATOR(pg_catalog.=) ANY (ARRAY['MessageAttributes', 'MessageBody'])),
	raw_message_delivery boolean NOT NULL DEFAULT false,
	owner name NOT NULL,
	created_at timestamptz NOT NULL,
	endpoint text,
	confirmed boolean NOT NULL DEFAULT true,
	confirmation_token text,
	delivery_policy jsonb,
	dead_letter_queue_id bigint
		REFERENCES sqsn.queue (queue_id) ON DELETE SET NULL,
	UNIQUE (topic_id, protocol, queue_id),
	CONSTRAINT subscription_endpoint_check
		CHECK ((protocol OPERATOR(pg_catalog.=) 'sqs') OPERATOR(pg_catalog.=) (queue_id IS NOT NULL)
			AND (queue_id IS NULL) OPERATOR(pg_catalog.=) (endpoint IS NOT NULL)),
	-- A paused HTTP/HTTPS subscription keeps its deliveries in the outbox
	-- (sn_pause_subscription, sn_resume_subscription).
	paused boolean NOT NULL DEFAULT false
);
CREATE INDEX subscription_queue_id_idx ON sqsn.subscription (queue_id);
CREATE UNIQUE INDEX subscription_endpoint_idx
	ON sqsn.subscription (topic_id, protocol, endpoint) WHERE endpoint IS NOT NULL;
CREATE UNIQUE INDEX subscription_token_idx
	ON sqsn.subscription (confirmation_token) WHERE confirmation_token IS NOT NULL;
CREATE INDEX subscription_dead_letter_queue_id_idx
	ON sqsn.subscription (dead_letter_queue_id);

-- Replays of a FIFO topic's archive to a subscription (ReplayPolicy,
-- topic/archive.c): one per subscription, replaced by a new policy. The
-- window is [starting_point, ending_point] up to last_sequence_number (the
-- archive's newest when the policy was set: later messages are delivered
-- live); replayed_through is how far the maintenance worker got, moved in
-- the transaction that sends the copies. replay_id names the replay in the
-- copies' deduplication ids. Dumped with the subscriptions.
CREATE TABLE sqsn.subscription_replay (
	subscription_id uuid PRIMARY KEY
		REFERENCES sqsn.subscription (subscription_id) ON DELETE CASCADE,
	replay_id uuid NOT NULL,
	replay_policy jsonb NOT NULL,
	starting_point timestamptz NOT NULL,
	ending_point timestamptz,
	last_sequence_number bigint NOT NULL,
	replayed_through bigint NOT NULL,
	messages_replayed bigint NOT NULL,
	status text NOT NULL
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['Pending', 'In progress', 'Completed', 'Failed'])),
	error text,
	requested_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('sqsn.subscription_replay', '');

SELECT pg_catalog.pg_extension_config_dump('sqsn.subscription', '');

-- Phone numbers that opted out of SMS (sn_opt_out_phone_number).
CREATE TABLE sqsn.phone_number_opt_out (
	phone_number text PRIMARY KEY,
	opted_out_at timestamptz NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.phone_number_opt_out', '');

-- Mobile push: platform applications (GCM for Firebase Cloud Messaging,
-- APNS and APNS_SANDBOX for the Apple Push Notification service) and
-- their endpoints, one per device token. attributes holds what
-- sn_get_platform_application_attributes shows; credentials the
-- PlatformCredential and PlatformPrincipal, sealed with the master key
-- (security/crypto.c), never shown back. push/platform.c.
CREATE TABLE sqsn.platform_application (
	application_id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	name text NOT NULL,
	platform text NOT NULL
		CHECK (platform OPERATOR(pg_catalog.=) ANY (ARRAY['GCM', 'APNS', 'APNS_SANDBOX'])),
	attributes jsonb NOT NULL DEFAULT '{}',
	credentials text NOT NULL,
	owner name NOT NULL,
	created_at timestamptz NOT NULL,
	UNIQUE (platform, name)
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.platform_application', '');

-- A device of a platform application: its token, the application's own
-- data, and whether it is enabled (a provider that calls the token invalid
-- disables it; publishing to a disabled endpoint fails).
CREATE TABLE sqsn.platform_endpoint (
	endpoint_id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	application_id uuid NOT NULL
		REFERENCES sqsn.platform_application (application_id) ON DELETE CASCADE,
	token text NOT NULL,
	custom_user_data text,
	enabled boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL,
	disabled_reason text,
	UNIQUE (application_id, token)
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.platform_endpoint', '');

-- Catalogs: push outbox -------------------------------------------------
--
-- The outbox sqsn.delivery that publishes write into and the delivery
-- worker empties; one row per POST in sqsn.delivery_attempt;
-- per-subscription counters of finished deliveries.

CREATE SEQUENCE sqsn.delivery_id_seq;

-- One row per (published message, confirmed HTTP/HTTPS or function
-- subscription), and one per confirmation request. A row is due when status
-- is pending, next_attempt_at has passed and no lease is running. worker
-- says who takes it: the delivery worker (HTTP/HTTPS) or the function
-- workers (function subscriptions, which lock the row instead of leasing
-- it). An SMS published straight to a phone number (sn_publish_sms) has no
-- subscription and no topic: its row has the number in phone_number
-- instead, and is sent like an sms subscription's with the default
-- delivery policy and no dead-letter queue.
CREATE TABLE sqsn.delivery (
	delivery_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('sqsn.delivery_id_seq'),
	subscription_id uuid
		REFERENCES sqsn.subscription (subscription_id) ON DELETE CASCADE,
	message_type text NOT NULL
		CHECK (message_type OPERATOR(pg_catalog.=) ANY (ARRAY['Notification', 'SubscriptionConfirmation'])),
	message_id uuid NOT NULL,
	topic_arn text,
	subject text,
	message text NOT NULL,
	message_attributes jsonb,
	published_at timestamptz NOT NULL,
	status text NOT NULL DEFAULT 'pending'
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'delivered', 'failed', 'dead_lettered'])),
	attempts integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL,
	leased_until timestamptz,
	finished_at timestamptz,
	last_result text,
	worker text NOT NULL DEFAULT 'delivery'
		CHECK (worker OPERATOR(pg_catalog.=) ANY (ARRAY['delivery', 'function'])),
	phone_number text,
	-- A publish straight to a platform endpoint (TargetArn) has no
	-- subscription: the row names the endpoint instead, and has the
	-- endpoint's ARN in topic_arn.
	endpoint_id uuid
		REFERENCES sqsn.platform_endpoint (endpoint_id) ON DELETE CASCADE,
	-- a row is for exactly one subscription, phone number or endpoint; only
	-- an SMS to a phone number has no topic (or endpoint) ARN
	CONSTRAINT delivery_target_check
		CHECK (pg_catalog.num_nonnulls(subscription_id, phone_number, endpoint_id) OPERATOR(pg_catalog.=) 1
			AND (phone_number IS NULL) OPERATOR(pg_catalog.=) (topic_arn IS NOT NULL))
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01,
	autovacuum_vacuum_threshold = 500, autovacuum_vacuum_insert_scale_factor = 0.05,
	autovacuum_vacuum_cost_delay = 0);
ALTER SEQUENCE sqsn.delivery_id_seq OWNED BY sqsn.delivery.delivery_id;
CREATE INDEX delivery_due_idx ON sqsn.delivery (next_attempt_at)
	WHERE status OPERATOR(pg_catalog.=) 'pending' AND worker OPERATOR(pg_catalog.=) 'delivery';
CREATE INDEX delivery_function_due_idx ON sqsn.delivery (next_attempt_at)
	WHERE status OPERATOR(pg_catalog.=) 'pending' AND worker OPERATOR(pg_catalog.=) 'function';
CREATE INDEX delivery_finished_idx ON sqsn.delivery (finished_at)
	WHERE status OPERATOR(pg_catalog.<>) 'pending';
CREATE INDEX delivery_subscription_id_idx ON sqsn.delivery (subscription_id);
CREATE INDEX delivery_endpoint_id_idx ON sqsn.delivery (endpoint_id)
	WHERE endpoint_id IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('sqsn.delivery', '');
SELECT pg_catalog.pg_extension_config_dump('sqsn.delivery_id_seq', '');

-- One row per POST (no foreign key: a subscription deleted while its
-- POST is in flight still gets its attempt recorded; the worker removes
-- attempts with their deliveries).
CREATE TABLE sqsn.delivery_attempt (
	delivery_id bigint NOT NULL,
	attempt integer NOT NULL,
	subscription_id uuid, -- NULL: an SMS published to a phone number
	message_id uuid NOT NULL,
	attempted_at timestamptz NOT NULL,
	http_status integer,
	error text,
	latency_ms double precision NOT NULL,
	next_attempt_at timestamptz,
	PRIMARY KEY (delivery_id, attempt)
);
CREATE INDEX delivery_attempt_subscription_id_idx
	ON sqsn.delivery_attempt (subscription_id, attempted_at);
CREATE INDEX delivery_attempt_attempted_at_idx
	ON sqsn.delivery_attempt (attempted_at);

-- Finished deliveries per subscription (delivered rows are cleaned up).
CREATE TABLE sqsn.subscription_counter (
	subscription_id uuid PRIMARY KEY,
	delivered bigint NOT NULL DEFAULT 0,
	failed bigint NOT NULL DEFAULT 0,
	dead_lettered bigint NOT NULL DEFAULT 0,
	-- Publishes that skipped a subscription whose owner may no longer send
	-- to its queue.
	denied bigint NOT NULL DEFAULT 0
);

-- Catalogs: function consumers ------------------------------------------
--
-- Event source mappings: a queue whose messages a SQL function consumes in
-- batches, invoked by the function workers as the mapping's owner, in the
-- transaction that deletes the batch (src/function/). function_name is the
-- function with its schema, "schema.name(jsonb)" (text rather than
-- regprocedure: pg_upgrade refuses reg* columns, and a function dropped
-- and created again is found again). A worker that finds the owner without
-- the right to receive from the queue or to execute the function (or the
-- function gone) sets paused_reason, and clears it once that is fixed.

CREATE TABLE sqsn.event_source_mapping (
	mapping_id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	queue_id bigint NOT NULL REFERENCES sqsn.queue (queue_id) ON DELETE CASCADE,
	function_name text NOT NULL,
	batch_size integer NOT NULL
		CHECK (batch_size OPERATOR(pg_catalog.>=) 1 AND batch_size OPERATOR(pg_catalog.<=) 10000),
	maximum_batching_window_seconds integer NOT NULL
		CHECK (maximum_batching_window_seconds OPERATOR(pg_catalog.>=) 0
			AND maximum_batching_window_seconds OPERATOR(pg_catalog.<=) 300),
	maximum_concurrency integer NOT NULL
		CHECK (maximum_concurrency OPERATOR(pg_catalog.>=) 2 AND maximum_concurrency OPERATOR(pg_catalog.<=) 1000),
	timeout_seconds integer NOT NULL
		CHECK (timeout_seconds OPERATOR(pg_catalog.>=) 1 AND timeout_seconds OPERATOR(pg_catalog.<=) 900),
	report_batch_item_failures boolean NOT NULL,
	enabled boolean NOT NULL,
	paused_reason text,
	owner name NOT NULL,
	created_at timestamptz NOT NULL,
	last_modified_at timestamptz NOT NULL,
	UNIQUE (queue_id, function_name)
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.event_source_mapping', '');

-- What the batches of each mapping did, counted in each batch's own
-- transaction (so exactly): one row per (mapping, worker) -- worker 0 for
-- sqsn.run_event_source_mapping, 1.. for the function workers -- so that
-- concurrent workers never wait for each other's row.
CREATE TABLE sqsn.event_source_mapping_counter (
	mapping_id uuid NOT NULL
		REFERENCES sqsn.event_source_mapping (mapping_id) ON DELETE CASCADE,
	worker integer NOT NULL,
	invocations bigint NOT NULL DEFAULT 0,
	succeeded bigint NOT NULL DEFAULT 0,
	failed bigint NOT NULL DEFAULT 0,
	timed_out bigint NOT NULL DEFAULT 0,
	messages_deleted bigint NOT NULL DEFAULT 0,
	messages_failed bigint NOT NULL DEFAULT 0,
	duration_ms double precision NOT NULL DEFAULT 0,
	last_invocation_at timestamptz,
	PRIMARY KEY (mapping_id, worker)
) WITH (fillfactor = 50);

-- Catalogs: access policies ---------------------------------------------
--
-- Per-queue and per-topic grants on top of the roles. A call needs EXECUTE
-- on the function (the roles) and the action on the queue or topic: its
-- owner (the role that created it), superusers and sqsn_admin members may
-- do everything; anyone else needs a grant to a role whose privileges they
-- have (or to PUBLIC). Checked in C before any work. Roles are recorded by
-- name, like the owner columns.

CREATE TABLE sqsn.queue_grant (
	queue_id bigint NOT NULL REFERENCES sqsn.queue (queue_id) ON DELETE CASCADE,
	grantee name NOT NULL,
	action text NOT NULL
		CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY['send', 'receive', 'admin'])),
	granted_by name NOT NULL,
	granted_at timestamptz NOT NULL,
	-- made from the queue's Policy attribute: replaced with it, never by
	-- sq_grant/sq_revoke
	from_policy boolean NOT NULL DEFAULT false,
	PRIMARY KEY (queue_id, grantee, action, from_policy)
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.queue_grant', '');

CREATE TABLE sqsn.topic_grant (
	topic_id bigint NOT NULL REFERENCES sqsn.topic (topic_id) ON DELETE CASCADE,
	grantee name NOT NULL,
	action text NOT NULL
		CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY['publish', 'subscribe', 'admin'])),
	granted_by name NOT NULL,
	granted_at timestamptz NOT NULL,
	-- made from the topic's Policy attribute: replaced with it, never by
	-- sn_grant/sn_revoke
	from_policy boolean NOT NULL DEFAULT false,
	PRIMARY KEY (topic_id, grantee, action, from_policy)
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.topic_grant', '');

-- Catalogs: message move tasks --------------------------------------------
--
-- Redrives out of a dead-letter queue that the maintenance worker runs in
-- the background (sq_start_message_move_task): where the walk of the
-- source has reached (last_msg_seq), how many messages moved, and about
-- how many there were to move at the start. One active task per source.
-- destination_queue_id NULL: each message back to the queue it came from;
-- a destination deleted meanwhile fails the task.

CREATE TABLE sqsn.message_move_task (
	task_handle uuid PRIMARY KEY,
	source_queue_id bigint NOT NULL REFERENCES sqsn.queue (queue_id) ON DELETE CASCADE,
	destination_queue_id bigint,
	max_messages_per_second integer
		CHECK (max_messages_per_second OPERATOR(pg_catalog.>=) 1
			AND max_messages_per_second OPERATOR(pg_catalog.<=) 500),
	status text NOT NULL DEFAULT 'RUNNING'
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['RUNNING', 'CANCELLING', 'COMPLETED', 'CANCELLED', 'FAILED'])),
	messages_moved bigint NOT NULL DEFAULT 0,
	messages_to_move bigint NOT NULL,
	last_msg_seq bigint NOT NULL DEFAULT 0,
	failure_reason text,
	started_at timestamptz NOT NULL,
	finished_at timestamptz,
	started_by name NOT NULL
);
CREATE UNIQUE INDEX message_move_task_active_idx
	ON sqsn.message_move_task (source_queue_id)
	WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['RUNNING', 'CANCELLING']);
CREATE INDEX message_move_task_source_idx
	ON sqsn.message_move_task (source_queue_id, started_at);
SELECT pg_catalog.pg_extension_config_dump('sqsn.message_move_task', '');

-- Catalogs: tags ---------------------------------------------------------
--
-- The tags of queues and topics (TagQueue, TagResource): at most 50 per
-- queue or topic, keys of 1..128 and values of 0..256 characters (checked
-- by the tag functions). Deleting the queue or topic deletes its tags.

CREATE TABLE sqsn.queue_tag (
	queue_id bigint NOT NULL REFERENCES sqsn.queue (queue_id) ON DELETE CASCADE,
	tag_key text NOT NULL,
	tag_value text NOT NULL,
	PRIMARY KEY (queue_id, tag_key)
);
SELECT pg_catalog.pg_extension_config_dump('sqsn.queue_tag', '');

CREATE TABLE sqsn.topic_tag (
	topic_id bigint NOT NULL REFERENCES sqsn.topic (topic_id) ON DELETE CASCADE,
	tag_key text NOT NULL,
	tag_value text NOT NULL,
	PRIMARY KEY (topic_id, tag_key)
);
SELECT pg_catalog.pg_extension_config_dump('sqsn.topic_tag', '');

-- Catalogs: endpoint credentials ----------------------------------------
--
-- The access keys of the AWS-compatible endpoint: a request signed with
-- one (AWS Signature Version 4) runs as its role, so that role's sqsn
-- roles and per-queue and per-topic grants decide what it may do. The
-- secrets are readable only by the extension's owner and superusers; the
-- table is dumped by pg_dump, secrets included (see README). api_auth.c.

CREATE TABLE sqsn.api_credentials (
	access_key_id text PRIMARY KEY
		CHECK (access_key_id OPERATOR(pg_catalog.~) '^[A-Z0-9]{16,128}$'),
	secret_access_key text NOT NULL,
	role name NOT NULL,
	created_at timestamptz NOT NULL,
	created_by name NOT NULL,
	-- temporary credentials: requests must carry it (X-Amz-Security-Token)
	session_token text
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.api_credentials', '');

-- Housekeeping ----------------------------------------------------------

-- Creates the receipt-handle key; run once by this script.
CREATE FUNCTION sqsn.init_handle_key()
RETURNS void
AS 'MODULE_PATHNAME', 'sq_init_handle_key'
LANGUAGE C STRICT VOLATILE;

SELECT sqsn.init_handle_key();

-- Drops the per-queue message tables when the extension is dropped, so that
-- DROP EXTENSION sqsn needs no CASCADE and leaves nothing behind.
CREATE FUNCTION sqsn.drop_message_tables()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'sq_drop_message_tables'
LANGUAGE C;

CREATE EVENT TRIGGER sqsn_drop_message_tables
	ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION')
	EXECUTE FUNCTION sqsn.drop_message_tables();

-- Queue API -------------------------------------------------------------
--
-- Every SECURITY DEFINER function runs with search_path pinned, so nothing
-- a caller creates in another schema can stand in for a built-in.

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
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_delete_queue(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_delete_queue'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_purge_queue(queue_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sq_purge_queue'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_list_queues(prefix text DEFAULT NULL)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'sq_list_queues'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- The queues whose redrive policy names queue_name as their dead-letter
-- queue, in name order.
CREATE FUNCTION sqsn.sq_list_dead_letter_source_queues(queue_name text)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'sq_list_dead_letter_source_queues'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_get_queue_attributes(queue_name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sq_get_queue_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_set_queue_attributes(queue_name text, attributes jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_set_queue_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Message move tasks: moving the messages of a dead-letter queue in the
-- background (admin on the source; listing: any action on it).
CREATE FUNCTION sqsn.sq_start_message_move_task(
	source_queue text,
	destination_queue text DEFAULT NULL,
	max_messages_per_second integer DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sq_start_message_move_task'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_list_message_move_tasks(source_queue text, max_results integer DEFAULT 1)
RETURNS TABLE (
	task_handle uuid,
	status text,
	source_queue text,
	destination_queue text,
	max_messages_per_second integer,
	messages_moved bigint,
	messages_to_move bigint,
	failure_reason text,
	started_at timestamptz,
	finished_at timestamptz)
AS 'MODULE_PATHNAME', 'sq_list_message_move_tasks'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_cancel_message_move_task(task_handle uuid)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sq_cancel_message_move_task'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Tags of a queue: tagging is the queue's administration (admin), reading
-- them needs any action on the queue.
CREATE FUNCTION sqsn.sq_tag_queue(queue_name text, tags jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_tag_queue'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_untag_queue(queue_name text, tag_keys text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sq_untag_queue'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_list_queue_tags(queue_name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sq_list_queue_tags'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_send(
	queue_name text,
	message_body text,
	message_attributes jsonb DEFAULT NULL,
	delay_seconds integer DEFAULT NULL,
	message_group_id text DEFAULT NULL,
	message_deduplication_id text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sq_send'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_send_batch(
	queue_name text,
	message_bodies text[],
	message_attributes jsonb[] DEFAULT NULL,
	delay_seconds integer DEFAULT NULL,
	message_group_ids text[] DEFAULT NULL,
	message_deduplication_ids text[] DEFAULT NULL)
RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'sq_send_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER ROWS 100
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_receive(
	queue_name text,
	max_number_of_messages integer DEFAULT 1,
	visibility_timeout integer DEFAULT NULL,
	wait_time_seconds integer DEFAULT NULL)
RETURNS TABLE (
	message_id uuid,
	receipt_handle text,
	body text,
	message_attributes jsonb,
	sent_at timestamptz,
	receive_count integer,
	first_received_at timestamptz,
	message_group_id text,
	message_deduplication_id text,
	sequence_number text)
AS 'MODULE_PATHNAME', 'sq_receive'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER ROWS 10
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_delete(queue_name text, receipt_handle text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sq_delete'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_delete_batch(queue_name text, receipt_handles text[])
RETURNS TABLE (receipt_handle text, deleted boolean)
AS 'MODULE_PATHNAME', 'sq_delete_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER ROWS 10
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_change_visibility(
	queue_name text,
	receipt_handle text,
	visibility_timeout integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sq_change_visibility'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_redrive(
	dead_letter_queue text,
	destination_queue text DEFAULT NULL,
	max_messages_per_second integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sq_redrive'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Scheduled sends (pg_cron). SECURITY INVOKER: pg_cron runs a job as the
-- role that scheduled it, which must be the caller.
CREATE FUNCTION sqsn.sq_schedule_send(
	job_name text,
	schedule text,
	queue_name text,
	message_body text,
	message_attributes jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sq_schedule_send'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY INVOKER;

CREATE FUNCTION sqsn.sq_unschedule_send(job_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sq_unschedule_send'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY INVOKER;

-- Rows of the view sqsn.queue_stats.
CREATE FUNCTION sqsn.queue_stats_rows()
RETURNS TABLE (
	queue_name text,
	visible bigint,
	in_flight bigint,
	delayed bigint,
	oldest_message_age integer)
AS 'MODULE_PATHNAME', 'sq_queue_stats_rows'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Rows of the view sqsn.queue_metrics: each queue's depth and what happened
-- to it since the server started, under the managed service's metric
-- names (queue/metrics.c). Depth figures are approximate for large queues
-- and cached for sqsn.metrics_cache_time; counters are NULL without the
-- preload.
CREATE FUNCTION sqsn.queue_metrics_rows()
RETURNS TABLE (
	queue_name text,
	"ApproximateNumberOfMessagesVisible" bigint,
	"ApproximateNumberOfMessagesNotVisible" bigint,
	"ApproximateNumberOfMessagesDelayed" bigint,
	"ApproximateAgeOfOldestMessage" integer,
	"NumberOfMessagesSent" bigint,
	"NumberOfMessagesReceived" bigint,
	"NumberOfMessagesDeleted" bigint,
	"NumberOfEmptyReceives" bigint,
	"SentMessageSize" bigint,
	messages_dead_lettered bigint,
	messages_redriven bigint,
	"ApproximateNumberOfGroupsWithInflightMessages" bigint,
	depth_exact boolean,
	depth_measured_at timestamptz)
AS 'MODULE_PATHNAME', 'sq_queue_metrics_rows'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- The background worker's health, from shared memory: one row when the
-- library is preloaded, none otherwise (the view sqsn.worker_status).
CREATE FUNCTION sqsn.worker_status_rows()
RETURNS TABLE (
	pid integer,
	state text,
	last_sweep_at timestamptz,
	messages_expired bigint,
	messages_moved_to_dlq bigint,
	last_error text,
	queues_tracked bigint,
	queues_swept_last_round bigint,
	full_rounds bigint)
AS 'MODULE_PATHNAME', 'sq_worker_status_rows'
LANGUAGE C STRICT VOLATILE;

-- Where receives on each standard queue start their walk (lowwater.c), for
-- monitoring (the view sqsn.queue_low_water): every message at or below
-- hard_after is deleted; every one at or below soft_after is deleted or
-- invisible until soft_until (NULL: no such message). Kept in shared memory
-- by the background worker.
CREATE FUNCTION sqsn.queue_low_water_rows()
RETURNS TABLE (
	queue_name text,
	hard_after bigint,
	soft_after bigint,
	soft_until timestamptz)
AS 'MODULE_PATHNAME', 'sq_queue_low_water_rows'
LANGUAGE C STRICT VOLATILE;

-- The worker's sweeps (retention, messages over their receive limit), done
-- in the calling session: for servers without the preload, e.g. scheduled
-- with pg_cron.
CREATE FUNCTION sqsn.run_maintenance()
RETURNS TABLE (
	messages_expired bigint,
	messages_moved_to_dlq bigint)
AS 'MODULE_PATHNAME', 'sq_run_maintenance'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- On a Citus cluster: places every queue whose message table is still
-- local (made before citus was installed, or before a node could hold
-- shards) on a node of the cluster, keeping its messages; returns how many
-- (docs/citus.md). New queues are placed when they are created. For the
-- extension's owner and superusers only.
CREATE FUNCTION sqsn.citus_distribute()
RETURNS bigint
AS 'MODULE_PATHNAME', 'citus_distribute'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
-- The archive of FIFO topics: deletes up to batch_size archived messages
-- past their topic's retention period; returns how many. The maintenance
-- worker calls it each round (schedule it with pg_cron without the
-- preload).
CREATE FUNCTION sqsn.run_archive_maintenance(batch_size integer DEFAULT 1000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'run_archive_maintenance'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- One step (up to batch_size archived messages) of the replay stepped
-- longest ago (ReplayPolicy); returns how many replays are still active.
-- The maintenance worker calls it while replays are active.
CREATE FUNCTION sqsn.run_topic_replays(batch_size integer DEFAULT 1000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'run_topic_replays'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Topic API -------------------------------------------------------------

CREATE FUNCTION sqsn.sn_create_topic(
	topic_name text,
	content_based_deduplication boolean DEFAULT false,
	encrypted boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_create_topic'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_delete_topic(topic_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_delete_topic'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_topics(prefix text DEFAULT NULL)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'sn_list_topics'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_subscribe(
	topic_name text,
	protocol text,
	endpoint text,
	filter_policy jsonb DEFAULT NULL,
	filter_policy_scope text DEFAULT 'MessageAttributes',
	raw_message_delivery boolean DEFAULT false,
	delivery_policy jsonb DEFAULT NULL,
	redrive_policy jsonb DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sn_subscribe'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_unsubscribe(subscription_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_unsubscribe'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_subscriptions(topic_name text DEFAULT NULL)
RETURNS TABLE (
	subscription_id uuid,
	topic_name text,
	protocol text,
	endpoint text,
	filter_policy jsonb,
	raw_message_delivery boolean,
	status text)
AS 'MODULE_PATHNAME', 'sn_list_subscriptions'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_set_subscription_attributes(
	subscription_id uuid,
	attributes jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_set_subscription_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_publish(
	topic_name text,
	message text,
	message_attributes jsonb DEFAULT NULL,
	subject text DEFAULT NULL,
	message_structure text DEFAULT NULL,
	message_group_id text DEFAULT NULL,
	message_deduplication_id text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sn_publish'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_publish_batch(
	topic_name text,
	messages text[],
	message_attributes jsonb[] DEFAULT NULL,
	message_group_ids text[] DEFAULT NULL,
	message_deduplication_ids text[] DEFAULT NULL)
RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'sn_publish_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER ROWS 10
SET search_path = pg_catalog, pg_temp;

-- sn_publish and sn_publish_batch with each message's sequence number
-- beside its id: a 20-digit string for a FIFO topic (the endpoint's
-- SequenceNumber), NULL for a standard topic.
CREATE FUNCTION sqsn.sn_publish_sequenced(
	topic_name text,
	message text,
	message_attributes jsonb DEFAULT NULL,
	subject text DEFAULT NULL,
	message_structure text DEFAULT NULL,
	message_group_id text DEFAULT NULL,
	message_deduplication_id text DEFAULT NULL,
	OUT message_id uuid,
	OUT sequence_number text)
AS 'MODULE_PATHNAME', 'sn_publish_sequenced'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_publish_batch_sequenced(
	topic_name text,
	messages text[],
	message_attributes jsonb[] DEFAULT NULL,
	message_group_ids text[] DEFAULT NULL,
	message_deduplication_ids text[] DEFAULT NULL)
RETURNS TABLE (
	message_id uuid,
	sequence_number text)
AS 'MODULE_PATHNAME', 'sn_publish_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER ROWS 10
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_set_topic_attributes(topic_name text, attributes jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_set_topic_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- A topic's and a subscription's attributes, as the endpoint's
-- GetTopicAttributes and GetSubscriptionAttributes return them.
CREATE FUNCTION sqsn.sn_get_topic_attributes(topic_name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sn_get_topic_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_get_subscription_attributes(subscription_id uuid)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sn_get_subscription_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Tags of a topic: tagging is the topic's administration (admin), reading
-- them needs any action on the topic.
CREATE FUNCTION sqsn.sn_tag_resource(topic_name text, tags jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_tag_resource'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_untag_resource(topic_name text, tag_keys text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sn_untag_resource'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_tags_for_resource(topic_name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sn_list_tags_for_resource'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Push / outbox ---------------------------------------------------------
--
-- HTTP/HTTPS subscriptions are confirmed by the token the endpoint
-- received; their deliveries retry on the subscription's (or the topic's)
-- delivery policy, and each delivery is signed.

CREATE FUNCTION sqsn.sn_confirm_subscription(topic_name text, token text)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sn_confirm_subscription'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Pausing and resuming the push deliveries of an HTTP/HTTPS subscription
-- (its owner or the topic's administrators): while paused, deliveries stay
-- in the outbox.
CREATE FUNCTION sqsn.sn_pause_subscription(subscription_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_pause_subscription'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_resume_subscription(subscription_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_resume_subscription'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- SMS: the numbers that opted out of SMS get none (sms subscriptions;
-- docs/topics.md). Managing the list is sqsn_admin's.
CREATE FUNCTION sqsn.sn_opt_out_phone_number(phone_number text)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_opt_out_phone_number'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_opt_in_phone_number(phone_number text)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_opt_in_phone_number'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_check_if_phone_number_is_opted_out(phone_number text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sn_check_if_phone_number_is_opted_out'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_phone_numbers_opted_out()
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'sn_list_phone_numbers_opted_out'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- An SMS straight to a phone number, without a topic: sent through the
-- outbox like an sms subscription's, after commit. Not for sqsn_publisher:
-- SMS cost money and no topic grant covers a number, so sqsn_admin grants
-- EXECUTE on it to the roles that may send them.
CREATE FUNCTION sqsn.sn_publish_sms(
	phone_number text,
	message text,
	message_attributes jsonb DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sn_publish_sms'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Mobile push: platform applications and their endpoints (push/platform.c;
-- docs/topics.md, "Mobile push"). Applications are named by their ARN,
-- arn:aws:sns:<region>:<account>:app/<platform>/<name>, endpoints by
-- arn:aws:sns:<region>:<account>:endpoint/<platform>/<name>/<uuid>.
CREATE FUNCTION sqsn.sn_create_platform_application(
	name text,
	platform text,
	attributes jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'sn_create_platform_application'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_get_platform_application_attributes(application_arn text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sn_get_platform_application_attributes'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_set_platform_application_attributes(
	application_arn text,
	attributes jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_set_platform_application_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_delete_platform_application(application_arn text)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_delete_platform_application'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_platform_applications()
RETURNS TABLE (
	platform_application_arn text,
	attributes jsonb)
AS 'MODULE_PATHNAME', 'sn_list_platform_applications'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_create_platform_endpoint(
	application_arn text,
	token text,
	custom_user_data text DEFAULT NULL,
	attributes jsonb DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'sn_create_platform_endpoint'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_get_endpoint_attributes(endpoint_arn text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sn_get_endpoint_attributes'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_set_endpoint_attributes(
	endpoint_arn text,
	attributes jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_set_endpoint_attributes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_delete_endpoint(endpoint_arn text)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_delete_endpoint'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_list_endpoints_by_platform_application(application_arn text)
RETURNS TABLE (
	endpoint_arn text,
	attributes jsonb)
AS 'MODULE_PATHNAME', 'sn_list_endpoints_by_platform_application'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- The retry schedule a delivery policy gives: one row per retry.
CREATE FUNCTION sqsn.delivery_retry_schedule(delivery_policy jsonb DEFAULT NULL)
RETURNS TABLE (
	retry integer,
	phase text,
	delay_seconds double precision)
AS 'MODULE_PATHNAME', 'sn_delivery_retry_schedule'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;

CREATE FUNCTION sqsn.signing_certificate()
RETURNS text
AS 'MODULE_PATHNAME', 'sn_signing_certificate'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Security / grants -----------------------------------------------------
--
-- The per-queue and per-topic grants and owners of sqsn.queue_grant and
-- sqsn.topic_grant (see "Catalogs: access policies").

CREATE FUNCTION sqsn.sq_grant(queue_name text, role name, actions text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sq_grant'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_revoke(queue_name text, role name, actions text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sq_revoke'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_set_queue_owner(queue_name text, new_owner name)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_set_queue_owner'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_grant(topic_name text, role name, actions text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sn_grant'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_revoke(topic_name text, role name, actions text[])
RETURNS void
AS 'MODULE_PATHNAME', 'sn_revoke'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sn_set_topic_owner(topic_name text, new_owner name)
RETURNS void
AS 'MODULE_PATHNAME', 'sn_set_topic_owner'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Encryption ------------------------------------------------------------
--
-- An encrypted queue stores its messages sealed with AES-256-GCM under a
-- key derived from the server's master key (sqsn.master_key_file); an
-- encrypted topic seals its push outbox rows. See crypto.c. The flags are
-- the columns encrypted of sqsn.queue and sqsn.topic.

CREATE FUNCTION sqsn.sq_rotate_queue_key(queue_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sq_rotate_queue_key'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Function consumers ----------------------------------------------------
--
-- Event source mappings (queue -> function) and what the function workers
-- did. Function subscriptions are made with sn_subscribe (protocol
-- function or lambda). See docs/functions.md.

CREATE FUNCTION sqsn.sq_create_event_source_mapping(
	queue_name text,
	function_name regprocedure,
	batch_size integer DEFAULT 10,
	maximum_batching_window_seconds integer DEFAULT 0,
	maximum_concurrency integer DEFAULT 2,
	timeout_seconds integer DEFAULT 30,
	report_batch_item_failures boolean DEFAULT false,
	enabled boolean DEFAULT true)
RETURNS uuid
AS 'MODULE_PATHNAME', 'sq_create_event_source_mapping'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_update_event_source_mapping(
	mapping_id uuid,
	function_name regprocedure DEFAULT NULL,
	batch_size integer DEFAULT NULL,
	maximum_batching_window_seconds integer DEFAULT NULL,
	maximum_concurrency integer DEFAULT NULL,
	timeout_seconds integer DEFAULT NULL,
	report_batch_item_failures boolean DEFAULT NULL,
	enabled boolean DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_update_event_source_mapping'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_delete_event_source_mapping(mapping_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'sq_delete_event_source_mapping'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION sqsn.sq_list_event_source_mappings(queue_name text DEFAULT NULL)
RETURNS TABLE (
	mapping_id uuid,
	queue_name text,
	function_name text,
	batch_size integer,
	maximum_batching_window_seconds integer,
	maximum_concurrency integer,
	timeout_seconds integer,
	report_batch_item_failures boolean,
	state text,
	state_reason text,
	owner name,
	created_at timestamptz,
	last_modified_at timestamptz)
AS 'MODULE_PATHNAME', 'sq_list_event_source_mappings'
LANGUAGE C CALLED ON NULL INPUT STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- One batch of a mapping, run in the calling session and transaction as
-- the function workers run it: for servers without the preload (e.g.
-- scheduled with pg_cron), and for tests.
CREATE FUNCTION sqsn.run_event_source_mapping(mapping_id uuid)
RETURNS TABLE (
	messages integer,
	deleted integer,
	outcome text,
	error text)
AS 'MODULE_PATHNAME', 'sq_run_event_source_mapping'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- The function launcher and workers, from shared memory (rows of the view
-- sqsn.function_worker_status; none without the preload).
CREATE FUNCTION sqsn.function_worker_rows()
RETURNS TABLE (
	worker text,
	pid integer,
	state text,
	last_invocation_at timestamptz,
	invocations bigint,
	last_error text)
AS 'MODULE_PATHNAME', 'sq_function_worker_rows'
LANGUAGE C STRICT VOLATILE;

-- The counters of a mapping in shared memory since the server started
-- (function/mapping_metrics.c): zeros for a mapping not invoked since,
-- NULLs without the preload. The duration histogram's buckets are
-- cumulative, for the upper bounds (seconds) of duration_bucket_le.
CREATE FUNCTION sqsn.event_source_mapping_counters(mapping_id uuid,
	OUT invocations bigint,
	OUT failed bigint,
	OUT timed_out bigint,
	OUT partially_failed bigint,
	OUT messages bigint,
	OUT duration_seconds_sum double precision,
	OUT duration_bucket_le double precision[],
	OUT duration_buckets bigint[])
AS 'MODULE_PATHNAME', 'sq_event_source_mapping_counters'
LANGUAGE C STRICT VOLATILE;

-- The last sqsn.function_invocation_history invocations, newest first,
-- from shared memory (the view sqsn.function_invocations).
CREATE FUNCTION sqsn.function_invocation_rows()
RETURNS TABLE (
	consumer text,
	consumer_id uuid,
	batch_size integer,
	started_at timestamptz,
	duration_ms double precision,
	outcome text,
	error text,
	pid integer)
AS 'MODULE_PATHNAME', 'sq_function_invocation_rows'
LANGUAGE C STRICT VOLATILE;

-- Endpoint credentials --------------------------------------------------
--
-- Creating and dropping the access keys of sqsn.api_credentials.

CREATE FUNCTION sqsn.api_create_credentials(role name,
	access_key_id text DEFAULT NULL, secret_access_key text DEFAULT NULL,
	session_token text DEFAULT NULL)
RETURNS TABLE (access_key_id text, secret_access_key text)
AS 'MODULE_PATHNAME', 'api_create_credentials'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp ROWS 1;

CREATE FUNCTION sqsn.api_drop_credentials(access_key_id text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'api_drop_credentials'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Views -----------------------------------------------------------------

CREATE VIEW sqsn.queue_stats AS
	SELECT queue_name, visible, in_flight, delayed, oldest_message_age
	FROM sqsn.queue_stats_rows();

CREATE VIEW sqsn.queue_metrics AS
	SELECT queue_name,
		"ApproximateNumberOfMessagesVisible",
		"ApproximateNumberOfMessagesNotVisible",
		"ApproximateNumberOfMessagesDelayed",
		"ApproximateAgeOfOldestMessage",
		"NumberOfMessagesSent",
		"NumberOfMessagesReceived",
		"NumberOfMessagesDeleted",
		"NumberOfEmptyReceives",
		"SentMessageSize",
		"ApproximateNumberOfGroupsWithInflightMessages",
		messages_dead_lettered,
		messages_redriven,
		depth_exact,
		depth_measured_at
	FROM sqsn.queue_metrics_rows();

-- The maintenance worker's health: one row.
CREATE VIEW sqsn.worker_status AS
	SELECT pid, state, last_sweep_at, messages_expired, messages_moved_to_dlq,
		last_error, queues_tracked, queues_swept_last_round, full_rounds
	FROM sqsn.worker_status_rows();

-- The function launcher and the function workers, one row each;
-- invocations counts what a function worker invoked since it started.
CREATE VIEW sqsn.function_worker_status AS
	SELECT worker, pid, state, last_invocation_at, invocations, last_error
	FROM sqsn.function_worker_rows();

CREATE VIEW sqsn.queue_low_water AS
	SELECT queue_name, hard_after, soft_after, soft_until
	FROM sqsn.queue_low_water_rows();

CREATE VIEW sqsn.delivery_attempts AS
	SELECT a.subscription_id, a.message_id, a.attempt, a.attempted_at,
		a.http_status, a.error, a.latency_ms, a.next_attempt_at
	FROM sqsn.delivery_attempt a;

CREATE VIEW sqsn.subscription_stats AS
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

-- Recent invocations of consumer functions (sqsn.function_invocation_history
-- of them, newest first): the mapping or subscription, the function, its
-- queue or topic, how many messages, when, how long, and how it ended.
CREATE VIEW sqsn.function_invocations AS
	SELECT i.consumer, i.consumer_id,
		COALESCE(m.function_name, s.endpoint) AS function_name,
		COALESCE(q.queue_name, t.topic_name) AS source,
		i.batch_size, i.started_at, i.duration_ms, i.outcome, i.error, i.pid
	FROM sqsn.function_invocation_rows() i
	LEFT JOIN sqsn.event_source_mapping m
		ON i.consumer OPERATOR(pg_catalog.=) 'event_source_mapping'
		AND m.mapping_id OPERATOR(pg_catalog.=) i.consumer_id
	LEFT JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) m.queue_id
	LEFT JOIN sqsn.subscription s
		ON i.consumer OPERATOR(pg_catalog.=) 'subscription'
		AND s.subscription_id OPERATOR(pg_catalog.=) i.consumer_id
	LEFT JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) s.topic_id;

-- Per mapping: its state and what its batches did since it was created.
CREATE VIEW sqsn.event_source_mapping_stats AS
	SELECT m.mapping_id, q.queue_name, m.function_name,
		CASE WHEN NOT m.enabled THEN 'disabled'
			WHEN m.paused_reason IS NOT NULL THEN 'paused'
			ELSE 'enabled' END AS state,
		COALESCE(pg_catalog.sum(c.invocations), 0)::bigint AS invocations,
		COALESCE(pg_catalog.sum(c.succeeded), 0)::bigint AS succeeded,
		COALESCE(pg_catalog.sum(c.failed), 0)::bigint AS failed,
		COALESCE(pg_catalog.sum(c.timed_out), 0)::bigint AS timed_out,
		COALESCE(pg_catalog.sum(c.messages_deleted), 0)::bigint AS messages_deleted,
		COALESCE(pg_catalog.sum(c.messages_failed), 0)::bigint AS messages_failed,
		pg_catalog.sum(c.duration_ms) OPERATOR(pg_catalog./)
			NULLIF(pg_catalog.sum(c.invocations), 0) AS avg_duration_ms,
		pg_catalog.max(c.last_invocation_at) AS last_invocation_at
	FROM sqsn.event_source_mapping m
	JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) m.queue_id
	LEFT JOIN sqsn.event_source_mapping_counter c
		ON c.mapping_id OPERATOR(pg_catalog.=) m.mapping_id
	GROUP BY m.mapping_id, q.queue_name;

-- Per mapping: what its invocations did since the server started, from
-- the counters in shared memory (approximate in that an invocation is
-- counted whether or not its transaction commits; zero again after a
-- restart). The exact, persistent figures are in
-- sqsn.event_source_mapping_stats.
CREATE VIEW sqsn.event_source_mapping_metrics AS
	SELECT m.mapping_id, q.queue_name, m.function_name,
		c.invocations,
		c.failed OPERATOR(pg_catalog.+) c.timed_out AS errors,
		c.failed, c.timed_out, c.partially_failed,
		c.messages AS messages_processed,
		c.duration_seconds_sum, c.duration_bucket_le, c.duration_buckets
	FROM sqsn.event_source_mapping m
	JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) m.queue_id
	CROSS JOIN LATERAL sqsn.event_source_mapping_counters(m.mapping_id) c;

-- Who may do what: the owner (action 'owner') and every grant. sqsn_admin
-- members and superusers see every row; anyone else the rows of the queues
-- and topics they own and the grants that apply to them.
CREATE VIEW sqsn.queue_grants WITH (security_barrier) AS
	SELECT g.queue_name, g.grantee, g.action, g.granted_by, g.granted_at,
		g.from_policy
	FROM (
		SELECT q.queue_name, q.owner AS grantee, 'owner'::text AS action,
			NULL::name AS granted_by, q.created_at AS granted_at, q.owner,
			false AS from_policy
		FROM sqsn.queue q
		UNION ALL
		SELECT q.queue_name, qg.grantee, qg.action, qg.granted_by,
			qg.granted_at, q.owner, qg.from_policy
		FROM sqsn.queue_grant qg
		JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) qg.queue_id
	) g
	WHERE pg_catalog.pg_has_role('sqsn_admin', 'USAGE')
	   OR g.grantee OPERATOR(pg_catalog.=) 'public'
	   OR EXISTS (SELECT FROM pg_catalog.pg_roles r
			WHERE r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[g.grantee, g.owner])
			  AND pg_catalog.pg_has_role(r.oid, 'USAGE'));

CREATE VIEW sqsn.topic_grants WITH (security_barrier) AS
	SELECT g.topic_name, g.grantee, g.action, g.granted_by, g.granted_at,
		g.from_policy
	FROM (
		SELECT t.topic_name, t.owner AS grantee, 'owner'::text AS action,
			NULL::name AS granted_by, t.created_at AS granted_at, t.owner,
			false AS from_policy
		FROM sqsn.topic t
		UNION ALL
		SELECT t.topic_name, tg.grantee, tg.action, tg.granted_by,
			tg.granted_at, t.owner, tg.from_policy
		FROM sqsn.topic_grant tg
		JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) tg.topic_id
	) g
	WHERE pg_catalog.pg_has_role('sqsn_admin', 'USAGE')
	   OR g.grantee OPERATOR(pg_catalog.=) 'public'
	   OR EXISTS (SELECT FROM pg_catalog.pg_roles r
			WHERE r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[g.grantee, g.owner])
			  AND pg_catalog.pg_has_role(r.oid, 'USAGE'));

-- The endpoint's access keys without their secrets.
CREATE VIEW sqsn.api_access_keys AS
	SELECT access_key_id, role, created_at, created_by,
		session_token IS NOT NULL AS with_session_token
	FROM sqsn.api_credentials;

-- Privileges ------------------------------------------------------------

-- Nothing is usable by PUBLIC; the four roles get what they need, and none
-- of them can read or write a catalog or message table directly (nor the
-- endpoint's secrets: only the extension's owner and superusers can).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sqsn FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA sqsn FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA sqsn FROM PUBLIC;

GRANT USAGE ON SCHEMA sqsn TO sqsn_admin, sqsn_producer, sqsn_consumer, sqsn_publisher;
GRANT sqsn_producer, sqsn_consumer, sqsn_publisher TO sqsn_admin;

-- Creating queues and topics, subscriptions listed across topics,
-- confirming subscriptions, maintenance, key rotation and the endpoint's
-- access keys stay with sqsn_admin.
GRANT EXECUTE ON FUNCTION
	sqsn.sq_create_queue(text, integer, integer, integer, integer, text, integer, integer, boolean, text, boolean),
	sqsn.run_maintenance(),
	sqsn.run_archive_maintenance(integer),
	sqsn.run_topic_replays(integer),
	sqsn.queue_low_water_rows(),
	sqsn.sn_create_topic(text, boolean, boolean),
	sqsn.sn_list_subscriptions(text),
	sqsn.sn_confirm_subscription(text, text),
	sqsn.sq_rotate_queue_key(text),
	sqsn.api_create_credentials(name, text, text, text),
	sqsn.api_drop_credentials(text),
	sqsn.sn_opt_out_phone_number(text),
	sqsn.sn_opt_in_phone_number(text),
	sqsn.sn_check_if_phone_number_is_opted_out(text),
	sqsn.sn_list_phone_numbers_opted_out(),
	sqsn.sn_publish_sms(text, text, jsonb)
	TO sqsn_admin;

GRANT EXECUTE ON FUNCTION
	sqsn.sq_send(text, text, jsonb, integer, text, text),
	sqsn.sq_send_batch(text, text[], jsonb[], integer, text[], text[]),
	sqsn.sq_schedule_send(text, text, text, text, jsonb),
	sqsn.sq_unschedule_send(text)
	TO sqsn_producer;

GRANT EXECUTE ON FUNCTION
	sqsn.sq_receive(text, integer, integer, integer),
	sqsn.sq_delete(text, text),
	sqsn.sq_delete_batch(text, text[]),
	sqsn.sq_change_visibility(text, text, integer)
	TO sqsn_consumer;

-- Function consumers are consumers: the receive action on the queue and
-- EXECUTE on the function decide (an administrator of the queue may also
-- delete a mapping).
GRANT EXECUTE ON FUNCTION
	sqsn.sq_create_event_source_mapping(text, regprocedure, integer, integer, integer, integer, boolean, boolean),
	sqsn.sq_update_event_source_mapping(uuid, regprocedure, integer, integer, integer, integer, boolean, boolean),
	sqsn.sq_delete_event_source_mapping(uuid),
	sqsn.sq_list_event_source_mappings(text),
	sqsn.run_event_source_mapping(uuid)
	TO sqsn_admin, sqsn_consumer;

GRANT EXECUTE ON FUNCTION
	sqsn.sn_publish(text, text, jsonb, text, text, text, text),
	sqsn.sn_publish_batch(text, text[], jsonb[], text[], text[]),
	sqsn.sn_publish_sequenced(text, text, jsonb, text, text, text, text),
	sqsn.sn_publish_batch_sequenced(text, text[], jsonb[], text[], text[]),
	sqsn.sn_list_topics(text)
	TO sqsn_publisher;

-- Mobile push: applications (and their credentials) are sqsn_admin's;
-- publishers register and manage the devices of an application.
GRANT EXECUTE ON FUNCTION
	sqsn.sn_create_platform_application(text, text, jsonb),
	sqsn.sn_set_platform_application_attributes(text, jsonb),
	sqsn.sn_delete_platform_application(text)
	TO sqsn_admin;
GRANT EXECUTE ON FUNCTION
	sqsn.sn_get_platform_application_attributes(text),
	sqsn.sn_list_platform_applications(),
	sqsn.sn_create_platform_endpoint(text, text, text, jsonb),
	sqsn.sn_get_endpoint_attributes(text),
	sqsn.sn_set_endpoint_attributes(text, jsonb),
	sqsn.sn_delete_endpoint(text),
	sqsn.sn_list_endpoints_by_platform_application(text)
	TO sqsn_admin, sqsn_publisher;

-- Reading queues, and the per-queue administrative functions, are open to
-- every queue role: the admin action on the queue decides.
GRANT EXECUTE ON FUNCTION
	sqsn.sq_list_queues(text),
	sqsn.sq_list_dead_letter_source_queues(text),
	sqsn.sq_get_queue_attributes(text),
	sqsn.queue_stats_rows(),
	sqsn.queue_metrics_rows(),
	sqsn.worker_status_rows(),
	sqsn.function_worker_rows(),
	sqsn.sq_grant(text, name, text[]),
	sqsn.sq_revoke(text, name, text[]),
	sqsn.sq_set_queue_owner(text, name),
	sqsn.sq_delete_queue(text),
	sqsn.sq_purge_queue(text),
	sqsn.sq_set_queue_attributes(text, jsonb),
	sqsn.sq_redrive(text, text, integer),
	sqsn.sq_tag_queue(text, jsonb),
	sqsn.sq_untag_queue(text, text[]),
	sqsn.sq_list_queue_tags(text),
	sqsn.sq_start_message_move_task(text, text, integer),
	sqsn.sq_list_message_move_tasks(text, integer),
	sqsn.sq_cancel_message_move_task(uuid)
	TO sqsn_admin, sqsn_producer, sqsn_consumer;

-- Likewise for topics and subscriptions; subscribing is for consumers and
-- producers too (the subscribe action on the topic and send on the queue
-- decide).
GRANT EXECUTE ON FUNCTION
	sqsn.sn_grant(text, name, text[]),
	sqsn.sn_revoke(text, name, text[]),
	sqsn.sn_set_topic_owner(text, name),
	sqsn.sn_delete_topic(text),
	sqsn.sn_set_topic_attributes(text, jsonb),
	sqsn.sn_get_topic_attributes(text),
	sqsn.sn_tag_resource(text, jsonb),
	sqsn.sn_untag_resource(text, text[]),
	sqsn.sn_list_tags_for_resource(text),
	sqsn.sn_subscribe(text, text, text, jsonb, text, boolean, jsonb, jsonb),
	sqsn.sn_unsubscribe(uuid),
	sqsn.sn_set_subscription_attributes(uuid, jsonb),
	sqsn.sn_get_subscription_attributes(uuid),
	sqsn.sn_pause_subscription(uuid),
	sqsn.sn_resume_subscription(uuid),
	sqsn.delivery_retry_schedule(jsonb),
	sqsn.signing_certificate()
	TO sqsn_admin, sqsn_publisher, sqsn_producer, sqsn_consumer;

GRANT SELECT ON sqsn.queue_stats, sqsn.queue_metrics, sqsn.worker_status,
	sqsn.function_worker_status
	TO sqsn_admin, sqsn_producer, sqsn_consumer;
GRANT SELECT ON sqsn.queue_low_water, sqsn.delivery_attempts,
	sqsn.subscription_stats, sqsn.api_access_keys,
	sqsn.function_invocations, sqsn.event_source_mapping_stats,
	sqsn.event_source_mapping_metrics
	TO sqsn_admin;
GRANT EXECUTE ON FUNCTION sqsn.function_invocation_rows(),
	sqsn.event_source_mapping_counters(uuid) TO sqsn_admin;
GRANT SELECT ON sqsn.queue_grants, sqsn.topic_grants
	TO sqsn_admin, sqsn_producer, sqsn_consumer, sqsn_publisher;
