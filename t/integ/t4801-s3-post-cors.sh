#!/usr/bin/env bash
# Browser uploads (POST object) and bucket CORS (issue 14 §3):
#  - POST object with curl -F: V4 and V2 forms, success_action_status and
#    success_action_redirect, ${filename}, tagging, each kind of condition failing
#    and passing, a file over and under content-length-range, a forged, an
#    expired and a malformed policy, anonymous (refused, then allowed under
#    a prefix by a bucket policy), no key, no file, a truncated
#    body, oversized fields; failed overwrites leave the old object intact;
#    a 1 GiB upload streams (the gateway's peak RSS stays far below it);
#  - CORS: Put/Get/DeleteBucketCors (bad XML refused), preflights with
#    curl, the CORS headers of actual responses;
#  - the same commands against the real gateway, both results printed
#    (only ours is checked: the real one has no V2 forms and no bucket CORS);
#  - a real browser (headless Chromium) on a page served from another
#    origin uploads with a signed form and a presigned PUT and downloads
#    with CORS; the objects are checked through the gateway and a
#    screenshot is kept in the test's temp folder.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
python3 -c 'import boto3' 2>/dev/null || t_skip_all "python3 boto3 missing (Debian: python3-boto3)"
curl --help all 2>/dev/null | grep -q aws-sigv4 || t_skip_all "curl has no --aws-sigv4"

AK=s3admin SK=s3secret123
export MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK
PY="$JFS_SRCDIR/t/integ/s3-post.py"
B=uploads
NOCORS=nocors

# start BIN META VAR: a gateway (--multi-buckets) on a free port; VAR gets the port, SPID the pid.
SPID=
start()
{
	local bin=$1 meta=$2 var=$3 port i
	port=$(free_port)
	"$bin" gateway "$meta" "127.0.0.1:$port" --no-banner --multi-buckets >>"$T/gw-$port.log" 2>&1 &
	SPID=$!
	T_PIDS+=("$SPID")
	wait_http "$port" 15
	printf -v "$var" '%s' "$port"
}

