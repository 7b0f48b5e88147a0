#!/usr/bin/env bash
# FUSE mount, POSIX behaviour (issue "FUSE mount"): cp -a + diff -r of a mixed
# tree, renames (across directories, NOREPLACE, EXCHANGE), hard links and
# nlink, symlinks, xattrs, sparse files and holes, truncate up and down,
# fallocate punch hole, copy_file_range, unlinked-but-open files, flock(1)
# and fcntl locks between processes, permission checks as a non-root user
# with supplementary groups, internal files, read-only mounts, and the
# bad-input cases (missing/busy mountpoint, long names).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
chmod 755 "$T" # the non-root user must reach the mountpoint

fformat posix --trash-days 0
M=$T/mnt
fmount "$META" "$M" --enable-xattr --enable-ioctl
if [ "$RC" -ne 0 ]; then
	t_fail "mount -d returns once the mount is ready" "$(last_run)" "$(tail -n 5 "$T/mnt.log")"
	t_done
fi
t_ok "mount -d returns once the mount is ready"

# expect DESC CMD...: shell snippet must succeed
check()
{
	local d=$1
	shift
	if out=$("$@" 2>&1); then t_ok "$d"; else t_fail "$d" "$out"; fi
}

# ---------------------------------------------------------------- cp -a / diff -r
S=$T/src
mkdir -p "$S/a/b/c" "$S/empty" "$S/mode"
head -c 0 /dev/urandom >"$S/zero"
head -c 1 /dev/urandom >"$S/one"
head -c 4095 /dev/urandom >"$S/a/page-1"
head -c 65537 /dev/urandom >"$S/a/b/64k+1"
head -c $((5 * 1024 * 1024 + 17)) /dev/urandom >"$S/a/b/c/5m"
for i in $(seq 50); do echo "file $i" >"$S/a/small-$i"; done
ln -s a/page-1 "$S/link"
ln -s /nonexistent/target "$S/dangling"
ln "$S/one" "$S/a/one-hard"
mkfifo "$S/fifo"
chmod 0600 "$S/mode" && touch "$S/mode/x" && chmod 4755 "$S/mode/x" && chmod 0700 "$S/mode"
touch -d '2001-02-03 04:05:06.123456789' "$S/a/small-1"
printf 'x' >"$S/name with spaces é"
check "cp -a of a mixed tree into the mount" cp -a "$S" "$M/tree"
check "diff -r of the copied tree" diff -r --no-dereference -x fifo "$S" "$M/tree"
a=$(cd "$S" && find . -printf '%p %y %m %s %T@ %l\n' | grep -v ' d ' | sort)
b=$(cd "$M/tree" && find . -printf '%p %y %m %s %T@ %l\n' | grep -v ' d ' | sort)
if [ "$a" = "$b" ]; then t_ok "types, modes, sizes, mtimes (ns) and link targets kept"; else
	t_fail "types, modes, sizes, mtimes kept" "$(diff <(echo "$a") <(echo "$b") | head)"; fi
[ "$(stat -c %h "$M/tree/one")" = 2 ] && [ "$(stat -c %i "$M/tree/one")" = "$(stat -c %i "$M/tree/a/one-hard")" ] &&
	t_ok "cp -a keeps hard links (nlink 2, one inode)" || t_fail "cp -a keeps hard links" "$(stat -c '%n %h %i' "$M/tree/one" "$M/tree/a/one-hard")"

# ---------------------------------------------------------------- rename
mkdir -p "$M/r1/sub" "$M/r2"
echo one >"$M/r1/f"
echo two >"$M/r2/g"
check "rename across directories" mv "$M/r1/f" "$M/r2/f"
[ ! -e "$M/r1/f" ] && [ "$(cat "$M/r2/f")" = one ] && t_ok "renamed file moved with its content" || t_fail "renamed file moved"
check "rename a directory across directories" mv "$M/r1/sub" "$M/r2/sub"
[ "$(stat -c %h "$M/r1")" = 2 ] && [ "$(stat -c %h "$M/r2")" = 3 ] &&
	t_ok "directory nlink follows the move" || t_fail "directory nlink" "$(stat -c '%n %h' "$M/r1" "$M/r2")"
