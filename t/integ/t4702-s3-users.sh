#!/usr/bin/env bash
# Users beside the root key (issue 14 §1, first part), ours beside the real
# gateway ($JFS_REF gateway), each on a volume of its own: ours managed with
# `juicefs gateway-admin`, the real one with `mc admin` (when mc is there);
# both results printed, ours asserted:
#  - a readonly user gets a named object, and neither lists nor writes
#    (MinIO's canned readonly); a readwrite user writes and lists;
#  - a wrong secret is SignatureDoesNotMatch, an unknown key
#    InvalidAccessKeyId, a disabled user InvalidAccessKeyId;
#  - a bucket policy naming the user adds to its rights; a group gives its
#    members its policies, until it is removed;
#  - a gateway already running, and a second one of the volume, follow each
#    change within a bounded wait, without a restart;
#  - the secret keys are nowhere in the metadata in clear;
#  - the admin command refuses bad input with one line and exit status 1.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
python3 -c 'import boto3' 2>/dev/null || t_skip_all "python3 boto3 missing (Debian: python3-boto3)"
need_ref
HAVE_MC=1
want_mc || HAVE_MC=0

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
B=team
PY="$JFS_SRCDIR/t/integ/s3-policy.py"
OM="sqlite3://$T/ours.db"

for v in ours ref; do
	jfs format "sqlite3://$T/$v.db" "vol$v" --bucket "$T/data-$v"
	[ "$RC" -eq 0 ] || { t_fail "format volume $v" "$(last_run)"; t_done; }
done

gw_start ours "sqlite3://$T/ours.db" --multi-buckets ||
	{ t_fail "our gateway starts" "$(tail -n 5 "$T/gw-ours.log")"; t_done; }
GW_BIN=$JFS_REF gw_start ref "sqlite3://$T/ref.db" --multi-buckets ||
	{ t_fail "the real gateway starts" "$(tail -n 5 "$T/gw-ref.log")"; t_done; }
PO=${EP_ours##*:} PR=${EP_ref##*:}

# as PORT AK SK CMD...: one s3-policy.py call with those keys.
as() { timeout 120 python3 "$PY" "http://127.0.0.1:$1" "$2" "$3" "${@:4}" 2>&1; }
mcq() { MC_HOST_g="http://s3admin:s3secret123@127.0.0.1:$PR" timeout 60 "$JFS_MC" \
	--config-dir "$T/mc" --no-color "$@" 2>&1; }

# both DESC WANT CMD...: PORT in CMD is each gateway's port; ours must say WANT.
both()
{
	local desc=$1 want=$2 o r
	shift 2
	o=$("${@//PORT/$PO}")
	r=$("${@//PORT/$PR}")
	echo "# $desc: ours [$o] real [$r]"
	if [ "$o" = "$want" ]; then
		t_ok "$desc: $want"
	else
		t_fail "$desc: want [$want], ours [$o] (real [$r])"
	fi
}

# user_add NAME SECRET POLICY on both sides.
user_add()
{
	jfs gateway-admin user-add "$OM" "$1" "$2" --policy "$3"
	[ "$RC" -eq 0 ] || t_fail "gateway-admin user-add $1" "$(last_run)"
	if [ "$HAVE_MC" = 1 ]; then
		echo "# real: mc admin user add $1: $(mcq admin user add g "$1" "$2" | tail -n 1)"
		echo "# real: mc admin policy attach $3: $(mcq admin policy attach g "$3" --user "$1" | tail -n 1)"
	fi
}

# wait_for PORT AK SK WANT CMD...: poll (bounded, 15 s) until CMD says WANT; print the last.
wait_for()
{
	local i o
	for i in $(seq 1 75); do
		o=$(as "$1" "$2" "$3" "${@:5}")
		[ "$o" = "$4" ] && break
		sleep 0.2
	done
	echo "$o"
}

for p in "$PO" "$PR"; do
	as "$p" s3admin s3secret123 put-object "$B" x >/dev/null # no bucket yet: an error
	python3 - "$p" <<'PYEOF'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % sys.argv[1], aws_access_key_id="s3admin",
                  aws_secret_access_key="s3secret123", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="team")
s3.put_object(Bucket="team", Key="doc.txt", Body=b"shared")
PYEOF
done

