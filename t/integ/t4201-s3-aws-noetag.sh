#!/usr/bin/env bash
# Objects without an ETag through the S3 gateway (issue 12, item 14).
#
# A file written through our FUSE mount (or, without FUSE, through fs.h by
# jfs-fscp) has no ETag: listings show <ETag></ETag>, and the aws CLI then
# sends `If-Match:` with an empty value on each ranged GET of a download over
# 8 MiB. The real gateway reads an empty conditional header as no condition
# at all and answers 206; ours must too.
#  - a 9 MiB file written through the mount is downloaded byte-exact with
#    `aws s3 cp --recursive` and a single `aws s3 cp`, both with the CLI's
#    defaults;
#  - s3-cond-probe.py sends GET (ranged), HEAD and CopyObject with every
#    conditional header (held, mismatching, empty and garbage values) at that
#    object, a small one without an ETag and one with an ETag; our answers
#    must be the real gateway's (JuiceFS 1.4.2, --keep-etag), line for line.
#    Without the reference client, the empty-value lines are checked alone.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

: "${JFS_FSCP:=$PWD/t/tools/jfs-fscp}"
need_bin "$JFS_BIN"
command -v aws >/dev/null || t_skip_all "aws not installed (Debian: awscli)"
python3 -c 'import requests, botocore' 2>/dev/null ||
	t_skip_all "python3 requests/botocore missing (Debian: python3-boto3)"

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
export AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=$T/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials AWS_PAGER=""
: >"$AWS_CONFIG_FILE"
META="sqlite3://$T/m.db"
PROBE="$JFS_SRCDIR/t/integ/s3-cond-probe.py"

jfs format "$META" etagvol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

head -c $((9 << 20)) /dev/urandom >"$T/big"
printf 'small file, no etag\n' >"$T/small"
how=
if [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; then
	mkdir -p "$T/mnt"
	run "$JFS_BIN" mount "$META" "$T/mnt" -d --log "$T/mount.log" --cache-dir "$T/cache"
	if [ "$RC" -eq 0 ]; then
		T_MOUNTS+=("$T/mnt")
		cp "$T/big" "$T/mnt/big" && cp "$T/small" "$T/mnt/small" && sync && how="our FUSE mount"
		run "$JFS_BIN" umount "$T/mnt"
	fi
fi
if [ -z "$how" ] && [ -x "$JFS_FSCP" ]; then
	run "$JFS_FSCP" put "$META" "$T/big" /big && run "$JFS_FSCP" put "$META" "$T/small" /small
	[ "$RC" -eq 0 ] && how="jfs-fscp (no FUSE here)"
fi
[ -n "$how" ] || { t_fail "write the files without an ETag" "$(last_run)"; t_done; }

# gw_start BIN VAR ARGS...: a gateway on a free port; VAR gets the port, GW_PID the pid.
GW_PID=
gw_start()
{
	local bin=$1 var=$2 port i
	shift 2
	port=$(free_port)
	"$bin" gateway "$META" "127.0.0.1:$port" --no-banner "$@" >>"$T/gw-$port.log" 2>&1 &
	GW_PID=$!
	T_PIDS+=("$GW_PID")
	wait_http "$port" 15
	printf -v "$var" '%s' "$port"
}

gw_start "$JFS_BIN" PORT --cache-dir none
OURS=$GW_PID
AWS=(aws --endpoint-url "http://127.0.0.1:$PORT")
run "${AWS[@]}" s3 cp "$T/small" s3://etagvol/tagged
[ "$RC" -eq 0 ] || t_fail "upload an object with an ETag" "$(last_run)"

run "${AWS[@]}" s3api list-objects-v2 --bucket etagvol --prefix big
et=$(jq -r '.Contents[0].ETag' "$T/out" 2>/dev/null)
if [ "$RC" -eq 0 ] && [ -z "$et" ]; then
	t_ok "the 9 MiB file written through $how lists with an empty ETag"
else
	t_fail "the file written through $how lists with an empty ETag" "ETag: '$et'" "$(last_run)"
fi

run "${AWS[@]}" s3 cp --recursive --only-show-errors s3://etagvol/ "$T/dl/"
if [ "$RC" -eq 0 ] && cmp -s "$T/big" "$T/dl/big" && cmp -s "$T/small" "$T/dl/small"; then
	t_ok "aws s3 cp --recursive (CLI defaults) downloads the 9 MiB file byte-exact"
else
	t_fail "aws s3 cp --recursive downloads the 9 MiB file" "$(last_run)" \
		"$(grep -h 'If-Match\|412' "$T"/gw-*.log | tail -n 3)"
fi
run "${AWS[@]}" s3 cp --only-show-errors s3://etagvol/big "$T/one"
if [ "$RC" -eq 0 ] && cmp -s "$T/big" "$T/one"; then
	t_ok "aws s3 cp of the single 9 MiB object is byte-exact"
else
	t_fail "aws s3 cp of the single 9 MiB object" "$(last_run)"
fi

run python3 "$PROBE" "$PORT" etagvol big small tagged
cp "$T/out" "$T/probe-ours"
if [ "$RC" -ne 0 ] || [ "$(nlines "$T/probe-ours")" -lt 90 ]; then
	t_fail "the conditional probe runs against ours" "$(last_run)"
fi
# An empty conditional header is no condition: the answer is the plain one.
bad=$(grep -E '(If-Match|If-None-Match|if-match|if-none-match)=EMPTY' "$T/probe-ours" |
	grep -vE '(GET .* -> 206|HEAD .* -> 200|COPY .* -> 200)$' |
	grep -v 'Since=' || true)
if [ -z "$bad" ] && [ -s "$T/probe-ours" ]; then
	t_ok "an empty If-Match / If-None-Match (GET, HEAD, copy source) is no condition"
else
	t_fail "an empty If-Match / If-None-Match is no condition" "$bad"
fi
kill -TERM "$OURS" 2>/dev/null
wait "$OURS" 2>/dev/null

JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
if [ ! -x "$JFS_REF" ]; then
	t_skip "the real gateway answers every conditional as ours" "no reference client at $JFS_REF"
else
	gw_start "$JFS_REF" RPORT --keep-etag
	run python3 "$PROBE" "$RPORT" etagvol big small tagged
	cp "$T/out" "$T/probe-ref"
	kill -TERM "$GW_PID" 2>/dev/null
	wait "$GW_PID" 2>/dev/null
	if [ "$RC" -eq 0 ] && [ -s "$T/probe-ref" ] && cmp -s "$T/probe-ref" "$T/probe-ours"; then
		t_ok "the real gateway answers all $(nlines "$T/probe-ours") conditional requests as ours"
	else
		t_fail "the real gateway answers every conditional as ours" \
			"$(diff "$T/probe-ref" "$T/probe-ours" | head -n 16)" "$(last_run)"
	fi
fi

if grep -qE 'Sanitizer|runtime error:' "$T"/gw-*.log "$T"/mount.log 2>/dev/null; then
	t_fail "no sanitizer report" "$(grep -hE -A5 'Sanitizer|runtime error:' "$T"/*.log | head -20)"
else
	t_ok "no sanitizer report from the gateway or the mount"
fi
t_done
