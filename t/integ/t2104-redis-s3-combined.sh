#!/usr/bin/env bash
# Scale-out, "Combined" (issue #8): one volume with its metadata in Redis and
# its data in an S3 service (MinIO when JFS_S3_SERVICE=minio or when
# /opt/peers/minio is built, else moto; see s3_service_start in lib.sh) is
# served at the same time by our `juicefs gateway`, our `juicefs mount` and
# the real client's `$JFS_REF mount`:
#  - a file written through one of the three (a 20-30 MiB file crossing too,
#    so several blocks and a multi-block slice) reads byte-exact through the
#    other two; overwrites are seen on the next open (close-to-open);
#  - the three list the same files with the same sizes;
#  - a delete through any one is seen by the other two;
#  - after everything is stopped, the real client's fsck and ours find the
#    volume consistent and count the same blocks, and the bucket holds only
#    NAME/juicefs_uuid and NAME/chunks/<a>/<b>/<id>_<i>_<size> objects.
# The mounts run with --attr-cache 0 --entry-cache 0 --dir-entry-cache 0, so
# every check is made at once, with no waiting.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
command -v redis-server >/dev/null || t_skip_all "redis-server not installed (apt-get install redis-server)"
command -v aws >/dev/null || t_skip_all "awscli not installed (Debian: awscli)"
need_ref
unset REDIS_PASSWORD META_PASSWORD ACCESS_KEY SECRET_KEY SESSION_TOKEN

# ---------------------------------------------------------------- services
case ${JFS_S3_SERVICE:-} in
minio | moto) SVC=$JFS_S3_SERVICE ;;
*) if [ -x "${JFS_MINIO:-/opt/peers/minio}" ]; then SVC=minio; else SVC=moto; fi ;;
esac
echo "# S3 service holding the data: $SVC (JFS_S3_SERVICE=${JFS_S3_SERVICE:-unset})"
s3_service_start "$SVC"

# Our gateway's keys; awscli talks SigV4 to both S3 endpoints.
export MINIO_ROOT_USER=gwadmin MINIO_ROOT_PASSWORD=gwsecret123
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=$T/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials AWS_PAGER=""
printf '[default]\ns3 =\n    signature_version = s3v4\n' >"$AWS_CONFIG_FILE"

rport=$(free_port)
mkdir -p "$T/redis"
t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
	--appendonly no --daemonize no --logfile "$T/redis/log"
