#!/usr/bin/env bash
#
# `make test`: set everything up (scripts/setup.sh), then run the suites
# against the installed extension:
#   layers     the include order of src/ (scripts/check-layers.sh and its
#              --self-test; one test, "includes"; needs no set-up)
#   regress    sql/<name>.sql vs expected/<name>.out        (pg_regress)
#   isolation  test/isolation/specs/<name>.spec             (pg_isolation_regress)
#   pgtap      test/pgtap/*.sql                             (pg_prove)
#   tap        test/t/*.pl, with their own temporary clusters (prove)
#   api        the AWS-compatible endpoint driven by real AWS clients
#              (test/api/run: boto3, the AWS CLI, the JavaScript SDK)
#   apps       real SQS/SNS applications on the endpoint (test/apps/run:
#              Celery, sqs-consumer, sqs-producer, sns-validator, boto 2,
#              Amazon::SQS::Simple); one that cannot be installed is skipped
#              and named in the summary (FAILED with SQSN_TEST_NO_SKIP=1,
#              which CI sets)
#   bench      bench/run, bench/storage, bench/api, bench/queues and
#              bench/soak --smoke (the tests smoke, storage-smoke, api-smoke,
#              queues-smoke, soak-smoke): every benchmark workload still runs
#
#   scripts/test.sh [--suite SUITES] [--test TESTS]
#   scripts/test.sh --list [--suite SUITES]     name the tests, "suite test" a line
# SUITES and TESTS are names separated by spaces or commas; empty means all.
# TESTS are looked up in the chosen suites (every suite by default), e.g.
#   make test SUITE=regress TEST=receive        one pg_regress test
#   make test TEST=round_trip,001_crash_restart  a pgTAP and a TAP test
#   make test SUITE=layers                      the layering check alone
# An unknown suite or test is an error (exit status 2) before anything runs.
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
FAILED_LOGS=()   # the output or diff of each failure, recapped at the end
RECAP_LINES=60   # lines of each failure repeated in the summary
MAX_SHOW=400     # lines of failure output shown per test/suite
ALL_SUITES=(layers regress isolation pgtap tap api apps bench)
SUITES=()        # the suites to run, in the order of ALL_SUITES
declare -A PICKED=() # suite -> its chosen tests, one a line (unset: all)
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
	FAILED_LOGS+=("$4")
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
list_apps() { [ -x "$REPO/test/apps/run" ] && "$REPO/test/apps/run" --list; }
list_layers() { echo includes; }
list_bench() {
	[ -x "$REPO/bench/run" ] && echo smoke
	[ -x "$REPO/bench/storage" ] && echo storage-smoke
	[ -x "$REPO/bench/api" ] && echo api-smoke
	[ -x "$REPO/bench/queues" ] && echo queues-smoke
	[ -x "$REPO/bench/soak" ] && echo soak-smoke
	return 0
}
# The tests of a suite to run: the chosen ones, else all.
tests_of() {
	if [ -n "${PICKED[$1]+set}" ]; then
		printf '%s' "${PICKED[$1]}" | grep -v '^$'
	else
		"list_$1"
	fi
	return 0
}

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

# recap_failures: the start of each failure's output again, so that a log
# read from its end (CI keeps the tail) still shows why.
recap_failures() {
	local f seen=" "
	for f in "${FAILED_LOGS[@]}"; do
		case $seen in *" $f "*) continue ;; esac
		seen="$seen$f "
		[ -f "$f" ] || continue
		echo "----- first $RECAP_LINES lines of $f"
		head -n "$RECAP_LINES" "$f"
	done
}

