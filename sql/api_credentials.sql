-- Credentials of the AWS endpoint: api_create_credentials (generated and
-- given keys, their formats, the checks and their SQLSTATEs),
-- api_drop_credentials, the api_access_keys view without secrets, who may
-- call what, and that the secrets stay unreadable to every sqsn role.

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

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_c_admin;
DROP ROLE IF EXISTS regress_c_app;
DROP ROLE IF EXISTS regress_c_producer;
DROP ROLE IF EXISTS regress_c_super;
DROP ROLE IF EXISTS regress_c_gone;
RESET client_min_messages;

CREATE ROLE regress_c_admin IN ROLE sqsn_admin;
CREATE ROLE regress_c_app IN ROLE sqsn_producer, sqsn_consumer;
CREATE ROLE regress_c_producer IN ROLE sqsn_producer;
CREATE ROLE regress_c_super SUPERUSER;
CREATE ROLE regress_c_gone;

-- a generated key: SQSN + 16 of A-Z2-7 (20 characters, like AWS's), and a
-- 40-character secret of the base64 alphabet
SET ROLE regress_c_admin;
CREATE TEMP TABLE generated AS
	SELECT * FROM sqsn.api_create_credentials('regress_c_app');
SELECT access_key_id ~ '^SQSN[A-Z2-7]{16}$' AS key_id_format,
	secret_access_key ~ '^[A-Za-z0-9+/]{40}$' AS secret_format
FROM generated;
-- two calls never give the same key or secret
SELECT count(DISTINCT k.access_key_id) AS keys, count(DISTINCT k.secret_access_key) AS secrets
FROM (SELECT * FROM generated
	UNION ALL SELECT * FROM sqsn.api_create_credentials('regress_c_app')
	UNION ALL SELECT * FROM sqsn.api_create_credentials('regress_c_app')) k;
-- a given key and secret are taken as they are
SELECT * FROM sqsn.api_create_credentials('regress_c_app',
	'AKIAREGRESSTEST00001', 'regress-secret/0123456789+ABCDEFabcdef');
SELECT access_key_id, secret_access_key ~ '^[A-Za-z0-9+/]{40}$' AS generated_secret
FROM sqsn.api_create_credentials(role => 'regress_c_producer',
	access_key_id => 'AKIAREGRESSTEST00002');
-- the shortest key id (16) and secret (8), the longest (128 each)
SELECT * FROM sqsn.api_create_credentials('regress_c_app', 'AKIAREGRESS00003', 'eight888');
SELECT length(access_key_id), length(secret_access_key)
FROM sqsn.api_create_credentials('regress_c_app', 'AKIAREGRESS' || repeat('9', 117), repeat('x', 128));
-- temporary credentials: a key with a session token (8 to 2048 characters)
SELECT access_key_id FROM sqsn.api_create_credentials('regress_c_app', 'AKIAREGRESSTEMP00001',
	'temporary-secret', session_token => 'IQoJb3JpZ2luX2VjEFAKE');
SELECT access_key_id FROM sqsn.api_create_credentials('regress_c_app', 'AKIAREGRESSTEMP00002',
	session_token => repeat('t', 2048));
-- the view: every key with its role and creator, no secret nor token
SELECT left(access_key_id, 24) AS access_key_id, role, created_by, created_at BETWEEN now() - interval '1 minute' AND now() AS created_now, with_session_token
FROM sqsn.api_access_keys WHERE access_key_id LIKE 'AKIAREGRESS%' ORDER BY 1;
SELECT count(*) AS generated_keys FROM sqsn.api_access_keys
WHERE role = 'regress_c_app' AND access_key_id LIKE 'SQSN%';
SELECT attname FROM pg_attribute
WHERE attrelid = 'sqsn.api_access_keys'::regclass AND attnum > 0 ORDER BY attnum;
RESET ROLE;

-- the stored rows are the ones returned
SELECT c.secret_access_key = g.secret_access_key AS secret_stored, c.role
FROM generated g JOIN sqsn.api_credentials c USING (access_key_id);

-- errors
SET ROLE regress_c_admin;
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials(NULL)$$);
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_nosuchrole')$$);
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', 'AKIAREGRESSTEST00001')$$);
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', 'akiaregresstest00003')$$);
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', 'AKIA-REGRESS-TEST-3')$$);
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', 'AKIA0123456789A')$$);
SELECT pg_temp.err(format('SELECT sqsn.api_create_credentials(%L, %L)', 'regress_c_app', repeat('A', 129)));
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', NULL, 'short')$$);
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', NULL, 'seven77')$$);
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', NULL, 'has a space in it')$$);
SELECT pg_temp.err(format('SELECT sqsn.api_create_credentials(%L, NULL, %L)', 'regress_c_app', repeat('s', 129)));
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('public')$$);
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', 'AKIAREGRESSTEMP00003', NULL, 'short')$$);
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', 'AKIAREGRESSTEMP00003', NULL, 'a token with spaces')$$);
SELECT pg_temp.err(format('SELECT sqsn.api_create_credentials(%L, %L, NULL, %L)', 'regress_c_app', 'AKIAREGRESSTEMP00003', repeat('t', 2049)));
SELECT count(*) AS refused_tokens_stored FROM sqsn.api_access_keys WHERE access_key_id = 'AKIAREGRESSTEMP00003';
-- the error about a bad secret does not show it
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app', NULL, 'my secret')$$) LIKE '%my secret%' AS secret_shown;
-- requests signed with a superuser's key would run as a superuser: only
-- a superuser may create one
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_super')$$);
RESET ROLE;
SELECT access_key_id FROM sqsn.api_create_credentials('regress_c_super', 'AKIAREGRESSSUPER0001');
-- a key is created for a role that exists, but may outlive it: requests
-- with it are refused (the endpoint looks the role up by name)
SELECT access_key_id FROM sqsn.api_create_credentials('regress_c_gone', 'AKIAREGRESSGONE00001');
DROP ROLE regress_c_gone;
SELECT access_key_id, role FROM sqsn.api_access_keys WHERE access_key_id = 'AKIAREGRESSGONE00001';