up=0
for _ in $(seq 100); do
	[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && { up=1; break; }
	sleep 0.05
done
[ "$up" -eq 1 ] || { t_fail "redis-server starts on port $rport" "$(tail -n 5 "$T/redis/log")"; t_done; }
META=redis://127.0.0.1:$rport/1
VOL=combvol
BKT=jfscomb

# s3aws: awscli on the S3 service; gwaws: awscli on our gateway (GWEP).
# shellcheck disable=SC2317 # called through run()
s3aws()
{
	AWS_ACCESS_KEY_ID=$S3_AK AWS_SECRET_ACCESS_KEY=$S3_SK aws --endpoint-url "$S3_EP" "$@"
}
# shellcheck disable=SC2317 # called through run()
gwaws()
{
	AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD \
		aws --endpoint-url "$GWEP" "$@"
}

jfs format "$META" "$VOL" --storage s3 --bucket "$S3_EP/$BKT" \
	--access-key "$S3_AK" --secret-key "$S3_SK"
if [ "$RC" -eq 0 ] && ! crashed; then
	t_ok "format $VOL: metadata $META, data $SVC $S3_EP/$BKT"
else
	t_fail "format $VOL on redis + $SVC" "$(last_run)"
	t_done
fi

# ---------------------------------------------------------------- three clients at once
NOCACHE=(--attr-cache 0 --entry-cache 0 --dir-entry-cache 0)
GWPORT=$(free_port)
GWEP=http://127.0.0.1:$GWPORT
"$JFS_BIN" gateway "$META" "127.0.0.1:$GWPORT" --cache-dir none --no-banner \
	>>"$T/gw.log" 2>&1 </dev/null &
GW_PID=$!
T_PIDS+=("$GW_PID")
for _ in $(seq 100); do
	curl -s -o /dev/null "$GWEP/" && break
	kill -0 "$GW_PID" 2>/dev/null || break
	sleep 0.1
done
gw_up=0
curl -s -o /dev/null "$GWEP/" && gw_up=1

O=$T/ours
fmount "$META" "$O" "${NOCACHE[@]}"
rc_ours=$RC
err_ours=$(last_run)

R=$T/ref
mkdir -p "$R"
run "$JFS_REF" mount "$META" "$R" -d --log "$T/ref.log" --no-usage-report --backup-meta 0 \
	--cache-dir "$T/refcache" "${NOCACHE[@]}"
rc_ref=$RC
[ "$rc_ref" -eq 0 ] && T_MOUNTS+=("$R")
[ "$rc_ref" -eq 0 ] && [ "$(stat -c %i "$R" 2>/dev/null)" = 1 ] || rc_ref=99
err_ref=$(last_run)

if [ "$gw_up" -eq 1 ] && [ "$rc_ours" -eq 0 ] && [ "$rc_ref" -eq 0 ]; then
	t_ok "our gateway ($GWEP), our mount and the real mount serve $VOL at once"
else
	t_fail "our gateway, our mount and the real mount serve $VOL at once" \
		"gateway up: $gw_up $(tail -n 3 "$T/gw.log")" "our mount: $rc_ours $err_ours" \
		"real mount: $rc_ref $err_ref"
	t_done
fi
jfs status "$META"
nsess=$(jq '.Sessions | length' "$T/out" 2>/dev/null)
if [ "$RC" -eq 0 ] && [ "${nsess:-0}" -eq 3 ]; then
	t_ok "status lists 3 sessions (gateway, our mount, the real mount)"
else
	t_fail "status lists 3 sessions" "sessions: ${nsess:-?}" "$(last_run)"
fi

# same A B DESC: files A and B exist and are byte-identical.
same()
{
	if [ -f "$1" ] && [ -f "$2" ] && cmp -s "$1" "$2"; then
		t_ok "$3"
	else
		t_fail "$3" "$(ls -l "$1" "$2" 2>&1)" "$(cmp "$1" "$2" 2>&1 | head -n 2)"
	fi
}
# gw_get KEY FILE: GET through our gateway; RC as run() sets it.
gw_get()
{
	rm -f "$2"
	run gwaws s3 cp --no-progress "s3://$VOL/$1" "$2"
}
# gw_gone KEY: HEAD through our gateway answers 404.
gw_gone()
{
	run gwaws s3api head-object --bucket "$VOL" --key "$1"
	[ "$RC" -ne 0 ] && grep -qE '404|Not Found' "$T/err"
}

S=$T/src
mkdir -p "$S"
head -c $((25 << 20 | 12345)) /dev/urandom >"$S/big-ours"
head -c $((27 << 20 | 777)) /dev/urandom >"$S/big-gw"
head -c $((22 << 20 | 4321)) /dev/urandom >"$S/big-ref"
for w in ours gw ref; do
	head -c $((RANDOM % 9000 + 100)) /dev/urandom >"$S/small-$w"
	head -c $((RANDOM % 300 + 1)) /dev/urandom >"$S/other-$w"
done

# ---------------------------------------------------------------- ours -> gateway, real
mkdir -p "$O/fromours/sub"
cp "$S/big-ours" "$O/fromours/big" && cp "$S/small-ours" "$O/fromours/sub/small" &&
	cp "$S/other-ours" "$O/fromours/other"
rc=$?
if [ "$rc" -eq 0 ]; then t_ok "our mount writes 25 MiB + 2 small files"; else t_fail "write through our mount" "cp exit $rc"; fi
gw_get fromours/big "$T/g1"
same "$S/big-ours" "$T/g1" "25 MiB file written by our mount reads byte-exact through our gateway"
gw_get fromours/sub/small "$T/g2"
same "$S/small-ours" "$T/g2" "small file written by our mount reads byte-exact through our gateway"
same "$S/big-ours" "$R/fromours/big" "25 MiB file written by our mount reads byte-exact through the real mount"
same "$S/small-ours" "$R/fromours/sub/small" "small file written by our mount reads byte-exact through the real mount"

# ---------------------------------------------------------------- gateway -> ours, real
run gwaws s3 cp --no-progress "$S/big-gw" "s3://$VOL/fromgw/big"
rc1=$RC
run gwaws s3 cp --no-progress "$S/small-gw" "s3://$VOL/fromgw/deep/er/small"
rc2=$RC
run gwaws s3 cp --no-progress "$S/other-gw" "s3://$VOL/fromgw/other"
if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ "$RC" -eq 0 ]; then
	t_ok "PUT through our gateway: 27 MiB (multipart) + 2 small objects"
