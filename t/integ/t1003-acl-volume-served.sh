#!/usr/bin/env bash
# A volume the real client formatted with --enable-acl and an encryption key
# (chacha20-rsa, the key sealed with JFS_RSA_PASSPHRASE), its ACLs set through
# the real mount, is served by our three doors (it used to be refused):
#  - the mount shows the real client's ACLs and enforces them for another uid;
#  - the S3 gateway and the WebDAV server act as the user their process runs
#    as (as the real ones do): started as uid 1000 they read and write where
#    an ACL entry for uid 1000 allows it, and get 403 where the mode bits and
#    ACLs deny it, while the real mount sees what they wrote;
#  - `status` reads the volume and config --enable-acl is one-way.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
command -v setfacl >/dev/null || t_skip_all "setfacl not installed (apt-get install acl)"
command -v setpriv >/dev/null || t_skip_all "setpriv not installed (util-linux)"
need_ref
chmod 755 "$T"
META="sqlite3://$T/acl.db"
# Encrypted too (issue 16's "done when"): an RSA key sealed with a passphrase,
# which every process below (root or uid 1000) gets from the environment.
command -v openssl >/dev/null || t_skip_all "openssl is not installed"
export JFS_RSA_PASSPHRASE=acl-volume-pass
openssl genrsa -aes256 -passout "pass:$JFS_RSA_PASSPHRASE" -out "$T/key.pem" 2048 2>/dev/null ||
	t_skip_all "openssl genrsa failed"
ref format "$META" aclvol --bucket "$T/bk" --enable-acl --encrypt-rsa-key "$T/key.pem" \
	--encrypt-algo chacha20-rsa
[ "$RC" -eq 0 ] || { t_fail "real format --enable-acl --encrypt-rsa-key" "$(last_run)"; t_done; }

# the tree, made through the real mount
mkdir -p "$T/rm"
run "$JFS_REF" mount "$META" "$T/rm" -d --log "$T/ref.log" --no-usage-report --cache-dir "$T/refcache"
[ "$RC" -eq 0 ] || { t_fail "real mount" "$(last_run)"; t_done; }
T_MOUNTS+=("$T/rm")
(
	cd "$T/rm" || exit 1
	mkdir -m 700 open closed
	setfacl -m u:1000:rwx open
	echo secret >closed/s
	echo shared >open/f
	chmod 600 open/f
	setfacl -m u:1000:rw open/f
	echo private >open/p
	chmod 600 open/p
) || t_fail "set ACLs through the real mount"
run "$JFS_REF" umount "$T/rm"

jfs status "$META"
[ "$RC" -eq 0 ] && jq -e '.Setting.EnableACL == true' "$T/out" >/dev/null &&
	t_ok "status reads the volume: EnableACL true" || t_fail "status reads the volume" "$(last_run)"
jfs config "$META" --enable-acl=false
[ "$RC" -ne 0 ] && grep -q 'cannot disable acl' "$T/err" && t_ok "config --enable-acl=false: refused" ||
	t_fail "config --enable-acl=false refused" "$(last_run)"

# --- the mount
fmount "$META" "$T/mp"
[ "$RC" -eq 0 ] || { t_fail "our mount serves an ACL volume" "$(last_run)"; t_done; }
getfacl -n "$T/mp/open/f" 2>/dev/null | grep -q '^user:1000:rw-' &&
	t_ok "our mount serves the ACL volume and shows the real client's ACLs" ||
	t_fail "our mount shows the ACLs" "$(getfacl -n "$T/mp/open/f" 2>&1)"
r1=$(setpriv --reuid=1000 --regid=1000 --clear-groups cat "$T/mp/open/f" 2>&1)
r2=$(setpriv --reuid=1000 --regid=1000 --clear-groups cat "$T/mp/open/p" 2>&1)
[ "$r1" = shared ] && [[ $r2 == *"Permission denied"* ]] &&
	t_ok "our mount enforces them: uid 1000 reads f (ACL), not p (mode 600)" ||
	t_fail "our mount enforces the ACLs" "f: $r1" "p: $r2"
fumount "$T/mp"

