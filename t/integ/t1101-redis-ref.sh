#!/usr/bin/env bash
# The real JuiceFS 1.4.2 client as oracle for the Redis metadata format.
#
# A private redis-server (127.0.0.1, free port, temp dir, no persistence) is
# started here and stopped by PID.
# (a) a Redis volume formatted by ours is accepted by the real client's
#     status, dump and fsck;
# (b) a fresh volume formatted by ours and one formatted by the real client
#     hold the same keys, types and value bytes (per-volume fields and times
#     blanked, t/integ/redis-canon.py);
# (c) the jfs-mktree tree built on Redis comes out of the real client's dump
#     exactly as our meta API sees it, and the same as the tree built on
#     SQLite (inode numbers included);
# (d) a volume formatted and filled by the real client (through its WebDAV
#     server) is read by ours: status, and jfs-mktree --print equals the real
#     client's dump; file data goes both ways byte-exact;
# (e) Appendix D with the real client as the oracle: `format` + `echo -n hello
#     > /a.txt` done by ours (jfs-fscp) and by the real client (WebDAV PUT)
#     leave byte-identical databases (times and per-volume fields blanked).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN" "$JFS_MKTREE"
command -v redis-server >/dev/null || t_skip_all "redis-server not installed (apt-get install redis-server)"
need_ref
unset WEBDAV_USER WEBDAV_PASSWORD REDIS_PASSWORD META_PASSWORD

py=$(dirname "$0")/norm-dump.py
canon=$(dirname "$0")/redis-canon.py

rport=$(free_port)
mkdir -p "$T/redis"
t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
	--appendonly no --daemonize no --logfile "$T/redis/log"
up=0
for _ in $(seq 100); do
	[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && { up=1; break; }
	sleep 0.05
done
[ "$up" -eq 1 ] || { t_fail "redis-server starts on port $rport" "$(tail -n 5 "$T/redis/log")"; t_done; }
R=redis://127.0.0.1:$rport

# ---------------------------------------------------------------- (a)
jfs format "$R/1" ours-vol --bucket "$T/bk-ours"
if [ "$RC" -ne 0 ]; then
	t_fail "ours: format $R/1" "$(last_run)"
	t_done
fi
t_ok "ours: format redis volume ours-vol"
jfs status "$R/1"
uuid_ours=$(st .Setting.UUID)
ref status "$R/1"
if [ "$RC" -eq 0 ] && [ "$(st .Setting.Name)" = ours-vol ] && [ -n "$uuid_ours" ] &&
	[ "$(st .Setting.UUID)" = "$uuid_ours" ]; then
	t_ok "(a) ref status accepts our Redis volume (UUID $uuid_ours)"
else
	t_fail "(a) ref status accepts our Redis volume" "our UUID: '$uuid_ours'" "$(last_run)"
fi

# ---------------------------------------------------------------- (b)
ref format "$R/2" ref-vol --bucket "$T/bk-ref"
if [ "$RC" -eq 0 ]; then
	python3 "$canon" "$rport" 1 >"$T/fresh-ours" 2>&1
	python3 "$canon" "$rport" 2 >"$T/fresh-ref" 2>&1
	if [ -s "$T/fresh-ref" ] && diff "$T/fresh-ref" "$T/fresh-ours" >"$T/diff"; then
		t_ok "(b) fresh volume: same keys, types and bytes as the real client's ($(nlines "$T/fresh-ref") keys)"
	else
		t_fail "(b) fresh volume keys identical" "diff ref ours:" "$(cat "$T/diff")"
	fi
else
	t_fail "(b) ref format $R/2" "$(last_run)"
fi

# ---------------------------------------------------------------- (c)
run "$JFS_MKTREE" "$R/1"
if [ "$RC" -eq 0 ] && [ ! -s "$T/err" ]; then
	t_ok "(c) jfs-mktree builds the test tree on our Redis volume"
else
	t_fail "(c) jfs-mktree on Redis" "$(last_run)"
fi
run "$JFS_MKTREE" --print "$R/1"
LC_ALL=C sort "$T/out" >"$T/tree-ours"
ref dump "$R/1" "$T/dump.json"
if [ "$RC" -eq 0 ] && python3 "$py" "$T/dump.json" 2>"$T/py.err" | LC_ALL=C sort >"$T/tree-dump" &&
	[ -s "$T/tree-dump" ]; then
	t_ok "(c) ref dump of our Redis volume"
else
	t_fail "(c) ref dump of our Redis volume" "$(last_run)" "$(cat "$T/py.err" 2>/dev/null)"
fi
if [ -s "$T/tree-ours" ] && diff "$T/tree-dump" "$T/tree-ours" >"$T/diff"; then
	t_ok "(c) ref dump and our meta API see the same tree on Redis ($(nlines "$T/tree-ours") lines)"
else
	t_fail "(c) ref dump equals our view on Redis" "diff ref-dump ours:" "$(head -n 30 "$T/diff")"
fi
# The same tree on SQLite: the real client's dumps must agree (hour directories
# are named after the clock, so both are built within the same hour; mtimes
# differ and are dropped).
jfs format "sqlite3://$T/ours.db" ours-vol --bucket "$T/bk-sql"
run "$JFS_MKTREE" "sqlite3://$T/ours.db"
ref dump "sqlite3://$T/ours.db" "$T/dump-sql.json"
strip_times() { sed -E 's/ mtime=[0-9.]+//' "$1"; }
if [ "$RC" -eq 0 ] && python3 "$py" "$T/dump-sql.json" 2>/dev/null | LC_ALL=C sort >"$T/tree-sql" &&
	[ -s "$T/tree-sql" ] && diff <(strip_times "$T/tree-sql") <(strip_times "$T/tree-dump") >"$T/diff"; then
	t_ok "(c) ref dump of the tree is the same on Redis as on SQLite"
else
	t_fail "(c) ref dump same on Redis and SQLite" "$(last_run)" "diff sqlite redis:" \
		"$(head -n 30 "$T/diff")"
fi
ref fsck "$R/1" --path / --recursive
if [ "$RC" -eq 0 ] && ! grep -qiE 'broken|<ERROR>|<FATAL>' "$T/err"; then
	t_ok "(c) ref fsck --path / --recursive finds nothing broken in our Redis tree"
else
	t_fail "(c) ref fsck on our Redis tree" "$(last_run)"
fi

# ---------------------------------------------------------------- (d)
port=$(free_port)
U=http://127.0.0.1:$port
t_spawn "$JFS_REF" webdav "$R/2" "127.0.0.1:$port" --no-bgjob --no-usage-report \
	>"$T/webdav.log" 2>&1
dav_pid=${T_PIDS[-1]}
up=0
for _ in $(seq 100); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X PROPFIND -H 'Depth: 0' "$U/" 2>/dev/null || true)
	[ "$code" = 207 ] && { up=1; break; }
	kill -0 "$dav_pid" 2>/dev/null || break
	sleep 0.1
