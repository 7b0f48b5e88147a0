#!/usr/bin/env bash
# The real JuiceFS 1.4.2 client as oracle for the data path (fscore, spec §5-§9).
#
# For each compression (none, lz4, zstd), on a SQLite volume formatted by ours:
#  (a) files written by ours through fs.h (jfs-fscp: a 68 MiB file that spans
#      two chunks, small files, a file of ~90 random-overwrite slices and one
#      of 400 that our compaction rewrote) read byte-exact through the real
#      client's FUSE mount (for lz4, after our `gc --compact`);
#  (b) files written through the real mount (a big copy, then overwrites in
#      place) read byte-exact through ours;
#  (c) the real fsck and ours find every block; our gc prints the same
#      counts as the real one (scanned/valid/pending/compacted/leaked/
#      delslices/delfiles);
#  (d) after deletes (trash and skip-trash) and trash expiry through ours,
#      the real gc finds no leaked object and nothing pending.
# Then, on fresh volumes:
#  (e) a jfs-fscp killed with SIGKILL in the middle of a big write leaves a
#      volume the real fsck and ours accept; the uploaded, uncommitted blocks
#      and interrupted temp files are leaked objects that both gc count
#      alike, and `gc --delete` of ours removes them (the real gc then finds
#      none);
#  (f) delayed slices of compaction, aged past trash-days, are released by
#      our gc --delete and counted as the real gc counts them;
#  (g) a bucket on a small tmpfs: a write that fills it fails (non-zero exit,
#      ENOSPC) and the file written before it still reads back intact.
# The reference client is installed into /opt/jfs-ref when missing; if that
# fails, the script is skipped with the reason. Parts that need FUSE or tmpfs
# are skipped (with the reason) where those are unavailable.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

: "${JFS_FSCP:=$PWD/t/tools/jfs-fscp}"
need_bin "$JFS_BIN" "$JFS_FSCP"
need_ref

FSCP=$JFS_FSCP
export JFS_GC_SKIPPEDTIME=0

fscp()
{
	run "$FSCP" "$@"
}

# gc_counts: "scanned valid pending compacted leaked delslices delfiles"
# from a gc log in $T/err.
gc_counts()
{
	sed -nE 's/.*scanned ([0-9]+) objects, ([0-9]+) valid, ([0-9]+) pending delete \([0-9]+ bytes\), ([0-9]+) compacted \([0-9]+ bytes\), ([0-9]+) leaked \([0-9]+ bytes\), ([0-9]+) delslices \([0-9]+ bytes\), ([0-9]+) delfiles.*/\1 \2 \3 \4 \5 \6 \7/p' "$T/err" | tail -n 1
}

have_fuse=1
why_nofuse=
if [ ! -c /dev/fuse ]; then
	have_fuse=0
	why_nofuse="/dev/fuse is missing"
elif [ "$(id -u)" -ne 0 ]; then
	have_fuse=0
	why_nofuse="mounting needs root"
fi

# ref_mount META MNT LOG: mount with the real client in the background.
ref_mount()
{
	mkdir -p "$2"
	run "$JFS_REF" mount -d "$1" "$2" --cache-dir "$T/refcache" --no-usage-report --log "$3"
	[ "$RC" -eq 0 ] || return 1
	T_MOUNTS+=("$2")
	mountpoint -q "$2"
}

ref_umount()
{
	local i
	for i in $(seq 1 50); do
		umount "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	umount -l "$1" 2>/dev/null
	return 1
}

# ------------------------------------------------------------- test data
# Half random, half compressible, so lz4/zstd frames of both kinds occur.
head -c $((40 << 20)) /dev/urandom >"$T/big"
yes "juicefs data path line for compression tests 0123456789" | head -c $((28 << 20)) >>"$T/big"
head -c 0 /dev/urandom >"$T/s0"
head -c 1 /dev/urandom >"$T/s1"
head -c 4095 /dev/urandom >"$T/s2"
head -c $((4 << 20)) /dev/urandom >"$T/s3"
head -c 100000 /dev/urandom >"$T/s4"
SMALL="s0 s1 s2 s3 s4"

