#!/usr/bin/env bash
# A block object missing from the store is an error at every door, never
# zeros (issue 12 item 2). Objects are written through one gateway, block
# files are then removed from the file store under the volume, and fresh
# servers (no cache holds the blocks) read them:
#  - S3 GET of an object whose first block is gone: 500 InternalError, before
#    any header of a 200 goes out (also for a ranged GET into a lost block);
#  - S3 GET of an object whose later block is gone: the transfer is aborted
#    (curl exits non-zero with a short body);
#  - WebDAV GET (plain and --gzip): 5xx, or an aborted transfer;
#  - a read through the mount: EIO, and no zero in what was read;
#  - compaction of a file with a lost block leaves its chunk list alone.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"

AK=lostak1 SK=lostsecret1
export MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK
META="sqlite3://$T/m.db"
jfs format "$META" lost --bucket "$T/data" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

# srv_start VAR PIDVAR CMD...: a server on a free port; VAR gets the port.
srv_start()
{
	local var=$1 pvar=$2 port i
	shift 2
	port=$(free_port)
	"$JFS_BIN" "$@" "127.0.0.1:$port" --cache-dir none \
		>>"$T/srv-$port.log" 2>&1 </dev/null &
	printf -v "$pvar" '%s' "$!"
	T_PIDS+=("$!")
	wait_http "$port" 10
	printf -v "$var" '%s' "$port"
}
srv_stop()
{
	kill "$1" 2>/dev/null && wait "$1" 2>/dev/null
}
S3C=(curl -s --max-time 20 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK")

srv_start P1 PID1 gateway "$META" --no-banner
head -c 3000 /dev/urandom >"$T/small"
head -c $((6 << 20)) /dev/urandom >"$T/two"
head -c $((6 << 20)) /dev/urandom >"$T/first"
blocks() { (cd "$T/data" && find . -type f -path '*/chunks/*' | sort); }
blocks >"$T/b0"
new_blocks() { blocks >"$T/b1"; comm -13 "$T/b0" "$T/b1"; cp "$T/b1" "$T/b0"; }
put_ok=1
for k in small two first; do
	[ "$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/$k" "http://127.0.0.1:$P1/lost/$k")" = 200 ] || put_ok=0
	new_blocks >"$T/blk-$k"
done
# mp: a multipart object of two parts, two slices in one chunk (compaction's
# prey); its second part's block is lost.
python3 - "http://127.0.0.1:$P1" "$AK" "$SK" 2>"$T/mp.err" <<'PY' || put_ok=0
import boto3, sys
s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2],
                  aws_secret_access_key=sys.argv[3], region_name='us-east-1')
u = s3.create_multipart_upload(Bucket='lost', Key='mp')['UploadId']
parts = []
for n, size in ((1, 5 << 20), (2, 1 << 20)):
    e = s3.upload_part(Bucket='lost', Key='mp', UploadId=u, PartNumber=n,
                       Body=bytes([n]) * size)['ETag']
    parts.append({'PartNumber': n, 'ETag': e})
s3.complete_multipart_upload(Bucket='lost', Key='mp', UploadId=u,
                             MultipartUpload={'Parts': parts})
PY
new_blocks >"$T/blk-mp"
srv_stop "$PID1"
# small: its only block; two: its second block; first: its first block.
b_small=$(head -n 1 "$T/blk-small")
b_two=$(grep '_1_' "$T/blk-two")
b_first=$(grep '_0_' "$T/blk-first")
b_mp=$(grep '_0_1048576$' "$T/blk-mp")
if [ "$put_ok" = 1 ] && [ -n "$b_small" ] && [ -n "$b_two" ] && [ -n "$b_first" ] && [ -n "$b_mp" ]; then
	rm -f "$T/data/$b_small" "$T/data/$b_two" "$T/data/$b_first" "$T/data/$b_mp"
	t_ok "four objects written, one block of each removed from the store"
else
	t_fail "four objects written with known blocks" "$(cat "$T"/blk-* "$T/mp.err")"
	t_done
fi

# ---------------------------------------------------------------- S3
srv_start P2 PID2 gateway "$META" --no-banner
EP=http://127.0.0.1:$P2/lost
# get KEY [CURL-ARGS]: sets CODE, CRC (curl's exit) and the body in $T/got.
get()
{
	local k=$1
	shift
	CRC=0
	CODE=$("${S3C[@]}" "$@" -o "$T/got" -w '%{http_code}' "$EP/$k") || CRC=$?
	[ -f "$T/got" ] || : >"$T/got"
}
get small
if [ "$CODE" = 500 ] && grep -q '<Code>InternalError</Code>' "$T/got"; then
	t_ok "GET of an object whose only block is lost: 500 InternalError"
else
	t_fail "GET of an object whose only block is lost: 500 InternalError" \
		"status $CODE, curl exit $CRC, body $(head -c 200 "$T/got" | od -c | head -n 3)"
fi
get first
if [ "$CODE" = 500 ] && grep -q '<Code>InternalError</Code>' "$T/got"; then
	t_ok "GET of an object whose first block is lost: 500 InternalError"
else
	t_fail "GET of an object whose first block is lost: 500" "status $CODE, curl exit $CRC"
fi
get two -r $((5 << 20))-$((5 << 20 | 99))
if [ "$CODE" = 500 ] && grep -q '<Code>InternalError</Code>' "$T/got"; then
	t_ok "ranged GET inside a lost block: 500 InternalError"
else
	t_fail "ranged GET inside a lost block: 500" "status $CODE, curl exit $CRC, $(stat -c %s "$T/got") bytes"
