#!/usr/bin/env bash
# Same operations, same result: the real JuiceFS client does a sequence of
# namespace operations through its WebDAV server, our meta API does the same
# sequence (jfs-mktree --tree dav), and the two volumes must hold the same
# tree: names, types, modes, owners, nlink (trash directories included), trash
# entries and usage counters. Inode numbers and times are left out (they
# differ by construction), and trash names keep their shape <parent>-<inode>-.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN" "$JFS_MKTREE"
need_ref
unset WEBDAV_USER WEBDAV_PASSWORD
py=$(dirname "$0")/norm-dump.py

# Drop what differs by construction: inode numbers, times, the hour of trash.
shape()
{
	python3 "$py" "$1" |
		sed -E -e 's/ ino=[0-9]+//' -e 's/ mtime=[0-9.]+//' \
			-e 's#^/\.trash/[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}#/.trash/HOUR#' \
			-e 's#^(/\.trash/HOUR/)[0-9]+-[0-9]+-#\1P-I-#' |
		LC_ALL=C sort
}

# ---- the real client, through WebDAV
ref format "sqlite3://$T/ref.db" dav-vol --bucket "$T/bk-ref"
[ "$RC" -eq 0 ] || { t_fail "ref format" "$(last_run)"; t_done; }
port=$(free_port)
U=http://127.0.0.1:$port
t_spawn "$JFS_REF" webdav "sqlite3://$T/ref.db" "127.0.0.1:$port" --no-bgjob \
	--no-usage-report >"$T/webdav.log" 2>&1
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
t_ok "ref webdav serves on 127.0.0.1:$port"

# method path [header]: expect a 2xx answer
dav()
{
	local m=$1 p=$2 code
	shift 2
	if [ "$m" = PUT ]; then
		code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary '' "$@" "$U$p")
	else
		code=$(curl -s -o /dev/null -w '%{http_code}' -X "$m" "$@" "$U$p")
	fi
	case "$code" in 2??) return 0 ;; esac
	echo "$m $p -> $code"
	return 1
}
errs=$(
	dav MKCOL /d/
	dav MKCOL /e/
	dav MKCOL /d/sub/
	dav PUT /d/f
	dav PUT /d/keep
	dav DELETE /d/f
	dav DELETE /d/sub/
	dav PUT /d/old
	dav PUT /d/new
	dav MOVE /d/new -H "Destination: $U/d/old" -H 'Overwrite: T'
	dav MKCOL /d/mv/
	dav MOVE /d/mv/ -H "Destination: $U/e/mv/"
)
if [ -z "$errs" ]; then
	t_ok "ref webdav: mkdir, put, delete file and dir, move over a file, move a dir"
else
	t_fail "ref webdav operations" "$errs"
fi
kill "$dav_pid" 2>/dev/null
wait "$dav_pid" 2>/dev/null

# ---- ours, through the meta API
jfs format "sqlite3://$T/ours.db" dav-vol --bucket "$T/bk-ours"
run "$JFS_MKTREE" --tree dav "sqlite3://$T/ours.db"
if [ "$RC" -eq 0 ] && [ ! -s "$T/err" ]; then
	t_ok "jfs-mktree --tree dav on our volume"
else
	t_fail "jfs-mktree --tree dav" "$(last_run)"
fi

ref dump "sqlite3://$T/ref.db" "$T/ref.json"
rc_r=$RC
ref dump "sqlite3://$T/ours.db" "$T/ours.json"
rc_o=$RC
if [ "$rc_r" -ne 0 ] || [ "$rc_o" -ne 0 ]; then
	t_fail "ref dump of both volumes" "exit ref $rc_r, ours $rc_o" "$(last_run)"
	t_done
fi
shape "$T/ref.json" >"$T/shape-ref"
shape "$T/ours.json" >"$T/shape-ours"
# Named cases first, so a failure says which rule differs.
same_line()
{
	local d=$1 re=$2 a b
	a=$(grep -E "$re" "$T/shape-ref")
	b=$(grep -E "$re" "$T/shape-ours")
	if [ -n "$a" ] && [ "$a" = "$b" ]; then
		t_ok "$d"
	else
		t_fail "$d" "ref:  ${a:-<none>}" "ours: ${b:-<none>}"
	fi
}
same_line "trash root: mode, owner, nlink" '^/\.trash directory'
same_line "trash hour directory: mode, owner, nlink" '^/\.trash/HOUR directory'
same_line "deleted file in trash as P-I-f" '^/\.trash/HOUR/P-I-f '
same_line "deleted directory in trash as P-I-sub" '^/\.trash/HOUR/P-I-sub '
same_line "file replaced by MOVE in trash as P-I-old" '^/\.trash/HOUR/P-I-old '
same_line "source directory nlink after rmdir and move-out" '^/d directory'
same_line "destination directory nlink after move-in" '^/e directory'
same_line "root nlink" '^/ directory'
same_line "usage counter usedSpace" '^#counter usedSpace='
same_line "usage counter totalInodes (usedInodes)" '^#counter totalInodes='
if diff "$T/shape-ref" "$T/shape-ours" >"$T/diff"; then
	t_ok "the whole tree has the same shape ($(wc -l <"$T/shape-ref") lines)"
else
	t_fail "the whole tree has the same shape" "diff ref ours:" "$(head -n 20 "$T/diff")"
fi

t_done
