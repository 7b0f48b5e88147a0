#!/usr/bin/env bash
# Bucket policies and anonymous access, ours beside the real gateway
# ($JFS_REF gateway, JuiceFS 1.4.2), each on a volume of its own, with the
# same commands; both results are printed, ours are asserted:
#  - mc: `mc anonymous set download` makes plain curl GETs work, `mc
#    anonymous get` reads it back, `mc anonymous set private` gives 403 again;
#  - PutBucketPolicy with an Allow and a Deny for a prefix: the Deny wins;
#    GetBucketPolicy gives back the document as put, GetBucketPolicyStatus
#    says public, DeleteBucketPolicy makes the bucket private and
#    GetBucketPolicy NoSuchBucketPolicy;
#  - hostile documents (10,000 statements, deep nesting, unknown action,
#    malformed JSON, another bucket's ARN, ...) are 400 and change nothing;
#  - a condition on the object's tags (s3:ExistingObjectTag) allows exactly
#    the objects that carry the tag;
#  - an anonymous request never writes or deletes with a download policy; the
#    root key is never denied, not even by a policy that denies everything;
#  - a second gateway of the same volume enforces a change made through the
#    first within a bounded wait (the policy is kept in the volume).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
python3 -c 'import boto3' 2>/dev/null || t_skip_all "python3 boto3 missing (Debian: python3-boto3)"
need_ref
HAVE_MC=1
want_mc || HAVE_MC=0

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
B=pub
PY="$JFS_SRCDIR/t/integ/s3-policy.py"

for v in ours ref; do
	jfs format "sqlite3://$T/$v.db" "vol$v" --bucket "$T/data-$v"
	[ "$RC" -eq 0 ] || { t_fail "format volume $v" "$(last_run)"; t_done; }
done

gw_start ours "sqlite3://$T/ours.db" --multi-buckets ||
	{ t_fail "our gateway starts" "$(tail -n 5 "$T/gw-ours.log")"; t_done; }
GW_BIN=$JFS_REF gw_start ref "sqlite3://$T/ref.db" --multi-buckets ||
	{ t_fail "the real gateway starts" "$(tail -n 5 "$T/gw-ref.log")"; t_done; }
PO=${EP_ours##*:} PR=${EP_ref##*:}

pol() { timeout 120 python3 "$PY" "http://127.0.0.1:$1" s3admin s3secret123 "${@:2}" 2>&1; }
# anon PORT [CURL-ARGS] PATH: the status of a request without any signature.
anon() { curl -s -o "$T/anon.body" -w '%{http_code}' -m 20 "${@:2:$#-2}" "http://127.0.0.1:$1/${*: -1}"; }

# both DESC WANT CMD...: CMD (with PORT in place of the port) against both;
# prints both results and asserts ours equals WANT.
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

echo hello-public >"$T/a.txt"
echo top-secret >"$T/s.txt"
for p in "$PO" "$PR"; do
	python3 - "$p" "$T" <<'EOF'
import sys, boto3
from botocore.config import Config
port, t = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port, aws_access_key_id="s3admin",
                  aws_secret_access_key="s3secret123", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="pub")
s3.upload_file(t + "/a.txt", "pub", "a.txt")
s3.upload_file(t + "/s.txt", "pub", "secret/s.txt")
EOF
done

both "anonymous GET without a policy" 403 anon PORT "$B/a.txt"
both "GetBucketPolicy without a policy" "ERR NoSuchBucketPolicy 404" pol PORT get-policy "$B"
both "GetBucketPolicyStatus without a policy" "public=False" pol PORT status "$B"

