#!/usr/bin/env bash
# Conditional writes under a race: WRITERS clients send PutObject If-Match
# with one ETag, PutObject If-None-Match: * for one free key,
# CompleteMultipartUpload If-Match with one ETag, and CopyObject with either
# onto one destination, all at once, while JFS_FAULT_S3_COMMIT_SLEEP_MS holds
# every one of them between the commit's look and its rename. As AWS
# promises, exactly one wins (200) and the rest get 412 PreconditionFailed;
# the object is the winner's bytes and ETag (a second look alone let every
# If-Match writer through: lost updates answered 200; CopyObject ignored both
# headers). CopyObject's conditions are also checked one at a time (412, 404).
# The losers' temp files leave nothing behind: /.sys/tmp is empty, fsck is
# clean and gc finds no leaked object. Run on SQLite, and on Redis when
# redis-server is installed.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
command -v python3 >/dev/null || t_skip_all "python3 missing"
export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
DRV=$JFS_SRCDIR/t/integ/s3-cas-race.py
WRITERS=6

gw()
{
	local meta=$1 i
	PORT=$(free_port)
	JFS_FAULT_S3_COMMIT_SLEEP_MS=1500 "$JFS_BIN" gateway "$meta" "127.0.0.1:$PORT" \
		--no-banner --cache-dir none >>"$T/gw-$PORT.log" 2>&1 &
	GPID=$!
	T_PIDS+=("$GPID")
	wait_http "$PORT" 15
}

one_engine()
{
	local name=$1 meta=$2 line left
	jfs format "$meta" casvol --bucket "$T/data-$name"
	[ "$RC" -eq 0 ] || { t_fail "[$name] format" "$(last_run)"; return; }
	gw "$meta"
	timeout 180 python3 "$DRV" "$PORT" casvol "$WRITERS" >"$T/$name.out" 2>&1
	while IFS= read -r line; do
		case $line in
		"ok "*) t_ok "[$name] ${line#ok - }" ;;
		"not ok "*) t_fail "[$name] ${line#not ok - }" ;;
		*) t_fail "[$name] s3-cas-race.py" "$line" ;;
		esac
	done <"$T/$name.out"
	kill "$GPID" 2>/dev/null
	wait "$GPID" 2>/dev/null
	jfs fsck "$meta"
	if [ "$RC" -eq 0 ]; then
		t_ok "[$name] fsck is clean after the races"
	else
		t_fail "[$name] fsck is clean after the races" "$(last_run)"
	fi
	jfs dump "$meta" "$T/$name.json"
	left=$(python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))["FSTree"]["entries"]
print(len(t.get(".sys", {}).get("entries", {}).get("tmp", {}).get("entries", {})))' "$T/$name.json" 2>&1)
	if [ "$RC" -eq 0 ] && [ "$left" = 0 ]; then
		t_ok "[$name] no temp file is left in /.sys/tmp"
	else
		t_fail "[$name] no temp file is left in /.sys/tmp" "$left" "$(last_run)"
	fi
	jfs gc "$meta"
	if [ "$RC" -eq 0 ] && last_run | grep -q ' 0 leaked'; then
		t_ok "[$name] gc finds no leaked object (the losers' temp files are gone)"
	else
		t_fail "[$name] gc finds no leaked object" "$(last_run | grep -m1 scanned)"
	fi
}

one_engine sqlite "sqlite3://$T/meta.db"
if ! command -v redis-server >/dev/null; then
	t_skip "[redis] the races" "redis-server not installed"
elif redis_start "$T/redis"; then
	one_engine redis "redis://127.0.0.1:$REDIS_PORT/1"
else
	t_fail "[redis] redis-server answers" "$(tail -n 5 "$T/redis/log")"
fi

if grep -qE 'Sanitizer|runtime error:' "$T"/gw-*.log 2>/dev/null; then
	t_fail "no sanitizer report from the gateway" "$(grep -hE -m 3 'Sanitizer|runtime error:' "$T"/gw-*.log)"
else
	t_ok "no sanitizer report from the gateway"
fi
t_done
