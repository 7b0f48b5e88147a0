#!/usr/bin/env bash
# Build the libFuzzer targets and run each for a bounded time.
#
#   bash t/fuzz/run.sh [NAME...]        (NAME: sigv4-header, range, ...; default all)
#
# Every t/fuzz/fuzz-<name>.c is built with clang -fsanitize=fuzzer,address,
# undefined against the project's libraries, themselves built with coverage
# and the same sanitizers in their own directory ($FUZZ_BUILD_DIR, default
# ./build-fuzz). Each target then runs for FUZZ_SECONDS (default 20), up to
# FUZZ_JOBS (default 2) at a time, starting from its seed corpus
# t/fuzz/corpus/<name>/ (read only: new inputs go to build-fuzz/corpus/<name>/,
# emptied first unless FUZZ_KEEP_CORPUS=1) with t/fuzz/<name>.dict when there
# is one. A crash, a sanitizer report, a broken contract (FUZZ_CHECK), an
# input that takes over FUZZ_TIMEOUT seconds (default 10: a hang) or a
# process over FUZZ_RSS_MB MiB (default 1024: a blowup) fails the target; the
# input that did it is kept as build-fuzz/artifacts/<name>-crash-... (or
# timeout-, oom-, leak-). For each target one line gives libFuzzer's final
# executions, cov and ft; the last line is "N passed, N failed" over targets.
#
# To run one target longer, and keep what it finds between runs:
#   FUZZ_SECONDS=600 FUZZ_KEEP_CORPUS=1 bash t/fuzz/run.sh range
# and replay a finding with the libFuzzer binary or with make check's driver:
#   build-fuzz/t/fuzz/fuzz-range build-fuzz/artifacts/range-crash-...
#   build/t/fuzz/replay-range build-fuzz/artifacts/range-crash-...
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-1024}
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-g -O1 $SAN"

# The closing line when we cannot even start: one failure, as scripts/test.sh counts.
give_up()
{
	echo "fuzz: $*"
	echo "0 passed, 1 failed"
	exit 1
}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in "$ROOT"/t/fuzz/fuzz-*.c; do
		n=${f##*/fuzz-}
		names+=("${n%.c}")
	done
fi
for n in "${names[@]}"; do
	[ -f "$ROOT/t/fuzz/fuzz-$n.c" ] || give_up "no target t/fuzz/fuzz-$n.c"
done

start=$(date +%s)
command -v "$CC" >/dev/null 2>&1 || give_up "$CC not found (scripts/deps.sh installs clang and libclang-rt-14-dev)"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
"$CC" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >"$probe/err" 2>&1 ||
	give_up "$CC cannot link libFuzzer programs (is libclang-rt-14-dev installed?): $(head -n 3 "$probe/err")"

# The libraries, with coverage for the fuzzer: configure once per flag set.
cd "$ROOT"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null 2>&1 || give_up "autoreconf failed"
fi
mkdir -p "$BUILD"
cd "$BUILD"
want="CC=$CC CFLAGS=$CFLAGS -fsanitize=fuzzer-no-link"
if [ ! -f Makefile ] || [ "$(cat .jfs-fuzz-configure 2>/dev/null)" != "$want" ]; then
	echo "fuzz: configure in ${BUILD#"$ROOT"/}"
	# Warnings are the normal build's business (gcc, -Werror); clang's differ.
	"$ROOT/configure" -q --disable-werror CC="$CC" CFLAGS="$CFLAGS -fsanitize=fuzzer-no-link" \
		>configure.out 2>&1 || give_up "configure failed: $(tail -n 3 configure.out)"
	printf '%s' "$want" >.jfs-fuzz-configure
fi
libs_list="libdav.a libgateway.a libfscore.a libmeta.a libstorage.a libconf.a libbase.a"
# shellcheck disable=SC2086
make -j"$(nproc)" $libs_list >make.out 2>&1 || give_up "building the libraries failed: $(grep -m 3 -E 'error' make.out)"
libs=$(make -s print-fuzz-libs) || give_up "make print-fuzz-libs failed"
extra_cflags=$(pkg-config --cflags openssl 2>/dev/null || true)

mkdir -p t/fuzz artifacts logs corpus results
build_one()
{
	local n=$1
	# shellcheck disable=SC2086
	"$CC" $CFLAGS -fsanitize=fuzzer -I"$ROOT" -D_GNU_SOURCE $extra_cflags \
		"$ROOT/t/fuzz/fuzz-$n.c" -o "t/fuzz/fuzz-$n" $libs -pthread >"logs/$n.build" 2>&1
}

run_one()
{
	local n=$1 res="results/$n" log="logs/$n.log" rc dict=()
	rm -f "$res" artifacts/"$n"-*
	if ! build_one "$n"; then
		echo "FAIL build: $(grep -m 1 -E 'error' "logs/$n.build")" >"$res"
		return
	fi
	[ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "corpus/$n"
	mkdir -p "corpus/$n"
	[ -f "$ROOT/t/fuzz/$n.dict" ] && dict=(-dict="$ROOT/t/fuzz/$n.dict")
	# The outer timeout only guards against libFuzzer itself wedging.
	timeout -k 10 $((FUZZ_SECONDS + FUZZ_TIMEOUT + 120)) "t/fuzz/fuzz-$n" \
		-max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" \
		-print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$n-" ${dict[@]+"${dict[@]}"} \
		"corpus/$n" "$ROOT/t/fuzz/corpus/$n" >"$log" 2>&1
	rc=$?
	local done_line last execs cov ft
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
	# libFuzzer's last status line: DONE after a clean run, else the last before the failure.
	last=$(grep -E '^#[0-9]+[[:space:]].* cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
	ft=$(echo "$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
	if [ "$rc" -eq 0 ] && [ -n "$done_line" ]; then
		echo "ok execs ${execs:-?} cov ${cov:-?} ft ${ft:-?}" >"$res"
	else
		local why
		why=$(grep -m 1 -E 'ERROR: libFuzzer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error|contract broken|fatal at' "$log" |
			sed 's/^==[0-9]*==//')
		echo "FAIL status $rc: ${why:-see $log} execs ${execs:-?} cov ${cov:-?} ft ${ft:-?}" >"$res"
	fi
}

echo "fuzz: ${#names[@]} targets, ${FUZZ_SECONDS} s each, $FUZZ_JOBS at a time"
running=0
for n in "${names[@]}"; do
	if [ "$running" -ge "$FUZZ_JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
	run_one "$n" &
	running=$((running + 1))
done
wait

pass=0
fail=0
for n in "${names[@]}"; do
	r=$(cat "results/$n" 2>/dev/null || echo "FAIL no result")
	case "$r" in
	ok*)
		printf 'fuzz-%-14s %s\n' "$n" "$r"
		pass=$((pass + 1))
		;;
	*)
		printf 'fuzz-%-14s %s\n' "$n" "$r"
		for a in artifacts/"$n"-*; do
			[ -e "$a" ] && echo "#   input: $BUILD/$a"
		done
		# The verdict, then the frames in our own sources.
		{
			grep -E 'contract broken|ERROR:|SUMMARY:|runtime error' "logs/$n.log"
			grep -E "#[0-9]+ 0x[0-9a-f]+ in .* $ROOT/" "logs/$n.log" | head -n 6
		} 2>/dev/null | head -n 12 | sed 's/^/#   /'
		fail=$((fail + 1))
		;;
	esac
done
echo "fuzz took $(($(date +%s) - start)) s in ${BUILD#"$ROOT"/}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