# ---- mc anonymous
if [ "$HAVE_MC" = 1 ]; then
	mcq() { MC_HOST_g="http://s3admin:s3secret123@127.0.0.1:$1" timeout 60 "$JFS_MC" \
		--config-dir "$T/mc" --no-color "${@:2}" 2>&1; }
	mc_set() { mcq "$1" anonymous set "$2" "g/$B" >/dev/null; echo $?; }
	both "mc anonymous set download" 0 mc_set PORT download
	both "anonymous GET after mc anonymous set download" 200 anon PORT "$B/a.txt"
	anon "$PO" "$B/a.txt" >/dev/null
	if [ "$(cat "$T/anon.body")" = hello-public ]; then
		t_ok "the anonymous GET got the object's bytes"
	else
		t_fail "the anonymous GET got the object's bytes" "$(head -c 300 "$T/anon.body")"
	fi
	mc_get() { mcq "$1" anonymous get "g/$B" | grep -o "download\|private\|public\|upload\|custom" | head -n 1; }
	both "mc anonymous get reads it back" download mc_get PORT
	both "anonymous PUT with a download policy" 403 anon PORT -X PUT --data x "$B/new.txt"
	both "anonymous DELETE with a download policy" 403 anon PORT -X DELETE "$B/a.txt"
	both "the object is still there" "ok 13" pol PORT get-object "$B" a.txt
	both "mc anonymous set private" 0 mc_set PORT private
	both "anonymous GET after mc anonymous set private" 403 anon PORT "$B/a.txt"
	both "mc anonymous get after private" private mc_get PORT
else
	t_skip "mc anonymous set download / private" "$(cat "$T/mc-why")"
fi

# ---- a policy with a Deny for a prefix
cat >"$T/deny.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Sid":"pub","Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::$B/*"]},{"Sid":"nosecret","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::$B/secret/*"}]}
EOF
both "PutBucketPolicy Allow GetObject, Deny GetObject secret/*" ok pol PORT put-policy "$B" "$T/deny.json"
both "anonymous GET outside the denied prefix" 200 anon PORT "$B/a.txt"
both "anonymous GET inside the denied prefix" 403 anon PORT "$B/secret/s.txt"
both "anonymous listing (not allowed)" 403 anon PORT "$B/"
both "GetBucketPolicy gives the document back as put" "$(cat "$T/deny.json")" pol PORT get-policy "$B"
both "GetBucketPolicyStatus with an Allow for everyone" "public=True" pol PORT status "$B"

# ---- hostile documents: refused, the policy in force unchanged
o=$(pol "$PO" hostile "$B")
r=$(pol "$PR" hostile "$B")
echo "$o" | sed 's/^/# ours: /'
echo "$r" | sed 's/^/# real: /'
bad=$(echo "$o" | grep -v ': ERR \(MalformedPolicy\|PolicyTooLarge\) 400$')
n=$(echo "$o" | grep -c ': ERR')
if [ -z "$bad" ] && [ "$n" -eq 11 ]; then
	t_ok "11 hostile policies refused with 400 MalformedPolicy/PolicyTooLarge"
else
	t_fail "hostile policies refused with 400" "$bad"
fi
if echo "$o" | grep -q '^10000-statements: ERR PolicyTooLarge 400$'; then
	t_ok "10,000 statements: PolicyTooLarge"
else
	t_fail "10,000 statements: PolicyTooLarge" "$(echo "$o" | head -n 1)"
fi
both "the policy in force after the hostile ones" "$(cat "$T/deny.json")" pol PORT get-policy "$B"
both "anonymous GET still allowed after the hostile ones" 200 anon PORT "$B/a.txt"

# ---- the root key is never denied
cat >"$T/denyall.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::$B","arn:aws:s3:::$B/*"]}]}
EOF
both "PutBucketPolicy Deny everything" ok pol PORT put-policy "$B" "$T/denyall.json"
both "the root key reads through a Deny-everything policy" "ok 11" pol PORT get-object "$B" secret/s.txt
both "DeleteBucketPolicy" ok pol PORT delete-policy "$B"
both "GetBucketPolicy after delete" "ERR NoSuchBucketPolicy 404" pol PORT get-policy "$B"
both "DeleteBucketPolicy without a policy" ok pol PORT delete-policy "$B"
both "anonymous GET after delete" 403 anon PORT "$B/a.txt"

