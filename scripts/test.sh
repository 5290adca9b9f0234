#!/usr/bin/env bash
#
# `make test`: set everything up (scripts/setup.sh), then run every suite
# against the installed extension:
#   regress    sql/<name>.sql vs expected/<name>.out        (pg_regress)
#   isolation  test/isolation/specs/<name>.spec             (pg_isolation_regress)
#   pgtap      test/pgtap/*.sql                             (pg_prove)
#   tap        test/t/*.pl, with their own temporary clusters (prove)
#   api        the AWS-compatible endpoint driven by real AWS clients
#              (test/api/run: boto3, the AWS CLI, the JavaScript SDK)
#   bench      bench/run, bench/storage and bench/api --smoke: every benchmark
#              workload still runs
# Every test file counts as one test. Outputs go to a scratch directory
# owned by the cluster user (.test-out/ in the checkout, see common.sh).
# The last line printed is "N passed, N failed"; the exit status is non-zero
# if anything failed or a suite could not run. The cluster keeps running.

set -u -o pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PASSED=0
FAILED=0
SUITE_ERRORS=0
SUMMARY=()       # one line per suite
FAILED_TESTS=()  # suite/name of every failed test
MAX_SHOW=400     # lines of failure output shown per test/suite
# A hung test must not hang CI: pg_regress and pg_isolation_regress get
# SUITE_TIMEOUT seconds for their whole suite, each pgTAP or TAP file
# FILE_TIMEOUT seconds.
SUITE_TIMEOUT=${SQSN_SUITE_TIMEOUT:-1800}
FILE_TIMEOUT=${SQSN_FILE_TIMEOUT:-900}

# Print at most MAX_SHOW lines of a file, saying where the rest is.
show_file() {
	local f=$1 n
	[ -f "$f" ] || return 0
	n=$(wc -l <"$f")
	echo "----- $f"
	head -n "$MAX_SHOW" "$f"
	if [ "$n" -gt "$MAX_SHOW" ]; then
		echo "----- ($((n - MAX_SHOW)) more lines in $f)"
	fi
}

# file_verdict SUITE TEST STATUS LOG [NOTE]: count one pgTAP/TAP file; on
# failure show its output.
file_verdict() {
	if [ "$3" = 0 ]; then
		FILE_PASS=$((FILE_PASS + 1))
		echo "$1 $2 ... ok"
		return
	fi
	FILE_FAIL=$((FILE_FAIL + 1))
	FAILED_TESTS+=("$1/$2")
	echo "$1 $2 ... FAILED"
	show_file "$4"
	[ "$3" = 124 ] && echo "----- (killed: it ran longer than ${FILE_TIMEOUT}s)"
	[ -n "${5:-}" ] && echo "----- $5"
	return 0
}

