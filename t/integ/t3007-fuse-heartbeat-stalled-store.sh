#!/usr/bin/env bash
# The session heartbeat must not wait for the object store. A mount whose
# uploads hang (an object store that stops answering) keeps refreshing its
# session; otherwise another client finds it expired after 5 heartbeats and
# cleans it up: its locks go, and the files it holds open but unlinked are
# deleted under it. The heartbeat used to run on the thread that flushes
# idle files, so one slow upload held it back.
#
# The stalled store is real: volume A's bucket is the directory of a second
# mount (volume B), and B's process is stopped with SIGSTOP, so A's block
# writes block in the kernel until SIGCONT.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse

fformat storevol
META_B=$META
fmount "$META_B" "$T/b"
[ "$RC" -eq 0 ] || { t_fail "mount the store volume" "$(last_run)"; t_done; }
BPID=$(jq -r .Pid "$T/b/.config")
mkdir -p "$T/b/bucket"
META_A="sqlite3://$T/a.db"
jfs format "$META_A" hbvol --bucket "$T/b/bucket" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format the volume on the store mount" "$(last_run)"; t_done; }
fmount "$META_A" "$T/a" --heartbeat 1s --cache-dir none
[ "$RC" -eq 0 ] || { t_fail "mount the volume" "$(last_run)"; t_done; }

cont() { kill -CONT "$BPID" 2>/dev/null; }
trap 'cont; t_cleanup' EXIT
expire() { sqlite3 "$T/a.db" "select max(expire) from jfs_session2"; }

# A file written and left open: the background thread flushes it after 1 s
# idle, and that upload hangs.
head -c 3000 /dev/urandom >"$T/data"
kill -STOP "$BPID"
# One descriptor, never duplicated: each close of a copy would flush (and
# wait for the store) in the closing process instead.
python3 -c '
import sys, time
f = open(sys.argv[1], "wb", buffering=0)
f.write(open(sys.argv[2], "rb").read())
open(sys.argv[3], "w").write("written")
time.sleep(10)
f.close()' "$T/a/f" "$T/data" "$T/written" &
CP=$!
sleep 9
now=$(date +%s)
exp=$(expire)
[ -f "$T/written" ] || t_fail "the write returned at once (it waits for the store)"
cont
if [ -n "$exp" ] && [ "$exp" -gt "$now" ]; then
	t_ok "uploads stalled for 9 s: the session still expires in the future ($((exp - now)) s)"
else
	t_fail "uploads stalled for 9 s: the session is refreshed" "expire $exp, now $now (heartbeat 1 s)"
fi
wait "$CP"
sync "$T/a/f" 2>/dev/null
cmp -s "$T/data" "$T/a/f" && t_ok "the file is whole once the store answers again" ||
	t_fail "the file is whole once the store answers again" "$(tail -n 3 "$T/a.log")"
fumount "$T/a"
fumount "$T/b"
fcheck_logs
t_done