-- the table checks the format too, whoever writes to it
SELECT pg_temp.err($$INSERT INTO sqsn.api_credentials VALUES ('lower0123456789ab', 'x', 'regress_c_app', now(), current_user)$$);

-- drop
SET ROLE regress_c_admin;
SELECT sqsn.api_drop_credentials('AKIAREGRESSTEST00002') AS dropped;
SELECT sqsn.api_drop_credentials('AKIAREGRESSTEST00002') AS dropped_again;
SELECT sqsn.api_drop_credentials('AKIAREGRESSGONE00001') AS dropped_orphan;
SELECT pg_temp.err($$SELECT sqsn.api_drop_credentials(NULL)$$);
SELECT left(access_key_id, 24) AS access_key_id FROM sqsn.api_access_keys WHERE access_key_id LIKE 'AKIAREGRESS%' ORDER BY 1;
-- a dropped key id may be used again
SELECT access_key_id FROM sqsn.api_create_credentials('regress_c_producer', 'AKIAREGRESSTEST00002');
RESET ROLE;

-- who may call: sqsn_admin members and superusers only; nobody but the
-- extension's owner and superusers reads the secrets
SET ROLE regress_c_app;
SELECT pg_temp.err($$SELECT sqsn.api_create_credentials('regress_c_app')$$);
SELECT pg_temp.err($$SELECT sqsn.api_drop_credentials('AKIAREGRESSTEST00001')$$);
SELECT pg_temp.err($$SELECT * FROM sqsn.api_access_keys$$);
SELECT pg_temp.err($$SELECT * FROM sqsn.api_credentials$$);
SELECT pg_temp.err($$DELETE FROM sqsn.api_credentials$$);
RESET ROLE;
SET ROLE regress_c_admin;
SELECT pg_temp.err($$SELECT * FROM sqsn.api_credentials$$);
SELECT pg_temp.err($$SELECT secret_access_key FROM sqsn.api_credentials$$);
SELECT pg_temp.err($$UPDATE sqsn.api_credentials SET role = 'regress_c_admin'$$);
SELECT pg_temp.err($$INSERT INTO sqsn.api_credentials VALUES ('AKIAREGRESSTEST00009', 'secret-secret', 'regress_c_admin', now(), 'x')$$);
RESET ROLE;
SELECT r AS role, has_table_privilege(r, 'sqsn.api_credentials', 'SELECT') AS reads_secrets,
	has_table_privilege(r, 'sqsn.api_access_keys', 'SELECT') AS reads_keys,
	has_function_privilege(r, 'sqsn.api_create_credentials(name, text, text, text)', 'EXECUTE') AS creates
FROM unnest(ARRAY['sqsn_admin', 'sqsn_producer', 'sqsn_consumer', 'sqsn_publisher', 'public']) AS r;

-- pg_dump keeps the credentials
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS t(oid)
JOIN pg_class c ON c.oid = t.oid
WHERE e.extname = 'sqsn' AND c.relname = 'api_credentials';

-- the endpoint's setting: sigv4 by default, none the only other value,
-- changed by reload only
SHOW sqsn.api_auth;
SELECT enumvals, context FROM pg_settings WHERE name = 'sqsn.api_auth';
SELECT pg_temp.err($$SET sqsn.api_auth = 'none'$$);

-- clean up
DROP TABLE generated;
SELECT count(*) FILTER (WHERE sqsn.api_drop_credentials(access_key_id)) AS dropped
FROM sqsn.api_access_keys WHERE role IN ('regress_c_app', 'regress_c_producer', 'regress_c_super');
DROP ROLE regress_c_admin, regress_c_app, regress_c_producer, regress_c_super;
