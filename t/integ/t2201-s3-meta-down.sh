#!/usr/bin/env bash
# With the metadata engine down, the S3 gateway answers 5xx, never a 404
# (issue 12, item 13).
#
# An upload and an object exist; then redis-server is shut down. Every
# operation (UploadPart, UploadPartCopy, ListParts, Complete, Abort, HEAD
# bucket, GET/HEAD/PUT/DELETE object, CopyObject, ListObjects) must answer a
# 5xx: a 404 NoSuchUpload/NoSuchBucket/NoSuchKey would tell the client that
# things which still exist are gone, and it gives up on them. The gateway runs
# with --multi-buckets so the bucket lookup needs the engine too. The engine
# waits out a refused connection for about 15 s, so the requests run side by
# side. Afterwards redis comes back and the upload completes.
# Before the fix: 404 NoSuchUpload for the multipart calls, 404 NoSuchBucket
# for the bucket checks.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
command -v redis-server >/dev/null || t_skip_all "redis-server not installed"

AK=downak1 SK=downsecret1
export MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK
redis_own --appendonly yes
jfs format "$R" down --bucket "$T/data" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format" "$(last_run)"; t_done; }

S3C=(curl -s --max-time 60 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK")
head -c $((5 << 20)) /dev/urandom >"$T/part"
head -c 1000 /dev/urandom >"$T/obj"

# gw NAME ARGS...: a gateway on the volume; EP_<NAME> gets its endpoint.
gw()
{
	local name=$1
	shift
	gw_start "$name" "$R" "$@" || t_fail "gateway $name starts" "$(tail -n 5 "$T/gw-$name.log")"
}
# multi: buckets are top directories (their lookup needs the engine);
# single: the volume is the one bucket.
gw multi --multi-buckets
gw single

# setup NAME BUCKET-URL: an object and an upload with one part; sets UP_<NAME>.
setup()
{
	local name=$1 b=$2 uid etag ok=1
	[ "$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/obj" "$b/obj")" = 200 ] || ok=0
	"${S3C[@]}" -X POST "$b/big?uploads=" >"$T/init-$name.xml"
	uid=$(sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p' "$T/init-$name.xml")
	"${S3C[@]}" -D "$T/p1.h" -o /dev/null -T "$T/part" "$b/big?partNumber=1&uploadId=$uid"
	etag=$(tr -d '\r' <"$T/p1.h" | sed -n 's/^[Ee][Tt]ag: *//p')
	[ -n "$uid" ] && [ -n "$etag" ] || ok=0
	printf '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>' \
		"$etag" >"$T/complete-$name.xml"
	printf -v "UP_$name" '%s' "$uid"
	[ "$ok" -eq 1 ] || { t_fail "[$name] set up an object and an upload" \
		"$(cat "$T/init-$name.xml")" "$(tail -n 5 "$T/gw-$name.log")"; t_done; }
}
[ "$("${S3C[@]}" -o /dev/null -w '%{http_code}' -X PUT "$EP_multi/bkt1")" = 200 ] ||
	{ t_fail "create bucket bkt1" "$(tail -n 5 "$T/gw-multi.log")"; t_done; }
setup multi "$EP_multi/bkt1"
setup single "$EP_single/down"

redis-cli -p "$rport" shutdown >/dev/null 2>&1 # appendonly: comes back as it was
wait "$RPID" 2>/dev/null

# op NAME CURL-ARGS...: run in the background; status to $T/st-NAME.
pids=()
op()
{
	local name=$1
	shift
	("${S3C[@]}" -o "$T/body-$name" -w '%{http_code}' "$@" >"$T/st-$name" 2>/dev/null) &
	pids+=($!)
}
# ops NAME BUCKET-URL COPY-SOURCE-BUCKET: every operation, side by side.
ops()
{
	local n=$1 b=$2 cb=$3 up u
	up=UP_$n
	u="uploadId=${!up}"
	op "$n-upload-part" -T "$T/obj" "$b/big?partNumber=2&$u"
	op "$n-upload-part-copy" -X PUT -H "x-amz-copy-source: /$cb/obj" "$b/big?partNumber=3&$u"
	op "$n-list-parts" "$b/big?$u"
	op "$n-complete" -X POST -T "$T/complete-$n.xml" "$b/big?$u"
	op "$n-abort" -X DELETE "$b/big?$u"
	op "$n-list-uploads" "$b?uploads="
	# single-bucket HEAD needs no lookup (the bucket is the volume): 200 is true
	[ "$n" = single ] || op "$n-head-bucket" -I "$b"
	op "$n-list-objects" "$b?list-type=2"
	op "$n-get-object" "$b/obj"
	op "$n-head-object" -I "$b/obj"
	op "$n-put-object" -T "$T/obj" "$b/obj2"
	op "$n-copy-object" -X PUT -H "x-amz-copy-source: /$cb/obj" "$b/obj3"
	op "$n-delete-object" -X DELETE "$b/obj"
}
ops multi "$EP_multi/bkt1" bkt1
ops single "$EP_single/down" down
wait "${pids[@]}"
for f in "$T"/st-*; do
	name=${f#"$T"/st-}
	code=$(cat "$f")
	case $code in
	5??) t_ok "$name with the engine down: $code $(grep -o '<Code>[^<]*' "$T/body-$name" | cut -c7-)" ;;
	*) t_fail "$name with the engine down: 5xx" "status '$code'" "$(head -c 300 "$T/body-$name")" ;;
	esac
done

redis-server "${RARGS[@]}" &
T_PIDS+=("$!")
redis_up || { t_fail "redis-server restarts" "$(tail -n 5 "$T/redis/log")"; t_done; }

# The engine failing mid-request: t/tools/redis-fault-proxy.py --fail-key
# drops the connection on the xattr hashes (x<ino>), so lookups succeed and
# the read of an object's ETag and metadata, or of an upload's owner, fails.
# 200 with the ETag or the upload left out would be a wrong answer; before
# the fix GET/HEAD answered 200 (no ETag) and ListMultipartUploads an empty
# 200 list.
pp=$(free_port)
t_spawn python3 "$JFS_SRCDIR/t/tools/redis-fault-proxy.py" --listen "$pp" \
	--to "127.0.0.1:$rport" --fail-key '^x[0-9]+$'
for _ in $(seq 100); do
	[ "$(redis-cli -p "$pp" ping 2>/dev/null)" = PONG ] && break
	sleep 0.05
done
R_SAVED=$R
R=redis://127.0.0.1:$pp/1
gw xattr
R=$R_SAVED
pids=()
rm -f "$T"/st-*
b=$EP_xattr/down
op mid-get-object "$b/obj"
op mid-head-object -I "$b/obj"
op mid-list-uploads "$b?uploads="
op mid-list-parts "$b/big?uploadId=$UP_single"
wait "${pids[@]}"
for f in "$T"/st-*; do
	name=${f#"$T"/st-}
	code=$(cat "$f")
	case $code in
	5??) t_ok "$name, the engine failing on xattrs: $code" ;;
	*) t_fail "$name, the engine failing on xattrs: 5xx" "status '$code'" \
		"$(head -c 300 "$T/body-$name")" ;;
	esac
done
for n in multi single; do
	up=UP_$n
	ep=EP_$n
	b=${!ep}/$([ $n = multi ] && echo bkt1 || echo down)
	code=$("${S3C[@]}" -o "$T/body" -w '%{http_code}' -X POST -T "$T/complete-$n.xml" "$b/big?uploadId=${!up}")
	if [ "$code" = 200 ] && "${S3C[@]}" -o "$T/got" "$b/big" && cmp -s "$T/got" "$T/part"; then
		t_ok "[$n] the upload survived and completes once the engine is back"
	else
		t_fail "[$n] the upload completes once the engine is back" "status $code" "$(head -c 300 "$T/body")"
	fi
done
t_done
