#!/usr/bin/env bash
# WebDAV locks with many held (issue 12 item 17): davfs2 holds one lock per
# open file, and each LOCK used to cost time in proportion to the locks
# already held. Two servers on one volume; JFS_LOCKS (default 1500) locks
# are taken, then the rules are checked with all of them held, on both
# servers: a PUT without the token is 423, with it (If header) it succeeds,
# UNLOCK on the other server frees the file, depth-infinity locks on an
# ancestor still bind a new member, a depth-infinity LOCK and a DELETE above
# held locks are refused, lockdiscovery, refresh, expiry. The cost of LOCK,
# PUT-with-token and UNLOCK with few and with all locks held is printed as a
# figure (never asserted: the machine may be loaded).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"

META=sqlite3://$T/locks.db
jfs format "$META" lockvol --bucket "$T/data" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format" "$(last_run)"; t_done; }
PORTS=()
for s in a b; do
	port=$(free_port)
	"$JFS_BIN" webdav "$META" "127.0.0.1:$port" --cache-dir none >"$T/srv-$s.log" 2>&1 &
	T_PIDS+=($!)
	for i in $(seq 1 100); do
		curl -sf -o /dev/null -X OPTIONS "http://127.0.0.1:$port/" && break
		sleep 0.1
	done
	PORTS+=("$port")
done

timeout 600 python3 - "${PORTS[0]}" "${PORTS[1]}" "${JFS_LOCKS:-1500}" >"$T/py.out" 2>&1 <<'PY'
import http.client, sys, time, re

pa, pb, nlocks = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
A = http.client.HTTPConnection('127.0.0.1', pa, timeout=60)
B = http.client.HTTPConnection('127.0.0.1', pb, timeout=60)

def req(c, method, path, body=None, headers=None):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, r.getheader('Lock-Token'), r.read()

def ok(cond, desc, diag=''):
    print(('PASS %s' % desc) if cond else ('FAIL %s :: %r' % (desc, diag)))
    sys.stdout.flush()

INFO = ('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:%s/></D:lockscope>'
        '<D:locktype><D:write/></D:locktype><D:owner>t5202</D:owner></D:lockinfo>')

def lock(c, path, depth='0', timeout='Second-3600', scope='exclusive'):
    return req(c, 'LOCK', path, INFO % scope, {'Depth': depth, 'Timeout': timeout})

for d in range(10):
    req(A, 'MKCOL', '/d%d' % d)

def timed(fn, k):
    t = time.monotonic()
    for i in range(k):
        fn(i)
    return (time.monotonic() - t) / k * 1000

tokens = {}
def take(i):
    p = '/d%d/f%d' % (i % 10, i)
    st, tok, _ = lock(A, p)
    if st not in (200, 201):
        raise SystemExit('FAIL LOCK %s :: %d' % (p, st))
    tokens[p] = tok

few_lock = timed(lambda i: take(i), 20)
few_put = timed(lambda i: req(A, 'PUT', '/d%d/f%d' % (i % 10, i), b'x',
                              {'If': '(%s)' % tokens['/d%d/f%d' % (i % 10, i)]}), 20)
t = time.monotonic()
for i in range(20, nlocks):
    take(i)
fill = time.monotonic() - t
many_lock = timed(lambda i: take(nlocks + i), 20)
many_put = timed(lambda i: req(A, 'PUT', '/d%d/f%d' % (i % 10, i), b'y',
                               {'If': '(%s)' % tokens['/d%d/f%d' % (i % 10, i)]}), 20)
many_unlock = timed(lambda i: req(A, 'UNLOCK', '/d%d/f%d' % (i % 10, nlocks + i), None,
                                  {'Lock-Token': tokens['/d%d/f%d' % (i % 10, nlocks + i)]}), 20)
held = nlocks
print('# figure: LOCK %.2f ms with 20 held, %.2f ms with %d held; PUT with token %.2f / %.2f ms; '
      'UNLOCK %.2f ms with %d held; %d LOCKs in %.1f s'
      % (few_lock, many_lock, held, few_put, many_put, many_unlock, held, nlocks - 20, fill))

p, tok = '/d3/f13', tokens['/d3/f13']
for name, c in (('A', A), ('B', B)):
    st, _, _ = req(c, 'PUT', p, b'z')
    ok(st == 423, 'server %s: PUT without the token to a locked file is 423 (%d locks held)' % (name, held), st)
    st, _, _ = req(c, 'PUT', p, b'z', {'If': '(%s)' % tok})
    ok(st in (200, 201, 204), 'server %s: PUT with the token succeeds' % name, st)
    st, _, _ = req(c, 'PUT', p, b'z', {'If': '(<opaquelocktoken:00000000-0000-0000-0000-000000000000>)'})
    ok(st in (412, 423), 'server %s: PUT with a wrong token is refused' % name, st)
