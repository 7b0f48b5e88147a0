#!/usr/bin/env bash
# SIGTERM/SIGINT must end a mount in bounded time, with the mountpoint
# released, even while an operation holds a metadata transaction open; the
# transaction either commits or rolls back, never half.
#
# A mount stuck in a long transaction (a huge sparse truncate on Redis) used
# to ignore SIGTERM: libfuse's handler only set a flag, and the loop then
# waited for the busy worker before unmounting. JFS_FAULT_META_TRUNCATE_SLEEP_MS
# holds a truncate's transaction open for as long as a test needs.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse

# gone PID MP SECS: 0 once the process has exited and MP is no mount, polled
# every 0.1 s for at most SECS seconds; sets GONE_MS to the time taken.
gone()
{
	local pid=$1 mp=$2 i t0
	t0=$(date +%s%N)
	for i in $(seq $(($3 * 10))); do
		if ! kill -0 "$pid" 2>/dev/null && ! mountpoint -q "$mp"; then
			GONE_MS=$((($(date +%s%N) - t0) / 1000000))
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# sessions META: the number of client sessions the volume still lists.
sessions()
{
	"$JFS_BIN" status "$1" 2>/dev/null | jq '.Sessions | length'
}

# case_ NAME META SIG SLEEP_MS WANT: mount META with truncates held SLEEP_MS
# inside their transaction, start `truncate -s 1G f` on a 5-byte file, send
# SIG; the mount must be gone within 10 s, and a fresh mount must show f at
# WANT bytes (5: rolled back, 1073741824: committed).
case_()
{
	local name=$1 meta=$2 sig=$3 ms=$4 want=$5 mp=$T/$1 pid tp size
	JFS_FAULT_META_TRUNCATE_SLEEP_MS=0 fmount "$meta" "$mp"
	[ "$RC" -eq 0 ] || { t_fail "[$name] mount" "$(last_run)"; return; }
	printf hello >"$mp/f-$name"
	fumount "$mp"
	JFS_FAULT_META_TRUNCATE_SLEEP_MS=$ms fmount "$meta" "$mp"
	[ "$RC" -eq 0 ] || { t_fail "[$name] mount with the truncate fault" "$(last_run)"; return; }
	pid=$(jq -r .Pid "$mp/.config")
	truncate -s 1G "$mp/f-$name" 2>/dev/null &
	tp=$!
	sleep 1
	kill "-$sig" "$pid"
	if gone "$pid" "$mp" 10; then
		t_ok "[$name] SIG$sig with a transaction in flight: exited and unmounted in ${GONE_MS} ms"
	else
		t_fail "[$name] SIG$sig with a transaction in flight: exited and unmounted within 10 s" \
			"alive: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no)," \
			"mounted: $(mountpoint -q "$mp" && echo yes || echo no)" \
			"$(tail -n 5 "$T/$name.log")"
		# bounded: the fault ends by itself; then the process may go
		gone "$pid" "$mp" 30 || { kill -9 "$pid" 2>/dev/null; umount -l "$mp" 2>/dev/null; }
	fi
	wait "$tp" 2>/dev/null
	JFS_FAULT_META_TRUNCATE_SLEEP_MS=0 fmount "$meta" "$mp"
	[ "$RC" -eq 0 ] || { t_fail "[$name] remount" "$(last_run)"; return; }
	size=$(stat -c %s "$mp/f-$name")
	if [ "$size" = "$want" ] && [ "$(head -c 5 "$mp/f-$name")" = hello ]; then
		t_ok "[$name] the truncate in flight $([ "$want" = 5 ] && echo rolled back || echo committed) whole"
	else
		t_fail "[$name] the truncate in flight is whole" "size $size, want $want"
	fi
	fumount "$mp"
}

fformat sigvol --trash-days 0
SQ=$META
# held 60 s: the mount must not wait for it
case_ sq-term "$SQ" TERM 60000 5
# held 1.5 s: inside the grace period, so it commits before the exit
case_ sq-int "$SQ" INT 1500 1073741824

if command -v redis-server >/dev/null; then
	redis_own
	jfs format "$R" rdvol --bucket "$T/rd-bucket" --trash-days 0
	[ "$RC" -eq 0 ] || { t_fail "format on redis" "$(last_run)"; t_done; }
	case_ rd-term "$R" TERM 60000 5
	case_ rd-hup "$R" HUP 1500 1073741824
else
	t_skip "redis cases" "no redis-server"
fi

# An idle mount ends at once, and closes its session on the way out (a
# fresh volume: the forced exits above leave their sessions to expire).
fformat idlevol
SQ=$META
fmount "$SQ" "$T/idle"
[ "$RC" -eq 0 ] || { t_fail "mount idle" "$(last_run)"; t_done; }
pid=$(jq -r .Pid "$T/idle/.config")
kill -TERM "$pid"
if gone "$pid" "$T/idle" 10; then
	t_ok "an idle mount exits on SIGTERM in ${GONE_MS} ms"
else
	t_fail "an idle mount exits on SIGTERM within 10 s"
fi
n=$(sessions "$SQ")
[ "$n" = 0 ] && t_ok "its session is closed" || t_fail "its session is closed" "sessions: $n"
fcheck_logs
t_done
