#!/usr/bin/env bash
# Malformed and hostile HTTP at the S3 gateway (issue 12 items 10, 11, 12).
# Each malformed head gets a prompt 400 (or 414/431) and the connection is
# closed; nothing waits for the idle timeout, and a NUL byte never lets a
# request read as another one ("DELETE\0 /victim" must not delete):
#  - NUL in the method, in the target, in a header value; a line of NULs; a
#    request of only empty lines; two different Content-Length values; all
#    again on a kept-alive connection after a good request;
#  - 10,000 query parameters: 414 (MHD ran out of pool and sent nothing);
#    200 header lines of 1 KiB: 431;
#  - an aws-chunked upload with one stray byte after the final chunk: 400
#    IncompleteBody at once (it looped at 100% CPU), and SIGTERM still stops
#    the gateway.
# The same requests go to the real gateway when it is installed; its
# answers are printed after ours.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
ABUSE=$JFS_SRCDIR/t/integ/http-abuse.py
export MINIO_ROOT_USER=badhttpak MINIO_ROOT_PASSWORD=badhttpsecret
KEYS=$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD
META="sqlite3://$T/m.db"
jfs format "$META" badhttp --bucket "$T/data" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

# gw_start BIN VAR [META]: a gateway on a free port; VAR gets the port, GW_PID the pid.
gw_start()
{
	local bin=$1 var=$2 meta=${3:-$META} port i
	port=$(free_port)
	"$bin" gateway "$meta" "127.0.0.1:$port" --no-banner >>"$T/gw-$port.log" 2>&1 &
	GW_PID=$!
	T_PIDS+=("$GW_PID")
	wait_http "$port" 15
	printf -v "$var" '%s' "$port"
}
S3C=(curl -s --max-time 20 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEYS")

gw_start "$JFS_BIN" PORT
OURS=$GW_PID
echo victim >"$T/victim"
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/victim" "http://127.0.0.1:$PORT/badhttp/victim")
[ "$code" = 200 ] || t_fail "PUT the victim object" "status $code"
victim_there() { [ "$("${S3C[@]}" -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$1/badhttp/victim")" = 200 ]; }

CASES=(nul-method nul-target nul-header nul-line blank-lines two-clen ka-nul-method ka-nul-header
	many-params huge-header ka-many-params ka-huge-header huge-chunk huge-chunk-hex)
# The real gateway gets the same requests on a volume of its own, in the
# background: it holds some connections for seconds, and its answers are only
# printed, at the end.
REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
RPORT=
ref_all()
{
	local name
	# At once: each may wait seconds for the real gateway to close.
	for name in "${CASES[@]}"; do
		timeout 60 python3 "$ABUSE" raw "$RPORT" "$name" --path /badhttp/victim --s3 "$KEYS" \
			>"$T/ref-$name" 2>&1 &
	done
	timeout 60 python3 "$ABUSE" chunked "$RPORT" badhttp chunked-stray-ref "${KEYS%%:*}" "${KEYS#*:}" \
		stray >"$T/ref-chunked-stray" 2>&1 &
	wait
}
if [ -x "$REF" ]; then
	RMETA="sqlite3://$T/r.db"
	jfs format "$RMETA" badhttp --bucket "$T/rdata" --trash-days 0
	gw_start "$REF" RPORT "$RMETA"
	REFPID=$GW_PID
	"${S3C[@]}" -o /dev/null -T "$T/victim" "http://127.0.0.1:$RPORT/badhttp/victim"
	ref_all &
	REFJOB=$!
	T_PIDS+=("$REFJOB")
fi

# check_case NAME WANT...: the answer must be one of WANT, prompt, and closed,
# and the victim object must still be there.
check_case()
{
	local name=$1 got w ok=0 why=()
	shift
	got=$(timeout 60 python3 "$ABUSE" raw "$PORT" "$name" --path /badhttp/victim --s3 "$KEYS")
	read -r st cl secs <<<"$got"
	for w in "$@"; do [ "$st" = "$w" ] && ok=1; done
	[ "$ok" = 1 ] || why+=("status $st, want one of $*")
	[ "$cl" = closed ] || why+=("connection left $cl")
	awk -v s="$secs" 'BEGIN { exit !(s < 5) }' || why+=("answer after ${secs}s")
	victim_there "$PORT" || why+=("the victim object is gone")
	if [ ${#why[@]} -eq 0 ]; then
		t_ok "$name: $st and closed after ${secs}s, nothing deleted"
	else
		t_fail "$name: one of $* at once, then closed" "${why[@]}" "ours: $got"
	fi
}

check_case nul-method 400
check_case nul-target 400
check_case nul-header 400
check_case nul-line 400
check_case blank-lines 400
check_case two-clen 400
check_case ka-nul-method 400
check_case ka-nul-header 400
check_case many-params 414 400
check_case huge-header 431 400
check_case ka-many-params 414 400
check_case ka-huge-header 431 400
# Chunked transfer coding with absurd chunk sizes: a prompt refusal.
check_case huge-chunk 400 411 413 501
check_case huge-chunk-hex 400 411 413 501

# ---------------------------------------------------------------- aws-chunked
got=$(timeout 60 python3 "$ABUSE" chunked "$PORT" badhttp chunked-good "${KEYS%%:*}" "${KEYS#*:}" good)
[ "${got%% *}" = 200 ] && t_ok "a well-formed aws-chunked upload: $got" ||
	t_fail "a well-formed aws-chunked upload: 200" "$got"
t0=$(date +%s)
got=$(timeout 60 python3 "$ABUSE" chunked "$PORT" badhttp chunked-stray "${KEYS%%:*}" "${KEYS#*:}" stray)
read -r st secs code <<<"$got"
if [ "$st" = 400 ] && [ "$code" = IncompleteBody ]; then
	t_ok "a stray byte after the final aws-chunked chunk: 400 IncompleteBody in ${secs}s"
else
	t_fail "a stray byte after the final aws-chunked chunk: 400 IncompleteBody" "ours: $got"
fi
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$PORT/badhttp/chunked-stray")
[ "$code" = 404 ] && t_ok "the refused upload left no object" || t_fail "the refused upload left no object" "HEAD: $code"
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/badhttp/victim")
[ "$code" = 200 ] && t_ok "the gateway still serves after all this" || t_fail "the gateway still serves" "GET: $code"

kill -TERM "$OURS" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$OURS" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$OURS" 2>/dev/null; then
	t_fail "SIGTERM stops the gateway within 10 s" "$(tail -n 5 "$T/gw-$PORT.log")"
	kill -KILL "$OURS" 2>/dev/null
else
	wait "$OURS"
	rc=$?
	[ "$rc" = 0 ] && t_ok "SIGTERM stops the gateway: exit 0 after $(($(date +%s) - t0)) s of abuse" ||
		t_fail "SIGTERM: clean exit" "exit status $rc"
fi
if [ -n "$RPORT" ]; then
	wait "$REFJOB"
	for name in "${CASES[@]}" chunked-stray; do
		echo "# real gateway, $name: $(cat "$T/ref-$name" 2>/dev/null)"
	done
	kill -TERM "$REFPID" 2>/dev/null
fi
if grep -qE 'Sanitizer|runtime error:' "$T"/gw-*.log 2>/dev/null; then
	t_fail "no sanitizer report" "$(grep -hE -A5 'Sanitizer|runtime error:' "$T"/gw-*.log | head -20)"
else
	t_ok "no sanitizer report"
fi
t_done