stop()
{
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

s3curl()
{
	curl -s --max-time 60 --aws-sigv4 "aws:amz:us-east-1:s3" -u "$AK:$SK" "$@"
}

# sign VER BUCKET EXPIRES CONDS > file
sign()
{
	python3 "$PY" sign "$1" "$AK" "${SECRET:-$SK}" "$2" "$3" "$4"
}

# post PORT BUCKET FIELDS_FILE [curl args...]: "STATUS CODE" of a form upload
post()
{
	local port=$1 bucket=$2 fields=$3 st code l
	shift 3
	local args=()
	while IFS= read -r l; do
		[ -n "$l" ] && args+=(--form-string "$l")
	done <"$fields"
	st=$(curl -s --max-time 120 -o "$T/resp" -D "$T/hdr" -w '%{http_code}' "${args[@]}" "$@" \
		"http://127.0.0.1:$port/$bucket")
	code=$(grep -o '<Code>[^<]*' "$T/resp" | head -n 1 | cut -c7-)
	echo "$st ${code:--}"
}

V4C='[{"bucket": "$BUCKET"}, ["starts-with", "$key", "up/"], ["starts-with", "$Content-Type", "text/"], ["content-length-range", 1, 1048576]]'
V2C='[{"bucket": "$BUCKET"}, ["starts-with", "$key", "up/"], ["starts-with", "$Content-Type", "text/"], ["content-length-range", 1, 1048576]]'

head -c 5000 /dev/urandom >"$T/small"
head -c 2000000 /dev/urandom >"$T/toolarge"
printf '' >"$T/empty"

# post_cases PORT: every POST case, "name: STATUS CODE" a line, into $T/post.<PORT>
post_cases()
{
	local p=$1 out="$T/post.$1"
	: >"$out"
	sign v4 $B 600 "$V4C" >"$T/f4"
	sign v2 $B 600 "$V2C" >"$T/f2"
	c() { echo "$1: $(post "$p" "${@:2}")" >>"$out"; }
	c v4-ok $B "$T/f4" --form-string key=up/keep -F "Content-Type=text/plain" -F "file=@$T/small"
	python3 "$PY" get "$p" "$AK" "$SK" $B up/keep >"$T/keep.$p"
	c v2-ok $B "$T/f2" --form-string key=up/v2 -F "Content-Type=text/plain" -F "file=@$T/small"
	sign v4 $B 600 '[{"bucket": "$BUCKET"}, ["starts-with", "$key", "up/"], {"success_action_status": "201"}]' >"$T/f"
	c v4-status-201 $B "$T/f" --form-string key=up/s201 -F success_action_status=201 -F "file=@$T/small"
	grep -q '<Key>up/s201</Key>' "$T/resp" || echo "v4-status-201-body: no Key" >>"$out"
	sign v4 $B 600 '[{"bucket": "$BUCKET"}, ["starts-with", "$key", "up/"], ["eq", "$success_action_redirect", "http://example.invalid/done?x=1"]]' >"$T/f"
	c v4-redirect $B "$T/f" --form-string key=up/redir --form-string "success_action_redirect=http://example.invalid/done?x=1" -F "file=@$T/small"
	[ "$(grep -ci '^location:' "$T/hdr")" = 1 ] &&
		grep -qi '^location: http://example.invalid/done?x=1&bucket=uploads&key=up%2Fredir&etag=%22' "$T/hdr" ||
		echo "v4-redirect-location: $(grep -i '^location' "$T/hdr")" >>"$out"
	sign v4 $B 600 '[{"bucket": "$BUCKET"}, ["starts-with", "$key", "up/"]]' >"$T/f"
	c v4-filename $B "$T/f" --form-string 'key=up/${filename}' -F "file=@$T/small;filename=from-name.bin"
	python3 "$PY" get "$p" "$AK" "$SK" $B up/from-name.bin | cut -d' ' -f1 | sed 's/^/v4-filename-size: /' >>"$out"
	sign v4 $B 600 '[{"bucket": "$BUCKET"}, ["starts-with", "$key", "up/"], ["starts-with", "$tagging", ""]]' >"$T/f"
	c v4-tagging $B "$T/f" --form-string key=up/tagged --form-string \
		'tagging=<Tagging><TagSet><Tag><Key>b</Key><Value>2</Value></Tag><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>' \
		-F "file=@$T/small"
	echo "v4-tagging-tags: $(python3 "$PY" tags "$p" "$AK" "$SK" $B up/tagged 2>&1 | tail -n 1)" >>"$out"
	c v4-tagging-bad $B "$T/f" --form-string key=up/tagged2 --form-string 'tagging=<Tagging><TagSet>' -F "file=@$T/small"
	# each condition failing
	c cond-key-prefix $B "$T/f4" --form-string key=other/x -F "Content-Type=text/plain" -F "file=@$T/small"
	c cond-type-prefix $B "$T/f4" --form-string key=up/x -F "Content-Type=image/png" -F "file=@$T/small"
	c cond-field-missing $B "$T/f4" --form-string key=up/x -F "file=@$T/small"
	sign v4 $NOCORS 600 "$V4C" >"$T/fo"
	c cond-other-bucket $B "$T/fo" --form-string key=up/x -F "Content-Type=text/plain" -F "file=@$T/small"
	c cond-extra-field $B "$T/f4" --form-string key=up/x -F "Content-Type=text/plain" -F "x-amz-meta-a=1" -F "file=@$T/small"
	c cond-ignored-field $B "$T/f4" --form-string key=up/ign -F "Content-Type=text/plain" -F "x-ignore-a=1" -F "file=@$T/small"
	sign v4 $B 600 '[{"bucket": "$BUCKET"}, ["starts-with", "$key", "up/"], ["eq", "$x-amz-meta-a", "yes"]]' >"$T/f"
	c cond-eq-fail $B "$T/f" --form-string key=up/m -F "x-amz-meta-a=no" -F "file=@$T/small"
	c cond-eq-pass $B "$T/f" --form-string key=up/m -F "x-amz-meta-a=yes" -F "file=@$T/small"
	# sizes: over and under the range, onto up/keep, which must stay as it was
	c too-large $B "$T/f4" --form-string key=up/keep -F "Content-Type=text/plain" -F "file=@$T/toolarge"
	c too-small $B "$T/f4" --form-string key=up/keep -F "Content-Type=text/plain" -F "file=@$T/empty"
	# forged, wrongly signed, expired, malformed, anonymous
	python3 "$PY" forge "$T/f4" >"$T/ff"
	c forged-v4 $B "$T/ff" --form-string key=any/x -F "Content-Type=text/plain" -F "file=@$T/small"
	python3 "$PY" forge "$T/f2" >"$T/ff"
	c forged-v2 $B "$T/ff" --form-string key=any/x -F "Content-Type=text/plain" -F "file=@$T/small"
	SECRET=not-the-secret sign v4 $B 600 "$V4C" >"$T/f"
	c wrong-secret $B "$T/f" --form-string key=up/x -F "Content-Type=text/plain" -F "file=@$T/small"
	sed 's/^AWSAccessKeyId=.*/AWSAccessKeyId=nobody/' "$T/f2" >"$T/f"
	c wrong-access-key $B "$T/f" --form-string key=up/x -F "Content-Type=text/plain" -F "file=@$T/small"
	sign v4 $B -60 "$V4C" >"$T/f"
	c expired $B "$T/f" --form-string key=up/x -F "Content-Type=text/plain" -F "file=@$T/small"
	python3 - "$T/f2" "$SK" >"$T/f" <<'EOF'
import sys, base64, hmac, hashlib
sk = sys.argv[2]
pol = base64.b64encode(b'{"conditions": [{"bucket": "up"}]}').decode()
for l in open(sys.argv[1]):
    k, v = l.rstrip("\n").split("=", 1)
    if k == "policy":
        v = pol
    if k == "signature":
        v = base64.b64encode(hmac.new(sk.encode(), pol.encode(), hashlib.sha1).digest()).decode()
    print("%s=%s" % (k, v))
EOF
	c no-expiration $B "$T/f" --form-string key=up/x -F "file=@$T/small"
	: >"$T/none"
	c anonymous $B "$T/none" --form-string key=up/anon -F "Content-Type=text/plain" -F "file=@$T/small"
	# a bucket policy lets everyone put under public/: anonymous forms there, and only there
	local pol='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::'$B'/public/*"]}]}'
	echo "put-policy: $(s3curl -o /dev/null -w '%{http_code}' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X PUT --data-binary "$pol" "http://127.0.0.1:$p/$B?policy=")" >>"$out"
	c anonymous-allowed $B "$T/none" --form-string 'key=public/${filename}' -F "file=@$T/small;filename=anon.bin"
	python3 "$PY" get "$p" "$AK" "$SK" $B public/anon.bin | cut -d' ' -f1 | sed 's/^/anonymous-allowed-size: /' >>"$out"
	c anonymous-other-key $B "$T/none" --form-string key=up/anon -F "file=@$T/small"
	echo "delete-policy: $(s3curl -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$p/$B?policy=")" >>"$out"
	c anonymous-after-delete $B "$T/none" --form-string key=public/again -F "file=@$T/small"
	c no-key $B "$T/f4" -F "Content-Type=text/plain" -F "file=@$T/small"
	c no-signature $B <(grep -v '^signature=' "$T/f2") --form-string key=up/x -F "Content-Type=text/plain" -F "file=@$T/small"
	echo "no-file: $(python3 "$PY" raw "$p" $B "$T/f4" nofile)" >>"$out"
	echo "truncated: $(python3 "$PY" raw "$p" $B "$T/f4" truncated)" >>"$out"
	head -c 70000 /dev/zero | tr '\0' 'a' >"$T/pad"
	c fields-too-large $B "$T/f4" --form-string key=up/keep -F "x-ignore-pad=<$T/pad" -F "file=@$T/small"
	echo "no-boundary: $(python3 "$PY" raw "$p" $B "$T/f4" noboundary)" >>"$out"
	c no-bucket nosuchbucket "$T/f4" --form-string key=up/x -F "file=@$T/small"
	python3 "$PY" get "$p" "$AK" "$SK" $B up/keep >"$T/keep2.$p"
	cmp -s "$T/keep.$p" "$T/keep2.$p" || echo "keep-intact: no ($(cat "$T/keep.$p") then $(cat "$T/keep2.$p"))" >>"$out"
}

