#!/usr/bin/env bash
# S3 gateway beside the real one ($JFS_REF gateway, JuiceFS 1.4.2):
#  - volume sharing: objects written through our gateway are read byte-exact
#    (with the same ETag) through the real gateway on the same volume, and
#    the other way round;
#  - the boto3 checks of s3-boto3.py against both, printing both counts (the
#    real gateway's failures are reported, not counted against us).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
python3 -c 'import boto3' 2>/dev/null || t_skip_all "python3 boto3 missing (Debian: python3-boto3)"
need_ref

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
META="sqlite3://$T/m.db"
jfs format "$META" refvol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

# start BIN VAR ARGS...: a gateway on a free port; VAR gets the port, SPID the pid.
SPID=
start()
{
	local bin=$1 var=$2 port i
	shift 2
	port=$(free_port)
	"$bin" gateway "$META" "127.0.0.1:$port" --no-banner "$@" >>"$T/gw-$port.log" 2>&1 &
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

# s3py PORT CODE: run python with a boto3 client `s3` on that port.
s3py()
{
	local port=$1
	shift
	python3 - "$port" "$@" <<'EOF'
import sys, hashlib, boto3
from botocore.config import Config
port, action, *args = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port, aws_access_key_id="s3admin",
                  aws_secret_access_key="s3secret123", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
if action == "put":
    for path, key in zip(args[0::2], args[1::2]):
        with open(path, "rb") as f:
            s3.upload_fileobj(f, "refvol", key)
elif action == "get":
    for key in args:
        g = s3.get_object(Bucket="refvol", Key=key)
        data = g["Body"].read()
        print(key, len(data), hashlib.sha256(data).hexdigest(), g["ETag"])
EOF
}

head -c 3000000 /dev/urandom >"$T/a"
head -c $((70 << 20)) /dev/urandom >"$T/b"
head -c 12345 /dev/urandom >"$T/c"
keys=("ours/small obj" "ours/deep/dir/multi+part" "ours/c")

# ours writes, the real gateway reads
start "$JFS_BIN" P --cache-dir none
OURS=$SPID
run s3py "$P" put "$T/a" "${keys[0]}" "$T/b" "${keys[1]}" "$T/c" "${keys[2]}"
[ "$RC" -eq 0 ] || t_fail "upload through our gateway" "$(last_run)"
run s3py "$P" get "${keys[@]}"
cp "$T/out" "$T/ours-view"
stop "$OURS"
start "$JFS_REF" R --keep-etag
REF=$SPID
run s3py "$R" get "${keys[@]}"
if [ "$RC" -eq 0 ] && cmp -s "$T/ours-view" "$T/out"; then
	t_ok "objects written by our gateway read byte-exact, same ETags, through the real one"
else
	t_fail "objects written by our gateway read through the real one" "ours: $(cat "$T/ours-view")" \
		"real: $(cat "$T/out")" "$(last_run)"
fi

# the real gateway writes, ours reads
keys2=("ref/small obj" "ref/deep/multi+part")
run s3py "$R" put "$T/c" "${keys2[0]}" "$T/b" "${keys2[1]}"
[ "$RC" -eq 0 ] || t_fail "upload through the real gateway" "$(last_run)"
run s3py "$R" get "${keys2[@]}"
cp "$T/out" "$T/ref-view"
stop "$REF"
start "$JFS_BIN" P --cache-dir none
OURS=$SPID
run s3py "$P" get "${keys2[@]}"
if [ "$RC" -eq 0 ] && cmp -s "$T/ref-view" "$T/out"; then
	t_ok "objects written by the real gateway read byte-exact, same ETags, through ours"
else
	t_fail "objects written by the real gateway read through ours" "real: $(cat "$T/ref-view")" \
		"ours: $(cat "$T/out")" "$(last_run)"
fi
stop "$OURS"

# the same boto3 checks against both, side by side
start "$JFS_BIN" P --cache-dir none --multi-buckets
OURS=$SPID
timeout 200 python3 "$JFS_SRCDIR/t/integ/s3-boto3.py" "http://127.0.0.1:$P" s3admin s3secret123 multi \
	>"$T/ours.out" 2>&1
stop "$OURS"
start "$JFS_REF" R --multi-buckets --keep-etag --object-tag
REF=$SPID
timeout 200 python3 "$JFS_SRCDIR/t/integ/s3-boto3.py" "http://127.0.0.1:$R" s3admin s3secret123 multi \
	>"$T/ref.out" 2>&1
stop "$REF"
op=$(grep -c '^PASS' "$T/ours.out")
of=$(grep -c '^FAIL' "$T/ours.out")
rp=$(grep -c '^PASS' "$T/ref.out")
rf=$(grep -c '^FAIL' "$T/ref.out")
echo "# s3-boto3.py: ours $op passed, $of failed; real gateway $rp passed, $rf failed"
grep '^FAIL' "$T/ref.out" | cut -c1-150 | sed 's/^/# real gateway: /'
# Every check the real gateway passes, ours passes too.
missing=$(comm -23 <(grep '^PASS' "$T/ref.out" | sort) <(grep '^PASS' "$T/ours.out" | sort))
if [ -z "$missing" ] && [ "$op" -ge "$rp" ]; then
	t_ok "ours passes every boto3 check the real gateway passes ($op >= $rp)"
else
	t_fail "ours passes every boto3 check the real gateway passes" "$missing"
fi
t_done