# ---- a condition on the object's own tags (s3:ExistingObjectTag)
cat >"$T/tag.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::$B/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/share":"yes"}}}]}
EOF
both "PutObjectTagging share=yes on a.txt" ok pol PORT put-tagging "$B" a.txt share=yes
both "PutObjectTagging share=no on secret/s.txt" ok pol PORT put-tagging "$B" secret/s.txt share=no
both "PutBucketPolicy allowing objects tagged share=yes" ok pol PORT put-policy "$B" "$T/tag.json"
both "anonymous GET of the object tagged share=yes" 200 anon PORT "$B/a.txt"
both "anonymous GET of the object tagged share=no" 403 anon PORT "$B/secret/s.txt"
both "anonymous GET of a missing object" 403 anon PORT "$B/nothing.txt"
both "DeleteBucketPolicy" ok pol PORT delete-policy "$B"

# ---- a second gateway of our volume sees a change made through the first
gw_start ours2 "sqlite3://$T/ours.db" --multi-buckets ||
	t_fail "a second gateway starts" "$(tail -n 5 "$T/gw-ours2.log")"
PO2=${EP_ours2##*:}
# wait_anon PORT WANT: poll (bounded, 15 s) until an anonymous GET answers WANT.
wait_anon()
{
	local i s
	for i in $(seq 1 75); do
		s=$(anon "$1" "$B/a.txt")
		[ "$s" = "$2" ] && { echo "$s"; return; }
		sleep 0.2
	done
	echo "$s"
}
[ "$(anon "$PO2" "$B/a.txt")" = 403 ] || t_fail "second gateway: private before the change"
run pol "$PO" put-policy "$B" "$T/deny.json"
s=$(wait_anon "$PO2" 200)
if [ "$s" = 200 ]; then
	t_ok "a policy put through one gateway is enforced by a second one of the volume"
else
	t_fail "a policy put through one gateway is enforced by a second one" "status $s"
fi
run pol "$PO" delete-policy "$B"
s=$(wait_anon "$PO2" 403)
if [ "$s" = 403 ]; then
	t_ok "a policy deleted through one gateway stops applying on the second"
else
	t_fail "a policy deleted through one gateway stops applying on the second" "status $s"
fi
# nothing stored was lost along the way
both "the objects after it all" "ok 13" pol PORT get-object "$B" a.txt

# ---- a FUSE mount of the volume neither sees nor forges the policy xattr
if [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ] && command -v getfattr >/dev/null; then
	# shellcheck source=t/integ/fuse-lib.sh
	. "$JFS_SRCDIR/t/integ/fuse-lib.sh"
	run pol "$PO" put-policy "$B" "$T/deny.json"
	fmount "sqlite3://$T/ours.db" "$T/mnt" --enable-xattr
	if [ "$RC" -ne 0 ]; then
		t_fail "mount the volume" "$(last_run)"
	else
		setfattr -n user.note -v x "$T/mnt/$B"
		names=$(getfattr -d -m - "$T/mnt/$B" 2>&1)
		g=$(getfattr -n s3.policy "$T/mnt/$B" 2>&1)
		setfattr -n s3.policy -v '{"Statement":[]}' "$T/mnt/$B" 2>"$T/set.err"
		set_rc=$?
		setfattr -x s3.policy "$T/mnt/$B" 2>>"$T/set.err"
		rm_rc=$?
		fumount "$T/mnt"
		if echo "$names" | grep -q user.note && ! echo "$names" | grep -q s3.policy &&
			echo "$g" | grep -q "No such attribute" && [ "$set_rc" -ne 0 ] &&
			[ "$rm_rc" -ne 0 ]; then
			t_ok "the mount lists, reads, sets and removes no s3.policy xattr"
		else
			t_fail "the mount hides s3.policy" "list: $names" "get: $g" \
				"set $set_rc, remove $rm_rc: $(cat "$T/set.err")"
		fi
		both "the policy after the mount's attempts" "$(cat "$T/deny.json")" pol PORT get-policy "$B"
	fi
else
	t_skip "a FUSE mount does not see the policy" "no /dev/fuse, root or getfattr"
fi
t_done
