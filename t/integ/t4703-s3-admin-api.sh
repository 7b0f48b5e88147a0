#!/usr/bin/env bash
# MinIO's admin API (issue 14 §1): the mc that JuiceFS's gateway guide names
# (RELEASE.2021-04-22, installed as mc2021) drives ours and the real gateway
# ($JFS_REF gateway) with the same commands; both results printed, ours
# asserted:
#  - mc admin user add/list/info/disable/enable/remove, policy
#    add/list/info/set, group add/info/list/remove, user svcacct add/ls/info/rm;
#  - a readonly user added by mc gets and does not put; a service account
#    signs S3 requests with its parent's rights, and not after its removal;
#  - a user added through one of our gateways signs in at once through a
#    second gateway of the volume (a lookup miss reads the document again);
#  - hostile bodies (sealed under the wrong key, truncated, tampered, not
#    JSON, garbage, 300 KB) are 400 XMinioAdminConfigBadJSON/TooLarge, a
#    non-admin user is 403 AccessDenied, unknown routes 426, and a body
#    sealed by an independent sealer (s3-admin.py) is accepted;
#  - parallel changes from two processes (gateway-admin and the admin API)
#    all land: none is lost to a concurrent read-modify-write.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
python3 -c 'import boto3, cryptography' 2>/dev/null ||
	t_skip_all "python3 boto3/cryptography missing (Debian: python3-boto3)"
[ -e /usr/lib/x86_64-linux-gnu/libargon2.so.1 ] || ldconfig -p | grep -q libargon2.so.1 ||
	t_skip_all "libargon2 missing (Debian: libargon2-1)"
need_ref
want_mc2021 || t_skip_all "mc2021: $(cat "$T/mc-why")"

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
B=team
PY="$JFS_SRCDIR/t/integ/s3-policy.py"
ADM="$JFS_SRCDIR/t/integ/s3-admin.py"
OM="sqlite3://$T/ours.db"

for v in ours ref; do
	jfs format "sqlite3://$T/$v.db" "vol$v" --bucket "$T/data-$v"
	[ "$RC" -eq 0 ] || { t_fail "format volume $v" "$(last_run)"; t_done; }
done

start()
{
	local bin=$1 vol=$2 var=$3 port i
	port=$(free_port)
	"$bin" gateway "sqlite3://$T/$vol.db" "127.0.0.1:$port" --no-banner --multi-buckets \
		>>"$T/gw-$port.log" 2>&1 &
	T_PIDS+=("$!")
	wait_http "$port" 15
	printf -v "$var" '%s' "$port"
}
start "$JFS_BIN" ours PO
start "$JFS_BIN" ours PO2
start "$JFS_REF" ref PR

as() { timeout 120 python3 "$PY" "http://127.0.0.1:$1" "$2" "$3" "${@:4}" 2>&1; }
# mcp PORT ARGS...: mc2021 with alias g = that gateway's root key.
mcp()
{
	MC_HOST_g="http://s3admin:s3secret123@127.0.0.1:$1" timeout 60 "$JFS_MC2021" \
		--config-dir "$T/mc" --no-color "${@:2}" 2>&1 | tr -s ' ' | sed 's/ *$//'
}
adm() { timeout 120 python3 "$ADM" "http://127.0.0.1:$1" "${@:2}" 2>&1; }
# mcu PORT AK SK ARGS...: mc2021 with alias u = that user's key.
mcu()
{
	MC_HOST_u="http://$2:$3@127.0.0.1:$1" timeout 60 "$JFS_MC2021" \
		--config-dir "$T/mc" --no-color "${@:4}" 2>&1 | tr -s ' ' | sed 's/ *$//'
}

# both DESC WANT CMD...: PORT in CMD is each gateway's port; ours must say WANT
# (a grep -E pattern over the whole output when WANT starts with ~).
both()
{
	local desc=$1 want=$2 o r ok=0
	shift 2
	o=$("${@//PORT/$PO}")
	r=$("${@//PORT/$PR}")
	echo "# $desc: ours [$o] real [$r]" | tr '\n' ' '
	echo
	if [ "${want:0:1}" = "~" ]; then
		grep -Eq -- "${want:1}" <<<"$o" && ok=1
	else
		[ "$o" = "$want" ] && ok=1
	fi
	if [ $ok = 1 ]; then
		t_ok "$desc"
	else
		t_fail "$desc: want [$want], ours [$o] (real [$r])"
	fi
}

for p in "$PO" "$PR"; do
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

