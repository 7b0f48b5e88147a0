#!/usr/bin/env bash
# Cost of encryption at rest (issue 16 §1; not a test, it never asserts a time).
#
# Three volumes formatted by our binary the same way (SQLite metadata,
# local-dir data, 4 MiB blocks, no compression, trash off): plain,
# aes256gcm-rsa and chacha20-rsa (a 2048-bit key from openssl genrsa). One
# 64 MiB random file is written into each through our gateway. Rounds go
# plain, aes, chacha; each round measures, with no disk cache (--cache-size
# 0, so every block is read from the bucket and opened):
#   get64m   one 64 MiB S3 GET through our gateway (curl -o /dev/null)
#   fuse64m  a sequential read of the file through a fresh mount of ours
#            (dd bs=1M; the mount is new each round, so the page cache is cold)
# The table shows the median MiB/s of each over the rounds and the ratio to
# plain. Target (issue 16): encrypted within 15% of plain (AES-NI).
# On a shared machine the MiB/s mostly measure the other loads, so the
# serving process's CPU is shown too, which the load hardly moves: cpu is
# its CPU-seconds per GiB read, top its busiest thread's. With a free core
# per busy thread, top bounds the speed; with every core busy, cpu does.
#
# Usage: bench/encrypt-bench.sh [ROUNDS]     env: JFS_BIN, KEEP=1 keeps the scratch dir
set -u

ROUNDS=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
JFS_BIN=${JFS_BIN:-$here/build/juicefs}
export MINIO_ROOT_USER=benchadmin MINIO_ROOT_PASSWORD=benchsecret123

die() { echo "encrypt-bench: $*" >&2; exit 1; }
[ -x "$JFS_BIN" ] || die "no binary at $JFS_BIN (set JFS_BIN)"
command -v openssl >/dev/null || die "openssl missing"
have_fuse=1
{ [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; } || have_fuse=0

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /tmp/encrypt-bench.XXXXXX)
PIDS=()
MNTS=()
cleanup()
{
	local p m
	for m in "${MNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ "${KEEP:-0}" = 1 ] && echo "scratch kept in $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

S3C=(curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD")

openssl genrsa -out "$W/key.pem" 2048 2>/dev/null || die "openssl genrsa failed"
head -c $((64 << 20)) /dev/urandom >"$W/src"
KINDS=(plain aes chacha)
declare -A PORT GWPID
for k in "${KINDS[@]}"; do
	args=()
	case $k in
	aes) args=(--encrypt-rsa-key "$W/key.pem" --encrypt-algo aes256gcm-rsa) ;;
	chacha) args=(--encrypt-rsa-key "$W/key.pem" --encrypt-algo chacha20-rsa) ;;
	esac
	"$JFS_BIN" format "sqlite3://$W/$k.db" "v$k" --bucket "$W/b-$k" --trash-days 0 "${args[@]}" \
		>"$W/format-$k.log" 2>&1 || die "format $k: $(tail -n 1 "$W/format-$k.log")"
	p=$(free_port)
	"$JFS_BIN" gateway "sqlite3://$W/$k.db" "127.0.0.1:$p" --no-banner --cache-size 0 \
		>"$W/gw-$k.log" 2>&1 &
	PIDS+=($!)
	GWPID[$k]=$!
	PORT[$k]=$p
	wait_http "$p" || die "gateway $k did not start"
	code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$W/src" "http://127.0.0.1:$p/v$k/f")
	[ "$code" = 200 ] || die "PUT into $k: $code"
done