done
if [ "$up" -ne 1 ]; then
	t_fail "ref webdav starts on $U" "$(tail -n 5 "$T/webdav.log")"
	t_done
fi
head -c 300000 /dev/urandom >"$T/big.bin"
printf hello >"$T/a.txt"
errs=""
dav()
{
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@")
	case "$code" in 2??) ;; *) errs="$errs $* -> $code;" ;; esac
}
dav -X MKCOL "$U/d/"
dav -X MKCOL "$U/d/sub/"
dav -T "$T/a.txt" "$U/a.txt"
dav -T "$T/big.bin" "$U/d/big.bin"
dav -T "$T/a.txt" "$U/d/sub/x"
dav -T "$T/a.txt" "$U/gone"
dav -X DELETE "$U/gone"
kill "$dav_pid" 2>/dev/null
wait "$dav_pid" 2>/dev/null
if [ -z "$errs" ]; then
	t_ok "(d) ref webdav fills its Redis volume (dirs, files, a delete)"
else
	t_fail "(d) ref webdav operations" "$errs"
fi
jfs status "$R/2"
if [ "$RC" -eq 0 ] && ! crashed && [ "$(st .Setting.Name)" = ref-vol ]; then
	t_ok "(d) our status reads the real client's Redis volume"
else
	t_fail "(d) our status on the real client's Redis volume" "$(last_run)"
fi
run "$JFS_MKTREE" --print "$R/2"
LC_ALL=C sort "$T/out" >"$T/tree-ref-ours"
ref dump "$R/2" "$T/dump-ref.json"
python3 "$py" "$T/dump-ref.json" 2>/dev/null | LC_ALL=C sort >"$T/tree-ref-dump"
if [ -s "$T/tree-ref-ours" ] && grep -q '^/d/big.bin regular .* len=300000' "$T/tree-ref-ours" &&
	diff "$T/tree-ref-dump" "$T/tree-ref-ours" >"$T/diff"; then
	t_ok "(d) our meta API sees the real client's tree exactly as its dump does"
else
	t_fail "(d) our view of the real client's tree" "$(last_run)" "diff ref-dump ours:" \
		"$(head -n 30 "$T/diff")"
