#!/usr/bin/env bash
# `juicefs restore META HOUR... [--put-back]` against the real client's.
#
# A tree (data files, xattrs, a hard-linked file, a symlink, nested dirs) is
# deleted through a mount with the trash on, one deleted name is created
# again (a collision), and the volume is copied twice. Our restore runs on
# one copy, `$JFS_REF restore` on the other; the two volumes must then hold
# the same tree (the real client's dump of both, inode numbers included,
# times left out), with the collision reported by both and left in the
# trash. It runs both ways: a trash made by our mount, and one made by the
# real client's mount. The restored files are then read byte-exact through
# our mount, with their xattrs and hard links, and the mount's .trash is
# checked to be the read-only view JuiceFS gives.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
need_ref
py=$(dirname "$0")/norm-dump.py

# dbcopy SRC DST: a consistent copy of a SQLite volume (its WAL included).
dbcopy()
{
	python3 -c 'import sqlite3, sys
s = sqlite3.connect(sys.argv[1]); d = sqlite3.connect(sys.argv[2]); s.backup(d); d.close()' "$1" "$2"
}

# dirstats DB: jfs_dir_stats rows, one per line.
dirstats()
{
	python3 -c 'import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute(
        "select inode, data_length, used_space, used_inodes from jfs_dir_stats order by inode"):
    print(*r)' "$1"
}

# The tree, and what the restore must bring back (sums taken before deletion).
build_tree()
{
	local mp=$1
	mkdir -p "$mp/d/sub/deep" "$mp/e" &&
		head -c 1500000 /dev/urandom >"$mp/d/a" &&
		head -c 70000 /dev/urandom >"$mp/d/sub/b" &&
		echo deep >"$mp/d/sub/deep/c" &&
		setfattr -n user.k -v v1 "$mp/d/a" &&
		setfattr -n user.dir -v dv "$mp/d/sub" &&
		head -c 5000 /dev/urandom >"$mp/d/h1" &&
		ln "$mp/d/h1" "$mp/d/h2" && ln "$mp/d/h1" "$mp/e/h3" &&
		ln -s a "$mp/d/ln" &&
		echo old >"$mp/d/c1" &&
		echo stays >"$mp/d/keep"
}
# Deleted through the mount; d/c1 is then written again (the collision).
delete_tree()
{
	local mp=$1
	rm -rf "$mp/d/sub" && rm "$mp/d/a" "$mp/d/h1" "$mp/d/h2" "$mp/d/ln" "$mp/d/c1" &&
		echo new >"$mp/d/c1"
}
sums()
{
	(cd "$1" && for f in d/a d/sub/b d/sub/deep/c d/h1 d/h2 e/h3 d/keep; do
		echo "$f $(sha256sum <"$f" | cut -c1-16) $(stat -c '%i %h' "$f")"
	done
	echo "d/ln -> $(readlink d/ln)"
	echo "d/a user.k=$(getfattr --only-values -n user.k d/a 2>/dev/null)"
	echo "d/sub user.dir=$(getfattr --only-values -n user.dir d/sub 2>/dev/null)"
	echo "d/c1 $(cat d/c1)")
}
# Everything but times: inode numbers, modes, nlink, lengths, xattrs, trash.
shape()
{
	python3 "$py" "$1" | sed -E -e 's/ mtime=[0-9.]+//' | LC_ALL=C sort
}

