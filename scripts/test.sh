#!/usr/bin/env bash
# README command 2: install what is missing, build, run the whole suite.
#
#   bash scripts/test.sh [--sanitizers]
#
# Builds in ./build (./build-san with --sanitizers, configured with
# --enable-sanitizers), runs `make check` there, then prints each unit test's
# Check summary line (and each fuzz corpus replay's, t/fuzz/replay-*) and the
# integration results, then those of t/fuzz/run.sh (every libFuzzer target for
# FUZZ_SECONDS, default 20; JFS_FUZZ=0 skips it), which runs at nice 19 beside
# make check (JFS_FUZZ=after: alone, after it), and ends with one line
# "N passed, N failed" over every Check test case, corpus input, integration
# case and fuzz target. Exit status is non-zero when anything failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=build
CONF_ARGS=()
case "${1:-}" in
--sanitizers)
	BUILD_DIR=build-san
	CONF_ARGS=(--enable-sanitizers)
	export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	;;
"") ;;
*)
	echo "usage: bash scripts/test.sh [--sanitizers]" >&2
	exit 2
	;;
esac

start=$(date +%s)
bash "$ROOT/scripts/deps.sh"

if ! bash "$ROOT/scripts/build.sh" --dir "$BUILD_DIR" ${CONF_ARGS[@]+"${CONF_ARGS[@]}"}; then
	echo "test.sh: build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

cd "$ROOT/$BUILD_DIR"
# Stale results must not be counted if a test binary fails to build this time.
rm -f t/unit/*.log t/unit/*.trs t/fuzz/*.log t/fuzz/*.trs t/integ/*.log t/integ/*.trs test-suite.log
rm -f fuzz.out
# The libFuzzer step runs beside make check, at the lowest CPU priority. The
# integration run, the long pole (about 15 minutes on 2 cores), mostly waits
# on servers, timeouts and observation windows and leaves a core and more
# idle; run after it, the fuzzing added 4 to 5 minutes of its own. nice 19
# gives every test process the CPU first and the fuzzers what is left (their
# time budget is wall time, so a busy machine costs executions, not time).
# JFS_FUZZ=after runs it alone after make check instead, with the whole CPU.
fuzz_pid=
if [ "${JFS_FUZZ:-1}" != 0 ] && [ "${JFS_FUZZ:-1}" != after ]; then
	nice -n 19 bash "$ROOT/t/fuzz/run.sh" >fuzz.out 2>&1 </dev/null &
	fuzz_pid=$!
	# Interrupted: stop the driver (each fuzzer ends on its own time limit).
	trap '[ -z "$fuzz_pid" ] || kill "$fuzz_pid" 2>/dev/null' EXIT
fi
check_rc=0
make -j"$(nproc)" check >make-check.out 2>&1 || check_rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' make-check.out || true

pass=0
fail=0
skip=0
echo
echo "== unit tests (Check)"
shopt -s nullglob
units=(t/unit/check_*.log t/fuzz/replay-*.log)
for log in "${units[@]}"; do
	name=${log%.log}
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -n 1 || true)
	result=$(sed -n 's/^:test-result: //p' "$name.trs" 2>/dev/null | head -n 1)
	if [ -z "$line" ] && [ "$result" = SKIP ]; then
		# Exit 77: a peer it was pointed at is missing (e.g. JFS_S3_SERVICE=minio).
		echo "$name: SKIP $(grep -m1 '^SKIP: ' "$log" | cut -c7- || true)"
		skip=$((skip + 1))
		continue
	fi
	if [ -z "$line" ]; then
		echo "$name: no Check summary (result ${result:-none})"
		tail -n 15 "$log" | sed 's/^/#   /'
		fail=$((fail + 1))
		continue
	fi
	echo "$name: $line"
	read -r n f e < <(echo "$line" | sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/')
	pass=$((pass + n - f - e))
	fail=$((fail + f + e))
	# Failing cases, as Check prints them (file:line:F|E:case:...).
	grep -E '^[^ ]+:[0-9]+:[FE]:' "$log" | head -n 30 | sed 's/^/#   /' || true
	# The binary may still fail after its cases pass (e.g. a leak report at exit).
	if [ "$result" != PASS ] && [ $((f + e)) -eq 0 ]; then
		echo "#   $name exited with failure after all cases passed:"
		grep -E 'Sanitizer|runtime error|ERROR' "$log" | head -n 10 | sed 's/^/#   /' || true
		fail=$((fail + 1))
	fi
done
[ ${#units[@]} -gt 0 ] || { echo "no unit test logs: did make check build them?"; fail=$((fail + 1)); }

echo
echo "== integration tests"
ilog=t/integ/run.sh.log
if [ -f "$ilog" ]; then
	cat "$ilog"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$ilog" | tail -n 1 || true)
	if [ -n "$line" ]; then
		read -r p f < <(echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/')
		pass=$((pass + p))
		fail=$((fail + f))
		s=$(sed -nE 's/^integ: [0-9]+ scripts, ([0-9]+) skipped.*/\1/p' "$ilog" | tail -n 1)
		skip=$((skip + ${s:-0}))
	else
		echo "integration run did not finish"
		fail=$((fail + 1))
	fi
else
	echo "integration tests did not run"
	fail=$((fail + 1))
fi

echo
echo "== fuzzing (t/fuzz/run.sh)"
if [ "${JFS_FUZZ:-1}" = 0 ]; then
	echo "skipped: JFS_FUZZ=0"
else
	if [ -n "$fuzz_pid" ]; then
		wait "$fuzz_pid" || true
		fuzz_pid=
	else
		bash "$ROOT/t/fuzz/run.sh" >fuzz.out 2>&1 || true
	fi
	cat fuzz.out
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' fuzz.out | tail -n 1 || true)
	if [ -n "$line" ]; then
		read -r p f < <(echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/')
		pass=$((pass + p))
		fail=$((fail + f))
	else
		echo "fuzz run did not finish"
		fail=$((fail + 1))
	fi
fi

if [ "$check_rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
	echo "make check failed (status $check_rc) without a failing test:"
	tail -n 30 make-check.out
	fail=$((fail + 1))
fi

echo
echo "suite took $(($(date +%s) - start)) s in $BUILD_DIR; $skip skipped"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
