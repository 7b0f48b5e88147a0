#!/usr/bin/env bash
# dump/load benchmark (not a test): `juicefs dump` and `juicefs load` of N
# files by ours and by the real JuiceFS 1.4.2 client in the same run, on
# SQLite and on Redis; wall seconds and peak RSS of each command.
#
#   bash bench/dump-bench.sh [ROUNDS] [SIZES]
#       ROUNDS default 3; SIZES default "100000 1000000" (files)
#       (JFS_BIN, JFS_REF, ENGINES="sqlite redis", THREADS=10 may override)
#
# Input: bench/gen-dump.py writes one JSON dump of N regular files (1000
# per directory, one slice each, an xattr on every 16th, a hard link on
# every 100th). Per size, engine and round, in the order ours, real:
#   load  the generated dump into an empty database (SQLite file removed,
#         Redis database flushed before each load);
#   dump  that database to a file (--threads THREADS for both).
# The dumps of ours and of the real client are compared (cmp): the
# benchmark stops if they differ. One redis-server is started here on a
# free 127.0.0.1 port (--save "" --appendonly no), databases 1 (ours) and
# 2 (real). Times and RSS are from GNU time (/usr/bin/time -v: "Elapsed",
# "Maximum resident set size"). Prints the median of each figure over the
# rounds and the ratios real/ours for time (x faster) and ours/real for
# RSS. The machine is shared: quote the ratios. Never asserts a time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JFS_BIN=${JFS_BIN:-$ROOT/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
ROUNDS=${1:-3}
SIZES=${2:-100000 1000000}
ENGINES=${ENGINES:-sqlite redis}
THREADS=${THREADS:-10}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/dump-bench.XXXXXX")
RPID=

cleanup()
{
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

[ -x /usr/bin/time ] || { echo "dump-bench: GNU time missing (apt-get install time)" >&2; exit 1; }
[ -x "$JFS_BIN" ] || { echo "dump-bench: $JFS_BIN not built" >&2; exit 1; }
[ -x "$JFS_REF" ] || { echo "dump-bench: reference client $JFS_REF missing" >&2; exit 1; }

if [[ " $ENGINES " == *" redis "* ]]; then
	rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$W/redis"
	redis-server --port "$rport" --bind 127.0.0.1 --dir "$W/redis" --save "" --appendonly no \
		--daemonize no --logfile "$W/redis/log" &
	RPID=$!
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
fi

# measure OUT CMD...: "seconds maxrss_kib" of CMD into OUT; fails when CMD does.
measure()
{
	local out=$1
	shift
	if ! /usr/bin/time -v "$@" >"$W/cmd.out" 2>"$W/cmd.err"; then
		echo "dump-bench: failed: $*" >&2
		grep -v '^\s' "$W/cmd.err" | tail -n 3 >&2
		exit 1
	fi
	awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0;
			for (i = 1; i <= n; i++) s = s * 60 + t[i]; sec = s }
		/Maximum resident set size/ { rss = $2 }
		END { printf "%.2f %d\n", sec, rss }' "$W/cmd.err" >"$out"
}

url_of()
{
	local eng=$1 who=$2
	if [ "$eng" = sqlite ]; then
		echo "sqlite3://$W/$who.db"
	else
		echo "redis://127.0.0.1:$rport/$([ "$who" = ours ] && echo 1 || echo 2)"
	fi
}

wipe()
{
	local eng=$1 who=$2
	if [ "$eng" = sqlite ]; then
		rm -f "$W/$who.db" "$W/$who.db-wal" "$W/$who.db-shm"
	else
		redis-cli -p "$rport" -n "$([ "$who" = ours ] && echo 1 || echo 2)" flushdb >/dev/null
	fi
}

median()
{
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for n in $SIZES; do
	echo "# generating a dump of $n files" >&2
	python3 "$ROOT/bench/gen-dump.py" "$n" >"$W/src.json"
	echo "# $(wc -c <"$W/src.json") bytes" >&2
	for eng in $ENGINES; do
		for r in $(seq 1 "$ROUNDS"); do
			for who in ours ref; do
				bin=$JFS_BIN
				[ "$who" = ref ] && bin=$JFS_REF
				url=$(url_of "$eng" "$who")
				wipe "$eng" "$who"
				measure "$W/load.$n.$eng.$who.$r" "$bin" load "$url" "$W/src.json"
				rm -f "$W/out.$who.json"
				measure "$W/dump.$n.$eng.$who.$r" "$bin" dump "$url" "$W/out.$who.json" \
					--threads "$THREADS"
				echo "# $n $eng round $r $who: load $(cat "$W/load.$n.$eng.$who.$r")" \
					"dump $(cat "$W/dump.$n.$eng.$who.$r") (s KiB)" >&2
			done
			if ! cmp -s "$W/out.ours.json" "$W/out.ref.json"; then
				echo "dump-bench: the dumps of ours and of the real client differ" >&2
				exit 1
			fi
		done
		wipe "$eng" ours
		wipe "$eng" ref
	done
done

printf '\n%-8s %-7s %-5s %9s %9s %9s %10s %10s %9s\n' files engine op "ours s" "real s" \
	"real/ours" "ours MiB" "real MiB" "ours/real"
for n in $SIZES; do
	for eng in $ENGINES; do
		for op in load dump; do
			os=$(cat "$W/$op.$n.$eng.ours."* | awk '{ print $1 }' | median)
			rs=$(cat "$W/$op.$n.$eng.ref."* | awk '{ print $1 }' | median)
			om=$(cat "$W/$op.$n.$eng.ours."* | awk '{ print $2 }' | median)
			rm_=$(cat "$W/$op.$n.$eng.ref."* | awk '{ print $2 }' | median)
			awk -v n="$n" -v e="$eng" -v op="$op" -v os="$os" -v rs="$rs" -v om="$om" \
				-v rm="$rm_" 'BEGIN { printf "%-8s %-7s %-5s %9.2f %9.2f %8.2fx %10.1f %10.1f %9.2f\n",
				n, e, op, os, rs, (os > 0 ? rs / os : 0), om / 1024, rm / 1024,
				(rm > 0 ? om / rm : 0) }'
		done
	done
done
