#!/usr/bin/env bash
# `juicefs stats MOUNTPOINT` in a terminal (issue 17 §4): run under tmux
# against our mount and against the real client's mount, read the screen
# while dd writes into the mounts, and check the figures move: the first
# line's rates are zero, later lines show FUSE writes and object PUTs. The
# real client's own `stats` is run against our mount too, which reads our
# .stats with JuiceFS's parser.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
command -v tmux >/dev/null || t_skip_all "tmux missing (scripts/deps.sh)"
t_start=$(date +%s)
TM="tmux -S $T/tmux.sock"

fformat statvol
M=$T/ours
OURS_MP=$(free_port)
fmount "$META" "$M" --metrics "127.0.0.1:$OURS_MP"
[ "$RC" -eq 0 ] || { t_fail "mount ours" "$(last_run)"; t_done; }

REFM=""
if (need_ref) >"$T/need_ref.out" 2>&1; then
	need_ref >/dev/null
	REFM=$T/ref
	mkdir -p "$REFM"
	ref format "sqlite3://$T/refvol.db" refvol --bucket "$T/refvol-bucket"
	REF_MP=$(free_port)
	ref mount "sqlite3://$T/refvol.db" "$REFM" -d --no-usage-report --log "$T/ref.log" \
		--cache-dir "$T/refcache" --metrics "127.0.0.1:$REF_MP"
	if [ "$RC" -eq 0 ]; then
		T_MOUNTS+=("$REFM")
	else
		t_fail "the real client mounts" "$(last_run)"
		REFM=""
	fi
else
	t_skip "juicefs stats against the real mount" "$(tail -n 1 "$T/need_ref.out")"
fi

# pane NAME CMD...: a detached 200x40 tmux session running CMD.
pane()
{
	local name=$1
	shift
	$TM new-session -d -s "$name" -x 200 -y 40 "$* 2>&1; sleep 30"
}
pane ours "$JFS_BIN" stats "$M" --count 6
[ -n "$REFM" ] && pane onref "$JFS_BIN" stats "$REFM" --count 6
[ -n "$REFM" ] && pane refonours "$JFS_REF" stats "$M" --count 6
sleep 1.2
for i in 1 2 3 4; do
	dd if=/dev/urandom of="$M/load$i" bs=1M count=6 conv=fsync status=none
	[ -n "$REFM" ] && dd if=/dev/urandom of="$REFM/load$i" bs=1M count=6 conv=fsync status=none
	sleep 0.6
done
sleep 2.5

# check NAME DESC: the screen has the header and the figures moved.
check()
{
	local name=$1 desc=$2 scr=$T/screen-$1
	$TM capture-pane -p -t "$name" >"$scr" 2>/dev/null
	# data lines: "|"-separated usage|fuse|meta|blockcache|object
	awk -F'|' 'NF == 5 && $1 !~ /cpu/' "$scr" >"$scr.data"
	local first fw op
	first=$(head -n 1 "$scr.data" | awk -F'|' '{ split($2, f, " "); print f[1] f[3] f[4] }')
	fw=$(awk -F'|' '{ split($2, f, " "); if (f[4] != "0") n++ } END { print n + 0 }' "$scr.data")
	op=$(awk -F'|' '{ split($5, f, " "); if (f[2] != "0") n++ } END { print n + 0 }' "$scr.data")
	if grep -q -- '-usage-' "$scr" && grep -q 'ops   lat   read write' "$scr" &&
		[ "$first" = 000 ] && [ "$fw" -ge 1 ] && [ "$op" -ge 1 ]; then
		t_ok "$desc: header, first line at zero, $fw lines with FUSE writes, $op with PUTs"
	else
		t_fail "$desc: the figures move" "first line fuse ops/read/write '$first'," \
			"lines with writes $fw, with puts $op" "$(head -n 12 "$scr")"
	fi
}
check ours "our stats on our mount"
if [ -n "$REFM" ]; then
	check onref "our stats on the real mount"
	check refonours "the real stats on our mount"
fi
n=$(awk -F'|' 'NF == 5 && $1 !~ /cpu/' "$T/screen-ours" | wc -l)
if [ "$n" -eq 6 ]; then
	t_ok "--count 6 printed 6 lines and stopped"
else
	t_fail "--count 6 printed 6 lines" "got $n"
fi

# The families both mounts serve have the same type, help, label names and buckets (what
# JuiceFS's Grafana dashboard relies on); the real client's families we lack are listed.
if [ -n "$REFM" ] && /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null; then
	/usr/bin/python3 - "http://127.0.0.1:$OURS_MP/metrics" "http://127.0.0.1:$REF_MP/metrics" \
		>"$T/cmp.out" 2>&1 <<'PY'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
def load(url):
    fams = {}
    for f in text_string_to_metric_families(urllib.request.urlopen(url, timeout=10).read().decode()):
        labels, les = set(), set()
        for s in f.samples:
            labels |= set(s.labels) - {"le"}
            if "le" in s.labels:
                les.add(s.labels["le"])
        fams[f.name] = (f.type, f.documentation, labels, les)
    return fams
ours, real = load(sys.argv[1]), load(sys.argv[2])
bad = []
for name in sorted(set(ours) & set(real)):
    o, r = ours[name], real[name]
    if o[0] != r[0] or o[1] != r[1] or o[3] != r[3] or not o[2] <= r[2]:
        bad.append("%s: ours %s %r labels %s, %d buckets; real %s %r labels %s, %d buckets" % (
            name, o[0], o[1], sorted(o[2]), len(o[3]), r[0], r[1], sorted(r[2]), len(r[3])))
print("same:", len(set(ours) & set(real)))
print("only in the real client:", " ".join(sorted(n for n in set(real) - set(ours)
                                                   if not n.startswith("juicefs_go_"))))
print("only ours:", " ".join(sorted(set(ours) - set(real))))
for b in bad:
    print("DIFF", b)
sys.exit(1 if bad else 0)
PY
	if [ $? -eq 0 ]; then
		t_ok "families served by both mounts match in type, help, labels and buckets ($(sed -n 's/^same: //p' "$T/cmp.out"))"
	else
		t_fail "families served by both mounts match the real client's" "$(grep -v '^same' "$T/cmp.out" | head -12)"
	fi
	grep '^only' "$T/cmp.out" | sed 's/^/# /'
fi

jfs stats --help
if [ "$RC" -eq 0 ] && grep -q -- '--schema' "$T/out" && grep -q -- '--verbosity' "$T/out" && ! crashed; then
	t_ok "stats --help lists its options"
else
	t_fail "stats --help" "$(last_run)"
fi
jfs stats "$T"
if [ "$RC" -eq 1 ] && grep -q "is not a mount point" "$T/err" && [ "$(nlines "$T/err")" -eq 1 ]; then
	t_ok "stats on a plain directory: $(cut -c1-80 "$T/err")"
else
	t_fail "stats on a plain directory fails in one line" "$(last_run)"
fi
jfs stats "$M" --schema xyz
if [ "$RC" -eq 1 ] && grep -q "no section to watch" "$T/err"; then
	t_ok "stats with a schema of no section fails"
else
	t_fail "stats with a schema of no section fails" "$(last_run)"
fi

$TM kill-server 2>/dev/null
fcheck_logs
echo "# t7202 took $(($(date +%s) - t_start)) s"
t_done
