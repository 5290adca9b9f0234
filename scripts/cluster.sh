#!/usr/bin/env bash
#
# Control the private cluster that scripts/setup.sh created.
#   scripts/cluster.sh start    start it (set-up must have run once)
#   scripts/cluster.sh stop     stop it (fast shutdown); fine if not running
#   scripts/cluster.sh status   say whether it runs; exit 0 if so, 3 if not
#   scripts/cluster.sh env      print PGHOST/PGPORT/PGUSER as export lines:
#                               eval "$(scripts/cluster.sh env)"

set -u -o pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
}

cmd=${1:-}
case $cmd in
start)
	sqsn_init_paths
	cluster_start
	say "connect with:  psql -h $DB_HOST -p $(cluster_port) -U $DB_SUPERUSER postgres"
	;;
stop)
	if ! command -v "$PG_CONFIG" >/dev/null 2>&1; then
		say "PostgreSQL is not installed: nothing to stop"
		exit 0
	fi
	sqsn_init_paths
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		say "no cluster in $PGDATA: nothing to stop"
		exit 0
	fi
	cluster_stop
	;;
status)
	command -v "$PG_CONFIG" >/dev/null 2>&1 || {
		echo "not set up (PostgreSQL is not installed)"
		exit 3
	}
	sqsn_init_paths
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		echo "not set up: no cluster in $PGDATA"
		exit 3
	fi
	if pid=$(postmaster_pid); then
		echo "running: pid $pid, $DB_HOST:$(cluster_port), data $PGDATA, log $LOG_FILE"
		exit 0
	fi
	echo "stopped: data $PGDATA"
	exit 3
	;;
env)
	sqsn_init_paths
	print_conn_env || die "port unknown: run scripts/setup.sh first"
	;;
*)
	usage
	;;
esac
