#!/usr/bin/env bash
# S3 gateway load beside its peers (issue "S3 gateway", section Benchmark; not a test, it never
# asserts a time). warp cannot be had from the Go module proxy here, so the load is wrk with a
# small Lua script replaying presigned SigV4 URLs made once by boto3: that keeps the signing cost
# out of the measured loop and the load generator in C.
#
# Our `juicefs gateway` and the real one ($JFS_REF, JuiceFS 1.4.2) each serve a volume that its
# own binary formatted the same way (SQLite metadata, local-dir data, default 4 MiB blocks, no
# compression, trash off), in single-bucket mode. Rounds go A B A B; each round runs on each
# server:
#   put4k   4 KiB PUT, 16 connections, keys rotating over $NKEYS names
#   get4k   4 KiB GET, 16 connections, over $NKEYS preloaded objects
#   get64m  64 MiB GET, 1 connection
#   put64m  64 MiB PUT, 1 connection
#   put1m   1 MiB PUT, 8 connections
# and nginx (if installed) serves the same 64 MiB file as a static file, the GET ceiling.
# The table shows the median of each figure over the rounds, ours/real, each server's CPU-seconds
# per GB moved (utime+stime of the server process from /proc/PID/stat across the load, which
# stays honest on a busy machine where wall-clock throughput does not) and its VmHWM at the end.
# MinIO is run too when /opt/peers/minio exists; `bash bench/peers.sh` (root) installs it and nginx.
#
# Usage: bench/s3-bench.sh [ROUNDS]      env: JFS_BIN JFS_REF DUR (seconds per load, 10)
#        LOADS (NAME:CONNS words, e.g. LOADS="get64m:1 put64m:1"; all five by default),
#        PY (python3 with boto3), NKEYS (200), KEEP=1 keeps the scratch dir,
#        JFS_BASE (another build of ours, "base" in the table: before/after a change).
set -u

ROUNDS=${1:-3}
DUR=${DUR:-10}
NKEYS=${NKEYS:-200}
here=$(cd "$(dirname "$0")/.." && pwd)
JFS_BIN=${JFS_BIN:-$here/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
PY=${PY:-python3}
MINIO=${MINIO:-/opt/peers/minio}
NGINX=${NGINX:-/usr/sbin/nginx}
export MINIO_ROOT_USER=benchadmin MINIO_ROOT_PASSWORD=benchsecret123

die() { echo "s3-bench: $*" >&2; exit 1; }
[ -x "$JFS_BIN" ] || die "no binary at $JFS_BIN (set JFS_BIN)"
[ -x "$JFS_REF" ] || die "no reference client at $JFS_REF (set JFS_REF)"
command -v wrk >/dev/null || die "wrk missing (Debian: wrk)"
$PY -c 'import boto3' 2>/dev/null || die "$PY has no boto3 (Debian: python3-boto3)"

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /tmp/s3-bench.XXXXXX)
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

write_wrk_lua "$W/s3.lua"

head -c 4096 /dev/urandom >"$W/4k.bin"
head -c $((64 << 20)) /dev/urandom >"$W/64m.bin"
head -c $((1 << 20)) /dev/urandom >"$W/1m.bin"

# prepare NAME PORT BUCKET: preload the objects through the server and write the target lists.
prepare()
{
	$PY - "$1" "$2" "$3" "$W" "$NKEYS" <<'EOF' || die "preload on $1 failed"
import sys, boto3
from botocore.config import Config
from urllib.parse import urlsplit
name, port, bucket, w, nkeys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port, region_name="us-east-1",
                  aws_access_key_id="benchadmin", aws_secret_access_key="benchsecret123",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
try:
    s3.head_bucket(Bucket=bucket)
except Exception:
    s3.create_bucket(Bucket=bucket)
small = open(w + "/4k.bin", "rb").read()
for i in range(nkeys):
    s3.put_object(Bucket=bucket, Key="get/k%05d" % i, Body=small)
with open(w + "/64m.bin", "rb") as f:
    s3.put_object(Bucket=bucket, Key="big/64m.bin", Body=f)
def target(op, key):
    u = s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": key}, ExpiresIn=6 * 3600)
    p = urlsplit(u)
    return p.path + "?" + p.query
for kind, op, fmt in (("put", "put_object", "put/k%05d"), ("get", "get_object", "get/k%05d"),
                      ("put1m", "put_object", "put1m/k%05d")):
    with open("%s/%s-%s.txt" % (w, name, kind), "w") as out:
        for i in range(nkeys):
            out.write(target(op, fmt % i) + "\n")
with open("%s/%s-big.txt" % (w, name), "w") as out:
    out.write(target("get_object", "big/64m.bin") + "\n")
with open("%s/%s-bigput.txt" % (w, name), "w") as out:
    for i in range(4):
        out.write(target("put_object", "bigput/%d.bin" % i) + "\n")
# A presigned GET must give the bytes back, or the numbers mean nothing.
import urllib.request
got = urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, open("%s/%s-get.txt" % (w, name)).readline().strip())).read()
assert got == small, "presigned GET returned other bytes"
EOF
}

