#!/usr/bin/env bash
# ListObjectsV2 of large prefixes (issue 15, "Listing"; not a test, it never asserts a time).
#
# Per size N (default 10000 and 100000; add 1000000 for the slow case) one volume holds N
# regular files (plus one hard-link name per 100, bench/gen-dump.py) in the directory
# d000000, created fast by `juicefs load` of a generated dump (ours; the real client opens
# the result, which is the compatibility promise). Our gateway and the real one
# ($JFS_REF gateway, JuiceFS 1.4.2) then serve that same volume, both running, queried one at
# a time, rounds interleaved ours/real: bench/s3-list-bench.py pages through
# prefix "d000000/" with max-keys 1000 and times each page. Printed per engine and size: the
# median over rounds of the total time and of the first, middle and last page, ours and real,
# and real/ours (x faster). The keys listed by both are compared (SHA-256 of the key list):
# a difference is reported, as the listings must be the same.
#
# Usage: bench/s3-list-bench.sh [ROUNDS] [SIZES]
#   ROUNDS default 3; SIZES default "10000 100000"
#   env: JFS_BIN, JFS_REF, ENGINES ("sqlite redis"), PY (python3 with boto3),
#        JFS_BASE=path: a third gateway, a base build of ours, serves the same volume in the
#        same rounds (ours, base, real), printed as "base" (x_faster: real/base) with a
#        line "ours is Nx base",
#        PERF=1 records `perf record -g` of our gateway over the first round (perf.data
#        kept in the scratch dir, report printed), KEEP=1 keeps the scratch dir.
set -u

ROUNDS=${1:-3}
SIZES=${2:-10000 100000}
ENGINES=${ENGINES:-sqlite redis}
here=$(cd "$(dirname "$0")/.." && pwd)
JFS_BIN=${JFS_BIN:-$here/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
PY=${PY:-python3}
export MINIO_ROOT_USER=benchadmin MINIO_ROOT_PASSWORD=benchsecret123

die() { echo "s3-list-bench: $*" >&2; exit 1; }
[ -x "$JFS_BIN" ] || die "no binary at $JFS_BIN (set JFS_BIN)"
[ -x "$JFS_REF" ] || die "no reference client at $JFS_REF (set JFS_REF)"
JFS_BASE=${JFS_BASE:-}
[ -z "$JFS_BASE" ] || [ -x "$JFS_BASE" ] || die "no base binary at $JFS_BASE"
$PY -c 'import boto3' 2>/dev/null || die "$PY has no boto3 (Debian: python3-boto3)"

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /tmp/s3-list-bench.XXXXXX)
PIDS=()
cleanup()
{
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ "${KEEP:-0}" = 1 ] && echo "scratch kept in $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# gateway BIN META: start it on a free port; sets GPORT and GPID.
gateway()
{
	GPORT=$(free_port)
	"$1" gateway "$2" "127.0.0.1:$GPORT" --no-banner >>"$W/gw-$GPORT.log" 2>&1 &
	GPID=$!
	PIDS+=("$GPID")
	wait_http "$GPORT" || die "gateway $1 on $2 did not start: $(tail -n 3 "$W/gw-$GPORT.log")"
}

