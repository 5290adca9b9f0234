#!/usr/bin/env bash
#
# Prepare everything `make demo` and `make test` need, idempotently:
#   1. install the Debian packages that are missing (as root, or via sudo),
#   2. install the Node.js packages of the endpoint's tests (test/api/node,
#      test/apps/node) exactly as their package-lock.json pins them (npm ci,
#      unless already installed from it; npm's output goes to npm.log next
#      to the server log; a failure is reported, and only the Node.js tests
#      are affected),
#   3. build sqsn (warnings are errors; the compiler's output goes to
#      build.log next to the server log, shown only when the build fails),
#   4. install it (unless the installed copy is the same),
#   5. create a private PostgreSQL 15 cluster for this checkout (once) and
#      start it on a free local port (and its AWS-compatible endpoint on
#      another), or restart it when the installed library or its settings
#      changed,
#   6. print how to connect (not with --quiet, which make demo and make
#      test use: they print their own).
# One line of progress per step. Run it as often as you like; a second run
# only checks and rebuilds.
set -u -o pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Debian 12 packages: server and headers, the extensions and tools the test
# suites use (pgTAP + pg_prove, pg_cron, IPC::Run for the TAP tests, valgrind
# for make valgrind, the AWS clients the endpoint tests drive: awscli,
# python3-boto3, nodejs + npm; the applications the apps suite runs on it:
# Celery with kombu's SQS transport and pycurl, boto 2, Amazon::SQS::Simple;
# chromium for the dashboard's browser test, prometheus for promtool, which
# checks /metrics and the examples of examples/monitoring; aiosmtpd for the
# SMTP sink of the email tests, test/smtp_sink.py; h2 and jwt for the fake
# push providers of the mobile push tests, test/apns_fake.py and
# test/fcm_fake.py) and the libraries
# sqsn links against (libcurl, OpenSSL, libmicrohttpd). On a machine run by
# systemd, the prometheus package also starts a Prometheus server (stop it
# with `systemctl disable --now prometheus` if you do not want one).
PACKAGES=(
	postgresql-15
	postgresql-server-dev-15
	postgresql-15-pgtap
	postgresql-15-cron
	libtap-parser-sourcehandler-pgtap-perl
	libcurl4-openssl-dev
	openssl
	python3
	python3-cryptography
	libssl-dev
	libmicrohttpd-dev
	awscli
	python3-boto3
	python3-celery
	python3-kombu
	python3-pycurl
	python3-boto
	python3-aiosmtpd
	python3-h2
	python3-jwt
	libamazon-sqs-simple-perl
	libipc-run-perl
	libio-pty-perl
	perl
	make
	gcc
	valgrind
	chromium
	prometheus
)

# The tools the test runners call must exist after the install.
check_tools() {
	local t bad=0
	for t in "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql" \
		"$PGXS_DIR/src/test/regress/pg_regress" \
		"$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
		"$PGXS_DIR/src/test/isolation/isolationtester"; do
		[ -x "$t" ] || {
			warn "missing: $t"
			bad=1
		}
	done
	for t in prove pg_prove make; do
		command -v "$t" >/dev/null 2>&1 || {
			warn "missing command: $t"
			bad=1
		}
	done
	perl -MIPC::Run -MTest::More -e 1 2>/dev/null || {
		warn "missing Perl modules IPC::Run / Test::More"
		bad=1
	}
	[ "$bad" = 0 ] || die "some tools are missing after the package install"
	if ! run_as_cluster_user test -x "$PGBIN/initdb"; then
		die "user $CLUSTER_USER cannot run $PGBIN/initdb: every directory on that path" \
			"must be searchable by others (mode of /: $(stat -c %a /))"
	fi
}

# step_failed WHAT LOG: say what failed with the last lines of LOG, and stop.
step_failed() {
	warn "$1; the last lines of $2:"
	tail -n 40 "$2" >&2
	die "$1 (full log: $2)"
}

