#!/usr/bin/env bash
# The mount's internal files (.config, .stats) read by many processes at
# once, each read followed by close: a read reply must not point into
# memory that the close (RELEASE, served on another FUSE worker thread) may
# free. The kernel copies the reply inside writev, so an optimised build
# shows nothing; a sanitizer build checks the buffer after writev returns,
# and the mount used to die there with a heap-use-after-free (seen in
# t3102 under load). Every reader also checks the bytes it got.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse

fformat intread
fmount "$META" "$T/a"
[ "$RC" -eq 0 ] || { t_fail "mount" "$(last_run)"; t_done; }
cat "$T/a/.config" >"$T/config"
jq -e .Pid "$T/config" >/dev/null && t_ok ".config reads as JSON" ||
	t_fail ".config reads as JSON" "$(head -c 200 "$T/config")"

# Small reads end each file in several replies; the last one races the close.
for j in 1 2 3 4; do
	(
		bad=0
		for i in $(seq 300); do
			dd if="$T/a/.config" bs=64 status=none 2>>"$T/rd$j.err" | cmp -s - "$T/config" ||
				bad=$((bad + 1))
			dd if="$T/a/.stats" bs=512 of=/dev/null status=none 2>>"$T/rd$j.err" ||
				bad=$((bad + 1))
		done
		echo "$bad" >"$T/rd$j.bad"
	) &
done
wait
bad=$(cat "$T"/rd?.bad | paste -sd+ | bc)
[ "$bad" -eq 0 ] && t_ok "2400 concurrent reads of .config and .stats, each byte-exact" ||
	t_fail "concurrent reads of .config and .stats" "$bad bad reads" "$(head -n 3 "$T"/rd?.err)"
[ "$(stat -c %i "$T/a" 2>/dev/null)" = 1 ] && t_ok "the mount still answers" ||
	t_fail "the mount still answers" "$(tail -n 5 "$T/a.log")"
fumount "$T/a"
fcheck_logs
t_done