# one_way MAKER: build and delete through MAKER's mount, restore copies with
# ours and the real client, compare. MAKER is "ours" or "ref".
one_way()
{
	local maker=$1 meta="sqlite3://$T/$1.db" mp=$T/mnt-$1 hours h r
	if [ "$maker" = ours ]; then
		jfs format "$meta" "vol$maker" --bucket "$T/bk-$maker"
	else
		ref format "$meta" "vol$maker" --bucket "$T/bk-$maker"
	fi
	[ "$RC" -eq 0 ] || { t_fail "$maker: format" "$(last_run)"; return; }
	if [ "$maker" = ours ]; then fmount "$meta" "$mp" --enable-xattr; else ref_mount "$meta" "$mp" --enable-xattr; fi
	[ "$RC" -eq 0 ] || { t_fail "$maker: mount" "$(last_run)"; return; }
	if ! build_tree "$mp" >"$T/build.err" 2>&1; then
		t_fail "$maker: build the tree through the mount" "$(cat "$T/build.err")"
		return
	fi
	sums "$mp" >"$T/sums-before-$maker"
	# The .trash checks below expect one hour directory: do not delete
	# across the turn of a UTC hour (wait out its last 20 s, bounded).
	while [ "$(date -u +%M)" = 59 ] && [ "$(date -u +%S | sed 's/^0//')" -ge 40 ]; do
		sleep 1
	done
	if ! delete_tree "$mp" >"$T/del.err" 2>&1; then
		t_fail "$maker: delete through the mount" "$(cat "$T/del.err")"
		return
	fi
	hours=$(ls "$mp/.trash")
	if [ -n "$hours" ] && [ -z "$(ls "$mp/d/sub" 2>/dev/null)" ]; then
		t_ok "$maker: deleted nodes are in .trash ($(echo $hours))"
	else
		t_fail "$maker: deleted nodes are in .trash" "hours: $hours"
	fi
	if [ "$maker" = ours ]; then
		# The mount's .trash as JuiceFS shows it: listed at the root, read-only,
		# files readable, nothing created inside, the hour named by the UTC hour.
		h=$(echo "$hours" | head -n 1)
		local bad=""
		ls -a "$mp" | grep -qx .trash || bad+="root listing lacks .trash; "
		[ "$(stat -c %a "$mp/.trash")" = 555 ] || bad+="mode $(stat -c %a "$mp/.trash"); "
		[[ "$h" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}$ ]] || bad+="hour name $h; "
		ls "$mp/.trash/$h" | grep -qE '^1-[0-9]+-d$' && bad+="d itself was not deleted; "
		ls "$mp/.trash/$h" | grep -qE '^[0-9]+-[0-9]+-a$' || bad+="no P-I-a entry; "
		local ta want got
		ta=$(find "$mp/.trash/$h" -maxdepth 1 -name '*-a' | head -n 1)
		want=$(grep -m1 '^d/a ' "$T/sums-before-$maker" | cut -d' ' -f2)
		got=$(sha256sum <"$ta" | cut -c1-16)
		[ "$got" = "$want" ] || bad+="trash copy $ta of d/a reads $got, not $want; "
		touch "$mp/.trash/x" 2>/dev/null && bad+="created a file in .trash; "
		touch "$mp/.trash/$h/x" 2>/dev/null && bad+="created a file in an hour dir; "
		mkdir "$mp/.trash/2000-01-01-00" 2>/dev/null && bad+="made an hour dir; "
		mv "$mp/d/keep" "$mp/.trash/$h/k" 2>/dev/null && bad+="moved a file into trash; "
		if [ -z "$bad" ]; then
			t_ok "ours: the mount's .trash is listed, read-only, hour dirs named by UTC hour"
		else
			t_fail "ours: the mount's .trash view" "$bad"
		fi
	fi
	if [ "$maker" = ours ]; then fumount "$mp"; else ref_umount "$mp"; fi

	# Two identical copies per mode: restored by ours and by the real client.
	for mode in put-back rebuild; do
		for who in ours ref; do
			dbcopy "$T/$maker.db" "$T/$maker-$mode-$who.db"
		done
		local flag=""
		[ "$mode" = put-back ] && flag=--put-back
		# shellcheck disable=SC2086
		run "$JFS_BIN" restore "sqlite3://$T/$maker-$mode-ours.db" $hours $flag
		local rc_o=$RC
		cp "$T/err" "$T/restore-$maker-$mode-ours.err"
		# shellcheck disable=SC2086
		run "$JFS_REF" restore "sqlite3://$T/$maker-$mode-ref.db" $hours $flag
		local rc_r=$RC
		cp "$T/err" "$T/restore-$maker-$mode-ref.err"
		echo "# $maker trash, restore $mode, ours (exit $rc_o):"
		grep -E 'restore|restored|rebuilt|conflict|exists' "$T/restore-$maker-$mode-ours.err" |
			sed -E 's/^.*<(INFO|WARNING|ERROR)>: /#   /; s/ \[[^]]*\]$//' | head -n 12
		echo "# $maker trash, restore $mode, real client (exit $rc_r):"
		grep -E 'restore|exists' "$T/restore-$maker-$mode-ref.err" |
			sed -E 's/^.*<(INFO|WARNING|ERROR)>: /#   /; s/ \[[^]]*\]$//' | head -n 12
		if [ "$rc_o" -eq 0 ] && [ "$rc_r" -eq 0 ]; then
			t_ok "$maker trash, $mode: both restores exit 0"
		else
			t_fail "$maker trash, $mode: both restores exit 0" "ours $rc_o, ref $rc_r"
		fi
		if [ "$mode" = put-back ]; then
			r=$(grep -c 'target already exists' "$T/restore-$maker-$mode-ours.err")
			if [ "$r" = 1 ] && grep -q -- '-c1: target already exists' \
				"$T/restore-$maker-$mode-ref.err"; then
				t_ok "$maker trash: the collision d/c1 is reported by both, once"
			else
				t_fail "$maker trash: the collision d/c1 is reported" \
					"ours: $(grep -c exists "$T/restore-$maker-$mode-ours.err")" \
					"ref: $(grep -c exists "$T/restore-$maker-$mode-ref.err")"
			fi
		fi
		ref dump "sqlite3://$T/$maker-$mode-ours.db" "$T/$maker-$mode-ours.json"
		rc_o=$RC
		ref dump "sqlite3://$T/$maker-$mode-ref.db" "$T/$maker-$mode-ref.json"
		rc_r=$RC
		if [ "$rc_o" -ne 0 ] || [ "$rc_r" -ne 0 ]; then
			t_fail "$maker trash, $mode: ref dump of both copies" "$(last_run)"
			continue
		fi
		# dir stats are not in a dump: compare the SQL table itself
		dirstats "$T/$maker-$mode-ours.db" >"$T/ds-o"
		dirstats "$T/$maker-$mode-ref.db" >"$T/ds-r"
		if [ -s "$T/ds-o" ] && diff "$T/ds-r" "$T/ds-o" >"$T/diff"; then
			t_ok "$maker trash, $mode: same dir stats (jfs_dir_stats) after both restores"
		else
			t_fail "$maker trash, $mode: same dir stats after both restores" \
				"diff ref ours:" "$(head -n 10 "$T/diff")"
		fi
		shape "$T/$maker-$mode-ours.json" >"$T/shape-o"
		shape "$T/$maker-$mode-ref.json" >"$T/shape-r"
		if diff "$T/shape-r" "$T/shape-o" >"$T/diff"; then
			t_ok "$maker trash, $mode: same volume after ours and the real restore ($(wc -l <"$T/shape-o") nodes)"
		else
			t_fail "$maker trash, $mode: same volume after ours and the real restore" \
				"diff ref ours:" "$(head -n 16 "$T/diff")"
		fi
	done

	# Put back by ours: every byte, link, xattr as before; the new c1 kept.
	mp=$T/chk-$maker
	fmount "sqlite3://$T/$maker-put-back-ours.db" "$mp" --enable-xattr
	[ "$RC" -eq 0 ] || { t_fail "$maker: mount the restored copy" "$(last_run)"; return; }
	sums "$mp" | sed 's/^d\/c1 new$/d\/c1 old/' >"$T/sums-after-$maker"
	if diff "$T/sums-before-$maker" "$T/sums-after-$maker" >"$T/diff"; then
		t_ok "$maker trash: put back byte-exact with hard links (same inodes, nlink) and xattrs"
	else
		t_fail "$maker trash: put back byte-exact" "$(head -n 12 "$T/diff")"
	fi
	if [ "$(cat "$mp/d/c1")" = new ] && [ "$(cat "$mp"/.trash/*/*-c1)" = old ]; then
		t_ok "$maker trash: the colliding name keeps the new file; the old one stays in trash"
	else
		t_fail "$maker trash: the colliding name" "d/c1: $(cat "$mp/d/c1")" \
			"trash: $(ls "$mp"/.trash/*/)"
	fi
	fumount "$mp"
}

