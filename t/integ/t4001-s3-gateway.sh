#!/usr/bin/env bash
# S3 gateway with real clients (issue "S3 gateway"): our `juicefs gateway` on
# 127.0.0.1, driven by awscli (odd names, sync, recursive ls/rm, a >100 MiB
# multipart upload, ranged GET, presigned URL through curl), s3cmd, rclone and
# the boto3 checks of s3-boto3.py (paging past 1000 keys, delimiters, copy,
# tagging, conditionals, multipart, auth and every error code) served by a
# second gateway on the same volume with --multi-buckets. Then SIGKILL in the
# middle of an upload (old object intact, temp file removed at the next
# start) and a clean exit on SIGTERM.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
export AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=$T/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials AWS_PAGER=""
# awscli 1.x presigns with SigV2 unless told otherwise; this gateway speaks SigV4 only.
printf '[default]\ns3 =\n    signature_version = s3v4\n' >"$AWS_CONFIG_FILE"
META="sqlite3://$T/m.db"

jfs format "$META" s3vol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

# gw_start VAR ARGS...: start a gateway on a free port; VAR gets the port, GW_PID the pid.
GW_PID=
gw_start()
{
	local var=$1 port i
	shift
	port=$(free_port)
	"$JFS_BIN" gateway "$META" "127.0.0.1:$port" --cache-dir none --no-banner "$@" \
		>>"$T/gw-$port.log" 2>&1 &
	GW_PID=$!
	T_PIDS+=("$GW_PID")
	wait_http "$port" 10
	printf -v "$var" '%s' "$port"
}

gw_start PORT
EP="http://127.0.0.1:$PORT"
MAIN_PID=$GW_PID
code=$(curl -s -o "$T/anon" -w '%{http_code}' "$EP/s3vol/")
if [ "$code" = 403 ] && grep -q '<Code>AccessDenied</Code>' "$T/anon"; then
	t_ok "anonymous request gets 403 AccessDenied"
else
	t_fail "anonymous request gets 403 AccessDenied" "status $code: $(head -c 300 "$T/anon")"
fi

