#!/usr/bin/env bash
# What the Prometheus metrics cost (issue 17, Benchmark; not a test, it never asserts a time).
#
# Three builds of the same volume layout (SQLite metadata, local-dir data, 4 MiB blocks, no
# compression, trash off), run A B C, B C A, C A B... each round:
#   base     the binary from before the metrics registry (BASE_BIN, or built here from the
#            parent of the commit that added base/metrics.c), so no counting at all
#   quiet    our binary, counting, /metrics served but never read
#   scraped  our binary, counting, /metrics scraped every second (and .stats read every
#            second on the mount, as `juicefs stats` does)
# Loads:
#   put4k    S3 4 KiB PUT, wrk, 16 connections, presigned URLs over $NKEYS keys
#   get4k    S3 4 KiB GET, wrk, 16 connections
#   create   FUSE: one python3 process creates (open O_CREAT + close) empty files for DUR s
# Prints the median of each figure and the ratios scraped/base and scraped/quiet; the target
# is a cost under 3%, i.e. ratios >= 0.97. On a shared 2-CPU machine the round-to-round noise
# is larger than that: read the spread column before reading the ratio. So the cost is also
# computed from its parts: bench/metricsbench times each registry call in one process, and the
# calls one request makes (counted from the code, listed below) are priced against the CPU
# time a request takes at the base build's rate (CPUs / ops per second), and the scrape (a
# render plus its collectors) against one second of one CPU.
#
# Usage: bench/metrics-bench.sh [ROUNDS]   env: JFS_BIN BASE_BIN DUR (s per load, 8)
#        NKEYS (200) PY (python3 with boto3) KEEP=1. Needs root (mount), wrk, boto3.
set -u

ROUNDS=${1:-3}
DUR=${DUR:-8}
NKEYS=${NKEYS:-200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JFS_BIN=${JFS_BIN:-$ROOT/build/juicefs}
PY=${PY:-/usr/bin/python3}
export MINIO_ROOT_USER=benchadmin MINIO_ROOT_PASSWORD=benchsecret123

die() { echo "metrics-bench: $*" >&2; exit 1; }
[ -x "$JFS_BIN" ] || die "no binary at $JFS_BIN (set JFS_BIN)"
command -v wrk >/dev/null || die "wrk missing (Debian: wrk)"
$PY -c 'import boto3' 2>/dev/null || die "$PY has no boto3 (Debian: python3-boto3)"
[ "$(id -u)" -eq 0 ] || die "needs root for the FUSE mounts"

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /tmp/metrics-bench.XXXXXX)
PIDS=()
MOUNTS=()
cleanup()
{
	local p m
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	if [ -d "$W/base-src" ]; then git -C "$ROOT" worktree remove --force "$W/base-src" 2>/dev/null; fi
	[ "${KEEP:-0}" = 1 ] && echo "scratch kept in $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${BASE_BIN:-}" ]; then
	added=$(git -C "$ROOT" log -n 1 --diff-filter=A --format=%H -- base/metrics.c)
	[ -n "$added" ] || die "cannot find the commit that added base/metrics.c; set BASE_BIN"
	echo "# building the base binary at $(git -C "$ROOT" rev-parse --short "$added^") (before metrics)"
	git -C "$ROOT" worktree add -q --detach "$W/base-src" "$added^" || die "git worktree failed"
	bash "$W/base-src/scripts/build.sh" --dir "$W/base-build" >"$W/base-build.log" 2>&1 ||
		die "base build failed: $(tail -3 "$W/base-build.log")"
	BASE_BIN=$W/base-build/juicefs
fi

make -C "$(dirname "$JFS_BIN")" bench/metricsbench >"$W/mb-build.log" 2>&1 ||
	die "cannot build bench/metricsbench: $(tail -3 "$W/mb-build.log")"
"$(dirname "$JFS_BIN")/bench/metricsbench" >"$W/micro" || die "metricsbench failed"

write_wrk_lua "$W/s3.lua"
head -c 4096 /dev/urandom >"$W/4k.bin"

cat >"$W/create.py" <<'EOF'
import os, sys, time
d, dur = sys.argv[1], float(sys.argv[2])
os.makedirs(d, exist_ok=True)
n, t0 = 0, time.monotonic()
while time.monotonic() - t0 < dur:
    os.close(os.open("%s/f%07d" % (d, n), os.O_CREAT | os.O_WRONLY, 0o644))
    n += 1
print("%.1f" % (n / (time.monotonic() - t0)))
EOF

