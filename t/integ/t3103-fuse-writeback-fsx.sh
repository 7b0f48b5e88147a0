#!/usr/bin/env bash
# fsx (t/integ/fsx.py) through a --writeback mount with --upload-delay 3s:
# random writes, truncates, mmap and punch holes, so reads hit blocks that
# are staged, being uploaded, uploaded (then read-cache files), and slices
# that are compacted or dropped before their upload (chunk.h S2-S5). After
# the uploads, rawstaging is empty, a remount without --writeback (and with
# a fresh cache dir: the object store alone) reads the same bytes, fsck is
# clean and gc finds no leaked object.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
OPS=${FSX_OPS:-1000}
SEED=${FSX_SEED:-$RANDOM}

for comp in none zstd; do
	fformat "wbfsx-$comp" --compress "$comp" --block-size 1M
	M=$T/mnt-$comp
	fmount "$META" "$M" --writeback --upload-delay 3s
	if [ "$RC" -ne 0 ]; then
		t_fail "writeback mount ($comp)" "$(last_run)"
		continue
	fi
	run timeout 200 python3 "$JFS_SRCDIR/t/integ/fsx.py" "$M/small" "$OPS" "$SEED" $((3 << 20))
	[ "$RC" -eq 0 ] && t_ok "writeback fsx $OPS ops, 3 MiB file, compress $comp: $(tail -n 1 "$T/out")" ||
		t_fail "writeback fsx 3 MiB file ($comp)" "$(cat "$T/out" "$T/err" | tail -n 18)"
	run timeout 200 python3 "$JFS_SRCDIR/t/integ/fsx.py" "$M/large" $((OPS / 10)) "$SEED" $((70 << 20))
	[ "$RC" -eq 0 ] && t_ok "writeback fsx $((OPS / 10)) ops, 70 MiB file, compress $comp" ||
		t_fail "writeback fsx 70 MiB file ($comp)" "$(cat "$T/out" "$T/err" | tail -n 18)"
	sum_wb=$(sha256sum "$M/small" "$M/large" 2>&1 | cut -c1-64)
	for i in $(seq 300); do
		[ "$(find "$T/cache" -path '*/rawstaging/*' -type f | wc -l)" -eq 0 ] && break
		sleep 0.1
	done
	left=$(find "$T/cache" -path '*/rawstaging/*' -type f | wc -l)
	[ "$left" -eq 0 ] && t_ok "every staged block is uploaded or dropped ($comp)" ||
		t_fail "rawstaging drained ($comp)" "$left files left"
	fumount "$M"
	fmount "$META" "$M" --cache-dir "$T/cache2-$comp"
	sum_plain=$(sha256sum "$M/small" "$M/large" 2>&1 | cut -c1-64)
	[ "$RC" -eq 0 ] && [ -n "$sum_wb" ] && [ "$sum_wb" = "$sum_plain" ] &&
		t_ok "the object store alone gives the same bytes ($comp)" ||
		t_fail "same bytes from the object store ($comp)" "$sum_wb" "$sum_plain"
	fumount "$M"
	jfs fsck "$META"
	[ "$RC" -eq 0 ] && t_ok "fsck is clean ($comp)" || t_fail "fsck ($comp)" "$(last_run)"
	# slices dropped while staged or uploading must not leave objects behind (S5)
	JFS_GC_SKIPPEDTIME=0 jfs gc "$META"
	[ "$RC" -eq 0 ] && grep -q ", 0 leaked (0 bytes)" "$T/err" &&
		t_ok "gc finds no leaked object ($comp)" || t_fail "gc ($comp)" "$(last_run)"
done
fcheck_logs
t_done