finish() {
	recap_failures
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
		# up to PostgreSQL 15: "test <name> ... ok    12 ms" / "... FAILED" /
		# "... failed (ignored)"; from 16 on (TAP): "ok 3 - <name>  12 ms" /
		# "not ok 3 - <name>" ("+" for a member of a parallel group)
		line=$(awk -v t="$t" '{ i = ($1 == "test") ? 2 : 1 }
			$i == t && $(i + 1) == "..." { v = $(i + 2) }
			$1 == "ok" && ($3 == "-" || $3 == "+") && $4 == t { v = "ok" }
			$1 == "not" && $2 == "ok" && ($4 == "-" || $4 == "+") && $5 == t { v = "FAILED" }
			END { print v }' "$log")
		if [ "$line" = ok ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			FAILED_TESTS+=("$suite/$t")
		fi
	done
	if [ "$fail" -gt 0 ]; then
		FAILED_LOGS+=("$out/regression.diffs")
	fi
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
	mapfile -t tests < <(tests_of regress)
	if [ "${#tests[@]}" -eq 0 ]; then
		skip regress "no sql/*.sql tests"
		return
	fi
	run_regress_driver regress "$PGXS_DIR/src/test/regress/pg_regress" \
		"$SRC" sqsn_regress "${tests[@]}"
}

suite_isolation() {
	local tests
	mapfile -t tests < <(tests_of isolation)
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
	mapfile -t tests < <(tests_of pgtap)
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
	mapfile -t tests < <(tests_of tap)
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
		# own clusters (PostgreSQL::Test::Cluster) under $TESTDIR/tmp_check
		# (PostgreSQL 15) or $TESTDATADIR, logs in $TESTLOGDIR (16 on).
		CLUSTER_CWD=$SRC/test run_as_cluster_user env \
			-u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u PGDATA \
			TESTDIR="$out" TESTDATADIR="$out/tmp_check" \
			TESTLOGDIR="$out/tmp_check/log" PATH="$PGBIN:$PATH" \
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

# The endpoint's client tests (test/api/run) and the applications on it
# (test/apps/run): the runner runs them all against the cluster's endpoint
# and prints "<suite> <name> ... ok|FAILED|skipped (why)" for each. A
# skipped test counts neither way; the summary names it.
run_endpoint_suite() {
	local suite=$1 tests t out=$TESTOUT/$1 log rc v pass=0 fail=0 note="" skipped=()
	mapfile -t tests < <(tests_of "$suite")
	if [ "${#tests[@]}" -eq 0 ]; then
		skip "$suite" "no test/$suite tests"
		return
	fi
	log=$out/run.log
	if ! mkdir -p "$out"; then
		suite_error "$suite" "cannot create $out" "${tests[@]}"
		return
	fi
	say "$suite: ${#tests[@]} test(s)"
	timeout -k 30 "$SUITE_TIMEOUT" "$REPO/test/$suite/run" --out "$out" "${tests[@]}" 2>&1 9>&- | tee "$log"
	rc=${PIPESTATUS[0]}
	for t in "${tests[@]}"; do
		v=$(awk -v s="$suite" -v t="$t" '$1 == s && $2 == t && $3 == "..." { v = $4 } END { print v }' "$log")
		if [ "$v" = ok ]; then
			pass=$((pass + 1))
		elif [ "$v" = skipped ]; then
			skipped+=("$t")
		else
			fail=$((fail + 1))
			FAILED_TESTS+=("$suite/$t")
			FAILED_LOGS+=("$out/$t.log")
			show_file "$out/$t.log"
		fi
	done
	[ "${#skipped[@]}" -gt 0 ] && note="skipped: ${skipped[*]}"
	[ "$rc" = 124 ] && note="timed out after ${SUITE_TIMEOUT}s"
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		SUITE_ERRORS=$((SUITE_ERRORS + 1))
		note="test/$suite/run exited with status $rc"
	fi
	record "$suite" "$pass" "$fail" "$note"
}
suite_api() { run_endpoint_suite api; }
suite_apps() { run_endpoint_suite apps; }

# The benchmark's smoke runs: every bench/ workload executes once in a
# while, so the suite never rots (its speed is not judged here).
suite_bench() {
	local tests t cmd log
	mapfile -t tests < <(tests_of bench)
	if [ "${#tests[@]}" -eq 0 ]; then
		skip bench "no bench/run"
		return
	fi
	FILE_PASS=0 FILE_FAIL=0
	for t in "${tests[@]}"; do
		case $t in
		smoke) cmd=run ;;
		storage-smoke) cmd=storage ;;
		api-smoke) cmd=api ;;
		queues-smoke) cmd=queues ;;
		soak-smoke) cmd=soak ;;
		esac
		say "bench: bench/$cmd --smoke"
		log=$TESTOUT/bench-$t.log
		timeout -k 30 "$FILE_TIMEOUT" "$REPO/bench/$cmd" --smoke >"$log" 2>&1 9>&-
		file_verdict bench "$t" $? "$log"
	done
	record bench "$FILE_PASS" "$FILE_FAIL"
}

