#!/usr/bin/env bash
# A metadata engine that runs out of space refuses the commit: the writer gets
# ENOSPC, not EIO, and the blocks it uploaded for the refused slice are deleted
# at once instead of being kept for gc as if the outcome were unknown.
#
# SQLite: the database sits on a small tmpfs; a file is opened on the mount,
# the tmpfs is filled from outside, then the file is written and closed. The
# COMMIT of the slice fails with SQLITE_FULL, which SQLite rolls back.
# Redis: a redis-server with maxmemory and noeviction refuses the queued
# commands with OOM, so EXEC runs nothing.
# In both cases the files written before stay intact and, once there is room
# again, the bucket holds exactly the bytes the volume references.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse

# write_close PATH BYTES: open, write BYTES random bytes, fsync, close; prints
# "ok" or the errno name of the first call that failed.
write_close()
{
	python3 - "$1" "$2" <<'EOF'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
except OSError as e:
    print("open:" + errno.errorcode[e.errno]); sys.exit(0)
step = "write"
try:
    os.write(fd, os.urandom(int(sys.argv[2])))
    step = "fsync"
    os.fsync(fd)
    step = "close"
    os.close(fd)
    print("ok")
except OSError as e:
    print(step + ":" + errno.errorcode[e.errno])
EOF
}

# bucket_bytes DIR: the bytes of all block objects under DIR.
bucket_bytes()
{
	find "$1" -type f -path '*/chunks/*' -printf '%s\n' | awk '{s += $1} END {print s + 0}'
}

# used_bytes META: the slice bytes the volume references, from our gc's census.
used_bytes()
{
	run "$JFS_BIN" gc "$1"
	sed -n 's/.*using [0-9]* slices (\([0-9]*\) bytes).*/\1/p' "$T/out" "$T/err" | head -n 1
}

# check_after WHAT GOT EARLY MP META BUCKET LOG: the checks both engines share,
# once the write into the full engine returned GOT: ENOSPC from that write,
# the earlier file EARLY intact as MP/early, and (after unmounting) the
# bucket holding exactly the bytes the volume references.
check_after()
{
	local what=$1 got=$2 early=$3 mp=$4 meta=$5 bucket=$6 log=$7 used have
	case $got in
	write:ENOSPC | fsync:ENOSPC | close:ENOSPC) t_ok "$what: the writer gets ENOSPC ($got)" ;;
	*) t_fail "$what: the writer gets ENOSPC" "got: $got" "$(tail -n 5 "$log")" ;;
	esac
	if grep -q 'outcome unknown' "$log"; then
		t_fail "$what: the refused commit is known not applied" \
			"$(grep 'outcome unknown' "$log" | head -n 3)"
	else
		t_ok "$what: the refused commit is known not applied (no 'outcome unknown')"
	fi
	if cmp -s "$early" "$mp/early"; then
		t_ok "$what: the file written before reads back intact"
	else
		t_fail "$what: earlier file intact" "$(cmp "$early" "$mp/early" 2>&1)"
	fi
	fumount "$mp"
	used=$(used_bytes "$meta")
	have=$(bucket_bytes "$bucket")
	if [ -n "$used" ] && [ "$used" = "$have" ]; then
		t_ok "$what: the refused slice's blocks were deleted ($have bytes stored, all referenced)"
	else
		t_fail "$what: no orphaned blocks" "referenced '$used', stored '$have'" "$(last_run)"
	fi
}

# ------------------------------------------------------------- SQLite
mkdir -p "$T/tiny"
if ! mount -t tmpfs -o size=2m tmpfs "$T/tiny" 2>"$T/err"; then
	t_skip "SQLite on a full disk" "cannot mount a tmpfs: $(head -n 1 "$T/err")"
else
	T_MOUNTS+=("$T/tiny")
	META="sqlite3://$T/tiny/full.db"
	jfs format "$META" fullvol --bucket "$T/bk1" --trash-days 0
	[ "$RC" -eq 0 ] || { t_fail "format on the tmpfs" "$(last_run)"; t_done; }
	fmount "$META" "$T/m1" --cache-dir none
	[ "$RC" -eq 0 ] || { t_fail "mount" "$(last_run)"; t_done; }
	head -c 5000 /dev/urandom >"$T/early"
	cp "$T/early" "$T/m1/early"
	: >"$T/m1/late" # created while there is room
	dd if=/dev/zero of="$T/tiny/pad" bs=4k 2>/dev/null
	got=$(write_close "$T/m1/late" 300000)
	rm -f "$T/tiny/pad"
	check_after "SQLite full at COMMIT" "$got" "$T/early" "$T/m1" "$META" "$T/bk1" "$T/m1.log"
	umount "$T/tiny" 2>/dev/null
fi

# ------------------------------------------------------------- Redis
if ! command -v redis-server >/dev/null; then
	t_skip "Redis out of memory" "redis-server not installed"
	t_done
fi
redis_start "$T/redis" --maxmemory-policy noeviction ||
	{ t_fail "redis-server starts" "$(tail -n 5 "$T/redis/log")"; t_done; }
R=redis://127.0.0.1:$REDIS_PORT/1
jfs format "$R" oomvol --bucket "$T/bk2" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format on redis" "$(last_run)"; t_done; }
fmount "$R" "$T/m2" --cache-dir none
[ "$RC" -eq 0 ] || { t_fail "mount on redis" "$(last_run)"; t_done; }
head -c 7000 /dev/urandom >"$T/early2"
cp "$T/early2" "$T/m2/early"
: >"$T/m2/late"
# A gateway on the same volume, started while there is room.
export MINIO_ROOT_USER=fullak1 MINIO_ROOT_PASSWORD=fullsecret1
gw_start oom "$R" || { t_fail "gateway starts" "$(tail -n 5 "$T/gw-oom.log")"; t_done; }
# Below what the server uses already: every write command is refused.
redis-cli -p "$REDIS_PORT" config set maxmemory 1 >/dev/null
got=$(write_close "$T/m2/late" 300000)
# The S3 door on the same full engine: 507 with MinIO's StorageFull code.
code=$(curl -s --max-time 30 --aws-sigv4 "aws:amz:us-east-1:s3" \
	--user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" -o "$T/put.xml" -w '%{http_code}' \
	-T "$T/early2" "$EP_oom/oomvol/put-when-full")
if [ "$code" = 507 ] && grep -q '<Code>XMinioStorageFull</Code>' "$T/put.xml"; then
	t_ok "Redis out of memory: an S3 PUT answers 507 XMinioStorageFull"
else
	t_fail "Redis out of memory: S3 PUT answers StorageFull" "HTTP $code: $(head -c 300 "$T/put.xml")" \
		"$(tail -n 3 "$T/gw-oom.log")"
fi
redis-cli -p "$REDIS_PORT" config set maxmemory 0 >/dev/null
check_after "Redis out of memory" "$got" "$T/early2" "$T/m2" "$R" "$T/bk2" "$T/m2.log"
t_done