EXPECT_POST="v4-ok: 204 -
v2-ok: 204 -
v4-status-201: 201 -
v4-redirect: 303 -
v4-filename: 204 -
v4-filename-size: 5000
v4-tagging: 204 -
v4-tagging-tags: a=1&b=2
v4-tagging-bad: 400 MalformedXML
cond-key-prefix: 403 AccessDenied
cond-type-prefix: 403 AccessDenied
cond-field-missing: 403 AccessDenied
cond-other-bucket: 403 AccessDenied
cond-extra-field: 403 AccessDenied
cond-ignored-field: 204 -
cond-eq-fail: 403 AccessDenied
cond-eq-pass: 204 -
too-large: 400 EntityTooLarge
too-small: 400 EntityTooSmall
forged-v4: 403 SignatureDoesNotMatch
forged-v2: 403 SignatureDoesNotMatch
wrong-secret: 403 SignatureDoesNotMatch
wrong-access-key: 403 InvalidAccessKeyId
expired: 403 AccessDenied
no-expiration: 400 InvalidPolicyDocument
anonymous: 403 AccessDenied
put-policy: 204
anonymous-allowed: 204 -
anonymous-allowed-size: 5000
anonymous-other-key: 403 AccessDenied
delete-policy: 204
anonymous-after-delete: 403 AccessDenied
no-key: 400 InvalidArgument
no-signature: 400 InvalidArgument
no-file: 400 IncorrectNumberOfFilesInPostRequest
truncated: 400 MalformedPOSTRequest
fields-too-large: 400 MaxPostPreDataLengthExceededError
no-boundary: 400 MalformedPOSTRequest
no-bucket: 404 NoSuchBucket"

