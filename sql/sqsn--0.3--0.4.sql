\echo Use "ALTER EXTENSION sqsn UPDATE TO '0.4'" to load this file. \quit

-- sqsn 0.3 -> 0.4. Every change to sql/sqsn.sql (the 0.4 install script)
-- since 0.3 has its counterpart here; test/t/007_upgrade.pl checks that an
-- updated installation and a fresh one have the same catalog.

-- SNS endpoint ----------------------------------------------------------
--
-- What the AWS-compatible endpoint's SNS actions need beyond the topic API:
-- topic attributes sqsn keeps for its clients (DisplayName, Policy,
-- TracingConfig, SignatureVersion) and reading a topic's or a
-- subscription's attributes (GetTopicAttributes,
-- GetSubscriptionAttributes).

ALTER TABLE sqsn.topic
	ADD COLUMN extra_attributes jsonb NOT NULL DEFAULT '{}';

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

REVOKE ALL ON FUNCTION sqsn.sn_get_topic_attributes(text),
	sqsn.sn_get_subscription_attributes(uuid) FROM PUBLIC;

-- Like the functions that change them: the actions on the topic and the
-- subscription decide.
GRANT EXECUTE ON FUNCTION
	sqsn.sn_get_topic_attributes(text),
	sqsn.sn_get_subscription_attributes(uuid)
	TO sqsn_admin, sqsn_publisher, sqsn_producer, sqsn_consumer;

-- AWS endpoint credentials ----------------------------------------------
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
	created_by name NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('sqsn.api_credentials', '');

CREATE FUNCTION sqsn.api_create_credentials(role name,
	access_key_id text DEFAULT NULL, secret_access_key text DEFAULT NULL)
RETURNS TABLE (access_key_id text, secret_access_key text)
AS 'MODULE_PATHNAME', 'api_create_credentials'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp ROWS 1;

CREATE FUNCTION sqsn.api_drop_credentials(access_key_id text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'api_drop_credentials'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- The access keys without their secrets.
CREATE VIEW sqsn.api_access_keys AS
	SELECT access_key_id, role, created_at, created_by
	FROM sqsn.api_credentials;

REVOKE ALL ON sqsn.api_credentials, sqsn.api_access_keys
	FROM PUBLIC, sqsn_admin, sqsn_producer, sqsn_consumer, sqsn_publisher;
REVOKE ALL ON FUNCTION
	sqsn.api_create_credentials(name, text, text),
	sqsn.api_drop_credentials(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sqsn.api_create_credentials(name, text, text),
	sqsn.api_drop_credentials(text)
	TO sqsn_admin;
GRANT SELECT ON sqsn.api_access_keys TO sqsn_admin;
-- End of AWS endpoint credentials ---------------------------------------
