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

free_port()
{
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http()
{
	local i
	for i in $(seq 1 200); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.05
	done
	return 1
}
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

# mibs SECONDS: 64 MiB over that time, in MiB/s
mibs() { awk -v s="$1" 'BEGIN { printf "%.0f", 64 / s }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A GET FUSE
for r in $(seq 1 "$ROUNDS"); do
	for k in "${KINDS[@]}"; do
		t=$("${S3C[@]}" -o /dev/null -w '%{time_total}' "http://127.0.0.1:${PORT[$k]}/v$k/f")
		GET[$k]+="$(mibs "$t") "
		if [ "$have_fuse" = 1 ]; then
			mp=$W/mnt-$k
			mkdir -p "$mp"
			"$JFS_BIN" mount "sqlite3://$W/$k.db" "$mp" -d --cache-size 0 \
				--log "$W/mnt-$k.log" >/dev/null 2>&1 || die "mount $k"
			MNTS+=("$mp")
			s=$(date +%s.%N)
			dd if="$mp/f" of=/dev/null bs=1M 2>/dev/null
			e=$(date +%s.%N)
			FUSE[$k]+="$(mibs "$(awk -v a="$s" -v b="$e" 'BEGIN { print b - a }')") "
			"$JFS_BIN" umount "$mp" >/dev/null 2>&1
		fi
	done
done

echo "# encrypt-bench: $ROUNDS rounds, 64 MiB, no block cache, $(nproc) CPUs," \
	"$(grep -q ' aes ' /proc/cpuinfo && echo AES-NI || echo no AES-NI)"
printf '%-8s %14s %8s %14s %8s\n' kind 'get64m MiB/s' ratio 'fuse64m MiB/s' ratio
g0=$(echo "${GET[plain]}" | tr ' ' '\n' | grep . | median)
f0=$(echo "${FUSE[plain]:-0}" | tr ' ' '\n' | grep . | median)
for k in "${KINDS[@]}"; do
	g=$(echo "${GET[$k]}" | tr ' ' '\n' | grep . | median)
	f=$(echo "${FUSE[$k]:-0}" | tr ' ' '\n' | grep . | median)
	printf '%-8s %14s %8s %14s %8s\n' "$k" "$g" "$(awk -v a="$g" -v b="$g0" 'BEGIN { printf "%.2f", a / b }')" \
		"$f" "$(awk -v a="$f" -v b="$f0" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
done
