#!/usr/bin/env bash
# `juicefs mount --writeback` across kill -9 (chunk.h S1-S4): a small-file
# copy into a writeback mount is killed mid-way; every file whose close()
# returned before the kill must be whole and byte-exact once the next client
# on the same cache directory has uploaded what was staged.
#
# Round 1: --upload-delay 1h, so at the kill every block is still only in
#   rawstaging (checked: the bucket holds no block); recovery by a plain
#   mount (no --writeback) on the same cache dir.
# Round 2: --upload-delay 2s, so uploads run behind the copy and the kill
#   lands among them (on a file store uploads without a delay keep up with
#   the copy: nothing would be left); recovery by the S3 gateway on the same
#   cache dir.
# Round 3: the real client (JuiceFS 1.4.2) with --writeback is killed the
#   same way; our mount on its cache dir uploads its staged blocks (same
#   layout and file format).
# Then fsck is clean, gc --delete finds at most the blocks of the files that
# were open at the kills, and the real client reads every file byte-exact.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
need_ref
export MINIO_ROOT_USER=wbadmin MINIO_ROOT_PASSWORD=wbsecret123

fformat wbvol --trash-days 0
BUCKET="$T/wbvol-bucket/wbvol"
STAGING="$T/cache/$(sqlite3 "$T/wbvol.db" "select value from jfs_setting where name='format'" |
	jq -r .UUID)/rawstaging"

# blocks MATCH-DIR: number of block files under a directory (0 when absent)
blocks()
{
	find "$1" -type f -name '*_*_*' ! -name '*.tmp' 2>/dev/null | wc -l
}