mv "$M/r2/f" "$M/r2/g"
[ "$(cat "$M/r2/g")" = one ] && t_ok "rename over an existing file replaces it" || t_fail "rename over"
echo three >"$M/r2/h"
renameat2()
{
	python3 - "$@" <<'EOF'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
r = libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD, sys.argv[2].encode(), int(sys.argv[3]))
if r:
    e = ctypes.get_errno()
    print(os.strerror(e)); sys.exit(e)
EOF
}
renameat2 "$M/r2/g" "$M/r2/h" 1 >/dev/null
[ $? -eq 17 ] && [ "$(cat "$M/r2/h")" = three ] && t_ok "RENAME_NOREPLACE onto a file: EEXIST" || t_fail "RENAME_NOREPLACE"
if renameat2 "$M/r2/g" "$M/r2/h" 2 && [ "$(cat "$M/r2/h")" = one ] && [ "$(cat "$M/r2/g")" = three ]; then
	t_ok "RENAME_EXCHANGE swaps two files"
else t_fail "RENAME_EXCHANGE swaps two files" "g=$(cat "$M/r2/g") h=$(cat "$M/r2/h")"; fi

# ---------------------------------------------------------------- links
echo data >"$M/hl"
ln "$M/hl" "$M/r1/hl2"
ln "$M/hl" "$M/r2/hl3"
[ "$(stat -c %h "$M/hl")" = 3 ] && t_ok "two hard links: nlink 3" || t_fail "nlink 3" "$(stat -c %h "$M/hl")"
rm "$M/r1/hl2"
[ "$(stat -c %h "$M/hl")" = 2 ] && [ "$(cat "$M/r2/hl3")" = data ] && t_ok "unlink one link: nlink 2, data kept" || t_fail "nlink after unlink"
ln -s ../hl "$M/r2/sl"
[ "$(readlink "$M/r2/sl")" = ../hl ] && [ "$(cat "$M/r2/sl")" = data ] && t_ok "symlink: readlink and follow" || t_fail "symlink"
ln -s "$(head -c 1000 /dev/zero | tr '\0' x)" "$M/longlink" && [ "$(readlink "$M/longlink" | wc -c)" = 1001 ] &&
	t_ok "symlink with a 1000-byte target" || t_fail "long symlink target"

# ---------------------------------------------------------------- xattrs
touch "$M/x"
setfattr -n user.k1 -v v1 "$M/x" && setfattr -n user.k2 -v 0sAAECAw== "$M/x"
[ "$(getfattr --only-values -n user.k1 "$M/x" 2>/dev/null)" = v1 ] && t_ok "setxattr/getxattr" || t_fail "getxattr"
python3 -c "import os, sys; assert os.getxattr(sys.argv[1], 'user.k2') == bytes([0, 1, 2, 3])" "$M/x" &&
	t_ok "binary xattr value" || t_fail "binary xattr"
[ "$(getfattr -d -m - "$M/x" 2>/dev/null | grep -c '^user\.')" = 2 ] && t_ok "listxattr shows both names" || t_fail "listxattr"
if python3 -c "
import os, sys, errno
p = sys.argv[1]
try:
    os.setxattr(p, 'user.k1', b'z', os.XATTR_CREATE); sys.exit(1)
except OSError as e:
    assert e.errno == errno.EEXIST
try:
    os.setxattr(p, 'user.nope', b'z', os.XATTR_REPLACE); sys.exit(2)
except OSError as e:
    assert e.errno == errno.ENODATA
os.removexattr(p, 'user.k1')
try:
    os.getxattr(p, 'user.k1'); sys.exit(3)
except OSError as e:
    assert e.errno == errno.ENODATA
" "$M/x"; then t_ok "XATTR_CREATE/XATTR_REPLACE/removexattr errors"; else t_fail "xattr flags" "exit $?"; fi