big_hdr=$(head -c 100000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big_hdr" "$EP/s3vol/")
code2=$(curl -s -o /dev/null -w '%{http_code}' "$EP/s3vol/")
if [ "$code" = 431 ] && [ "$code2" = 403 ]; then
	t_ok "a 100 KB header gets 431 and the gateway keeps serving"
else
	t_fail "a 100 KB header gets 431 and the gateway keeps serving" "got $code, then $code2"
fi

# ---------------------------------------------------------------- awscli
if ! command -v aws >/dev/null; then
	t_skip "awscli workloads" "aws not installed (Debian: awscli)"
else
	AWS=(aws --endpoint-url "$EP")
	src=$T/tree
	mkdir -p "$src/dir/sub dir" "$src/ünï cödé"
	for n in "sp ace.txt" "plus+sign" "pct%41x" "hash#tag" "q?mark" "amp&and" "ünï cödé/文件.bin" \
		"dir/sub dir/deep file" "dir/a-b" "dir/a.b" "semi;colon" "eq=sign" "tilde~" "quote'q"; do
		head -c $((RANDOM % 5000 + 1)) /dev/urandom >"$src/$n"
	done
	(cd "$src" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$T/want-list"
	run "${AWS[@]}" s3 cp --no-progress --recursive "$src" s3://s3vol/tree/
	if [ "$RC" -eq 0 ]; then t_ok "aws s3 cp --recursive of odd names"; else t_fail "aws s3 cp --recursive" "$(last_run)"; fi
	run "${AWS[@]}" s3 ls --recursive s3://s3vol/tree/
	awk '{ $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' "$T/out" | sed 's|^tree/||' | LC_ALL=C sort >"$T/got-list"
	if [ "$RC" -eq 0 ] && cmp -s "$T/want-list" "$T/got-list"; then
		t_ok "aws s3 ls --recursive lists every odd name"
	else
		t_fail "aws s3 ls --recursive lists every odd name" "$(diff "$T/want-list" "$T/got-list" | head)" "$(last_run)"
	fi
	run "${AWS[@]}" s3 sync --no-progress s3://s3vol/tree/ "$T/back"
	if [ "$RC" -eq 0 ] && diff -r "$src" "$T/back" >/dev/null; then
		t_ok "aws s3 sync back is byte-exact"
	else
		t_fail "aws s3 sync back is byte-exact" "$(diff -r "$src" "$T/back" 2>&1 | head -5)" "$(last_run)"
	fi
	echo changed >"$src/dir/a-b"
	run "${AWS[@]}" s3 sync --no-progress "$src" s3://s3vol/tree/
	if [ "$RC" -eq 0 ] && grep -q 'dir/a-b' "$T/out" && [ "$(nlines "$T/out")" -eq 1 ]; then
		t_ok "aws s3 sync uploads only the changed file"
	else
		t_fail "aws s3 sync uploads only the changed file" "$(last_run)"
	fi
	run "${AWS[@]}" s3 rm --only-show-errors --recursive s3://s3vol/tree/
	run2=$RC
	run "${AWS[@]}" s3 ls --recursive s3://s3vol/tree/
	if [ "$run2" -eq 0 ] && [ ! -s "$T/out" ]; then
		t_ok "aws s3 rm --recursive leaves nothing (no empty directories either)"
	else
		t_fail "aws s3 rm --recursive leaves nothing" "$(last_run)"
	fi

	head -c $((110 << 20)) /dev/urandom >"$T/big"
	run "${AWS[@]}" s3 cp --no-progress "$T/big" s3://s3vol/big/file
	run "${AWS[@]}" s3api head-object --bucket s3vol --key big/file
	if [ "$RC" -eq 0 ] && grep -q '"ContentLength": 115343360' "$T/out" && grep -qE '"ETag": "\\"[0-9a-f]{32}-[0-9]+\\""' "$T/out"; then
		t_ok "110 MiB multipart upload: size and md5-of-md5s-N ETag"
	else
		t_fail "110 MiB multipart upload" "$(last_run)"
	fi
	run "${AWS[@]}" s3 cp --no-progress s3://s3vol/big/file "$T/big.back"
	if [ "$RC" -eq 0 ] && cmp -s "$T/big" "$T/big.back"; then
		t_ok "110 MiB object reads back byte-exact"
	else
		t_fail "110 MiB object reads back byte-exact" "$(last_run)"
	fi
	rm -f "$T/big.back"
	run "${AWS[@]}" s3api get-object --bucket s3vol --key big/file --range bytes=67108860-67108899 "$T/range"
	if [ "$RC" -eq 0 ] && cmp -s "$T/range" <(tail -c +67108861 "$T/big" | head -c 40) &&
		grep -q '"ContentRange": "bytes 67108860-67108899/115343360"' "$T/out"; then
		t_ok "ranged GET across a chunk boundary"
	else
		t_fail "ranged GET across a chunk boundary" "$(last_run)"
	fi
	head -c 100000 /dev/urandom >"$T/small"
	run "${AWS[@]}" s3 cp --no-progress "$T/small" s3://s3vol/small
	run "${AWS[@]}" s3 presign s3://s3vol/small --expires-in 300
	url=$(cat "$T/out")
	if [ "$RC" -eq 0 ] && curl -sf -o "$T/small.back" "$url" && cmp -s "$T/small" "$T/small.back"; then
		t_ok "presigned URL fetched with curl"
	else
		t_fail "presigned URL fetched with curl" "$(last_run)" "url: $url"
	fi
	bad=${url/X-Amz-Signature=/X-Amz-Signature=0}
	code=$(curl -s -o "$T/bad" -w '%{http_code}' "${bad:0:${#url}}")
	if [ "$code" = 403 ] && grep -q SignatureDoesNotMatch "$T/bad"; then
		t_ok "tampered presigned URL gets SignatureDoesNotMatch"
	else
		t_fail "tampered presigned URL gets SignatureDoesNotMatch" "status $code $(head -c 300 "$T/bad")"
	fi
fi

# ---------------------------------------------------------------- s3cmd
if ! command -v s3cmd >/dev/null; then
	t_skip "s3cmd put/get/sync" "s3cmd not installed (Debian: s3cmd)"
else
	cat >"$T/s3cfg" <<EOF
[default]
access_key = $MINIO_ROOT_USER
secret_key = $MINIO_ROOT_PASSWORD
host_base = 127.0.0.1:$PORT
host_bucket = 127.0.0.1:$PORT
use_https = False
signature_v2 = False
bucket_location = us-east-1
EOF
	S3CMD=(s3cmd -c "$T/s3cfg" --no-progress)
	run "${S3CMD[@]}" put "$T/small" "s3://s3vol/s3cmd/one file"
	r1=$RC
	run "${S3CMD[@]}" get --force "s3://s3vol/s3cmd/one file" "$T/s3cmd.back"
	if [ "$r1" -eq 0 ] && [ "$RC" -eq 0 ] && cmp -s "$T/small" "$T/s3cmd.back"; then
		t_ok "s3cmd put and get"
	else
		t_fail "s3cmd put and get" "$(last_run)"
	fi
	mkdir -p "$T/s3src/x y"
	for i in 1 2 3; do head -c $((i * 7000)) /dev/urandom >"$T/s3src/x y/f+$i"; done
	run "${S3CMD[@]}" sync "$T/s3src/" s3://s3vol/s3sync/
	r1=$RC
	run "${S3CMD[@]}" sync s3://s3vol/s3sync/ "$T/s3back/"
	if [ "$r1" -eq 0 ] && [ "$RC" -eq 0 ] && diff -r "$T/s3src" "$T/s3back" >/dev/null; then
		t_ok "s3cmd sync up and down"
	else
		t_fail "s3cmd sync up and down" "$(last_run)"
	fi
	run "${S3CMD[@]}" ls s3://s3vol/s3sync/
	if [ "$RC" -eq 0 ] && grep -q 's3://s3vol/s3sync/x y/' "$T/out"; then
		t_ok "s3cmd ls shows the directory prefix"
	else
		t_fail "s3cmd ls shows the directory prefix" "$(last_run)"
	fi
fi

# ---------------------------------------------------------------- rclone
if ! command -v rclone >/dev/null; then
	t_skip "rclone sync and check" "rclone not installed (Debian: rclone)"
else
	export RCLONE_CONFIG=$T/rclone.conf
	# A CA bundle from the environment makes rclone's S3 client refuse plain HTTP.
	unset AWS_CA_BUNDLE
	cat >"$RCLONE_CONFIG" <<EOF
[gw]
type = s3
provider = Other
access_key_id = $MINIO_ROOT_USER
secret_access_key = $MINIO_ROOT_PASSWORD
endpoint = $EP
region = us-east-1
EOF
	mkdir -p "$T/rc/a/b" "$T/rc/c d"
	for n in "a/b/one" "a/two+2" "c d/three%" "four#"; do head -c $((RANDOM + 1)) /dev/urandom >"$T/rc/$n"; done
	run rclone sync "$T/rc" gw:s3vol/rclone
	r1=$RC
	run rclone check "$T/rc" gw:s3vol/rclone
	if [ "$r1" -eq 0 ] && [ "$RC" -eq 0 ]; then
		t_ok "rclone sync and check (sizes and MD5s)"
	else
		t_fail "rclone sync and check" "$(last_run)"
	fi
	rm "$T/rc/a/two+2"
	run rclone sync "$T/rc" gw:s3vol/rclone
	run rclone lsf -R gw:s3vol/rclone
	if [ "$RC" -eq 0 ] && ! grep -q 'two+2' "$T/out" && grep -q 'a/b/one' "$T/out"; then
		t_ok "rclone sync deletes what the source lost"
	else
		t_fail "rclone sync deletes what the source lost" "$(last_run)"
	fi
fi

# ---------------------------------------------------------------- boto3
if ! python3 -c 'import boto3' 2>/dev/null; then
	t_skip "boto3 checks" "python3 boto3 missing (Debian: python3-boto3)"
else
	gw_start MPORT --multi-buckets
	MULTI_PID=$GW_PID
	timeout 200 python3 "$JFS_SRCDIR/t/integ/s3-boto3.py" "http://127.0.0.1:$MPORT" \
		"$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" multi >"$T/boto.out" 2>&1
	while IFS= read -r line; do
		case "$line" in
		PASS\ *) t_ok "boto3: ${line#PASS }" ;;
		FAIL\ *) t_fail "boto3: ${line#FAIL }" ;;
		esac
	done <"$T/boto.out"
	if ! grep -q '^DONE ' "$T/boto.out"; then
		t_fail "boto3 script ran to the end" "$(tail -n 5 "$T/boto.out")"
	fi
	echo "# boto3 against ours: $(grep -c '^PASS' "$T/boto.out") passed, $(grep -c '^FAIL' "$T/boto.out") failed"
	kill -TERM "$MULTI_PID"
