#!/usr/bin/env bash
# What a directory quota costs (issue 17, Benchmark; not a test, it never asserts a time).
#
# One volume per client, each formatted by its own binary (SQLite metadata, local-dir data,
# 4 MiB blocks, trash off): ours ($JFS_BIN) and the real JuiceFS 1.4.2 ($JFS_REF). In each
# volume /n has no quota and /q has one (`juicefs quota set --path /q`, set by that client's
# own binary, far above what the loads use), so both paths are served by the same process
# in the same state and only the quota differs. Loads, each on /n and on /q:
#   put4k   S3 4 KiB PUT through `juicefs gateway`, 16 connections, keys rotating over
#           $NKEYS names (wrk replaying presigned SigV4 URLs made once by boto3)
#   get4k   S3 4 KiB GET of $NKEYS preloaded objects, 16 connections
#   create  FUSE: one python3 process creates $NFILES 4 KiB files in a fresh directory
#           through `juicefs mount` (open O_CREAT|O_EXCL, write, close)
# Rounds interleave everything: per round and load, ours then real, each running /n and /q
# as A B B A (B A A B the next round), so a drift of the machine during a round does not
# favour one. Prints the median of each figure, then for each client the ratio quota/no-quota
# (throughput with the quota over without; the target is a cost under 3%, a ratio over 0.97)
# as the median of the per-round ratios with their range, which shows how much of a
# difference is the machine's noise; and ours/real. Non-2xx answers are counted: a refused
# request cannot look fast.
#
# Usage: bench/quota-bench.sh [ROUNDS]     env: JFS_BIN JFS_REF DUR (seconds per S3 load, 5)
#        NKEYS (200), NFILES (2000), KEEP=1 keeps the scratch dir. Needs root (FUSE), wrk,
#        python3 with boto3.
set -u

ROUNDS=${1:-5}
DUR=${DUR:-5}
NKEYS=${NKEYS:-200}
NFILES=${NFILES:-2000}
here=$(cd "$(dirname "$0")/.." && pwd)
JFS_BIN=${JFS_BIN:-$here/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
export MINIO_ROOT_USER=benchadmin MINIO_ROOT_PASSWORD=benchsecret123

die() { echo "quota-bench: $*" >&2; exit 1; }
[ -x "$JFS_BIN" ] || die "no binary at $JFS_BIN (set JFS_BIN)"
[ -x "$JFS_REF" ] || die "no reference client at $JFS_REF (set JFS_REF)"
[ "$(id -u)" -eq 0 ] || die "needs root (FUSE mounts)"
command -v wrk >/dev/null || die "wrk missing (Debian: wrk)"
python3 -c 'import boto3' 2>/dev/null || die "python3 has no boto3 (Debian: python3-boto3)"

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/quota-bench.XXXXXX")
PIDS=()
MOUNTS=()
cleanup()
{
	local p m
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	[ "${KEEP:-0}" = 1 ] && echo "scratch kept in $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

write_wrk_lua "$W/s3.lua"
head -c 4096 /dev/urandom >"$W/4k.bin"

cat >"$W/create.py" <<'EOF'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
data = os.urandom(4096)
os.makedirs(d)
t = time.perf_counter()
for i in range(n):
    fd = os.open(os.path.join(d, "f%05d" % i), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    if os.write(fd, data) != 4096: raise SystemExit("short write")
    os.close(fd)
print("%.1f" % (n / (time.perf_counter() - t)))
EOF

# prepare NAME PORT: preload /n and /q through the gateway and write the target lists.
prepare()
{
	python3 - "$1" "$2" "$W" "$NKEYS" <<'EOF' || die "preload on $1 failed"
import sys, boto3, urllib.request
from botocore.config import Config
from urllib.parse import urlsplit
name, port, w, nkeys = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port, region_name="us-east-1",
                  aws_access_key_id="benchadmin", aws_secret_access_key="benchsecret123",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
small = open(w + "/4k.bin", "rb").read()
for d in ("n", "q"):
    for i in range(nkeys):
        s3.put_object(Bucket=name, Key="%s/get/k%05d" % (d, i), Body=small)
    for kind, op in (("put", "put_object"), ("get", "get_object")):
        with open("%s/%s-%s-%s.txt" % (w, name, d, kind), "w") as out:
            for i in range(nkeys):
                u = s3.generate_presigned_url(op, Params={"Bucket": name, "Key": "%s/%s/k%05d" % (d, kind, i)},
                                              ExpiresIn=6 * 3600)
                p = urlsplit(u)
                out.write(p.path + "?" + p.query + "\n")
    got = urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, open("%s/%s-%s-get.txt" % (w, name, d)).readline().strip())).read()
    assert got == small, "presigned GET returned other bytes"
EOF
}

# s3load NAME DIR KIND: ops/s of one wrk run (exits on non-2xx answers).
s3load()
{
	local name=$1 d=$2 kind=$3 method=GET body=
	[ "$kind" = put4k ] && method=PUT body=$W/4k.bin
	wrk -t1 -c16 -d"${DUR}s" --timeout 60s -s "$W/s3.lua" "http://127.0.0.1:${PORT[$name]}/" \
		-- "$W/$name-$d-${kind%4k}.txt" "$method" $body >"$W/wrk.out" 2>&1
	awk '/^RESULT/ {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (v["bad"] + v["sockerr"] > 0) { print "ERR"; exit }
		printf "%.1f\n", v["reqs"] / (v["dur_us"] / 1e6)
	}' "$W/wrk.out"
}

