#!/usr/bin/env bash
# S3 listing pages (issue 15, "Listing"), on SQLite and on Redis:
#  - s3-list-paging.py check: 40 queries over keys whose name order and key
#    order differ (bytes below '/' after a directory name, nested prefixes,
#    UTF-8, directory objects), with prefix, delimiter (also '-' and '1'),
#    start-after, continuation tokens, v1 markers and max-keys 1/2/1000,
#    against a model of S3 listing;
#  - keys added and removed between pages (after the directory was quiet
#    long enough for Redis's sorted snapshot to be kept);
#  - the real gateway ($JFS_REF, when installable) lists the same SQLite
#    volume the same way (max-keys 1000, v2);
#  - Redis: paging through a 1,000-key directory 50 keys at a time reads
#    the whole directory hash a bounded number of times (it was once per
#    page, or more: an O(n^2) listing).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
python3 -c 'import boto3' 2>/dev/null || t_skip_all "python3 boto3 missing (Debian: python3-boto3)"
command -v redis-server >/dev/null || t_skip_all "redis-server not installed"
T0=$(date +%s)
PY="$JFS_SRCDIR/t/integ/s3-list-paging.py"
export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123

rport=$(free_port)
mkdir -p "$T/redis"
t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
	--appendonly no --logfile "$T/redis/log"
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

# start BIN META VAR: a gateway on a free port; VAR gets the port, SPID the pid.
SPID=
start()
{
	local bin=$1 meta=$2 var=$3 port
	port=$(free_port)
	"$bin" gateway "$meta" "127.0.0.1:$port" --no-banner >>"$T/gw-$port.log" 2>&1 &
	SPID=$!
	T_PIDS+=("$SPID")
	wait_http "$port" 15
	printf -v "$var" '%s' "$port"
}

stop()
{
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# compare_ref: the real gateway on the same SQLite volume (ours still
# serving it) gives the same listings (v2, max-keys 1000).
compare_ref()
{
	if [ ! -x "${JFS_REF:-/opt/jfs-ref/bin/juicefs}" ]; then
		t_skip "the real gateway lists the same volume the same way" "no reference client"
		return
	fi
	JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
	start "$JFS_REF" "$META" R
	run python3 "$PY" "$R" pagevol check1000
	cp "$T/out" "$T/check-ref"
	stop "$SPID"
	python3 - "$T/check-sqlite" "$T/check-ref" >"$T/cmp" <<'EOF'
import json, sys
def load(p):
    for l in open(p):
        if l.startswith("DUMP "):
            return json.loads(l[5:])
    return None
ours, ref = load(sys.argv[1]), load(sys.argv[2])
if ours is None or ref is None:
    print("no listing from %s" % ("ours" if ours is None else "the real gateway"))
    sys.exit(1)
# The real gateway departs from S3 on directory objects (empty directories):
# with a delimiter other than '/' it lists "empty/" as a common prefix, and
# it lists the marker "empty/" itself. Those items aside, every listing must
# be the same.
def plain(items):
    return [x for x in items if not x[1].endswith("/")] if isinstance(items, list) else items
same = sum(1 for o, r in zip(ours, ref) if o[3] == r[3])
bad = [(o[:3], o[3], r[3]) for o, r in zip(ours, ref) if plain(o[3]) != plain(r[3])]
for q, a, b in bad[:5]:
    print("query %s:" % json.dumps(q))
    print("  only ours: %s" % json.dumps([x for x in a if x not in b])[:300])
    print("  only real: %s" % json.dumps([x for x in b if x not in a])[:300])
print("%d of %d queries list the same, %d differ only in directory objects, %d otherwise"
      % (same, len(ours), len(ours) - same - len(bad), len(bad)))
sys.exit(1 if bad or len(ours) != len(ref) else 0)
EOF
	if [ $? -eq 0 ]; then
		t_ok "the real gateway lists the same volume the same way: $(tail -n 1 "$T/cmp")"
	else
		t_fail "the real gateway lists the same volume the same way" "$(cat "$T/cmp")"
	fi
}

for eng in sqlite redis; do
	case $eng in
	sqlite) META="sqlite3://$T/m.db" ;;
	redis) META="redis://127.0.0.1:$rport/1" ;;
	esac
	jfs format "$META" pagevol --bucket "$T/data-$eng" --trash-days 0
	[ "$RC" -eq 0 ] || { t_fail "$eng: format the volume" "$(last_run)"; continue; }
	start "$JFS_BIN" "$META" P
	GW=$SPID
	run python3 "$PY" "$P" pagevol put
	[ "$RC" -eq 0 ] || { t_fail "$eng: create the keys" "$(last_run)"; stop "$GW"; continue; }
	# Quiet directories: Redis keeps sorted snapshots only of directories
	# unchanged for 2 s, and the checks below must run through them.
	[ "$eng" = redis ] && sleep 2.2
	run python3 "$PY" "$P" pagevol check
	cp "$T/out" "$T/check-$eng"
	if [ "$RC" -eq 0 ] && grep -q ' 0 mismatches' "$T/out"; then
		t_ok "$eng: $(grep '^checked' "$T/out"), every max-keys, v1 and v2"
	else
		t_fail "$eng: listings match the model" "$(grep -E '^(FAIL|checked)' "$T/out" | head -n 8)" \
			"$(tail -c 400 "$T/err")"
	fi
	[ "$eng" = sqlite ] && compare_ref
	run python3 "$PY" "$P" pagevol putm
	[ "$eng" = redis ] && sleep 2.2
	run python3 "$PY" "$P" pagevol mutate
	if [ "$RC" -eq 0 ] && [ "$(sed -n 's/^got //p' "$T/out")" = "$(sed -n 's/^want //p' "$T/out")" ]; then
		t_ok "$eng: keys added and removed between pages are seen as they are"
	else
		t_fail "$eng: keys added and removed between pages" "$(cat "$T/out")" "$(tail -c 400 "$T/err")"
	fi
	if [ "$eng" = redis ]; then
		run python3 "$PY" "$P" pagevol bigput 1000
		[ "$RC" -eq 0 ] || t_fail "redis: create 1000 keys" "$(last_run)"
		sleep 2.2
		redis-cli -p "$rport" config resetstat >/dev/null
		run python3 "$PY" "$P" pagevol bigpage 50
		listed=$(cat "$T/out")
		reads=$(redis-cli -p "$rport" info commandstats |
			awk -F'[:=,]' '/^cmdstat_(hgetall|hscan):/ { n += $3 } END { print n + 0 }')
		if [ "$RC" -eq 0 ] && [ "$listed" = "1000 keys" ] && [ "$reads" -le 6 ]; then
			t_ok "redis: 20 pages of a 1000-key directory read the hash $reads times (<= 6)"
		else
			t_fail "redis: 20 pages of a 1000-key directory read the hash at most 6 times" \
				"listed: $listed, HGETALL+HSCAN calls: $reads" "$(tail -c 300 "$T/err")"
		fi
	fi
	stop "$GW"
done

echo "# t4601 took $(($(date +%s) - T0)) s"
t_done