CORS_XML_OK='{"CORSRules": [{"AllowedOrigins": ["http://127.0.0.1:WEB"], "AllowedMethods": ["GET", "PUT", "POST", "HEAD"], "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 600}, {"AllowedOrigins": ["https://*.example"], "AllowedMethods": ["GET"]}]}'

# preflight PORT PATH ORIGIN METHOD [HEADERS]: "STATUS CODE" and the CORS headers in $T/hdr
preflight()
{
	local st code args=(-H "Origin: $3")
	[ -n "$4" ] && args+=(-H "Access-Control-Request-Method: $4")
	[ -n "${5:-}" ] && args+=(-H "Access-Control-Request-Headers: $5")
	st=$(curl -s --max-time 30 -o "$T/resp" -D "$T/hdr" -w '%{http_code}' -X OPTIONS "${args[@]}" \
		"http://127.0.0.1:$1$2")
	code=$(grep -o '<Code>[^<]*' "$T/resp" | head -n 1 | cut -c7-)
	echo "$st ${code:--}"
}

hdr()
{
	grep -i "^$1:" "$T/hdr" | head -n 1 | cut -d' ' -f2- | tr -d '\r'
}

# cors_cases PORT WEBORIGIN: into $T/cors.<PORT>
cors_cases()
{
	local p=$1 o=$2 out="$T/cors.$1" url
	: >"$out"
	echo "get-none: $(python3 "$PY" cors "$p" "$AK" "$SK" $B get | tail -n 1)" >>"$out"
	echo "put-malformed: $(python3 "$PY" cors "$p" "$AK" "$SK" $B raw-put '<CORSConfiguration><CORSRule>')" >>"$out"
	echo "put-no-rule: $(python3 "$PY" cors "$p" "$AK" "$SK" $B raw-put '<CORSConfiguration></CORSConfiguration>')" >>"$out"
	echo "put-bad-method: $(python3 "$PY" cors "$p" "$AK" "$SK" $B raw-put \
		'<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>')" >>"$out"
	echo "put: $(python3 "$PY" cors "$p" "$AK" "$SK" $B put "${CORS_XML_OK//http:\/\/127.0.0.1:WEB/$o}")" >>"$out"
	python3 "$PY" cors "$p" "$AK" "$SK" $B get >"$T/cget"
	echo "get: $(tail -n 1 "$T/cget")" >>"$out"
	grep -q "\"AllowedOrigins\": \[\"$o\"\]" "$T/cget" && grep -q '"MaxAgeSeconds": 600' "$T/cget" ||
		echo "get-rules: $(head -c 300 "$T/cget")" >>"$out"
	echo "preflight-ok: $(preflight "$p" /$B/up/keep "$o" PUT 'content-type, x-amz-meta-from')" >>"$out"
	echo "preflight-ok-headers: $(hdr access-control-allow-origin) | $(hdr access-control-allow-methods) | $(hdr access-control-allow-headers) | $(hdr access-control-max-age) | $(hdr access-control-expose-headers) | $(hdr vary)" >>"$out"
	echo "preflight-wildcard: $(preflight "$p" /$B/up/keep https://a.b.example GET) $(hdr access-control-allow-origin)" >>"$out"
	echo "preflight-origin: $(preflight "$p" /$B/up/keep http://evil.invalid PUT)" >>"$out"
	echo "preflight-method: $(preflight "$p" /$B/up/keep "$o" DELETE)" >>"$out"
	echo "preflight-no-method: $(preflight "$p" /$B/up/keep "$o" '')" >>"$out"
	echo "preflight-wildcard-header: $(preflight "$p" /$B/up/keep https://a.b.example GET x-amz-date)" >>"$out"
	echo "preflight-nocors-bucket: $(preflight "$p" /$NOCORS/x "$o" GET)" >>"$out"
	url=$(python3 "$PY" presign "$p" "$AK" "$SK" GET $B up/keep)
	curl -s -o /dev/null -D "$T/hdr" -H "Origin: $o" "$url"
	echo "actual-get: $(hdr access-control-allow-origin) | $(hdr access-control-expose-headers)" >>"$out"
	curl -s -o /dev/null -D "$T/hdr" -H "Origin: http://evil.invalid" "$url"
	echo "actual-get-other-origin: [$(hdr access-control-allow-origin)]" >>"$out"
	curl -s -o /dev/null -D "$T/hdr" "$url"
	echo "actual-get-no-origin: [$(hdr access-control-allow-origin)]" >>"$out"
	echo "delete: $(python3 "$PY" cors "$p" "$AK" "$SK" $B delete)" >>"$out"
	echo "get-after-delete: $(python3 "$PY" cors "$p" "$AK" "$SK" $B get | tail -n 1)" >>"$out"
	echo "preflight-after-delete: $(preflight "$p" /$B/up/keep "$o" PUT)" >>"$out"
}

expect_cors()
{
	local o=$1
	cat <<EOF
get-none: 404 NoSuchCORSConfiguration
put-malformed: 400 MalformedXML
put-no-rule: 400 MalformedXML
put-bad-method: 400 InvalidRequest
put: 200 -
get: 200 -
preflight-ok: 200 -
preflight-ok-headers: $o | GET, PUT, POST, HEAD | content-type, x-amz-meta-from | 600 | ETag, x-amz-request-id | Origin, Access-Control-Request-Headers, Access-Control-Request-Method
preflight-wildcard: 200 - https://a.b.example
preflight-origin: 403 AccessForbidden
preflight-method: 403 AccessForbidden
preflight-no-method: 400 InvalidRequest
preflight-wildcard-header: 403 AccessForbidden
preflight-nocors-bucket: 403 AccessForbidden
actual-get: $o | ETag, x-amz-request-id
actual-get-other-origin: []
actual-get-no-origin: []
delete: 204 -
get-after-delete: 404 NoSuchCORSConfiguration
preflight-after-delete: 403 AccessForbidden
EOF
}

# ---------------------------------------------------------------- ours
jfs format "sqlite3://$T/ours.db" postvol --bucket "$T/ours-data"
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }
start "$JFS_BIN" "sqlite3://$T/ours.db" P
OURS=$SPID
for b in $B $NOCORS; do s3curl -X PUT "http://127.0.0.1:$P/$b" -o /dev/null; done
WEB=$(free_port)
ORIGIN="http://127.0.0.1:$WEB"

