#!/usr/bin/env bash
# `juicefs profile MOUNTPOINT|LOGFILE` against our mount and the real one,
# by our CLI and by the real one:
#  - live, on a terminal (tmux): during N creates in each mount, every
#    profiler's screens count N create and N write operations in all;
#  - .accesslog lines of our mount have the real client's shape (the same
#    text for the same operations, numbers aside), a name with a newline
#    stays on one line;
#  - replay of a log captured from each mount: with --interval 0 (and the
#    --uid/--gid/--pid filters) and paced with --interval 3, our output is the
#    real CLI's, rows compared as a set (JuiceFS orders equal totals at random);
#  - bad arguments: one line on stderr and the real CLI's exit status.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
need_ref
command -v tmux >/dev/null || t_skip_all "tmux not installed (scripts/deps.sh lists it)"
T0=$(date +%s)
N=25

fformat prof
fmount "$META" "$T/o"
[ "$RC" -eq 0 ] || { t_fail "our mount" "$(last_run)"; t_done; }
mkdir -p "$T/r"
run "$JFS_REF" mount "$META" "$T/r" -d --log "$T/ref.log" --no-usage-report --cache-dir "$T/refcache"
[ "$RC" -eq 0 ] || { t_fail "real mount" "$(last_run)"; t_done; }
T_MOUNTS+=("$T/r")

# ---------------------------------------------------------------- live, in tmux
TM=(tmux -S "$T/tmux.sock")
# pane NAME CMD...: a 100x40 terminal running CMD
pane()
{
	local name=$1
	shift
	if [ ! -S "$T/tmux.sock" ]; then
		"${TM[@]}" new-session -d -s "$name" -x 100 -y 40 "$*"
		T_PIDS+=("$("${TM[@]}" display -p '#{pid}')")
	else
		"${TM[@]}" new-session -d -s "$name" -x 100 -y 40 "$*"
	fi
}
pane oo "$JFS_BIN profile $T/o --interval 1"
pane or "$JFS_REF profile $T/o --interval 1"
pane ro "$JFS_BIN profile $T/r --interval 1"
pane rr "$JFS_REF profile $T/r --interval 1"
# each shows its first (empty) table at once
for _ in $(seq 50); do
	n=0
	for s in oo or ro rr; do
		"${TM[@]}" capture-pane -p -t "$s" 2>/dev/null | grep -q '^Operation' && n=$((n + 1))
	done
	[ "$n" = 4 ] && break
	sleep 0.1
done
mkdir "$T/o/lo" "$T/r/lr"
# Screens last a second: read them four times a second, and keep each table
# once (by its time stamp) to add up its rows.
for i in $(seq 16); do
	[ "$i" = 2 ] && for j in $(seq $N); do echo x >"$T/o/lo/f$j"; echo x >"$T/r/lr/f$j"; done
	for s in oo or ro rr; do
		"${TM[@]}" capture-pane -p -t "$s" >"$T/cap.$s.$i"
	done
	sleep 0.25
done
# tables SESSION OP: the sum of OP's count over the distinct tables seen
tables()
{
	cat "$T"/cap."$1".* | awk -v op="$2" '
		/^> JuiceFS Profiling/ { ts = $NF; next }
		$1 == op && !seen[ts]++ { sum += $2 }
		END { print sum + 0 }'
}
for s in oo or ro rr; do
	mp=$T/o
	[ "${s:0:1}" = r ] && mp=$T/r
	cli=ours
	[ "${s:1:1}" = r ] && cli=real
	c=$(tables "$s" create)
	w=$(tables "$s" write)
	if [ "$c" = $N ] && [ "$w" = $N ]; then
		t_ok "live, $cli CLI on the $([ "$mp" = "$T/o" ] && echo our || echo real) mount: $N creates and $N writes counted"
	else
		t_fail "live, $cli CLI on $mp: counts" "create $c, write $w (want $N each)" \
			"$(tail -n 12 "$T/cap.$s.8")"
	fi
done
"${TM[@]}" kill-server 2>/dev/null

# ---------------------------------------------------------------- captured logs
capture()
{
	local mp=$1 out=$2 d=$3 pid j
	cat "$mp/.accesslog" >"$out" &
	pid=$!
	sleep 0.3
	mkdir "$mp/$d"
	for j in $(seq 12); do echo y >"$mp/$d/g$j"; done
	for j in $(seq 4); do cat "$mp/$d/g$j" >/dev/null; done
	ls -l "$mp/$d" >/dev/null
	rm "$mp/$d/g1"
	stat "$mp/$d/nothing" 2>/dev/null
	: >"$mp/$d/a"$'\n'"b"
	sleep 1.3 # a "#" line too
	kill "$pid"
	wait "$pid" 2>/dev/null
}
capture "$T/o" "$T/o.alog" co
capture "$T/r" "$T/r.alog" cr

# shape FILE: the lines of some operations with numbers and our names made alike
# (not those of internal files: the profilers' handles closing late are in it)
shape()
{
	grep -E '\] (create|mkdir|unlink|write|read|open|opendir|release|flush) |lookup \([0-9]+,(nothing|a\\nb)\)' "$1" |
		grep -v '(9223372032' | cut -d' ' -f4- | sed -E 's/\bc[or]\b/D/; s/[0-9A-F]{16}/H/g; s/[0-9]+/N/g' | sort -u
}
if ! grep -vE '^(#|[0-9]{4}\.[0-9]{2}\.[0-9]{2} [0-9:]{8}\.[0-9]{6} \[uid:[0-9]+,gid:[0-9]+,pid:[0-9]+\] [a-z_]+ \(.* - [a-zA-Z /-]+ <[0-9]+\.[0-9]{6}>)$' "$T/o.alog" >"$T/odd"; then
	t_ok "every line of our .accesslog has the real client's frame"
