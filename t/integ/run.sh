#!/usr/bin/env bash
# Integration test runner: runs every t/integ/tNNNN-*.sh in order, each under
# `timeout 300`, passes its TAP-ish output through, and counts the results.
#
# Environment (set by `make check`; guessed from the layout when run by hand):
#   JFS_BIN     our juicefs binary
#   JFS_MKTREE  t/tools/jfs-mktree
#   JFS_SRCDIR  the source tree
#   JFS_INTEG_ONLY  optional pattern (shell glob on the script name), e.g. 't1*'
# Counting: "ok" is a pass, "not ok" a failure, "ok ... # SKIP" and a
# "SKIP: reason" line (whole script skipped) a skip. A script that exits
# non-zero without reporting a failure, times out, or reports nothing counts
# as one failure. Each script ends with a "-- name: ... (N s)" line; before
# the last lines, "integ took N s; slowest: ..." names where the time went.
# The last line is "N passed, N failed".
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${JFS_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${JFS_BIN:=$PWD/juicefs}"
: "${JFS_MKTREE:=$PWD/t/tools/jfs-mktree}"
export JFS_SRCDIR JFS_BIN JFS_MKTREE

pass=0
fail=0
skip=0
nscripts=0
failed_scripts=()
times=()
run_start=$(date +%s)
log=$(mktemp /tmp/jfs-integ-run.XXXXXX)
# What scripts may share within this run (lib.sh's db_template_*), gone at its end.
JFS_INTEG_CACHE=$(mktemp -d /tmp/jfs-integ-cache.XXXXXX)
export JFS_INTEG_CACHE
trap 'rm -f "$log"; rm -rf "$JFS_INTEG_CACHE"' EXIT

for t in "$JFS_SRCDIR"/t/integ/t[0-9][0-9][0-9][0-9]-*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t")
	# shellcheck disable=SC2053
	[[ -n "${JFS_INTEG_ONLY:-}" && $name != ${JFS_INTEG_ONLY} ]] && continue
	nscripts=$((nscripts + 1))
	echo "== $name"
	start=$(date +%s)
	rc=0
	timeout -k 10 300 bash "$t" >"$log" 2>&1 </dev/null || rc=$?
	cat "$log"
	p=$(grep -cE '^ok [0-9]+' "$log" | head -n1)
	s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$log" | head -n1)
	f=$(grep -cE '^not ok [0-9]+' "$log" | head -n1)
	S=$(grep -cE '^SKIP: ' "$log" | head -n1)
	p=$((p - s))
	s=$((s + S))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "not ok - $name timed out after 300 s"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc without reporting a failure"
		f=$((f + 1))
	elif [ $((p + f + s)) -eq 0 ]; then
		echo "not ok - $name reported no result"
		f=$((f + 1))
	fi
	took=$(($(date +%s) - start))
	times+=("$took ${name%%-*}")
	echo "-- $name: $p passed, $f failed, $s skipped ($took s)"
	pass=$((pass + p))
	fail=$((fail + f))
	skip=$((skip + s))
	[ "$f" -eq 0 ] || failed_scripts+=("$name")
done

slowest=$(printf '%s\n' ${times[@]+"${times[@]}"} | sort -rn | head -n 10 |
	awk '{ printf "%s%s %d s", (NR > 1 ? ", " : ""), $2, $1 }')
echo "integ took $(($(date +%s) - run_start)) s; slowest: ${slowest:-none}"
echo "integ: $nscripts scripts, $skip skipped${failed_scripts[*]:+, failures in: ${failed_scripts[*]}}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$nscripts" -gt 0 ]
