#!/usr/bin/env bash
# The s3 object-storage back end (storage/s3.c) end to end against the S3
# service that JFS_S3_SERVICE names: `gateway` (the default; our own
# `juicefs gateway` over a scratch SQLite volume, --multi-buckets), `minio`
# (/opt/peers/minio or $JFS_MINIO; skipped when not built) or `moto` (PyPI
# moto[server] in /opt/jfs-moto, installed when missing; see
# s3_service_start in lib.sh). Format a second volume on it with --storage s3
# (the bucket made by format), write and read through jfs-fscp, check the
# object names with awscli, gc and fsck it, let the real client read (and
# write) the same volume through its own gateway, refuse bad credentials at
# format in one line, destroy the volume, and turn a stopped S3 service into
# EIO without hanging.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

: "${JFS_FSCP:=$(dirname "$JFS_BIN")/t/tools/jfs-fscp}"
need_bin "$JFS_BIN" "$JFS_FSCP"

S3_SERVICE=${JFS_S3_SERVICE:-gateway}
[ "$S3_SERVICE" = ours ] && S3_SERVICE=gateway
# The keys of the gateways (ours for the service, the real client's below).
export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=$T/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials AWS_PAGER=""
printf '[default]\ns3 =\n    signature_version = s3v4\n' >"$AWS_CONFIG_FILE"
# The volume under test (vol2) whose data the S3 service holds.
META="sqlite3://$T/b.db"
BKT=jfsdata

# gw_start BIN PORT META: an S3 gateway on 127.0.0.1:PORT; GW_PID gets its pid.
GW_PID=
gw_start()
{
	local bin=$1 port=$2 meta=$3 i
	"$bin" gateway "$meta" "127.0.0.1:$port" --cache-dir none --no-banner --multi-buckets \
		>>"$T/gw-$port.log" 2>&1 &
	GW_PID=$!
	T_PIDS+=("$GW_PID")
	wait_http "$port" 10
}

if [ "$S3_SERVICE" = gateway ]; then
	GWMETA="sqlite3://$T/gw.db"
	jfs format "$GWMETA" gwvol --bucket "$T/gwdata"
	[ "$RC" -eq 0 ] || { t_fail "format the gateway's volume" "$(last_run)"; t_done; }
	PORT=$(free_port)
	gw_start "$JFS_BIN" "$PORT" "$GWMETA"
	S3_PID=$GW_PID
	S3_EP="http://127.0.0.1:$PORT"
	S3_AK=$MINIO_ROOT_USER S3_SK=$MINIO_ROOT_PASSWORD
	echo "# S3 service: our gateway on $S3_EP"