# ---------------------------------------------------------------- sparse, truncate, holes
python3 - "$M/sparse" "$T/sparse" <<'EOF'
import os, sys
for p in sys.argv[1:]:
    f = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    os.pwrite(f, b'head', 0)
    os.pwrite(f, b'middle', 70 << 20)      # second chunk
    os.pwrite(f, b'tail', (200 << 20) - 4)
    os.close(f)
EOF
check "sparse 200 MiB file with holes reads back byte-exact" cmp "$M/sparse" "$T/sparse"
truncate -s 100M "$M/sparse" && truncate -s 100M "$T/sparse"
check "truncate down keeps the head" cmp "$M/sparse" "$T/sparse"
truncate -s 150M "$M/sparse" && truncate -s 150M "$T/sparse"
check "truncate up reads zeros past the old end" cmp "$M/sparse" "$T/sparse"
head -c 300000 /dev/urandom >"$T/t3"
cp "$T/t3" "$M/t3"
truncate -s 1000 "$M/t3"
truncate -s 300000 "$M/t3"
{ head -c 1000 "$T/t3"; head -c 299000 /dev/zero; } >"$T/t3x"
check "truncate down then up: the cut range reads zeros" cmp "$M/t3" "$T/t3x"
cp "$T/t3" "$M/ph"
check "fallocate --punch-hole" fallocate -p -o 4096 -l 8192 "$M/ph"
{ head -c 4096 "$T/t3"; head -c 8192 /dev/zero; tail -c +12289 "$T/t3"; } >"$T/phx"
check "punched range reads zeros, size kept" cmp "$M/ph" "$T/phx"
check "fallocate grows the file" fallocate -l 1M "$M/falloc"
[ "$(stat -c %s "$M/falloc")" = 1048576 ] && t_ok "fallocate size" || t_fail "fallocate size"
python3 -c "
import os, sys
a = os.open(sys.argv[1], os.O_RDONLY); b = os.open(sys.argv[2], os.O_CREAT | os.O_WRONLY, 0o644)
n = 0
while n < 300000:
    k = os.copy_file_range(a, b, 300000 - n, n, n)
    if k <= 0: break
    n += k
" "$M/t3" "$M/t3copy"
check "copy_file_range copies byte-exact" cmp "$M/t3" "$M/t3copy"

# ---------------------------------------------------------------- unlinked but open
if python3 -c "
import os, sys
p = sys.argv[1]
with open(p, 'wb') as f: f.write(b'still here' * 1000)
f = open(p, 'rb')
os.unlink(p)
assert not os.path.exists(p)
assert f.read() == b'still here' * 1000
g = open(p + '2', 'w+b'); g.write(b'abc'); g.flush(); os.unlink(p + '2'); g.seek(0)
assert g.read() == b'abc'
" "$M/unl"; then t_ok "unlinked files stay readable until the last close"; else t_fail "unlinked but open"; fi

# ---------------------------------------------------------------- locks between processes
touch "$M/lockf"
flock "$M/lockf" sleep 3 &
holder=$!
T_PIDS+=("$holder")
sleep 0.5
if flock -n "$M/lockf" true; then t_fail "flock -n fails while another process holds the lock"; else
	t_ok "flock -n fails while another process holds the lock"; fi
flock -s -n "$M/lockf" true && t_fail "shared flock is refused under an exclusive one" || t_ok "shared flock is refused under an exclusive one"
wait "$holder"
flock -n "$M/lockf" true && t_ok "flock succeeds after the holder exits" || t_fail "flock after release"
if timeout 10 flock -w 1 "$M/lockf" sh -c "flock -w 0.5 '$M/lockf' true"; then
	t_fail "a blocked flock wait times out (interrupted)"
else
	rc=$?
	[ "$rc" -eq 1 ] && t_ok "a blocked flock wait is interrupted by its timeout" || t_fail "flock -w" "exit $rc"
