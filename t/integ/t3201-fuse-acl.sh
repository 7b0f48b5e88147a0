#!/usr/bin/env bash
# POSIX ACLs through the FUSE mount, beside the real JuiceFS 1.4.2 mount.
# One sequence of setfacl/getfacl/chmod/create commands (named user and
# group entries, mask recomputation, chmod moving the mask, default ACL
# inheritance for files and directories, access allowed and denied for
# other uids through setpriv, malformed system.posix_acl_* values) runs on
# an ACL volume mounted by ours and on one mounted by the real client; the
# two transcripts must be identical. Then each volume is read by the other
# client (getfacl -R identical), Redis and PostgreSQL volumes written by
# ours are read by the real client, and a dump of the real client's volume loads into ours
# and back with the same ACLs (and the same ACL JSON as the real dump).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
command -v setfacl >/dev/null && command -v getfacl >/dev/null ||
	t_skip_all "setfacl/getfacl not installed (apt-get install acl)"
command -v setpriv >/dev/null || t_skip_all "setpriv not installed (util-linux)"
need_ref
chmod 755 "$T" # the other uids must reach the mount points

# as UID GID[,GID...] CMD...: run as another user; prints "ok" or "denied".
as()
{
	local uid=$1 gids=$2
	shift 2
	if setpriv --reuid="$uid" --regid="${gids%%,*}" --groups="$gids" -- "$@" \
		>/dev/null 2>&1; then
		echo "  uid $uid gids $gids: $*: ok"
	else
		echo "  uid $uid gids $gids: $*: denied"
	fi
}

# acl_steps DIR: the sequence; its transcript on stdout.
acl_steps()
{
	local d=$1
	mkdir -p "$d" && cd "$d" || return 1
	umask 022
	echo "== named entries"
	touch f
	setfacl -m u:1000:rw,g:2000:r f && getfacl -n f && stat -c '%a' f
	echo "== mask recomputed by a new entry"
	setfacl -m u:1001:rwx f && getfacl -n f
	echo "== explicit mask"
	setfacl -m m::r f && getfacl -n f && stat -c '%a' f
	echo "== chmod moves the mask"
	chmod 640 f && getfacl -n f
	chmod 770 f && getfacl -n f && stat -c '%a' f
	echo "== remove an entry, then all"
	setfacl -x u:1000 f && getfacl -n f
	setfacl -b f && getfacl -n f && stat -c '%a' f
	echo "== a minimal ACL is mode bits"
	setfacl -m u::rwx,g::r,o::- f && getfacl -n f && stat -c '%a' f
	getfattr -n system.posix_acl_access f 2>&1 | sed 's/^getfattr: //' | head -n 1
	echo "== default ACL inherited by files and directories"
	mkdir dd
	setfacl -d -m u:1000:rwx,g:2000:rx,o::- dd && getfacl -n dd
	touch dd/file
	mkdir dd/sub dd/sub/deeper
	mkfifo dd/fifo
	getfacl -n dd/file dd/sub dd/sub/deeper dd/fifo
	stat -c '%n %a' dd/file dd/sub dd/sub/deeper dd/fifo
	echo "== a mode without group bits ignores the ACL's named entries"
	chmod 604 dd/file && getfacl -n dd/file
	as 1000 1000 cat dd/file
	chmod 664 dd/file
	echo "== minimal default ACL"
	mkdir dm
	setfacl -d -m u::rwx,g::-,o::- dm && touch dm/x && mkdir dm/y && stat -c '%n %a' dm/x dm/y
	getfacl -n dm/x dm/y
	echo "== removing the default ACL"
	setfacl -k dd && getfacl -n dd && touch dd/after && getfacl -n dd/after
	echo "== access as other users"
	echo data >r
	chmod 600 r
	setfacl -m u:1000:r,g:2000:rw,g:2001:r r
	as 1000 1000 cat r
	as 1000 1000 sh -c 'echo x >>r'
	as 1001 1001 cat r
	as 1001 1001,2000 sh -c 'echo x >>r'
	as 1001 1001,2001 sh -c 'echo x >>r'
	as 1001 1001,2001,2000 sh -c 'echo x >>r'
	as 1000 1000 test -r r
	as 1000 1000 test -w r
	setfacl -m m::r r
	as 1001 1001,2000 sh -c 'echo x >>r'
	as 1001 1001,2000 cat r
	as 1000 1000 cat r
	mkdir -m 700 priv
	setfacl -m u:1000:rx priv
	as 1000 1000 ls priv
	as 1000 1000 touch priv/new
	as 1001 1001 ls priv
	setfacl -m u:1000:rwx priv
	as 1000 1000 touch priv/new
	stat -c '%n %u %g %a' priv/new
	as 1000 1000 rm priv/new
	echo "== setfacl by a non-owner"
	as 1000 1000 setfacl -m u:1000:rwx r
	getfacl -n r
	echo "== malformed system.posix_acl_* values"
	# short; version 1; owner twice; tag 0x40; named entry without a mask;
	# a cut entry (a named id twice: below, ours only)
	for v in 0x0200 \
		0x010000000100060000000000040004000000000020000400ffffffff \
		0x0200000001000600ffffffff01000600ffffffff04000400ffffffff20000400ffffffff \
		0x0200000001000600ffffffff04000400ffffffff20000400ffffffff40000400ffffffff \
		0x0200000001000600ffffffff02000600e803000004000400ffffffff20000400ffffffff \
		0x0200000001000600ffffffff04000400ffffffff20000400ffffffff0100; do
		setfattr -n system.posix_acl_access -v "$v" r 2>&1 | sed 's/^setfattr: //'
		setfattr -n system.posix_acl_default -v "$v" dd 2>&1 | sed 's/^setfattr: //'
	done
	getfacl -n r dd
	cd / || return 1
}

