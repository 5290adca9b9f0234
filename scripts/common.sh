# shellcheck shell=bash
# shellcheck disable=SC2034  # variables set here are used by the sourcing scripts
#
# Shared helpers for scripts/setup.sh, cluster.sh, demo.sh and test.sh.
# Source it; it defines variables and functions and runs nothing else.
#
# Where things live (all private to this checkout):
#   PGDATA    $REPO/.pgdata          the cluster's data directory
#   PGRUN     $REPO/.pgrun           port file, server log, state fingerprint
#   SOCKDIR   $PGRUN (or /tmp/sqsn-<hash> when that path is too long for a
#             Unix socket)
#   TESTOUT   $REPO/.test-out        scratch output of scripts/test.sh
# When the cluster user cannot reach the checkout (e.g. root working under
# /root, which the postgres user cannot traverse) the three directories move
# to /var/tmp/sqsn-<hash of the checkout path>/ instead.
#
# Environment knobs: PG_CONFIG (default pg_config), SQSN_STATE_DIR (put
# pgdata/, run/ and test-out/ under this directory instead).
#
# PostgreSQL 15 (Debian 12's) is the default and what CI runs. Any other
# major version that PG_CONFIG names (16, 17 and 18 build from source) gets
# a cluster of its own: the three directories take the major version as a
# suffix ($REPO/.pgdata-17, .pgrun-17, .test-out-17), so the clusters of two
# versions never meet.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PG_CONFIG=${PG_CONFIG:-pg_config}
DEFAULT_PG_MAJOR=15

# initdb refuses to run as root, so root runs the cluster as the postgres
# user the Debian packages create; anyone else runs it as themselves.
if [ "$(id -u)" = 0 ]; then
	IS_ROOT=1
	CLUSTER_USER=postgres
else
	IS_ROOT=0
	CLUSTER_USER=$(id -un)
fi

# Every connection made by these scripts uses this superuser (initdb -U).
DB_SUPERUSER=postgres
DB_HOST=127.0.0.1
FIRST_PORT=5433
# The AWS-compatible endpoint (sqsn.api_port) listens on the first free port
# from here, on 127.0.0.1 only.
FIRST_API_PORT=4576

say() { printf '==> %s\n' "$*"; }
# A sub-step of the cluster's set-up: said unless BRIEF=1 (setup.sh sums
# them up in one line per step).
detail() { [ "${BRIEF:-0}" = 1 ] || say "$@"; }
warn() { printf 'sqsn: %s\n' "$*" >&2; }
die() {
	warn "$*"
	exit 1
}

# Short stable hash of the checkout path, to name directories outside it.
repo_hash() { printf '%s' "$REPO" | sha256sum | cut -c1-12; }

