#!/usr/bin/env bash
# fscore benchmark: sequential write/read of 1 GiB and 10,000 small files
# through fs.h (bench/fsbench) on a file-backend volume (SQLite metadata,
# no compression, no trash, no disk cache), side by side with the same disk
# used directly: dd (and fio when installed) for the sequential phases, the
# same small-file loop with POSIX calls (fsbench --local) for small files.
# Rounds alternate ours/peer (A B A B ...); the table shows medians of the
# rounds and ours/peer. It never asserts anything (bench/README.md).
#
# usage: bench/fscore-bench.sh [BUILD-DIR] [WORK-DIR]
#   BUILD-DIR: where juicefs and bench/fsbench are built (default: .); the
#              script runs `make bench` there when fsbench is missing
#   WORK-DIR:  scratch directory on the disk to measure (default /tmp/fscore-bench)
# env: ROUNDS (3), SEQ_MIB (1024), SMALL_N (10000), SMALL_SIZE (4096)
set -eu

BUILD=$(cd "${1:-.}" && pwd)
WORK=${2:-/tmp/fscore-bench}
ROUNDS=${ROUNDS:-3}
SEQ_MIB=${SEQ_MIB:-1024}
SMALL_N=${SMALL_N:-10000}
SMALL_SIZE=${SMALL_SIZE:-4096}
JFS=$BUILD/juicefs
FSB=$BUILD/bench/fsbench

[ -x "$FSB" ] || make -C "$BUILD" bench >/dev/null
[ -x "$JFS" ] || make -C "$BUILD" juicefs >/dev/null

rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
RES=$WORK/results
: >"$RES"

drop_caches()
{
	sync
	if [ -w /proc/sys/vm/drop_caches ] && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
		CACHES=dropped
	else
		CACHES=warm
	fi
}

# record NAME LINE: keep mibps, opsps, vmhwm of one fsbench/dd result
record()
{
	echo "$1 $2" >>"$RES"
}

fresh_volume()
{
	rm -rf "$WORK/vol.db" "$WORK/bk"
	"$JFS" format "sqlite3://$WORK/vol.db" benchvol --bucket "$WORK/bk" --trash-days 0 \
		>/dev/null 2>&1
}

dd_mibps()
{
	# dd prints "... bytes (...) copied, S s, X MB/s"; recompute MiB/s from bytes and seconds
	sed -nE 's/^([0-9]+) bytes.*copied, ([0-9.]+) s.*/\1 \2/p' "$1" |
		awk '{ printf "%.1f", $1 / 1048576 / $2 }'
}

have_fio=0
command -v fio >/dev/null 2>&1 && have_fio=1

for round in $(seq 1 "$ROUNDS"); do
	echo "# round $round/$ROUNDS" >&2
	# ---- sequential 1 GiB: ours, then dd, then fio
	fresh_volume
	drop_caches
	record ours_seqwrite "$("$FSB" "sqlite3://$WORK/vol.db" seqwrite /big "$SEQ_MIB")"
	drop_caches
	record ours_seqread "$("$FSB" "sqlite3://$WORK/vol.db" seqread /big)"
	fresh_volume

	drop_caches
	dd if=/dev/zero of="$WORK/dd.out" bs=1M count="$SEQ_MIB" conv=fsync 2>"$WORK/dd.log"
	record dd_seqwrite "mibps=$(dd_mibps "$WORK/dd.log")"
	drop_caches
	dd if="$WORK/dd.out" of=/dev/null bs=1M 2>"$WORK/dd.log"
	record dd_seqread "mibps=$(dd_mibps "$WORK/dd.log")"
	rm -f "$WORK/dd.out"

	if [ "$have_fio" -eq 1 ]; then
		drop_caches
		fio --name=w --filename="$WORK/fio.out" --rw=write --bs=1M --size="${SEQ_MIB}M" \
			--end_fsync=1 --ioengine=psync --output-format=terse --terse-version=3 \
			>"$WORK/fio.log" 2>&1
		# terse v3: field 48 = write bandwidth KiB/s
		record fio_seqwrite "mibps=$(awk -F';' '{ printf "%.1f", $48 / 1024 }' "$WORK/fio.log")"
		drop_caches
		fio --name=r --filename="$WORK/fio.out" --rw=read --bs=1M --size="${SEQ_MIB}M" \
			--ioengine=psync --output-format=terse --terse-version=3 >"$WORK/fio.log" 2>&1
		# field 7 = read bandwidth KiB/s
		record fio_seqread "mibps=$(awk -F';' '{ printf "%.1f", $7 / 1024 }' "$WORK/fio.log")"
		rm -f "$WORK/fio.out"
	fi

	# ---- 10,000 small files: ours, then the local POSIX loop
	fresh_volume
	drop_caches
	record ours_smallwrite "$("$FSB" "sqlite3://$WORK/vol.db" smallwrite /small "$SMALL_N" "$SMALL_SIZE")"
	drop_caches
	record ours_smallread "$("$FSB" "sqlite3://$WORK/vol.db" smallread /small "$SMALL_N")"
	fresh_volume
	drop_caches
	record local_smallwrite "$("$FSB" --local "$WORK/local" smallwrite small "$SMALL_N" "$SMALL_SIZE")"
	drop_caches
	record local_smallread "$("$FSB" --local "$WORK/local" smallread small "$SMALL_N")"
	rm -rf "$WORK/local"
done

# median FIELD NAME
median()
{
	grep "^$2 " "$RES" | sed -nE "s/.* $1=([0-9.]+).*/\1/p; s/^$2 $1=([0-9.]+).*/\1/p" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'
}

echo
echo "fscore bench: $ROUNDS rounds, medians; disk: $(df -P "$WORK" | awk 'NR == 2 { print $1 }') ($WORK), page cache $CACHES between phases"
printf "%-28s %12s %12s %12s %10s %10s\n" "load" "ours" "dd" "fio/local" "ours/dd" "ours/peer"
for ph in seqwrite seqread; do
	o=$(median mibps "ours_$ph")
	d=$(median mibps "dd_$ph")
	f=$(median mibps "fio_$ph")
	printf "%-28s %12s %12s %12s %10s %10s\n" "$ph ${SEQ_MIB} MiB (MiB/s)" "$o" "$d" "$f" \
		"$(ratio "$o" "$d")" "$(ratio "$o" "$f")"
done
for ph in smallwrite smallread; do
	o=$(median opsps "ours_$ph")
	l=$(median opsps "local_$ph")
	printf "%-28s %12s %12s %12s %10s %10s\n" "$ph $SMALL_N x $SMALL_SIZE B (ops/s)" "$o" "-" "$l" \
		"-" "$(ratio "$o" "$l")"
done
echo
echo "peak RSS of ours (VmHWM, median, KiB; --buffer-size 300 MiB):"
for ph in seqwrite seqread smallwrite smallread; do
	printf "  %-12s %s\n" "$ph" "$(median vmhwm_kib "ours_$ph")"
done