else
	t_fail "PUT through our gateway" "exits $rc1 $rc2 $RC" "$(last_run)"
fi
same "$S/big-gw" "$O/fromgw/big" "27 MiB object PUT through our gateway reads byte-exact in our mount"
same "$S/big-gw" "$R/fromgw/big" "27 MiB object PUT through our gateway reads byte-exact in the real mount"
same "$S/small-gw" "$O/fromgw/deep/er/small" "small object PUT through our gateway reads byte-exact in our mount"
same "$S/small-gw" "$R/fromgw/deep/er/small" "small object PUT through our gateway reads byte-exact in the real mount"

# ---------------------------------------------------------------- real -> ours, gateway
mkdir -p "$R/fromref/sub"
cp "$S/big-ref" "$R/fromref/big" && cp "$S/small-ref" "$R/fromref/sub/small" &&
	cp "$S/other-ref" "$R/fromref/other"
rc=$?
if [ "$rc" -eq 0 ]; then t_ok "the real mount writes 22 MiB + 2 small files"; else t_fail "write through the real mount" "cp exit $rc"; fi
same "$S/big-ref" "$O/fromref/big" "22 MiB file written by the real mount reads byte-exact through our mount"
same "$S/small-ref" "$O/fromref/sub/small" "small file written by the real mount reads byte-exact through our mount"
gw_get fromref/big "$T/g3"
same "$S/big-ref" "$T/g3" "22 MiB file written by the real mount reads byte-exact through our gateway"

# ---------------------------------------------------------------- overwrites (close-to-open)
head -c 5000 /dev/urandom >"$S/ow1"
run gwaws s3 cp --no-progress "$S/ow1" "s3://$VOL/fromours/other"
same "$S/ow1" "$O/fromours/other" "an overwrite PUT through our gateway is seen by the next open in our mount"
same "$S/ow1" "$R/fromours/other" "and in the real mount"
head -c 777 /dev/urandom >"$S/ow2"
cp "$S/ow2" "$O/fromref/other"
same "$S/ow2" "$R/fromref/other" "an overwrite through our mount is seen by the next open in the real mount"
gw_get fromref/other "$T/g4"
same "$S/ow2" "$T/g4" "and by a GET through our gateway"
head -c 12000 /dev/urandom >"$S/ow3"
cp "$S/ow3" "$R/fromgw/other"
same "$S/ow3" "$O/fromgw/other" "an overwrite through the real mount is seen by the next open in our mount"
gw_get fromgw/other "$T/g5"
same "$S/ow3" "$T/g5" "and by a GET through our gateway"

