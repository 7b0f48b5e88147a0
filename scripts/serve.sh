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
# Serving: the S3 gateway and the WebDAV server are not built yet, so for now
# this stops after printing `juicefs status`. When they land, serve() starts
# `juicefs gateway META 127.0.0.1:9000` and `juicefs webdav META 127.0.0.1:9007`
# with keys kept in $JFS_HOME/keys and prints the endpoints and keys.
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

serve()
{
	echo "serve.sh: volume $NAME"
	"$JFS" status "$META"
	echo
	echo "serve.sh: metadata $META, data $BUCKET/$NAME/"
	echo "serve.sh: the S3 gateway and WebDAV server are not built yet;" \
		"serving arrives with the gateway (they will listen on 127.0.0.1)."
}

serve
