#!/usr/bin/env bash
# Small-file copy with and without --writeback (not a test): our mount and
# the real `juicefs mount`, each plain and with --writeback, run A B C D A B
# C D... with a fresh volume per round.
#
#   bash bench/writeback-bench.sh [ROUNDS]
#   (JFS_BIN, JFS_REF, NFILES, FSIZE, TARGETS="ours ours-wb real real-wb" may override)
#
# Volumes: SQLite + a local directory, 4 MiB blocks, no compression, no trash,
# formatted by their own binary, mounted with a cache dir beside them. The
# load: one python3 process creates NFILES files of FSIZE bytes (open, write,
# close: each close commits the file). Prints, as medians: files/s of the
# copy, the seconds from the copy's start until rawstaging is empty (every
# block uploaded; the copy time for plain mounts) and the mount's VmHWM.
# NB: our staged blocks are fdatasync'd and their directory fsynced before
# the commit; the real client's are not (close + rename only), so it does
# less work per file. Needs root (mount). Never asserts a time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JFS_BIN=${JFS_BIN:-$ROOT/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
ROUNDS=${1:-3}
NFILES=${NFILES:-10000}
FSIZE=${FSIZE:-4096}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/wb-bench.XXXXXX")
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

cat >"$W/copy.py" <<'EOF'
import os, sys, time
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(size)
os.makedirs(d)
t = time.perf_counter()
for i in range(n):
    if i % 1000 == 0:
        sub = os.path.join(d, "d%03d" % (i // 1000))
        os.mkdir(sub)
    fd = os.open(os.path.join(sub, "f%05d" % i), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    os.write(fd, data)
    os.close(fd)
print("%.3f" % (time.perf_counter() - t))
EOF

# staged DIR: block files left in any rawstaging under DIR
staged()
{
	find "$1" -path '*/rawstaging/*' -type f ! -name '*.tmp' 2>/dev/null | wc -l
}

# mount_fs WHO DIR [ARGS...]: format and mount a fresh volume; sets MNT and MPID.
mount_fs()
{
	local who=$1 dir=$2 bin=$JFS_BIN opts=()
	shift 2
	[ "$who" = real ] && bin=$JFS_REF && opts=(--no-usage-report)
	"$bin" format "sqlite3://$dir/m.db" bench --bucket "$dir/data" --block-size 4096 \
		--compress none --trash-days 0 >"$dir/format.log" 2>&1
	MNT=$dir/mnt
	mkdir -p "$MNT"
	"$bin" mount "sqlite3://$dir/m.db" "$MNT" -d --log "$dir/mount.log" --cache-dir "$dir/cache" \
		--buffer-size 300 "${opts[@]}" "$@" >"$dir/mount.out" 2>&1
	MPID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Pid"])' "$MNT/.config")
}

umount_fs()
{
	"$JFS_BIN" umount "$MNT" >/dev/null 2>&1 || "$JFS_REF" umount "$MNT"
	for _ in $(seq 1 300); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
	MNT=
}

read -ra targets <<<"${TARGETS:-ours ours-wb real real-wb}"
[ -x "$JFS_REF" ] || targets=(ours ours-wb)
for r in $(seq 1 "$ROUNDS"); do
	for s in "${targets[@]}"; do
		dir=$W/$s-$r
		mkdir -p "$dir"
		args=()
		[[ $s == *-wb ]] && args=(--writeback)
		mount_fs "${s%-wb}" "$dir" "${args[@]}"
		sync
		t0=$(date +%s.%N)
		copy=$(python3 "$W/copy.py" "$MNT/copy" "$NFILES" "$FSIZE")
		for _ in $(seq 1 6000); do
			[ "$(staged "$dir/cache")" -eq 0 ] && break
			sleep 0.05
		done
		up=$(echo "$(date +%s.%N) - $t0" | bc)
		hwm=$(awk '/VmHWM/ {print $2}' "/proc/$MPID/status")
		umount_fs
		echo "{\"t\": \"$s\", \"copy\": $copy, \"uploaded\": $up, \"hwm_kb\": $hwm}" \
			>>"$W/results.jsonl"
		rm -rf "$dir"
		echo "round $r $s done ($(date +%T))" >&2
	done
done
python3 - "$W/results.jsonl" "$NFILES" "$FSIZE" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
ts = list(dict.fromkeys(r["t"] for r in rows))
def med(t, k): return statistics.median(r[k] for r in rows if r["t"] == t)
def spread(t, k):
    v = [r[k] for r in rows if r["t"] == t]
    return (max(v) - min(v)) / statistics.median(v) * 100 if len(v) > 1 else 0
print("small-file copy: %d files of %s bytes, medians of %d rounds" %
      (n, sys.argv[3], len(rows) // len(ts)))
print("%-10s %12s %8s %14s %10s" % ("mount", "files/s", "spread", "all uploaded s", "VmHWM MiB"))
for t in ts:
    print("%-10s %12.0f %7.0f%% %14.2f %10.1f" % (t, n / med(t, "copy"), spread(t, "copy"),
          med(t, "uploaded"), med(t, "hwm_kb") / 1024))
for a, b in (("ours-wb", "ours"), ("ours-wb", "real-wb"), ("ours", "real")):
    if a in ts and b in ts:
        print("%s/%s files/s: %.2f" % (a, b, med(b, "copy") / med(a, "copy")))
EOF