one_way ours
one_way ref

# The same put-back on Redis, where hard links keep a parent-count hash
# (p<ino>) that a restore must move from the hour directory back: the
# keyspaces after ours and after the real restore must be the same (times,
# and the session the real client opens for its restore, left out).
if command -v redis-server >/dev/null; then
	rport=$(free_port)
	mkdir -p "$T/redis"
	t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
		--appendonly no --daemonize no --logfile "$T/redis/log"
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
	RM=redis://127.0.0.1:$rport
	jfs format "$RM/1" redisvol --bucket "$T/bk-redis"
	fmount "$RM/1" "$T/mnt-redis" --enable-xattr
	if [ "$RC" -eq 0 ] && build_tree "$T/mnt-redis" && delete_tree "$T/mnt-redis"; then
		hours=$(ls "$T/mnt-redis/.trash")
		fumount "$T/mnt-redis"
		redis-cli -p "$rport" -n 1 --scan | while read -r k; do
			redis-cli -p "$rport" -n 1 COPY "$k" "$k" DB 2 >/dev/null
		done
		# shellcheck disable=SC2086
		run "$JFS_BIN" restore "$RM/1" $hours --put-back
		rc_o=$RC
		# shellcheck disable=SC2086
		run "$JFS_REF" restore "$RM/2" $hours --put-back
		rc_r=$RC
		canon=$(dirname "$0")/redis-canon.py
		python3 "$canon" "$rport" 1 | grep -v -i session >"$T/canon-ours"
		python3 "$canon" "$rport" 2 | grep -v -i session >"$T/canon-ref"
		if [ "$rc_o" -eq 0 ] && [ "$rc_r" -eq 0 ] && [ -s "$T/canon-ours" ] &&
			diff "$T/canon-ref" "$T/canon-ours" >"$T/diff"; then
			t_ok "redis: same keyspace after ours and the real put-back ($(wc -l <"$T/canon-ours") keys)"
		else
			t_fail "redis: same keyspace after ours and the real put-back" \
				"exit ours $rc_o, ref $rc_r" "diff ref ours:" "$(head -n 12 "$T/diff")"
		fi
	else
		t_fail "redis: build and delete the tree through our mount" "$(last_run)"
	fi