fi
if python3 - "$M/lockf" <<'EOF'
import fcntl, os, struct, sys, time
p = sys.argv[1]
f = open(p, 'r+')
fcntl.lockf(f, fcntl.LOCK_EX, 100, 0)
pid = os.fork()
if pid == 0:
    g = open(p, 'r+')
    try:
        fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 50)
        os._exit(1)
    except OSError:
        pass
    fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 200)   # no overlap
    # F_GETLK reports the parent's lock
    r = fcntl.fcntl(g, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 10, 0))
    t, w, s, l, who = struct.unpack('hhqqi', r)
    os._exit(0 if (t == fcntl.F_WRLCK and s == 0 and l == 100) else 2)
_, st = os.waitpid(pid, 0)
assert os.WEXITSTATUS(st) == 0, os.WEXITSTATUS(st)
other = open(p, 'r')
other.close()   # closing any descriptor of the file drops the process's locks
g = open(p, 'r+')
pid = os.fork()
if pid == 0:
    h = open(p, 'r+')
    fcntl.lockf(h, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 0)
    os._exit(0)
_, st = os.waitpid(pid, 0)
assert os.WEXITSTATUS(st) == 0
EOF
then t_ok "fcntl locks: conflicts, F_GETLK, released by closing another descriptor"; else t_fail "fcntl locks"; fi

# ---------------------------------------------------------------- permissions (non-root)
NB="setpriv --reuid=65534 --regid=65534 --clear-groups"
mkdir "$M/pub" "$M/priv" "$M/grp"
chmod 1777 "$M/pub"
chmod 0755 "$M/priv"
echo secret >"$M/priv/s" && chmod 0600 "$M/priv/s"
chgrp 4242 "$M/grp" && chmod 0770 "$M/grp"
$NB touch "$M/priv/no" 2>/dev/null && t_fail "non-root create in a 0755 root dir: EACCES" || t_ok "non-root create in a 0755 root dir: EACCES"
$NB cat "$M/priv/s" >/dev/null 2>&1 && t_fail "non-root read of a 0600 root file: EACCES" || t_ok "non-root read of a 0600 root file: EACCES"
$NB sh -c "echo mine >'$M/pub/n' && chmod 0640 '$M/pub/n'" && [ "$(stat -c '%u %a' "$M/pub/n")" = "65534 640" ] &&
	t_ok "non-root creates and chmods its own file" || t_fail "non-root create+chmod" "$(stat -c '%u %a' "$M/pub/n" 2>&1)"
$NB chown 0 "$M/pub/n" 2>/dev/null && t_fail "non-root chown to root: EPERM" || t_ok "non-root chown to root: EPERM"
$NB chmod 0777 "$M/priv/s" 2>/dev/null && t_fail "non-root chmod of root's file: EPERM" || t_ok "non-root chmod of root's file: EPERM"
$NB rm -f "$M/priv/s" 2>/dev/null; [ -e "$M/priv/s" ] && t_ok "non-root unlink in a 0755 root dir: refused" || t_fail "non-root unlink refused"
touch "$M/pub/rootfile"
$NB rm -f "$M/pub/rootfile" 2>/dev/null; [ -e "$M/pub/rootfile" ] && t_ok "sticky dir: non-owner cannot unlink" || t_fail "sticky bit"
$NB touch "$M/grp/x" 2>/dev/null && t_fail "no write without the group" || t_ok "dir 0770 of another group: EACCES"
setpriv --reuid=65534 --regid=65534 --groups=4242 touch "$M/grp/x" && t_ok "supplementary group grants access" || t_fail "supplementary group grants access"
setpriv --reuid=65534 --regid=65534 --groups=4242 chgrp 4242 "$M/pub/n" && [ "$(stat -c %g "$M/pub/n")" = 4242 ] &&
	t_ok "owner chgrp to a supplementary group" || t_fail "chgrp to supplementary group"
chown 65534:65534 "$M/pub/rootfile" && [ "$(stat -c '%u %g' "$M/pub/rootfile")" = "65534 65534" ] && t_ok "root chown" || t_fail "root chown"

