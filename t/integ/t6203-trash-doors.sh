#!/usr/bin/env bash
# What the S3 and WebDAV doors expose of .trash: nothing (doc/architecture.md,
# "The trash and the doors"). The trash holds every user's deleted files and
# the doors act for the whole volume, so it is kept out of listings and out
# of reach: S3 answers AccessDenied (403) for any key under .trash/, as a
# source or a target; WebDAV answers 404 for a request under /.trash and 403
# for a Destination there. Files come back with `juicefs restore` or through
# the mount's read-only .trash. Deleted files must stay in the trash after
# every attempt. The real gateway's answer is printed beside ours.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
unset WEBDAV_USER WEBDAV_PASSWORD
fformat trashvol
M=$T/mnt
fmount "$META" "$M"
[ "$RC" -eq 0 ] || { t_fail "mount" "$(last_run)"; t_done; }
mkdir -p "$M/d" "$M/bkt"
printf gone >"$M/d/f"
printf here >"$M/keep"
rm "$M/d/f"
H=$(ls "$M/.trash" | head -n 1)
E=$(ls "$M/.trash/$H" | head -n 1)
if [ -n "$H" ] && [ -n "$E" ] && [ "$(cat "$M/.trash/$H/$E")" = gone ]; then
	t_ok "a deleted file is in the mount's .trash ($H/$E)"
else
	t_fail "a deleted file is in the mount's .trash" "hour '$H' entry '$E'"
	t_done
fi

srv_start()
{
	local var=$1 bin=$2 port i
	shift 2
	port=$(free_port)
	"$bin" "$@" "127.0.0.1:$port" >>"$T/srv-$port.log" 2>&1 &
	T_PIDS+=($!)
	wait_http "$port" 10
	printf -v "$var" 'http://127.0.0.1:%s' "$port"
}
srv_start GW "$JFS_BIN" gateway "$META" --no-banner --cache-dir none
srv_start DAV "$JFS_BIN" webdav "$META" --cache-dir none
S3=(curl -s --user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" --aws-sigv4 "aws:amz:us-east-1:s3")
B=$GW/trashvol

# expect DESC WANT-STATUS CURL-ARGS...
expect()
{
	local d=$1 want=$2 code
	shift 2
	code=$("$@" -o "$T/body" -w '%{http_code}')
	if [ "$code" = "$want" ]; then
		t_ok "$d"
	else
		t_fail "$d" "want $want, got $code: $(head -c 300 "$T/body")"
	fi
}

# ---- S3
"${S3[@]}" "$B?list-type=2" -o "$T/list"
if grep -q '<Key>keep</Key>' "$T/list" && ! grep -q '\.trash' "$T/list"; then
	t_ok "S3 ListObjectsV2 of the bucket shows files, not .trash"
else
	t_fail "S3 ListObjectsV2 hides .trash" "$(head -c 400 "$T/list")"
fi
"${S3[@]}" "$B?list-type=2&prefix=.trash/" -o "$T/list2"
if ! grep -q '<Key>' "$T/list2" && ! grep -q '<Prefix>.trash/[^<]' "$T/list2"; then
	t_ok "S3 listing with prefix .trash/ is empty"
else
	t_fail "S3 listing with prefix .trash/ is empty" "$(head -c 400 "$T/list2")"
fi
expect "S3 GET of a trash entry: 403" 403 "${S3[@]}" "$B/.trash/$H/$E"
grep -q AccessDenied "$T/body" && t_ok "S3 error code AccessDenied" ||
	t_fail "S3 error code AccessDenied" "$(head -c 300 "$T/body")"
expect "S3 HEAD of .trash/: 403" 403 "${S3[@]}" -I "$B/.trash/"
expect "S3 PUT into .trash: 403" 403 "${S3[@]}" -X PUT --data-binary x "$B/.trash/$H/new"
expect "S3 CopyObject out of .trash: 403" 403 "${S3[@]}" -X PUT \
	-H "x-amz-copy-source: /trashvol/.trash/$H/$E" "$B/back"
expect "S3 DELETE of a trash entry: 403" 403 "${S3[@]}" -X DELETE "$B/.trash/$H/$E"

# ---- S3 with --multi-buckets: .trash is no bucket
srv_start GWM "$JFS_BIN" gateway "$META" --no-banner --cache-dir none --multi-buckets
"${S3[@]}" "$GWM/" -o "$T/buckets"
if grep -q '<Name>bkt</Name>' "$T/buckets" && ! grep -q '\.trash' "$T/buckets"; then
	t_ok "S3 --multi-buckets: ListBuckets shows bkt, not .trash"
else
	t_fail "S3 --multi-buckets: ListBuckets hides .trash" "$(head -c 400 "$T/buckets")"
fi
code=$("${S3[@]}" -o "$T/body" -w '%{http_code}' "$GWM/.trash/$H/$E")
if [ "${code:0:1}" = 4 ] && ! grep -q gone "$T/body"; then
	t_ok "S3 --multi-buckets: GET /.trash/... is refused ($code)"
else
	t_fail "S3 --multi-buckets: GET /.trash/... is refused" "$code $(head -c 200 "$T/body")"
fi

# ---- WebDAV
curl -s -X PROPFIND -H 'Depth: 1' "$DAV/" -o "$T/pf"
if grep -q 'keep' "$T/pf" && ! grep -q '\.trash' "$T/pf"; then
	t_ok "WebDAV PROPFIND of the root lists files, not .trash"
else
	t_fail "WebDAV PROPFIND hides .trash" "$(head -c 400 "$T/pf")"
fi
expect "WebDAV PROPFIND /.trash/: 404" 404 curl -s -X PROPFIND -H 'Depth: 1' "$DAV/.trash/"
expect "WebDAV GET of a trash entry: 404" 404 curl -s "$DAV/.trash/$H/$E"
expect "WebDAV MOVE out of .trash: 404" 404 curl -s -X MOVE \
	-H "Destination: $DAV/back" "$DAV/.trash/$H/$E"
expect "WebDAV COPY into .trash: 403" 403 curl -s -X COPY \
	-H "Destination: $DAV/.trash/$H/x" "$DAV/keep"
expect "WebDAV DELETE of a trash entry: 404" 404 curl -s -X DELETE "$DAV/.trash/$H/$E"

if [ "$(cat "$M/.trash/$H/$E" 2>/dev/null)" = gone ] && [ ! -e "$M/back" ] &&
	[ ! -e "$M/.trash/$H/x" ] && [ ! -e "$M/.trash/$H/new" ]; then
	t_ok "after every attempt the trash entry is still there, nothing added or copied out"
else
	t_fail "the trash is untouched by the doors" "$(ls -a "$M" "$M/.trash/$H")"
fi

# ---- the real gateway on the same volume, for the record (not asserted)
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
if [ -x "$JFS_REF" ]; then
	srv_start RGW "$JFS_REF" gateway "$META" --no-usage-report --no-banner --cache-dir "$T/rc"
	rl=$("${S3[@]}" "$RGW/trashvol?list-type=2" | grep -o '\.trash[^<]*' | head -n 1)
	rg=$("${S3[@]}" -o /dev/null -w '%{http_code}' "$RGW/trashvol/.trash/$H/$E")
	echo "# real gateway: listing shows .trash: ${rl:-no}; GET of a trash entry: $rg"
fi
fumount "$M"
fcheck_logs
t_done