# cpu_ticks PID: utime+stime of a process and its children so far (nginx's worker), in clock
# ticks (all their threads).
cpu_ticks()
{
	local p t=0 v
	[ -n "$1" ] || { echo 0; return; }
	for p in "$1" $(pgrep -P "$1"); do
		v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
HZ=$(getconf CLK_TCK)

# load NAME PORT KIND CONNS [PID]: one wrk run; prints "ops/s MiB/s bad cpu-s/GB" (cpu-s/GB is
# 0 without a PID).
load()
{
	local name=$1 port=$2 kind=$3 conns=$4 pid=${5:-} list method body= bsize=0 t0 t1
	case $kind in
	put4k) list=$W/$name-put.txt method=PUT body=$W/4k.bin bsize=4096 ;;
	get4k) list=$W/$name-get.txt method=GET ;;
	get64m) list=$W/$name-big.txt method=GET ;;
	put64m) list=$W/$name-bigput.txt method=PUT body=$W/64m.bin bsize=$((64 << 20)) ;;
	put1m) list=$W/$name-put1m.txt method=PUT body=$W/1m.bin bsize=$((1 << 20)) ;;
	esac
	t0=$(cpu_ticks "$pid")
	wrk -t1 -c"$conns" -d"${DUR}s" --timeout 60s -s "$W/s3.lua" "http://127.0.0.1:$port/" \
		-- "$list" "$method" $body >"$W/wrk.out" 2>&1
	t1=$(cpu_ticks "$pid")
	# A PUT moves its body per request; wrk's byte count is what came back.
	awk -v bsize="$bsize" -v cpu="$(( t1 - t0 ))" -v hz="$HZ" -v haspid="${pid:+1}" '/^RESULT/ {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		s = v["dur_us"] / 1e6
		moved = bsize ? v["reqs"] * bsize : v["bytes"]
		printf "%.1f %.1f %d %.3f\n", v["reqs"] / s, moved / s / 1048576, v["bad"] + v["sockerr"],
			haspid && moved ? cpu / hz / (moved / 1e9) : 0
	}' "$W/wrk.out"
}

# ------------------------------------------------------------------ servers
declare -A PORT PID BUCKET
SERVERS=()

start_jfs()
{
	local name=$1 bin=$2 d=$W/$1 port
	mkdir -p "$d"
	"$bin" format "sqlite3://$d/m.db" "$name" --bucket "$d/data" --trash-days 0 \
		>"$d/format.log" 2>&1 || die "format with $bin failed: $(tail -3 "$d/format.log")"
	port=$(free_port)
	"$bin" gateway "sqlite3://$d/m.db" "127.0.0.1:$port" --no-banner --cache-dir "$d/cache" \
		>"$d/gw.log" 2>&1 &
	PID[$name]=$!
	PIDS+=("$!")
	wait_http "$port" || die "$name gateway did not answer: $(tail -3 "$d/gw.log")"
	PORT[$name]=$port
	BUCKET[$name]=$name
	SERVERS+=("$name")
}

start_jfs ours "$JFS_BIN"
[ -n "${JFS_BASE:-}" ] && start_jfs base "$JFS_BASE"
start_jfs real "$JFS_REF"
if [ -x "$MINIO" ]; then
	port=$(free_port)
	"$MINIO" server "$W/minio" --address "127.0.0.1:$port" --console-address "127.0.0.1:$(free_port)" \
		>"$W/minio.log" 2>&1 &
	PID[minio]=$!
	PIDS+=("$!")
	wait_http "$port" && { PORT[minio]=$port BUCKET[minio]=bench; SERVERS+=(minio); }
fi
for s in "${SERVERS[@]}"; do prepare "$s" "${PORT[$s]}" "${BUCKET[$s]}"; done

NGPORT= NGPID=
if [ -x "$NGINX" ]; then
	NGPORT=$(free_port)
	mkdir -p "$W/www/big" "$W/nginx"
	cp "$W/64m.bin" "$W/www/big/64m.bin"
	# nginx workers drop to an unprivileged user; mktemp made the scratch dir 0700.
	chmod 711 "$W"
	chmod -R a+rX "$W/www"
	cat >"$W/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $W/nginx/body;
	sendfile on;
	server { listen 127.0.0.1:$NGPORT; root $W/www; }
}
EOF
	"$NGINX" -c "$W/nginx/nginx.conf" -p "$W/nginx" >"$W/nginx/out.log" 2>&1 &
	NGPID=$!
	PIDS+=("$!")
	wait_http "$NGPORT" || NGPORT=
	[ -n "$NGPORT" ] && echo "/big/64m.bin" >"$W/nginx-big.txt"
