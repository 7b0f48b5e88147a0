#!/usr/bin/env bash
# Malformed and hostile HTTP at the WebDAV server (issue 12 items 11, 12).
# Each malformed head gets a prompt 400 (or 414/431) and the connection is
# closed; nothing waits for the 300 s idle timeout, and a NUL byte never
# lets a request read as another one ("DELETE\0 /victim" must not delete):
#  - NUL in the method, in the target, in a header value; a line of NULs; a
#    request of only empty lines; two different Content-Length values; all
#    again on a kept-alive connection after a good request;
#  - Basic credentials with a NUL inside: 401;
#  - chunk size 0xfffffffffffffff: a prompt 400 (a size in plain hex, however
#    large, is well-formed: like the real server, ours then waits for the
#    data, bounded by the idle timeout);
#  - 10,000 query parameters: 414; 200 header lines of 1 KiB: 431.
# The same requests go to the real WebDAV server when it is installed; its
# answers are printed after ours.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
ABUSE=$JFS_SRCDIR/t/integ/http-abuse.py
export WEBDAV_USER=davuser WEBDAV_PASSWORD=davpass123
CRED=$WEBDAV_USER:$WEBDAV_PASSWORD
AUTH="Basic $(printf '%s' "$CRED" | base64)"
META="sqlite3://$T/m.db"
jfs format "$META" baddav --bucket "$T/data" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

dav_start()
{
	local bin=$1 var=$2 meta=${3:-$META} port i
	port=$(free_port)
	"$bin" webdav "$meta" "127.0.0.1:$port" >>"$T/dav-$port.log" 2>&1 &
	DAV_PID=$!
	T_PIDS+=("$DAV_PID")
	wait_http "$port" 15
	printf -v "$var" '%s' "$port"
}
DC=(curl -s --max-time 20 --user "$CRED")

dav_start "$JFS_BIN" PORT
OURS=$DAV_PID
echo victim >"$T/victim"
put_victim() { "${DC[@]}" -o /dev/null -T "$T/victim" "http://127.0.0.1:$PORT/victim"; }
put_victim
victim_there() { [ "$("${DC[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/victim")" = 200 ]; }
victim_there || t_fail "PUT the victim file" "GET does not find it"

CASES=(nul-method nul-target nul-header nul-basic nul-line blank-lines two-clen ka-nul-method
	ka-nul-header many-params huge-header ka-many-params ka-huge-header huge-chunk)
# The real server gets the same requests on a volume of its own, all at once
# in the background (it holds some connections for seconds); its answers are
# only printed, at the end.
REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
RPORT=
ref_all()
{
	local name auth
	for name in "${CASES[@]}"; do
		auth=$AUTH
		[ "$name" = nul-basic ] && auth=$CRED
		timeout 60 python3 "$ABUSE" raw "$RPORT" "$name" --path /victim --auth "$auth" \
			>"$T/ref-$name" 2>&1 &
	done
	wait
}
if [ -x "$REF" ]; then
	RMETA="sqlite3://$T/r.db"
	jfs format "$RMETA" baddav --bucket "$T/rdata" --trash-days 0
	dav_start "$REF" RPORT "$RMETA"
	REFPID=$DAV_PID
	"${DC[@]}" -o /dev/null -T "$T/victim" "http://127.0.0.1:$RPORT/victim"
	ref_all &
	REFJOB=$!
	T_PIDS+=("$REFJOB")
fi

# check_case NAME WANT...: the answer must be one of WANT, prompt, and closed
# (unless "open" is among WANT), and the victim file must still be there.
check_case()
{
	local name=$1 got w ok=0 may_stay=0 why=()
	shift
	if [ "$name" = nul-basic ]; then
		got=$(timeout 60 python3 "$ABUSE" raw "$PORT" "$name" --path /victim --auth "$CRED")
	else
		got=$(timeout 60 python3 "$ABUSE" raw "$PORT" "$name" --path /victim --auth "$AUTH")
	fi
	read -r st cl secs <<<"$got"
	for w in "$@"; do
		[ "$w" = open ] && may_stay=1
		[ "$st" = "$w" ] && ok=1
	done
	[ "$ok" = 1 ] || why+=("status $st, want one of $*")
	[ "$cl" = closed ] || [ "$may_stay" = 1 ] || why+=("connection left $cl")
	awk -v s="$secs" 'BEGIN { exit !(s < 5) }' || why+=("answer after ${secs}s")
	victim_there || why+=("the victim file is gone")
	if [ ${#why[@]} -eq 0 ]; then
		t_ok "$name: $st, $cl after ${secs}s, nothing deleted"
	else
		t_fail "$name: one of $* at once" "${why[@]}" "ours: $got"
	fi
}

check_case nul-method 400
check_case nul-target 400
check_case nul-header 400
check_case nul-basic 401 open
check_case nul-line 400
check_case blank-lines 400
check_case two-clen 400
check_case ka-nul-method 400
check_case ka-nul-header 400
check_case many-params 414 400
check_case huge-header 431 400
check_case ka-many-params 414 400
check_case ka-huge-header 431 400
check_case huge-chunk 400

code=$("${DC[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/victim")
[ "$code" = 200 ] && t_ok "the server still serves after all this" || t_fail "the server still serves" "GET: $code"
kill -TERM "$OURS" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$OURS" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$OURS" 2>/dev/null; then
	t_fail "SIGTERM stops the server within 10 s" "$(tail -n 5 "$T/dav-$PORT.log")"
	kill -KILL "$OURS" 2>/dev/null
else
	t_ok "SIGTERM stops the server"
fi
if [ -n "$RPORT" ]; then
	wait "$REFJOB"
	for name in "${CASES[@]}"; do
		echo "# real server, $name: $(cat "$T/ref-$name" 2>/dev/null)"
	done
	kill -TERM "$REFPID" 2>/dev/null
fi
if grep -qE 'Sanitizer|runtime error:' "$T"/dav-*.log 2>/dev/null; then
	t_fail "no sanitizer report" "$(grep -hE -A5 'Sanitizer|runtime error:' "$T"/dav-*.log | head -20)"
else
	t_ok "no sanitizer report"
fi
t_done
