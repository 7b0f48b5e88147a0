#!/usr/bin/env bash
# Signature Version 2, which the real gateway accepts and boto3
# (signature_version "s3") and older SDKs and tools send: the Authorization
# header "AWS KEY:SIG" and presigned URLs with AWSAccessKeyId, Expires and
# Signature. s3-sigv2.py drives boto3 and hand-signed requests against ours
# (judged) and the real gateway (printed). Before, ours refused every SigV2
# request with 403.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
python3 -c 'import boto3' 2>/dev/null || t_skip_all "python3 boto3 missing (Debian: python3-boto3)"
export MINIO_ROOT_USER=v2admin MINIO_ROOT_PASSWORD=v2secret123
DRV=$JFS_SRCDIR/t/integ/s3-sigv2.py

jfs format "sqlite3://$T/ours.db" sigv2vol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format" "$(last_run)"; t_done; }
gw_start ours "sqlite3://$T/ours.db" --multi-buckets ||
	{ t_fail "our gateway starts" "$(tail -n 5 "$T/gw-ours.log")"; t_done; }
timeout 180 python3 "$DRV" "${EP_ours##*:}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" \
	>"$T/ours.out" 2>&1
while IFS= read -r line; do
	case $line in
	"ok "*) t_ok "${line#ok - }" ;;
	"not ok "*) t_fail "${line#not ok - }" ;;
	*) t_fail "s3-sigv2.py" "$line" ;;
	esac
done <"$T/ours.out"
if grep -qE 'Sanitizer|runtime error:' "$T"/gw-*.log 2>/dev/null; then
	t_fail "no sanitizer report from our gateway" "$(grep -hE -m 3 'Sanitizer|runtime error:' "$T"/gw-*.log)"
else
	t_ok "no sanitizer report from our gateway"
fi

if [ -x "${JFS_REF:-/opt/jfs-ref/bin/juicefs}" ]; then
	JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
	run "$JFS_REF" format "sqlite3://$T/ref.db" sigv2ref --bucket "$T/refdata"
	GW_BIN=$JFS_REF gw_start real "sqlite3://$T/ref.db" --multi-buckets --no-usage-report
	timeout 180 python3 "$DRV" "${EP_real##*:}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" 2>&1 |
		sed 's/^/# real gateway: /'
fi
t_done