# ---------------------------------------------------------------- ioctl flags (chattr)
echo x >"$M/attrf"
chattr +i "$M/attrf" && lsattr "$M/attrf" | grep -q '^----i' && t_ok "chattr +i / lsattr" || t_fail "chattr +i" "$(lsattr "$M/attrf" 2>&1)"
{ echo y >>"$M/attrf"; } 2>/dev/null && t_fail "immutable: append refused" || t_ok "immutable: append refused"
rm -f "$M/attrf" 2>/dev/null; [ -e "$M/attrf" ] && t_ok "immutable: unlink refused" || t_fail "immutable: unlink refused"
$NB chattr -i "$M/attrf" 2>/dev/null && t_fail "non-root chattr refused" || t_ok "non-root chattr refused"
chattr -i "$M/attrf" && chattr +a "$M/attrf" && echo y >>"$M/attrf" && ! { echo z >"$M/attrf"; } 2>/dev/null &&
	t_ok "append-only: append works, overwrite refused" || t_fail "append-only"
chattr -a "$M/attrf" && rm "$M/attrf" && t_ok "flags cleared: unlink works" || t_fail "clear flags"
touch "$M/attrg"
chattr +c "$M/attrg" 2>/dev/null && t_fail "unsupported flag (+c) refused" || t_ok "unsupported flag (+c) refused"

# ---------------------------------------------------------------- internal files, statfs
ls -a "$M" | grep -qx .stats && ls -a "$M" | grep -qx .config && ls -a "$M" | grep -qx .accesslog &&
	t_ok "root lists .accesslog .stats .config" || t_fail "internal files listed" "$(ls -a "$M")"
grep -q '^juicefs_fuse_ops_durations_histogram_seconds_total [0-9]' "$M/.stats" && t_ok ".stats has op counters" || t_fail ".stats" "$(head -3 "$M/.stats")"
[ "$(jq -r .Format.Name "$M/.config")" = posix ] && [ "$(jq -r .Mountpoint "$M/.config")" = "$M" ] &&
	t_ok ".config is JSON with Format and Mountpoint" || t_fail ".config" "$(head -c 300 "$M/.config")"
{ echo x >"$M/.config"; } 2>/dev/null && t_fail "writing .config is refused" || t_ok "writing .config is refused"
rm -f "$M/.stats" 2>/dev/null; [ -e "$M/.stats" ] && t_ok "unlinking .stats is refused" || t_fail "unlink .stats"
df -P "$M" | awk 'NR == 2 { exit !($2 > 0 && $4 > 0) }' && t_ok "statfs: total and free space" || t_fail "statfs" "$(df -P "$M")"
df -i "$M" | awk 'NR == 2 { exit !($3 > 50) }' && t_ok "statfs: used inodes counted" || t_fail "statfs inodes" "$(df -i "$M")"

# ---------------------------------------------------------------- bad input
n256=$(head -c 256 /dev/zero | tr '\0' n)
touch "$M/$n256" 2>"$T/e"; grep -q 'File name too long' "$T/e" && t_ok "256-byte name: ENAMETOOLONG" || t_fail "ENAMETOOLONG" "$(cat "$T/e")"
touch "$M/$(head -c 255 /dev/zero | tr '\0' n)" && t_ok "255-byte name is fine" || t_fail "255-byte name"
bad_input "mount on a missing mountpoint" "" -- mount "$META" "$T/nonexistent-dir" -d --log "$T/bad.log"
bad_input "mount on a busy mountpoint" "" -- mount "$META" "$M" -d --log "$T/bad.log"
bad_input "mount of an unformatted database" "" -- mount "sqlite3://$T/none.db" "$T/src/empty" -d --log "$T/bad.log"

# ---------------------------------------------------------------- read-only mount beside
fmount "$META" "$T/ro" --read-only
if [ "$RC" -eq 0 ]; then
	t_ok "second mount, --read-only"
	[ "$(cat "$T/ro/r2/h")" = one ] && t_ok "read-only mount reads" || t_fail "read-only mount reads"
	touch "$T/ro/new" 2>"$T/e"; grep -q 'Read-only file system' "$T/e" && t_ok "read-only mount: EROFS" || t_fail "EROFS" "$(cat "$T/e")"
	fumount "$T/ro"