# copier DIR LOG SEED: writes small files (and now and then a 5 MiB one, two
# blocks) into DIR, appending "name sha256" to LOG only after close() returned;
# stops at the first error (the mount is gone).
copier()
{
	python3 - "$1" "$2" "$3" <<'EOF'
import hashlib, os, random, sys
d, log, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
out = open(log, "a")
for i in range(5000):  # bounded: a mount that survives its kill must not fill the disk
    n = 5 * 1024 * 1024 + rnd.randrange(1000) if i % 97 == 13 else rnd.randrange(1, 40000)
    data = rnd.randbytes(n)
    name = "f%05d" % i
    try:
        if i % 50 == 0:
            os.makedirs(os.path.join(d, "d%03d" % (i // 50)), exist_ok=True)
        p = os.path.join(d, "d%03d" % (i // 50), name)
        with open(p, "wb") as f:
            f.write(data)
    except OSError:
        break
    out.write("d%03d/%s %s\n" % (i // 50, name, hashlib.sha256(data).hexdigest()))
    out.flush()
EOF
}

# verify ROOT LOG: every logged file under ROOT has its digest; prints the bad ones
# (and complains about an empty LOG).
verify()
{
	python3 - "$1" "$2" <<'EOF'
import hashlib, sys
root, log = sys.argv[1], sys.argv[2]
bad = 0
try:
    lines = open(log).readlines()
except OSError as e:
    lines = []
if not lines:
    print("no file was closed before the kill (%s)" % log)
for line in lines:
    name, want = line.split()
    try:
        got = hashlib.sha256(open(root + "/" + name, "rb").read()).hexdigest()
    except OSError as e:
        got = str(e)
    if got != want:
        bad += 1
        if bad <= 5:
            print("%s: %s" % (name, got))
if bad:
    print("%d files bad" % bad)
EOF
}

# crash ROUND DIR MIN UPLOADED [MOUNT-ARGS...]: copy into a writeback mount,
# kill -9 it once MIN files are closed and the bucket holds more than UPLOADED
# blocks, detach the dead mount.
crash()
{
	local round=$1 dir=$2 min=$3 uploaded=$4 pid cpid i
	shift 4
	fmount "$META" "$T/mnt" --writeback "$@"
	[ "$RC" -eq 0 ] || { t_fail "round $round: writeback mount" "$(last_run)"; return 1; }
	pid=$(jq -r .Pid "$T/mnt/.config")
	mkdir -p "$T/mnt/$dir"
	: >"$T/done-$round"
	copier "$T/mnt/$dir" "$T/done-$round" "$round" &
	cpid=$!
	for i in $(seq 600); do
		[ "$(nlines "$T/done-$round")" -ge "$min" ] &&
			[ "$(blocks "$BUCKET/chunks")" -gt "$uploaded" ] && break
		sleep 0.1
	done
	kill -9 "$pid"
	wait "$cpid" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	umount -l "$T/mnt" 2>/dev/null
	echo "# round $round: $(nlines "$T/done-$round") files closed before kill -9," \
		"$(blocks "$STAGING") blocks staged, $(blocks "$BUCKET/chunks") in the bucket"
	[ "$(nlines "$T/done-$round")" -ge "$min" ] ||
		{ t_fail "round $round: the copy got going" "$(tail -3 "$T/mnt.log")"; return 1; }
}

# drained: wait (at most 90 s) until rawstaging holds no block.
drained()
{
	local i
	for i in $(seq 900); do
		[ "$(blocks "$STAGING")" -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- round 1: everything still staged at the kill; a plain mount recovers
if crash 1 r1 300 -1 --upload-delay 1h; then
	n=$(blocks "$STAGING")
	[ "$n" -gt 0 ] && [ "$(blocks "$BUCKET/chunks")" -eq 0 ] &&
		t_ok "round 1: at the kill the blocks ($n) are staged only, none uploaded" ||
		t_fail "round 1: blocks staged only" "staged $n, bucket $(blocks "$BUCKET/chunks")"
	fmount "$META" "$T/mnt"
	if [ "$RC" -ne 0 ]; then
		t_fail "round 1: remount without --writeback" "$(last_run)"
	else
		drained && t_ok "round 1: the next (plain) mount uploaded every staged block" ||
			t_fail "round 1: staged blocks uploaded" "$(blocks "$STAGING") left" \
				"$(tail -5 "$T/mnt.log")"
		bad=$(verify "$T/mnt/r1" "$T/done-1")
		[ -z "$bad" ] && t_ok "round 1: every file closed before kill -9 reads byte-exact" ||
			t_fail "round 1: files closed before the kill" "$bad"
		fumount "$T/mnt"
	fi
fi

# ---- round 2: the kill among running uploads; the gateway recovers
b0=$(blocks "$BUCKET/chunks")
if crash 2 r2 300 "$b0" --upload-delay 2s; then
	[ "$(blocks "$BUCKET/chunks")" -gt "$b0" ] && [ "$(blocks "$STAGING")" -gt 0 ] &&
		t_ok "round 2: at the kill some blocks are uploaded, others still staged" ||
		t_fail "round 2: the kill lands among the uploads" \
			"staged $(blocks "$STAGING"), bucket $(blocks "$BUCKET/chunks")"
	port=$(free_port)
	"$JFS_BIN" gateway "$META" "127.0.0.1:$port" --no-banner --cache-dir "$T/cache" \
		>>"$T/gw.log" 2>&1 &
	gpid=$!
	T_PIDS+=("$gpid")
	drained && t_ok "round 2: the gateway on the same cache dir uploaded every staged block" ||
		t_fail "round 2: staged blocks uploaded by the gateway" "$(blocks "$STAGING") left" \
			"$(tail -5 "$T/gw.log")"
	kill -TERM "$gpid" 2>/dev/null
	wait "$gpid" 2>/dev/null
	fmount "$META" "$T/mnt"
	if [ "$RC" -ne 0 ]; then
		t_fail "round 2: remount" "$(last_run)"
	else
		bad=$(verify "$T/mnt/r2" "$T/done-2")
		[ -z "$bad" ] && t_ok "round 2: every file closed before kill -9 reads byte-exact" ||
			t_fail "round 2: files closed before the kill" "$bad"
		fumount "$T/mnt"
	fi
fi

# ---- round 3: the real client's writeback mount is killed; ours uploads its leftovers
mkdir -p "$T/ref"
run "$JFS_REF" mount "$META" "$T/ref" -d --log "$T/ref.log" --no-usage-report \
	--cache-dir "$T/refcache" --writeback --upload-delay 1h
if [ "$RC" -eq 0 ]; then
	T_MOUNTS+=("$T/ref")
	# the real -d mount runs under a watchdog that restarts it: the crash takes both
	pid=$(jq -r .Pid "$T/ref/.config")
	ppid=$(jq -r .PPid "$T/ref/.config")
	mkdir -p "$T/ref/r3"
	: >"$T/done-3"
	copier "$T/ref/r3" "$T/done-3" 3 &
	cpid=$!
	for i in $(seq 600); do
		[ "$(nlines "$T/done-3")" -ge 100 ] && break
		sleep 0.1
	done
	[ "$(ps -o args= -p "$ppid" 2>/dev/null | cut -d' ' -f1)" = "$JFS_REF" ] &&
		kill -9 "$ppid"
	kill -9 "$pid"
	wait "$cpid" 2>/dev/null
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	umount -l "$T/ref" 2>/dev/null
	REFSTAGING=$(dirname "$STAGING" | sed "s|$T/cache|$T/refcache|")/rawstaging
	n=$(blocks "$REFSTAGING")
	echo "# round 3: $(nlines "$T/done-3") files closed before kill -9 of the real client," \
		"$n blocks staged"
	fmount "$META" "$T/mnt" --cache-dir "$T/refcache"
	if [ "$RC" -eq 0 ] && [ "$n" -gt 0 ]; then
		drained_dir=1
		for i in $(seq 900); do
			[ "$(blocks "$REFSTAGING")" -eq 0 ] && { drained_dir=0; break; }
			sleep 0.1
		done
		bad=$(verify "$T/mnt/r3" "$T/done-3")
		[ "$drained_dir" -eq 0 ] && [ -z "$bad" ] &&
			t_ok "round 3: ours uploads what a killed real writeback mount staged ($n blocks)" ||
			t_fail "round 3: ours recovers the real client's staging" \
				"$(blocks "$REFSTAGING") left" "$bad" "$(tail -3 "$T/mnt.log")"
		fumount "$T/mnt"
	else
		t_fail "round 3: mount ours on the real client's cache dir" "staged $n" "$(last_run)"
	fi
	rm -rf "$T/refcache"
else
	t_fail "round 3: the real client's writeback mount" "$(last_run)"
fi

# ---- the volume is consistent and the real client agrees
jfs fsck "$META"
[ "$RC" -eq 0 ] && ! grep -qi "lost" "$T/err" && t_ok "fsck is clean after the recovery" ||
	t_fail "fsck after the recovery" "$(last_run)"
# A block of a file still open at the kill (a full 4 MiB block is staged
# before close) belongs to a slice that was never committed: recovery uploads
# it (it cannot know) and gc rightly calls it leaked, as after any crash.
# gc --delete (objects of any age) may remove those only: every file must
# still read byte-exact below, through the real client, and fsck stay clean.
JFS_GC_SKIPPEDTIME=0 jfs gc "$META" --delete
leaked=$(grep -o ', [0-9]* leaked' "$T/err" | grep -o '[0-9]*')
[ "$RC" -eq 0 ] && [ -n "$leaked" ] && [ "$leaked" -le 6 ] &&
	t_ok "gc --delete removes at most the blocks (2 each) of the 3 files open at the kills ($leaked)" ||
	t_fail "gc after the recovery" "$(last_run)"
jfs fsck "$META"
[ "$RC" -eq 0 ] && ! grep -qi "lost" "$T/err" && t_ok "fsck is still clean after gc --delete" ||
	t_fail "fsck after gc --delete" "$(last_run)"

mkdir -p "$T/ref"
run "$JFS_REF" mount "$META" "$T/ref" -d --log "$T/ref.log" --no-usage-report \
	--cache-dir "$T/refcache"
if [ "$RC" -eq 0 ]; then
	T_MOUNTS+=("$T/ref")
	bad="$(verify "$T/ref/r1" "$T/done-1")$(verify "$T/ref/r2" "$T/done-2")"
	bad+="$(verify "$T/ref/r3" "$T/done-3")"
	[ -z "$bad" ] && t_ok "the real client reads every recovered file byte-exact" ||
		t_fail "the real client reads the recovered files" "$bad"
	pid=$(jq -r .Pid "$T/ref/.config" 2>/dev/null)
	run "$JFS_REF" umount "$T/ref"
	for i in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
else
	t_fail "the real client mounts the volume" "$(last_run)"
fi
fcheck_logs
t_done