fi

# ---------------------------------------------------------------- crash safety
put_obj()
{
	curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		"$@"
}
head -c 300000 /dev/urandom >"$T/v1"
code=$(put_obj -T "$T/v1" "$EP/s3vol/crash/obj")
head -c $((8 << 20)) /dev/urandom >"$T/v2"
put_obj --limit-rate 1M -T "$T/v2" "$EP/s3vol/crash/obj" >/dev/null &
CURL=$!
T_PIDS+=("$CURL")
sleep 1.5
tmp_count()
{
	sqlite3 "file:$T/m.db?mode=ro" "select count(*) from jfs_edge where parent=(select inode from jfs_edge where name=CAST('tmp' AS BLOB) and parent=(select inode from jfs_edge where parent=1 and name=CAST('.sys' AS BLOB)))" 2>/dev/null
}
during=$(tmp_count)
kill -KILL "$MAIN_PID"
wait "$MAIN_PID" 2>/dev/null
kill "$CURL" 2>/dev/null
wait "$CURL" 2>/dev/null
JFS_GATEWAY_TMP_AGE=0 gw_start PORT
EP="http://127.0.0.1:$PORT"
MAIN_PID=$GW_PID
curl -s -o "$T/crash.back" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" \
	"$EP/s3vol/crash/obj"
