# The body of the real-client oracle test for an SQL metadata engine, sourced
# by t1501-pg-ref.sh and t1601-mysql-ref.sh after lib.sh and `sql_engine`
# (which binds the db_* names). engine_checks_a, when the caller defines it,
# runs engine-specific checks at the end of (a) (the URL forms it accepts).
#
# (a) a volume formatted by ours and one formatted by the real client have
#     the same schema (as the engine's own tool shows it) and the same
#     counter rows; the real client's status reads ours;
# (b) the jfs-mktree tree (dirs, files, symlinks, hard links, xattrs) built
#     by ours comes out of the real client's dump as our meta API sees it,
#     and its fsck finds nothing broken;
# (c) data both ways: a 70 MiB file (two chunks) and a small one written by
#     ours are read byte-exact by the real client (its WebDAV), and a volume
#     the real client filled (its WebDAV) is read by ours (tree and bytes);
#     gc and fsck of each client accept the other's volume;
# (d) dump/load across: our dump loaded by the real client, its dump loaded
#     by ours, both give the source's tree;
# (e) a gateway of ours killed -9 while it holds a file open and unlinked
#     (a slow GET, then DELETE): its session and sustained inode stay behind,
#     another client of ours cleans them up and the inode is released.

: "${JFS_FSCP:=$PWD/t/tools/jfs-fscp}"
need_bin "$JFS_BIN" "$JFS_MKTREE" "$JFS_FSCP"
need_ref
unset META_PASSWORD MINIO_ROOT_USER MINIO_ROOT_PASSWORD
py=$(dirname "$0")/norm-dump.py

db_start
for db in ours refv loadr loadv; do db_createdb "$db"; done
O=$(db_url ours)
R=$(db_url refv)

# ---------------------------------------------------------------- (a)
jfs format "$O" ours-vol --bucket "$T/bk-ours"
[ "$RC" -eq 0 ] || { t_fail "ours: format $O" "$(last_run)"; t_done; }
ref format "$R" ref-vol --bucket "$T/bk-ref"
[ "$RC" -eq 0 ] || { t_fail "ref: format $R" "$(last_run)"; t_done; }
t_ok "(a) both clients format a $ENGINE volume"
db_schema ours >"$T/schema-ours"
db_schema refv >"$T/schema-ref"
if [ -s "$T/schema-ref" ] && diff "$T/schema-ref" "$T/schema-ours" >"$T/diff"; then
	t_ok "(a) the same schema as the real client's ($(grep -c 'CREATE TABLE' "$T/schema-ours") tables)"
else
	t_fail "(a) same schema as the real client's" "diff ref ours:" "$(head -n 30 "$T/diff")"
fi
db_sql ours "SELECT name, value FROM jfs_counter ORDER BY name"
cp "$T/out" "$T/counters-ours"
db_sql refv "SELECT name, value FROM jfs_counter ORDER BY name"
if [ -s "$T/out" ] && diff "$T/out" "$T/counters-ours" >"$T/diff"; then
	t_ok "(a) the same counter rows as the real client's"
else
	t_fail "(a) counter rows" "$(cat "$T/diff")"
fi
ref status "$O"
# the real client's xorm logs its pings to stdout, before the JSON
sed -i '/^\[xorm\]/d' "$T/out"
if [ "$RC" -eq 0 ] && [ "$(st .Setting.Name)" = ours-vol ]; then
	t_ok "(a) ref status reads our $ENGINE volume"
else
	t_fail "(a) ref status of our volume" "$(last_run)"
fi

declare -F engine_checks_a >/dev/null && engine_checks_a

# ---------------------------------------------------------------- (b)
run "$JFS_MKTREE" "$O"
if [ "$RC" -eq 0 ] && [ ! -s "$T/err" ]; then
	t_ok "(b) jfs-mktree builds the test tree on $ENGINE"
else
	t_fail "(b) jfs-mktree on $ENGINE" "$(last_run)"
