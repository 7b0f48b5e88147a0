#!/usr/bin/env bash
# FUSE mount, fsx-style random test (t/integ/fsx.py): random writes,
# truncates, reads, mmap reads/writes and punch holes against a model file,
# compared after each step. Bounded here; soak with FSX_OPS=100000 (and
# FSX_SEED to replay a failure).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
OPS=${FSX_OPS:-1000}
SEED=${FSX_SEED:-$RANDOM}

for comp in none lz4; do
	fformat "fsx-$comp" --compress "$comp" --block-size 1M
	M=$T/mnt-$comp
	fmount "$META" "$M"
	if [ "$RC" -ne 0 ]; then
		t_fail "mount ($comp)" "$(last_run)"
		continue
	fi
	# small file: many ops inside one block; large: across 64 MiB chunks
	run timeout 200 python3 "$JFS_SRCDIR/t/integ/fsx.py" "$M/small" "$OPS" "$SEED" $((3 << 20))
	[ "$RC" -eq 0 ] && t_ok "fsx $OPS ops, 3 MiB file, compress $comp: $(tail -n 1 "$T/out")" ||
		t_fail "fsx 3 MiB file ($comp)" "$(cat "$T/out" "$T/err" | tail -n 18)"
	run timeout 200 python3 "$JFS_SRCDIR/t/integ/fsx.py" "$M/large" $((OPS / 10)) "$SEED" $((70 << 20))
	[ "$RC" -eq 0 ] && t_ok "fsx $((OPS / 10)) ops, 70 MiB file across two chunks, compress $comp" ||
		t_fail "fsx 70 MiB file ($comp)" "$(cat "$T/out" "$T/err" | tail -n 18)"
	fumount "$M"
done
fcheck_logs
t_done