# ---- users
both "user add" "Added user \`alice\` successfully." mcp PORT admin user add g alice alicesecret1
both "user list" "enabled alice" mcp PORT admin user list g
both "user info" "~Status: enabled" mcp PORT admin user info g alice
both "user disable" "Disabled user \`alice\` successfully." mcp PORT admin user disable g alice
both "user list after disable" "disabled alice" mcp PORT admin user list g
both "a disabled user cannot sign" "ERR InvalidAccessKeyId 403" as PORT alice alicesecret1 get-object "$B" doc.txt
both "user enable" "Enabled user \`alice\` successfully." mcp PORT admin user enable g alice
both "user remove of an unknown user" "~does not exist" mcp PORT admin user remove g nobody

# ---- policies
cat >"$T/p1.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::team","arn:aws:s3:::team/*"]}]}
JSON
both "policy add" "Added policy \`p1\` successfully." mcp PORT admin policy add g p1 "$T/p1.json"
both "policy list" "~^p1$" mcp PORT admin policy list g
both "policy info" "~s3:ListBucket" mcp PORT admin policy info g p1
both "policy info consoleAdmin (an admin statement without Resource)" '~"admin:\*"' mcp PORT admin policy info g consoleAdmin
both "policy set readonly" "Policy \`readonly\` is set on user \`alice\`" mcp PORT admin policy set g readonly user=alice
both "user info shows the policy" "~PolicyName: readonly" mcp PORT admin user info g alice
both "readonly user added by mc: GetObject" "ok 6" as PORT alice alicesecret1 get-object "$B" doc.txt
both "readonly user added by mc: PutObject" "ERR AccessDenied 403" as PORT alice alicesecret1 put-object "$B" new.txt
both "readonly user: list (MinIO's readonly has no s3:ListBucket)" "ERR AccessDenied 403" as PORT alice alicesecret1 list "$B"
both "policy set p1 (a custom policy)" "Policy \`p1\` is set on user \`alice\`" mcp PORT admin policy set g p1 user=alice
both "custom policy: list" "ok 1" as PORT alice alicesecret1 list "$B"
both "policy set of an unknown policy" "~does not exist" mcp PORT admin policy set g nosuch user=alice
both "policy remove" "Removed policy \`p1\` successfully." mcp PORT admin policy remove g p1
both "removed policy no longer applies" "ERR AccessDenied 403" as PORT alice alicesecret1 list "$B"

# ---- groups
both "group add" "Added members {alice} to group devs successfully." mcp PORT admin group add g devs alice
both "group info" "~Members: alice" mcp PORT admin group info g devs
both "group list" "devs" mcp PORT admin group list g
both "group disable" "Disabled group \`devs\` successfully." mcp PORT admin group disable g devs
both "group info disabled" "~Status: disabled" mcp PORT admin group info g devs
both "group remove while not empty" "~not empty" mcp PORT admin group remove g devs
both "group remove member" "Removed members {alice} from group devs successfully." mcp PORT admin group remove g devs alice
both "group remove" "Removed group devs successfully." mcp PORT admin group remove g devs
both "group info of a removed group" "~does not exist" mcp PORT admin group info g devs