fi
run "$JFS_MKTREE" --print "$O"
LC_ALL=C sort "$T/out" >"$T/tree-ours"
ref dump "$O" "$T/dump-ours-by-ref.json"
python3 "$py" "$T/dump-ours-by-ref.json" 2>"$T/py.err" | LC_ALL=C sort >"$T/tree-dump"
if [ -s "$T/tree-ours" ] && grep -q ' symlink ' "$T/tree-ours" && grep -q 'xattr' "$T/tree-ours" &&
	diff "$T/tree-dump" "$T/tree-ours" >"$T/diff"; then
	t_ok "(b) ref dump and our meta API see the same tree ($(nlines "$T/tree-ours") lines, symlinks and xattrs)"
else
	t_fail "(b) ref dump equals our view" "$(cat "$T/py.err")" "diff ref-dump ours:" "$(head -n 30 "$T/diff")"
fi
ref fsck "$O" --path / --recursive
if [ "$RC" -eq 0 ] && ! grep -qiE 'broken|<ERROR>|<FATAL>' "$T/err"; then
	t_ok "(b) ref fsck --path / --recursive finds nothing broken in our tree"
else
	t_fail "(b) ref fsck of our tree" "$(last_run)"
fi

# ---------------------------------------------------------------- (c)
head -c $((70 << 20)) /dev/urandom >"$T/big.bin"
printf 'hello from %s' "$ENGINE" >"$T/small.txt"
run "$JFS_FSCP" put "$O" "$T/big.bin" /data/big.bin
rc1=$RC
run "$JFS_FSCP" put "$O" "$T/small.txt" /data/small.txt
if [ "$rc1" -eq 0 ] && [ "$RC" -eq 0 ]; then
	t_ok "(c) ours writes a 70 MiB file (two chunks) and a small one"
else
	t_fail "(c) ours writes files" "$(last_run)"
fi
# ref_dav META: the real client's WebDAV on META; DAV gets its URL, DAV_PID its PID.
ref_dav()
{
	local port
	port=$(free_port)
	DAV=http://127.0.0.1:$port
	"$JFS_REF" webdav "$1" "127.0.0.1:$port" --no-bgjob --no-usage-report \
		--metrics "127.0.0.1:$(free_port)" >>"$T/webdav.log" 2>&1 </dev/null &
	DAV_PID=$!
	T_PIDS+=("$DAV_PID")
	for _ in $(seq 150); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -X PROPFIND -H 'Depth: 0' "$DAV/" 2>/dev/null)" = 207 ] &&
			return 0
		kill -0 "$DAV_PID" 2>/dev/null || break
		sleep 0.1
	done
	t_fail "ref webdav starts on $1" "$(tail -n 5 "$T/webdav.log")"
	t_done
}
ref_dav "$O"
curl -s -o "$T/big.back" "$DAV/data/big.bin"
curl -s -o "$T/small.back" "$DAV/data/small.txt"
if cmp -s "$T/big.bin" "$T/big.back" && cmp -s "$T/small.txt" "$T/small.back"; then
	t_ok "(c) the real client reads both files we wrote byte-exact"
else
	t_fail "(c) the real client reads our files" "$(ls -l "$T"/*.back)"
fi
kill "$DAV_PID"
wait "$DAV_PID" 2>/dev/null
ref fsck "$O"
if [ "$RC" -eq 0 ]; then
	t_ok "(c) ref fsck (every block of every slice) accepts our volume"
else
	t_fail "(c) ref fsck of our volume" "$(last_run)"
fi
ref gc "$O"
if [ "$RC" -eq 0 ] && ! grep -qiE 'leaked [1-9]|<ERROR>|<FATAL>' "$T/err"; then
	t_ok "(c) ref gc (dry run) finds no leaked object in our volume"
else
	t_fail "(c) ref gc of our volume" "$(last_run)"
fi

ref_dav "$R"
errs=""
dav()
{
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@")
	case "$code" in 2??) ;; *) errs="$errs $* -> $code;" ;; esac
}
dav -X MKCOL "$DAV/d/"
dav -X MKCOL "$DAV/d/sub/"
dav -T "$T/small.txt" "$DAV/d/sub/x"
dav -T "$T/big.bin" "$DAV/d/big.bin"
dav -T "$T/small.txt" "$DAV/gone"
dav -X DELETE "$DAV/gone"
kill "$DAV_PID"
wait "$DAV_PID" 2>/dev/null
if [ -z "$errs" ]; then
	t_ok "(c) the real client fills its $ENGINE volume (dirs, files, a delete)"