declare -A PORT BIN META
BIN[ours]=$JFS_BIN
BIN[real]=$JFS_REF
for name in ours real; do
	d=$W/$name
	mkdir -p "$d"
	META[$name]=sqlite3://$d/m.db
	"${BIN[$name]}" format "${META[$name]}" "$name" --bucket "$d/data" --trash-days 0 \
		>"$d/format.log" 2>&1 || die "format with ${BIN[$name]} failed: $(tail -3 "$d/format.log")"
	"${BIN[$name]}" quota set "${META[$name]}" --path /q --create --capacity 1000 \
		--inodes 100000000 >"$d/quota.log" 2>&1 ||
		die "quota set with ${BIN[$name]} failed: $(tail -3 "$d/quota.log")"
done

declare -A RES # RES[client,load,dir] = space-separated figures, one per round
add() { RES[$1,$2,$3]="${RES[$1,$2,$3]:-} $4"; }

# ---------------------------------------------------------------- S3
GWPIDS=()
for name in ours real; do
	port=$(free_port)
	extra=()
	[ "$name" = real ] && extra=(--no-usage-report)
	"${BIN[$name]}" gateway "${META[$name]}" "127.0.0.1:$port" --no-banner \
		--cache-dir "$W/$name/cache" "${extra[@]}" >"$W/$name/gw.log" 2>&1 &
	PIDS+=("$!")
	GWPIDS+=("$!")
	wait_http "$port" || die "$name gateway did not answer: $(tail -3 "$W/$name/gw.log")"
	PORT[$name]=$port
	prepare "$name" "$port"
done
for r in $(seq "$ROUNDS"); do
	order="n q q n"
	[ $((r % 2)) = 0 ] && order="q n n q"
	for kind in put4k get4k; do
		for name in ours real; do
			for d in $order; do
				v=$(s3load "$name" "$d" "$kind")
				[ "$v" = ERR ] && die "$name $kind on /$d: non-2xx answers ($(tail -2 "$W/wrk.out"))"
				add "$name" "$kind" "$d" "$v"
			done
		done
	done
	echo "round $r/$ROUNDS: S3 done" >&2
done
for p in "${GWPIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done

# ---------------------------------------------------------------- FUSE
for name in ours real; do
	mp=$W/$name/mnt
	mkdir -p "$mp"
	extra=()
	[ "$name" = real ] && extra=(--no-usage-report)
	"${BIN[$name]}" mount "${META[$name]}" "$mp" -d --log "$W/$name/mount.log" \
		--cache-dir "$W/$name/mcache" "${extra[@]}" >"$W/$name/mount.out" 2>&1 ||
		die "$name mount failed: $(tail -3 "$W/$name/mount.out")"
	MOUNTS+=("$mp")
done
for r in $(seq "$ROUNDS"); do
	order="n q q n"
	[ $((r % 2)) = 0 ] && order="q n n q"
	for name in ours real; do
		for d in $order; do
			v=$(python3 "$W/create.py" "$W/$name/mnt/$d/run$r" "$NFILES") ||
				die "$name create on /$d failed"
			add "$name" create "$d" "$v"
			rm -rf "$W/$name/mnt/$d/run$r"
		done
	done
	echo "round $r/$ROUNDS: FUSE done" >&2
done
for name in ours real; do
	q=$("${BIN[$name]}" quota get "${META[$name]}" --path /q 2>&1 | tail -n 4)
	echo "$name quota on /q at the end:" >&2
	echo "$q" >&2
done

# ---------------------------------------------------------------- report
{
	for k in "${!RES[@]}"; do echo "$k${RES[$k]}"; done
} | python3 -c '
import sys, statistics
res = {}
for line in sys.stdin:
    key, *vals = line.split()
    res[tuple(key.split(","))] = [float(v) for v in vals]
rounds = len(next(iter(res.values()))) // 2
def ratio(c, load):
    n, q = res[(c, load, "n")], res[(c, load, "q")]
    r = sorted(sum(q[2 * i:2 * i + 2]) / sum(n[2 * i:2 * i + 2]) for i in range(rounds))
    return "%.3f [%.2f-%.2f]" % (statistics.median(r), r[0], r[-1])
print("Quota cost: %d interleaved rounds (A B B A), ops/s medians (S3: 16 connections; create: 1 process)" % rounds)
print("%-7s %9s %9s %-18s  %9s %9s %-18s %9s" % ("load", "ours /n", "ours /q", "  q/n [range]", "real /n", "real /q", "  q/n [range]", "ours/real"))
for load in ("put4k", "get4k", "create"):
    m = {(c, d): statistics.median(res[(c, load, d)]) for c in ("ours", "real") for d in ("n", "q")}
    print("%-7s %9.1f %9.1f   %-16s  %9.1f %9.1f   %-16s %9.2f" % (load,
        m["ours", "n"], m["ours", "q"], ratio("ours", load),
        m["real", "n"], m["real", "q"], ratio("real", load),
        m["ours", "q"] / m["real", "q"]))
print("q/n: median over rounds of throughput with a quota on the path over without, and its")
print("range (1.000 = no cost; target > 0.97)")
'