# acl_tree MP: getfacl -R of the whole tree, one line per node, sorted (listing
# orders differ: the real client lists a Redis directory in HSCAN order).
acl_tree()
{
	(cd "$1" && getfacl -R -n -p . 2>&1) | awk 'BEGIN { RS = "" } { gsub("\n", " | "); print }' |
		grep -v '^# file: ./.trash' | sort
}

# run_steps MP LABEL: the sequence under MP/steps; transcript in $T/LABEL.txt.
run_steps()
{
	acl_steps "$1/steps" >"$T/$2.txt" 2>&1
	acl_tree "$1" >"$T/$2.tree"
}

# A named user twice: the kernel (6.x) passes it through, the real client
# stores both entries; ours answers EINVAL and keeps the ACL it had.
dup_named()
{
	local before after v=0x0200000001000600ffffffff02000600e803000002000400e803000004000400ffffffff10000600ffffffff20000400ffffffff
	cd "$1" || return 1
	before=$(getfacl -n r 2>&1)
	setfattr -n system.posix_acl_access -v "$v" r 2>&1 | sed 's/^setfattr: //'
	after=$(getfacl -n r 2>&1)
	[ "$before" = "$after" ] && echo "unchanged" || echo "changed to: $after"
	cd / || return 1
}

# --- config --enable-acl on a volume without ACLs: the same lines as the real client's
jfs format "sqlite3://$T/late.db" late-ours --bucket "$T/late-ours"
jfs config "sqlite3://$T/late.db" --enable-acl --yes
ours_cfg=$(cat "$T/out")
ref format "sqlite3://$T/late-ref.db" late-ref --bucket "$T/late-ref"
ref config "sqlite3://$T/late-ref.db" --enable-acl --yes
echo "# config --enable-acl, ours: $(echo "$ours_cfg" | tr '\n' ';') real: $(tr '\n' ';' <"$T/out")"
[ "$ours_cfg" = "$(cat "$T/out")" ] && grep -q 'min-client-version: 1.1.0-A -> 1.2.0-A' "$T/out" &&
	t_ok "config --enable-acl: enable-acl and min-client-version lines as the real client's" ||
	t_fail "config --enable-acl as the real client" "ours: $ours_cfg" "real: $(cat "$T/out")"
jfs config "sqlite3://$T/late.db" --enable-acl=false
[ "$RC" -eq 1 ] && grep -q 'cannot disable acl' "$T/err" &&
	t_ok "config --enable-acl=false: 'cannot disable acl', exit 1" ||
	t_fail "config --enable-acl=false refused" "$(last_run)"

# --- ours: format, mount, the sequence
fformat acl-ours --enable-acl
jfs config "$META"
grep -q '"EnableACL": true' "$T/out" && grep -q '"MinClientVersion": "1.2.0-A"' "$T/out" &&
	t_ok "ours: format --enable-acl sets EnableACL and MinClientVersion 1.2.0-A" ||
	t_fail "ours: format --enable-acl" "$(cat "$T/out")"
OURS_META=$META
fmount "$OURS_META" "$T/mo"
[ "$RC" -eq 0 ] || { t_fail "ours: mount the ACL volume" "$(last_run)"; t_done; }
grep -q "$T/mo .*default_permissions" /proc/mounts && dp=" (the kernel sets default_permissions itself for FUSE_POSIX_ACL)"
t_ok "ours: mounts an ACL volume${dp:-}"
run_steps "$T/mo" ours

# --- the real client: format, mount, the sequence
META="sqlite3://$T/acl-ref.db"
ref format "$META" acl-ref --bucket "$T/acl-ref-bucket" --enable-acl
[ "$RC" -eq 0 ] || { t_fail "ref: format --enable-acl" "$(last_run)"; t_done; }
REF_META=$META
ref_mount "$REF_META" "$T/mr"
[ "$RC" -eq 0 ] || { t_fail "ref: mount" "$(last_run)"; t_done; }
run_steps "$T/mr" ref