fi
get two
if [ "$CRC" -ne 0 ] && [ "$(stat -c %s "$T/got")" -lt $((6 << 20)) ] &&
	cmp -s "$T/got" <(head -c "$(stat -c %s "$T/got")" "$T/two"); then
	t_ok "GET whose later block is lost: transfer aborted (curl exit $CRC), the bytes sent are right"
else
	t_fail "GET whose later block is lost: transfer aborted" \
		"status $CODE, curl exit $CRC, $(stat -c %s "$T/got") bytes"
fi
get two -r 0-999
if [ "$CODE" = 206 ] && cmp -s "$T/got" <(head -c 1000 "$T/two"); then
	t_ok "a range inside the blocks still there is served"
else
	t_fail "a range inside the blocks still there is served" "status $CODE, curl exit $CRC"
fi
CODE=$("${S3C[@]}" -I -o /dev/null -w '%{http_code}' "$EP/small")
[ "$CODE" = 200 ] && t_ok "HEAD needs no block: 200" || t_fail "HEAD of a lost-block object: 200" "status $CODE"
if grep -q 'is missing from the object store' "$T/srv-$P2.log"; then
	t_ok "the gateway logs the missing block"
else
	t_fail "the gateway logs the missing block" "$(tail -n 3 "$T/srv-$P2.log")"
fi
srv_stop "$PID2"

# ---------------------------------------------------------------- compaction
# Compaction must never copy zeros over the lost block into a new slice.
chunks() { sqlite3 "$T/m.db" "select hex(slices) from jfs_chunk where inode=(select inode from jfs_edge where cast(name as text)='mp')"; }
before=$(chunks)
jfs gc "$META" --compact
after=$(chunks)
if [ -n "$before" ] && [ "$before" = "$after" ]; then
	t_ok "gc --compact leaves a chunk with a lost block as it was"
else
	t_fail "gc --compact leaves a chunk with a lost block as it was" "$(last_run)"
fi
srv_start P2 PID2 gateway "$META" --no-banner
EP=http://127.0.0.1:$P2/lost
get mp
if [ "$CRC" -ne 0 ] && ! cmp -s "$T/got" <(head -c $((5 << 20)) /dev/zero | tr '\0' '\1'; head -c $((1 << 20)) /dev/zero); then
	t_ok "the multipart object still fails to read (curl exit $CRC, status $CODE)"
else
	t_fail "the multipart object still fails to read" "status $CODE, curl exit $CRC"
fi
srv_stop "$PID2"

# ---------------------------------------------------------------- WebDAV
srv_start P3 PID3 webdav "$META" --gzip
DEP=http://127.0.0.1:$P3
for k in small first; do
	CRC=0
	CODE=$(curl -s --max-time 20 -o "$T/got" -w '%{http_code}' "$DEP/$k") || CRC=$?
	case $CODE in
	5??) t_ok "WebDAV GET of $k (lost block): $CODE" ;;
	*) t_fail "WebDAV GET of $k (lost block): 5xx" "status $CODE, curl exit $CRC" ;;
	esac
	CRC=0
	CODE=$(curl -s --max-time 20 -H 'Accept-Encoding: gzip' -o "$T/got" -w '%{http_code}' "$DEP/$k") || CRC=$?
	case $CODE in
	5??) t_ok "WebDAV gzip GET of $k (lost block): $CODE" ;;
	*) t_fail "WebDAV gzip GET of $k (lost block): 5xx" "status $CODE, curl exit $CRC" ;;
	esac
done
CRC=0
CODE=$(curl -s --max-time 20 -o "$T/got" -w '%{http_code}' "$DEP/two") || CRC=$?
if [ "$CRC" -ne 0 ] && [ "$(stat -c %s "$T/got")" -lt $((6 << 20)) ]; then
	t_ok "WebDAV GET whose later block is lost: transfer aborted (curl exit $CRC)"
else
	t_fail "WebDAV GET whose later block is lost: aborted" "status $CODE, curl exit $CRC"
fi
srv_stop "$PID3"

# ---------------------------------------------------------------- mount
if [ ! -c /dev/fuse ] || [ "$(id -u)" -ne 0 ]; then
	t_skip "reads through the mount" "no /dev/fuse or not root"
else
	# shellcheck source=t/integ/fuse-lib.sh
	. "$(dirname "$0")/fuse-lib.sh"
	MP=$T/mnt
	fmount "$META" "$MP" --cache-dir none
	if [ "$RC" -ne 0 ]; then
		t_fail "mount the volume" "$(last_run)"
	else
		for k in small first; do
			err=$(dd if="$MP/$k" of="$T/got" bs=1M 2>&1 >/dev/null) && rc=0 || rc=$?
			if [ "$rc" -ne 0 ] && grep -q 'Input/output error' <<<"$err"; then
				t_ok "mount read of $k (lost block): EIO"
			else
				t_fail "mount read of $k (lost block): EIO" "dd exit $rc: $err"
			fi
		done
		err=$(dd if="$MP/two" of="$T/got" bs=1M 2>&1 >/dev/null) && rc=0 || rc=$?
		n=$(stat -c %s "$T/got")
		if [ "$rc" -ne 0 ] && grep -q 'Input/output error' <<<"$err" && [ "$n" -lt $((6 << 20)) ] &&
			cmp -s "$T/got" <(head -c "$n" "$T/two"); then
			t_ok "mount read of two: EIO at the lost block, the $n bytes before it right"
		else
			t_fail "mount read of two: EIO at the lost block" "dd exit $rc, $n bytes: $err"
		fi
		fumount "$MP"
	fi
fi
hits=$(grep -hE -A3 'Sanitizer|runtime error:' "$T"/*.log 2>/dev/null | head -n 12)
[ -z "$hits" ] && t_ok "no sanitizer report from the servers" || t_fail "no sanitizer report" "$hits"
t_done
