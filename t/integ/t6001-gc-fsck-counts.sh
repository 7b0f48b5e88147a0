#!/usr/bin/env bash
# gc and fsck count what the real client counts (issue 12, items 3 and 5).
#
# Item 5: on one SQLite and one Redis volume (trash on) holding every kind of
# slice the metadata keeps (live ones, pending ones, delayed slices of
# compaction, files in .trash, and with FUSE a slice shared by a
# copy_file_range clone and an open-unlinked "sustained" file), our fsck prints the real fsck's "Found N
# blocks" and "Used by N slices" lines, and our gc its "using N slices" line
# and every count of its summary.
# Item 3: stale temp files of interrupted puts (.jfs.<name>.tmp.<n>, older
# than an hour) are leaked objects to gc, fresh ones are skipped, as the real
# gc counts them; our `gc --delete` removes the stale ones only, after which
# the real gc finds nothing leaked and the data still reads back; destroy
# removes every object, temp files included.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

: "${JFS_FSCP:=$PWD/t/tools/jfs-fscp}"
need_bin "$JFS_BIN" "$JFS_FSCP"
need_ref
unset JFS_GC_SKIPPEDTIME

have_fuse=0
[ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ] && have_fuse=1
have_redis=0
command -v redis-server >/dev/null && have_redis=1

# one_line PATTERN: the last log line in $T/err matching it, without the
# timestamp and the source location, so ours and the real one compare.
one_line()
{
	grep -E "$1" "$T/err" | tail -n 1 | sed -E 's/^.*<INFO>: //; s/ \[[^]]*\]$//'
}

# gc_summary: the counts of gc's final summary line.
gc_summary()
{
	one_line 'scanned [0-9]+ objects' | sed -E 's/^(scanned .*)$/\1/'
}