# ---- service accounts
mcp "$PO" admin policy set g readwrite user=alice >/dev/null
mcp "$PR" admin policy set g readwrite user=alice >/dev/null
both "svcacct add" "Added service account \`svcone\` successfully." mcp PORT admin user svcacct add g alice --access-key svcone --secret-key svcsecret12
both "svcacct ls" "svcone" mcp PORT admin user svcacct ls g alice
both "svcacct info" "~ParentUser: alice" mcp PORT admin user svcacct info g svcone
both "a service account signs: PutObject (parent's readwrite)" ok as PORT svcone svcsecret12 put-object "$B" svc.txt
both "a service account signs: GetObject" "ok 6" as PORT svcone svcsecret12 get-object "$B" doc.txt
cat >"$T/ro.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::*"]}]}
JSON
both "svcacct add with a narrowing policy" "Added service account \`svctwo\` successfully." mcp PORT admin user svcacct add g alice --access-key svctwo --secret-key svcsecret22 --policy "$T/ro.json"
both "narrowed service account: GetObject" "ok 6" as PORT svctwo svcsecret22 get-object "$B" doc.txt
both "narrowed service account: PutObject" "ERR AccessDenied 403" as PORT svctwo svcsecret22 put-object "$B" svc2.txt
both "svcacct disable" "~[Dd]isabled" mcp PORT admin user svcacct disable g svctwo
both "a disabled service account" "ERR InvalidAccessKeyId 403" as PORT svctwo svcsecret22 get-object "$B" doc.txt
both "svcacct info disabled" "~Status: off" mcp PORT admin user svcacct info g svctwo
both "svcacct enable" "~[Ee]nabled" mcp PORT admin user svcacct enable g svctwo
both "svcacct set: a new secret" "~[Ee]dited|^$" mcp PORT admin user svcacct set g svctwo --secret-key svcsecret23
both "the new secret signs" "ok 6" as PORT svctwo svcsecret23 get-object "$B" doc.txt
both "the old secret does not" "ERR SignatureDoesNotMatch 403" as PORT svctwo svcsecret22 get-object "$B" doc.txt
mcp "$PO" admin user svcacct set g svctwo --secret-key svcsecret22 >/dev/null
mcp "$PR" admin user svcacct set g svctwo --secret-key svcsecret22 >/dev/null
both "a user adds its own service account" "Added service account \`svcself\` successfully." mcu PORT alice alicesecret1 admin user svcacct add u alice --access-key svcself --secret-key svcsecret44
both "a user lists service accounts naming itself (needs admin:ListServiceAccounts, as MinIO)" "~Access Denied" mcu PORT alice alicesecret1 admin user svcacct ls u alice
both "a user lists its own service accounts (no user named)" '~^200 - .*"svcself"' adm PORT alice alicesecret1 GET '/minio/admin/v3/list-service-accounts?user=' none
both "its own service account signs" "ok 6" as PORT svcself svcsecret44 get-object "$B" doc.txt
both "a user may not list another's accounts" "~Access Denied" mcu PORT alice alicesecret1 admin user svcacct ls u s3admin
both "svcacct rm (mc 2021 prints the key)" "svcone" mcp PORT admin user svcacct rm g svcone
both "a removed service account" "ERR InvalidAccessKeyId 403" as PORT svcone svcsecret12 get-object "$B" doc.txt
both "svcacct ls after rm" "~^svctwo$" mcp PORT admin user svcacct ls g alice