# ticks PID: "tid cpu-ns" of each of its threads (schedstat: ns, not 10 ms ticks)
ticks()
{
	local t
	for t in /proc/"$1"/task/*; do
		awk -v t="${t##*/}" '{ print t, $1 }' "$t/schedstat" 2>/dev/null
	done
}
# cpu BEFORE AFTER: "total busiest" CPU-seconds per GiB over 64 MiB, from two ticks lists
cpu()
{
	awk 'NR == FNR { a[$1] = $2; next }
		{ d = $2 - a[$1]; tot += d; if (d > top) top = d }
		END { printf "%.2f %.2f", tot / 1e9 * 16, top / 1e9 * 16 }' "$1" "$2"
}
# mibs SECONDS: 64 MiB over that time, in MiB/s
mibs() { awk -v s="$1" 'BEGIN { printf "%.0f", 64 / s }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A GET FUSE GCPU GTOP FCPU FTOP
for r in $(seq 1 "$ROUNDS"); do
	for k in "${KINDS[@]}"; do
		ticks "${GWPID[$k]}" >"$W/t0"
		t=$("${S3C[@]}" -o /dev/null -w '%{time_total}' "http://127.0.0.1:${PORT[$k]}/v$k/f")
		ticks "${GWPID[$k]}" >"$W/t1"
		GET[$k]+="$(mibs "$t") "
		read -r c1 c2 < <(cpu "$W/t0" "$W/t1")
		GCPU[$k]+="$c1 "
		GTOP[$k]+="$c2 "
		if [ "$have_fuse" = 1 ]; then
			mp=$W/mnt-$k
			mkdir -p "$mp"
			"$JFS_BIN" mount "sqlite3://$W/$k.db" "$mp" -d --cache-size 0 \
				--log "$W/mnt-$k.log" >/dev/null 2>&1 || die "mount $k"
			MNTS+=("$mp")
			mpid=$(ps -eo pid=,args= | awk -v m=" $mp " 'index($0 " ", m) && / mount / { print $1; exit }')
			[ -n "$mpid" ] && ticks "$mpid" >"$W/t0"
			s=$(date +%s.%N)
			dd if="$mp/f" of=/dev/null bs=1M 2>/dev/null
			e=$(date +%s.%N)
			FUSE[$k]+="$(mibs "$(awk -v a="$s" -v b="$e" 'BEGIN { print b - a }')") "
			if [ -n "$mpid" ]; then
				ticks "$mpid" >"$W/t1"
				read -r c1 c2 < <(cpu "$W/t0" "$W/t1")
				FCPU[$k]+="$c1 "
				FTOP[$k]+="$c2 "
			fi
			"$JFS_BIN" umount "$mp" >/dev/null 2>&1
		fi
	done
done

echo "# encrypt-bench: $ROUNDS rounds, 64 MiB, no block cache, $(nproc) CPUs," \
	"$(grep -q ' aes ' /proc/cpuinfo && echo AES-NI || echo no AES-NI), load average $(cut -d' ' -f1-3 /proc/loadavg)"
med() { echo "$1" | tr ' ' '\n' | grep . | median; }
# CPU figures: the mean over the rounds (one 64 MiB read is a few 10 ms ticks)
mean() { echo "$1" | tr ' ' '\n' | grep . | awk '{ s += $1 } END { if (NR) printf "%.2f", s / NR; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
printf '%-8s %8s %6s %5s %5s   %8s %6s %5s %5s\n' kind 'get MiB/s' ratio cpu top 'fuse MiB/s' ratio cpu top
g0=$(med "${GET[plain]}")
f0=$(med "${FUSE[plain]:-0}")
for k in "${KINDS[@]}"; do
	g=$(med "${GET[$k]}")
	f=$(med "${FUSE[$k]:-0}")
	printf '%-8s %8s %6s %5s %5s   %8s %6s %5s %5s\n' "$k" "$g" "$(ratio "$g" "$g0")" \
		"$(mean "${GCPU[$k]}")" "$(mean "${GTOP[$k]}")" "$f" "$(ratio "$f" "$f0")" \
		"$(mean "${FCPU[$k]:-}")" "$(mean "${FTOP[$k]:-}")"
done
echo "# cpu, top: CPU-seconds per GiB of the serving process, and of its busiest thread"
