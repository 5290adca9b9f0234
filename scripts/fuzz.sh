#!/usr/bin/env bash
#
# `make fuzz`: run the libFuzzer harnesses of test/fuzz/ for a bounded time.
#
# The harness library (every .c file of src/ and of its subsystem folders,
# plus test/fuzz/fuzz_driver.c, built with clang for libFuzzer coverage and
# UBSan in trap mode) is loaded
# into a single-user backend of a scratch cluster, and sqsn_fuzz_run()
# hands each target to libFuzzer, starting from the seed corpus in
# test/fuzz/corpus/<target>/. The server itself is not instrumented, so
# reads of uninitialised memory and misuse of malloc'd memory are left to
# make valgrind (overruns inside palloc'd chunks escape both: Debian's
# server is not built with USE_VALGRIND); crashes, undefined behaviour,
# failed property checks, timeouts and memory growth across inputs are
# found here.
#
# Knobs: FUZZ_SECONDS (per target, default 60), FUZZ_TARGETS (default
# "filter_policy receipt_handle query_form api_request writers sigv4"),
# SQSN_FUZZ_DIR (scratch directory, default
# /var/tmp/sqsn-fuzz-<hash of the checkout>; the corpus grown there
# is reused by the next run). A crash, sanitizer report or failed property
# leaves its input in $SQSN_FUZZ_DIR/artifacts/ and makes this script fail.

set -u -o pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-filter_policy receipt_handle query_form api_request writers sigv4}
FUZZ_DIR=${SQSN_FUZZ_DIR:-/var/tmp/sqsn-fuzz-$(repo_hash)}

install_packages clang-14 libclang-rt-14-dev postgresql-15 \
	postgresql-server-dev-15 libssl-dev libcurl4-openssl-dev make
command -v "$PG_CONFIG" >/dev/null 2>&1 || die "$PG_CONFIG not found"
PGBIN=$("$PG_CONFIG" --bindir)

make_cluster_dir "$FUZZ_DIR" 755 || die "cannot use $FUZZ_DIR"
for d in build artifacts logs; do
	make_cluster_dir "$FUZZ_DIR/$d" 755 || die "cannot use $FUZZ_DIR/$d"
done

say "building the harness library"
make -s -C "$REPO/test/fuzz" BUILD="$FUZZ_DIR/build" PG_CONFIG="$PG_CONFIG" \
	-j"$(nproc)" >"$FUZZ_DIR/logs/build.log" 2>&1 || {
	tail -n 40 "$FUZZ_DIR/logs/build.log" >&2
	die "building the fuzz harness failed (full log: $FUZZ_DIR/logs/build.log)"
}

# Seeds and the dictionary are copied where the cluster user can read them.
rm -rf "$FUZZ_DIR/seeds"
cp -r "$REPO/test/fuzz/corpus" "$FUZZ_DIR/seeds"
cp "$REPO/test/fuzz/filter_policy.dict" "$FUZZ_DIR/filter_policy.dict"
chmod -R a+rX "$FUZZ_DIR/seeds" "$FUZZ_DIR/filter_policy.dict"
[ "$IS_ROOT" = 1 ] && chown -R "$CLUSTER_USER:" "$FUZZ_DIR/build"

# single SQL: run SQL in a single-user backend of the scratch cluster; its
# stderr goes to the caller. SQL is sent as one line (the single-user
# backend ends a statement at a newline). The library is preloaded, as sqsn must be (it
# defines server-start settings).
single() {
	printf '%s\n' "$1" | tr '\n\t' '  ' | run_as_cluster_user \
		"$PGBIN/postgres" --single -D "$FUZZ_DIR/data" -c max_stack_depth=4MB \
		-c shared_preload_libraries="$FUZZ_DIR/build/sqsn_fuzz.so" \
		-c log_min_messages=fatal postgres
}

if [ ! -f "$FUZZ_DIR/data/PG_VERSION" ]; then
	say "creating the scratch cluster in $FUZZ_DIR/data"
	run_as_cluster_user "$PGBIN/initdb" -D "$FUZZ_DIR/data" -U "$DB_SUPERUSER" \
		-A trust --no-sync >"$FUZZ_DIR/logs/initdb.log" 2>&1 ||
		die "initdb failed (log: $FUZZ_DIR/logs/initdb.log)"
fi
# What the harnesses read: the receipt-handle key table, and the function.
single "CREATE SCHEMA IF NOT EXISTS sqsn;
CREATE TABLE IF NOT EXISTS sqsn.handle_key (id int PRIMARY KEY, secret bytea NOT NULL);
INSERT INTO sqsn.handle_key VALUES (1, decode(repeat('5a', 32), 'hex')) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION public.sqsn_fuzz_run(text, text[]) RETURNS int AS '$FUZZ_DIR/build/sqsn_fuzz.so' LANGUAGE C STRICT;" \
	>"$FUZZ_DIR/logs/setup.log" 2>&1 || {
	cat "$FUZZ_DIR/logs/setup.log" >&2
	die "setting up the scratch database failed"
}

status=0
SUMMARY=()
for target in $FUZZ_TARGETS; do
	corpus=$FUZZ_DIR/corpus/$target
	log=$FUZZ_DIR/logs/$target.log
	make_cluster_dir "$corpus" 755 || die "cannot use $corpus"
	dict=
	[ "$target" = filter_policy ] && dict="'-dict=$FUZZ_DIR/filter_policy.dict',"
	say "fuzzing $target for ${FUZZ_SECONDS}s (log: $log)"
	single "SELECT public.sqsn_fuzz_run('$target', ARRAY[
		'-max_total_time=$FUZZ_SECONDS', '-print_final_stats=1',
		'-rss_limit_mb=2048', '-malloc_limit_mb=512', '-timeout=10',
		'-max_len=4096', $dict
		'-artifact_prefix=$FUZZ_DIR/artifacts/$target-',
		'$corpus', '$FUZZ_DIR/seeds/$target']);" >"$log" 2>&1
	rc=$?
	done_line=$(grep -a -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
	execs=$(grep -a -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}')
	if [ "$rc" != 0 ] || [ -z "$done_line" ] ||
		grep -a -q -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|PANIC' "$log"; then
		status=1
		SUMMARY+=("$(printf '  %-15s FAILED (exit %s); inputs: %s/artifacts/' "$target" "$rc" "$FUZZ_DIR")")
		grep -a -E -A 40 'ERROR: |runtime error:|PANIC' "$log" | head -n 80
	else
		SUMMARY+=("$(printf '  %-15s ok: %s inputs in %ss; %s; corpus %s files' "$target" \
			"${execs:-?}" "$FUZZ_SECONDS" "$(echo "$done_line" | grep -a -o 'cov: [0-9]* ft: [0-9]*')" \
			"$(find "$corpus" -type f | wc -l)")")
	fi
done

say "fuzzing summary"
printf '%s\n' "${SUMMARY[@]}"
exit "$status"
