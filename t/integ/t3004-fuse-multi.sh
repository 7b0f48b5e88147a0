#!/usr/bin/env bash
# FUSE mount, several clients and failures: two mounts of one volume in two
# processes (close-to-open visibility, appends from both, flock and fcntl
# locks between mounts), kill -9 of a mount then `juicefs umount --force`
# and a remount with the fsynced data intact, and SIGTERM flushing and
# unmounting cleanly.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse

fformat multi
A=$T/a
B=$T/b
fmount "$META" "$A"
ra=$RC
fmount "$META" "$B"
if [ "$ra" -ne 0 ] || [ "$RC" -ne 0 ]; then
	t_fail "two mounts of one volume" "$(last_run)"
	t_done
fi
t_ok "two mounts of one volume"
[ "$(jq -r .Pid "$A/.config")" != "$(jq -r .Pid "$B/.config")" ] && t_ok "served by two processes" || t_fail "two processes"

# ---------------------------------------------------------------- visibility
echo v1 >"$A/f"
[ "$(cat "$B/f" 2>&1)" = v1 ] && t_ok "a file closed in A opens in B" || t_fail "A -> B new file" "$(cat "$B/f" 2>&1)"
echo "version two, longer" >"$A/f"
sleep 1.2 # the attribute cache (--attr-cache 1s)
[ "$(cat "$B/f")" = "version two, longer" ] && t_ok "an overwrite in A is seen by the next open in B" || t_fail "overwrite visibility" "$(cat "$B/f")"
head -c $((20 << 20)) /dev/urandom >"$T/big"
cp "$T/big" "$B/big"
cmp -s "$T/big" "$A/big" && t_ok "20 MiB written in B reads byte-exact in A" || t_fail "big file across mounts"
mkdir -p "$B/d1/d2" && mv "$B/f" "$B/d1/d2/g"
sleep 1.2
[ "$(cat "$A/d1/d2/g" 2>&1)" = "version two, longer" ] && [ ! -e "$A/f" ] && t_ok "mkdir and rename in B are seen in A" || t_fail "rename visibility"
rm "$A/d1/d2/g"
sleep 1.2
[ ! -e "$B/d1/d2/g" ] && t_ok "unlink in A is seen in B" || t_fail "unlink visibility"
for i in $(seq 20); do
	echo "a$i" >>"$A/log"
	echo "b$i" >>"$B/log"
done
[ "$(wc -l <"$A/log")" = 40 ] && [ "$(sort "$A/log" | md5sum)" = "$( (seq 20 | sed s/^/a/; seq 20 | sed s/^/b/) | sort | md5sum)" ] &&
	t_ok "O_APPEND from both mounts loses nothing" || t_fail "appends from both mounts" "$(wc -l <"$A/log") lines"

# ---------------------------------------------------------------- locks between mounts
touch "$A/lk"
flock "$A/lk" sleep 3 &
holder=$!
T_PIDS+=("$holder")
sleep 0.5
flock -n "$B/lk" true && t_fail "flock held through A blocks B" || t_ok "flock held through A blocks B"
wait "$holder"
flock -n "$B/lk" true && t_ok "B gets the flock once A's holder exits" || t_fail "flock after release across mounts"
if python3 - "$A/lk" "$B/lk" <<'PYEOF'
import fcntl, os, struct, sys
a, b = sys.argv[1], sys.argv[2]
f = open(a, 'r+')
fcntl.lockf(f, fcntl.LOCK_EX, 10, 100)
pid = os.fork()
if pid == 0:
    g = open(b, 'r+')
    try:
        fcntl.lockf(g, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 105)
        os._exit(1)
    except OSError:
        pass
    r = fcntl.fcntl(g, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_RDLCK, 0, 0, 0, 0))
    t, w, s, l, who = struct.unpack('hhqqi', r)
    if t != fcntl.F_WRLCK or s != 100 or l != 10:
        os._exit(2)
    fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
    os._exit(0)
_, st = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(st))
PYEOF
then t_ok "fcntl locks between mounts: conflict, F_GETLK, disjoint ranges"; else t_fail "fcntl locks between mounts" "exit $?"; fi
fumount "$B"

# ---------------------------------------------------------------- kill -9, umount --force
C=$T/c
mkdir -p "$C"
t_spawn "$JFS_BIN" mount "$META" "$C" --log "$T/c.log" --cache-dir "$T/cache" 2>>"$T/c.log"
cpid=$!
for i in $(seq 100); do [ "$(stat -c %i "$C" 2>/dev/null)" = 1 ] && break; sleep 0.1; done
head -c $((9 << 20)) /dev/urandom >"$T/durable"
python3 - "$T/durable" "$C/durable" <<'PYEOF'
import os, sys
data = open(sys.argv[1], 'rb').read()
fd = os.open(sys.argv[2], os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, data)
os.fsync(fd)
os.close(fd)
PYEOF
kill -9 "$cpid"
wait "$cpid" 2>/dev/null
stat "$C" >/dev/null 2>"$T/e"
grep -q 'not connected' "$T/e" && t_ok "after kill -9 the mountpoint is disconnected" || t_fail "disconnected after kill -9" "$(cat "$T/e")"
bad_input "mount over a crashed mount says what to do" "" -- mount "$META" "$C" -d --log "$T/bad.log"
jfs umount --force "$C"
[ "$RC" -eq 0 ] && [ "$(stat -c %i "$C" 2>/dev/null)" != 1 ] && stat "$C" >/dev/null 2>&1 &&
	t_ok "juicefs umount --force cleans up the crashed mount" || t_fail "umount --force" "$(last_run)"
fmount "$META" "$C"
[ "$RC" -eq 0 ] && t_ok "remount after the crash" || t_fail "remount after crash" "$(last_run)"
cmp -s "$T/durable" "$C/durable" && t_ok "data fsynced before kill -9 is intact" || t_fail "fsynced data intact"
cmp -s "$T/durable" "$A/durable" && t_ok "and seen by the other mount" || t_fail "fsynced data in other mount"
fumount "$C"

# ---------------------------------------------------------------- SIGTERM
D=$T/d
mkdir -p "$D"
t_spawn "$JFS_BIN" mount "$META" "$D" --log "$T/d.log" --cache-dir "$T/cache" 2>>"$T/d.log"
dpid=$!
for i in $(seq 100); do [ "$(stat -c %i "$D" 2>/dev/null)" = 1 ] && break; sleep 0.1; done
exec 7>"$D/term" # an open handle with written data when the signal comes
head -c 3000000 "$T/big" >&7
kill -TERM "$dpid"
rc=0
wait "$dpid" || rc=$?
exec 7>&-
[ "$rc" -eq 0 ] && [ "$(stat -c %i "$D")" != 1 ] && t_ok "SIGTERM: exit 0 and unmounted" || t_fail "SIGTERM" "exit $rc" "$(tail -n 3 "$T/d.log")"
head -c 3000000 "$T/big" >"$T/term"
sleep 1.2
cmp -s "$T/term" "$A/term" && t_ok "SIGTERM flushed the data of an open file" || t_fail "SIGTERM flush" "$(stat -c %s "$A/term" 2>&1)"
fumount "$A"
fcheck_logs
t_done
