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
