#!/usr/bin/env bash
# A Redis restart is waited out, not reported (issue 12, item 4).
#
# A private redis-server holds the volume in db 1 and two million filler keys
# in db 0, saved to an RDB file, so that after a restart it answers LOADING
# for a few seconds. Readers GET objects through our S3 gateway in a loop
# while the server is shut down and started again on the same port. Every GET
# must answer 200 with the right body: the connection refused while it is
# down and LOADING while it reads its dump are transient, and the engine waits
# them out (bounded, about 15 s). Before the fix these GETs answered 500.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
command -v redis-server >/dev/null || t_skip_all "redis-server not installed"

AK=loadak1 SK=loadsecret1
export MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK
redis_own --appendonly no --dbfilename dump.rdb --enable-debug-command local

jfs format "$R" loading --bucket "$T/data" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format" "$(last_run)"; t_done; }
run redis-cli -p "$rport" -n 0 debug populate 2000000 filler 64
[ "$RC" -eq 0 ] || { t_fail "fill db 0" "$(last_run)"; t_done; }

port=$(free_port)
"$JFS_BIN" gateway "$R" "127.0.0.1:$port" --cache-dir none --no-banner \
	>>"$T/gw.log" 2>&1 </dev/null &
T_PIDS+=("$!")
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$port/" && break
	sleep 0.1
done
S3C=(curl -s --max-time 60 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK")
EP=http://127.0.0.1:$port/loading
put_ok=1
for k in a b c; do
	head -c $((RANDOM * 40 + 1000)) /dev/urandom >"$T/$k"
	[ "$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/$k" "$EP/$k")" = 200 ] || put_ok=0
done
[ "$put_ok" -eq 1 ] || { t_fail "PUT three objects" "$(tail -n 5 "$T/gw.log")"; t_done; }

# reader N: GET the objects in turn until $T/stop exists; one line per GET.
reader()
{
	local n=$1 k code
	while [ ! -e "$T/stop" ]; do
		for k in a b c; do
			code=$("${S3C[@]}" -o "$T/got$n" -w '%{http_code}' "$EP/$k") || code="curl$?-$code"
			if [ "$code" = 200 ] && cmp -s "$T/got$n" "$T/$k"; then
				echo "ok $k $code" >>"$T/reads$n"
			else
				echo "bad $k $code $(date +%T.%N)" >>"$T/reads$n"
			fi
		done
	done
}
rpids=()
for n in 1 2 3; do
	reader "$n" &
	rpids+=($!)
done
sleep 1

# The restart: save, stop, start on the same port, watch it load.
run redis-cli -p "$rport" save
redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1
wait "$RPID" 2>/dev/null
sleep 1 # down for a while: connections are refused
redis-server "${RARGS[@]}" &
RPID=$!
T_PIDS+=("$RPID")
loading=0
for _ in $(seq 300); do
	x=$(redis-cli -p "$rport" ping 2>&1)
	case $x in
	PONG) break ;;
	LOADING*) loading=$((loading + 1)) ;;
	esac
	sleep 0.05
done
sleep 2
touch "$T/stop"
wait "${rpids[@]}"

if [ "$loading" -gt 0 ]; then
	t_ok "redis-server answered LOADING after the restart ($loading probes)"
else
	t_fail "redis-server answered LOADING after the restart" "$(tail -n 5 "$T/redis/log")"
fi
cat "$T"/reads? >"$T/reads"
nok=$(grep -c '^ok' "$T/reads")
nbad=$(grep -c '^bad' "$T/reads")
if [ "$nbad" -eq 0 ] && [ "$nok" -gt 0 ]; then
	t_ok "$nok GETs across the restart, none failed"
else
	t_fail "GETs across the restart never fail" "$nok ok, $nbad failed:" \
		"$(grep '^bad' "$T/reads" | head -n 5)" "$(grep -E 'ERROR|WARN' "$T/gw.log" | tail -n 3)"
fi
# after the restart the gateway works as before
code=$("${S3C[@]}" -o "$T/got" -w '%{http_code}' "$EP/a")
if [ "$code" = 200 ] && cmp -s "$T/got" "$T/a"; then
	t_ok "GET after the restart"
else
	t_fail "GET after the restart" "status $code"
fi
t_done
