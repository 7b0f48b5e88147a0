#!/usr/bin/env bash
# A volume the real client formatted with --enable-acl: this build does not
# enforce POSIX ACLs, and checking mode bits alone would both grant what an
# ACL denies (the group bits hold the mask) and deny what one grants. So the
# mount, the gateway and the WebDAV server refuse to serve it, with one line
# and a non-zero exit, instead of serving it under other permissions (they
# used to serve it and ignore the ACLs silently). The volume stays readable
# by the real client, and `status` still reads it.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
need_ref
export MINIO_ROOT_USER=aclroot MINIO_ROOT_PASSWORD=aclsecret123
META="sqlite3://$T/acl.db"
ref format "$META" aclvol --bucket "$T/bk" --enable-acl
[ "$RC" -eq 0 ] || { t_fail "real format --enable-acl" "$(last_run)"; t_done; }

refused()
{
	local what=$1
	shift
	run timeout 20 "$JFS_BIN" "$@"
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && grep -q "POSIX ACLs enabled" "$T/err" &&
		[ "$(grep -c . "$T/err")" -le 2 ]; then
		t_ok "$what refuses an ACL volume: $(grep -o 'volume aclvol has.*' "$T/err" | head -n 1)"
	else
		t_fail "$what refuses an ACL volume with one line" "$(last_run)"
	fi
}
mkdir -p "$T/mp"
refused mount mount "$META" "$T/mp" --cache-dir "$T/cache"
mountpoint -q "$T/mp" && { t_fail "nothing mounted" "$T/mp is a mount point"; umount -l "$T/mp"; }
refused gateway gateway "$META" "127.0.0.1:$(free_port)" --no-banner
refused webdav webdav "$META" "127.0.0.1:$(free_port)"
jfs status "$META"
[ "$RC" -eq 0 ] && jq -e '.Setting.EnableACL == true' "$T/out" >/dev/null &&
	t_ok "status reads the volume: EnableACL true" || t_fail "status reads the volume" "$(last_run)"
t_done
