#!/usr/bin/env bash
# `juicefs load` of bad input, and of a load killed midway.
#
# (a) Each bad dump (a missing field, a wrong type, an unknown node type, a
#     slice pointing past its chunk, duplicate inodes, a 0-byte file, a
#     truncated file, a corrupt and a truncated gzip, a missing top-level
#     section) is refused with one line on stderr naming the position, a
#     non-zero exit status, and an empty target: no SQLite file left behind,
#     no key in the Redis database.
# (b) load refuses a database that holds a volume (formatted by ours or by
#     the real client) and leaves it as it was.
# (c) A load killed with SIGKILL midway leaves a database that a second load
#     refuses with a clear message; once wiped as that message says (SQLite:
#     remove the file; Redis: FLUSHDB) the load succeeds and the volume
#     dumps the same as its source.
# The good dump every bad one is derived from is checked to load first, so
# each refusal is about the one change made to it.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN" "$JFS_MKTREE"
command -v redis-server >/dev/null || t_skip_all "redis-server not installed"
gen=$JFS_SRCDIR/bench/gen-dump.py

rport=$(free_port)
mkdir -p "$T/redis"
t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
	--appendonly no --daemonize no --logfile "$T/redis/log"
for _ in $(seq 100); do
	[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
	sleep 0.05
done
R=redis://127.0.0.1:$rport
dbsize() { redis-cli -p "$rport" -n "$1" dbsize; }

# The source: the jfs-mktree tree (hard links, symlinks, xattrs, trash, a
# sparse file) on a SQLite volume of ours.
jfs format "sqlite3://$T/src.db" badvol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format the source volume" "$(last_run)"; t_done; }
run "$JFS_MKTREE" "sqlite3://$T/src.db"
[ "$RC" -eq 0 ] || { t_fail "jfs-mktree on the source" "$(last_run)"; t_done; }
jfs dump "sqlite3://$T/src.db" "$T/good.json"
[ "$RC" -eq 0 ] || { t_fail "dump the source" "$(last_run)"; t_done; }
jfs load "sqlite3://$T/ok.db" "$T/good.json"
if [ "$RC" -eq 0 ]; then
	t_ok "the good dump loads"
else
	t_fail "the good dump loads" "$(last_run)"
	t_done
fi

# ---------------------------------------------------------------- (a)
# mkbad NAME PYTHON-EXPR: $T/NAME.json from good.json through s (the text).
mkbad()
{
	python3 - "$T/good.json" "$T/$1.json" "$2" <<'EOF'
import sys
s = open(sys.argv[1]).read()
t = eval(sys.argv[3])
assert t != s, "the change did not apply"
open(sys.argv[2], "w").write(t)
EOF
}
mkbad missing-inode 's.replace("{\"inode\":8,", "{", 1)'
mkbad missing-attr 's.replace("\"attr\": {\"inode\":10,", "\"atr\": {\"inode\":10,", 1)'
mkbad wrong-type 's.replace("\"mode\":416", "\"mode\":\"416\"", 1)'
mkbad unknown-type 's.replace("\"type\":\"symlink\"", "\"type\":\"whiteout\"", 1)'
mkbad past-chunk 's.replace("{\"id\":0,\"size\":0,\"len\":1048581}", "{\"id\":7,\"size\":4096,\"off\":4000,\"len\":200}", 1)'
mkbad past-chunk-end 's.replace("{\"id\":0,\"size\":0,\"len\":1048581}", "{\"id\":0,\"pos\":67108000,\"size\":0,\"len\":1000}", 1)'
mkbad dup-dir 's.replace("{\"inode\":4,\"type\":\"directory\"", "{\"inode\":2,\"type\":\"directory\"", 1)'
mkbad dup-file-symlink '__import__("re").sub(r"\{\"inode\":\d+,\"type\":\"symlink\"", "{\"inode\":10,\"type\":\"symlink\"", s, count=1)'
mkbad no-counters '__import__("re").sub(r"\"Counters\": \{[^}]*\},", "", s, count=1)'
mkbad no-setting 's.replace("\"Setting\"", "\"Settings\"", 1)'
mkbad trailing 's + "{}"'
: >"$T/empty.json"
head -c 3000 "$T/good.json" >"$T/truncated.json"
gzip -c "$T/good.json" >"$T/good.json.gz"
head -c 700 "$T/good.json.gz" >"$T/truncated.json.gz"
python3 -c "
import sys
d = bytearray(open(sys.argv[1], 'rb').read()); d[len(d) // 2] ^= 0x55
open(sys.argv[2], 'wb').write(d)" "$T/good.json.gz" "$T/corrupt.json.gz"

jfs load "sqlite3://$T/okgz.db" "$T/good.json.gz"
[ "$RC" -eq 0 ] && t_ok "the good dump loads from .gz" || t_fail "load good.json.gz" "$(last_run)"

n=0
redis_bad=0
for f in missing-inode missing-attr wrong-type unknown-type past-chunk past-chunk-end dup-dir \
	dup-file-symlink no-counters no-setting trailing empty truncated; do
	bad_input "(a) $f.json into SQLite" "$T/bad.db" -- load "sqlite3://$T/bad.db" "$T/$f.json"
	grep -qE 'line [0-9]+, byte [0-9]+' "$T/err" ||
		t_fail "(a) $f.json: the error names the position" "$(cat "$T/err")"
	n=$((n + 1))
	db=$(( (n % 14) + 1 ))
	jfs load "$R/$db" "$T/$f.json"
	if [ "$RC" -ne 0 ] && [ "$(nlines "$T/err")" -eq 1 ] && [ "$(dbsize "$db")" = 0 ]; then
		:
	else
		redis_bad=1
		t_fail "(a) $f.json into Redis: refused, one line, empty database" \
			"dbsize $(dbsize "$db")" "$(last_run)"
	fi
done
[ "$redis_bad" -eq 1 ] || t_ok "(a) every bad dump into Redis: refused, one line, empty database"
for f in truncated.json.gz corrupt.json.gz; do
	bad_input "(a) $f" "$T/bad.db" -- load "sqlite3://$T/bad.db" "$T/$f"
	grep -q 'gzip' "$T/err" || t_fail "(a) $f: the error says gzip" "$(cat "$T/err")"
done

# ---------------------------------------------------------------- (b)
bad_input "(b) load into our formatted volume" "$T/src.db" -- \
	load "sqlite3://$T/src.db" "$T/good.json"
grep -q 'used by volume badvol' "$T/err" || t_fail "(b) the error names the volume" "$(cat "$T/err")"
if [ -n "${JFS_REF:-}" ] || [ -x /opt/jfs-ref/bin/juicefs ]; then
	JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
	ref format "sqlite3://$T/refvol.db" refvol --bucket "$T/refdata"
	bad_input "(b) load into the real client's volume" "$T/refvol.db" -- \
		load "sqlite3://$T/refvol.db" "$T/good.json"
else
	t_skip "(b) load into the real client's volume" "no reference client"
fi
redis-cli -p "$rport" -n 15 set unrelated 1 >/dev/null
jfs load "$R/15" "$T/good.json"
if [ "$RC" -ne 0 ] && [ "$(nlines "$T/err")" -eq 1 ] && grep -q 'not empty' "$T/err" &&
	[ "$(redis-cli -p "$rport" -n 15 get unrelated)" = 1 ] && [ "$(dbsize 15)" = 1 ]; then
	t_ok "(b) load into a Redis database with a key: refused, key kept"
else
	t_fail "(b) load into a non-empty Redis database" "$(last_run)"
fi

# ---------------------------------------------------------------- (c)
python3 "$gen" 300000 >"$T/big.json"
jfs load "sqlite3://$T/bigsrc.db" "$T/big.json"
[ "$RC" -eq 0 ] || t_fail "(c) load the 300,000-file dump" "$(last_run)"
jfs dump "sqlite3://$T/bigsrc.db" "$T/big-ours.json"

# killmid TARGET-URL PROBE...: start a load, SIGKILL it once PROBE says it wrote.
killmid()
{
	local url=$1 pid i
	shift
	"$JFS_BIN" load "$url" "$T/big.json" >"$T/kill.out" 2>&1 &
	pid=$!
	for i in $(seq 1 600); do
		"$@" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	KILLED=$?
}
sql_rows() { [ "$(sqlite3 "$T/kill.db" 'select count(*) from jfs_node' 2>/dev/null || echo 0)" -gt 100 ]; }
redis_keys() { [ "$(dbsize 14)" -gt 100 ]; }

for eng in sqlite redis; do
	if [ $eng = sqlite ]; then
		url="sqlite3://$T/kill.db"
		killmid "$url" sql_rows
	else
		redis-cli -p "$rport" -n 14 flushdb >/dev/null
		url="$R/14"
		killmid "$url" redis_keys
	fi
	if [ "$KILLED" -ne 137 ]; then
		t_skip "(c) $eng: kill -9 midway" "the load ended before the kill (status $KILLED)"
		continue
	fi
	jfs status "$url"
	[ "$RC" -ne 0 ] || t_fail "(c) $eng: the half-loaded database is no volume" "$(last_run)"
	jfs load "$url" "$T/good.json"
	if [ "$RC" -ne 0 ] && [ "$(nlines "$T/err")" -eq 1 ] && grep -q 'not empty' "$T/err" &&
		grep -q 'interrupted load' "$T/err"; then
		t_ok "(c) $eng: after kill -9, load refuses: $(cut -c1-60 "$T/err" | sed 's/.*<FATAL>: //')"
	else
		t_fail "(c) $eng: after kill -9, load refuses" "$(last_run)"
	fi
	if [ $eng = sqlite ]; then
		rm -f "$T/kill.db" "$T/kill.db-wal" "$T/kill.db-shm"
	else
		redis-cli -p "$rport" -n 14 flushdb >/dev/null
	fi
	jfs load "$url" "$T/big.json"
	if [ "$RC" -eq 0 ]; then
		jfs dump "$url" "$T/big-again.json"
		if [ "$RC" -eq 0 ] && cmp -s "$T/big-ours.json" "$T/big-again.json"; then
			t_ok "(c) $eng: wiped and loaded again, the same dump as the source"
		else
			t_fail "(c) $eng: reloaded volume dumps like the source" "$(last_run)"
		fi
	else
		t_fail "(c) $eng: load after the wipe" "$(last_run)"
	fi
done

t_done