st, _, _ = req(B, 'UNLOCK', '/d4/f14', None, {'Lock-Token': tokens['/d3/f13']})
ok(st == 409, 'UNLOCK with a token that does not cover the URL is 409', st)
st, _, _ = req(B, 'UNLOCK', p, None, {'Lock-Token': tok})
ok(st == 204, 'UNLOCK on the other server', st)
st, _, _ = req(A, 'PUT', p, b'w')
ok(st in (200, 201, 204), 'after UNLOCK a PUT without token succeeds', st)
st, _, _ = lock(B, '/d5/f15')
ok(st == 423, 'LOCK of a file locked through the other server is 423', st)

# depth infinity on an ancestor, with all the others held
req(A, 'MKCOL', '/deep')
st, dtok, _ = lock(A, '/deep', depth='infinity')
ok(st == 200, 'depth-infinity LOCK on a collection', st)
st, _, _ = req(B, 'MKCOL', '/deep/x')
ok(st == 423, 'MKCOL below a depth-infinity lock without its token is 423', st)
st, _, _ = req(B, 'MKCOL', '/deep/x', None, {'If': '(%s)' % dtok})
ok(st == 201, 'MKCOL below it with the token', st)
st, _, _ = req(B, 'PUT', '/deep/x/y.txt', b'v')
ok(st == 423, 'PUT two levels below a depth-infinity lock without its token is 423', st)
st, _, _ = req(B, 'PUT', '/deep/x/y.txt', b'v', {'If': '</deep> (%s)' % dtok})
ok(st in (201, 204), 'PUT two levels below with a tagged If naming the lock root', st)
st, _, _ = lock(B, '/deep/x/y.txt')
ok(st == 423, 'LOCK inside a depth-infinity exclusive lock is 423', st)
st, _, _ = lock(A, '/d6', depth='infinity')
ok(st == 423, 'depth-infinity LOCK above held locks is 423', st)
st, _, _ = req(B, 'DELETE', '/d7')
ok(st == 423, 'DELETE of a collection holding locks is 423', st)
body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/>'
        '</D:prop></D:propfind>')
st, _, out = req(B, 'PROPFIND', '/d8/f18', body, {'Depth': '0'})
ok(st == 207 and tokens['/d8/f18'].strip('<>') in out.decode(),
   'lockdiscovery shows the lock on the other server', out[:300])
st, _, out = req(B, 'PROPFIND', '/deep/x/y.txt', body, {'Depth': '0'})
ok(st == 207 and dtok.strip('<>') in out.decode(), 'lockdiscovery shows an ancestor depth-infinity lock', out[:300])
st, _, out = req(B, 'PROPFIND', '/d8', body, {'Depth': '1'})
ok(st == 207 and out.decode().count('<D:activelock>') == len([k for k in tokens if k.startswith('/d8/')]) - 2,
   'lockdiscovery of each member in a Depth 1 PROPFIND', out.decode().count('<D:activelock>'))
st, _, out = req(B, 'LOCK', '/d9/f19', None, {'If': '(%s)' % tokens['/d9/f19'], 'Timeout': 'Second-100'})
ok(st == 200 and 'Second-100' in out.decode(), 'refresh through the other server', (st, out[:200]))
st, etok, _ = lock(A, '/d0/exp', timeout='Second-1')
time.sleep(2.2)
st, _, _ = req(B, 'PUT', '/d0/exp', b'late')
ok(st in (201, 204), 'an expired lock no longer binds', st)
st, _, _ = req(A, 'DELETE', '/deep', None, {'If': '(%s)' % dtok})
ok(st == 204, 'DELETE with the token drops the lock', st)
st, _, _ = req(B, 'PUT', '/deep', b'file now')
ok(st == 201, 'the dropped lock no longer binds', st)
PY
RC=$?
while IFS= read -r line; do
	case $line in
	"PASS "*) t_ok "${line#PASS }" ;;
	"FAIL "*) t_fail "${line#FAIL }" ;;
	"# figure"*) echo "$line" ;;
	esac
done <"$T/py.out"
[ "$RC" -eq 0 ] || t_fail "the lock script ran to its end" "exit $RC" "$(tail -n 5 "$T/py.out")"
t_done