declare -A GPORT MP MPORT
# start NAME BIN: a volume with a gateway and a mount, both serving /metrics.
start()
{
	local name=$1 bin=$2 d=$W/$1 port mport gm=() mm=()
	mkdir -p "$d/mnt"
	"$bin" format "sqlite3://$d/m.db" "$name" --bucket "$d/data" --trash-days 0 \
		>"$d/format.log" 2>&1 || die "format with $bin failed: $(tail -3 "$d/format.log")"
	port=$(free_port)
	mport=$(free_port)
	# the base gateway has no --metrics (its mount accepted it and ignored it)
	if [ "$name" != base ]; then
		gm=(--metrics "127.0.0.1:$mport")
		mm=(--metrics "127.0.0.1:$(free_port)")
	fi
	"$bin" gateway "sqlite3://$d/m.db" "127.0.0.1:$port" --no-banner --cache-dir "$d/gcache" \
		"${gm[@]}" >"$d/gw.log" 2>&1 &
	PIDS+=("$!")
	wait_http "$port" || die "$name gateway did not answer: $(tail -3 "$d/gw.log")"
	"$bin" mount "sqlite3://$d/m.db" "$d/mnt" -d --log "$d/mnt.log" --cache-dir "$d/mcache" \
		"${mm[@]}" >"$d/mount.out" 2>&1 ||
		die "$name mount failed: $(tail -3 "$d/mount.out")"
	MOUNTS+=("$d/mnt")
	GPORT[$name]=$port
	MPORT[$name]=$mport
	MP[$name]=$d/mnt
	$PY - "$port" "$name" "$W" "$NKEYS" <<'EOF' || die "preload on $name failed"
import sys, boto3
from botocore.config import Config
from urllib.parse import urlsplit
port, bucket, w, nkeys = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port, region_name="us-east-1",
                  aws_access_key_id="benchadmin", aws_secret_access_key="benchsecret123",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
small = open(w + "/4k.bin", "rb").read()
for i in range(nkeys):
    s3.put_object(Bucket=bucket, Key="get/k%05d" % i, Body=small)
for kind, op, fmt in (("put", "put_object", "put/k%05d"), ("get", "get_object", "get/k%05d")):
    with open("%s/%s-%s.txt" % (w, bucket, kind), "w") as out:
        for i in range(nkeys):
            u = s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": fmt % i},
                                          ExpiresIn=6 * 3600)
            p = urlsplit(u)
            out.write(p.path + "?" + p.query + "\n")
EOF
}

start base "$BASE_BIN"
start quiet "$JFS_BIN"
start scraped "$JFS_BIN"

# The scraper of "scraped": /metrics of its gateway and mount, and its .stats, every second.
(
	while :; do
		curl -s -o /dev/null "http://127.0.0.1:${MPORT[scraped]}/metrics"
		mp_port=$(jq -r '.Port.PrometheusAgent // empty' "${MP[scraped]}/.config" 2>/dev/null)
		[ -n "$mp_port" ] && curl -s -o /dev/null "http://$mp_port/metrics"
		cat "${MP[scraped]}/.stats" >/dev/null 2>&1
		sleep 1
	done
) &
PIDS+=("$!")

s3load()
{
	local name=$1 kind=$2 list method body=
	case $kind in
	put4k) list=$W/$name-put.txt method=PUT body=$W/4k.bin ;;
	get4k) list=$W/$name-get.txt method=GET ;;
	esac
	wrk -t1 -c16 -d"${DUR}s" --timeout 30s -s "$W/s3.lua" "http://127.0.0.1:${GPORT[$name]}/" \
		-- "$list" "$method" $body >"$W/wrk.out" 2>&1
	awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%.1f %d\n", v["reqs"] / (v["dur_us"] / 1e6), v["bad"] + v["sockerr"] }' "$W/wrk.out"
}

# snapm gw|mnt FILE: the quiet build's /metrics (gateway or mount), to count the registry
# calls a load made (round 1 only).
snapm()
{
	local addr
	if [ "$1" = gw ]; then
		addr=127.0.0.1:${MPORT[quiet]}
	else
		addr=$(jq -r '.Port.PrometheusAgent' "${MP[quiet]}/.config")
	fi
	curl -s "http://$addr/metrics" >"$2"
}

echo "# metrics-bench: $ROUNDS rounds, ${DUR}s per load, $(nproc) CPUs"
: >"$W/results"
for r in $(seq 1 "$ROUNDS"); do
	# the order rotates each round, so that no build always runs after the same one
	case $((r % 3)) in
	1) order="base quiet scraped" ;;
	2) order="quiet scraped base" ;;
	0) order="scraped base quiet" ;;
	esac
	for name in $order; do
		for kind in put4k get4k; do
			[ "$r$name" = 1quiet ] && snapm gw "$W/calls-$kind-0"
			set -- $(s3load "$name" "$kind")
			[ "$r$name" = 1quiet ] && snapm gw "$W/calls-$kind-1"
			echo "$r $name $kind $1 $2" >>"$W/results"
			echo "round $r $name $kind: $1 ops/s (${2} bad)"
		done
		[ "$r$name" = 1quiet ] && snapm mnt "$W/calls-create-0"
		c=$($PY "$W/create.py" "${MP[$name]}/r$r" "$DUR")
		[ "$r$name" = 1quiet ] && snapm mnt "$W/calls-create-1"
		echo "$r $name create $c 0" >>"$W/results"
		echo "round $r $name create: $c files/s"
	done
