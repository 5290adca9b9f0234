#!/usr/bin/env bash
#
# `make valgrind`: run the regress suite (sql/<name>.sql vs expected/<name>.out)
# and the isolation specs, as `make test` runs them, against a private
# cluster whose every process runs under valgrind's memcheck, then fail if a
# test failed or any process reported an error.
#
#   1. install what is missing (valgrind and what `make test` needs),
#   2. build sqsn with -Og -g (warnings are errors) in a scratch copy of the
#      sources and install it: the server loads it from PostgreSQL's library
#      directory, so the next `make test` puts its own build back (and
#      restarts its cluster, as after any rebuild),
#   3. create (once) and start a second cluster, next to the one of
#      `make test`, with the same settings, the postmaster started under
#      valgrind: every backend, the sqsn worker, the delivery worker and
#      pg_cron's launcher are forked from it and checked too,
#   4. run the regress suite and the isolation specs as `make test` does,
#      then test/valgrind/workers.sql, which makes the two workers sweep
#      queues and push to a local HTTP and HTTPS sink, then the endpoint's
#      client tests (test/api/run) against this cluster's endpoint workers,
#   5. stop the cluster and read valgrind's logs, one per process: any error
#      fails the run, with a summary of which process reported what.
#
# Debian's PostgreSQL is not built with USE_VALGRIND, so memcheck does not
# see palloc chunks one by one: overruns inside a memory context's blocks go
# unnoticed. It does see reads of uninitialised memory and misuse of
# malloc'd memory (ours, OpenSSL's, libcurl's).
#
# Where things live: $SQSN_STATE_DIR/valgrind/ if SQSN_STATE_DIR is set, else
# /var/tmp/sqsn-<hash of the checkout>/valgrind/: pgdata/, run/ (server log),
# build/, test-out/ and logs/ (valgrind's, <pid>.log, emptied on each run).
#
# Knobs: VALGRIND_SUITES (default "regress isolation workers api": the regress
# suite, the isolation specs, test/valgrind/workers.sql, the endpoint's
# client tests of test/api/run), SQSN_SUITE_TIMEOUT
# (seconds per suite, default 3600), VALGRIND_ERROR_EXITCODE (default 128;
# 0 lets a process that reported an error go on, without the restart of the
# whole cluster, to collect every error of a run at once).

set -u -o pipefail
# The suite functions of make test (and, through it, common.sh).
# shellcheck source=scripts/test.sh
. "$(dirname "${BASH_SOURCE[0]}")/test.sh"

SUITE_TIMEOUT=${SQSN_SUITE_TIMEOUT:-3600}
VALGRIND_SUITES=${VALGRIND_SUITES:-regress isolation workers api}
STARTED=$SECONDS

# The error exit code makes a backend that reported an error exit as if it
# had crashed, so the postmaster restarts the cluster and the test that ran
# it fails too; the logs say why.
VALGRIND_OPTS=(
	--tool=memcheck
	--trace-children=yes
	--track-origins=yes
	--read-inline-info=yes
	--read-var-info=yes
	--leak-check=no
	--num-callers=40
	--error-exitcode=${VALGRIND_ERROR_EXITCODE:-128}
	--error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END
	--gen-suppressions=all
)

install_packages valgrind postgresql-15 postgresql-server-dev-15 postgresql-15-cron \
	libcurl4-openssl-dev libssl-dev openssl python3 python3-cryptography make gcc
sqsn_init_paths

# The cluster of make valgrind: its own data directory, port and logs.
if [ -n "${SQSN_STATE_DIR:-}" ]; then
	VG_BASE=$SQSN_STATE_DIR/valgrind
else
	VG_BASE=/var/tmp/sqsn-$(repo_hash)/valgrind
fi
PGDATA=$VG_BASE/pgdata
PGRUN=$VG_BASE/run
TESTOUT=$VG_BASE/test-out
VG_LOGS=$VG_BASE/logs
if [ "${#PGRUN}" -le 80 ]; then
	SOCKDIR=$PGRUN
