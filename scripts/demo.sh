#!/usr/bin/env bash
#
# `make demo`: set everything up (scripts/setup.sh), create a fresh database
# sqsn_demo with the extension, run examples/quickstart.sql with every
# statement echoed, and say how to connect. Then the AWS-compatible
# endpoint: a queue and an access key for it in the endpoint's database,
# and an AWS CLI command line that uses them (run once here to check it).
# One line of progress per step (packages, build, install, cluster,
# quickstart, endpoint); the build's output goes to a log file, shown only
# when it fails. The cluster keeps running; `make stop` stops it. Safe to
# run again: the database is recreated.

set -u -o pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEMO_DB=sqsn_demo
DEMO_QUEUE=demo-api
DEMO_ROLE=sqsn_demo_api

bash "$REPO/scripts/setup.sh" --quiet || die "set-up failed"
sqsn_init_paths
export_conn_env

psql=("$PGBIN/psql" -X -v ON_ERROR_STOP=1 -P pager=off)

say "quickstart: examples/quickstart.sql in a new database $DEMO_DB"
"${psql[@]}" -q -d postgres -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS $DEMO_DB WITH (FORCE)" \
	-c "CREATE DATABASE $DEMO_DB" || die "could not create database $DEMO_DB"
"${psql[@]}" -q -d "$DEMO_DB" -c "CREATE EXTENSION sqsn" ||
	die "CREATE EXTENSION sqsn failed"

echo
"${psql[@]}" -e -d "$DEMO_DB" -f "$REPO/examples/quickstart.sql" ||
	die "examples/quickstart.sql failed"

# --- the AWS-compatible endpoint
api_port=$(cluster_api_port) || die "the endpoint's port is unknown: see $LOG_FILE"
API_URL=http://$DB_HOST:$api_port
API_DB=$("${psql[@]}" -At -d postgres -c "SHOW sqsn.database_name") ||
	die "cannot read sqsn.database_name"
# A role that may send to and receive from the demo queue, and a key for it.
"${psql[@]}" -q -d "$API_DB" >/dev/null <<SQL || die "could not prepare the endpoint's demo queue"
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS sqsn;
DO \$\$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DEMO_ROLE') THEN
		CREATE ROLE $DEMO_ROLE;
	END IF;
END
\$\$;
GRANT sqsn_producer, sqsn_consumer TO $DEMO_ROLE;
SELECT sqsn.sq_create_queue('$DEMO_QUEUE');
SELECT sqsn.sq_purge_queue('$DEMO_QUEUE');
SELECT sqsn.sq_grant('$DEMO_QUEUE', '$DEMO_ROLE', '{send,receive}');
-- the key of an earlier run goes; a new one is made below
SELECT sqsn.api_drop_credentials(access_key_id) FROM sqsn.api_access_keys
 WHERE role = '$DEMO_ROLE';
SQL
read -r KEY_ID SECRET < <("${psql[@]}" -At -F ' ' -d "$API_DB" \
	-c "SELECT access_key_id, secret_access_key FROM sqsn.api_create_credentials('$DEMO_ROLE')") ||
	die "could not create an access key for $DEMO_ROLE"
[ -n "${SECRET:-}" ] || die "could not create an access key for $DEMO_ROLE"
ACCOUNT=$("${psql[@]}" -At -d postgres -c "SHOW sqsn.api_account_id") || die "cannot read sqsn.api_account_id"
QUEUE_URL=$API_URL/$ACCOUNT/$DEMO_QUEUE
CREDS="AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_DEFAULT_REGION=us-east-1"
SEND="aws --endpoint-url $API_URL sqs send-message --queue-url $QUEUE_URL --message-body hello"
RECEIVE="aws --endpoint-url $API_URL sqs receive-message --queue-url $QUEUE_URL --visibility-timeout 0"

# Check the printed commands once, with Debian's AWS CLI when there is one.
aws_cli=/usr/bin/aws
[ -x "$aws_cli" ] || aws_cli=$(command -v aws) || aws_cli=""
if [ -n "$aws_cli" ]; then
	check_env=(env AWS_ACCESS_KEY_ID="$KEY_ID" AWS_SECRET_ACCESS_KEY="$SECRET"
		AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=/dev/null
		AWS_SHARED_CREDENTIALS_FILE=/dev/null)
	"${check_env[@]}" "$aws_cli" --endpoint-url "$API_URL" sqs send-message \
		--queue-url "$QUEUE_URL" --message-body hello >/dev/null ||
		die "send-message through the endpoint failed"
	got=$("${check_env[@]}" "$aws_cli" --endpoint-url "$API_URL" --output text \
		--query 'Messages[0].Body' sqs receive-message --queue-url "$QUEUE_URL" --visibility-timeout 0) ||
		die "receive-message through the endpoint failed"
	[ "$got" = hello ] || die "receive-message through the endpoint returned '$got', not 'hello'"
	"${psql[@]}" -q -At -d "$API_DB" -c "SELECT sqsn.sq_purge_queue('$DEMO_QUEUE')" >/dev/null
	echo
	say "endpoint: $API_URL (database $API_DB): send-message and receive-message with $aws_cli work"
else
	echo
	say "endpoint: $API_URL (database $API_DB); no AWS CLI found: the commands below were not checked"
fi

cat <<EOF

==> The demo ran in database $DEMO_DB. Try it yourself:

    psql -h $PGHOST -p $PGPORT -U $PGUSER $DEMO_DB

    (or: eval "\$(scripts/cluster.sh env)"; psql $DEMO_DB)

The AWS-compatible endpoint listens on $API_URL and serves the queues of
database $API_DB. Queue $DEMO_QUEUE there takes messages from the access key
made for role $DEMO_ROLE (sqsn.api_create_credentials):

    $CREDS \\
      $SEND

    $CREDS \\
      $RECEIVE

The cluster keeps running (data: $PGDATA, log: $LOG_FILE).
Stop it with:  make stop
EOF