else
	t_skip "redis put-back" "redis-server not installed"
fi

# What a mount lets root do inside .trash, ours beside the real client's:
# exit status of each attempt (0 = allowed), which must be the same.
trash_probe()
{
	local d=$1 h t fa fd fz
	mkdir "$d/dd" && echo x >"$d/a" && echo z >"$d/z" && echo w >"$d/w" &&
		rm "$d/a" "$d/z" && rmdir "$d/dd" || return
	h=$(ls "$d/.trash")
	t=$d/.trash/$h
	fa=$t/$(ls "$t" | grep -- '-a$')
	fd=$t/$(ls "$t" | grep -- '-dd$')
	fz=$t/$(ls "$t" | grep -- '-z$')
	p() { "${@:2}" >/dev/null 2>&1; echo -n "$1:$? "; }
	p chmod chmod 600 "$fa"
	p write sh -c "echo y >>'$fa'"
	p truncate truncate -s 0 "$fa"
	p create-in-deleted-dir touch "$fd/x"
	p mkdir-in-deleted-dir mkdir "$fd/y"
	p link-into-deleted-dir ln "$d/w" "$fd/l"
	p read cat "$fa"
	p rename-in-hour mv "$fa" "$t/renamed"
	p move-into-deleted-dir mv "$d/w" "$fd/"
	p move-out mv "$fz" "$d/zz"
	p remove rm "$fa"
	p create-in-hour touch "$t/new"
}
jfs format "sqlite3://$T/p-ours.db" probeours --bucket "$T/bk-p-ours"
fmount "sqlite3://$T/p-ours.db" "$T/p-ours"
po=$(trash_probe "$T/p-ours")
fumount "$T/p-ours"
ref format "sqlite3://$T/p-ref.db" proberef --bucket "$T/bk-p-ref"
ref_mount "sqlite3://$T/p-ref.db" "$T/p-ref" --enable-xattr
pr=$(trash_probe "$T/p-ref")
ref_umount "$T/p-ref"
echo "# inside .trash, ours: $po"
echo "# inside .trash, real: $pr"
if [ -n "$po" ] && [ "$po" = "$pr" ]; then
	t_ok "a mount's .trash refuses and allows the same operations as the real client's"
else
	t_fail "a mount's .trash behaves as the real client's" "ours: $po" "real: $pr"
fi

# Argument errors: no hour, an hour that does not exist.
jfs restore "sqlite3://$T/ours.db"
if [ "$RC" -ne 0 ] && [ "$(wc -l <"$T/err")" -le 2 ]; then
	t_ok "restore without an hour is refused"
else
	t_fail "restore without an hour is refused" "$(last_run)"
fi
jfs restore "sqlite3://$T/ours.db" 1999-01-01-00 --put-back
if [ "$RC" -ne 0 ] && grep -q 'lookup "1999-01-01-00"' "$T/err"; then
	t_ok "a missing hour directory is named in the error"
else
	t_fail "a missing hour directory is named in the error" "$(last_run)"
fi
jfs restore --help
if [ "$RC" -eq 0 ] && grep -q -- '--put-back' "$T/out"; then
	t_ok "restore --help lists --put-back"
else
	t_fail "restore --help lists --put-back" "$(last_run)"
fi
fcheck_logs
t_done
