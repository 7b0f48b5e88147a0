#!/usr/bin/env bash
# With the metadata engine down, the WebDAV server answers 5xx, never a 409
# or 404 (issue 12, item 13, WebDAV sibling).
#
# A file, a collection and a dead property exist; then redis-server is shut
# down. PUT, MKCOL, MOVE, COPY, LOCK of a new name, GET, DELETE, PROPFIND
# (depth 0 and 1, with a dead property) and PROPPATCH must each answer a 5xx:
# a 409 Conflict says the parent collection is missing and a 404 that the
# resource is, both false; a 207 with members or properties left out reads as
# the truth. The engine waits out a refused connection for about 15 s, so the
# requests run side by side.
# Then the engine fails only on some keys, so a PROPFIND's lookups succeed
# and the read of a dead property or of the members fails: 5xx, not a 207.
# Before the fix: 409 for PUT and MKCOL; a 207 with the dead property
# reported missing or the collection empty.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
command -v redis-server >/dev/null || t_skip_all "redis-server not installed"
unset WEBDAV_USER WEBDAV_PASSWORD

redis_own --appendonly yes
jfs format "$R" davdown --bucket "$T/data" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format" "$(last_run)"; t_done; }

port=$(free_port)
"$JFS_BIN" webdav "$R" "127.0.0.1:$port" --cache-dir none >>"$T/dav.log" 2>&1 </dev/null &
DAVPID=$!
T_PIDS+=("$DAVPID")
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$port/" && break
	sleep 0.1
done
EP=http://127.0.0.1:$port
C=(curl -s --max-time 60)
head -c 1000 /dev/urandom >"$T/obj"
ok=1
[ "$("${C[@]}" -o /dev/null -w '%{http_code}' -X MKCOL "$EP/dir")" = 201 ] || ok=0
[ "$("${C[@]}" -o /dev/null -w '%{http_code}' -T "$T/obj" "$EP/dir/f")" = 201 ] || ok=0
cat >"$T/pp.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:t2202"><D:set><D:prop><Z:color>red</Z:color></D:prop></D:set></D:propertyupdate>
XML
[ "$("${C[@]}" -o /dev/null -w '%{http_code}' -X PROPPATCH -T "$T/pp.xml" "$EP/dir/f")" = 207 ] || ok=0
[ "$ok" -eq 1 ] || { t_fail "set up a collection, a file and a dead property" "$(tail -n 5 "$T/dav.log")"; t_done; }
cat >"$T/pf.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:Z="urn:t2202"><D:prop><Z:color/></D:prop></D:propfind>
XML
cat >"$T/pfl.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>
XML
cat >"$T/lock.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>t2202</D:owner></D:lockinfo>
XML

redis-cli -p "$rport" shutdown >/dev/null 2>&1
wait "$RPID" 2>/dev/null

pids=()
op()
{
	local name=$1
	shift
	("${C[@]}" -o "$T/body-$name" -w '%{http_code}' "$@" >"$T/st-$name" 2>/dev/null) &
	pids+=($!)
}
op put-new -T "$T/obj" "$EP/dir/new"
op put-over -T "$T/obj" "$EP/dir/f"
op mkcol -X MKCOL "$EP/dir/sub"
op move -X MOVE -H "Destination: $EP/dir/g" "$EP/dir/f"
op copy -X COPY -H "Destination: $EP/dir/h" "$EP/dir/f"
op lock-new -X LOCK -T "$T/lock.xml" "$EP/dir/locked"
op get -o /dev/null "$EP/dir/f"
op delete -X DELETE "$EP/dir/f"
op propfind-0 -X PROPFIND -H "Depth: 0" -T "$T/pf.xml" "$EP/dir/f"
op propfind-1 -X PROPFIND -H "Depth: 1" "$EP/dir"
op proppatch -X PROPPATCH -T "$T/pp.xml" "$EP/dir/f"
wait "${pids[@]}"
for f in "$T"/st-*; do
	name=${f#"$T"/st-}
	code=$(cat "$f")
	case $code in
	5??) t_ok "$name with the engine down: $code" ;;
	*) t_fail "$name with the engine down: 5xx" "status '$code'" "$(head -c 300 "$T/body-$name")" ;;
	esac
done

redis-server "${RARGS[@]}" &
T_PIDS+=("$!")
redis_up || { t_fail "redis-server restarts" "$(tail -n 5 "$T/redis/log")"; t_done; }
code=$("${C[@]}" -o "$T/got" -w '%{http_code}' "$EP/dir/f")
if [ "$code" = 200 ] && cmp -s "$T/got" "$T/obj"; then
	t_ok "the file is there once the engine is back"
else
	t_fail "the file is there once the engine is back" "status $code"
fi