echo "# transcript on ours ($(grep -c . "$T/ours.txt") lines):"
sed 's/^/#   /' "$T/ours.txt" | head -n 400
if diff -u "$T/ref.txt" "$T/ours.txt" >"$T/diff"; then
	t_ok "setfacl/getfacl/chmod/access transcript identical to the real mount's ($(grep -c . "$T/ours.txt") lines, $(grep -c ': ok$' "$T/ours.txt") allowed, $(grep -c ': denied$' "$T/ours.txt") denied)"
else
	t_fail "transcript identical to the real mount's" "$(head -n 60 "$T/diff")"
fi
grep -q 'Invalid argument' "$T/ours.txt" && t_ok "malformed ACL xattrs: Invalid argument" ||
	t_fail "malformed ACL xattrs refused" "$(grep -A14 malformed "$T/ours.txt")"
got=$(dup_named "$T/mo/steps")
[ "$got" = "$(printf 'r: Invalid argument\nunchanged')" ] &&
	t_ok "a named user twice: Invalid argument, ACL unchanged" ||
	t_fail "a named user twice: Invalid argument, ACL unchanged" "$got"

# --- each client reads the other's volume
fumount "$T/mo"
ref_umount "$T/mr"
ref_mount "$OURS_META" "$T/mo2"
acl_tree "$T/mo2" >"$T/ours-by-ref.tree"
ref_umount "$T/mo2"
diff -u "$T/ours.tree" "$T/ours-by-ref.tree" >"$T/diff" &&
	t_ok "the real client reads our volume's ACLs ($(grep -c '^# file' "$T/ours.tree") nodes)" ||
	t_fail "the real client reads our volume's ACLs" "$(head -n 40 "$T/diff")"
fmount "$REF_META" "$T/mr2"
acl_tree "$T/mr2" >"$T/ref-by-ours.tree"
as 1000 1000 cat "$T/mr2/steps/r" >"$T/ref-access.txt"
fumount "$T/mr2"
diff -u "$T/ref.tree" "$T/ref-by-ours.tree" >"$T/diff" &&
	t_ok "ours reads the real client's ACLs ($(grep -c '^# file' "$T/ref.tree") nodes)" ||
	t_fail "ours reads the real client's ACLs" "$(head -n 40 "$T/diff")"
grep -q ': ok$' "$T/ref-access.txt" && t_ok "ours enforces the real client's ACLs (uid 1000 reads r)" ||
	t_fail "ours enforces the real client's ACLs" "$(cat "$T/ref-access.txt")"

# --- rules are stored as the real client stores them: one row per distinct rule
n_ours=$(sqlite3 "$T/acl-ours.db" 'select count(*) from jfs_acl')
n_ref=$(sqlite3 "$T/acl-ref.db" 'select count(*) from jfs_acl')
rows()
{
	sqlite3 "$1" 'select owner,"group",mask,other,hex(named_users),hex(named_groups) from jfs_acl' | sort
}
if [ "$(rows "$T/acl-ours.db")" = "$(rows "$T/acl-ref.db")" ]; then
	t_ok "jfs_acl holds the same distinct rules as the real client's ($n_ours rows)"
else
	t_fail "jfs_acl rows as the real client's" "ours $n_ours, ref $n_ref" \
		"$(diff <(rows "$T/acl-ref.db") <(rows "$T/acl-ours.db") | head -n 20)"
fi

# --- dump/load: the real client's volume through ours and back
jfs dump "$REF_META" "$T/ours.json"
ref dump "$REF_META" "$T/ref.json"
acls_of()
{
	grep -o '"posix_acl_[a-z]*": {[^}]*}' "$1" | sort
}
if [ "$(acls_of "$T/ours.json")" = "$(acls_of "$T/ref.json")" ] && [ -n "$(acls_of "$T/ours.json")" ]; then
	t_ok "dump: ACL JSON identical to the real client's ($(acls_of "$T/ours.json" | wc -l) ACLs)"
else
	t_fail "dump: ACL JSON identical" "$(diff <(acls_of "$T/ref.json") <(acls_of "$T/ours.json") | head -n 20)"
fi
jfs load "sqlite3://$T/loaded.db" "$T/ours.json"
[ "$RC" -eq 0 ] || t_fail "ours: load the dump" "$(last_run)"
fmount "sqlite3://$T/loaded.db" "$T/ml"
acl_tree "$T/ml" >"$T/loaded.tree"
fumount "$T/ml"
diff -u "$T/ref.tree" "$T/loaded.tree" >"$T/diff" &&
	t_ok "dump by ours, load by ours: getfacl -R identical" ||
	t_fail "dump/load round trip keeps ACLs" "$(head -n 40 "$T/diff")"