done

$PY - "$W/results" "$W/micro" "$(nproc)" "$W" <<'EOF'
import sys, statistics, re
rows = [l.split() for l in open(sys.argv[1])]
micro = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[2])}
ncpu = int(sys.argv[3])
v, bad = {}, {}
for r, name, kind, ops, nbad in rows:
    v.setdefault((name, kind), []).append(float(ops))
    bad[(name, kind)] = bad.get((name, kind), 0) + int(nbad)
print()
print("| load | base | quiet | scraped | spread (max/min-1, scraped) | scraped/base | scraped/quiet |")
print("|---|---|---|---|---|---|---|")
for kind, unit in (("put4k", "ops/s"), ("get4k", "ops/s"), ("create", "files/s")):
    m = {n: statistics.median(v[(n, kind)]) for n in ("base", "quiet", "scraped")}
    sp = max(v[("scraped", kind)]) / min(v[("scraped", kind)]) - 1
    flag = "".join(" (%d bad in %s)" % (bad[(n, kind)], n) for n in m if bad[(n, kind)])
    print("| %s %s | %.1f | %.1f | %.1f | %.1f%% | %.3f | %.3f |%s" % (
        kind, unit, m["base"], m["quiet"], m["scraped"], 100 * sp,
        m["scraped"] / m["base"], m["scraped"] / m["quiet"], flag))
print()
print("medians over %d rounds; target: ratios >= 0.97 (cost under 3%%)" % len({r[0] for r in rows}))
# Registry calls per request, counted from the quiet build's own metrics around each load of
# round 1 (clock = metric_now_us, add = a counter add or gauge CAS, obs = a histogram observe,
# child = a labelled lookup): a door request makes 2 clock, 3 child, 2 add, 1 obs; an object
# request 2 clock, 1 obs, up to 3 add; a metadata op 2 clock and 2 obs (op and transaction),
# each rerun of its transaction 2 clock more; a FUSE op 1 obs and 2 add (it was timed before
# the registry).
def sums(path):
    t = {}
    for l in open(path):
        m = re.match(r'^([a-zA-Z0-9_:]+)(\{[^}]*\})? (\S+)$', l)
        if m:
            key = m.group(1) + ("{create}" if 'method="create"' in (m.group(2) or "") else "")
            t[key] = t.get(key, 0) + float(m.group(3))
    return t
calls = {}
for kind in ("put4k", "get4k", "create"):
    a, b = sums("%s/calls-%s-0" % (sys.argv[4], kind)), sums("%s/calls-%s-1" % (sys.argv[4], kind))
    d = lambda n: b.get(n, 0) - a.get(n, 0)
    door = d("juicefs_s3_requests_total")
    obj = d("juicefs_object_request_durations_histogram_seconds_count")
    txn = d("juicefs_transaction_durations_histogram_seconds_count")
    ops = d("juicefs_meta_ops_durations_histogram_seconds_count")
    fuse = d("juicefs_fuse_ops_durations_histogram_seconds_count")
    n = door if kind != "create" else d("juicefs_fuse_ops_total{create}")
    n = max(n, 1)
    calls[kind] = dict(clock=(2 * door + 2 * obj + 2 * ops + 2 * max(txn - ops, 0)) / n,
                       child=3 * door / n,
                       add=(2 * door + 3 * obj + 2 * fuse) / n, obs=(door + obj + txn + ops + fuse) / n)
price = dict(clock=micro["clock_read"], child=micro["child_lookup_of_24"],
             add=micro["counter_add_2threads"], obs=micro["histogram_observe_2threads"])
print()
print("registry calls (ns, 2 threads contending): " + ", ".join("%s %.1f" % kv for kv in sorted(price.items())))
print("| load | calls per request (clock/child/add/obs) | ns of metrics per request | CPU ns per request (base) | cost |")
print("|---|---|---|---|---|")
for kind in ("put4k", "get4k", "create"):
    c = calls[kind]
    ns = sum(price[k] * n for k, n in c.items())
    req = ncpu * 1e9 / statistics.median(v[("base", kind)])
    print("| %s | %.1f/%.1f/%.1f/%.1f | %.0f | %.0f | %.2f%% |" % (
        kind, c["clock"], c["child"], c["add"], c["obs"], ns, req, 100 * ns / req))
print("scrape every second: render %.0f us + collectors = %.2f%% of one CPU (render only)"
      % (micro["render_us"], micro["render_us"] / 1e4))
EOF