# ---------------------------------------------------------------- mid-request
# The engine fails only on some keys (t/tools/redis-fault-proxy.py --fail-key
# drops the connection on them): the lookups of a PROPFIND succeed, then the
# read of the dead property, or the listing of the members, fails. A 207 that
# reports the property missing or the collection empty would be taken as the
# truth; the answer must be a 5xx. Likewise a lock whose record cannot be
# read must not show as no lock (lockdiscovery; the same loader decides
# whether a PUT is refused with 423), and an If: condition on it is not
# false (412) but unchecked. Before the fix: four 207s and a 412.
proxy=$JFS_SRCDIR/t/tools/redis-fault-proxy.py
dirino=$(redis-cli -p "$rport" -n 1 hget d1 dir | python3 -c \
	'import sys; b = sys.stdin.buffer.read(); print(int.from_bytes(b[1:9], "big"))')
# dav_via NAME REGEX: a WebDAV server whose engine cannot touch keys matching REGEX.
dav_via()
{
	local name=$1 re=$2 pp wp
	pp=$(free_port)
	t_spawn python3 "$proxy" --listen "$pp" --to "127.0.0.1:$rport" --fail-key "$re"
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$pp" ping 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
	wp=$(free_port)
	"$JFS_BIN" webdav "redis://127.0.0.1:$pp/1" "127.0.0.1:$wp" --cache-dir none \
		>>"$T/dav-$name.log" 2>&1 </dev/null &
	T_PIDS+=("$!")
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$wp/" && break
		sleep 0.1
	done
	printf -v "EP_$name" '%s' "http://127.0.0.1:$wp"
}
dav_via xattr '^x[0-9]+$'
dav_via members "^d$dirino\$"
# A lock whose record cannot be read must not count as no lock: the engine
# fails only on the lock record's xattr key.
"${C[@]}" -o "$T/lock-f.xml" -X LOCK -T "$T/lock.xml" "$EP/dir/f"
lockuuid=$(sed -n 's/.*opaquelocktoken:\([0-9a-f-]*\).*/\1/p' "$T/lock-f.xml" | head -n 1)
# ino_of PATH...: walk the d<ino> entry hashes (type byte, 8-byte inode) from the root.
lockino=$(python3 - "$rport" "$lockuuid" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
def cmd(*a):
    s.sendall(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
    line = f.readline()
    if line[:1] == b"$":
        n = int(line[1:])
        return None if n < 0 else f.read(n + 2)[:-2]
    if line[:1] == b"*":
        return [cmd_read() for _ in range(int(line[1:]))]
    return line
def cmd_read():
    line = f.readline()
    return f.read(int(line[1:]) + 2)[:-2]
cmd(b"SELECT", b"1")
ino = 1
for name in (b".sys", b"davlocks"):
    ino = int.from_bytes(cmd(b"HGET", b"d%d" % ino, name)[1:9], "big")
for b in cmd(b"HKEYS", b"d%d" % ino):
    if b.startswith(b"r"):
        d = int.from_bytes(cmd(b"HGET", b"d%d" % ino, b)[1:9], "big")
        e = cmd(b"HGET", b"d%d" % d, sys.argv[2].encode())
        if e:
            print(int.from_bytes(e[1:9], "big"))
PY
)
dav_via lockrec "^x$lockino\$"
pids=()
rm -f "$T"/st-*
op propfind-lock -X PROPFIND -H "Depth: 0" -T "$T/pfl.xml" "$EP_lockrec/dir/f"
# an If condition on that lock cannot be checked: not 412 (false), a 5xx
op put-if-lock -T "$T/obj" -H "If: (<opaquelocktoken:$lockuuid>)" "$EP_lockrec/dir/f"
op propfind-deadprop -X PROPFIND -H "Depth: 0" -T "$T/pf.xml" "$EP_xattr/dir/f"
op propfind-allprop -X PROPFIND -H "Depth: 0" "$EP_xattr/dir/f"
op propfind-members -X PROPFIND -H "Depth: 1" "$EP_members/dir"
wait "${pids[@]}"
for f in "$T"/st-*; do
	name=${f#"$T"/st-}
	code=$(cat "$f")
	case $code in
	5??) t_ok "$name, the engine failing mid-request: $code" ;;
	*) t_fail "$name, the engine failing mid-request: 5xx" "status '$code'" \
		"$(head -c 400 "$T/body-$name")" ;;
	esac
done

# Told to stop while its engine is down, the server ends its session on a
# short budget and exits: it used to wait out the engine for 15 s a call (30 s).
redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1
kill -TERM "$DAVPID"
for i in $(seq 120); do
	kill -0 "$DAVPID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$DAVPID" 2>/dev/null; then
	t_fail "TERM with the engine down: the server exits within 12 s" "$(tail -n 3 "$T/dav.log")"
else
	t_ok "TERM with the engine down: the server exits in $((i / 10)).$((i % 10)) s"
fi
# The servers behind the proxies stop at cleanup, before the engine goes.
redis-server "${RARGS[@]}" &
T_PIDS=("$!" "${T_PIDS[@]}")
redis_up || t_fail "redis-server restarts for the cleanup" "$(tail -n 5 "$T/redis/log")"
t_done
