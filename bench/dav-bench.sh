#!/usr/bin/env bash
# WebDAV benchmark (not a test): ours, the real `juicefs webdav` and, when
# installed, `rclone serve webdav` and Apache mod_dav, run A B C D A B C D...
# (`bash bench/peers.sh`, as root, installs Apache; the bench loads mod_dav itself.)
#
#   bash bench/dav-bench.sh [ROUNDS]    (JFS_BIN, JFS_REF, N4K, N16M, NMANY may override)
#
# JFS_BASE=PATH adds another build of ours ("base": before/after a change),
# run right after ours in every round; DAV_SERVERS="ours base real" runs only
# the servers named (default: all found).
#
# Each server keeps one volume (or directory) for all rounds and is restarted
# every round, so every round starts with a cold server; the juicefs volumes
# are SQLite + a local directory formatted by their own binary with the same
# block size, no compression and no trash. Loads (keep-alive HTTP clients in
# Python threads, a fresh folder per round): PUT then GET of N4K 4 KiB files
# and of N16M 16 MiB files at 1 and 16 clients, and PROPFIND Depth 1 on a
# folder of NMANY entries (filled untimed in the first round, listed 3 times
# per round). Prints per server the median over the rounds, the ratio
# ours / peer, the server's CPU-seconds per GB moved for the 16 MiB loads
# (utime+stime from /proc/PID/stat, Apache's workers included), and its peak
# RSS (VmHWM; for Apache the sum over its processes, which counts shared
# pages more than once). For the 4 KiB loads it prints the server's
# CPU-milliseconds per request as well, which the load on a shared machine
# moves far less than the rate.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JFS_BIN=${JFS_BIN:-$ROOT/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
ROUNDS=${1:-3}
N4K=${N4K:-2000}
N16M=${N16M:-32}
NMANY=${NMANY:-10000}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/dav-bench.XXXXXX")
PIDS=()
# Under set -e the kill of a server already stopped ended the trap before its rm, leaving
# gigabytes behind: no -e here; wait for the servers (bounded), then remove, twice if needed.
cleanup()
{
	local p i
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for i in $(seq 50); do
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && break; done
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	rm -rf "$W" 2>/dev/null || { sleep 1; rm -rf "$W"; }
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat >"$W/load.py" <<'EOF'
import http.client, os, sys, threading, time, json
host, port, kind, rnd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
n4k, n16m, nmany = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
spid = int(sys.argv[8])
HZ = os.sysconf("SC_CLK_TCK")
def cpu():
    """utime+stime of the server and its children (Apache's workers), in seconds."""
    t = 0
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try: f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except OSError: continue
        if int(d) == spid or int(f[1]) == spid: t += int(f[11]) + int(f[12])
    return t / HZ
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
for sz, name, total in ((4096, "4K", n4k), (16 << 20, "16M", n16m)):
    data = os.urandom(sz)
    for n in (1, 16):
        d = f"/r{rnd}b{name}c{n}"
        req(c, "MKCOL", d + "/")
        per = max(1, total // n)
        def put(i, per):
            cc = conn()
            for j in range(per): req(cc, "PUT", f"{d}/f{i}-{j}", data)
        def get(i, per):
            cc = conn()
            for j in range(per): req(cc, "GET", f"{d}/f{i}-{j}")
        for m, fn in (("PUT", put), ("GET", get)):
            c0 = cpu()
            t = run(n, per, fn)
            out[f"{m} {name} x{n}"] = n * per / t if sz < 1 << 20 else n * per * sz / t / (1 << 20)
            # CPU-seconds per GB moved: robust where wall-clock throughput is not
            if sz >= 1 << 20: out[f"{m} {name} x{n} cpu-s/GB"] = (cpu() - c0) / (n * per * sz / 1e9)
            else: out[f"{m} {name} x{n} cpu-ms/op"] = (cpu() - c0) * 1000 / (n * per)
c.close()
if rnd == "1":
    c = conn(); req(c, "MKCOL", "/many/"); c.close()
    def fill(i, per):
        cc = conn()
        for j in range(per): req(cc, "PUT", f"/many/e{i}-{j}", b"x")
    run(16, nmany // 16, fill)
c = conn()
t0 = time.time()
for _ in range(3):
    body = req(c, "PROPFIND", "/many/", None, {"Depth": "1"})
out["PROPFIND d1"] = 3 / (time.time() - t0)
import re
got = len(re.findall(rb"<(?:[A-Za-z0-9]+:)?response[ >]", body))
if got < nmany // 16 * 16: raise SystemExit(f"PROPFIND listed {got} entries")
print(json.dumps(out))
EOF

# start WHO PORT: start one server on its (persistent) volume; sets SPID.
start()
{
	local who=$1 p=$2 dir
	dir=$W/$1
	if [ ! -d "$dir" ]; then
		mkdir -p "$dir"
		case $who in
		ours | base) "$([ "$who" = ours ] && echo "$JFS_BIN" || echo "$JFS_BASE")" format \
			"sqlite3://$dir/m.db" bench --bucket "$dir/data" \
			--block-size 4096 --compress none --trash-days 0 >"$dir/format.log" 2>&1 ;;
		real) "$JFS_REF" format "sqlite3://$dir/m.db" bench --bucket "$dir/data" \
			--block-size 4096 --compress none --trash-days 0 >"$dir/format.log" 2>&1 ;;
		*) mkdir -p "$dir/root" ;;
		esac
	fi
	case $who in
	ours)
		"$JFS_BIN" webdav "sqlite3://$dir/m.db" "127.0.0.1:$p" --cache-dir "$dir/cache" >>"$dir/log" 2>&1 &
		;;
	base)
		"$JFS_BASE" webdav "sqlite3://$dir/m.db" "127.0.0.1:$p" --cache-dir "$dir/cache" >>"$dir/log" 2>&1 &
		;;
	real)
		"$JFS_REF" webdav "sqlite3://$dir/m.db" "127.0.0.1:$p" --cache-dir "$dir/cache" \
			--no-usage-report --log "$dir/log" >>"$dir/out" 2>&1 &
		;;
	rclone)
		rclone serve webdav "$dir/root" --addr "127.0.0.1:$p" >>"$dir/log" 2>&1 &
		;;
	apache)
		chown -R www-data:www-data "$dir/root"
		mkdir -p "$dir/lock" && chown www-data:www-data "$dir/lock"
		chmod 755 "$W" "$dir"
		cat >"$dir/httpd.conf" <<-CONF
			ServerName 127.0.0.1
			ServerRoot /usr/lib/apache2
			Listen 127.0.0.1:$p
			PidFile $dir/httpd.pid
			ErrorLog $dir/error.log
			User www-data
			Group www-data
			LoadModule mpm_event_module modules/mod_mpm_event.so
			LoadModule authz_core_module modules/mod_authz_core.so
			LoadModule dav_module modules/mod_dav.so
			LoadModule dav_fs_module modules/mod_dav_fs.so
			KeepAlive On
			MaxKeepAliveRequests 0
			DAVLockDB $dir/lock/davlock
			DocumentRoot $dir/root
			<Directory $dir/root>
				Dav On
				Require all granted
			</Directory>
		CONF
		apache2 -f "$dir/httpd.conf" -DFOREGROUND >>"$dir/log" 2>&1 &
		;;
	esac
	SPID=$!
	PIDS+=("$SPID")
	for _ in $(seq 1 100); do curl -sf -o /dev/null -X OPTIONS "http://127.0.0.1:$p/" && return; sleep 0.1; done
	echo "$who did not start" >&2
	exit 1
}

