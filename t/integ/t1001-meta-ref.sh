#!/usr/bin/env bash
# The real JuiceFS 1.4.2 client as oracle for the SQLite metadata format.
#
# (a) the real client accepts a volume formatted by ours (status, same name,
#     UUID and settings; it decrypts our secret key);
# (b) ours reads a volume formatted by the real client, and both create the
#     same schema, setting JSON, counters and initial nodes;
# (c) a tree built by jfs-mktree through our meta API comes out of the real
#     client's `dump` exactly as our own meta API sees it;
# (d) the real client's fsck accepts our volume;
# (e) the real client's config/format with the same name keep the UUID;
# (f) after the real client `load`s that dump into a fresh database, our meta
#     API sees the same tree (and the same usage counters).
# The reference client is installed into /opt/jfs-ref when missing; if that
# fails, the script is skipped with the reason.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN" "$JFS_MKTREE"

need_ref

OURS=$T/ours.db
REFDB=$T/ref.db
U_OURS=sqlite3://$OURS
U_REF=sqlite3://$REFDB
py=$(dirname "$0")/norm-dump.py

# setting JSON as stored, with the per-volume values blanked
stored_setting()
{
	sqlite3 "$1" "select value from jfs_setting where name='format'" |
		sed -E -e 's/^("UUID": )".*"/\1"-"/' -e 's/^("Bucket": )".*"/\1"-"/' \
			-e 's/^("Name": )".*"/\1"-"/' -e 's/^("SecretKey": )".*"/\1"-"/'
}

# ---------------------------------------------------------------- (a)
jfs format "$U_OURS" ours-vol --bucket "$T/bk-ours"
if [ "$RC" -ne 0 ]; then
	t_fail "ours: format a volume" "$(last_run)"
	t_done
fi
t_ok "ours: format sqlite3 volume ours-vol"
jfs status "$U_OURS"
uuid_ours=$(st .Setting.UUID)
ref status "$U_OURS"
if [ "$RC" -eq 0 ] && [ "$(st .Setting.Name)" = ours-vol ] && [ -n "$uuid_ours" ] &&
	[ "$(st .Setting.UUID)" = "$uuid_ours" ]; then
	t_ok "(a) ref status accepts our volume (name ours-vol, UUID $uuid_ours)"
else
	t_fail "(a) ref status accepts our volume" "our UUID: '$uuid_ours'" "$(last_run)"
fi

# Same flags to both implementations: every setting must read back the same.
FLAGS=(--block-size 1M --compress zstd --trash-days 2 --capacity 1 --inodes 1000
	--access-key ak-test --secret-key sk-secret-test)
jfs format "sqlite3://$T/flags-ours.db" flags-vol --bucket "$T/bk-flags-ours" "${FLAGS[@]}"
rc_o=$RC
ref format "sqlite3://$T/flags-ref.db" flags-vol --bucket "$T/bk-flags-ref" "${FLAGS[@]}"
rc_r=$RC
if [ "$rc_o" -ne 0 ] || [ "$rc_r" -ne 0 ]; then
	t_fail "(a) format with flags ${FLAGS[*]}" "ours exit $rc_o, ref exit $rc_r" "$(last_run)"
else
	ref status "sqlite3://$T/flags-ours.db"
	sed -E 's/"(UUID|Bucket)": "[^"]*"/"\1": "-"/' "$T/out" | jq -S .Setting >"$T/st-ours" 2>&1
	ref status "sqlite3://$T/flags-ref.db"
	sed -E 's/"(UUID|Bucket)": "[^"]*"/"\1": "-"/' "$T/out" | jq -S .Setting >"$T/st-ref" 2>&1
	if [ -s "$T/st-ref" ] && diff "$T/st-ref" "$T/st-ours" >"$T/diff"; then
		t_ok "(a) ref status shows the same setting for our and its volume made with the same flags"
	else
		t_fail "(a) ref status: same setting for the same flags" "diff ref ours:" "$(cat "$T/diff")"
	fi
	if diff <(stored_setting "$T/flags-ref.db") <(stored_setting "$T/flags-ours.db") >"$T/diff"; then
		t_ok "(a) stored setting JSON is byte-identical to the real client's (UUID/bucket/secret blanked)"
	else
		t_fail "(a) stored setting JSON identical" "diff ref ours:" "$(cat "$T/diff")"
	fi
	# fsck builds the object store from the setting, so it must decrypt the
	# secret key (a corrupted one fails with "format decrypt").
	ref fsck "sqlite3://$T/flags-ours.db"
	if [ "$RC" -eq 0 ] && ! grep -qi decrypt "$T/err"; then
		t_ok "(a) ref decrypts the secret key we encrypted (fsck opens the storage)"
	else
		t_fail "(a) ref decrypts our secret key" "$(last_run)" "$(grep -i decrypt "$T/err")"
	fi
