# shellcheck shell=bash
#
# What the runners of the endpoint's clients share (test/api/run,
# test/apps/run): source it after scripts/common.sh. It defines functions and
# runs nothing.
#
#   endpoint_env OUT   exports what the clients need (below), or dies
#   endpoint_cleanup PREFIX   deletes the topics and queues named PREFIX*
#   make_key ROLE      prints "key_id secret" of a new access key of ROLE
#
# endpoint_env exports:
#   SQSN_API_URL                 http://127.0.0.1:<endpoint port>
#   AWS_DEFAULT_REGION, AWS_REGION   us-east-1
#   SQSN_API_ACCOUNT_ID          sqsn.api_account_id
#   SQSN_API_AUTH                sqsn.api_auth (sigv4 or none)
#   PGHOST, PGPORT, PGUSER, PGDATABASE   the endpoint's database (the
#                                superuser), and PATH with this PostgreSQL's
#                                psql first
# and sets ENDPOINT_PSQL, the psql command for that database. No AWS
# configuration of the user running the tests gets in the way: the config
# and credentials files are empty ones in OUT.

endpoint_env() {
	local out=$1 api_port i
	sqsn_init_paths
	export_conn_env
	api_port=$(cluster_api_port) || die "the endpoint's port is unknown ($API_PORT_FILE): run scripts/setup.sh"
	ENDPOINT_PSQL=("$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1)
	PGDATABASE=$("${ENDPOINT_PSQL[@]}" -d postgres -c "SHOW sqsn.database_name") ||
		die "cannot ask the cluster for sqsn.database_name"
	export PGDATABASE
	ENDPOINT_PSQL+=(-d "$PGDATABASE")
	export PATH=$PGBIN:$PATH

	export SQSN_API_URL=http://$DB_HOST:$api_port
	export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
	export AWS_CONFIG_FILE=$out/aws-config AWS_SHARED_CREDENTIALS_FILE=$out/aws-credentials
	export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
	unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_SNS
	: >"$AWS_CONFIG_FILE"
	: >"$AWS_SHARED_CREDENTIALS_FILE"

	# The endpoint's workers start with the cluster: wait until they listen.
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/$DB_HOST/$api_port") 2>/dev/null; then
			break
		fi
		[ "$i" = 100 ] && die "nothing listens on $SQSN_API_URL (sqsn.api_port): see $LOG_FILE"
		sleep 0.2
	done

	"${ENDPOINT_PSQL[@]}" -c "SET client_min_messages = warning" \
		-c "CREATE EXTENSION IF NOT EXISTS sqsn" >/dev/null ||
		die "cannot create the extension in database $PGDATABASE"
	SQSN_API_ACCOUNT_ID=$("${ENDPOINT_PSQL[@]}" -c "SHOW sqsn.api_account_id") || die "sqsn.api_account_id unknown"
	SQSN_API_AUTH=$("${ENDPOINT_PSQL[@]}" -c "SHOW sqsn.api_auth") || die "sqsn.api_auth unknown"
	export SQSN_API_ACCOUNT_ID SQSN_API_AUTH
}

# Topics first (their subscriptions name queues), then the queues, in
# rounds: a dead-letter queue goes once the queues naming it are gone.
endpoint_cleanup() {
	"${ENDPOINT_PSQL[@]}" -v prefix="$1" <<'SQL'
SET client_min_messages = warning;
SELECT count(sqsn.sn_delete_topic(t)) FROM sqsn.sn_list_topics(:'prefix') AS t;
SELECT set_config('sqsn_test.prefix', :'prefix', false);
DO $$
DECLARE
	q text;
	failed int;
BEGIN
	FOR round IN 1..5 LOOP
		failed := 0;
		FOR q IN SELECT sqsn.sq_list_queues(current_setting('sqsn_test.prefix')) LOOP
			BEGIN
				PERFORM sqsn.sq_delete_queue(q);
			EXCEPTION WHEN OTHERS THEN
				failed := failed + 1;
			END;
		END LOOP;
		EXIT WHEN failed = 0;
	END LOOP;
END
$$;
SELECT count(*) AS queues_left FROM sqsn.sq_list_queues(:'prefix');
SQL
}

make_key() {
	"${ENDPOINT_PSQL[@]}" -F ' ' -v role="$1" <<<"SELECT access_key_id, secret_access_key FROM sqsn.api_create_credentials(:'role')"
}