both "an unknown access key" "ERR InvalidAccessKeyId 403" as PORT alice alicesecret1 get-object "$B" doc.txt
user_add alice alicesecret1 readonly
user_add bobby bobsecret12 readwrite
# the running gateway follows without a restart
s=$(wait_for "$PO" alice alicesecret1 "ok 6" get-object "$B" doc.txt)
[ "$s" = "ok 6" ] && t_ok "a user added while the gateway runs can sign in" ||
	t_fail "a user added while the gateway runs can sign in" "$s"
both "readonly user: GetObject" "ok 6" as PORT alice alicesecret1 get-object "$B" doc.txt
both "readonly user: ListObjects (not in MinIO's readonly)" "ERR AccessDenied 403" as PORT alice alicesecret1 list "$B"
both "readonly user: PutObject" "ERR AccessDenied 403" as PORT alice alicesecret1 put-object "$B" new.txt
both "readonly user: PutBucketPolicy" "ERR AccessDenied 403" as PORT alice alicesecret1 delete-policy "$B"
both "readwrite user: PutObject" ok as PORT bobby bobsecret12 put-object "$B" bob.txt
both "readwrite user: ListObjects" "ok 2" as PORT bobby bobsecret12 list "$B"
both "readwrite user: ListBuckets" "ok 1" as PORT bobby bobsecret12 list-buckets
user_add nopol nopolsecret1 ""
both "a user without policies: ListBuckets lists nothing" "ok 0" as PORT nopol nopolsecret1 list-buckets
both "a user without policies: GetObject" "ERR AccessDenied 403" as PORT nopol nopolsecret1 get-object "$B" doc.txt
# a group gives its members its policies
jfs gateway-admin group-add "$OM" writers nopol --policy writeonly
[ "$RC" -eq 0 ] || t_fail "gateway-admin group-add" "$(last_run)"
if [ "$HAVE_MC" = 1 ]; then
	echo "# real: mc admin group add: $(mcq admin group add g writers nopol | tail -n 1)"
	echo "# real: mc admin policy attach --group: $(mcq admin policy attach g writeonly --group writers | tail -n 1)"
fi
s=$(wait_for "$PO" nopol nopolsecret1 ok put-object "$B" from-group.txt)
echo "# group member PutObject: ours [$s] real [$(as "$PR" nopol nopolsecret1 put-object "$B" from-group.txt)]"
[ "$s" = ok ] && t_ok "a group member writes through the group's writeonly" ||
	t_fail "a group member writes through the group's writeonly" "$s"
both "a group member: still no GetObject" "ERR AccessDenied 403" as PORT nopol nopolsecret1 get-object "$B" doc.txt
jfs gateway-admin group-ls "$OM"
[ "$RC" -eq 0 ] && grep -q "^writers	nopol	writeonly$" "$T/out" && t_ok "gateway-admin group-ls" ||
	t_fail "gateway-admin group-ls" "$(last_run)"
jfs gateway-admin group-rm "$OM" writers
# The probe rewrites the member's own object: a put that lands while the
# gateway's cached copy (1 s) still has the group adds no object for the
# listing counts below to trip on.
s=$(wait_for "$PO" nopol nopolsecret1 "ERR AccessDenied 403" put-object "$B" from-group.txt)
[ "$s" = "ERR AccessDenied 403" ] && t_ok "a removed group's policies no longer apply" ||
	t_fail "a removed group's policies no longer apply" "$s"
both "readonly user: ListBuckets shows the buckets it may locate" "ok 1" as PORT alice alicesecret1 list-buckets
both "a wrong secret" "ERR SignatureDoesNotMatch 403" as PORT alice wrongsecret1 get-object "$B" doc.txt

# a bucket policy naming the user adds the listing
cat >"$T/list.json" <<JEOF
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["alice"]},"Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::$B"]}]}
JEOF
both "PutBucketPolicy naming alice" ok as PORT s3admin s3secret123 put-policy "$B" "$T/list.json"
both "readonly user lists through the bucket policy" "ok 3" as PORT alice alicesecret1 list "$B"
both "still no PutObject" "ERR AccessDenied 403" as PORT alice alicesecret1 put-object "$B" new.txt

# a second gateway of our volume, and disabling
gw_start ours2 "sqlite3://$T/ours.db" --multi-buckets ||
	t_fail "a second gateway starts" "$(tail -n 5 "$T/gw-ours2.log")"
