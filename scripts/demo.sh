#!/usr/bin/env bash
#
# `make demo`: set everything up (scripts/setup.sh), create a fresh database
# sqsn_demo with the extension, run examples/quickstart.sql with every
# statement echoed, and say how to connect. The cluster keeps running;
# `make stop` stops it. Safe to run again: the database is recreated.

set -u -o pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEMO_DB=sqsn_demo

bash "$REPO/scripts/setup.sh" || die "set-up failed"
sqsn_init_paths
export_conn_env

psql=("$PGBIN/psql" -X -v ON_ERROR_STOP=1 -P pager=off)

say "creating database $DEMO_DB with the sqsn extension"
"${psql[@]}" -q -d postgres -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS $DEMO_DB WITH (FORCE)" \
	-c "CREATE DATABASE $DEMO_DB" || die "could not create database $DEMO_DB"
"${psql[@]}" -q -d "$DEMO_DB" -c "CREATE EXTENSION sqsn" ||
	die "CREATE EXTENSION sqsn failed"

say "running examples/quickstart.sql"
"${psql[@]}" -e -d "$DEMO_DB" -f "$REPO/examples/quickstart.sql" ||
	die "examples/quickstart.sql failed"

cat <<EOF

==> The demo ran in database $DEMO_DB. Try it yourself:

    psql -h $PGHOST -p $PGPORT -U $PGUSER $DEMO_DB

    (or: eval "\$(scripts/cluster.sh env)"; psql $DEMO_DB)

The cluster keeps running (data: $PGDATA, log: $LOG_FILE).
Stop it with:  make stop
EOF
