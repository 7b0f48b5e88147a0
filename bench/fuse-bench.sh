#!/usr/bin/env bash
# FUSE benchmark (not a test): our `juicefs mount`, the real `juicefs mount`
# and the bare local disk, run A B C A B C... with a fresh volume per round.
#
#   bash bench/fuse-bench.sh [ROUNDS]     (JFS_BIN, JFS_REF, SIZE, NFILES may override)
#
# Both volumes are SQLite + a local directory under the same parent, formatted
# by their own binary with the same block size (4 MiB), no compression and no
# trash, and mounted with the same cache dir layout and buffer size. Loads:
# fio sequential write then read, 4 MiB blocks, 1 and 4 jobs, SIZE per job
# (buffered I/O, end_fsync on write; page cache dropped before every read);
# then 10,000 4 KiB files created, stat'ed, read and unlinked by one python3
# process (caches dropped before stat and before read); then `tar -x` of a
# 20,000-file tree (NTAR; 0-16 KiB files in 600 directories, made once per
# run). Prints medians over the rounds, ours/peer ratios, the mount process's
# CPU seconds per GiB written by fio (user+system, from /proc) and its peak
# RSS (VmHWM).
# Needs root (mount, drop_caches) and fio. Never asserts a time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JFS_BIN=${JFS_BIN:-$ROOT/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
ROUNDS=${1:-3}
SIZE=${SIZE:-1g}
NFILES=${NFILES:-10000}
NTAR=${NTAR:-20000}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/fuse-bench.XXXXXX")
MNT=
MPID=
cleanup()
{
	if [ -n "$MNT" ] && mountpoint -q "$MNT"; then
		"$JFS_BIN" umount "$MNT" >/dev/null 2>&1 || umount -l "$MNT" 2>/dev/null || true
	fi
	rm -rf "$W"
}
trap cleanup EXIT

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

cat >"$W/small.py" <<'EOF'
import json, os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
data = os.urandom(4096)
names = [os.path.join(d, "f%05d" % i) for i in range(n)]
def drop():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f: f.write("3")
out = {}
os.makedirs(d)
t = time.perf_counter()
for p in names:
    fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    os.write(fd, data); os.close(fd)
out["create 4K"] = n / (time.perf_counter() - t)
drop()
t = time.perf_counter()
for p in names: os.stat(p)
out["stat"] = n / (time.perf_counter() - t)
drop()
t = time.perf_counter()
for p in names:
    fd = os.open(p, os.O_RDONLY)
    if len(os.read(fd, 8192)) != 4096: raise SystemExit("short read " + p)
    os.close(fd)
out["read 4K"] = n / (time.perf_counter() - t)
t = time.perf_counter()
for p in names: os.unlink(p)
out["unlink"] = n / (time.perf_counter() - t)
os.rmdir(d)
print(json.dumps(out))
EOF

# fio_run NAME RW JOBS DIR: MiB/s (aggregate) of one fio job group.
fio_run()
{
	local name=$1 rw=$2 jobs=$3 dir=$4 extra=()
	[ "$rw" = write ] && extra=(--end_fsync=1)
	fio --name="$name" --directory="$dir" --rw="$rw" --bs=4m --size="$SIZE" \
		--numjobs="$jobs" --group_reporting --ioengine=psync "${extra[@]}" \
		--output-format=json >"$W/fio.json"
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; k=sys.argv[2]
print("%.1f" % (j[k]["bw_bytes"] / 1048576))' "$W/fio.json" "$rw"
}

# cpu_ticks PID: user + system clock ticks the process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# The tree for the tar load: made once, extracted into every target.
python3 - "$W/tree" "$NTAR" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 200), "s%d" % (i % 3))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randrange(0, 16385)))
EOF
tar -C "$W/tree" -cf "$W/tree.tar" .
rm -rf "$W/tree"

# mount_fs WHO DIR: format and mount a fresh volume; sets MNT and MPID.
mount_fs()
{
	local who=$1 dir=$2 bin=$JFS_BIN opts=()
	[ "$who" = real ] && bin=$JFS_REF && opts=(--no-usage-report)
	"$bin" format "sqlite3://$dir/m.db" bench --bucket "$dir/data" --block-size 4096 \
		--compress none --trash-days 0 >"$dir/format.log" 2>&1
	MNT=$dir/mnt
	mkdir -p "$MNT"
	"$bin" mount "sqlite3://$dir/m.db" "$MNT" -d --log "$dir/mount.log" --cache-dir "$dir/cache" \
		--buffer-size 300 "${opts[@]}" >"$dir/mount.out" 2>&1
	MPID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Pid"])' "$MNT/.config")
}