post_cases "$P"
if diff <(echo "$EXPECT_POST") "$T/post.$P" >"$T/diff"; then
	t_ok "POST object: V4 and V2 forms, conditions, sizes, forged/expired/malformed policies answered as S3 does ($(wc -l <"$T/post.$P") cases)"
else
	t_fail "POST object cases (expected < > ours)" "$(cat "$T/diff")"
fi
if [ "$(cut -d' ' -f1 "$T/keep.$P")" = 5000 ] && cmp -s "$T/keep.$P" "$T/keep2.$P" &&
	[ "$(python3 "$PY" get "$P" "$AK" "$SK" $B up/keep)" = "5000 $(sha256sum <"$T/small" | cut -d' ' -f1)" ]; then
	t_ok "a form-uploaded object reads back byte-exact; failed overwrites left it intact"
else
	t_fail "form-uploaded object intact" "$(cat "$T/keep.$P" "$T/keep2.$P")"
fi

# forms signed by users (juicefs gateway-admin): a user's form is its PUT of the key
jfs gateway-admin user-add "sqlite3://$T/ours.db" poster postersecret1 --policy readwrite
jfs gateway-admin user-add "sqlite3://$T/ours.db" reader readersecret1 --policy readonly
sleep 1.2 # the gateway's cache of users (1 s)
: >"$T/users"
for u in poster:postersecret1 reader:readersecret1; do
	for v in v4 v2; do
		python3 "$PY" sign $v "${u%%:*}" "${u#*:}" $B 600 "$V4C" >"$T/fu"
		echo "${u%%:*}-$v: $(post "$P" $B "$T/fu" --form-string key=up/by-${u%%:*} \
			-F "Content-Type=text/plain" -F "file=@$T/small")" >>"$T/users"
	done
