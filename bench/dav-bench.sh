#!/usr/bin/env bash
# WebDAV benchmark (not a test): ours, the real `juicefs webdav` and, when
# installed, `rclone serve webdav`, run A B A B... on fresh volumes.
#
#   bash bench/dav-bench.sh [ROUNDS]        (JFS_BIN, JFS_REF may override)
#
# Loads (keep-alive HTTP clients in Python threads): PUT and GET of 4 KiB
# files and of 16 MiB files at 1 and 16 clients, and PROPFIND Depth 1 on a
# folder of 10,000 entries. Prints per server the median over the rounds,
# the ratio ours / real, and the server's peak RSS (VmHWM).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JFS_BIN=${JFS_BIN:-$ROOT/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
ROUNDS=${1:-3}
W=$(mktemp -d /tmp/dav-bench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.5; rm -rf "$W"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat >"$W/load.py" <<'EOF'
import http.client, os, sys, threading, time, json
host, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def conn():
    return http.client.HTTPConnection(host, port, timeout=600)
def req(c, m, path, body=None, hdr=None):
    c.request(m, path, body=body, headers=hdr or {})
    r = c.getresponse(); data = r.read()
    if r.status >= 300 and r.status != 207: raise SystemExit(f"{m} {path}: {r.status}")
    return data
def run(nclients, per, fn):
    t0 = time.time(); ths = []
    for i in range(nclients):
        th = threading.Thread(target=fn, args=(i, per)); th.start(); ths.append(th)
    for th in ths: th.join()
    return time.time() - t0
out = {}
c = conn()
for sz, name, total in ((4096, "4K", 2000), (16 << 20, "16M", 32)):
    data = os.urandom(sz)
    for n in (1, 16):
        d = f"/b{name}c{n}"
        req(c, "MKCOL", d + "/")
        per = max(1, total // n)
        def put(i, per):
            cc = conn()
            for j in range(per): req(cc, "PUT", f"{d}/f{i}-{j}", data)
        def get(i, per):
            cc = conn()
            for j in range(per): req(cc, "GET", f"{d}/f{i}-{j}")
        t = run(n, per, put); out[f"PUT {name} x{n}"] = n * per / t if sz < 1 << 20 else n * per * sz / t / (1 << 20)
        t = run(n, per, get); out[f"GET {name} x{n}"] = n * per / t if sz < 1 << 20 else n * per * sz / t / (1 << 20)
req(c, "MKCOL", "/many/")
def fill(i, per):
    cc = conn()
    for j in range(per): req(cc, "PUT", f"/many/e{i}-{j}", b"x")
run(16, 625, fill)
t0 = time.time()
for _ in range(3): req(c, "PROPFIND", "/many/", None, {"Depth": "1"})
out["PROPFIND 10k d1"] = 3 / (time.time() - t0)
print(json.dumps(out))
EOF

start()
{
	local who=$1 p=$2 dir
	dir=$W/$1-$3
	mkdir -p "$dir"
	case $who in
	ours | real)
		local bin=$JFS_BIN
		if [ "$who" = real ]; then bin=$JFS_REF; fi
		"$JFS_BIN" format "sqlite3://$dir/m.db" bench --bucket "$dir/data" --trash-days 0 >/dev/null 2>&1
		if [ "$who" = ours ]; then
			"$bin" webdav "sqlite3://$dir/m.db" "127.0.0.1:$p" --cache-dir "$dir/cache" >"$dir/log" 2>&1 &
		else
			"$bin" webdav "sqlite3://$dir/m.db" "127.0.0.1:$p" --cache-dir "$dir/cache" \
				--no-usage-report --log "$dir/log" >"$dir/out" 2>&1 &
		fi
		;;
	rclone)
		mkdir -p "$dir/root"
		rclone serve webdav "$dir/root" --addr "127.0.0.1:$p" >"$dir/log" 2>&1 &
		;;
	esac
	SPID=$!
	PIDS+=("$SPID")
	for _ in $(seq 1 100); do curl -sf -o /dev/null -X OPTIONS "http://127.0.0.1:$p/" && return; sleep 0.1; done
	echo "$who did not start" >&2
	exit 1
}

servers=(ours real)
[ -x "$JFS_REF" ] || servers=(ours)
command -v rclone >/dev/null && servers+=(rclone)
unset WEBDAV_USER WEBDAV_PASSWORD
for r in $(seq 1 "$ROUNDS"); do
	for s in "${servers[@]}"; do
		p=$(port)
		start "$s" "$p" "$r"
		res=$(python3 "$W/load.py" 127.0.0.1 "$p" "$s")
		hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SPID/status")
		echo "{\"server\": \"$s\", \"round\": $r, \"hwm_kb\": $hwm, \"res\": $res}" >>"$W/results.jsonl"
		kill "$SPID"
		wait "$SPID" 2>/dev/null || true
		echo "round $r $s done" >&2
	done
done
python3 - "$W/results.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
servers = list(dict.fromkeys(r["server"] for r in rows))
keys = list(rows[0]["res"].keys())
med = {s: {k: statistics.median(r["res"][k] for r in rows if r["server"] == s) for k in keys} for s in servers}
hwm = {s: statistics.median(r["hwm_kb"] for r in rows if r["server"] == s) for s in servers}
print("%-18s" % "load (ops/s, MiB/s for 16M)" + "".join("%12s" % s for s in servers) + ("%12s" % "ours/real" if "real" in servers else ""))
for k in keys:
    line = "%-18s" % k + "".join("%12.1f" % med[s][k] for s in servers)
    if "real" in servers: line += "%12.2f" % (med["ours"][k] / med["real"][k])
    print(line)
print("%-18s" % "VmHWM (MiB)" + "".join("%12.1f" % (hwm[s] / 1024) for s in servers) +
      ("%12.2f" % (hwm["ours"] / hwm["real"]) if "real" in servers else ""))
EOF
