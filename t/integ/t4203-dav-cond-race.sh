#!/usr/bin/env bash
# WebDAV's conditional writes under a race (the sibling of t4306): WRITERS
# clients send PUT with an If header naming the file's one ETag, and MOVE and
# COPY of distinct files onto one free name with Overwrite: F, all at once,
# while JFS_FAULT_DAV_COMMIT_SLEEP_MS holds each of them between its look and
# its rename. Exactly one wins and the rest get 412; the file is the winner's
# bytes, a losing MOVE leaves its source, and nothing is left in /.sys/tmp
# (a look alone let every one of them through, each overwriting the last).
# A MOVE or DELETE with an If ETag must not act on a file a PUT put in its
# place meanwhile.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
command -v python3 >/dev/null || t_skip_all "python3 missing"
export WEBDAV_USER=davu WEBDAV_PASSWORD=davp
META="sqlite3://$T/m.db"
jfs format "$META" racevol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

PORT=$(free_port)
JFS_FAULT_DAV_COMMIT_SLEEP_MS=1500 "$JFS_BIN" webdav "$META" "127.0.0.1:$PORT" \
	--cache-dir none >>"$T/dav.log" 2>&1 &
DAV_PID=$!
T_PIDS+=("$DAV_PID")
for _ in $(seq 1 150); do
	curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
	sleep 0.1
done

timeout 180 python3 "$JFS_SRCDIR/t/integ/dav-cond-race.py" "$PORT" davu davp 6 >"$T/race.out" 2>&1
while IFS= read -r line; do
	case $line in
	"ok "*) t_ok "${line#ok - }" ;;
	"not ok "*) t_fail "${line#not ok - }" ;;
	*) t_fail "dav-cond-race.py" "$line" ;;
	esac
done <"$T/race.out"
kill "$DAV_PID" 2>/dev/null
wait "$DAV_PID" 2>/dev/null

jfs dump "$META" "$T/dump.json"
left=$(python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))["FSTree"]["entries"]
print(len(t.get(".sys", {}).get("entries", {}).get("tmp", {}).get("entries", {})))' "$T/dump.json" 2>&1)
if [ "$RC" -eq 0 ] && [ "$left" = 0 ]; then
	t_ok "no temp file is left in /.sys/tmp"
else
	t_fail "no temp file is left in /.sys/tmp" "$left" "$(last_run)"
fi
jfs fsck "$META"
if [ "$RC" -eq 0 ]; then t_ok "fsck is clean"; else t_fail "fsck is clean" "$(last_run)"; fi
if grep -qE 'Sanitizer|runtime error:' "$T/dav.log" 2>/dev/null; then
	t_fail "no sanitizer report from the server" "$(grep -hE -m 3 'Sanitizer|runtime error:' "$T/dav.log")"
else
	t_ok "no sanitizer report from the server"
fi
t_done