# ---- a user added through one gateway signs in at once through the other
# One process: a request through the second gateway (its cached copy of the
# document is now fresh and lacks dora), gateway-admin adds dora, and dora's
# request through that gateway at once, well inside the cache's 1 s TTL:
# AccessDenied (dora has no policy yet), not InvalidAccessKeyId, shows that
# the miss read the document again.
o=$(python3 - "$PO2" "$JFS_BIN" "$OM" <<'PYEOF' 2>&1
import subprocess, sys, time, boto3
from botocore.config import Config
from botocore.exceptions import ClientError
def cl(ak, sk):
    return boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % sys.argv[1], aws_access_key_id=ak,
                        aws_secret_access_key=sk, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
a, d = cl("alice", "alicesecret1"), cl("dora", "dorasecret1")
a.get_object(Bucket="team", Key="doc.txt")
t = time.monotonic()
subprocess.run([sys.argv[2], "gateway-admin", "user-add", sys.argv[3], "dora", "dorasecret1"], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    d.get_object(Bucket="team", Key="doc.txt")
    r = "ok"
except ClientError as e:
    r = e.response["Error"]["Code"]
print("%s %.2fs" % (r, time.monotonic() - t))
PYEOF
)
echo "# a new user through a gateway that had the document cached: $o"
[ "${o%% *}" = AccessDenied ] && t_ok "a user added elsewhere signs in at once through a gateway" ||
	t_fail "a user added elsewhere signs in at once through a gateway" "$o"
mcp "$PO" admin policy set g readonly user=dora >/dev/null
mcp "$PR" admin user add g dora dorasecret1 >/dev/null
mcp "$PR" admin policy set g readonly user=dora >/dev/null

# ---- who may: a non-admin user; an admin by policy
both "a non-admin user calls the admin API" "403 AccessDenied" adm PORT alice alicesecret1 GET /minio/admin/v3/list-users none
mcp "$PO" admin user add g eve evesecret11 >/dev/null
mcp "$PO" admin policy set g consoleAdmin user=eve >/dev/null
mcp "$PR" admin user add g eve evesecret11 >/dev/null
mcp "$PR" admin policy set g consoleAdmin user=eve >/dev/null
both "a consoleAdmin user lists users" '~^200 - .*"alice"' adm PORT eve evesecret11 GET /minio/admin/v3/list-users none

both "a user changes its own secret (no admin action needed)" "200 -" adm PORT dora dorasecret1 PUT '/minio/admin/v3/add-user?accessKey=dora' sealed '{"secretKey":"dorasecret2","status":"enabled"}'
both "its new secret signs" "ok 6" as PORT dora dorasecret2 get-object "$B" doc.txt
both "but it may not add another user" "403 AccessDenied" adm PORT dora dorasecret2 PUT '/minio/admin/v3/add-user?accessKey=zed' sealed '{"secretKey":"zedsecret1","status":"enabled"}'
both "a user's own info" '~^200 - .*"readonly"' adm PORT dora dorasecret2 GET '/minio/admin/v3/user-info?accessKey=dora' none
both "another user's info" "403 AccessDenied" adm PORT dora dorasecret2 GET '/minio/admin/v3/user-info?accessKey=alice' none

# ---- hostile bodies
U='/minio/admin/v3/add-user?accessKey=mallory'
J='{"secretKey":"mallorysecret","status":"enabled"}'
both "a body sealed by another implementation" "200 -" adm PORT s3admin s3secret123 PUT "$U" sealed "$J"
for k in wrongkey truncated tampered notjson garbage; do
	both "a body $k" "400 XMinioAdminConfigBadJSON" adm PORT s3admin s3secret123 PUT "$U" "$k" "$J"
done
both "a huge body" "400 XMinioAdminConfigTooLarge" adm PORT s3admin s3secret123 PUT "$U" huge
both "malformed JSON to update-group-members" "400 InvalidRequest" adm PORT s3admin s3secret123 PUT /minio/admin/v3/update-group-members plain '{"group":'
both "an unknown admin route" "426 XMinioAdminVersionMismatch" adm PORT s3admin s3secret123 GET /minio/admin/v3/no-such-thing none
both "another admin API version" "426 XMinioAdminVersionMismatch" adm PORT s3admin s3secret123 GET /minio/admin/v9/list-users none
both "add-user with the root key's name" "403 XMinioInvalidIAMCredentials" adm PORT s3admin s3secret123 PUT '/minio/admin/v3/add-user?accessKey=s3admin' sealed "$J"
both "a malformed policy" "~^400 " adm PORT s3admin s3secret123 PUT '/minio/admin/v3/add-canned-policy?name=bad' plain '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}'

# ---- no change lost: two writers at once, 8 users each
for i in $(seq 1 8); do
	"$JFS_BIN" gateway-admin user-add "$OM" "ga$i" "gasecret$i$i" >>"$T/race-a.log" 2>&1 &
	A_PIDS+=("$!")
	mcp "$PO" admin user add g "api$i" "apisecret$i$i" >>"$T/race-b.log" 2>&1 &
	A_PIDS+=("$!")
done
wait "${A_PIDS[@]}"
n=$(mcp "$PO" admin user list g | grep -cE ' (ga|api)[0-9]$')
[ "$n" = 16 ] && t_ok "16 parallel user adds from two processes all land" ||
	t_fail "16 parallel user adds from two processes all land: $n" "$(cat "$T/race-a.log" "$T/race-b.log")"

# ---- gateway-admin sees what mc made, and manages service accounts
jfs gateway-admin svcacct-add "$OM" dora svcthree svcsecret33
[ "$RC" -eq 0 ] && t_ok "gateway-admin svcacct-add" || t_fail "gateway-admin svcacct-add" "$(last_run)"
o=$(as "$PO" svcthree svcsecret33 get-object "$B" doc.txt)
[ "$o" = "ok 6" ] && t_ok "a service account added by gateway-admin signs" || t_fail "svcthree signs" "$o"
jfs gateway-admin svcacct-ls "$OM" dora
[ "$RC" -eq 0 ] && grep -q "^svcthree	on	inherited-policy$" "$T/out" && t_ok "gateway-admin svcacct-ls" ||
	t_fail "gateway-admin svcacct-ls" "$(last_run)"
jfs gateway-admin svcacct-rm "$OM" svcthree
[ "$RC" -eq 0 ] && t_ok "gateway-admin svcacct-rm" || t_fail "gateway-admin svcacct-rm" "$(last_run)"
jfs gateway-admin svcacct-rm "$OM" svcthree
[ "$RC" -eq 1 ] && t_ok "gateway-admin svcacct-rm of an unknown one: exit 1" || t_fail "svcacct-rm twice" "$(last_run)"
jfs gateway-admin user-ls "$OM"
grep -q "^svc" "$T/out" && t_fail "user-ls lists no service account" "$(last_run)" || t_ok "user-ls lists no service account"
# the sealed secrets are nowhere in the metadata in clear
if grep -aq "svcsecret22\|alicesecret1" "$T/ours.db"; then t_fail "secrets in clear in the metadata"; else t_ok "no secret in clear in the metadata"; fi

both "user remove" "Removed user \`alice\` successfully." mcp PORT admin user remove g alice
both "its service accounts went with it" "ERR InvalidAccessKeyId 403" as PORT svctwo svcsecret22 get-object "$B" doc.txt
t_done
