#!/usr/bin/env bash
# `juicefs status` lists the sessions of our mounts and the real client's as
# the real client does, on SQLite and on Redis:
#  1. with one mount of ours and one real mount running, the Sessions of both
#     clients' `status` are the same (Expire left out: a heartbeat may move it
#     between the two runs), our SessionInfo has the real one's fields
#     (HostName, IPAddrs, MountPoint, ProcessID of the serving process);
#  2. `status -s SID` of each session, by either client, is the same document:
#     sustained inodes (a file unlinked while open, --trash-days 0), flocks
#     and plocks (held by a helper process in each mount) included;
#  3. a mount killed with SIGKILL leaves a stale session: both clients still
#     list it, its Expire passed; a live client of the other kind (heartbeat
#     1 s) then cleans it up: the session, its locks and its sustained inode
#     go. Both ways: the real mount cleans ours, ours cleans the real one's.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
need_ref

# The locks and the open-unlinked file of one mount, held until killed.
cat >"$T/hold.py" <<'EOF'
import fcntl, os, sys, time
mp, ready = sys.argv[1], sys.argv[2]
for n in ("fl", "pl", "gone"):
    with open(os.path.join(mp, n), "w") as f:
        f.write(n * 10)
a = open(os.path.join(mp, "fl"), "r")
fcntl.flock(a, fcntl.LOCK_SH)
b = open(os.path.join(mp, "pl"), "r+")
fcntl.lockf(b, fcntl.LOCK_EX, 10, 2)
fcntl.lockf(b, fcntl.LOCK_SH, 3, 20)
c = open(os.path.join(mp, "gone"), "r")
os.unlink(os.path.join(mp, "gone"))
open(ready, "w").write("ok")
time.sleep(300)
EOF