stop()
{
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

REDIS_PORT=
if [[ " $ENGINES " == *" redis "* ]]; then
	command -v redis-server >/dev/null || die "redis-server missing"
	REDIS_PORT=$(free_port)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$W" >"$W/redis.log" 2>&1 &
	PIDS+=("$!")
	for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# summarize FILE...: median total and first/middle/last page seconds of JSON lines.
summarize()
{
	$PY - "$@" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
def med(f):
    return statistics.median(f(r) for r in rows)
p = rows[0]["pages"]
print("%.3f %.4f %.4f %.4f %d %d %s" % (
    med(lambda r: r["total"]), med(lambda r: r["pages_s"][0]),
    med(lambda r: r["pages_s"][len(r["pages_s"]) // 2]), med(lambda r: r["pages_s"][-1]),
    rows[0]["keys"], p, rows[0]["sha"]))
EOF
}

echo "s3-list-bench: rounds=$ROUNDS sizes=\"$SIZES\" engines=\"$ENGINES\"; prefix d000000/, max-keys 1000"
printf '%-7s %8s %-5s %9s %9s %9s %9s %8s\n' engine keys who total_s first_s middle_s last_s x_faster
for n in $SIZES; do
	$PY "$here/bench/gen-dump.py" "$n" "$n" |
		sed "s|\"Bucket\": \"/tmp/benchvol/\"|\"Bucket\": \"$W/data-$n/\"|" >"$W/dump-$n.json"
	for eng in $ENGINES; do
		case $eng in
		sqlite) META="sqlite3://$W/m-$n.db" ;;
		redis)
			META="redis://127.0.0.1:$REDIS_PORT/1"
			redis-cli -p "$REDIS_PORT" -n 1 flushdb >/dev/null
			;;
		*) die "unknown engine $eng" ;;
		esac
		"$JFS_BIN" load "$META" "$W/dump-$n.json" >"$W/load.log" 2>&1 ||
			die "load of $n files into $eng failed: $(tail -n 3 "$W/load.log")"
		gateway "$JFS_BIN" "$META"
		OP=$GPORT OPID=$GPID
		gateway "$JFS_REF" "$META"
		RP=$GPORT RPID=$GPID
		if [ -n "$JFS_BASE" ]; then
			gateway "$JFS_BASE" "$META"
			BP=$GPORT BPID=$GPID
		fi
		: >"$W/base.json"
		: >"$W/ours.json"
		: >"$W/real.json"
		for r in $(seq 1 "$ROUNDS"); do
			if [ "${PERF:-0}" = 1 ] && [ "$r" = 1 ]; then
				perf record -g -o "$W/perf-$eng-$n.data" -p "$OPID" >/dev/null 2>&1 &
				PP=$!
				sleep 0.5
			fi
			$PY "$here/bench/s3-list-bench.py" "$OP" benchvol d000000/ >>"$W/ours.json" ||
				die "listing through ours failed"
			if [ "${PERF:-0}" = 1 ] && [ "$r" = 1 ]; then
				kill -INT "$PP"
				wait "$PP"
				perf report -i "$W/perf-$eng-$n.data" --no-children --percent-limit 2 \
					--stdio 2>/dev/null | grep -v '^$' | head -n 60 >"$W/perf-$eng-$n.txt"
				echo "# perf of ours, $eng, $n keys: $W/perf-$eng-$n.txt"
				grep -E '^ +[0-9.]+%' "$W/perf-$eng-$n.txt" | head -n 15 | sed 's/^/#   /'
			fi
			if [ -n "$JFS_BASE" ]; then
				$PY "$here/bench/s3-list-bench.py" "$BP" benchvol d000000/ >>"$W/base.json" ||
					die "listing through the base build failed"
			fi
			$PY "$here/bench/s3-list-bench.py" "$RP" benchvol d000000/ >>"$W/real.json" ||
				die "listing through the real gateway failed"
		done
		stop "$OPID"
		stop "$RPID"
		[ -z "$JFS_BASE" ] || stop "$BPID"
		read -r ot of om ol ok _ osha < <(summarize "$W/ours.json")
		read -r rt rf rm rl rk _ rsha < <(summarize "$W/real.json")
		printf '%-7s %8s %-5s %9s %9s %9s %9s %8s\n' "$eng" "$ok" ours "$ot" "$of" "$om" "$ol" \
			"$($PY -c "print('%.2f' % ($rt / $ot))")"
		printf '%-7s %8s %-5s %9s %9s %9s %9s\n' "$eng" "$rk" real "$rt" "$rf" "$rm" "$rl"
		if [ -n "$JFS_BASE" ]; then
			read -r bt bf bm bl bk _ bsha < <(summarize "$W/base.json")
			printf '%-7s %8s %-5s %9s %9s %9s %9s %8s\n' "$eng" "$bk" base "$bt" "$bf" \
				"$bm" "$bl" "$($PY -c "print('%.2f' % ($rt / $bt))")"
			echo "# $eng $n: ours is $($PY -c "print('%.2f' % ($bt / $ot))")x base"
			[ "$osha" = "$bsha" ] || echo "# $eng $n: the listings of ours and base DIFFER"
		fi
		[ "$osha" = "$rsha" ] || echo "# $eng $n: the listings of ours and the real gateway DIFFER"
	done
	rm -f "$W/m-$n.db"*
done