ref load "sqlite3://$T/refloaded.db" "$T/ours.json"
ref_mount "sqlite3://$T/refloaded.db" "$T/mrl"
acl_tree "$T/mrl" >"$T/refloaded.tree"
ref_umount "$T/mrl"
diff -u "$T/ref.tree" "$T/refloaded.tree" >"$T/diff" &&
	t_ok "dump by ours, load by the real client: getfacl -R identical" ||
	t_fail "our dump loads into the real client with its ACLs" "$(head -n 40 "$T/diff")"
jfs dump "sqlite3://$T/loaded.db" "$T/again.json"
[ "$(acls_of "$T/again.json")" = "$(acls_of "$T/ours.json")" ] &&
	t_ok "dump of the loaded volume: same ACL JSON" ||
	t_fail "dump of the loaded volume: same ACL JSON" "$(diff <(acls_of "$T/ours.json") <(acls_of "$T/again.json") | head)"

# --- Redis: the same sequence through ours, read by the real client
if command -v redis-server >/dev/null; then
	rport=$(free_port)
	mkdir -p "$T/redis"
	t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
		--appendonly no --daemonize no --logfile "$T/redis/log"
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
	R=redis://127.0.0.1:$rport/1
	jfs format "$R" acl-redis --bucket "$T/acl-redis-bucket" --enable-acl
	fmount "$R" "$T/mrd"
	run_steps "$T/mrd" redis
	fumount "$T/mrd"
	diff -u "$T/ref.txt" "$T/redis.txt" >"$T/diff" &&
		t_ok "Redis volume: transcript identical to the real mount's" ||
		t_fail "Redis volume: transcript identical" "$(head -n 40 "$T/diff")"
	ref_mount "$R" "$T/mrd2"
	acl_tree "$T/mrd2" >"$T/redis-by-ref.tree"
	ref_umount "$T/mrd2"
	diff -u "$T/redis.tree" "$T/redis-by-ref.tree" >"$T/diff" &&
		t_ok "Redis volume: the real client reads our ACLs (acl hash, aclMaxId $(redis-cli -p "$rport" -n 1 get aclMaxId))" ||
		t_fail "Redis volume: the real client reads our ACLs" "$(head -n 40 "$T/diff")"
else
	t_skip "Redis leg" "redis-server not installed"
fi

# --- PostgreSQL: the same through ours, read by the real client, jfs_acl rows as SQLite's
have_pg=
for b in /usr/lib/postgresql/*/bin; do [ -x "$b/postgres" ] && have_pg=1; done
if [ -n "$have_pg" ]; then
	pg_start
	pg_createdb aclpg
	P="postgres://postgres@127.0.0.1:$PG_PORT/aclpg?sslmode=disable"
	jfs format "$P" acl-pg --bucket "$T/acl-pg-bucket" --enable-acl
	fmount "$P" "$T/mpg"
	run_steps "$T/mpg" pg
	fumount "$T/mpg"
	diff -u "$T/ref.txt" "$T/pg.txt" >"$T/diff" &&
		t_ok "PostgreSQL volume: transcript identical to the real mount's" ||
		t_fail "PostgreSQL volume: transcript identical" "$(head -n 40 "$T/diff")"
	ref_mount "$P" "$T/mpg2"
	acl_tree "$T/mpg2" >"$T/pg-by-ref.tree"
	ref_umount "$T/mpg2"
	diff -u "$T/pg.tree" "$T/pg-by-ref.tree" >"$T/diff" &&
		t_ok "PostgreSQL volume: the real client reads our ACLs" ||
		t_fail "PostgreSQL volume: the real client reads our ACLs" "$(head -n 40 "$T/diff")"
	pg_sql aclpg "select owner,\"group\",mask,other,upper(encode(named_users,'hex')),upper(encode(named_groups,'hex')) from jfs_acl"
	[ "$(sort "$T/out")" = "$(rows "$T/acl-ref.db")" ] &&
		t_ok "PostgreSQL jfs_acl: the same distinct rules as the real client's SQLite ($(grep -c . "$T/out") rows)" ||
		t_fail "PostgreSQL jfs_acl rows" "$(diff <(rows "$T/acl-ref.db") <(sort "$T/out") | head -n 20)"
	pg_stop
else
	t_skip "PostgreSQL leg" "postgresql server not installed"
fi

# last, since it changes the real client's volume
ref_mount "$REF_META" "$T/mr3"
echo "# a named user twice, real client: $(dup_named "$T/mr3/steps" | tr '\n' ' ' | cut -c1-200)"
ref_umount "$T/mr3"

fcheck_logs
t_done