declare -A HOLD=()
# hold MP NAME: start the holder in MP, wait until it is ready.
hold()
{
	rm -f "$T/ready-$2"
	python3 "$T/hold.py" "$1" "$T/ready-$2" 2>"$T/hold-$2.err" &
	T_PIDS+=($!)
	HOLD[$2]=$!
	for _ in $(seq 100); do
		[ -f "$T/ready-$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# A foreground mount in its own process group (so that kill -9 reaches any
# supervisor the client forks too); MPGID/RPGID keep the group ids.
fg_mount()
{
	local bin=$1 mp=$2 name
	name=$(basename "$mp")
	shift 2
	mkdir -p "$mp"
	setsid "$bin" mount "$META" "$mp" --heartbeat 1s --no-usage-report --cache-dir "$T/c-$name" \
		"$@" >"$T/$name.log" 2>&1 &
	T_PIDS+=($!)
	FG_PID=$!
	T_MOUNTS+=("$mp")
	for _ in $(seq 150); do
		[ "$(stat -c %i "$mp" 2>/dev/null)" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}
kill_group()
{
	kill -9 -- "-$1" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	umount -l "$2" 2>/dev/null
}
# stop_holder NAME: after its mount died, so that the locks stay behind.
stop_holder()
{
	local p=${HOLD[$1]:-}
	[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	unset "HOLD[$1]"
}
# ours|ref status ARGS: JSON on $T/NAME.json (the real one logs on stderr).
st_json()
{
	local who=$1 out=$2
	shift 2
	if [ "$who" = ours ]; then jfs status "$@"; else ref status "$@"; fi
	cp "$T/out" "$T/$out.json"
	[ "$RC" -eq 0 ] && jq -e . "$T/$out.json" >/dev/null 2>&1
}
sids()
{
	jq -r '.Sessions[].Sid' "$T/$1.json" 2>/dev/null | sort -n | tr '\n' ' '
}
# locks_of SID: lock records left in the engine for SID.
locks_of()
{
	if [ "$ENGINE" = redis ]; then
		redis-cli -p "$rport" -n 1 EXISTS "locked$1"
	else
		sqlite3 "$DB" "select (select count(*) from jfs_flock where sid=$1) +
			(select count(*) from jfs_plock where sid=$1) +
			(select count(*) from jfs_sustained where sid=$1)"
	fi
}

# set_mount_time SID TIME: rewrite the MountTime of a session's info in the engine.
set_mount_time()
{
	local info
	if [ "$ENGINE" = redis ]; then
		info=$(redis-cli -p "$rport" -n 1 HGET sessionInfos "$1")
		info=$(jq -c --arg t "$2" '.MountTime = $t' <<<"$info")
		echo "$info" >"$T/set.log"
		redis-cli -p "$rport" -n 1 HSET sessionInfos "$1" "$info" >/dev/null
	else
		info=$(sqlite3 "$DB" "select info from jfs_session2 where sid=$1")
		info=$(jq -c --arg t "$2" '.MountTime = $t' <<<"$info")
		sqlite3 "$DB" "update jfs_session2 set info='$info' where sid=$1"
	fi
}
run_engine()
{
	local ours_sid ref_sid pid mp who sid a b
	jfs format "$META" stvol --bucket "$T/bk-$ENGINE" --trash-days 0
	[ "$RC" -eq 0 ] || { t_fail "$ENGINE: format" "$(last_run)"; return; }
	fg_mount "$JFS_BIN" "$T/o-$ENGINE" || { t_fail "$ENGINE: our mount" "$(tail -n 3 "$T/o-$ENGINE.log")"; return; }
	OPGID=$FG_PID
	fg_mount "$JFS_REF" "$T/r-$ENGINE" || { t_fail "$ENGINE: real mount" "$(tail -n 3 "$T/r-$ENGINE.log")"; return; }
	RPGID=$FG_PID
	mkdir -p "$T/o-$ENGINE/ours" "$T/r-$ENGINE/ref"
	if hold "$T/o-$ENGINE/ours" "o-$ENGINE" && hold "$T/r-$ENGINE/ref" "r-$ENGINE"; then
		t_ok "$ENGINE: locks and an open unlinked file held in both mounts"
	else
		t_fail "$ENGINE: holders ready" "$(cat "$T"/hold-*.err | head -n 5)"
	fi

	# ---- 1. the session list
	st_json ours "ol-$ENGINE" "$META" || t_fail "$ENGINE: our status" "$(last_run)"
	st_json ref "rl-$ENGINE" "$META" || t_fail "$ENGINE: real status" "$(last_run)"
	# Both list in the engine's order, by expiry: a heartbeat between the two
	# calls may swap them.
	a=$(jq -S '.Sessions | map(del(.Expire)) | sort_by(.Sid)' "$T/ol-$ENGINE.json")
	b=$(jq -S '.Sessions | map(del(.Expire)) | sort_by(.Sid)' "$T/rl-$ENGINE.json")
	if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$(jq length <<<"$a")" = 2 ]; then
		t_ok "$ENGINE: both clients list the same two sessions"
	else
		t_fail "$ENGINE: both clients list the same sessions" "$(diff <(echo "$a") <(echo "$b") | head -n 12)"
	fi
	ours_sid=$(jq -r --arg mp "$T/o-$ENGINE" '.Sessions[] | select(.MountPoint == $mp) | .Sid' "$T/ol-$ENGINE.json")
	ref_sid=$(jq -r --arg mp "$T/r-$ENGINE" '.Sessions[] | select(.MountPoint == $mp) | .Sid' "$T/ol-$ENGINE.json")
	pid=$(jq -r .Pid "$T/o-$ENGINE/.config" 2>/dev/null)
	a=$(jq -c --arg s "$ours_sid" '.Sessions[] | select(.Sid == ($s | tonumber)) |
		[.HostName, .IPAddrs, .ProcessID, (.Version | startswith("1.4.2+juicefs-c-")),
		 (.MountTime | test("^[0-9-]+T[0-9:]+\\.[0-9]+Z$"))]' "$T/ol-$ENGINE.json")
	b=$(jq -c --arg s "$ref_sid" --arg p "$pid" '.Sessions[] | select(.Sid == ($s | tonumber)) |
		[.HostName, .IPAddrs, ($p | tonumber), true, true]' "$T/ol-$ENGINE.json")
	if [ -n "$ours_sid" ] && [ -n "$a" ] && [ "$a" = "$b" ] &&
		[ "$(jq -r --arg s "$ours_sid" '.Sessions[] | select(.Sid == ($s | tonumber)) | .HostName' \
			"$T/ol-$ENGINE.json")" = "$(hostname)" ]; then
		t_ok "$ENGINE: our SessionInfo has the real one's host, addresses, our pid $pid"
	else
		t_fail "$ENGINE: our SessionInfo like the real one's" "ours $a" "want $b" "sids $ours_sid $ref_sid"
	fi

	# Go prints a time's fraction without trailing zeros: an info written
	# with nine digits (by an older build of ours) or a whole second is shown
	# by both clients the same way.
	for mt in 2026-01-02T03:04:05.120000000Z 2026-01-02T03:04:05.000000000Z; do
		set_mount_time "$ours_sid" "$mt"
		st_json ours "om-$ENGINE" "$META" || t_fail "$ENGINE: our status" "$(last_run)"
		st_json ref "rm-$ENGINE" "$META" || t_fail "$ENGINE: real status" "$(last_run)"
		cp "$T/err" "$T/rm-$ENGINE.err"
		a=$(jq -S '.Sessions | map(del(.Expire)) | sort_by(.Sid)' "$T/om-$ENGINE.json")
		b=$(jq -S '.Sessions | map(del(.Expire)) | sort_by(.Sid)' "$T/rm-$ENGINE.json")
		if [ -n "$a" ] && [ "$a" = "$b" ] && grep -q '"2026-01-02T03:04:05\(.12\)\?Z"' "$T/om-$ENGINE.json"; then
			t_ok "$ENGINE: MountTime $mt is shown as Go shows it, by both"
		else
			t_fail "$ENGINE: MountTime $mt as Go shows it" "$(diff <(echo "$a") <(echo "$b") | head -n 12)" \
				"real status: $(grep -v '^ *$' "$T/rm-$ENGINE.err" | tail -n 2)" "set: $(cat "$T/set.log")"
		fi
	done
	set_mount_time "$ours_sid" "$(date -u +%Y-%m-%dT%H:%M:%S.5Z)"

	# ---- 2. one session in detail, by either client
	for sid in $ours_sid $ref_sid; do
		st_json ours "od-$sid" -s "$sid" "$META" || t_fail "$ENGINE: our status -s $sid" "$(last_run)"
		st_json ref "rd-$sid" -s "$sid" "$META" || t_fail "$ENGINE: real status -s $sid" "$(last_run)"
		a=$(jq 'del(.Expire)' "$T/od-$sid.json")
		b=$(jq 'del(.Expire)' "$T/rd-$sid.json")
		n=$(jq -c '[(.Sustained | length), (.Flocks | length), (.Plocks | length),
			(.Plocks[0].Records | length), .Flocks[0].Ltype]' "$T/od-$sid.json")
		if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$n" = '[1,1,1,2,"R"]' ]; then
			t_ok "$ENGINE: status -s $sid: the same document by both, sustained/flocks/plocks $n"
		else
			t_fail "$ENGINE: status -s $sid the same by both" "counts $n" \
				"$(diff <(echo "$a") <(echo "$b") | head -n 14)"
		fi
	done
	# Our text is the real one's to the byte, Go's MarshalIndent layout included.
	if [ -n "$ref_sid" ] && cmp -s <(grep -v '^20..[/-]' "$T/rd-$ref_sid.json" | sed '/"Expire"/d') \
		<(sed '/"Expire"/d' "$T/od-$ref_sid.json"); then
		t_ok "$ENGINE: status -s prints the real client's layout byte for byte"
	else
		t_fail "$ENGINE: status -s layout" "$(diff "$T/od-$ref_sid.json" "$T/rd-$ref_sid.json" | head -n 8)"
	fi
	jfs status -s 999999 "$META"
	if [ "$RC" = 1 ] && grep -q "session not found: 999999" "$T/err"; then
		t_ok "$ENGINE: status -s of an unknown session fails as the real one does"
	else
		t_fail "$ENGINE: status -s unknown session" "$(last_run)"
	fi

	# ---- 3. stale sessions: ours killed, cleaned by the real mount; and back
	for who in ours ref; do
		if [ "$who" = ours ]; then
			sid=$ours_sid mp=$T/o-$ENGINE
			kill_group "$OPGID" "$mp"
			stop_holder "o-$ENGINE"
		else
			# a new mount of ours, the cleaner of the real one's session
			fg_mount "$JFS_BIN" "$T/o2-$ENGINE" ||
				{ t_fail "$ENGINE: second mount of ours" "$(tail -n 3 "$T/o2-$ENGINE.log")"; break; }
			O2PGID=$FG_PID
			sid=$ref_sid mp=$T/r-$ENGINE
			kill_group "$RPGID" "$mp"
			stop_holder "r-$ENGINE"
		fi
		st_json ours "os-$who" "$META"
		st_json ref "rs-$who" "$META"
		now=$(date +%s)
		exp=$(jq -r --arg s "$sid" '.Sessions[] | select(.Sid == ($s | tonumber)) | .Expire' "$T/os-$who.json")
		exp_s=$(date -d "$exp" +%s 2>/dev/null || echo 0)
		if [ "$(sids "os-$who")" = "$(sids "rs-$who")" ] && [ -n "$exp" ] &&
			[ "$exp_s" -le $((now + 6)) ] && [ "$(locks_of "$sid")" != 0 ]; then
			t_ok "$ENGINE: $who mount killed: its session $sid still listed by both (Expire $exp)"
		else
			t_fail "$ENGINE: killed $who session still listed" "ours $(sids "os-$who")" \
				"real $(sids "rs-$who")" "expire '$exp' now $now locks $(locks_of "$sid")"
		fi
		gone=0
		for _ in $(seq 40); do
			st_json ours "oc-$who" "$META"
			if ! grep -qw "$sid" <<<"$(sids "oc-$who")"; then
				gone=1
				break
			fi
			sleep 0.5
		done
		st_json ref "rc-$who" "$META"
		if [ "$gone" = 1 ] && ! grep -qw "$sid" <<<"$(sids "rc-$who")" && [ "$(locks_of "$sid")" = 0 ]; then
			t_ok "$ENGINE: the stale $who session $sid was cleaned up by the other client, locks and sustained too"
		else
			t_fail "$ENGINE: stale $who session $sid cleaned up" "ours $(sids "oc-$who")" \
				"real $(sids "rc-$who")" "left $(locks_of "$sid")"
		fi
	done
	if [ -n "${O2PGID:-}" ]; then
		grep -q "clean up stale session $ref_sid {\"Version\":\"1.4.2+" "$T/o2-$ENGINE.log" &&
			t_ok "$ENGINE: our cleaner logs the stale session with its info, as JuiceFS does" ||
			t_fail "$ENGINE: our cleanup log line" "$(grep -i stale "$T/o2-$ENGINE.log" | head -n 3)"
		kill "$O2PGID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$O2PGID" 2>/dev/null || break; sleep 0.1; done
		umount -l "$T/o2-$ENGINE" 2>/dev/null
		O2PGID=
	fi
	grep -hE 'Sanitizer|runtime error:' "$T"/o*-"$ENGINE".log | head -n 3 | grep . &&
		t_fail "$ENGINE: sanitizer report in our mount log"
}

ENGINE=sqlite
DB=$T/vol.db
META=sqlite3://$DB
run_engine

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
	run_engine
else
	t_skip "redis engine" "redis-server not installed"
fi
t_done