umount_fs()
{
	"$JFS_BIN" umount "$MNT" >/dev/null 2>&1 || "$JFS_REF" umount "$MNT"
	for _ in $(seq 1 200); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
	MNT=
}

targets=(ours real disk)
[ -x "$JFS_REF" ] || targets=(ours disk)
for r in $(seq 1 "$ROUNDS"); do
	for s in "${targets[@]}"; do
		dir=$W/$s-$r
		mkdir -p "$dir"
		hwm=0
		if [ "$s" = disk ]; then
			fsdir=$dir/plain
			mkdir -p "$fsdir"
		else
			mount_fs "$s" "$dir"
			fsdir=$MNT/bench
			mkdir -p "$fsdir"
		fi
		res="{"
		for j in 1 4; do
			drop
			[ "$s" != disk ] && c0=$(cpu_ticks "$MPID")
			w=$(fio_run "seq$j" write "$j" "$fsdir")
			if [ "$s" != disk ]; then
				c1=$(cpu_ticks "$MPID")
				res+="\"CPU s/GiB write x$j\": $(python3 -c 'import sys
s = sys.argv[4]; gib = int(s[:-1]) * {"k": 2**-20, "m": 2**-10, "g": 1}[s[-1].lower()] * int(sys.argv[5])
print("%.3f" % ((int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]) / gib))' \
					"$c0" "$c1" "$HZ" "$SIZE" "$j"), "
			fi
			drop
			rd=$(fio_run "seq$j" read "$j" "$fsdir")
			rm -f "$fsdir"/seq"$j".*
			res+="\"fio write x$j\": $w, \"fio read x$j\": $rd, "
		done
		drop
		sm=$(python3 "$W/small.py" "$fsdir/small" "$NFILES")
		mkdir -p "$fsdir/tar"
		t0=$(date +%s.%N)
		tar -C "$fsdir/tar" -xf "$W/tree.tar"
		sync -f "$fsdir/tar"
		t1=$(date +%s.%N)
		res+="\"tar -x files/s\": $(python3 -c 'import sys
print("%.1f" % (int(sys.argv[3]) / (float(sys.argv[2]) - float(sys.argv[1]))))' "$t0" "$t1" "$NTAR"), "
		rm -rf "$fsdir/tar"
		res+="\"_\": 0}"
		if [ "$s" != disk ]; then
			hwm=$(awk '/VmHWM/ {print $2}' "/proc/$MPID/status")
			umount_fs
		fi
		python3 -c 'import json,sys; a=json.loads(sys.argv[1]); a.pop("_"); a.update(json.loads(sys.argv[2]))
print(json.dumps({"t": sys.argv[3], "round": int(sys.argv[4]), "hwm_kb": int(sys.argv[5]), "res": a}))' \
			"$res" "$sm" "$s" "$r" "$hwm" >>"$W/results.jsonl"
		rm -rf "$dir"
		echo "round $r $s done ($(date +%T))" >&2
	done
done
cp "$W/results.jsonl" "${FUSE_BENCH_KEEP:-/dev/null}" 2>/dev/null || true
python3 - "$W/results.jsonl" "$SIZE" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ts = list(dict.fromkeys(r["t"] for r in rows))
keys = list(rows[0]["res"].keys())
rounds = len(rows) // len(ts)
# The disk has no CPU figure: a key missing for a target prints as "-".
med = {t: {k: statistics.median(r["res"][k] for r in rows if r["t"] == t)
           for k in keys if all(k in r["res"] for r in rows if r["t"] == t)} for t in ts}
cell = lambda v, w, f: ("%" + str(w) + f) % v if v is not None else "%*s" % (w, "-")
hwm = {t: statistics.median(r["hwm_kb"] for r in rows if r["t"] == t) for t in ts}
ratios = [p for p in ("real", "disk") if p in ts]
print("FUSE bench: medians of %d rounds; fio %s per job, MiB/s; small files ops/s" % (rounds, sys.argv[2]))
print("%-20s" % "load" + "".join("%10s" % t for t in ts) + "".join("%12s" % ("ours/" + p) for p in ratios))
for k in keys:
    print("%-20s" % k + "".join(cell(med[t].get(k), 10, ".2f" if "CPU" in k else ".1f") for t in ts) +
          "".join(cell(med["ours"][k] / med[p][k] if k in med[p] else None, 12, ".2f")
                  for p in ratios))
print("%-20s" % "VmHWM MiB" + "".join("%10.1f" % (hwm[t] / 1024) for t in ts) +
      ("%12.2f" % (hwm["ours"] / hwm["real"]) if "real" in ts else ""))
EOF