after=$(tmp_count)
if [ "$code" = 200 ] && cmp -s "$T/v1" "$T/crash.back"; then
	t_ok "SIGKILL during an upload leaves the previous object intact"
else
	t_fail "SIGKILL during an upload leaves the previous object intact" "first PUT: $code"
fi
if [ "${during:-0}" -ge 1 ] && [ "${after:-1}" -eq 0 ]; then
	t_ok "the dead upload's temp file is removed at the next start ($during -> $after)"
else
	t_fail "the dead upload's temp file is removed at the next start" "during: $during, after restart: $after"
fi

# ---------------------------------------------------------------- SIGTERM
kill -TERM "$MAIN_PID"
rc=0
for i in $(seq 1 100); do kill -0 "$MAIN_PID" 2>/dev/null || break; sleep 0.1; done
wait "$MAIN_PID" || rc=$?
if [ "$rc" -eq 0 ] && ! grep -qE 'Sanitizer|runtime error:' "$T"/gw-*.log; then
	t_ok "SIGTERM: clean exit, status 0"
else
	t_fail "SIGTERM: clean exit, status 0" "status $rc" "$(tail -n 5 "$T"/gw-*.log)"
fi
if grep -qE 'Sanitizer|runtime error:' "$T"/gw-*.log; then
	t_fail "no sanitizer report in the gateway logs" "$(grep -hE -A5 'Sanitizer|runtime error:' "$T"/gw-*.log | head -20)"
fi

t_done