else
	t_fail "(c) ref webdav operations" "$errs"
fi
run "$JFS_FSCP" get "$R" /d/big.bin "$T/big.back2"
if [ "$RC" -eq 0 ] && cmp -s "$T/big.bin" "$T/big.back2"; then
	t_ok "(c) ours reads the real client's 70 MiB file byte-exact"
else
	t_fail "(c) ours reads the real client's file" "$(last_run)"
fi
run "$JFS_MKTREE" --print "$R"
LC_ALL=C sort "$T/out" >"$T/tree-refv-ours"
ref dump "$R" "$T/dump-refv.json"
python3 "$py" "$T/dump-refv.json" 2>/dev/null | LC_ALL=C sort >"$T/tree-refv-dump"
if [ -s "$T/tree-refv-ours" ] && diff "$T/tree-refv-dump" "$T/tree-refv-ours" >"$T/diff"; then
	t_ok "(c) our meta API sees the real client's tree exactly as its dump does"
else
	t_fail "(c) our view of the real client's tree" "diff ref-dump ours:" "$(head -n 30 "$T/diff")"
fi
jfs fsck "$R"
rc1=$RC
jfs gc "$R"
if [ "$rc1" -eq 0 ] && [ "$RC" -eq 0 ] && ! crashed; then
	t_ok "(c) our fsck and gc accept the real client's volume"
else
	t_fail "(c) our fsck/gc of the real client's volume" "fsck exit $rc1" "$(last_run)"
fi
jfs status "$R"
if [ "$RC" -eq 0 ] && [ "$(st .Setting.Name)" = ref-vol ]; then
	t_ok "(c) our status reads the real client's volume"
else
	t_fail "(c) our status of the real client's volume" "$(last_run)"
fi

# ---------------------------------------------------------------- (d)
jfs dump "$O" "$T/dump-ours.json"
rc1=$RC
ref load "$(db_url loadr)" "$T/dump-ours.json"
rc2=$RC
ref dump "$(db_url loadr)" "$T/dump-loadr.json"
python3 "$py" "$T/dump-loadr.json" 2>/dev/null | LC_ALL=C sort >"$T/tree-loadr"
python3 "$py" "$T/dump-ours.json" 2>/dev/null | LC_ALL=C sort >"$T/tree-dump-ours"
if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ -s "$T/tree-loadr" ] &&
	diff "$T/tree-dump-ours" "$T/tree-loadr" >"$T/diff"; then
	t_ok "(d) our dump, loaded by the real client into $ENGINE, dumps to the same tree"
else
	t_fail "(d) our dump loaded by the real client" "dump $rc1 load $rc2" "$(last_run)" \
		"$(head -n 20 "$T/diff")"
fi
jfs load "$(db_url loadv)" "$T/dump-refv.json"
rc1=$RC
run "$JFS_MKTREE" --print "$(db_url loadv)"
LC_ALL=C sort "$T/out" >"$T/tree-loadv"
if [ "$rc1" -eq 0 ] && [ -s "$T/tree-loadv" ] && diff "$T/tree-refv-dump" "$T/tree-loadv" >"$T/diff"; then
	t_ok "(d) the real client's dump, loaded by ours into $ENGINE, gives its tree"
else
	t_fail "(d) the real client's dump loaded by ours" "load exit $rc1" "$(head -n 20 "$T/diff")"
fi
run "$JFS_FSCP" get "$(db_url loadv)" /d/big.bin "$T/big.back3"
if [ "$RC" -eq 0 ] && cmp -s "$T/big.bin" "$T/big.back3"; then
	t_ok "(d) the loaded volume reads the 70 MiB file byte-exact"
else
	t_fail "(d) data of the loaded volume" "$(last_run)"
fi

