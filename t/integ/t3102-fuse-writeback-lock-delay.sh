#!/usr/bin/env bash
# --writeback's staging directory and --upload-delay (chunk.h S2, S4):
#  - a second writeback client (mount or gateway) on the cache directory of a
#    running writeback mount is refused: non-zero exit, one line on stderr
#    that names the directory and the holder's pid; a plain (read-cache
#    only) client may still share the directory; once the holder is gone
#    the directory can be taken again;
#  - with --upload-delay a block stays in rawstaging, and out of the object
#    store, until the delay has passed; meanwhile it reads back from the
#    staging file; then it is uploaded and leaves rawstaging (bounded wait);
#  - the S3 gateway with --writeback stages a PUT and serves it back.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
export MINIO_ROOT_USER=wbadmin MINIO_ROOT_PASSWORD=wbsecret123

fformat wblock
BUCKET="$T/wblock-bucket/wblock"
UUID=$(sqlite3 "$T/wblock.db" "select value from jfs_setting where name='format'" | jq -r .UUID)
STAGING="$T/cache/$UUID/rawstaging"

blocks()
{
	find "$1" -type f -name '*_*_*' ! -name '*.tmp' 2>/dev/null | wc -l
}

fmount "$META" "$T/a" --writeback --upload-delay 8s
[ "$RC" -eq 0 ] || { t_fail "writeback mount" "$(last_run)"; t_done; }
apid=$(jq -r .Pid "$T/a/.config")

# ---- a second writeback client on the same cache dir is refused
mkdir -p "$T/b"
jfs mount "$META" "$T/b" -d --log "$T/b.log" --cache-dir "$T/cache" --writeback
if [ "$RC" -ne 0 ] && [ "$RC" -lt 128 ] && [ "$(nlines "$T/err")" -eq 1 ] &&
	grep -q "cache directory $T/cache/$UUID/ is in use by another client" "$T/err" &&
	grep -q "(pid $apid)" "$T/err" && ! mountpoint -q "$T/b"; then
	t_ok "a second writeback mount on the cache dir is refused: $(cut -c1-60 "$T/err")..."
else
	mountpoint -q "$T/b" && { T_MOUNTS+=("$T/b"); fumount "$T/b"; }
	t_fail "a second writeback mount on the cache dir is refused" "$(last_run)"
fi

port=$(free_port)
run timeout 30 "$JFS_BIN" gateway "$META" "127.0.0.1:$port" --no-banner --cache-dir "$T/cache" \
	--writeback