# Run a command with root rights: directly as root, through sudo otherwise.
privileged() {
	if [ "$IS_ROOT" = 1 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root rights for: $* (run as root or install sudo)"
	fi
}

# install_packages PACKAGE...: install the Debian packages that are missing
# (as root, or through sudo).
install_packages() {
	local p log missing=()
	local wanted=("$@")
	if ! command -v dpkg-query >/dev/null 2>&1; then
		warn "not a Debian system: install by hand the equivalents of: ${wanted[*]}"
		return 0
	fi
	for p in "${wanted[@]}"; do
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
			missing+=("$p")
		fi
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		say "packages: all present"
		return 0
	fi
	log=$(mktemp /tmp/sqsn-apt.XXXXXX.log)
	say "packages: installing ${missing[*]}"
	if ! { privileged env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		privileged env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "package installation failed (full log: $log)"
	fi
	rm -f "$log"
}

# The Node.js test directories: each has a package.json naming exact versions
# and the package-lock.json that pins all they bring.
NODE_TEST_DIRS=("$REPO/test/api/node" "$REPO/test/api/browser" "$REPO/test/apps/node")

# node_modules_current DIR: DIR/node_modules was installed by `npm ci` from
# DIR's package.json and package-lock.json as they are now.
node_modules_current() {
	local hidden=$1/node_modules/.package-lock.json
	[ -f "$hidden" ] && [ "$hidden" -nt "$1/package-lock.json" ] &&
		[ "$hidden" -nt "$1/package.json" ]
}

# npm_install DIR: install DIR's packages exactly as package-lock.json pins
# them (npm ci), unless already installed from it; npm's output goes to
# stdout.
npm_install() {
	node_modules_current "$1" && return 0
	command -v npm >/dev/null 2>&1 || {
		echo "npm is not installed"
		return 1
	}
	(cd "$1" && npm ci --no-audit --no-fund)
}

# Run a command as the cluster user. As root the command runs from / (root's
# working directory may be unreadable for postgres) unless CLUSTER_CWD names
# another directory; as an ordinary user it runs in place (or in CLUSTER_CWD).
run_as_cluster_user() {
	if [ "$IS_ROOT" = 1 ]; then
		(cd "${CLUSTER_CWD:-/}" && runuser -u "$CLUSTER_USER" -- "$@")
	elif [ -n "${CLUSTER_CWD:-}" ]; then
		(cd "$CLUSTER_CWD" && "$@")
	else
		"$@"
	fi
}

# take_lock NAME FD: hold an exclusive lock on FD until this script exits, so
# that two runs of the same kind in one checkout do not trip over each other.
# The lock is skipped (not fatal) when the lock file cannot be opened.
take_lock() {
	local f
	f=${TMPDIR:-/tmp}/sqsn-$(repo_hash)-$1.lock
	eval "exec $2>>\"\$f\"" 2>/dev/null || return 0
	if ! flock -n "$2"; then
		say "waiting for another $1 run in this checkout to finish"
		flock "$2"
	fi
}

# Make DIR exist, owned by the cluster user, with MODE. An existing DIR must
# be a real directory belonging to the cluster user (or, when we are root, to
# root): some of these live in /tmp and /var/tmp, where anyone can create a
# name first.
make_cluster_dir() {
	local dir=$1 mode=${2:-700} owner
	if [ -L "$dir" ]; then
		warn "$dir is a symbolic link; refusing to use it"
		return 1
	fi
	if [ -d "$dir" ]; then
		owner=$(stat -c %U "$dir")
		if [ "$owner" != "$CLUSTER_USER" ] && { [ "$IS_ROOT" = 0 ] || [ "$owner" != root ]; }; then
			warn "$dir belongs to $owner, not to $CLUSTER_USER; refusing to use it"
			return 1
		fi
	else
		mkdir -p "$dir" || return 1
	fi
	if [ "$IS_ROOT" = 1 ]; then
		chown "$CLUSTER_USER:" "$dir" || return 1
	fi
	chmod "$mode" "$dir"
}

# Can the cluster user reach (and, as a non-root user, write) the checkout?
cluster_user_can_use_repo() {
	if [ "$IS_ROOT" = 1 ]; then
		id "$CLUSTER_USER" >/dev/null 2>&1 || return 1
		runuser -u "$CLUSTER_USER" -- test -x "$REPO" -a -r "$REPO" 2>/dev/null
	else
		[ -x "$REPO" ] && [ -w "$REPO" ]
	fi
}

# The major version of the PostgreSQL that PG_CONFIG names ("PostgreSQL
# 17.10" -> 17).
pg_major() {
	local v
	v=$("$PG_CONFIG" --version 2>/dev/null) || return 1
	v=${v#PostgreSQL }
	echo "${v%%[!0-9]*}"
}

# Sets PGBIN, PKGLIBDIR, PGXS_DIR, PG_MAJOR, PGDATA, PGRUN, SOCKDIR, TESTOUT,
# PORT_FILE, API_PORT_FILE, LOG_FILE. Needs the PostgreSQL packages
# (pg_config) and the cluster user.
sqsn_init_paths() {
	command -v "$PG_CONFIG" >/dev/null 2>&1 ||
		die "$PG_CONFIG not found: run scripts/setup.sh (make demo) first"
	PGBIN=$("$PG_CONFIG" --bindir)
	PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
	PGXS_DIR=$PKGLIBDIR/pgxs
	PG_MAJOR=$(pg_major)
	[ -x "$PGBIN/pg_ctl" ] || die "no pg_ctl in $PGBIN: is postgresql-15 installed?"

	local base sfx=""
	[ "$PG_MAJOR" = "$DEFAULT_PG_MAJOR" ] || sfx=-$PG_MAJOR
	base=/var/tmp/sqsn-$(repo_hash)$sfx
	if [ -n "${SQSN_STATE_DIR:-}" ]; then
		PGDATA=$SQSN_STATE_DIR/pgdata
		PGRUN=$SQSN_STATE_DIR/run
		TESTOUT=$SQSN_STATE_DIR/test-out
	elif [ -d "$REPO/.pgdata$sfx" ] || { [ ! -d "$base/pgdata" ] && cluster_user_can_use_repo; }; then
		PGDATA=$REPO/.pgdata$sfx
		PGRUN=$REPO/.pgrun$sfx
		TESTOUT=$REPO/.test-out$sfx
	else
		PGDATA=$base/pgdata
		PGRUN=$base/run
		TESTOUT=$base/test-out
	fi
	# A Unix socket path must stay under ~107 bytes.
	if [ "${#PGRUN}" -le 80 ]; then
		SOCKDIR=$PGRUN
	else
		SOCKDIR=/tmp/sqsn-$(repo_hash)$sfx
	fi
	PORT_FILE=$PGRUN/port
	API_PORT_FILE=$PGRUN/api_port
	LOG_FILE=$PGRUN/postgresql.log
	export PGDATA
}

# Create PGDATA, PGRUN and SOCKDIR (and their parent under /var/tmp).
sqsn_ensure_dirs() {
	local parent
	parent=$(dirname "$PGDATA")
	if [ "$parent" != "$REPO" ]; then
		if [ ! -d "$parent" ]; then
			mkdir -p "$parent" || die "cannot create $parent"
			chmod 755 "$parent"
		fi
		if [ -L "$parent" ] || [ ! -O "$parent" ]; then
			die "$parent is not a directory of $(id -un); remove it or set SQSN_STATE_DIR"
		fi
	fi
	make_cluster_dir "$PGDATA" 700 || die "cannot prepare $PGDATA"
	make_cluster_dir "$PGRUN" 700 || die "cannot prepare $PGRUN"
	make_cluster_dir "$SOCKDIR" 700 || die "cannot prepare $SOCKDIR"
}

# Create the cluster in PGDATA unless it exists (initdb as the cluster user).
init_cluster() {
	if [ -f "$PGDATA/PG_VERSION" ]; then
		[ "$(cat "$PGDATA/PG_VERSION")" = "$PG_MAJOR" ] ||
			die "$PGDATA holds a PostgreSQL $(cat "$PGDATA/PG_VERSION") cluster; remove it to start over"
		return 0
	fi
	if [ -n "$(ls -A "$PGDATA" 2>/dev/null)" ]; then
		die "$PGDATA is not empty but holds no cluster; remove it to start over"
	fi
	detail "creating cluster in $PGDATA (owner: $CLUSTER_USER)"
	# --auth=trust is acceptable here: this is a throw-away development
	# cluster that only listens on 127.0.0.1 and on a Unix socket in a
	# private directory. Do not copy this setting to a real server.
	# -U postgres names the superuser postgres whoever runs it, so every
	# script connects the same way. UTF-8 and C.UTF-8 make the test outputs
	# the same on every machine.
	run_as_cluster_user "$PGBIN/initdb" -D "$PGDATA" -U "$DB_SUPERUSER" \
		--auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$PGRUN/initdb.log" 2>&1 || {
		cat "$PGRUN/initdb.log" >&2
		die "initdb failed"
	}
}

# ---------------------------------------------------------------------------
# Cluster state

# Executable of process $1 (still named after a package upgrade replaced it).
proc_exe() {
	local e
	e=$(readlink "/proc/$1/exe" 2>/dev/null)
	echo "${e% (deleted)}"
}

# The program the server processes run: postgres itself, unless
# SERVER_PROGRAM names a wrapper that execs postgres under another program
# (scripts/valgrind.sh runs it under valgrind), whose executable SERVER_EXE
# then names.
server_exe() { readlink -f "${SERVER_EXE:-$PGBIN/postgres}"; }

# PID of this cluster's postmaster if it is alive, else nothing (status 1).
# Unlike `pg_ctl status`, a PID that now belongs to some other process (the
# server was killed and the PID reused) does not count as running.
postmaster_pid() {
	local pid
	[ -f "$PGDATA/postmaster.pid" ] || return 1
	pid=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null)
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if [ -d /proc/self ]; then
		# The postmaster runs the postgres binary in its data directory.
		[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$(readlink -f "$PGDATA")" ] || return 1
		[ "$(proc_exe "$pid")" = "$(server_exe)" ] || return 1
	fi
	echo "$pid"
}

cluster_running() { postmaster_pid >/dev/null; }

# Port of the running cluster (postmaster.pid line 4), else the port file.
cluster_port() {
	local p=""
	if cluster_running; then
		p=$(sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null)
	fi
	if ! [[ $p =~ ^[0-9]+$ ]] && [ -f "$PORT_FILE" ]; then
		p=$(cat "$PORT_FILE")
	fi
	[[ $p =~ ^[0-9]+$ ]] || return 1
	echo "$p"
}

# Server processes left behind by a postmaster that was killed: they still
# have the data directory as working directory. They exit by themselves once
# they notice the postmaster is gone; until then a new server cannot start.
orphan_server_pids() {
	local d want exe
	[ -d /proc/self ] || return 0
	want=$(readlink -f "$PGDATA")
	exe=$(server_exe)
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/cwd" 2>/dev/null)" = "$want" ] || continue
		[ "$(proc_exe "${d#/proc/}")" = "$exe" ] || continue
		echo "${d#/proc/}"
	done
	return 0
}

# Remove what a killed server leaves behind, so that the next start works.
clear_stale_state() {
	local pids i
	if [ -f "$PGDATA/postmaster.pid" ]; then
		detail "removing stale $PGDATA/postmaster.pid (server is not running)"
		rm -f "$PGDATA/postmaster.pid"
	fi
	# Our socket directory is private to this cluster.
	rm -f "$SOCKDIR"/.s.PGSQL.* 2>/dev/null
	pids=$(orphan_server_pids)
	if [ -n "$pids" ]; then
		say "waiting for leftover server processes to exit: $(echo "$pids" | tr '\n' ' ')"
		for i in $(seq 1 20); do
			[ -z "$(orphan_server_pids)" ] && break
			if [ "$i" = 5 ]; then
				# shellcheck disable=SC2046  # one argument per PID
				kill -QUIT $(orphan_server_pids) 2>/dev/null
			fi
			sleep 0.5
		done
	fi
	return 0
}

# Is something on this machine already using TCP port $1 on 127.0.0.1?
port_in_use() {
	local p=$1
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		return 0
	fi
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$p" <<'EOF' 2>/dev/null || return 0
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres does
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()
EOF
	fi
	return 1
}

# The port to start on: the remembered one if still free, else the first free
# port from FIRST_PORT upward. Remembered in PORT_FILE.
choose_port() {
	local p=""
	if [ -f "$PORT_FILE" ]; then
		p=$(cat "$PORT_FILE")
		if [[ $p =~ ^[0-9]+$ ]] && ! port_in_use "$p"; then
			echo "$p"
			return 0
		fi
	fi
	for ((p = FIRST_PORT; p < FIRST_PORT + 200; p++)); do
		if ! port_in_use "$p"; then
			echo "$p" >"$PORT_FILE"
			echo "$p"
			return 0
		fi
	done
	warn "no free port in $FIRST_PORT..$((FIRST_PORT + 199))"
	return 1
}

# The endpoint's port: while the cluster runs, the one it was started with;
# else the remembered one if still free, else the first free port from
# FIRST_API_PORT upward (never the PostgreSQL port $1). Remembered in
# API_PORT_FILE.
choose_api_port() {
	local pg_port=$1 p=""
	if [ -f "$API_PORT_FILE" ]; then
		p=$(cat "$API_PORT_FILE")
		if [[ $p =~ ^[0-9]+$ ]] && [ "$p" != "$pg_port" ] &&
			{ cluster_running || ! port_in_use "$p"; }; then
			echo "$p"
			return 0
		fi
	fi
	for ((p = FIRST_API_PORT; p < FIRST_API_PORT + 200; p++)); do
		if [ "$p" != "$pg_port" ] && ! port_in_use "$p"; then
			echo "$p" >"$API_PORT_FILE"
			echo "$p"
			return 0
		fi
	done
	warn "no free port for the endpoint in $FIRST_API_PORT..$((FIRST_API_PORT + 199))"
	return 1
}

# Port of the running cluster's endpoint, else nothing (status 1).
cluster_api_port() {
	local p
	[ -f "$API_PORT_FILE" ] || return 1
	p=$(cat "$API_PORT_FILE")
	[[ $p =~ ^[0-9]+$ ]] || return 1
	echo "$p"
}

# The key pair that signs pushed messages: an RSA key and a self-signed
# certificate in the data directory, made once (sqsn.signing_key_file and
# sqsn.signing_certificate_file point to them).
make_signing_key() {
	[ -f "$PGDATA/sqsn_signing_key.pem" ] && [ -f "$PGDATA/sqsn_signing_cert.pem" ] && return 0
	command -v openssl >/dev/null 2>&1 || {
		warn "openssl not found: pushed messages will not be signed"
		return 0
	}
	detail "generating the push signing key and certificate in $PGDATA"
	run_as_cluster_user openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
		-subj "/CN=sqsn push signing" -keyout "$PGDATA/sqsn_signing_key.pem" \
		-out "$PGDATA/sqsn_signing_cert.pem" >/dev/null 2>&1 ||
		warn "openssl could not make the signing key: pushed messages will not be signed"
	run_as_cluster_user chmod 600 "$PGDATA/sqsn_signing_key.pem" 2>/dev/null
	return 0
}

# The master key of encrypted queues and topics: 32 random bytes as hex in
# the data directory, made once (sqsn.master_key_file points to it).
make_master_key() {
	[ -f "$PGDATA/sqsn_master_key" ] && return 0
	command -v openssl >/dev/null 2>&1 || {
		warn "openssl not found: encrypted queues will not be usable"
		return 0
	}
	detail "generating the master key of encrypted queues in $PGDATA"
	(umask 077 && run_as_cluster_user sh -c "openssl rand -hex 32 >'$PGDATA/sqsn_master_key'") ||
		warn "openssl could not make the master key: encrypted queues will not be usable"
	run_as_cluster_user chmod 600 "$PGDATA/sqsn_master_key" 2>/dev/null
	return 0
}

# Our settings live in $PGDATA/sqsn.conf, included from postgresql.conf and
# rewritten on every run (so the port or the preload list can change).
write_cluster_conf() {
	local port=$1 conf=$PGDATA/sqsn.conf tmp api_port
	api_port=$(choose_api_port "$port") || die "cannot choose a port for the endpoint"
	make_signing_key
	make_master_key
	tmp=$(mktemp)
	cat >"$tmp" <<EOF
# Written by scripts/setup.sh on every run; edit that script, not this file.
port = $port
listen_addresses = '$DB_HOST'
unix_socket_directories = '$SOCKDIR'
shared_preload_libraries = 'sqsn,pg_cron'
cron.database_name = 'postgres'
max_prepared_transactions = 10
# room for bench/run's 200 idle long-polling sessions
max_connections = 300
# the sqsn workers (maintenance, delivery, 2 endpoint workers, the function
# launcher and up to sqsn.max_function_workers function workers), pg_cron's
# launcher and parallel queries
max_worker_processes = 24
lc_messages = 'C'
# push delivery: the key pair made by make_signing_key
sqsn.signing_key_file = '$PGDATA/sqsn_signing_key.pem'
sqsn.signing_certificate_file = '$PGDATA/sqsn_signing_cert.pem'
# encrypted queues and topics: the key made by make_master_key
sqsn.master_key_file = '$PGDATA/sqsn_master_key'
# the AWS-compatible endpoint (make demo, the client tests of make test);
# its port is also in $API_PORT_FILE
sqsn.api_port = $api_port
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_workers = 2
EOF
	if ! cmp -s "$tmp" "$conf"; then
		cp "$tmp" "$conf"
		[ "$IS_ROOT" = 1 ] && chown "$CLUSTER_USER:" "$conf"
		chmod 600 "$conf"
	fi
	rm -f "$tmp"
	if ! grep -q "^include_if_exists = 'sqsn.conf'" "$PGDATA/postgresql.conf"; then
		printf "\n# sqsn development cluster settings\ninclude_if_exists = 'sqsn.conf'\n" \
			>>"$PGDATA/postgresql.conf"
	fi
}

# What the running server was started with: the installed library and our
# settings. When it changes, setup.sh restarts the server.
cluster_fingerprint() {
	cat "$PKGLIBDIR/sqsn.so" "$PGDATA/sqsn.conf" 2>/dev/null | sha256sum | cut -d' ' -f1
}

wait_until_ready() {
	local port=$1 i
	for i in $(seq 1 60); do
		if "$PGBIN/pg_isready" -q -h "$DB_HOST" -p "$port" -U "$DB_SUPERUSER" -d postgres; then
			return 0
		fi
		cluster_running || break
		sleep 1
	done
	return 1
}

show_log_tail() {
	if [ -f "$LOG_FILE" ]; then
		warn "last lines of $LOG_FILE:"
		tail -n 30 "$LOG_FILE" >&2
	fi
}

# Start the cluster unless it is running. Needs an initialised PGDATA.
cluster_start() {
	local port
	sqsn_ensure_dirs
	[ -f "$PGDATA/PG_VERSION" ] || die "no cluster in $PGDATA: run scripts/setup.sh (make demo)"
	if cluster_running; then
		detail "cluster already running on port $(cluster_port)"
		return 0
	fi
	clear_stale_state
	port=$(choose_port) || die "cannot choose a port"
	write_cluster_conf "$port"
	# Keep the log from growing without bound across many runs.
	if [ -f "$LOG_FILE" ] && [ "$(stat -c %s "$LOG_FILE")" -gt 20000000 ]; then
		mv -f "$LOG_FILE" "$LOG_FILE.old"
	fi
	detail "starting cluster in $PGDATA on $DB_HOST:$port (log: $LOG_FILE)"
	# The server must not inherit the descriptors of our locks (take_lock).
	if ! run_as_cluster_user "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOG_FILE" -w -t 120 -s \
		${SERVER_PROGRAM:+-p "$SERVER_PROGRAM"} start 8>&- 9>&-; then
		show_log_tail
		die "the cluster did not start"
	fi
	if ! wait_until_ready "$port"; then
		show_log_tail
		die "the cluster is not accepting connections on port $port"
	fi
	cluster_fingerprint >"$PGRUN/fingerprint"
}

# Stop the cluster if it runs; fine when it does not.
cluster_stop() {
	if cluster_running; then
		detail "stopping cluster in $PGDATA"
		run_as_cluster_user "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 120 -s stop ||
			die "pg_ctl stop failed"
	else
		[ -f "$PGDATA/postmaster.pid" ] && clear_stale_state
		detail "cluster is not running"
	fi
	return 0
}

# Print connection settings as shell assignments.
print_conn_env() {
	local port
	port=$(cluster_port) || return 1
	printf 'export PGHOST=%s PGPORT=%s PGUSER=%s\n' "$DB_HOST" "$port" "$DB_SUPERUSER"
	if port=$(cluster_api_port); then
		printf 'export SQSN_API_URL=http://%s:%s\n' "$DB_HOST" "$port"
	fi
}

# Export PGHOST/PGPORT/PGUSER for the running cluster into this shell.
export_conn_env() {
	local port
	port=$(cluster_port) || die "cluster port unknown: run scripts/setup.sh"
	export PGHOST=$DB_HOST PGPORT=$port PGUSER=$DB_SUPERUSER
	unset PGDATABASE PGSERVICE PGOPTIONS
}