# hwm PID: VmHWM in KiB of PID plus its children (Apache's workers).
hwm()
{
	local t=0 c v
	for c in "$1" $(pgrep -P "$1"); do
		v=$(awk '/VmHWM/ {print $2}' "/proc/$c/status" 2>/dev/null || echo 0)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

servers=(ours)
[ -n "${JFS_BASE:-}" ] && servers+=(base)
[ -x "$JFS_REF" ] && servers+=(real)
command -v rclone >/dev/null && servers+=(rclone)
command -v apache2 >/dev/null && [ -f /usr/lib/apache2/modules/mod_dav_fs.so ] && servers+=(apache)
if [ -n "${DAV_SERVERS:-}" ]; then
	keep=()
	for s in "${servers[@]}"; do [[ " $DAV_SERVERS " == *" $s "* ]] && keep+=("$s"); done
	servers=("${keep[@]}")
fi
unset WEBDAV_USER WEBDAV_PASSWORD
for r in $(seq 1 "$ROUNDS"); do
	for s in "${servers[@]}"; do
		p=$(port)
		start "$s" "$p"
		res=$(python3 "$W/load.py" 127.0.0.1 "$p" "$s" "$r" "$N4K" "$N16M" "$NMANY" "$SPID")
		h=$(hwm "$SPID")
		echo "{\"server\": \"$s\", \"round\": $r, \"hwm_kb\": $h, \"res\": $res}" >>"$W/results.jsonl"
		kill "$SPID"
		wait "$SPID" 2>/dev/null || true
		echo "round $r $s done ($(date +%T))" >&2
	done
done
cp "$W/results.jsonl" "${DAV_BENCH_KEEP:-/dev/null}" 2>/dev/null || true
python3 - "$W/results.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
servers = list(dict.fromkeys(r["server"] for r in rows))
keys = list(rows[0]["res"].keys())
med = {s: {k: statistics.median(r["res"][k] for r in rows if r["server"] == s) for k in keys} for s in servers}
hwm = {s: statistics.median(r["hwm_kb"] for r in rows if r["server"] == s) for s in servers}
peers = [s for s in servers if s != "ours"]
print("WebDAV bench: medians of %d rounds; ops/s (4K, PROPFIND), MiB/s (16M)" % (len(rows) // len(servers)))
print("%-26s" % "load" + "".join("%10s" % s for s in servers) + "".join("%13s" % ("ours/" + p) for p in peers))
# A peer's CPU of a short load can be 0 clock ticks (small N4K): no ratio, not a crash.
def ratio(a, b):
    return "%13.2f" % (a / b) if b else "%13s" % "-"
for k in keys:
    print("%-26s" % k + "".join("%10.3f" % med[s][k] for s in servers) +
          "".join(ratio(med["ours"][k], med[p][k]) for p in peers))
print("%-26s" % "VmHWM MiB" + "".join("%10.1f" % (hwm[s] / 1024) for s in servers) +
      "".join(ratio(hwm["ours"], hwm[p]) for p in peers))
EOF