done
python3 "$PY" sign v4 poster wrongsecret $B 600 "$V4C" >"$T/fu"
echo "poster-wrong-secret: $(post "$P" $B "$T/fu" --form-string key=up/x -F "Content-Type=text/plain" -F "file=@$T/small")" >>"$T/users"
want_users="poster-v4: 204 -
poster-v2: 204 -
reader-v4: 403 AccessDenied
reader-v2: 403 AccessDenied
poster-wrong-secret: 403 SignatureDoesNotMatch"
if [ "$(cat "$T/users")" = "$want_users" ]; then
	t_ok "forms signed by users: readwrite may upload, readonly may not, a wrong secret is refused"
else
	t_fail "forms signed by users" "$(cat "$T/users")"
fi

# a 1 GiB file streams through: the gateway's peak RSS stays far below it
head -c $((1 << 30)) /dev/urandom >"$T/big"
sign v4 $B 600 '[{"bucket": "$BUCKET"}, ["starts-with", "$key", "big/"]]' >"$T/fb"
hwm0=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$OURS/status")
res=$(post "$P" $B "$T/fb" --form-string key=big/one -F "file=@$T/big")
hwm1=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$OURS/status")
want="$((1 << 30)) $(sha256sum <"$T/big" | cut -d' ' -f1)"
rm -f "$T/big"
got=$(python3 "$PY" get "$P" "$AK" "$SK" $B big/one)
echo "# 1 GiB form upload: gateway peak RSS ${hwm0} MiB before, ${hwm1} MiB after"
if [ "$res" = "204 -" ] && [ "$got" = "$want" ] && [ "$hwm1" -lt 600 ]; then
	t_ok "a 1 GiB form upload streams into the volume byte-exact (peak RSS $hwm1 MiB)"
else
	t_fail "1 GiB form upload" "answer $res, peak RSS $hwm1 MiB" "want $want" "got  $got"
fi

cors_cases "$P" "$ORIGIN"
if diff <(expect_cors "$ORIGIN") "$T/cors.$P" >"$T/diff"; then
	t_ok "bucket CORS: put/get/delete, bad XML refused, preflights and response headers from the rules"
else
	t_fail "bucket CORS cases (expected < > ours)" "$(cat "$T/diff")"
fi

# ---------------------------------------------------------------- the browser
if ! command -v chromium >/dev/null 2>&1; then
	t_skip "headless Chromium uploads and downloads across origins" "chromium not installed (Debian: chromium)"
else
	python3 "$PY" cors "$P" "$AK" "$SK" $B put "${CORS_XML_OK//http:\/\/127.0.0.1:WEB/$ORIGIN}" >/dev/null
	mkdir -p "$T/web" "$T/chrome"
	python3 "$PY" page "$P" "$AK" "$SK" $B $NOCORS "$T/web/index.html" >"$T/want"
	(cd "$T/web" && exec python3 -m http.server "$WEB" --bind 127.0.0.1) >"$T/web.log" 2>&1 &
	T_PIDS+=($!)
	for i in $(seq 1 50); do curl -s -o /dev/null "$ORIGIN/" && break; sleep 0.1; done
	chrome()
	{
		timeout 90 chromium --headless --disable-gpu --no-sandbox --no-first-run --disable-dev-shm-usage \
			--user-data-dir="$T/chrome" --virtual-time-budget=20000 "$@" "$ORIGIN/index.html" \
			2>>"$T/chrome.log"
	}
	chrome --dump-dom >"$T/dom.html"
	python3 -c 'import re, sys, html
