#!/usr/bin/env bash
# README command 1: install what is missing, build, format a volume on the
# embedded default if none exists, and serve it.
#
#   bash scripts/serve.sh
#
# The volume: metadata in SQLite at $JFS_HOME/myjfs.db, data in the local
# directory $JFS_HOME/bucket, with JFS_HOME=/var/lib/juicefs-c by default.
# Environment: JFS_HOME (folder), JFS_VOLUME (name, default myjfs).
#
# Serving: the S3 gateway on 127.0.0.1:9000 and WebDAV on 127.0.0.1:9007
# (JFS_S3_ADDR, JFS_DAV_ADDR override), with keys generated once and kept in
# $JFS_HOME/keys. Both run until this script is interrupted (Ctrl-C/SIGTERM),
# which stops them cleanly. JFS_SERVE_SECONDS=N stops after N seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JFS_HOME=${JFS_HOME:-/var/lib/juicefs-c}
NAME=${JFS_VOLUME:-myjfs}
DB=$JFS_HOME/$NAME.db
META=sqlite3://$DB
BUCKET=$JFS_HOME/bucket
JFS=$ROOT/build/juicefs

bash "$ROOT/scripts/deps.sh"
bash "$ROOT/scripts/build.sh" >/dev/null
mkdir -p "$JFS_HOME"

# Format only when there is no database yet; never touch one we cannot read.
if [ ! -e "$DB" ]; then
	echo "serve.sh: formatting volume $NAME ($META, data in $BUCKET)"
	"$JFS" format "$META" "$NAME" --bucket "$BUCKET"
elif ! "$JFS" status "$META" >/dev/null; then
	echo "serve.sh: $DB exists but is not a readable volume; move it away or set JFS_HOME" >&2
	exit 1
fi

S3_ADDR=${JFS_S3_ADDR:-127.0.0.1:9000}
DAV_ADDR=${JFS_DAV_ADDR:-127.0.0.1:9007}
KEYS=$JFS_HOME/keys

# Keys are made once and kept, so clients keep working across restarts.
if [ ! -s "$KEYS" ]; then
	(
		umask 077
		{
			echo "S3_ACCESS_KEY=jfs$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
			echo "S3_SECRET_KEY=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
			echo "DAV_USER=jfs"
			echo "DAV_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
		} >"$KEYS"
	)
fi
# shellcheck disable=SC1090
. "$KEYS"

pids=()
stop()
{
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 0' INT TERM

wait_port()
{
	local addr=$1 pid=$2 i
	for i in $(seq 1 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "serve.sh: the server for $addr exited; see the lines above" >&2
			return 1
		fi
		if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "serve.sh: nothing listens on $addr after 10 s" >&2
	return 1
}

serve()
{
	MINIO_ROOT_USER=$S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$S3_SECRET_KEY \
		"$JFS" gateway "$META" "$S3_ADDR" --no-banner &
	pids+=($!)
	wait_port "$S3_ADDR" "${pids[0]}"
	WEBDAV_USER=$DAV_USER WEBDAV_PASSWORD=$DAV_PASSWORD "$JFS" webdav "$META" "$DAV_ADDR" &
	pids+=($!)
	wait_port "$DAV_ADDR" "${pids[1]}"
	cat <<EOF

juicefs-c is serving volume $NAME ($META, data in $BUCKET/$NAME/)

  S3      http://$S3_ADDR   bucket: $NAME
          access key: $S3_ACCESS_KEY
          secret key: $S3_SECRET_KEY
          e.g. AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY \\
               aws --endpoint-url http://$S3_ADDR s3 ls s3://$NAME/

  WebDAV  http://$DAV_ADDR/
          user: $DAV_USER  password: $DAV_PASSWORD

Keys are kept in $KEYS. Press Ctrl-C to stop.
EOF
	if [ -n "${JFS_SERVE_SECONDS:-}" ]; then
		sleep "$JFS_SERVE_SECONDS"
	else
		wait -n "${pids[@]}"
		echo "serve.sh: a server exited; stopping" >&2
		return 1
	fi
}

serve