# ---------------------------------------------------------------- (e)
export MINIO_ROOT_USER=sqlak1 MINIO_ROOT_PASSWORD=sqlsecret1
S3C=(curl -s --max-time 120 --aws-sigv4 "aws:amz:us-east-1:s3" --user "sqlak1:sqlsecret1")
# gw NAME: a gateway of ours on $O (heartbeat 1 s); GW gets its URL, GW_PID its PID.
gw()
{
	local port
	port=$(free_port)
	GW=http://127.0.0.1:$port
	setsid "$JFS_BIN" gateway "$O" "127.0.0.1:$port" --cache-dir none --no-banner --heartbeat 1s \
		--metrics "127.0.0.1:$(free_port)" >>"$T/gw-$1.log" 2>&1 </dev/null &
	GW_PID=$!
	T_PIDS+=("$GW_PID")
	for _ in $(seq 150); do
		curl -s -o /dev/null "$GW/" && return 0
		sleep 0.1
	done
	t_fail "gateway $1 starts" "$(tail -n 5 "$T/gw-$1.log")"
	t_done
}
# without trash, an unlinked file open somewhere is sustained by that session
jfs config "$O" --trash-days 0 --yes
[ "$RC" -eq 0 ] || t_fail "(e) config --trash-days 0" "$(last_run)"
gw one
"${S3C[@]}" -o /dev/null -T "$T/big.bin" "$GW/ours-vol/held.bin"
db_sql ours "SELECT e.inode FROM jfs_edge e WHERE e.name = $(db_name held.bin) AND e.parent = 1"
ino=$(cat "$T/out")
# A GET read slowly keeps the file open in the gateway; DELETE it meanwhile.
curl -s --max-time 300 --limit-rate 200k --aws-sigv4 "aws:amz:us-east-1:s3" \
	--user "sqlak1:sqlsecret1" -o "$T/slow.part" "$GW/ours-vol/held.bin" &
slow=$!
T_PIDS+=("$slow")
for _ in $(seq 100); do
	[ -s "$T/slow.part" ] && break
	sleep 0.1
done
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -X DELETE "$GW/ours-vol/held.bin")
db_sql ours "SELECT sid FROM jfs_sustained WHERE inode = ${ino:-0}"
gsid=$(cat "$T/out")
if [ -n "$ino" ] && [ "$code" = 204 ] && [ -n "$gsid" ]; then
	t_ok "(e) DELETE of a file being read: inode $ino sustained by the gateway's session $gsid"
else
	t_fail "(e) open-unlinked file sustained" "inode '$ino' DELETE $code sid '$gsid'" \
		"$(tail -n 5 "$T/gw-one.log")"
fi
kill -9 "$GW_PID"
wait "$GW_PID" 2>/dev/null || true
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null
db_sql ours "SELECT count(*) FROM jfs_session2 WHERE sid = ${gsid:-0}"
left=$(cat "$T/out")
db_sql ours "SELECT count(*) FROM jfs_node WHERE inode = ${ino:-0}"
if [ "$left" = 1 ] && [ "$(cat "$T/out")" = 1 ]; then
	t_ok "(e) gateway killed -9: its session and the unlinked inode stay behind"
else
	t_fail "(e) killed gateway's session left" "session rows $left, node rows $(cat "$T/out")"
fi
gw two
done=0
for _ in $(seq 120); do
	db_sql ours "SELECT (SELECT count(*) FROM jfs_session2 WHERE sid = ${gsid:-0}) +
		(SELECT count(*) FROM jfs_sustained WHERE sid = ${gsid:-0}) +
		(SELECT count(*) FROM jfs_node WHERE inode = ${ino:-0})"
	[ "$(cat "$T/out")" = 0 ] && { done=1; break; }
	sleep 0.5
done
if [ "$done" = 1 ]; then
	t_ok "(e) another client cleaned the stale session up and released the sustained inode"
else
	t_fail "(e) stale session cleaned up" "left: $(cat "$T/out") (session + sustained + node)" \
		"$(tail -n 5 "$T/gw-two.log")"
fi
ref fsck "$O"
if [ "$RC" -eq 0 ]; then
	t_ok "(e) ref fsck accepts the volume after the cleanup"
else
	t_fail "(e) ref fsck after cleanup" "$(last_run)"
fi
t_done