fi

# ---------------------------------------------------------------- (b)
ref format "$U_REF" ref-vol --bucket "$T/bk-ref"
if [ "$RC" -ne 0 ]; then
	t_fail "ref: format a volume" "$(last_run)"
	t_done
fi
ref status "$U_REF"
uuid_ref=$(st .Setting.UUID)
jfs status "$U_REF"
if [ "$RC" -eq 0 ] && ! crashed && [ "$(st .Setting.Name)" = ref-vol ] && [ -n "$uuid_ref" ] &&
	[ "$(st .Setting.UUID)" = "$uuid_ref" ]; then
	t_ok "(b) our status reads the real client's volume (UUID $uuid_ref)"
else
	t_fail "(b) our status reads the real client's volume" "ref UUID: '$uuid_ref'" "$(last_run)"
fi
if diff <(sqlite3 "$REFDB" .schema) <(sqlite3 "$OURS" .schema) >"$T/diff"; then
	t_ok "(b) sqlite3 .schema identical to the real client's"
else
	t_fail "(b) sqlite3 .schema identical" "diff ref ours:" "$(cat "$T/diff")"
fi
if diff <(sqlite3 "$REFDB" .tables) <(sqlite3 "$OURS" .tables) >"$T/diff"; then
	t_ok "(b) sqlite3 .tables identical"
else
	t_fail "(b) sqlite3 .tables identical" "diff ref ours:" "$(cat "$T/diff")"
fi
if diff <(stored_setting "$REFDB") <(stored_setting "$OURS") >"$T/diff"; then
	t_ok "(b) default setting JSON identical (UUID/bucket/name blanked)"
else
	t_fail "(b) default setting JSON identical" "diff ref ours:" "$(cat "$T/diff")"
fi
# A fresh volume's rows: counters, root and trash nodes (times aside), row counts.
fresh_rows()
{
	local db=$1 tb
	sqlite3 "$db" "select 'counter', name, quote(value) from jfs_counter order by name"
	sqlite3 "$db" "select 'node', inode, type, flags, mode, uid, gid, nlink, length,
		quote(rdev), quote(parent), quote(access_acl_id), quote(default_acl_id),
		quote(tier_id) from jfs_node order by inode"
	for tb in $(sqlite3 "$db" "select name from sqlite_master where type='table' order by name"); do
		echo "rows $tb $(sqlite3 "$db" "select count(*) from \"$tb\"")"
	done
}
if diff <(fresh_rows "$REFDB") <(fresh_rows "$OURS") >"$T/diff"; then
	t_ok "(b) fresh volume rows identical (counters, root and trash nodes, row counts)"
else
	t_fail "(b) fresh volume rows identical" "diff ref ours:" "$(cat "$T/diff")"
fi

# ---------------------------------------------------------------- (c)
run "$JFS_MKTREE" "$U_OURS"
if [ "$RC" -eq 0 ] && [ ! -s "$T/err" ]; then
	t_ok "(c) jfs-mktree builds the test tree on our volume"
else
	t_fail "(c) jfs-mktree builds the test tree" "$(last_run)"
fi
run "$JFS_MKTREE" --print "$U_OURS"
LC_ALL=C sort "$T/out" >"$T/tree-ours"
if [ "$RC" -eq 0 ] && [ -s "$T/tree-ours" ]; then
	t_ok "(c) jfs-mktree --print lists $(grep -vc '^#' "$T/tree-ours") nodes"
