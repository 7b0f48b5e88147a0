#!/usr/bin/env bash
# The access log is private and holds no credential (issue 12 item 8). It
# was created world-readable and recorded full query strings, so anyone on
# the machine could replay a presigned URL from it. Now: created 0600 even
# under umask 000, an existing log of ours found wider is narrowed to 0600,
# and X-Amz-Signature, Signature and X-Amz-Security-Token values are written
# as REDACTED; the rest of the line stays. Both doors share the log
# (gateway/http.c): the WebDAV server is checked too.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
jfs format "sqlite3://$T/m.db" logvol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format" "$(last_run)"; t_done; }

# srv VAR CMD...: a server on a free port (under umask 000); VAR gets the port.
srv()
{
	local var=$1 port i
	shift
	port=$(free_port)
	(umask 000 && exec "$JFS_BIN" "$@" "127.0.0.1:$port" >>"$T/srv-$port.log" 2>&1) &
	T_PIDS+=($!)
	wait_http "$port" 15
	printf -v "$var" '%s' "$port"
}

mode_of() { stat -c %a "$1" 2>/dev/null || echo absent; }

printf 'old line\n' >"$T/old.log"
chmod 644 "$T/old.log"
srv P gateway "sqlite3://$T/m.db" --no-banner --cache-dir none --access-log "$T/gw.log"
srv P2 gateway "sqlite3://$T/m.db" --no-banner --cache-dir none --access-log "$T/old.log"
srv D webdav "sqlite3://$T/m.db" --cache-dir none --access-log "$T/dav.log"

m=$(mode_of "$T/gw.log")
[ "$m" = 600 ] && t_ok "gateway access log created 0600 under umask 000" ||
	t_fail "gateway access log created 0600 under umask 000" "mode $m"
m=$(mode_of "$T/dav.log")
[ "$m" = 600 ] && t_ok "WebDAV access log created 0600 under umask 000" ||
	t_fail "WebDAV access log created 0600 under umask 000" "mode $m"
m=$(mode_of "$T/old.log")
if [ "$m" = 600 ] && grep -q '^old line$' "$T/old.log"; then
	t_ok "an existing 0644 log is narrowed to 0600 and kept"
else
	t_fail "an existing 0644 log is narrowed to 0600 and kept" "mode $m"
fi

# A presigned URL (SigV4), a SigV2-style query and a session token.
cat >"$T/req.py" <<'PY'
import sys
sys.path.insert(0, __import__("os").environ["JFS_SRCDIR"] + "/t/integ")
from s3raw import Client
c = Client(int(sys.argv[1]))
st, _, _ = c.request("PUT", "/logvol/obj", body=b"hello")
assert st == 200, st
captured = {}
def grab(h, q):
    captured.update(dict(q))
st, _, body = c.request("GET", "/logvol/obj", presign=True, tamper=grab)
assert st == 200 and body == b"hello", (st, body)
print(captured["X-Amz-Signature"])
c.request("GET", "/logvol", raw_query="AWSAccessKeyId=s3admin&Expires=1&Signature=v2SECRETsig%2B")
c.request("GET", "/logvol", query=[("list-type", "2"), ("X-Amz-Security-Token", "TOKENSECRET")])
PY
run python3 "$T/req.py" "$P"
sig=$(cat "$T/out")
[ "$RC" -eq 0 ] && [ ${#sig} -eq 64 ] || t_fail "requests" "$(last_run)"
for i in $(seq 1 50); do
	[ "$(grep -c . "$T/gw.log" 2>/dev/null)" -ge 4 ] && break
	sleep 0.1
done
if [ -n "$sig" ] && ! grep -q "$sig" "$T/gw.log" && ! grep -q 'v2SECRETsig\|TOKENSECRET' "$T/gw.log"; then
	t_ok "no signature or token in the log"
else
	t_fail "no signature or token in the log" "$(cat "$T/gw.log")"
fi
if grep -q 'X-Amz-Signature=REDACTED' "$T/gw.log" && grep -q 'Signature=REDACTED' "$T/gw.log" &&
	grep -q 'X-Amz-Security-Token=REDACTED' "$T/gw.log" &&
	grep -q '"GET /logvol/obj?X-Amz-Algorithm=AWS4-HMAC-SHA256&.*X-Amz-Signature=REDACTED' "$T/gw.log"; then
	t_ok "signature values REDACTED, the rest of the line kept"
else
	t_fail "signature values REDACTED, the rest of the line kept" "$(cat "$T/gw.log")"
fi
curl -s -o /dev/null "http://127.0.0.1:$D/x?Signature=DAVSECRET"
for i in $(seq 1 50); do
	grep -q 'Signature=' "$T/dav.log" 2>/dev/null && break
	sleep 0.1
done
if grep -q 'Signature=REDACTED' "$T/dav.log" && ! grep -q DAVSECRET "$T/dav.log"; then
	t_ok "WebDAV log redacts too"
else
	t_fail "WebDAV log redacts too" "$(cat "$T/dav.log")"
fi
t_done