# ---------------------------------------------------------------- listings
# mount_list MP / gw_list: "path size" of every file, sorted.
mount_list()
{
	(cd "$1" && find . -path ./.trash -prune -o -type f ! -path ./.accesslog ! -path ./.stats \
		! -path ./.config -printf '%P %s\n' | LC_ALL=C sort)
}
gw_list()
{
	run gwaws s3api list-objects-v2 --bucket "$VOL" --output json
	jq -r '.Contents[]? | select(.Key | endswith("/") | not) | "\(.Key) \(.Size)"' "$T/out" |
		LC_ALL=C sort
}
# lists_agree DESC N: the three listings are equal and hold N files.
lists_agree()
{
	local a b c
	a=$(mount_list "$O")
	b=$(mount_list "$R")
	c=$(gw_list)
	if [ "$a" = "$b" ] && [ "$a" = "$c" ] && [ "$(grep -c . <<<"$a")" -eq "$2" ]; then
		t_ok "$1: our mount, the real mount and our gateway list the same $2 files and sizes"
	else
		t_fail "$1: the three listings agree ($2 files)" "ours vs real:" \
			"$(diff <(echo "$a") <(echo "$b") | head -n 8)" "ours vs gateway:" \
			"$(diff <(echo "$a") <(echo "$c") | head -n 8)" "ours: $(grep -c . <<<"$a") files"
	fi
}
lists_agree "listing" 9
a=$(ls -A "$O/fromgw/deep/er" 2>&1)
b=$(ls -A "$R/fromgw/deep/er" 2>&1)
run gwaws s3api list-objects-v2 --bucket "$VOL" --prefix fromgw/ --delimiter /
c=$(jq -r '[.Contents[]?.Key, .CommonPrefixes[]?.Prefix] | sort | join(" ")' "$T/out" 2>/dev/null)
if [ "$a" = small ] && [ "$b" = small ] &&
	[ "$c" = "fromgw/big fromgw/deep/ fromgw/other" ]; then
	t_ok "directory listings with a delimiter agree (ls -A and ListObjectsV2 delimiter /)"
else
	t_fail "directory listings with a delimiter agree" "ours: $a" "real: $b" "gateway: $c"
fi

# ---------------------------------------------------------------- deletes
run gwaws s3 rm --only-show-errors "s3://$VOL/fromours/sub/small"
rc=$RC
if [ "$rc" -eq 0 ] && [ ! -e "$O/fromours/sub/small" ] && [ ! -e "$R/fromours/sub/small" ]; then
	t_ok "a DELETE through our gateway is seen by both mounts"
else
	t_fail "a DELETE through our gateway is seen by both mounts" "rm exit $rc" \
		"$(ls -l "$O/fromours/sub" "$R/fromours/sub" 2>&1)"
fi
rm "$R/fromgw/deep/er/small"
if [ ! -e "$O/fromgw/deep/er/small" ] && gw_gone fromgw/deep/er/small; then
	t_ok "an unlink through the real mount is seen by our mount and our gateway"
else
	t_fail "an unlink through the real mount is seen by ours" "$(ls -l "$O/fromgw/deep/er" 2>&1)" "$(last_run)"
fi
rm "$O/fromref/sub/small"
if [ ! -e "$R/fromref/sub/small" ] && gw_gone fromref/sub/small; then
	t_ok "an unlink through our mount is seen by the real mount and our gateway"
else
	t_fail "an unlink through our mount is seen by the others" "$(ls -l "$R/fromref/sub" 2>&1)" "$(last_run)"
fi
rm -f "$O/fromours/big"
if [ ! -e "$R/fromours/big" ] && gw_gone fromours/big; then
	t_ok "the 25 MiB file unlinked through our mount is gone from the real mount and our gateway"
else
	t_fail "the 25 MiB file unlinked through our mount is gone elsewhere" "$(last_run)"
fi
lists_agree "after the deletes" 5

# ---------------------------------------------------------------- stop everything
pid_ours=$(jq -r .Pid "$O/.config" 2>/dev/null)
pid_ref=$(jq -r .Pid "$R/.config" 2>/dev/null)
fumount "$O"
rc_o=$RC
run "$JFS_REF" umount "$R"
rc_r=$RC
if [ -n "$pid_ref" ] && [ "$pid_ref" != null ]; then
	for _ in $(seq 200); do
		kill -0 "$pid_ref" 2>/dev/null || break
		sleep 0.1
	done
fi
kill -TERM "$GW_PID" 2>/dev/null
rc_g=0
wait "$GW_PID" 2>/dev/null || rc_g=$?
alive=""
for p in "$pid_ours" "$pid_ref"; do
	[ -n "$p" ] && [ "$p" != null ] && kill -0 "$p" 2>/dev/null && alive+=" $p"
done
if [ "$rc_o" -eq 0 ] && [ "$rc_r" -eq 0 ] && [ "$rc_g" -eq 0 ] && [ -z "$alive" ] &&
	! mountpoint -q "$O" && ! mountpoint -q "$R"; then
	t_ok "both mounts unmount and the gateway exits 0 on SIGTERM"
