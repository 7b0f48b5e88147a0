#!/usr/bin/env bash
# CLI basics: version and help, format/status/config/destroy on sqlite3 + file
# (and mem) storage, and every bad-input case of the Foundation issue: one line
# on stderr, a non-zero exit, nothing changed on disk, no crash.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"

CMDS="format status config destroy version"

# ---------------------------------------------------------------- version, help
jfs version
if [ "$RC" -eq 0 ] && grep -qE '^juicefs version [0-9]+\.[0-9]+' "$T/out"; then
	t_ok "version: $(head -n 1 "$T/out")"
else
	t_fail "version prints 'juicefs version X.Y...'" "$(last_run)"
fi
jfs --version
if [ "$RC" -eq 0 ] && grep -qE '^juicefs version [0-9]+\.[0-9]+' "$T/out"; then
	t_ok "--version"
else
	t_fail "--version" "$(last_run)"
fi
jfs --help
if [ "$RC" -eq 0 ]; then
	miss=""
	for c in $CMDS; do grep -qw "$c" "$T/out" || miss="$miss $c"; done
	if [ -z "$miss" ]; then t_ok "--help lists every command"; else t_fail "--help lists every command" "missing:$miss"; fi
else
	t_fail "--help" "$(last_run)"
fi
for c in $CMDS; do
	for h in --help -h; do
		jfs "$c" "$h"
		if [ "$RC" -eq 0 ] && [ -s "$T/out" ] && grep -q "$c" "$T/out" && ! crashed; then
			t_ok "$c $h"
		else
			t_fail "$c $h: exit 0 with usage on stdout" "$(last_run)"
		fi
	done
done
# The flags the issue names, as JuiceFS spells them.
help_has()
{
	local c=$1 miss="" f
	shift
	jfs "$c" --help
	for f in "$@"; do grep -qE -- "$f([ ,=]|\$)" "$T/out" || miss="$miss $f"; done
	if [ "$RC" -eq 0 ] && [ -z "$miss" ]; then
		t_ok "$c --help documents $*"
	else
		t_fail "$c --help documents its flags" "exit $RC, missing:$miss"
	fi
}
help_has format --block-size --capacity --inodes --compress --shards --hash-prefix --trash-days \
	--storage --bucket --access-key --secret-key --force --no-update
help_has config --trash-days --capacity --inodes --yes
help_has destroy --yes --force
for g in --verbose --quiet "--log-level debug"; do
	# shellcheck disable=SC2086
	jfs $g version
	if [ "$RC" -eq 0 ] && grep -q '^juicefs version' "$T/out"; then
		t_ok "global flag $g"
	else
		t_fail "global flag $g" "$(last_run)"
	fi
done

# ---------------------------------------------------------------- happy path
DB=$T/v.db
URL=sqlite3://$DB
BK=$T/bucket
jfs format "$URL" myjfs --bucket "$BK"
if [ "$RC" -eq 0 ] && [ -f "$DB" ] && ! crashed; then
	t_ok "format sqlite3 + file storage"
else
	t_fail "format sqlite3 + file storage" "$(last_run)"
	t_done