else
	t_fail "(c) jfs-mktree --print" "$(last_run)"
fi
ref dump "$U_OURS" "$T/dump.json"
if [ "$RC" -eq 0 ] && python3 "$py" "$T/dump.json" 2>"$T/py.err" | LC_ALL=C sort >"$T/tree-dump" &&
	[ -s "$T/tree-dump" ]; then
	t_ok "(c) ref dump of our volume"
else
	t_fail "(c) ref dump of our volume" "$(last_run)" "$(cat "$T/py.err")"
fi
if [ -s "$T/tree-ours" ] && diff "$T/tree-dump" "$T/tree-ours" >"$T/diff"; then
	t_ok "(c) ref dump and our meta API see the same tree (names, types, modes, owners, nlink, targets, xattrs, trash, counters)"
else
	t_fail "(c) ref dump and our meta API see the same tree" "diff ref-dump ours:" \
		"$(head -n 30 "$T/diff")"
fi
# The tree must really contain what the test is about, on the real client's side.
want_in_dump()
{
	local d=$1 re=$2
	if grep -qE "$re" "$T/tree-dump"; then
		t_ok "(c) ref dump has $d"
	else
		t_fail "(c) ref dump has $d" "no line matches: $re"
	fi
}
want_in_dump "a symlink with its target" '^/dir1/sym symlink .* target=\.\./dir2/target%20with%20space'
want_in_dump "a hard-link pair with nlink 2" '^/dir2/link-a regular .* nlink=2 '
want_in_dump "xattrs on a file (binary value)" '^/dir1/file-a .*xattr:user\.bin=000125feff0a41'
want_in_dump "an xattr on a directory" '^/dir2 directory .*xattr:user\.dirattr='
want_in_dump "a fifo" '^/dir2/fifo fifo '
want_in_dump "a char device with rdev" '^/dir2/chr chardev .* rdev=259 '
want_in_dump "files owned by 1000:1000 mode 0640" '^/dir1/sub/deep/file-deep regular .*mode=0640 uid=1000 gid=1000'
want_in_dump "a sticky directory" '^/tmp directory .*mode=1777 '
want_in_dump "an escaped UTF-8 name" '^/dir1/unicod%C3%A9-%C3%BC regular '
want_in_dump "a sparse file's length" '^/dir1/sparse regular .* len=1048581 '
want_in_dump "a trashed file" '^/\.trash/[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}/[0-9]+-[0-9]+-doomed regular '
want_in_dump "a trashed directory" '^/\.trash/[^/ ]+/[0-9]+-[0-9]+-gone-dir directory '
want_in_dump "the file overwritten by rename, in trash" '^/\.trash/[^/ ]+/[0-9]+-[0-9]+-old-ver regular .*mode=0600 '
want_in_dump "the trashed link of a hard-linked file" '^/\.trash/[^/ ]+/[0-9]+-[0-9]+-tri2 regular '
want_in_dump "the renamed-over file in place" '^/dir2/old-ver regular .*mode=0640 uid=1000'
want_in_dump "a directory moved across parents" '^/dir2/moved-dir directory '

# ---------------------------------------------------------------- (d)
ref fsck "$U_OURS"
if [ "$RC" -eq 0 ]; then
	t_ok "(d) ref fsck accepts our volume"
else
	t_fail "(d) ref fsck accepts our volume" "$(last_run)" "$(grep -E 'ERROR|FATAL|WARN' "$T/err" | head -n 5)"
fi
ref fsck "$U_OURS" --path / --recursive
if [ "$RC" -eq 0 ] && ! grep -qiE 'broken|<ERROR>|<FATAL>' "$T/err"; then
	t_ok "(d) ref fsck --path / --recursive finds nothing broken in our tree"
else
	t_fail "(d) ref fsck --path / --recursive" "$(last_run)" \
		"$(grep -iE 'broken|ERROR|FATAL|WARN' "$T/err" | head -n 8)"