# fill META BUCKET NAME: write a volume with live, delayed, trashed (and,
# with FUSE, cloned and sustained) slices. Leaves HOLD_PID set when a file
# is held open in the mount at $T/mnt-NAME.
HOLD_PID=
fill()
{
	local meta=$1 name=$2 bad=() mnt=$T/mnt-$2
	HOLD_PID=
	head -c 3000000 /dev/urandom >"$T/$name-a"
	run "$JFS_FSCP" put "$meta" "$T/$name-a" /a || bad+=("put /a: $(last_run)")
	run "$JFS_FSCP" put "$meta" "$T/$name-a" /trashed || bad+=("put /trashed: $(last_run)")
	# > 350 records: compaction while writing keeps the old slices as
	# delayed slices (trash is on)
	run "$JFS_FSCP" randwrite "$meta" /r 3000000 400 7 "$T/$name-model" ||
		bad+=("randwrite /r: $(last_run)")
	run "$JFS_FSCP" rm "$meta" /trashed || bad+=("rm /trashed: $(last_run)")
	if [ "$have_fuse" -eq 1 ]; then
		mkdir -p "$mnt"
		run "$JFS_BIN" mount "$meta" "$mnt" -d --log "$T/mount-$name.log" --cache-dir none
		if [ "$RC" -ne 0 ]; then
			bad+=("mount: $(last_run)")
		else
			T_MOUNTS+=("$mnt")
			python3 - "$mnt" <<'EOF' || bad+=("clone in the mount")
import os, sys
m = sys.argv[1]
with open(m + "/a", "rb") as s, open(m + "/clone", "wb") as d:
    n = os.fstat(s.fileno()).st_size
    while n > 0:
        n -= os.copy_file_range(s.fileno(), d.fileno(), n)
with open(m + "/held", "wb") as f:
    f.write(os.urandom(1500000))
EOF
			sleep 600 <"$mnt/held" &
			HOLD_PID=$!
			T_PIDS+=("$HOLD_PID")
			# unlinked while open: to the trash, then out of it, so the
			# inode lives on as a sustained one
			rm -f "$mnt/held"
			rm -f "$mnt"/.trash/*/*-held || bad+=("rm from .trash")
		fi
	fi
	# A pending slice (refcount 0, its object not yet deleted), as a client
	# that died before deleting leaves it: id 999999, one block of 1000 bytes.
	mkdir -p "$T/bk-$name/vol-$name/chunks/0/999"
	head -c 1000 /dev/urandom >"$T/bk-$name/vol-$name/chunks/0/999/999999_0_1000"
	case $meta in
	sqlite3://*)
		sqlite3 "${meta#sqlite3://}" "insert into jfs_chunk_ref values (999999, 1000, 0)" ||
			bad+=("insert a pending slice")
		# and a delayed slice that is pending too: JuiceFS looks pending up first
		local h
		h=$(sqlite3 "${meta#sqlite3://}" "select substr(hex(slices), 1, 24) from jfs_delslices limit 1")
		sqlite3 "${meta#sqlite3://}" "update jfs_chunk_ref set refs = 0 where chunkid = $((16#${h:0:16}))" ||
			bad+=("make a delayed slice pending")
		;;
	redis://*)
		redis-cli -u "$meta" hset sliceRef k999999_1000 -1 >/dev/null || bad+=("hset a pending slice")
		;;
	esac
	if [ ${#bad[@]} -eq 0 ]; then
		t_ok "[$name] a volume with live, pending, delayed, trashed$([ "$have_fuse" -eq 1 ] && echo ", cloned and sustained") slices"
	else
		t_fail "[$name] fill the volume" "${bad[@]}"
	fi
}

# compare META NAME: fsck and gc lines of ours and of the real client.
compare()
{
	local meta=$1 name=$2 rf rg ro of og oo
	ref fsck "$meta"
	rf="$(one_line 'Found [0-9]+ blocks') / $(one_line 'Used by [0-9]+ slices')"
	jfs fsck "$meta"
	of="$(one_line 'Found [0-9]+ blocks') / $(one_line 'Used by [0-9]+ slices')"
	if [ "$RC" -eq 0 ] && [ "$rf" = "$of" ] && [ "$rf" != " / " ]; then
		t_ok "[$name] fsck: ours and the real one agree: $of"
	else
		t_fail "[$name] fsck counts agree" "real: $rf" "ours: $of" "$(last_run)"
	fi
	JFS_GC_SKIPPEDTIME=0 ref gc "$meta"
	rg=$(one_line 'using [0-9]+ slices')
	ro=$(gc_summary)
	JFS_GC_SKIPPEDTIME=0 jfs gc "$meta"
	og=$(one_line 'using [0-9]+ slices')
	oo=$(gc_summary)
	if [ "$RC" -eq 0 ] && [ -n "$rg" ] && [ "$rg" = "$og" ] && [ -n "$ro" ] && [ "$ro" = "$oo" ]; then
		t_ok "[$name] gc: ours and the real one agree: $og; $oo"
	else
		t_fail "[$name] gc counts agree" "real: $rg; $ro" "ours: $og; $oo" "$(last_run)"
	fi
}

release()
{
	local name=$1
	if [ -n "$HOLD_PID" ]; then
		kill "$HOLD_PID" 2>/dev/null
		wait "$HOLD_PID" 2>/dev/null
		HOLD_PID=
	fi
	if mountpoint -q "$T/mnt-$name" 2>/dev/null; then
		run "$JFS_BIN" umount "$T/mnt-$name"
	fi
}

# ---------------------------------------------------------------- item 5
META=sqlite3://$T/s.db
BK=$T/bk-sqlite
jfs format "$META" vol-sqlite --bucket "$BK" --trash-days 1
[ "$RC" -eq 0 ] || { t_fail "format the SQLite volume" "$(last_run)"; t_done; }
fill "$META" sqlite
nd=$(sqlite3 "$T/s.db" "select count(*) from jfs_delslices" 2>&1)
[ "${nd:-0}" -ge 1 ] || t_fail "[sqlite] compaction left delayed slices" "jfs_delslices rows: $nd"
compare "$META" sqlite
release sqlite

if [ "$have_redis" -eq 0 ]; then
	t_skip "[redis] gc and fsck counts" "redis-server not installed"
else
	rport=$(free_port)
	mkdir -p "$T/redis"
	t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
		--appendonly no --daemonize no --logfile "$T/redis/log"
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
	RMETA=redis://127.0.0.1:$rport/1
	jfs format "$RMETA" vol-redis --bucket "$T/bk-redis" --trash-days 1
	if [ "$RC" -ne 0 ]; then
		t_fail "format the Redis volume" "$(last_run)"
	else
		fill "$RMETA" redis
		compare "$RMETA" redis
		release redis
	fi
fi

# ---------------------------------------------------------------- item 3
# Temp files as a killed put leaves them, next to real blocks. Everything
# written above is aged two hours, so that only the fresh temps are young.
CH=$BK/vol-sqlite/chunks
find "$BK/vol-sqlite" -exec touch -h -d '2 hours ago' {} +
mapfile -t blocks < <(find "$CH" -type f ! -name '.jfs.*' | sort | head -n 5)
if [ ${#blocks[@]} -lt 5 ]; then
	t_fail "five blocks to make temp files beside" "found ${#blocks[@]}"
	t_done
fi
for i in 0 1 2 3 4; do
	b=${blocks[$i]}
	tmp=$(dirname "$b")/.jfs.$(basename "$b").tmp.$((4242 + i))
	head -c $((1000 * (i + 1))) /dev/urandom >"$tmp"
	[ "$i" -lt 3 ] && touch -d '2 hours ago' "$tmp"
done
ref gc "$META"
r_sum=$(gc_summary)
jfs gc "$META"
o_sum=$(gc_summary)
if [ -n "$r_sum" ] && [ "$r_sum" = "$o_sum" ] && grep -q ' 3 leaked (6000 bytes)' <<<"$o_sum" &&
	grep -q ' 2 skipped (9000 bytes)' <<<"$o_sum"; then
	t_ok "3 stale temp files are leaked, 2 fresh ones skipped, as the real gc counts: $o_sum"
else
	t_fail "stale temp files counted as the real gc does" "real: $r_sum" "ours: $o_sum" "$(last_run)"
fi
ref fsck "$META"
rf=$(one_line 'Found [0-9]+ blocks')
jfs fsck "$META"
of=$(one_line 'Found [0-9]+ blocks')
if [ "$RC" -eq 0 ] && [ -n "$rf" ] && [ "$rf" = "$of" ]; then
	t_ok "fsck lists the temp files as the real one does: $of"
else
	t_fail "fsck lists the temp files as the real one does" "real: $rf" "ours: $of" "$(last_run)"
fi

jfs gc "$META" --delete
left_old=$(find "$CH" -name '.jfs.*.tmp.424[234]' | wc -l)
left_new=$(find "$CH" -name '.jfs.*.tmp.424[56]' | wc -l)
ref gc "$META"
r_after=$(gc_summary)
run "$JFS_FSCP" get "$META" /r "$T/got"
if [ "$left_old" -eq 0 ] && [ "$left_new" -eq 2 ] && grep -q ' 0 leaked ' <<<"$r_after" &&
	[ "$RC" -eq 0 ] && cmp -s "$T/sqlite-model" "$T/got"; then
	t_ok "our gc --delete removes the stale temp files only; the real gc then: $r_after"
else
	t_fail "our gc --delete of stale temp files" "stale left: $left_old, fresh left: $left_new" \
		"real gc after: $r_after" "$(last_run)"
fi

# Sibling: destroy deletes every object of the volume, temp files included
# (the real destroy lists and deletes them as any object).
jfs status "$META"
uuid=$(st .Setting.UUID)
jfs destroy "$META" "$uuid" --yes --force
left=$(find "$BK/vol-sqlite" -type f 2>/dev/null | wc -l)
if [ "$RC" -eq 0 ] && [ "$left" -eq 0 ]; then
	t_ok "destroy removes every object, the temp files too"
else
	t_fail "destroy removes every object" "files left: $left" \
		"$(find "$BK/vol-sqlite" -type f | head -n 5)" "$(last_run)"
fi
t_done