else
	t_fail "stop the three clients" "our umount $rc_o, real umount $rc_r, gateway exit $rc_g" \
		"still running:${alive:- none}" "$(tail -n 3 "$T/gw.log")"
fi
jfs status "$META"
nsess=$(jq '.Sessions | length' "$T/out" 2>/dev/null)
if [ "$RC" -eq 0 ] && [ "${nsess:-x}" = 0 ]; then
	t_ok "no session left in Redis"
else
	t_fail "no session left in Redis" "sessions: ${nsess:-?}" "$(last_run)"
fi

# ---------------------------------------------------------------- the bucket and fsck
run s3aws s3api list-objects-v2 --bucket "$BKT" --output json
jq -r '.Contents[]? | "\(.Key) \(.Size)"' "$T/out" | LC_ALL=C sort >"$T/objs"
nchunks=$(grep -cE "^$VOL/chunks/[0-9]+/[0-9]+/[0-9]+_[0-9]+_[0-9]+ " "$T/objs")
nother=$(grep -cvE "^$VOL/(chunks/[0-9]+/[0-9]+/[0-9]+_[0-9]+_[0-9]+|juicefs_uuid) " "$T/objs")
# name size == the size in the name, for every block
badsize=$(awk '$1 ~ /chunks/ { n = split($1, p, "_"); if (p[n] != $2) print }' "$T/objs" | head -n 3)
# the largest number of blocks in one slice
maxblk=$(awk '$1 ~ /chunks/ { n = split($1, p, "/"); split(p[n], q, "_"); c[q[1]]++ }
	END { m = 0; for (k in c) if (c[k] > m) m = c[k]; print m }' "$T/objs")
if [ "$RC" -eq 0 ] && grep -q "^$VOL/juicefs_uuid " "$T/objs" && [ "$nchunks" -gt 0 ] &&
	[ "$nother" -eq 0 ] && [ -z "$badsize" ] && [ "${maxblk:-0}" -ge 5 ]; then
	t_ok "the bucket holds $VOL/juicefs_uuid and $nchunks blocks under $VOL/chunks/ (up to $maxblk blocks in one slice)"
else
	t_fail "objects in the bucket $BKT" "chunks $nchunks, others $nother, max blocks/slice $maxblk" \
		"bad sizes: $badsize" "$(head -n 10 "$T/objs")" "$(last_run)"
fi

# fsck_counts: "Found N blocks" and "Used by N slices" of the last run().
fsck_counts()
{
	echo "$(grep -hoE 'Found [0-9]+ blocks' "$T/err" "$T/out" | grep -oE '[0-9]+' | head -n 1)" \
		"$(grep -hoE 'Used by [0-9]+ slices' "$T/err" "$T/out" | grep -oE '[0-9]+' | head -n 1)"
}
ref fsck "$META"
read -r ref_found ref_slices < <(fsck_counts)
if [ "$RC" -eq 0 ] && [ "${ref_found:-x}" = "$nchunks" ] &&
	! grep -qiE 'lost|broken|<ERROR>|<FATAL>' "$T/err"; then
	t_ok "the real client's fsck finds the volume consistent ($ref_found blocks used by ${ref_slices:-?} slices, none lost)"
else
	t_fail "the real client's fsck" "found ${ref_found:-?} blocks, bucket has $nchunks" "$(last_run)"
fi
jfs fsck "$META"
read -r our_found our_slices < <(fsck_counts)
if [ "$RC" -eq 0 ] && ! crashed && [ "${our_found:-x}" = "$nchunks" ] &&
	[ "${our_slices:-x}" = "${ref_slices:-y}" ] && ! grep -qiE 'lost|broken|error|fatal' "$T/err"; then
	t_ok "our fsck finds the volume consistent ($our_found blocks used by $our_slices slices, as the real fsck counts)"
else
	t_fail "our fsck" "found ${our_found:-?} blocks in ${our_slices:-?} slices;" \
		"bucket has $nchunks, the real fsck ${ref_found:-?} in ${ref_slices:-?}" "$(last_run)"
fi

fcheck_logs
t_done