else
	t_fail "second mount, --read-only" "$(last_run)"
fi

# ---------------------------------------------------------------- --subdir
fmount "$META" "$T/sub" --subdir /r2
if [ "$RC" -eq 0 ]; then
	[ "$(cat "$T/sub/h")" = one ] && [ ! -e "$T/sub/.stats" ] && ! ls -a "$T/sub" | grep -qx .trash &&
		t_ok "--subdir: the directory is the root, no internal files" || t_fail "--subdir view" "$(ls -a "$T/sub")"
	echo via-sub >"$T/sub/new"
	[ "$(cat "$M/r2/new")" = via-sub ] && t_ok "--subdir: writes land in the directory" || t_fail "--subdir write"
	fumount "$T/sub"
else
	t_fail "mount --subdir" "$(last_run)"
fi
bad_input "mount --subdir of a missing directory" "" -- mount "$META" "$T/src/empty" -d --log "$T/bad.log" --subdir /nope

# ---------------------------------------------------------------- control file: rmr, warmup
mkdir -p "$M/rmr/a/b/c" "$M/rmr/d"
for i in $(seq 20); do echo "$i" >"$M/rmr/a/b/c/f$i"; done
ln -s x "$M/rmr/d/l"
jfs rmr "$M/rmr"
[ "$RC" -eq 0 ] && [ ! -e "$M/rmr" ] && t_ok "juicefs rmr removes a tree through the control file" || t_fail "juicefs rmr" "$(last_run)"
mkdir -p "$M/rmr2/x"
$NB "$JFS_BIN" rmr "$M/rmr2" >"$T/out" 2>&1
[ -d "$M/rmr2/x" ] && t_ok "rmr as a user without write permission: refused" || t_fail "rmr permission" "$(cat "$T/out")"
bad_input "rmr of a missing path" "" -- rmr "$M/no-such-dir"
mkdir -p "$M/inf/d" && head -c 5000000 /dev/urandom >"$M/inf/f" && echo x >"$M/inf/d/g"
jfs info -r "$M/inf"
[ "$RC" -eq 0 ] && grep -q '^  files: 2$' "$T/out" && grep -q '^   dirs: 2$' "$T/out" &&
	grep -q '^ length: 4.77 MiB (5000002 Bytes)$' "$T/out" && grep -q '^   path: /inf$' "$T/out" &&
	t_ok "juicefs info -r counts a tree through the control file" || t_fail "info -r" "$(last_run)"
jfs info "$M/inf/f"
[ "$RC" -eq 0 ] && [ "$(grep -c '_4194304 | 4194304 |\|_805696  |  805696 |' "$T/out")" = 2 ] &&
	t_ok "juicefs info lists the block objects of a file" || t_fail "info objects" "$(last_run)"
bad_input "info of a missing path" "" -- info "$M/no-such-file"
bad_input "info outside a mount" "" -- info /
bad_input "rmr outside a mount" "" -- rmr "$T/src/a"
jfs warmup "$M/tree"
[ "$RC" -eq 0 ] && grep -q 'warmed up [1-9][0-9]* files' "$T/err" && t_ok "juicefs warmup reads a tree through the control file" || t_fail "juicefs warmup" "$(last_run)"
[ -e "$M/a/.control" ] || stat "$M/tree/a/.control" >/dev/null 2>&1 && ! ls -a "$M" | grep -qx .control &&
	t_ok ".control resolves in any directory and is not listed" || t_fail ".control lookup"

# ---------------------------------------------------------------- umount
fumount "$M"
[ "$RC" -eq 0 ] && [ "$(stat -c %i "$M")" != 1 ] && t_ok "juicefs umount" || t_fail "juicefs umount" "$(last_run)"
fmount "$META" "$M"
[ "$RC" -eq 0 ] && check "remount: the tree is unchanged" diff -r --no-dereference -x fifo "$S" "$M/tree"
fumount "$M"
fcheck_logs
t_done