else
	s3_service_start "$S3_SERVICE"
	PORT=${S3_EP##*:}
fi
EP=$S3_EP
# awscli on the S3 service (s3aws) and on the real client's gateway (gwaws).
# shellcheck disable=SC2317 # called through run()
s3aws()
{
	AWS_ACCESS_KEY_ID=$S3_AK AWS_SECRET_ACCESS_KEY=$S3_SK aws --endpoint-url "$EP" "$@"
}
# shellcheck disable=SC2317 # called through run()
gwaws()
{
	local ep=$1
	shift
	AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD \
		aws --endpoint-url "$ep" "$@"
}

# ---------------------------------------------------------------- bad credentials
jfs format "sqlite3://$T/bad.db" badvol --storage s3 --bucket "$EP/$BKT" \
	--access-key "$S3_AK" --secret-key not-the-secret
if [ "$RC" -ne 0 ] && ! crashed && [ "$(grep -c . "$T/err")" -eq 1 ] &&
	grep -q 'Permission denied' "$T/err"; then
	t_ok "format with a wrong secret key fails with one line: $(cut -c1-150 "$T/err")"
else
	t_fail "format with a wrong secret key fails with one line" "$(last_run)"
fi
jfs format "sqlite3://$T/bad2.db" badvol --storage s3 --bucket "ftp://127.0.0.1:$PORT/$BKT"
if [ "$RC" -ne 0 ] && ! crashed && [ "$(grep -c . "$T/err")" -eq 1 ] && [ ! -e "$T/bad2.db" ]; then
	t_ok "a bucket URL that is not http(s) is refused before the database is made"
else
	t_fail "a bucket URL that is not http(s) is refused" "$(last_run)"
fi

# ---------------------------------------------------------------- format + data
run s3aws s3api head-bucket --bucket "$BKT"
had_bucket=$RC
ACCESS_KEY=$S3_AK SECRET_KEY=$S3_SK \
	jfs format "$META" vol2 --storage s3 --bucket "$EP/$BKT"
if [ "$RC" -eq 0 ]; then
	t_ok "format vol2 on --storage s3 --bucket $EP/$BKT (keys from ACCESS_KEY/SECRET_KEY)"
else
	t_fail "format vol2 on s3" "$(last_run)"
	t_done
fi
run s3aws s3api head-bucket --bucket "$BKT"
if [ "$had_bucket" -ne 0 ] && [ "$RC" -eq 0 ]; then
	t_ok "the bucket $BKT did not exist on $S3_SERVICE and format made it"
else
	t_fail "format makes the missing bucket" "head-bucket before: exit $had_bucket" "$(last_run)"
fi
jfs status "$META"
if [ "$(st .Setting.Storage)" = s3 ] && [ "$(st .Setting.Bucket)" = "$EP/$BKT" ] &&
	[ "$(st .Setting.AccessKey)" = "$S3_AK" ]; then
	t_ok "status shows Storage s3, the bucket URL and the access key"
else
	t_fail "status of the s3 volume" "$(last_run)"
fi

head -c 6000000 /dev/urandom >"$T/big"
head -c 70000 /dev/urandom >"$T/mid"
echo hello >"$T/small"
ok=1
for f in big mid small; do
	run "$JFS_FSCP" put "$META" "$T/$f" "/data/$f"
	[ "$RC" -eq 0 ] || { ok=0; break; }
	run "$JFS_FSCP" get "$META" "/data/$f" "$T/$f.back"
	[ "$RC" -eq 0 ] && cmp -s "$T/$f" "$T/$f.back" || { ok=0; break; }
done
if [ "$ok" = 1 ]; then
	t_ok "6 MB, 70 KB and 6-byte files written and read back byte-exact through s3"
else
	t_fail "write and read through s3" "$(last_run)"
fi

run s3aws s3 ls --recursive "s3://$BKT/"
awk '{ print $4 }' "$T/out" | LC_ALL=C sort >"$T/keys"
nchunks=$(grep -cE '^vol2/chunks/[0-9]+/[0-9]+/[0-9]+_[0-9]+_[0-9]+$' "$T/keys")
nother=$(grep -cvE '^vol2/(chunks/[0-9]+/[0-9]+/[0-9]+_[0-9]+_[0-9]+|juicefs_uuid)$' "$T/keys")
if [ "$RC" -eq 0 ] && grep -qx 'vol2/juicefs_uuid' "$T/keys" && [ "$nchunks" -eq 4 ] &&
	[ "$nother" -eq 0 ] && grep -qE '_0_4194304$' "$T/keys" && grep -qE '_1_1805696$' "$T/keys"; then
	t_ok "objects in the bucket are vol2/juicefs_uuid and 4 vol2/chunks/<a>/<b>/<id>_<i>_<size> blocks"
else
	t_fail "object names under the bucket" "$(head -n 12 "$T/keys")" "$(last_run)"
fi

# ---------------------------------------------------------------- gc and fsck
jfs fsck "$META"
if [ "$RC" -eq 0 ] && ! crashed; then t_ok "our fsck on the s3 volume"; else t_fail "our fsck" "$(last_run)"; fi
head -c 10 /dev/urandom >"$T/orphan"
run s3aws s3 cp --no-progress "$T/orphan" "s3://$BKT/vol2/chunks/0/999/999999_0_10"
JFS_GC_SKIPPEDTIME=0 jfs gc "$META" --delete
run s3aws s3 ls --recursive "s3://$BKT/vol2/chunks/"
if ! grep -q 999999_0_10 "$T/out" && [ "$(grep -c . "$T/out")" -eq 4 ]; then
	t_ok "our gc --delete lists the bucket and deletes the leaked object only"
else
	t_fail "gc --delete on s3" "$(cat "$T/out")"
fi

# ---------------------------------------------------------------- the real client
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
if [ ! -x "$JFS_REF" ]; then
	t_skip "the real client reads the s3 volume" "$JFS_REF not installed"
else
	run "$JFS_REF" fsck "$META"
	if [ "$RC" -eq 0 ] && grep -q 'Found 4 blocks' "$T/err"; then
		t_ok "real fsck finds the 4 blocks in the s3 bucket and no problem"
	else
		t_fail "real fsck on our s3 volume" "$(last_run)"
	fi
	P2=$(free_port)
	gw_start "$JFS_REF" "$P2" "$META"
	REF_GW=$GW_PID
	run gwaws "http://127.0.0.1:$P2" s3 cp --no-progress s3://data/big "$T/big.ref"
	if [ "$RC" -eq 0 ] && cmp -s "$T/big" "$T/big.ref"; then
		t_ok "the real client's gateway serves our 6 MB file byte-exact from s3"
	else
		t_fail "real client reads our data" "$(last_run)" "$(tail -n 3 "$T/gw-$P2.log")"
	fi
	head -c 3000000 /dev/urandom >"$T/fromref"
	run gwaws "http://127.0.0.1:$P2" s3 cp --no-progress "$T/fromref" s3://data/fromref
	kill "$REF_GW" 2>/dev/null
	wait "$REF_GW" 2>/dev/null
	run "$JFS_FSCP" get "$META" /data/fromref "$T/fromref.back"
	if [ "$RC" -eq 0 ] && cmp -s "$T/fromref" "$T/fromref.back"; then
		t_ok "a file the real client wrote to s3 is read byte-exact by ours"
	else
		t_fail "ours reads the real client's data" "$(last_run)"
	fi
fi

# ---------------------------------------------------------------- destroy
jfs status "$META"
UUID=$(st .Setting.UUID)
jfs destroy "$META" "$UUID" --yes
run s3aws s3 ls --recursive "s3://$BKT/vol2/"
if [ -n "$UUID" ] && ! grep -q 'vol2/' "$T/out"; then
	t_ok "destroy deletes every object under vol2/ in the bucket"
else
	t_fail "destroy on s3" "$(head -n 5 "$T/out")"
fi

# ---------------------------------------------------------------- the object contract
# make check runs check_s3store against our gateway; against another service
# it runs here, so that CI sees that service pass the contract too.
CHECK_S3STORE=${JFS_CHECK_S3STORE:-$(dirname "$JFS_BIN")/t/unit/check_s3store}
if [ "$S3_SERVICE" = gateway ]; then
	:
elif [ ! -x "$CHECK_S3STORE" ]; then
	t_skip "check_s3store against $S3_SERVICE" "$CHECK_S3STORE not built (make check builds it)"
else
	run env JFS_S3_SERVICE="$S3_SERVICE" CK_DEFAULT_TIMEOUT=120 timeout 240 "$CHECK_S3STORE"
	summary=$(grep -E '^[0-9]+%: Checks: ' "$T/out" | tail -n 1)
	if [ "$RC" -eq 0 ] && ! crashed && [ -n "$summary" ]; then
		t_ok "check_s3store against $S3_SERVICE: $summary"
	else
		t_fail "check_s3store against $S3_SERVICE" "$(grep -E '^[0-9]+%|:[FE]:' "$T/out")" \
			"$(last_run)"
	fi
fi

# ---------------------------------------------------------------- S3 stopped
ACCESS_KEY=$S3_AK SECRET_KEY=$S3_SK \
	jfs format "sqlite3://$T/c.db" vol3 --storage s3 --bucket "$EP/$BKT"
run "$JFS_FSCP" put "sqlite3://$T/c.db" "$T/mid" /mid
kill "$S3_PID" 2>/dev/null
wait "$S3_PID" 2>/dev/null
start=$(date +%s)
run timeout 120 "$JFS_FSCP" get "sqlite3://$T/c.db" /mid "$T/mid.dead"
took=$(($(date +%s) - start))
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && ! crashed && grep -q 'Input/output error' "$T/err"; then
	t_ok "with the S3 service stopped a read fails with EIO after ${took}s of bounded retries"
else
	t_fail "read with the S3 service stopped" "$(last_run)"
fi

t_done