fi

# ------------------------------------------------------------------ rounds
echo "# s3-bench: $ROUNDS rounds, ${DUR}s per load, $(nproc) CPUs; servers: ${SERVERS[*]}${NGPORT:+ nginx}"
echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$W/results"
for r in $(seq 1 "$ROUNDS"); do
	for s in "${SERVERS[@]}"; do
		for spec in ${LOADS:-put4k:16 get4k:16 get64m:1 put64m:1 put1m:8}; do
			set -- ${spec/:/ }
			res=$(load "$s" "${PORT[$s]}" "$1" "$2" "${PID[$s]}")
			echo "$r $s $1 $res" >>"$W/results"
			echo "round $r $s $1: ops/s MiB/s bad cpu-s/GB = $res"
		done
	done
	if [ -n "$NGPORT" ]; then
		res=$(load nginx "$NGPORT" get64m 1 "$NGPID")
		echo "$r nginx get64m $res" >>"$W/results"
		echo "round $r nginx get64m: ops/s MiB/s bad cpu-s/GB = $res"
	fi
done
for s in "${SERVERS[@]}"; do
	echo "$s $(awk '/VmHWM/ { print $2 }' "/proc/${PID[$s]}/status")" >>"$W/hwm"
done

echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
$PY - "$W/results" "$W/hwm" <<'EOF'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
hwm = dict(l.split() for l in open(sys.argv[2]))
med = {}
cpu = {}
bad = {}
BIG = ("get64m", "put64m", "put1m")
for r, s, k, ops, mib, nbad, cps in rows:
    med.setdefault((s, k), []).append(float(mib if k in BIG else ops))
    cpu.setdefault((s, k), []).append(float(cps))
    bad[(s, k)] = bad.get((s, k), 0) + int(nbad)
m = {key: statistics.median(v) for key, v in med.items()}
c = {key: statistics.median(v) for key, v in cpu.items()}
servers = [s for s in ("ours", "base", "real", "minio") if any(key[0] == s for key in m)]
loads = [k for k in ("put4k", "get4k", "get64m", "put64m", "put1m") if ("ours", k) in m]
units = {"put4k": "ops/s, 16 conns", "get4k": "ops/s, 16 conns", "get64m": "MiB/s, 1 conn",
         "put64m": "MiB/s, 1 conn", "put1m": "MiB/s, 8 conns"}
ng = ("nginx", "get64m") in m
mn = "minio" in servers
def ratio(a, b):
    return "%.2f" % (a / b) if b else "-"
print()
print("| load | unit | " + " | ".join(servers) + " | ours/real |" + (" ours/minio |" if mn else "")
      + (" ours/nginx |" if ng else ""))
print("|---" * (3 + len(servers) + mn + ng) + "|")
for k in loads:
    cells = ["%.1f" % m[(s, k)] + (" (%d bad)" % bad[(s, k)] if bad[(s, k)] else "") for s in servers]
    line = "| %s | %s | %s | %s |" % (k, units[k], " | ".join(cells), ratio(m[("ours", k)], m.get(("real", k), 0)))
    if mn:
        line += " %s |" % ratio(m[("ours", k)], m[("minio", k)])
    if ng:
        line += " %.2f |" % (m[("ours", k)] / m[("nginx", k)]) if k == "get64m" else " |"
    print(line)
for k in loads:
    line = "| %s CPU | s/GB | %s | %s |" % (k, " | ".join("%.3f" % c[(s, k)] for s in servers),
                                          ratio(c[("ours", k)], c.get(("real", k), 0)))
    if mn:
        line += " %s |" % ratio(c[("ours", k)], c[("minio", k)])
    if ng:
        line += " %s |" % ratio(c[("ours", k)], c[("nginx", k)]) if k == "get64m" else " |"
    print(line)
if ng:
    print("| get64m nginx static | MiB/s, 1 conn; CPU s/GB (master+worker) | %.1f; %.3f |"
          % (m[("nginx", "get64m")], c[("nginx", "get64m")]))
print("| VmHWM | MiB | " + " | ".join("%.1f" % (int(hwm[s]) / 1024) for s in servers)
      + " | %.2f |" % (int(hwm["ours"]) / int(hwm["real"])))
print()
print("medians over %d rounds; 'bad' = non-2xx answers or socket errors (the figure is then suspect)"
      % len({r[0] for r in rows}))
EOF