else
	SOCKDIR=/tmp/sqsn-$(repo_hash)-valgrind
fi
PORT_FILE=$PGRUN/port
API_PORT_FILE=$PGRUN/api_port
LOG_FILE=$PGRUN/postgresql.log
export PGDATA
mkdir -p "$(dirname "$VG_BASE")" && chmod 755 "$(dirname "$VG_BASE")" ||
	die "cannot create $(dirname "$VG_BASE")"
sqsn_ensure_dirs

# What cluster_start runs and what the running server's processes are.
SERVER_PROGRAM=$PGRUN/postgres-under-valgrind
SERVER_EXE=$(find /usr/libexec/valgrind /usr/lib/*/valgrind -maxdepth 1 \
	-name "memcheck-$(uname -m | sed 's/x86_64/amd64/')-linux" 2>/dev/null | head -n 1)
[ -n "$SERVER_EXE" ] || die "valgrind's memcheck tool not found"

# A run always starts from a stopped cluster and empty logs.
cluster_stop

# log_summary LOG N: one paragraph on a valgrind log with N errors: which
# process it was (from the server log's lines of that PID) and, for each
# error, its kind and its innermost frames.
log_summary() {
	local log=$1 n=$2 pid who
	pid=$(basename "$log" .log)
	# "2026-01-01 00:00:00.000 UTC [pid] <backend type> <application>: ..."
	who=$(grep -a -E "\[$pid\] " "$LOG_FILE" 2>/dev/null | grep -a -v '\] not initialized ' | head -n 1 |
		sed -E 's/^.*\['"$pid"'\] ([^:]*):.*$/\1/; s/ +$//')
	printf '    process %s (%s): %s error(s), %s\n' "$pid" "${who:-unknown}" "$n" "$log"
	# In each report: the kind, then up to 4 frames, sqsn's marked.
	awk '/VALGRINDERROR-BEGIN/ { inerr = 1; first = 1; frames = 0; next }
		/VALGRINDERROR-END/ { inerr = 0; next }
		inerr {
			sub(/^==[0-9]+== */, "")
			if (first) { print "      " $0; first = 0; next }
			if ($1 ~ /^(at|by)$/ && frames < 4) { print "        " $0; frames++ }
			if ($0 ~ /^(Address|Uninitialised value|Block was)/) frames = 4
		}' "$log" | head -n 60
}

# start_sink DIR [ARG...]: start test/http_sink.py on a free port of
# 127.0.0.1, recording into DIR; sets SINK_PID and SINK_PORT.
start_sink() {
	local dir=$1 i
	shift
	mkdir -p "$dir"
	python3 "$SRC/test/http_sink.py" --dir "$dir" --port-file "$dir/port" "$@" \
		>"$dir/sink.log" 2>&1 &
	SINK_PID=$!
	for i in $(seq 1 100); do
		[ -s "$dir/port" ] && break
		sleep 0.1
	done
	SINK_PORT=$(cat "$dir/port" 2>/dev/null)
	[[ $SINK_PORT =~ ^[0-9]+$ ]] && return 0
	show_file "$dir/sink.log"
	return 1
}