# The include order of src/: the check and its self-test, one test.
suite_layers() {
	local check=$REPO/scripts/check-layers.sh out self rc=0
	say "layers: the include order of src/"
	out=$(bash "$check" 2>&1) || rc=1
	self=$(bash "$check" --self-test 2>&1) || rc=1
	if [ "$rc" = 0 ]; then
		echo "layers includes ... ok"
		printf '  %s\n  %s\n' "$(tail -n 1 <<<"$out")" "$(tail -n 1 <<<"$self")"
		record layers 1 0
	else
		echo "layers includes ... FAILED"
		printf '%s\n%s\n' "$out" "$self"
		FAILED_TESTS+=(layers/includes)
		record layers 0 1
	fi
}

# ---------------------------------------------------------------------------

# Nothing more can run: count every test not run yet as failed and stop.
fail_everything() {
	local s t tests n=0
	warn "$1: no test could run"
	for s in "${SUITES[@]}"; do
		[ "$s" = layers ] && continue
		mapfile -t tests < <(tests_of "$s")
		for t in "${tests[@]}"; do FAILED_TESTS+=("$s/$t"); done
		n=$((n + ${#tests[@]}))
	done
	SUITE_ERRORS=$((SUITE_ERRORS + 1))
	record setup 0 "$n" "$1; every test counted as failed"
	finish
}

# Names separated by commas or white space, one a line.
words() { printf '%s\n' "$*" | sed 's/[[:space:],]\{1,\}/\n/g' | grep -v '^$'; }

# choose SUITES TESTS: fill SUITES and PICKED; an unknown name is an error.
choose() {
	local s t found want_suites want_tests names
	mapfile -t want_suites < <(words "$1")
	mapfile -t want_tests < <(words "$2")
	for s in "${want_suites[@]}"; do
		[[ " ${ALL_SUITES[*]} " == *" $s "* ]] ||
			usage_error "unknown suite '$s' (suites: ${ALL_SUITES[*]})"
	done
	[ "${#want_suites[@]}" -gt 0 ] || want_suites=("${ALL_SUITES[@]}")
	for s in "${ALL_SUITES[@]}"; do
		[[ " ${want_suites[*]} " == *" $s "* ]] || continue
		if [ "${#want_tests[@]}" -eq 0 ]; then
			SUITES+=("$s")
			continue
		fi
		names=$("list_$s" | grep -x -F -f <(printf '%s\n' "${want_tests[@]}"))
		[ -n "$names" ] || continue
		SUITES+=("$s")
		PICKED[$s]=$names
	done
	for t in "${want_tests[@]}"; do
		found=0
		for s in "${SUITES[@]}"; do
			grep -q -x -F -e "$t" <<<"${PICKED[$s]}" && found=1
		done
		[ "$found" = 1 ] || usage_error "no test '$t' in suite(s) ${want_suites[*]}" \
			"(scripts/test.sh --list names them all)"
	done
}

usage_error() {
	warn "$*"
	echo "usage: scripts/test.sh [--suite SUITES] [--test TESTS] | --list [--suite SUITES]" >&2
	exit 2
}

# scripts/valgrind.sh sources this file for the functions above; it stops here.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

SUITE_ARG="" TEST_ARG="" LIST=0
while [ $# -gt 0 ]; do
	case $1 in
	--suite=* | --test=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
	--suite | --test)
		[ $# -ge 2 ] || usage_error "$1 needs a value"
		if [ "$1" = --suite ]; then SUITE_ARG=$2; else TEST_ARG=$2; fi
		shift 2
		;;
	--list) LIST=1 && shift ;;
	-h | --help)
		sed -n '3,/^$/s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*) usage_error "unknown argument '$1'" ;;
	esac
done
# (make test passes SUITE and TEST in the environment too: not to the tests.)
unset SUITE TEST
choose "$SUITE_ARG" "$TEST_ARG"
if [ "$LIST" = 1 ]; then
	for s in "${SUITES[@]}"; do tests_of "$s" | sed "s/^/$s /"; done
	exit 0
fi

# One test run at a time per checkout: the suites share the cluster's databases.
take_lock test 9

if [ "${SUITES[0]}" = layers ]; then
	suite_layers
	SUITES=("${SUITES[@]:1}")
	[ "${#SUITES[@]}" -gt 0 ] || finish
fi

bash "$REPO/scripts/setup.sh" --quiet || fail_everything "set-up failed"
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

for s in "${SUITES[@]}"; do "suite_$s"; done
finish