PO2=${EP_ours2##*:}
o=$(as "$PO2" bobby bobsecret12 list "$B")
[ "$o" = "ok 3" ] && t_ok "a second gateway of the volume knows the users" ||
	t_fail "a second gateway of the volume knows the users" "$o"
jfs gateway-admin user-disable "$OM" bobby
[ "$RC" -eq 0 ] || t_fail "gateway-admin user-disable" "$(last_run)"
[ "$HAVE_MC" = 1 ] && echo "# real: mc admin user disable: $(mcq admin user disable g bobby | tail -n 1)"
s=$(wait_for "$PO2" bobby bobsecret12 "ERR InvalidAccessKeyId 403" list "$B")
[ "$s" = "ERR InvalidAccessKeyId 403" ] && t_ok "a disabled user is refused by the second gateway" ||
	t_fail "a disabled user is refused by the second gateway" "$s"
s=$(wait_for "$PO" bobby bobsecret12 "ERR InvalidAccessKeyId 403" list "$B")
echo "# real, disabled user: [$(as "$PR" bobby bobsecret12 list "$B")]"
[ "$s" = "ERR InvalidAccessKeyId 403" ] && t_ok "a disabled user is refused by the first gateway" ||
	t_fail "a disabled user is refused by the first gateway" "$s"
jfs gateway-admin user-ls "$OM"
if [ "$RC" -eq 0 ] && grep -q "^alice	enabled	readonly$" "$T/out" &&
	grep -q "^bobby	disabled	readwrite$" "$T/out"; then
	t_ok "gateway-admin user-ls"
else
	t_fail "gateway-admin user-ls" "$(last_run)"
fi

# no secret in clear in the metadata or the logs
if ! sqlite3 "$T/ours.db" "select name, hex(value) from jfs_xattr" | grep -qi \
	"$(printf 'alicesecret1' | od -An -tx1 | tr -d ' \n')" &&
	! grep -rq "alicesecret1\|bobsecret12" "$T"/ours.db "$T"/gw-ours.log "$T"/gw-ours2.log; then
	t_ok "the secret keys are not in the metadata or the logs in clear"
else
	t_fail "the secret keys are not in the metadata or the logs in clear"
fi

# bad input to the admin command: one line, exit 1, nothing changed
for bad in "user-add $OM carol short" "user-add $OM carol carolsecret1 --policy nosuch" \
	"user-add $OM s3admin rootsecret1" "user-add $OM alice alicesecret1" \
	"user-rm $OM nobody" "user-policy $OM alice nosuch" "policy-rm $OM readonly" \
	"policy-add $OM p $T/nofile" "frob $OM" "user-add $OM onlyname"; do
	# shellcheck disable=SC2086
	jfs gateway-admin $bad
	if [ "$RC" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ]; then
		t_ok "gateway-admin $bad: one line, exit 1"
	else
		t_fail "gateway-admin $bad: one line, exit 1" "$(last_run)"
	fi
done
echo '{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}' >"$T/bad.json"
jfs gateway-admin policy-add "$OM" p "$T/bad.json"
[ "$RC" -eq 1 ] && grep -q "Principal" "$T/err" && t_ok "gateway-admin policy-add refuses a Principal" ||
	t_fail "gateway-admin policy-add refuses a Principal" "$(last_run)"
both "alice after the refused changes" "ok 6" as PORT alice alicesecret1 get-object "$B" doc.txt

# a damaged users document (written past us, into the metadata): its users are refused, the
# root key still works, gateway-admin says so and changes nothing
sqlite3 "$T/ours.db" "update jfs_xattr set value = cast('{\"Version\":1,\"Users\":[' as blob) where name = 's3.iam'"
s=$(wait_for "$PO" alice alicesecret1 "ERR InvalidAccessKeyId 403" get-object "$B" doc.txt)
[ "$s" = "ERR InvalidAccessKeyId 403" ] && t_ok "a damaged users document: its users are refused" ||
	t_fail "a damaged users document: its users are refused" "$s"
o=$(as "$PO" s3admin s3secret123 get-object "$B" doc.txt)
[ "$o" = "ok 6" ] && t_ok "a damaged users document: the root key still works" ||
	t_fail "a damaged users document: the root key still works" "$o"
jfs gateway-admin user-add "$OM" dave davesecret1
if [ "$RC" -eq 1 ] && grep -q "does not parse" "$T/err" &&
	[ "$(sqlite3 "$T/ours.db" "select cast(value as text) from jfs_xattr where name = 's3.iam'")" = '{"Version":1,"Users":[' ]; then
	t_ok "gateway-admin on a damaged users document: one line, exit 1, nothing written"
else
	t_fail "gateway-admin on a damaged users document" "$(last_run)"
fi
t_done