# suite_workers: test/valgrind/workers.sql in the workers' database, with
# the HTTP sink of the push tests listening on 127.0.0.1, once over HTTP and
# once over HTTPS with a certificate made here.
suite_workers() {
	local out=$TESTOUT/workers pids=() http https rc
	FILE_PASS=0 FILE_FAIL=0
	say "workers: the worker and the delivery worker"
	if ! make_cluster_dir "$out" 755 ||
		! openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
			-addext subjectAltName=IP:127.0.0.1 -keyout "$out/tls.key" \
			-out "$out/tls.pem" >"$out/openssl.log" 2>&1; then
		suite_error workers "cannot prepare $out" workers
		return
	fi
	chmod 644 "$out/tls.pem"
	if start_sink "$out/http"; then
		pids+=("$SINK_PID")
		http=http://127.0.0.1:$SINK_PORT
	fi
	if start_sink "$out/https" --cert "$out/tls.pem" --key "$out/tls.key"; then
		pids+=("$SINK_PID")
		https=https://127.0.0.1:$SINK_PORT
	fi
	if [ "${#pids[@]}" != 2 ]; then
		kill "${pids[@]}" 2>/dev/null
		suite_error workers "the HTTP sinks did not start" workers
		return
	fi
	timeout -k 30 "$SUITE_TIMEOUT" "$PGBIN/psql" -X -a -q -v ON_ERROR_STOP=1 \
		-v sink="$http" -v tls_sink="$https" -v ca_file="$out/tls.pem" -d postgres \
		-f "$SRC/test/valgrind/workers.sql" >"$out/workers.out" 2>&1
	rc=$?
	kill "${pids[@]}" 2>/dev/null
	wait "${pids[@]}" 2>/dev/null
	if [ "$rc" = 0 ] && diff -u "$SRC/test/valgrind/workers.out" "$out/workers.out" \
		>"$out/workers.diff"; then
		file_verdict workers workers 0 "$out/workers.out"
	else
		file_verdict workers workers 1 "$out/workers.diff" "psql exited with $rc; output: $out/workers.out"
	fi
	record workers "$FILE_PASS" "$FILE_FAIL"
}

# suite_api_valgrind: make test's api suite, pointed at this cluster
# (test/api/run finds it through SQSN_STATE_DIR).
suite_api_valgrind() {
	local saved=${SQSN_STATE_DIR-}
	export SQSN_STATE_DIR=$VG_BASE
	suite_api
	if [ -n "$saved" ]; then
		SQSN_STATE_DIR=$saved
	else
		unset SQSN_STATE_DIR
	fi
}

# ---------------------------------------------------------------------------
# Build and install

BUILD=$VG_BASE/build
say "building sqsn with -Og -g (warnings are errors) in $BUILD"
rm -rf "$BUILD"
mkdir -p "$BUILD" && cp -r "$REPO/Makefile" "$REPO/sqsn.control" "$REPO/src" "$REPO/sql" "$BUILD"/ ||
	die "cannot copy the sources to $BUILD"
find "$BUILD" \( -name '*.o' -o -name '*.bc' -o -name '*.so' \) -delete
MK=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$BUILD" --no-print-directory
	PG_CONFIG="$(command -v "$PG_CONFIG")")
"${MK[@]}" -j"$(nproc 2>/dev/null || echo 2)" \
	PG_CFLAGS="-Wall -Werror -Og -g -fno-omit-frame-pointer" >"$VG_BASE/build.log" 2>&1 || {
	tail -n 40 "$VG_BASE/build.log" >&2
	die "build failed (full log: $VG_BASE/build.log)"
}
say "installing the -Og build into $PKGLIBDIR"
privileged "${MK[@]}" install >/dev/null || die "make install failed"

# ---------------------------------------------------------------------------
# Cluster

init_cluster

# valgrind's and PostgreSQL's suppressions, readable by the cluster user.
cp "$REPO/test/valgrind/postgresql.supp" "$REPO/test/valgrind/sqsn.supp" "$PGRUN"/
cat >"$SERVER_PROGRAM" <<EOF
#!/bin/sh
# Written by scripts/valgrind.sh: pg_ctl starts the postmaster through this.
exec valgrind ${VALGRIND_OPTS[*]} \\
	--suppressions=$PGRUN/postgresql.supp --suppressions=$PGRUN/sqsn.supp \\
	--log-file=$VG_LOGS/%p.log "$PGBIN/postgres" "\$@"