m = re.search(r"<pre id=\"out\">(.*?)</pre>", open(sys.argv[1]).read(), re.S)
print(html.unescape(m.group(1)) if m else "no results in the page")' "$T/dom.html" >"$T/browser"
	chrome --screenshot="$T/browser.png" --window-size=900,500 >/dev/null
	echo "# browser: $(tr '\n' ' ' <"$T/browser")"
	echo "# screenshot: $T/browser.png ($(stat -c %s "$T/browser.png" 2>/dev/null || echo missing) bytes)"
	form_want=$(sed -n 's/^form //p' "$T/want")
	put_want=$(sed -n 's/^put //p' "$T/want")
	form_got=$(python3 "$PY" get "$P" "$AK" "$SK" $B browser/hello.txt)
	put_got=$(python3 "$PY" get "$P" "$AK" "$SK" $B browser/put.txt)
	if grep -qx 'form-status=201' "$T/browser" && grep -qx 'form-key=browser/hello.txt' "$T/browser" &&
		[ "$form_got" = "$form_want" ]; then
		t_ok "Chromium uploads with a signed form from another origin; the object is byte-exact"
	else
		t_fail "Chromium signed form upload" "$(cat "$T/browser")" "want $form_want" "got  $form_got" \
			"$(tail -n 5 "$T/chrome.log")"
	fi
	if grep -qx 'put-status=200' "$T/browser" && grep -q '^put-etag="' "$T/browser" &&
		[ "$put_got" = "$put_want" ]; then
		t_ok "Chromium uploads with a presigned PUT (preflighted) and reads the exposed ETag"
	else
		t_fail "Chromium presigned PUT" "$(cat "$T/browser")" "want $put_want" "got  $put_got"
	fi
	if grep -qx 'get-status=200' "$T/browser" &&
		grep -qx "get-sha256=${form_want#* }" "$T/browser" &&
		grep -q '^nocors-error=TypeError' "$T/browser" && [ -s "$T/browser.png" ]; then
		t_ok "Chromium downloads with CORS byte-exact, is blocked where the bucket has no CORS; screenshot kept"
	else
		t_fail "Chromium CORS download" "$(cat "$T/browser")" "screenshot: $(ls -l "$T/browser.png" 2>&1)"
	fi
	# keep the screenshot past the temp folder's removal when asked
	[ -n "${JFS_KEEP_SCREENSHOT:-}" ] && cp "$T/browser.png" "$JFS_KEEP_SCREENSHOT"
fi
stop "$OURS"

# ---------------------------------------------------------------- the real gateway, same commands
# need_ref installs the real client; in a subshell, so that its skip cannot end this script
(need_ref) >"$T/need-ref.log" 2>&1
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
if ! { [ -x "$JFS_REF" ] && "$JFS_REF" version >/dev/null 2>&1; }; then
	t_skip "the same commands against the real gateway" "$(grep -m1 SKIP "$T/need-ref.log")"
else
	ref format "sqlite3://$T/ref.db" postvol --bucket "$T/ref-data"
	start "$JFS_REF" "sqlite3://$T/ref.db" R
	REF=$SPID
	for b in $B $NOCORS; do s3curl -X PUT "http://127.0.0.1:$R/$b" -o /dev/null; done
	post_cases "$R"
	cors_cases "$R" "$ORIGIN"
	stop "$REF"
	# side by side, case by case (ours: real)
	side()
	{
		awk -F': ' 'NR == FNR { real[$1] = $2; next }
			{ r = ($1 in real) ? real[$1] : "(no answer)"; printf "#   %-28s ours %-45s real %s\n", $1, $2, r }' "$2" "$1" |
			cut -c1-220
	}
	echo "# POST object, ours and the real gateway:"
	side "$T/post.$P" "$T/post.$R"
	echo "# CORS, ours and the real gateway:"
	side "$T/cors.$P" "$T/cors.$R"
	same=$(awk -F': ' 'NR == FNR { real[$1] = $2; next } ($1 in real) && real[$1] == $2' \
		"$T/post.$R" "$T/post.$P" | wc -l)
	t_ok "the real gateway ran the same $(wc -l <"$T/post.$R") POST and $(wc -l <"$T/cors.$R") CORS commands ($same POST answers the same as ours)"
fi
t_done
