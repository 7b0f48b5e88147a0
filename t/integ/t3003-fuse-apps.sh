#!/usr/bin/env bash
# FUSE mount, real programs: git clone of a local repository into the mount
# then git fsck and a checkout compare; a tarball extracted into the mount
# compares equal, and a tarball made from the mount lists the same entries.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
command -v git >/dev/null || t_skip_all "git not installed"

fformat apps --compress zstd
M=$T/mnt
fmount "$META" "$M"
[ "$RC" -eq 0 ] || { t_fail "mount" "$(last_run)"; t_done; }

# A local repository with some history: the source tree, committed twice.
R=$T/repo
mkdir -p "$R"
cp -r "$JFS_SRCDIR/base" "$JFS_SRCDIR/meta" "$JFS_SRCDIR/t" "$R/" 2>/dev/null
head -c 3000000 /dev/urandom >"$R/blob.bin"
find "$R" -type d -empty -delete # git keeps no empty directories
(cd "$R" && git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm one &&
	echo more >>blob.bin && git mv base base2 && git -c user.name=t -c user.email=t@t commit -qam two) ||
	t_skip_all "could not build a local git repository"

run git clone -q "$R" "$M/clone"
[ "$RC" -eq 0 ] && t_ok "git clone into the mount" || t_fail "git clone" "$(last_run)"
run git -C "$M/clone" fsck --full --strict
[ "$RC" -eq 0 ] && t_ok "git fsck --full in the mount" || t_fail "git fsck" "$(last_run)"
run diff -r -x .git "$R" "$M/clone"
[ "$RC" -eq 0 ] && t_ok "checked-out tree equals the source" || t_fail "checkout compare" "$(last_run)"
run git -C "$M/clone" gc -q
[ "$RC" -eq 0 ] && t_ok "git gc (repack, renames, unlinks) in the mount" || t_fail "git gc" "$(last_run)"
run git -C "$M/clone" fsck --full
[ "$RC" -eq 0 ] && t_ok "git fsck after gc" || t_fail "git fsck after gc" "$(last_run)"

# Tarball: extract into the mount, compare with an extraction on local disk.
tar -C "$T/repo" -czf "$T/src.tgz" . 2>/dev/null
mkdir -p "$T/local" "$M/untar"
tar -C "$T/local" -xzf "$T/src.tgz"
run tar -C "$M/untar" -xzf "$T/src.tgz"
[ "$RC" -eq 0 ] && t_ok "tar -x into the mount" || t_fail "tar -x" "$(last_run)"
run diff -r "$T/local" "$M/untar"
[ "$RC" -eq 0 ] && t_ok "extracted tree compares equal" || t_fail "extracted tree compare" "$(last_run)"
a=$(cd "$T/local" && find . -printf '%p %y %m %T@\n' | sort | sha256sum)
b=$(cd "$M/untar" && find . -printf '%p %y %m %T@\n' | sort | sha256sum)
[ "$a" = "$b" ] && t_ok "modes and mtimes from the tarball kept" || t_fail "tar metadata kept"
run tar -C "$M/untar" -cf "$T/back.tar" .
[ "$RC" -eq 0 ] && [ "$(tar -tf "$T/back.tar" | sort)" = "$(tar -tzf "$T/src.tgz" | sort)" ] &&
	t_ok "tar -c from the mount lists the same entries" || t_fail "tar -c from the mount" "$(last_run)"
run rm -rf "$M/untar" "$M/clone"
[ "$RC" -eq 0 ] && [ -z "$(ls "$M")" ] && t_ok "rm -rf of both trees" || t_fail "rm -rf" "$(last_run)" "$(ls "$M")"
fumount "$M"
fcheck_logs
t_done