# Stop test servers (TAP tests' own clusters) still running from DIR: a test
# killed by its timeout, or an interrupted earlier run, leaves them behind.
stop_leftover_servers() {
	local d dir pid
	[ -d /proc/self ] || return 0
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		dir=$(readlink "$d/cwd" 2>/dev/null) || continue
		case $dir in "$1"/*) ;; *) continue ;; esac
		[ "$(head -n 1 "$dir/postmaster.pid" 2>/dev/null)" = "$pid" ] || continue
		say "stopping a test server left running in $dir"
		run_as_cluster_user "$PGBIN/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 9>&-
	done
	return 0
}

# The test files of each suite, by name, sorted (byte order).
list_regress() {
	local f n
	for f in "$REPO"/sql/*.sql; do
		[ -e "$f" ] || continue
		n=$(basename "$f" .sql)
		case $n in sqsn | sqsn--*) continue ;; esac
		echo "$n"
	done | LC_ALL=C sort
}
list_files() { # dir suffix
	local f
	for f in "$1"/*"$2"; do
		[ -e "$f" ] && basename "$f" "$2"
	done | LC_ALL=C sort
}
list_isolation() { list_files "$REPO/test/isolation/specs" .spec; }
list_pgtap() { list_files "$REPO/test/pgtap" .sql; }
list_tap() { list_files "$REPO/test/t" .pl; }
list_api() { [ -x "$REPO/test/api/run" ] && "$REPO/test/api/run" --list; }

# record SUITE PASSED FAILED [NOTE]
record() {
	local line
	PASSED=$((PASSED + $2))
	FAILED=$((FAILED + $3))
	line=$(printf '  %-10s %3d passed, %3d failed' "$1" "$2" "$3")
	[ -n "${4:-}" ] && line="$line  ($4)"
	SUMMARY+=("$line")
}
# suite_error SUITE REASON TEST...: the suite could not run; its tests fail.
suite_error() {
	local suite=$1 reason=$2 t
	shift 2
	warn "$suite: $reason"
	for t in "$@"; do FAILED_TESTS+=("$suite/$t"); done
	SUITE_ERRORS=$((SUITE_ERRORS + 1))
	record "$suite" 0 "$#" "$reason"
}
skip() { SUMMARY+=("$(printf '  %-10s skipped (%s)' "$1" "$2")"); }

finish() {
	echo
	say "summary"
	printf '%s\n' "${SUMMARY[@]}"
	if [ "${#FAILED_TESTS[@]}" -gt 0 ]; then
		echo "  failed tests:"
		printf '    %s\n' "${FAILED_TESTS[@]}"
	fi
	[ "$SUITE_ERRORS" -gt 0 ] && echo "  $SUITE_ERRORS suite(s) could not run properly"
	echo "$PASSED passed, $FAILED failed"
	if [ "$FAILED" -gt 0 ] || [ "$SUITE_ERRORS" -gt 0 ]; then
		exit 1
	fi
	exit 0
}

# Run a pg_regress-style driver and count its per-test verdicts.
# run_regress_driver SUITE DRIVER INPUTDIR DBNAME TEST...
run_regress_driver() {
	local suite=$1 driver=$2 inputdir=$3 db=$4
	shift 4
	local out=$TESTOUT/$suite log t line pass=0 fail=0 rc note=""
	log=$out/$suite.log
	if ! make_cluster_dir "$out" 755; then
		suite_error "$suite" "cannot create $out" "$@"
		return
	fi
	say "$suite: $# test(s)"
	CLUSTER_CWD=$out run_as_cluster_user timeout -k 30 "$SUITE_TIMEOUT" "$driver" \
		--inputdir="$inputdir" --outputdir="$out" --bindir="$PGBIN" \
		--host="$PGHOST" --port="$PGPORT" --user="$DB_SUPERUSER" \
		--dbname="$db" --load-extension=sqsn "$@" 2>&1 9>&- | tee "$log"
	rc=${PIPESTATUS[0]}
	for t in "$@"; do
		# "test <name> ... ok    12 ms" / "... FAILED" / "... failed (ignored)"
		line=$(awk -v t="$t" '{ i = ($1 == "test") ? 2 : 1 }
			$i == t && $(i + 1) == "..." { v = $(i + 2) } END { print v }' "$log")
		if [ "$line" = ok ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			FAILED_TESTS+=("$suite/$t")
		fi
	done
	if [ "$rc" = 124 ]; then
		note="timed out after ${SUITE_TIMEOUT}s"
		warn "$suite: $note"
	fi
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		SUITE_ERRORS=$((SUITE_ERRORS + 1))
		note="$(basename "$driver") exited with status $rc"
	fi
	if [ "$fail" -gt 0 ] || [ "$rc" -ne 0 ]; then
		echo
		say "$suite failed; differences:"
		show_file "$out/regression.diffs"
		[ -f "$out/regression.diffs" ] || show_file "$log"
	fi
	record "$suite" "$pass" "$fail" "$note"
}

suite_regress() {
	local tests
	mapfile -t tests < <(list_regress)
	if [ "${#tests[@]}" -eq 0 ]; then
		skip regress "no sql/*.sql tests"
		return
	fi
	run_regress_driver regress "$PGXS_DIR/src/test/regress/pg_regress" \
		"$SRC" sqsn_regress "${tests[@]}"
}

suite_isolation() {
	local tests
	mapfile -t tests < <(list_isolation)
	if [ "${#tests[@]}" -eq 0 ]; then
		skip isolation "no test/isolation/specs/*.spec"
		return
	fi
	run_regress_driver isolation "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
		"$SRC/test/isolation" sqsn_isolation "${tests[@]}"
}

suite_pgtap() {
	local tests t out=$TESTOUT/pgtap db=sqsn_pgtap
	local psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$DB_SUPERUSER")
	mapfile -t tests < <(list_pgtap)
	if [ "${#tests[@]}" -eq 0 ]; then
		skip pgtap "no test/pgtap/*.sql"
		return
	fi
	if ! make_cluster_dir "$out" 755; then
		suite_error pgtap "cannot create $out" "${tests[@]}"
		return
	fi
	say "pgtap: ${#tests[@]} test(s)"
	FILE_PASS=0 FILE_FAIL=0
	if ! { "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
		-c "CREATE DATABASE $db" &&
		"${psql[@]}" -d "$db" -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION sqsn"; } \
		>"$out/createdb.log" 2>&1; then
		show_file "$out/createdb.log"
		suite_error pgtap "could not create database $db" "${tests[@]}"
		return
	fi
	for t in "${tests[@]}"; do
		CLUSTER_CWD=$SRC/test/pgtap run_as_cluster_user env PATH="$PGBIN:$PATH" \
			timeout -k 30 "$FILE_TIMEOUT" pg_prove --verbose --host "$PGHOST" --port "$PGPORT" \
			--username "$DB_SUPERUSER" --dbname "$db" "$t.sql" \
			>"$out/$t.log" 2>&1 9>&-
		file_verdict pgtap "$t" $? "$out/$t.log"
	done
	record pgtap "$FILE_PASS" "$FILE_FAIL"
}

suite_tap() {
	local tests t out=$TESTOUT/tap
	mapfile -t tests < <(list_tap)
	if [ "${#tests[@]}" -eq 0 ]; then
		skip tap "no test/t/*.pl"
		return
	fi
	if ! make_cluster_dir "$out" 755; then
		suite_error tap "cannot create $out" "${tests[@]}"
		return
	fi
	say "tap: ${#tests[@]} test(s)"
	FILE_PASS=0 FILE_FAIL=0
	for t in "${tests[@]}"; do
		# The environment PGXS's prove_installcheck sets; the tests make their
		# own clusters (PostgreSQL::Test::Cluster) under $TESTDIR/tmp_check.
		CLUSTER_CWD=$SRC/test run_as_cluster_user env \
			-u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u PGDATA \
			TESTDIR="$out" PATH="$PGBIN:$PATH" \
			PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
			PG_TEST_PORT_DIR="$out/portlock" \
			timeout -k 30 "$FILE_TIMEOUT" prove --verbose \
			-I "$PGXS_DIR/src/test/perl" -I "$SRC/test/t" -I "$SRC/test" \
			"t/$t.pl" >"$out/$t.log" 2>&1 9>&-
		file_verdict tap "$t" $? "$out/$t.log" \
			"server logs and the full test log: $out/tmp_check/log/"
		stop_leftover_servers "$out"
	done
	record tap "$FILE_PASS" "$FILE_FAIL"
}

# The endpoint's client tests: test/api/run runs them all against the
# cluster's endpoint and prints "api <name> ... ok|FAILED" for each.
suite_api() {
	local tests t out=$TESTOUT/api log rc v pass=0 fail=0 note=""
	mapfile -t tests < <(list_api)
	if [ "${#tests[@]}" -eq 0 ]; then
		skip api "no test/api tests"
		return
	fi
	log=$out/run.log
	if ! mkdir -p "$out"; then
		suite_error api "cannot create $out" "${tests[@]}"
		return
	fi
	say "api: ${#tests[@]} test(s)"
	timeout -k 30 "$SUITE_TIMEOUT" "$REPO/test/api/run" --out "$out" 2>&1 9>&- | tee "$log"
	rc=${PIPESTATUS[0]}
	for t in "${tests[@]}"; do
		v=$(awk -v t="$t" '$1 == "api" && $2 == t && $3 == "..." { v = $4 } END { print v }' "$log")
		if [ "$v" = ok ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			FAILED_TESTS+=("api/$t")
			show_file "$out/$t.log"
		fi
	done
	[ "$rc" = 124 ] && note="timed out after ${SUITE_TIMEOUT}s"
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		SUITE_ERRORS=$((SUITE_ERRORS + 1))
		note="test/api/run exited with status $rc"
	fi
	record api "$pass" "$fail" "$note"
}

# The benchmark's smoke run: every bench/ workload executes once in a while,
# so the suite never rots (its speed is not judged here).
suite_bench() {
	local log=$TESTOUT/bench-smoke.log
	if [ ! -x "$REPO/bench/run" ]; then
		skip bench "no bench/run"
		return
	fi
	say "bench: smoke run"
	FILE_PASS=0 FILE_FAIL=0
	timeout -k 30 "$FILE_TIMEOUT" "$REPO/bench/run" --smoke >"$log" 2>&1 9>&-
	file_verdict bench smoke $? "$log"
	if [ -x "$REPO/bench/storage" ]; then
		say "bench: storage smoke run"
		log=$TESTOUT/bench-storage-smoke.log
		timeout -k 30 "$FILE_TIMEOUT" "$REPO/bench/storage" --smoke >"$log" 2>&1 9>&-
		file_verdict bench storage-smoke $? "$log"
	fi
	if [ -x "$REPO/bench/api" ]; then
		say "bench: HTTP endpoint smoke run"
		log=$TESTOUT/bench-api-smoke.log
		timeout -k 30 "$FILE_TIMEOUT" "$REPO/bench/api" --smoke >"$log" 2>&1 9>&-
		file_verdict bench api-smoke $? "$log"
	fi
	record bench "$FILE_PASS" "$FILE_FAIL"
}

# ---------------------------------------------------------------------------

# Nothing can run: count every test file as failed and stop.
fail_everything() {
	local s t tests n=0
	warn "$1: no test could run"
	for s in regress isolation pgtap tap api; do
		mapfile -t tests < <("list_$s")
		for t in "${tests[@]}"; do FAILED_TESTS+=("$s/$t"); done
		n=$((n + ${#tests[@]}))
	done
	SUITE_ERRORS=$((SUITE_ERRORS + 1))
	record setup 0 "$n" "$1; every test counted as failed"
	finish
}

# scripts/valgrind.sh sources this file for the functions above; it stops here.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

# One test run at a time per checkout: the suites share the cluster's databases.
take_lock test 9

bash "$REPO/scripts/setup.sh" || fail_everything "set-up failed"
# (In a subshell first: these die on error, and the summary must still come.)
(sqsn_init_paths && export_conn_env) || fail_everything "cluster not usable"
sqsn_init_paths
export_conn_env

# Fresh scratch directory owned by the cluster user.
stop_leftover_servers "$TESTOUT"
rm -rf "$TESTOUT"
make_cluster_dir "$TESTOUT" 755 || fail_everything "cannot create $TESTOUT"

# The suites run as the cluster user, who must read the test inputs. When it
# cannot read the checkout, they run from a copy in the scratch directory.
if CLUSTER_CWD=/ run_as_cluster_user test -r "$REPO/Makefile" -a -x "$REPO/test" 2>/dev/null; then
	SRC=$REPO
else
	SRC=$TESTOUT/src
	{ mkdir -p "$SRC" && cp -r "$REPO/sql" "$REPO/expected" "$REPO/test" "$SRC"/; } ||
		fail_everything "cannot copy the tests to $SRC"
	[ "$IS_ROOT" = 1 ] && chown -R "$CLUSTER_USER:" "$SRC"
	say "the cluster user cannot read $REPO: running the tests from a copy in $SRC"
fi

suite_regress
suite_isolation
suite_pgtap
suite_tap
suite_api
suite_bench
finish
