#!/usr/bin/env bash
# One client per interval runs each background job, across our gateways and
# the real client's mount on one volume (doc/architecture.md, "Background
# jobs"). JuiceFS elects through timestamp counters in the metadata engine
# (setIfSmall on lastCleanupTrash, lastCleanupFiles, nextCleanupSlices: 54 min
# turns; lastCleanupSessions: 9/10 heartbeat); ours use the same counters.
#
# The hourly jobs are asked for every 300 ms here (JFS_BGJOB_CHECK_MS) and
# the counters are read and set directly, so nothing waits an hour:
#  1. two of our gateways and a real mount: each hourly job is won exactly
#     once, and the counter holds that win's stamp (Unix seconds);
#  2. a stamp an hour old (the interval passed) is won again exactly once;
#     one 40 minutes old (another client ran it then) is won by nobody;
#  3. the real mount reads our stamps: while our gateways (heartbeat 2 s)
#     keep lastCleanupSessions fresh, every value the counter takes is one
#     that our logs say we wrote, i.e. the real mount (heartbeat 12 s, turn
#     10 s) never took a turn it was not due;
#  4. we read the real mount's stamps: with only a real mount refreshing
#     lastCleanupSessions every 2 s, a gateway of ours (turn 4 s) never wins.
# All of it on SQLite (jfs_counter rows) and on Redis (string keys).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
need_ref
export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123

# ctr NAME: the counter's value (empty when absent); setctr NAME VALUE.
ctr()
{
	if [ "$ENGINE" = redis ]; then
		redis-cli -p "$rport" -n 1 GET "$1"
		return
	fi
	python3 - "$DB" "$1" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
r = c.execute("select value from jfs_counter where name=?", (sys.argv[2],)).fetchone()
print("" if r is None else r[0])
EOF
}
setctr()
{
	if [ "$ENGINE" = redis ]; then
		redis-cli -p "$rport" -n 1 SET "$1" "$2" >/dev/null
		return
	fi
	python3 - "$DB" "$1" "$2" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
c.execute("insert or replace into jfs_counter(name, value) values(?, ?)",
          (sys.argv[2], int(sys.argv[3])))
c.commit()
EOF
}
# wins JOB: how many times our gateways' logs say they won JOB.
wins()
{
	cat "$T"/gw-*.log 2>/dev/null | grep -c "background job $1: elected"
}
gw_start()
{
	local name=$1 port i
	shift
	port=$(free_port)
	JFS_BGJOB_CHECK_MS=300 "$JFS_BIN" gateway "$META" "127.0.0.1:$port" --no-banner \
		--cache-dir none "$@" >"$T/gw-$name.log" 2>&1 &
	T_PIDS+=($!)
	GW_PIDS+=($!)
	for i in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
		sleep 0.1
	done
	return 1
}
GW_PIDS=()
stop_gateways()
{
	local p
	for p in "${GW_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	GW_PIDS=()
}

JOBS="lastCleanupTrash lastCleanupFiles nextCleanupSlices"

# age_hour NAME: rename trash hour directory NAME to 2000-01-01-00 (expired).
age_hour()
{
	if [ "$ENGINE" = redis ]; then
		# d<TrashInode> is the trash's entry hash; RENAME of a field by Lua
		redis-cli -p "$rport" -n 1 EVAL "local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
redis.call('HSET', KEYS[1], '2000-01-01-00', v)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1" 1 d9223372032828243968 "$1" | grep -qx 1
		return
	fi
	python3 - "$DB" "$1" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
n = c.execute("update jfs_edge set name=? where parent=? and name=?",
              (b"2000-01-01-00", 0x7FFFFFFF10000000, sys.argv[2].encode())).rowcount
c.commit()
sys.exit(0 if n == 1 else 1)
EOF
}