fi
# Data both ways through the volumes' own object stores (jfs-fscp uses fs.h).
if [ -n "${JFS_FSCP:-}" ] && [ -x "$JFS_FSCP" ]; then
	run "$JFS_FSCP" get "$R/2" /d/big.bin "$T/big.back"
	if [ "$RC" -eq 0 ] && cmp -s "$T/big.bin" "$T/big.back"; then
		t_ok "(d) ours reads the real client's 300000-byte file byte-exact"
	else
		t_fail "(d) ours reads the real client's file" "$(last_run)"
	fi
	run "$JFS_FSCP" put "$R/1" "$T/big.bin" /data/ours.bin
	rc_put=$RC
	port=$(free_port)
	U=http://127.0.0.1:$port
	t_spawn "$JFS_REF" webdav "$R/1" "127.0.0.1:$port" --no-bgjob --no-usage-report \
		>"$T/webdav1.log" 2>&1
	dav_pid=${T_PIDS[-1]}
	for _ in $(seq 100); do
		curl -s -o "$T/ours.back" "$U/data/ours.bin" 2>/dev/null && cmp -s "$T/big.bin" "$T/ours.back" &&
			break
		kill -0 "$dav_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$dav_pid" 2>/dev/null
	wait "$dav_pid" 2>/dev/null
	if [ "$rc_put" -eq 0 ] && cmp -s "$T/big.bin" "$T/ours.back"; then
		t_ok "(d) the real client reads a file we wrote to Redis byte-exact (its WebDAV)"
	else
		t_fail "(d) the real client reads our file" "put exit $rc_put" "$(tail -n 3 "$T/webdav1.log")"
	fi
	ref fsck "$R/1"
	if [ "$RC" -eq 0 ]; then
		t_ok "(d) ref fsck (every block of every slice present) accepts our Redis volume"
	else
		t_fail "(d) ref fsck of our Redis volume" "$(last_run)"
	fi
else
	t_skip "(d) data both ways" "jfs-fscp not built"
fi
# Key layout of a file the real client wrote: entry, attribute and chunk list
# shapes, as our Appendix D test expects of ours.
python3 "$canon" "$rport" 2 >"$T/filled-ref"
want_key()
{
	if grep -qE "$2" "$T/filled-ref"; then
		t_ok "(d) real client's keys: $1"
	else
		t_fail "(d) real client's keys: $1" "no line matches: $2"
	fi
}
want_key "lower-case id counters" '^nextinode string [0-9]+$'
want_key "a.txt entry of 9 bytes" '^d1 hash .*a\.txt=0x01[0-9a-f]{16}( |$)'
want_key "a 5-byte file's single slice record" '^c[0-9]+_0 list 0x00000000[0-9a-f]{16}000000050000000000000005$'
want_key "dir stats hashes" '^dirUsedInodes hash '

# ---------------------------------------------------------------- (e)
if [ -n "${JFS_FSCP:-}" ] && [ -x "$JFS_FSCP" ]; then
	printf hello >"$T/hello"
	jfs format "$R/3" myjfs --bucket "$T/bk-d-ours"
	rc_f=$RC
	run "$JFS_FSCP" put "$R/3" "$T/hello" /a.txt
	rc_p=$RC
	ref format "$R/4" myjfs --bucket "$T/bk-d-ref"
	port=$(free_port)
	U=http://127.0.0.1:$port
	t_spawn "$JFS_REF" webdav "$R/4" "127.0.0.1:$port" --no-bgjob --no-usage-report \
		>"$T/webdav4.log" 2>&1
	dav_pid=${T_PIDS[-1]}
	code=000
	for _ in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' -T "$T/hello" "$U/a.txt" 2>/dev/null || true)
		case "$code" in 2??) break ;; esac
		kill -0 "$dav_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$dav_pid" 2>/dev/null
	wait "$dav_pid" 2>/dev/null # it closes its session on TERM
	python3 "$canon" "$rport" 3 >"$T/d-ours"
	python3 "$canon" "$rport" 4 >"$T/d-ref"
	if [ "$rc_f" -eq 0 ] && [ "$rc_p" -eq 0 ] && grep -q '^c2_0 list ' "$T/d-ref" &&
		diff "$T/d-ref" "$T/d-ours" >"$T/diff"; then
		t_ok "(e) Appendix D: every key, type and value byte identical to the real client's ($(nlines "$T/d-ref") keys)"
	else
		t_fail "(e) Appendix D identical to the real client's" "format $rc_f put $rc_p PUT $code" \
			"diff ref ours:" "$(cut -c1-200 "$T/diff")"
	fi
else
	t_skip "(e) Appendix D against the real client" "jfs-fscp not built"
fi
t_done