fi
jfs status "$URL"
UUID=$(st .Setting.UUID)
if [ "$RC" -eq 0 ] && [ "$(st .Setting.Name)" = myjfs ] &&
	[[ $UUID =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] &&
	[ "$(st '.Sessions | type')" = array ]; then
	t_ok "status: JSON with Setting (name myjfs, UUID v4) and Sessions"
else
	t_fail "status JSON" "$(last_run)"
fi
got=$(st '[.Setting.Storage, .Setting.Bucket, .Setting.BlockSize, .Setting.Compression, .Setting.TrashDays, .Setting.MetaVersion] | map(tostring) | join(" ")')
if [ "$got" = "file $BK/ 4096 none 1 1" ]; then
	t_ok "status: JuiceFS defaults (file, absolute bucket with /, 4096 KiB, none, trash 1, MetaVersion 1)"
else
	t_fail "status shows the format defaults" "got: $got" "want: file $BK/ 4096 none 1 1"
fi
if [ "$(cat "$BK/myjfs/juicefs_uuid" 2>/dev/null)" = "$UUID" ]; then
	t_ok "format wrote <bucket>/myjfs/juicefs_uuid with the UUID"
else
	t_fail "juicefs_uuid object" "$(find "$BK" 2>&1 | head -n 5)"
fi
if [ -z "$(find "$BK" -path '*testing*' -type f 2>/dev/null)" ]; then
	t_ok "format removed its storage probe object"
else
	t_fail "storage probe left behind" "$(find "$BK" -path '*testing*' -type f)"
fi

jfs format "$URL" myjfs --bucket "$BK"
rc=$RC
jfs status "$URL"
if [ "$rc" -eq 0 ] && [ "$(st .Setting.UUID)" = "$UUID" ]; then
	t_ok "format again with the same name succeeds and keeps the UUID"
else
	t_fail "re-format with the same name" "format exit $rc" "$(last_run)"
fi
jfs format "$URL" myjfs --bucket "$BK" --capacity 2 --inodes 500
rc=$RC
jfs status "$URL"
if [ "$rc" -eq 0 ] && [ "$(st .Setting.Capacity)" = 2147483648 ] && [ "$(st .Setting.Inodes)" = 500 ] &&
	[ "$(st .Setting.UUID)" = "$UUID" ]; then
	t_ok "re-format updates capacity (bare number = GiB) and inodes"
else
	t_fail "re-format updates capacity/inodes" "format exit $rc" "$(last_run)"
fi
jfs format "$URL" myjfs --bucket "$BK" --capacity 7 --no-update
rc=$RC
jfs status "$URL"
if [ "$rc" -eq 0 ] && [ "$(st .Setting.Capacity)" = 2147483648 ]; then
	t_ok "format --no-update changes nothing"
else
	t_fail "format --no-update" "format exit $rc" "$(last_run)"
fi

DB2=$T/flags.db
jfs format "sqlite3://$DB2" flags-vol --bucket "$T/bk-flags" --block-size 1M --compress lz4 \
	--shards 0 --hash-prefix --capacity 1G --inodes 1000 --trash-days 3 \
	--access-key ak --secret-key sk-very-secret
rc=$RC
jfs status "sqlite3://$DB2"
got=$(st '[.Setting.BlockSize, .Setting.Compression, .Setting.HashPrefix, .Setting.Capacity, .Setting.Inodes, .Setting.TrashDays, .Setting.AccessKey, .Setting.SecretKey] | map(tostring) | join(" ")')
if [ "$rc" -eq 0 ] && [ "$got" = "1024 lz4 true 1073741824 1000 3 ak removed" ]; then
	t_ok "format flags read back; status masks the secret key"
else
	t_fail "format flags read back" "format exit $rc" "got: $got" \
		"want: 1024 lz4 true 1073741824 1000 3 ak removed"
fi
if [ -f "$DB2" ] && ! sqlite3 "$DB2" "select value from jfs_setting" | grep -q sk-very-secret &&
	sqlite3 "$DB2" "select value from jfs_setting" | grep -q '"KeyEncrypted": true'; then
	t_ok "the secret key is stored encrypted (KeyEncrypted)"
else
	t_fail "secret stored encrypted" "$(sqlite3 "$DB2" 'select value from jfs_setting' 2>&1 | grep -E 'Secret|KeyEnc')"
fi
for bs in "512:512" "3000:2048" "16M:16384"; do
	rm -rf "$T/bs.db" "$T/bk-bs"
	jfs format "sqlite3://$T/bs.db" bs-vol --bucket "$T/bk-bs" --block-size "${bs%%:*}"
	rc=$RC
	jfs status "sqlite3://$T/bs.db"
	if [ "$rc" -eq 0 ] && [ "$(st .Setting.BlockSize)" = "${bs##*:}" ]; then
		t_ok "--block-size ${bs%%:*} gives BlockSize ${bs##*:} (KiB, power of two)"
	else
		t_fail "--block-size ${bs%%:*} gives ${bs##*:}" "format exit $rc" "$(last_run)"
	fi
done
jfs format "sqlite3://$T/mem.db" mem-vol --storage mem
rc=$RC
jfs status "sqlite3://$T/mem.db"
if [ "$rc" -eq 0 ] && [ "$(st .Setting.Storage)" = mem ]; then
	t_ok "format --storage mem"
else
	t_fail "format --storage mem" "format exit $rc" "$(last_run)"
fi

jfs config "$URL" --trash-days 5 --capacity 10G --inodes 5000 -y
rc=$RC
jfs status "$URL"
got=$(st '[.Setting.TrashDays, .Setting.Capacity, .Setting.Inodes, .Setting.UUID] | map(tostring) | join(" ")')
if [ "$rc" -eq 0 ] && [ "$got" = "5 10737418240 5000 $UUID" ]; then
	t_ok "config --trash-days --capacity 10G --inodes"
else
	t_fail "config changes trash-days/capacity/inodes" "config exit $rc" "got: $got"
fi
jfs config "$URL"
if [ "$RC" -eq 0 ] && grep -q myjfs "$T/out" && ! crashed; then
	t_ok "config without flags prints the setting"
else
	t_fail "config without flags" "$(last_run)"
fi

# ---------------------------------------------------------------- bad input
# Each: one line on stderr, non-zero exit (not a signal), no sanitizer report,
# watched paths unchanged.
bad_input "unknown URL scheme (status)" "" -- status foo://bar/x.db
bad_input "unknown URL scheme (format)" "$T/bk-x" -- format foo://x/y.db vol --bucket "$T/bk-x"
bad_input "redis:// is not built yet" "" -- status redis://127.0.0.1:6379/1
bad_input "missing database (status)" "$T/missing.db" -- status "sqlite3://$T/missing.db"
bad_input "missing database (config)" "$T/missing.db" -- config "sqlite3://$T/missing.db" --trash-days 2
bad_input "missing database (destroy)" "$T/missing.db" -- destroy "sqlite3://$T/missing.db" "$UUID" --yes
bad_input "empty sqlite3 path" "" -- status sqlite3://
bad_input "missing directory of the database (format)" "$T/nodir $T/bk-nd" -- \
	format "sqlite3://$T/nodir/x.db" vol --bucket "$T/bk-nd"
echo "not a database, just text that is long enough to look like something" >"$T/afile"
bad_input "database path under a regular file (ENOTDIR)" "$T/afile $T/bk-nd" -- \
	format "sqlite3://$T/afile/x.db" vol --bucket "$T/bk-nd"
mkdir -p "$T/ro"
if chattr +i "$T/ro" 2>/dev/null; then
	T_IMMUTABLE+=("$T/ro")
	bad_input "database in an immutable directory" "$T/ro $T/bk-nd" -- \
		format "sqlite3://$T/ro/x.db" vol --bucket "$T/bk-nd"
else
	t_skip "database in an immutable directory" "chattr +i not supported here"
fi
head -c 8192 /dev/urandom >"$T/notdb"
bad_input "a file that is not a database (status)" "$T/notdb" -- status "sqlite3://$T/notdb"
bad_input "a file that is not a database (format)" "$T/notdb $T/bk-nd" -- \
	format "sqlite3://$T/notdb" vol --bucket "$T/bk-nd"
bad_input "a text file that is not a database (config)" "$T/afile" -- config "sqlite3://$T/afile" --trash-days 2
sqlite3 "$T/other.db" "create table t(x); insert into t values(42);"
bad_input "a database that is not a volume (status)" "$T/other.db" -- status "sqlite3://$T/other.db"
bad_input "a database that is not a volume (config)" "$T/other.db" -- config "sqlite3://$T/other.db" --trash-days 2
bad_input "a database that is not a volume (destroy)" "$T/other.db" -- \
	destroy "sqlite3://$T/other.db" "$UUID" --yes
for n in Bad_Name ab a.bc abc- "a b c" "$(printf 'a%.0s' $(seq 64))"; do
	bad_input "bad volume name '$n'" "$T/new.db $T/bk-new" -- \
		format "sqlite3://$T/new.db" "$n" --bucket "$T/bk-new"
done
bad_input "bad volume name on an existing volume" "$DB $BK" -- format "$URL" BAD --bucket "$BK"
bad_input "bad size suffix (--capacity 10X)" "$T/new.db $T/bk-new" -- \
	format "sqlite3://$T/new.db" newvol --bucket "$T/bk-new" --capacity 10X
bad_input "bad size suffix (--block-size 4Q)" "$T/new.db $T/bk-new" -- \
	format "sqlite3://$T/new.db" newvol --bucket "$T/bk-new" --block-size 4Q
bad_input "bad number (--inodes abc)" "$T/new.db $T/bk-new" -- \
	format "sqlite3://$T/new.db" newvol --bucket "$T/bk-new" --inodes abc
bad_input "bad compression (--compress gzip)" "$T/new.db $T/bk-new" -- \
	format "sqlite3://$T/new.db" newvol --bucket "$T/bk-new" --compress gzip
bad_input "bad size suffix in config (--capacity 1Z)" "$DB" -- config "$URL" --capacity 1Z -y
bad_input "bad number in config (--trash-days x)" "$DB" -- config "$URL" --trash-days x -y
bad_input "unknown flag (format)" "$T/new.db $T/bk-new" -- \
	format "sqlite3://$T/new.db" newvol --bucket "$T/bk-new" --no-such-flag
bad_input "unknown flag (status)" "$DB" -- status "$URL" --bogus
bad_input "unknown flag (config)" "$DB" -- config "$URL" --bogus -y
bad_input "unknown flag (destroy)" "$DB $BK" -- destroy "$URL" "$UUID" --bogus
bad_input "unknown global flag" "" -- --no-such-global version
bad_input "unknown command" "" -- no-such-command
bad_input "missing argument (format without NAME)" "$T/new.db" -- format "sqlite3://$T/new.db"
bad_input "missing argument (status without META-URL)" "" -- status
bad_input "reformat under another name is refused" "$DB $BK" -- format "$URL" othername --bucket "$BK"
bad_input "destroy with the wrong UUID" "$DB $BK" -- \
	destroy "$URL" 00000000-0000-4000-8000-000000000000 --yes

# Bucket directory that cannot be written.
bad_input "bucket under a regular file (ENOTDIR), new volume" "$T/new.db $T/afile" -- \
	format "sqlite3://$T/new.db" newvol --bucket "$T/afile/bucket"
bad_input "bucket under a regular file (ENOTDIR), existing volume" "$DB $T/afile" -- \
	format "$URL" myjfs --bucket "$T/afile/bucket"
mkdir -p "$T/robk"
if chattr +i "$T/robk" 2>/dev/null; then
	T_IMMUTABLE+=("$T/robk")
	bad_input "immutable bucket directory" "$T/new.db $T/robk" -- \
		format "sqlite3://$T/new.db" newvol --bucket "$T/robk"
else
	t_skip "immutable bucket directory" "chattr +i not supported here"
fi
# Bucket directory on a full file system.
mkdir -p "$T/full"
if mount -t tmpfs -o size=1m,nr_inodes=64 tmpfs "$T/full" 2>"$T/mount.err"; then
	T_MOUNTS+=("$T/full")
	mkdir -p "$T/full/bucket"
	dd if=/dev/zero of="$T/full/filler" bs=4k >/dev/null 2>&1 || true
	bad_input "bucket directory on a full file system" "$T/new.db $T/full/bucket" -- \
		format "sqlite3://$T/new.db" newvol --bucket "$T/full/bucket"
else
	echo "# SKIP reason: mount tmpfs failed: $(head -n 1 "$T/mount.err")"
	t_skip "bucket directory on a full file system" "mount tmpfs failed: $(head -n 1 "$T/mount.err")"
fi

# ---------------------------------------------------------------- destroy
jfs destroy "$URL" "$UUID" --yes
rc=$RC
left=$(find "$BK/myjfs" -type f 2>/dev/null | head -n 5)
jfs status "$URL"
if [ "$rc" -eq 0 ] && [ "$RC" -ne 0 ] && [ -z "$left" ]; then
	t_ok "destroy removes the volume's metadata and objects"
else
	t_fail "destroy" "destroy exit $rc, status after: exit $RC" "objects left: $left"
fi
jfs format "$URL" myjfs --bucket "$BK"
rc=$RC
jfs status "$URL"
if [ "$rc" -eq 0 ] && [ -n "$(st .Setting.UUID)" ] && [ "$(st .Setting.UUID)" != "$UUID" ]; then
	t_ok "format after destroy creates a new volume (new UUID)"
else
	t_fail "format after destroy" "format exit $rc" "$(last_run)"
fi

t_done