EOF
chmod 755 "$SERVER_PROGRAM"
[ "$IS_ROOT" = 1 ] && chown "$CLUSTER_USER:" "$SERVER_PROGRAM" "$PGRUN"/*.supp

# Settings on top of the ones of make test's cluster (write_cluster_conf):
# a log that names every process, so that valgrind's logs (named by PID) can
# be told apart.
cat >"$PGDATA/sqsn_valgrind.conf" <<EOF
# Written by scripts/valgrind.sh on every run; edit that script, not this file.
log_line_prefix = '%m [%p] %b %a: '
log_connections = on
EOF
[ "$IS_ROOT" = 1 ] && chown "$CLUSTER_USER:" "$PGDATA/sqsn_valgrind.conf"
if ! grep -q "^include_if_exists = 'sqsn_valgrind.conf'" "$PGDATA/postgresql.conf"; then
	printf "\n# make valgrind settings (after sqsn.conf)\ninclude_if_exists = 'sqsn_valgrind.conf'\n" \
		>>"$PGDATA/postgresql.conf"
fi

rm -rf "$VG_LOGS"
make_cluster_dir "$VG_LOGS" 755 || die "cannot create $VG_LOGS"
[ -f "$LOG_FILE" ] && mv -f "$LOG_FILE" "$LOG_FILE.old"
cluster_start
# Stopped at the end, and also when this script dies half-way.
trap 'cluster_stop >/dev/null 2>&1' EXIT
export_conn_env

# ---------------------------------------------------------------------------
# Suites

stop_leftover_servers "$TESTOUT"
rm -rf "$TESTOUT"
make_cluster_dir "$TESTOUT" 755 || die "cannot create $TESTOUT"
# The suites read their inputs as the cluster user: from a copy.
SRC=$TESTOUT/src
mkdir -p "$SRC" && cp -r "$REPO/sql" "$REPO/expected" "$REPO/test" "$SRC"/ ||
	die "cannot copy the tests to $SRC"
[ "$IS_ROOT" = 1 ] && chown -R "$CLUSTER_USER:" "$SRC"

for suite in $VALGRIND_SUITES; do
	case $suite in
	regress) suite_regress ;;
	isolation) suite_isolation ;;
	workers) suite_workers ;;
	api) suite_api_valgrind ;;
	*) die "unknown suite in VALGRIND_SUITES: $suite" ;;
	esac
done

cluster_stop

# ---------------------------------------------------------------------------
# Valgrind's verdict

VG_ERRORS=0
VG_REPORT=()
for log in "$VG_LOGS"/*.log; do
	[ -e "$log" ] || continue
	n=$(grep -c 'VALGRINDERROR-BEGIN' "$log")
	[ "$n" -gt 0 ] || continue
	VG_ERRORS=$((VG_ERRORS + n))
	VG_REPORT+=("$(log_summary "$log" "$n")")
done
nlogs=$(find "$VG_LOGS" -name '*.log' | wc -l)

elapsed=$((SECONDS - STARTED))
recap_failures
echo
say "valgrind summary ($nlogs processes checked, $((elapsed / 60)) min $((elapsed % 60)) s)"
printf '%s\n' "${SUMMARY[@]}"
if [ "${#FAILED_TESTS[@]}" -gt 0 ]; then
	echo "  failed tests:"
	printf '    %s\n' "${FAILED_TESTS[@]}"
fi
[ "$SUITE_ERRORS" -gt 0 ] && echo "  $SUITE_ERRORS suite(s) could not run properly"
if [ "$VG_ERRORS" -gt 0 ]; then
	echo "  valgrind reported $VG_ERRORS error(s):"
	printf '%s\n' "${VG_REPORT[@]}"
	echo "  full reports (with suppressions to copy): $VG_LOGS/; server log: $LOG_FILE"
else
	echo "  valgrind: no errors"
fi
echo "$PASSED passed, $FAILED failed, $VG_ERRORS valgrind error(s)"
if [ "$FAILED" -gt 0 ] || [ "$SUITE_ERRORS" -gt 0 ] || [ "$VG_ERRORS" -gt 0 ]; then
	exit 1
fi
exit 0