build_and_install() {
	local pgc mk log=$PGRUN/build.log
	pgc=$(command -v "$PG_CONFIG")
	# Variables of an outer `make demo/test` must not leak into this one
	# (command-line variables still arrive through the environment).
	mk=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$REPO" --no-print-directory PG_CONFIG="$pgc")
	# Objects built against another PostgreSQL must not be linked into this
	# one's library: the checkout remembers which pg_config built it.
	if [ "$(cat "$REPO/.built-with" 2>/dev/null)" != "$pgc" ]; then
		"${mk[@]}" clean >/dev/null 2>&1
		echo "$pgc" >"$REPO/.built-with"
	fi
	say "build: sqsn.so (warnings are errors)"
	"${mk[@]}" -j"$(nproc 2>/dev/null || echo 2)" PG_CFLAGS="-Wall -Werror" >"$log" 2>&1 ||
		step_failed "the build failed" "$log"
	if installed_is_current; then
		say "install: the installed sqsn is up to date"
		return 0
	fi
	say "install: into $PKGLIBDIR"
	privileged "${mk[@]}" install >>"$log" 2>&1 || step_failed "make install failed" "$log"
}

# Are the library, control file and install scripts already installed as
# built? Then skip `make install` (and its sudo prompt).
installed_is_current() {
	local f ext
	ext=$("$PG_CONFIG" --sharedir)/extension
	cmp -s "$REPO/sqsn.so" "$PKGLIBDIR/sqsn.so" || return 1
	cmp -s "$REPO/sqsn.control" "$ext/sqsn.control" || return 1
	for f in "$REPO"/sql/sqsn--*.sql; do
		[ -e "$f" ] || continue
		cmp -s "$f" "$ext/$(basename "$f")" || return 1
	done
	# the dashboard's page (src/api/dashboard/)
	for f in "$REPO"/src/api/dashboard/*; do
		[ -e "$f" ] || continue
		cmp -s "$f" "$ext/sqsn_dashboard/$(basename "$f")" || return 1
	done
}

# The Node.js tests' packages, from their lock files (see NODE_TEST_DIRS).
install_node_modules() {
	local d log=$PGRUN/npm.log failed=() installed=0
	for d in "${NODE_TEST_DIRS[@]}"; do
		[ -f "$d/package-lock.json" ] || continue
		node_modules_current "$d" && continue
		[ "$installed" = 1 ] || : >"$log"
		installed=1
		echo "== npm ci in $d" >>"$log"
		npm_install "$d" >>"$log" 2>&1 || failed+=("${d#"$REPO"/}")
	done
	if [ "${#failed[@]}" -gt 0 ]; then
		warn "npm ci failed in ${failed[*]}: their Node.js tests cannot run; the last lines of $log:"
		tail -n 20 "$log" >&2
	elif [ "$installed" = 1 ]; then
		say "node: the tests' packages installed from their package-lock.json"
	else
		say "node: the tests' packages are up to date"
	fi
}

# Start the cluster, or restart it when the library or its settings changed;
# sets STARTED to what was done.
start_or_restart() {
	local port
	if cluster_running; then
		port=$(cluster_port)
		write_cluster_conf "$port"
		if [ "$(cluster_fingerprint)" != "$(cat "$PGRUN/fingerprint" 2>/dev/null)" ]; then
			STARTED="restarted: the library or its settings changed"
			cluster_stop
			cluster_start
		else
			wait_until_ready "$port" || {
				show_log_tail
				die "the cluster runs but does not accept connections"
			}
			STARTED="already running"
		fi
	else
		STARTED=started
		cluster_start
	fi
}

# One set-up at a time per checkout (make demo and make test both call it).
take_lock setup 8

QUIET=0
[ "${1:-}" = --quiet ] && QUIET=1
# The sub-steps of the cluster's set-up are summed up in one line.
BRIEF=1

# Node.js and npm for the JavaScript SDK test, unless a Node.js that brings
# its own npm is already installed (Debian's npm conflicts with those).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	PACKAGES+=(nodejs npm)
fi
install_packages "${PACKAGES[@]}"
sqsn_init_paths
check_tools
sqsn_ensure_dirs
install_node_modules
build_and_install
[ -f "$PGDATA/PG_VERSION" ] || CREATED="created, "
init_cluster
start_or_restart

port=$(cluster_port)
print_conn_env >"$PGRUN/env"
api=""
api_port=$(cluster_api_port) && api=", endpoint http://$DB_HOST:$api_port"
say "cluster: $DB_HOST:$port$api (${CREATED:-}$STARTED)"
[ "$QUIET" = 1 ] && exit 0
say "data: $PGDATA, server log: $LOG_FILE"
say "connect with:  psql -h $DB_HOST -p $port -U $DB_SUPERUSER postgres"
say "or set:        $(head -n 1 "$PGRUN/env")"