run_engine()
{
rm -f "$T"/gw-*.log
# ---- 1. three clients, each hourly job once
ref_mount "$META" "$T/ref" --heartbeat 12s
[ "$RC" -eq 0 ] || { t_fail "$ENGINE: real mount" "$(last_run)"; t_done; }
t0=$(date +%s)
gw_start a || t_fail "$ENGINE: gateway a starts" "$(tail -n 3 "$T/gw-a.log")"
gw_start b || t_fail "$ENGINE: gateway b starts" "$(tail -n 3 "$T/gw-b.log")"
for _ in $(seq 50); do
	n=0
	for j in $JOBS; do [ "$(wins "$j")" -ge 1 ] && n=$((n + 1)); done
	[ "$n" -eq 3 ] && break
	sleep 0.2
done
sleep 1.5 # five more rounds of asking by both gateways
t1=$(date +%s)
for j in $JOBS; do
	w=$(wins "$j")
	v=$(ctr "$j")
	if [ "$w" = 1 ] && [ -n "$v" ] && [ "$v" -ge "$t0" ] && [ "$v" -le "$t1" ]; then
		t_ok "$ENGINE: $j: won once among two gateways and a real mount (stamp $v)"
	else
		t_fail "$ENGINE: $j: won once" "wins $w, counter '$v', window $t0..$t1" \
			"$(grep -h "background job $j" "$T"/gw-*.log | head -n 4)"
	fi
done
who=$(grep -l 'background job lastCleanupTrash: elected' "$T"/gw-*.log | wc -l)
[ "$who" = 1 ] && t_ok "$ENGINE: the trash job ran in one gateway's log only" ||
	t_fail "$ENGINE: the trash job ran in one gateway's log only" "found in $who logs"

# ---- 2. an hour later: once more; 40 minutes after someone else: nobody
# A file deleted through the real mount, its hour directory then renamed to
# one long expired: the trash job's run must remove it, in one client.
echo old >"$T/ref/f" && rm "$T/ref/f"
hour=$(ls "$T/ref/.trash" | head -n 1)
age_hour "$hour"
[ $? -eq 0 ] && [ -n "$hour" ] || t_fail "$ENGINE: age the real mount's trash hour $hour" "no such edge"
now=$(date +%s)
setctr lastCleanupTrash $((now - 3600))
setctr lastCleanupFiles $((now - 2400))
for _ in $(seq 30); do
	[ "$(wins lastCleanupTrash)" -ge 2 ] && break
	sleep 0.2
done
sleep 1.5
wt=$(wins lastCleanupTrash)
wf=$(wins lastCleanupFiles)
vt=$(ctr lastCleanupTrash)
if [ "$wt" = 2 ] && [ "$vt" -ge "$now" ]; then
	t_ok "$ENGINE: an hour-old stamp: the trash job is won once more (stamp $vt)"
else
	t_fail "$ENGINE: an hour-old stamp is won once more" "wins $wt, counter $vt, now $now"
fi
if [ "$wf" = 1 ] && [ "$(ctr lastCleanupFiles)" = $((now - 2400)) ]; then
	t_ok "$ENGINE: a 40-minute-old stamp (another client's turn) is won by nobody"
else
	t_fail "$ENGINE: a 40-minute-old stamp is won by nobody" "wins $wf, counter $(ctr lastCleanupFiles)"
fi
expired=$(cat "$T"/gw-*.log | grep -c 'clean up trash: removed 1 expired')
left=$(ls "$T/ref/.trash" 2>/dev/null | grep -c '^2000-01-01-00$')
if [ "$expired" = 1 ] && [ "$left" = 0 ]; then
	t_ok "$ENGINE: the expired hour directory was removed, by one gateway"
else
	t_fail "$ENGINE: the expired hour directory was removed by one gateway" \
		"removal lines $expired, still listed $left" "$(ls "$T/ref/.trash")"
fi
ref_umount "$T/ref"
stop_gateways

# ---- 3. the real mount (turn 10 s) never wins while ours keep the stamp fresh
rm -f "$T"/gw-*.log
gw_start c --heartbeat 2s --verbose || t_fail "$ENGINE: gateway c starts" "$(tail -n 3 "$T/gw-c.log")"
gw_start d --heartbeat 2s --verbose || t_fail "$ENGINE: gateway d starts" "$(tail -n 3 "$T/gw-d.log")"
for _ in $(seq 50); do
	[ "$(wins lastCleanupSessions)" -ge 1 ] && break
	sleep 0.2
done
ref_mount "$META" "$T/ref" --heartbeat 12s
[ "$RC" -eq 0 ] || { t_fail "$ENGINE: real mount" "$(last_run)"; t_done; }
: >"$T/seen"
end=$(($(date +%s) + 15)) # the real mount's first heartbeat comes after 12 s
while [ "$(date +%s)" -lt "$end" ]; do
	ctr lastCleanupSessions >>"$T/seen"
	sleep 0.5
done
ref_umount "$T/ref"
sort -u "$T/seen" | grep . >"$T/seen-u"
grep -ho 'background job lastCleanupSessions: elected at [0-9]*' "$T"/gw-*.log |
	awk '{print $NF}' | sort -u >"$T/ours"
foreign=$(comm -23 "$T/seen-u" "$T/ours")
if [ "$(wc -l <"$T/seen-u")" -ge 3 ] && [ -z "$foreign" ]; then
	t_ok "$ENGINE: lastCleanupSessions: $(wc -l <"$T/seen-u") stamps seen over 15 s, all written by ours; the real mount took no turn"
else
	t_fail "$ENGINE: lastCleanupSessions stamps are all ours" "seen: $(tr '\n' ' ' <"$T/seen-u")" \
		"ours: $(tr '\n' ' ' <"$T/ours")" "not ours: $foreign"
fi
stop_gateways

# ---- 4. our gateway (turn 4 s) never wins while the real mount refreshes every 2 s
rm -f "$T"/gw-*.log
ref_mount "$META" "$T/ref" --heartbeat 2s
[ "$RC" -eq 0 ] || { t_fail "$ENGINE: real mount" "$(last_run)"; t_done; }
v0=$(ctr lastCleanupSessions)
for _ in $(seq 40); do
	[ "$(ctr lastCleanupSessions)" != "$v0" ] && break
	sleep 0.25
done
v1=$(ctr lastCleanupSessions)
if [ "$v1" != "$v0" ]; then
	t_ok "$ENGINE: the real mount advances lastCleanupSessions in the same counter ($v0 -> $v1)"
else
	t_fail "$ENGINE: the real mount advances lastCleanupSessions" "stays $v0"
fi
gw_start e --heartbeat 5s --verbose || t_fail "$ENGINE: gateway e starts" "$(tail -n 3 "$T/gw-e.log")"
sleep 11 # two of our checks
w=$(wins lastCleanupSessions)
if [ "$w" = 0 ]; then
	t_ok "$ENGINE: our gateway took no lastCleanupSessions turn while the real mount's stamp was fresh"
else
	t_fail "$ENGINE: our gateway took no turn" "wins $w" "$(grep -h 'lastCleanupSessions' "$T/gw-e.log" | head -n 3)"
fi
# ...and it was asking: once the real mount is gone, its next check wins.
ref_umount "$T/ref"
for _ in $(seq 50); do
	[ "$(wins lastCleanupSessions)" -ge 1 ] && break
	sleep 0.2
done
w=$(wins lastCleanupSessions)
if [ "$w" -ge 1 ]; then
	t_ok "$ENGINE: with the real mount gone our gateway takes the turn within 10 s"
else
	t_fail "$ENGINE: with the real mount gone our gateway takes the turn" "wins $w"
fi
stop_gateways
}

ENGINE=sqlite
DB=$T/vol.db
META=sqlite3://$DB
jfs format "$META" electvol --bucket "$T/bk"
if [ "$RC" -eq 0 ]; then run_engine; else t_fail "sqlite: format" "$(last_run)"; fi

if command -v redis-server >/dev/null; then
	ENGINE=redis
	rport=$(free_port)
	mkdir -p "$T/redis"
	t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
		--appendonly no --daemonize no --logfile "$T/redis/log"
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
	META=redis://127.0.0.1:$rport/1
	jfs format "$META" electvol --bucket "$T/bk-redis"
	if [ "$RC" -eq 0 ]; then run_engine; else t_fail "redis: format" "$(last_run)"; fi
else
	t_skip "redis engine" "redis-server not installed"
fi
t_done