# --- the HTTP doors run as uid 1000: the volume's files must be theirs to open
chmod -R a+rwX "$T/bk" "$T/acl.db"
chmod 777 "$T"
mkdir -p "$T/gwcache" && chown 1000:1000 "$T/gwcache"
export MINIO_ROOT_USER=aclroot MINIO_ROOT_PASSWORD=aclsecret123
gp=$(free_port)
setpriv --reuid=1000 --regid=1000 --clear-groups "$JFS_BIN" gateway "$META" "127.0.0.1:$gp" \
	--no-banner --cache-dir "$T/gwcache" >"$T/gw.log" 2>&1 &
T_PIDS+=("$!")
dp=$(free_port)
setpriv --reuid=1000 --regid=1000 --clear-groups "$JFS_BIN" webdav "$META" "127.0.0.1:$dp" \
	--cache-dir "$T/gwcache" >"$T/dav.log" 2>&1 &
T_PIDS+=("$!")
for _ in $(seq 150); do
	curl -s -o /dev/null "http://127.0.0.1:$gp/" && curl -s -o /dev/null "http://127.0.0.1:$dp/" && break
	sleep 0.1
done
s3() { curl -s -o "$T/body" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
	--user aclroot:aclsecret123 "$@"; }
dav() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
got="get f $(s3 "http://127.0.0.1:$gp/aclvol/open/f")"
got+=" get p $(s3 "http://127.0.0.1:$gp/aclvol/open/p")"
got+=" get closed/s $(s3 "http://127.0.0.1:$gp/aclvol/closed/s")"
got+=" put open/new $(s3 -T /etc/hostname "http://127.0.0.1:$gp/aclvol/open/new")"
got+=" put closed/new $(s3 -T /etc/hostname "http://127.0.0.1:$gp/aclvol/closed/new")"
echo "# S3 as uid 1000: $got"
[ "$got" = "get f 200 get p 403 get closed/s 403 put open/new 200 put closed/new 403" ] &&
	t_ok "S3 gateway as uid 1000: allowed by the ACL, denied by mode and ACL (403)" ||
	t_fail "S3 gateway checked as uid 1000" "$got" "$(tail -n 5 "$T/gw.log")"
got="get f $(dav "http://127.0.0.1:$dp/open/f")"
got+=" get p $(dav "http://127.0.0.1:$dp/open/p")"
got+=" put open/d $(dav -T /etc/hostname "http://127.0.0.1:$dp/open/d")"
got+=" put closed/d $(dav -T /etc/hostname "http://127.0.0.1:$dp/closed/d")"
echo "# WebDAV as uid 1000: $got"
[ "$got" = "get f 200 get p 403 put open/d 201 put closed/d 403" ] &&
	t_ok "WebDAV as uid 1000: allowed by the ACL, denied by mode and ACL (403)" ||
	t_fail "WebDAV checked as uid 1000" "$got" "$(tail -n 5 "$T/dav.log")"

# what they wrote is uid 1000's, seen by the real mount
run "$JFS_REF" mount "$META" "$T/rm" -d --log "$T/ref2.log" --no-usage-report --cache-dir "$T/refcache"
st=$(stat -c '%n %u' "$T/rm/open/new" "$T/rm/open/d" 2>&1 | sed "s|$T/rm/||")
[ "$st" = "$(printf 'open/new 1000\nopen/d 1000')" ] && [ ! -e "$T/rm/closed/new" ] &&
	t_ok "the real mount sees the doors' files, owned by uid 1000" ||
	t_fail "the real mount sees the doors' files" "$st"
run "$JFS_REF" umount "$T/rm"
# the doors read and wrote through the encryption: no block holds plain text
if [ -n "$(find "$T/bk" -type f -path '*/chunks/*' | head -n 1)" ] &&
	! grep -rqa -e shared -e private -e secret "$T/bk"; then
	t_ok "the volume's blocks are encrypted (no plain text in the bucket)"
else
	t_fail "encrypted blocks" "$(grep -rla -e shared -e private -e secret "$T/bk" | head -n 3)"
fi
t_done