for comp in none lz4 zstd; do
	META=sqlite3://$T/$comp.db
	BK=$T/bk-$comp
	MNT=$T/mnt-$comp
	jfs format "$META" "vol-$comp" --bucket "$BK" --compress "$comp" --trash-days 1
	if [ "$RC" -ne 0 ]; then
		t_fail "[$comp] ours: format" "$(last_run)"
		continue
	fi
	bad=()
	fscp put "$META" "$T/big" /big
	[ "$RC" -eq 0 ] || bad+=("put /big: $(last_run)")
	for s in $SMALL; do
		fscp put "$META" "$T/$s" "/small/$s"
		[ "$RC" -eq 0 ] || bad+=("put /small/$s: $(last_run)")
	done
	# < 99 records: no compaction on write, so the chunk keeps every slice
	fscp randwrite "$META" /rand 6000000 90 11 "$T/rand-$comp"
	[ "$RC" -eq 0 ] || bad+=("randwrite /rand: $(last_run)")
	# > 350 records: our compaction runs while writing
	fscp randwrite "$META" /dir/rand2 3000000 400 12 "$T/rand2-$comp"
	[ "$RC" -eq 0 ] || bad+=("randwrite /dir/rand2: $(last_run)")
	nrec=$(sqlite3 "$T/$comp.db" "select max(length(slices)/24) from jfs_chunk" 2>&1)
	if [ ${#bad[@]} -eq 0 ] && [ "${nrec:-0}" -ge 50 ]; then
		t_ok "[$comp] ours wrote 68 MiB, 5 small files and two random-overwrite files ($nrec records in one chunk)"
	else
		t_fail "[$comp] ours writes the data set" "${bad[@]}" "max records per chunk: $nrec"
	fi

	# ---- (c) before anyone else touches it: fsck and gc of both
	ref fsck "$META"
	if [ "$RC" -eq 0 ] && ! grep -q 'lost' "$T/err"; then
		t_ok "[$comp] (c) real fsck accepts our volume: $(grep -o 'Found [0-9]* blocks' "$T/err")"
	else
		t_fail "[$comp] (c) real fsck accepts our volume" "$(last_run)"
	fi
	jfs fsck "$META"
	if [ "$RC" -eq 0 ] && ! crashed; then
		t_ok "[$comp] (c) our fsck accepts our volume"
	else
		t_fail "[$comp] (c) our fsck accepts our volume" "$(last_run)"
	fi
	ref gc "$META"
	c_ref=$(gc_counts)
	jfs gc "$META"
	c_ours=$(gc_counts)
	if [ -n "$c_ref" ] && [ "$c_ref" = "$c_ours" ] && [ "$(echo "$c_ref" | cut -d' ' -f5)" = 0 ]; then
		t_ok "[$comp] (c) gc of ours and the real one agree: scanned/valid/pending/compacted/leaked/delslices/delfiles = $c_ours"
	else
		t_fail "[$comp] (c) gc counts agree, nothing leaked" "real: '$c_ref'" "ours: '$c_ours'" "$(last_run)"
	fi

	# lz4 only: our `gc --compact` rewrites the fragmented chunks, and the
	# real mount below then reads the compacted slices
	if [ "$comp" = lz4 ]; then
		jfs gc "$META" --compact
		nrec=$(sqlite3 "$T/$comp.db" "select max(length(slices)/24) from jfs_chunk" 2>&1)
		if [ "$RC" -eq 0 ] && [ "$nrec" = 1 ] && ! crashed; then
			t_ok "[$comp] our gc --compact leaves one record per chunk"
		else
			t_fail "[$comp] our gc --compact" "max records per chunk: $nrec" "$(last_run)"
		fi
	fi

	# ---- (a) and (b) through the real mount
	if [ "$have_fuse" -eq 0 ]; then
		t_skip "[$comp] (a)/(b) real mount reads ours and ours reads the real mount" "$why_nofuse"
	elif ! ref_mount "$META" "$MNT" "$T/mount-$comp.log"; then
		t_fail "[$comp] real client mounts our volume" "$(last_run)" \
			"$(tail -n 5 "$T/mount-$comp.log" 2>/dev/null)"
	else
		bad=()
		cmp "$T/big" "$MNT/big" >"$T/cmp" 2>&1 || bad+=("big: $(cat "$T/cmp")")
		for s in $SMALL; do
			cmp "$T/$s" "$MNT/small/$s" >"$T/cmp" 2>&1 || bad+=("$s: $(cat "$T/cmp")")
		done
		cmp "$T/rand-$comp" "$MNT/rand" >"$T/cmp" 2>&1 || bad+=("rand: $(cat "$T/cmp")")
		cmp "$T/rand2-$comp" "$MNT/dir/rand2" >"$T/cmp" 2>&1 || bad+=("rand2: $(cat "$T/cmp")")
		if [ ${#bad[@]} -eq 0 ]; then
			t_ok "[$comp] (a) the real mount reads every file ours wrote byte-exact"
		else
			t_fail "[$comp] (a) the real mount reads what ours wrote" "${bad[@]}"
		fi
		# (b) the real client writes: a big copy, overwrites in place, a small file
		cp "$T/big" "$T/refbig-$comp"
		cp "$T/big" "$MNT/refbig" && sync "$MNT/refbig"
		for off in 5 70000 33554431 67108860 70000000; do
			head -c 300000 /dev/urandom >"$T/patch"
			dd if="$T/patch" of="$T/refbig-$comp" bs=4096 oflag=seek_bytes seek=$off conv=notrunc \
				status=none
			dd if="$T/patch" of="$MNT/refbig" bs=4096 oflag=seek_bytes seek=$off conv=notrunc \
				status=none
		done
		head -c 12345 /dev/urandom >"$T/refsmall-$comp"
		cp "$T/refsmall-$comp" "$MNT/refsmall"
		sync
		if ! ref_umount "$MNT"; then
			t_fail "[$comp] unmount the real client" "umount $MNT failed"
		fi
		bad=()
		fscp get "$META" /refbig "$T/got"
		[ "$RC" -eq 0 ] || bad+=("get /refbig: $(last_run)")
		cmp "$T/refbig-$comp" "$T/got" >"$T/cmp" 2>&1 || bad+=("refbig: $(cat "$T/cmp")")
		fscp get "$META" /refsmall "$T/got"
		[ "$RC" -eq 0 ] || bad+=("get /refsmall: $(last_run)")
		cmp "$T/refsmall-$comp" "$T/got" >"$T/cmp" 2>&1 || bad+=("refsmall: $(cat "$T/cmp")")
		if [ ${#bad[@]} -eq 0 ]; then
			t_ok "[$comp] (b) ours reads byte-exact what the real mount wrote (copy + overwrites)"
		else
			t_fail "[$comp] (b) ours reads what the real mount wrote" "${bad[@]}"
		fi
	fi

	# our own read-back (reads also trigger compaction of fragmented chunks)
	bad=()
	fscp get "$META" /rand "$T/got"
	cmp "$T/rand-$comp" "$T/got" >"$T/cmp" 2>&1 || bad+=("rand: $(cat "$T/cmp") $(last_run)")
	fscp get "$META" /big -
	cmp "$T/big" "$T/out" >"$T/cmp" 2>&1 || bad+=("big to stdout: $(cat "$T/cmp")")
	if [ ${#bad[@]} -eq 0 ]; then
		t_ok "[$comp] ours reads back its own files (file and stdout)"
	else
		t_fail "[$comp] ours reads back its own files" "${bad[@]}"
	fi

	# ---- (d) delete everything with ours, expire trash, then the real gc
	bad=()
	for p in /big /rand /dir/rand2 /refbig /refsmall; do
		fscp rm "$META" "$p"
		[ "$RC" -eq 0 ] || [ "$have_fuse" -eq 0 ] || bad+=("rm $p: $(last_run)")
	done
	for s in $SMALL; do
		fscp rm --skip-trash "$META" "/small/$s"
		[ "$RC" -eq 0 ] || bad+=("rm --skip-trash /small/$s: $(last_run)")
	done
	fscp expire-trash "$META"
	[ "$RC" -eq 0 ] || bad+=("expire-trash: $(last_run)")
	ref gc "$META"
	c_ref=$(gc_counts)
	left=$(find "$BK/vol-$comp/chunks" -type f 2>/dev/null | wc -l)
	if [ ${#bad[@]} -eq 0 ] && [ "$RC" -eq 0 ] && [ "$c_ref" = "0 0 0 0 0 0 0" ] && [ "$left" -eq 0 ]; then
		t_ok "[$comp] (d) after deletes and trash expiry the real gc finds no object left or leaked"
	else
		t_fail "[$comp] (d) real gc after deletes and trash expiry" "${bad[@]}" \
			"real gc: scanned/valid/pending/compacted/leaked/delslices/delfiles = '$c_ref', objects left: $left" \
			"$(last_run)"
	fi
	ref fsck "$META"
	if [ "$RC" -eq 0 ]; then
		t_ok "[$comp] (d) real fsck accepts the emptied volume"
	else
		t_fail "[$comp] (d) real fsck accepts the emptied volume" "$(last_run)"
	fi
done

# ------------------------------------------------------------- (e) kill -9
META=sqlite3://$T/kill.db
BK=$T/bk-kill
jfs format "$META" vol-kill --bucket "$BK" --trash-days 0
fscp put "$META" "$T/s4" /before
mkfifo "$T/fifo"
"$FSCP" put "$META" "$T/fifo" /killed >"$T/kill.out" 2>&1 &
kpid=$!
T_PIDS+=("$kpid")
exec 3>"$T/fifo"
head -c $((26 << 20)) /dev/urandom >&3
n=0
for _ in $(seq 1 100); do
	n=$(find "$BK/vol-kill/chunks" -type f 2>/dev/null | wc -l)
	[ "$n" -ge 6 ] && break
	sleep 0.1
done
kill -9 "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
krc=$?
exec 3>&-
if [ "$krc" -eq 137 ] && [ "$n" -ge 6 ]; then
	t_ok "(e) jfs-fscp killed by SIGKILL while writing, $n blocks uploaded"
else
	t_fail "(e) kill jfs-fscp in the middle of a write" "exit $krc, $n objects uploaded" \
		"$(cat "$T/kill.out")"
fi
ref fsck "$META"
r1=$RC
e1=$(cat "$T/err")
jfs fsck "$META"
if [ "$r1" -eq 0 ] && [ "$RC" -eq 0 ]; then
	t_ok "(e) after the kill, the real fsck and ours find the volume consistent"
else
	t_fail "(e) fsck after the kill" "real fsck exit $r1: $(echo "$e1" | tail -n 3)" "$(last_run)"
fi
# Puts cut short by the kill may leave temp files (.jfs.<key>.tmp.<n>) next
# to the blocks. Both gc list them as objects with no slice, i.e. leaked
# (JFS_GC_SKIPPEDTIME=0 here), so the counts must be the same.
ntmp=$(find "$BK/vol-kill/chunks" -type f -name '.jfs.*.tmp.*' | wc -l)
ref gc "$META"
c_ref=$(gc_counts)
jfs gc "$META"
c_ours=$(gc_counts)
read -r _ _ _ _ rl _ <<<"${c_ref:-x x x x x}"
if [ -n "$c_ref" ] && [ "$c_ref" = "$c_ours" ] && [ "$rl" -ge $((n - 1)) ]; then
	t_ok "(e) both gc count the uncommitted blocks as leaked alike: $c_ours ($ntmp interrupted temp files)"
else
	t_fail "(e) gc counts after the kill" "real: '$c_ref'" "ours: '$c_ours'" "temp files: $ntmp" \
		"$(last_run)"
fi
jfs gc "$META" --delete
ref gc "$META"
c_ref=$(gc_counts)
fscp get "$META" /before "$T/got"
if [ "$(echo "$c_ref" | cut -d' ' -f5)" = 0 ] && cmp -s "$T/s4" "$T/got" &&
	[ "$(find "$BK/vol-kill/chunks" -type f -name '.jfs.*.tmp.*' | wc -l)" = 0 ]; then
	t_ok "(e) our gc --delete removes the leaked blocks and temp files (real gc: $c_ref) and keeps live data"
else
	t_fail "(e) our gc --delete" "real gc after: '$c_ref', $ntmp temp files before" "$(last_run)"
fi

# a lost block: both fsck must fail and name the same count and file
rm -f "$(find "$BK/vol-kill/chunks" -type f ! -name '.jfs.*' | head -n 1)"
ref fsck "$META"
r1=$RC
l1=$(grep -o '[0-9]* objects are lost' "$T/err")
f1=$(grep -c '/before' "$T/err")
jfs fsck "$META"
l2=$(grep -o '[0-9]* objects are lost' "$T/err")
f2=$(grep -c '/before' "$T/err")
if [ "$r1" -ne 0 ] && [ "$RC" -ne 0 ] && ! crashed && [ "$l1" = "1 objects are lost" ] &&
	[ "$l1" = "$l2" ] && [ "$f1" -ge 1 ] && [ "$f2" -ge 1 ]; then
	t_ok "(e) a deleted block: both fsck fail with '$l2' and name /before"
else
	t_fail "(e) fsck reports a lost block" "real: exit $r1 '$l1' ($f1 path lines)" \
		"ours: '$l2' ($f2 path lines)" "$(last_run)"
fi

# ------------------------------------------------------------- (f) gc --delete
# Compaction with trash on keeps the old slices as delayed slices. Aged past
# trash-days (by moving their timestamp back), our `gc --delete` releases
# them and counts them as JuiceFS does; the real gc then agrees nothing of
# them is left, and the file still reads back.
META=sqlite3://$T/aged.db
jfs format "$META" vol-aged --bucket "$T/bk-aged" --trash-days 1
fscp randwrite "$META" /r 3000000 400 21 "$T/aged-model"
nd=$(sqlite3 "$T/aged.db" "select count(*) from jfs_delslices" 2>&1)
sqlite3 "$T/aged.db" "update jfs_delslices set deleted = deleted - 3 * 86400"
ref gc "$META"
c_ref=$(gc_counts)
jfs gc "$META"
c_ours=$(gc_counts)
comp=$(echo "$c_ours" | cut -d' ' -f4)
jfs gc "$META" --delete
c_del=$(gc_counts)
ref gc "$META"
c_after=$(gc_counts)
fscp get "$META" /r "$T/got"
if [ "${nd:-0}" -ge 1 ] && [ -n "$c_ref" ] && [ "$c_ref" = "$c_ours" ] && [ "${comp:-0}" -ge 1 ] &&
	[ "$(echo "$c_del" | cut -d' ' -f6)" -ge 1 ] && [ "$(echo "$c_after" | cut -d' ' -f4)" = 0 ] &&
	[ "$(echo "$c_after" | cut -d' ' -f5)" = 0 ] && cmp -s "$T/aged-model" "$T/got"; then
	t_ok "(f) gc --delete releases aged delayed slices ($nd records): before $c_ours, ours --delete $c_del, real after $c_after"
else
	t_fail "(f) gc --delete of aged delayed slices" "delslices records: $nd" "real before: '$c_ref'" \
		"ours before: '$c_ours'" "ours --delete: '$c_del'" "real after: '$c_after'" "$(last_run)"
fi

# ------------------------------------------------------------- (g) full disk
if [ "$(id -u)" -ne 0 ]; then
	t_skip "(g) ENOSPC on a full bucket" "mounting a tmpfs needs root"
elif ! mkdir -p "$T/tiny" || ! mount -t tmpfs -o size=12m tmpfs "$T/tiny" 2>"$T/err"; then
	t_skip "(g) ENOSPC on a full bucket" "cannot mount a tmpfs: $(head -n 1 "$T/err")"
else
	T_MOUNTS+=("$T/tiny")
	META=sqlite3://$T/full.db
	jfs format "$META" vol-full --bucket "$T/tiny/bk"
	fscp put "$META" "$T/s4" /early
	r_early=$RC
	fscp put "$META" "$T/big" /toolarge
	r_big=$RC
	e_big=$(cat "$T/err")
	fscp get "$META" /early "$T/got"
	if [ "$r_early" -eq 0 ] && [ "$r_big" -ne 0 ] && [ "$r_big" -lt 128 ] &&
		grep -qi 'no space' <<<"$e_big" && [ "$RC" -eq 0 ] && cmp -s "$T/s4" "$T/got"; then
		t_ok "(g) a write into a full bucket fails with ENOSPC, earlier data intact: $(head -n 1 <<<"$e_big" | cut -c1-80)"
	else
		t_fail "(g) ENOSPC on a full bucket" "early put exit $r_early, big put exit $r_big: $e_big" \
			"$(last_run)"
	fi
	ref fsck "$META"
	if [ "$RC" -eq 0 ]; then
		t_ok "(g) the real fsck accepts the volume after the failed write"
	else
		t_fail "(g) real fsck after ENOSPC" "$(last_run)"
	fi
	umount "$T/tiny"
fi

t_done