else
	t_fail "our .accesslog lines" "$(head -n 5 "$T/odd")"
fi
shape "$T/o.alog" >"$T/o.shape"
shape "$T/r.alog" >"$T/r.shape"
if [ "$(nlines "$T/r.shape")" -gt 8 ] && cmp -s "$T/o.shape" "$T/r.shape"; then
	t_ok "our log lines read as the real client's for the same operations ($(nlines "$T/r.shape") shapes)"
else
	t_fail "log lines as the real client's" "$(diff "$T/o.shape" "$T/r.shape" | head -n 12)"
fi
if grep -qF 'create (N,a\nb,' "$T/o.shape" && grep -qF 'create (N,a\nb,' "$T/r.shape"; then
	t_ok "a name with a newline is logged on one line, escaped as the real client does"
else
	t_fail "newline in a name" "$(grep -F 'a\' "$T/o.alog" | head -n 2)"
fi

# same DESC FILE ARGS...: both CLIs replay FILE; headers equal, rows equal as sets
same()
{
	local desc=$1 f=$2 b
	shift 2
	for b in ours ref; do
		bin=$JFS_BIN
		[ "$b" = ref ] && bin=$JFS_REF
		"$bin" profile "$f" "$@" >"$T/p.$b" 2>"$T/p.$b.err" </dev/null
		echo "exit $?" >"$T/p.$b.rc"
		{ head -n 2 "$T/p.$b"; tail -n +3 "$T/p.$b" | sort; } >"$T/p.$b.n"
	done
	if cmp -s "$T/p.ours.n" "$T/p.ref.n" && cmp -s "$T/p.ours.rc" "$T/p.ref.rc" &&
		[ ! -s "$T/p.ours.err" ]; then
		t_ok "$desc: as the real CLI ($(($(nlines "$T/p.ref") - 3)) rows)"
	else
		t_fail "$desc" "$(diff "$T/p.ours" "$T/p.ref" | head -n 10)" "$(head -n 2 "$T/p.ours.err")"
	fi
}
for m in o r; do
	f=$T/$m.alog
	same "replay $m.alog --interval 0" "$f" --interval 0
	pid=$(grep -m1 -oE 'pid:[0-9]+\] create' "$f" | grep -oE '[0-9]+')
	same "replay $m.alog --interval 0 --pid $pid,1" "$f" --interval 0 --pid "$pid,1"
	same "replay $m.alog --interval 0 -u 7,0 -g 0" "$f" --interval 0 -u 7,0 -g 0
	same "replay $m.alog --interval 0 --uid 7 (nothing)" "$f" --interval 0 --uid 7
done
grep -q '^create  *13 ' <("$JFS_BIN" profile "$T/o.alog" --interval 0) &&
	t_ok "replay of our log counts the 13 creates" ||
	t_fail "replay counts" "$("$JFS_BIN" profile "$T/o.alog" --interval 0 | head)"

# Paced: one table at once (now), the whole log in the next (its start + 3 s).
for b in ours ref; do
	bin=$JFS_BIN
	[ "$b" = ref ] && bin=$JFS_REF
	# stdin open (the real CLI spins on a closed one) and no terminal
	(sleep 5 | timeout 10 "$bin" profile "$T/o.alog" --interval 3 >"$T/pp.$b" 2>&1) &
done
wait
for b in ours ref; do
	{ sed -n 1p "$T/pp.$b" | cut -c1-54; sed -n '2,4p' "$T/pp.$b"; sed -n '5,$p' "$T/pp.$b" |
		grep -v '^[a-z_]* ' ; sed -n '5,$p' "$T/pp.$b" | grep '^[a-z_]* ' | sort; } >"$T/pp.$b.n"
done
if grep -q '(replay done)' "$T/pp.ref" && cmp -s "$T/pp.ours.n" "$T/pp.ref.n"; then
	t_ok "paced replay (--interval 3): the real CLI's tables"
else
	t_fail "paced replay" "$(diff "$T/pp.ours" "$T/pp.ref" | head -n 12)"
fi

# ---------------------------------------------------------------- bad arguments
mkdir -p "$T/plain"
bad()
{
	local desc=$1 rcr
	shift
	run "$JFS_REF" profile "$@"
	rcr=$RC
	jfs profile "$@"
	if [ "$RC" = "$rcr" ] && [ "$RC" != 0 ] && [ "$(nlines "$T/err")" = 1 ] && [ ! -s "$T/out" ] &&
		! crashed; then
		t_ok "$desc: exit $RC and one line: $(sed 's/.*<FATAL>: //; s/ \[.*//' "$T/err")"
	else
		t_fail "$desc" "ours: $(last_run)" "real exit: $rcr"
	fi
}
bad "no argument"
bad "two arguments" "$T/o.alog" "$T/r.alog"
bad "missing path" "$T/nothing"
bad "a directory that is no mount" "$T/plain"
bad "live with --interval 0" "$T/o" --interval 0
bad "--interval abc" "$T/o.alog" --interval abc
bad "unknown flag" "$T/o.alog" --bogus

fumount "$T/o"
run "$JFS_REF" umount "$T/r"
fcheck_logs
echo "# t7301 took $(($(date +%s) - T0)) s"
t_done