[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && grep -q "is in use by another client" "$T/err" &&
	t_ok "a writeback gateway on the cache dir is refused too" ||
	t_fail "a writeback gateway on the cache dir is refused" "$(last_run)"

# ---- --upload-delay: staged and readable, not uploaded until the delay passed
head -c $((5 << 20 | 4321)) /dev/urandom >"$T/src"
t0=$(date +%s.%N)
cp "$T/src" "$T/a/file"
n=$(blocks "$STAGING")
u=$(blocks "$BUCKET/chunks")
[ "$n" -eq 2 ] && [ "$u" -eq 0 ] && t_ok "after close the 2 blocks are staged, none uploaded" ||
	t_fail "blocks staged after close" "staged $n, uploaded $u"
sb=$(awk '/^juicefs_staging_blocks / {print $2}' "$T/a/.stats")
sB=$(awk '/^juicefs_staging_block_bytes / {print $2}' "$T/a/.stats")
[ "$sb" = 2 ] && [ "$sB" = $((5 << 20 | 4321)) ] &&
	t_ok ".stats shows juicefs_staging_blocks 2 and their bytes" ||
	t_fail ".stats staging lines" "blocks '$sb' bytes '$sB'"

# a plain client may share the cache dir (read cache only), and sees the file
fmount "$META" "$T/c"
if [ "$RC" -eq 0 ]; then
	t_ok "a mount without --writeback shares the cache dir"
	fumount "$T/c"
else
	t_fail "a mount without --writeback shares the cache dir" "$(last_run)"
fi

echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
cmp -s "$T/src" "$T/a/file" && t_ok "a staged file reads back byte-exact before its upload" ||
	t_fail "a staged file reads back before its upload"
sleep 2
u=$(blocks "$BUCKET/chunks")
el=$(echo "$(date +%s.%N) - $t0" | bc)
if [ "$(echo "$el < 7" | bc)" = 1 ]; then
	[ "$u" -eq 0 ] && [ "$(blocks "$STAGING")" -eq 2 ] &&
		t_ok "$(printf %.1f "$el") s after the write (delay 8 s) nothing is uploaded" ||
		t_fail "nothing uploaded before the delay" "uploaded $u after $el s"
else
	t_skip "nothing uploaded before the delay" "the machine is too slow to check ($el s)"
fi
for i in $(seq 300); do
	[ "$(blocks "$BUCKET/chunks")" -eq 2 ] && [ "$(blocks "$STAGING")" -eq 0 ] && break
	sleep 0.1
done
el=$(echo "$(date +%s.%N) - $t0" | bc)
[ "$(blocks "$BUCKET/chunks")" -eq 2 ] && [ "$(blocks "$STAGING")" -eq 0 ] &&
	t_ok "after the delay both blocks are uploaded and gone from rawstaging ($(printf %.1f "$el") s)" ||
	t_fail "uploaded after the delay" "staged $(blocks "$STAGING"), uploaded $(blocks "$BUCKET/chunks")"
[ "$(echo "$el >= 8" | bc)" = 1 ] && t_ok "the upload waited for the delay" ||
	t_fail "the upload waited for the delay" "done after $el s"
cmp -s "$T/src" "$T/a/file" && t_ok "the file reads back byte-exact after the upload" ||
	t_fail "the file reads back after the upload"

# ---- the lock goes with its holder
fumount "$T/a"
fmount "$META" "$T/b" --writeback
[ "$RC" -eq 0 ] && t_ok "after the holder unmounted, a writeback mount takes the cache dir" ||
	t_fail "writeback mount after the holder left" "$(last_run)"
cmp -s "$T/src" "$T/b/file" && t_ok "the file reads back through the new mount" ||
	t_fail "the file reads back through the new mount"
fumount "$T/b"

# ---- the S3 gateway stages with --writeback too (PUT staged, GET served, then uploaded)
port=$(free_port)
"$JFS_BIN" gateway "$META" "127.0.0.1:$port" --no-banner --cache-dir "$T/gwcache" \
	--writeback --upload-delay 3s >>"$T/gw.log" 2>&1 &
gpid=$!
T_PIDS+=("$gpid")
for i in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
GWSTAGING="$T/gwcache/$UUID/rawstaging"
before=$(blocks "$BUCKET/chunks")
head -c 300000 /dev/urandom >"$T/obj"
run env AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD \
	AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url "http://127.0.0.1:$port" s3 cp "$T/obj" \
	s3://wblock/obj
n=$(blocks "$GWSTAGING")
[ "$RC" -eq 0 ] && [ "$n" -ge 1 ] && [ "$(blocks "$BUCKET/chunks")" -eq "$before" ] &&
	t_ok "a PUT through a writeback gateway is staged, not uploaded yet" ||
	t_fail "PUT through a writeback gateway is staged" "staged $n" "$(last_run)"
run env AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD \
	AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url "http://127.0.0.1:$port" s3 cp \
	s3://wblock/obj "$T/obj.back"
[ "$RC" -eq 0 ] && cmp -s "$T/obj" "$T/obj.back" &&
	t_ok "the staged object reads back byte-exact through the gateway" ||
	t_fail "GET of a staged object" "$(last_run)"
for i in $(seq 300); do
	[ "$(blocks "$GWSTAGING")" -eq 0 ] && break
	sleep 0.1
done
[ "$(blocks "$GWSTAGING")" -eq 0 ] && [ "$(blocks "$BUCKET/chunks")" -gt "$before" ] &&
	t_ok "after the delay the gateway uploaded it" ||
	t_fail "the gateway uploads after the delay" "staged $(blocks "$GWSTAGING")"
kill -TERM "$gpid" 2>/dev/null
wait "$gpid" 2>/dev/null
fcheck_logs
t_done