fi

# ---------------------------------------------------------------- (e)
ref config "$U_OURS" --trash-days 3 --yes
rc_c=$RC
jfs status "$U_OURS"
if [ "$rc_c" -eq 0 ] && [ "$(st .Setting.TrashDays)" = 3 ] && [ "$(st .Setting.UUID)" = "$uuid_ours" ]; then
	t_ok "(e) ref config --trash-days 3 on our volume; ours reads it, UUID kept"
else
	t_fail "(e) ref config on our volume" "ref config exit $rc_c" "$(last_run)"
fi
ref format "$U_OURS" ours-vol --bucket "$T/bk-ours"
rc_f=$RC
jfs status "$U_OURS"
if [ "$rc_f" -eq 0 ] && [ "$(st .Setting.UUID)" = "$uuid_ours" ] && [ "$(st .Setting.Name)" = ours-vol ]; then
	t_ok "(e) ref format with the same name on our volume succeeds, UUID kept"
else
	t_fail "(e) ref format same name on our volume" "ref format exit $rc_f" "$(last_run)"
fi
ref format "$U_OURS" other-name --bucket "$T/bk-ours"
if [ "$RC" -ne 0 ]; then
	t_ok "(e) ref refuses to reformat our volume under another name"
else
	t_fail "(e) ref refuses another name on our volume" "$(last_run)"
fi

# ---------------------------------------------------------------- (f)
ref load "sqlite3://$T/loaded.db" "$T/dump.json"
if [ "$RC" -eq 0 ]; then
	t_ok "(f) ref load of the dump into a fresh database"
	run "$JFS_MKTREE" --print "sqlite3://$T/loaded.db"
	LC_ALL=C sort "$T/out" >"$T/tree-loaded"
	if [ "$RC" -eq 0 ] && [ -s "$T/tree-loaded" ] && [ -s "$T/tree-ours" ] &&
		diff "$T/tree-ours" "$T/tree-loaded" >"$T/diff"; then
		t_ok "(f) our meta API sees the loaded tree as it saw the original (counters too)"
	else
		t_fail "(f) loaded tree equals the original" "$(last_run)" "diff original loaded:" \
			"$(head -n 30 "$T/diff")"
	fi
	jfs status "sqlite3://$T/loaded.db"
	if [ "$RC" -eq 0 ] && [ "$(st .Setting.UUID)" = "$uuid_ours" ]; then
		t_ok "(f) our status reads the loaded volume (same UUID)"
	else
		t_fail "(f) our status on the loaded volume" "$(last_run)"
	fi
else
	t_fail "(f) ref load of the dump" "$(last_run)"
fi

# ------------------------------------- our meta API on the real client's volume
run "$JFS_MKTREE" "$U_REF"
if [ "$RC" -eq 0 ] && [ ! -s "$T/err" ]; then
	t_ok "jfs-mktree builds the tree on the real client's volume"
	ref fsck "$U_REF" --path / --recursive
	if [ "$RC" -eq 0 ] && ! grep -qiE 'broken|<ERROR>|<FATAL>' "$T/err"; then
		t_ok "ref fsck accepts the tree we wrote into its volume"
	else
		t_fail "ref fsck on its volume after our writes" "$(last_run)"
	fi
	run "$JFS_MKTREE" --print "$U_REF"
	LC_ALL=C sort "$T/out" >"$T/tree-ref-ours"
	ref dump "$U_REF" "$T/dump-ref.json"
	python3 "$py" "$T/dump-ref.json" 2>/dev/null | LC_ALL=C sort >"$T/tree-ref-dump"
	if [ -s "$T/tree-ref-ours" ] && diff "$T/tree-ref-dump" "$T/tree-ref-ours" >"$T/diff"; then
		t_ok "ref dump of its own volume matches our view after our writes"
	else
		t_fail "ref dump of its volume matches our view" "diff ref-dump ours:" \
			"$(head -n 30 "$T/diff")"
	fi
else
	t_fail "jfs-mktree on the real client's volume" "$(last_run)"
fi

t_done
