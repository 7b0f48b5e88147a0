#!/usr/bin/env bash
# Redis Sentinel and Redis Cluster URLs (spec §13.1), with the real JuiceFS
# 1.4.2 client as oracle.
#
# Sentinel: one master and one sentinel (`redis://MASTER,host:port/db`); we
# ask the sentinel for the master. Cluster: three masters built with
# `redis-cli --cluster create`; every key carries the "{db}" prefix and we
# find the node owning that slot. On each, a volume formatted by ours and
# filled by jfs-mktree is dumped by the real client exactly as our meta API
# sees it. All servers run on 127.0.0.1 in the temp dir and are stopped by PID.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN" "$JFS_MKTREE"
command -v redis-server >/dev/null || t_skip_all "redis-server not installed (apt-get install redis-server)"
command -v redis-cli >/dev/null || t_skip_all "redis-cli not installed"
need_ref
unset REDIS_PASSWORD META_PASSWORD SENTINEL_PASSWORD
py=$(dirname "$0")/norm-dump.py

wait_ping()
{
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	return 1
}

# same_tree DESC URL: build with jfs-mktree, compare --print with the ref dump
same_tree()
{
	local d=$1 u=$2
	jfs format "$u" topo-vol --bucket "$T/bk-$d"
	if [ "$RC" -ne 0 ]; then
		t_fail "$d: ours formats $u" "$(last_run)"
		return
	fi
	run "$JFS_MKTREE" "$u"
	if [ "$RC" -ne 0 ]; then
		t_fail "$d: jfs-mktree on $u" "$(last_run)"
		return
	fi
	run "$JFS_MKTREE" --print "$u"
	LC_ALL=C sort "$T/out" >"$T/$d-ours"
	ref dump "$u" "$T/$d.json"
	python3 "$py" "$T/$d.json" 2>/dev/null | LC_ALL=C sort >"$T/$d-ref"
	if [ -s "$T/$d-ours" ] && diff "$T/$d-ref" "$T/$d-ours" >"$T/diff"; then
		t_ok "$d: ours formats and fills $u; the real client's dump matches our view"
	else
		t_fail "$d: ref dump equals our view" "$(last_run)" "$(head -n 20 "$T/diff")"
	fi
}

# ---------------------------------------------------------------- Sentinel
mport=$(free_port)
sport=$(free_port)
mkdir -p "$T/sent"
t_spawn redis-server --port "$mport" --bind 127.0.0.1 --dir "$T/sent" --save "" \
	--appendonly no --logfile "$T/sent/master.log"
printf 'port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor jfsmaster 127.0.0.1 %s 1\n' \
	"$sport" "$T/sent" "$T/sent/sentinel.log" "$mport" >"$T/sent/sentinel.conf"
t_spawn redis-server "$T/sent/sentinel.conf" --sentinel
if wait_ping "$mport" && wait_ping "$sport"; then
	same_tree sentinel "redis://jfsmaster,127.0.0.1:$sport/2"
	n=$(redis-cli -p "$mport" -n 2 dbsize 2>/dev/null)
	if [ "${n:-0}" -gt 10 ]; then
		t_ok "sentinel: the keys are on the master the sentinel named (db 2: $n keys)"
	else
		t_fail "sentinel: keys on the master" "db 2 has '${n:-}' keys"
	fi
else
	t_fail "sentinel: servers start" "$(tail -n 3 "$T/sent/sentinel.log")"
fi

# ---------------------------------------------------------------- Cluster
# A node also listens on port+10000 (the cluster bus): both must be free and
# below 65536, which an ephemeral port from free_port may not allow.
cluster_port()
{
	python3 -c '
import random, socket
while True:
    p = random.randint(20000, 29999)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}
hosts=()
for i in 1 2 3; do
	p=$(cluster_port)
	mkdir -p "$T/c$i"
	(cd "$T/c$i" && exec redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
		--cluster-config-file nodes.conf --save "" --appendonly no --logfile log) &
	T_PIDS+=($!)
	hosts+=("127.0.0.1:$p")
done
ok=1
for h in "${hosts[@]}"; do wait_ping "${h#*:}" || ok=0; done
if [ "$ok" -eq 1 ] && timeout 30 redis-cli --cluster create "${hosts[@]}" --cluster-replicas 0 \
	--cluster-yes >"$T/cluster.log" 2>&1; then
	# Every node must have converged on the slot map, not just the first:
	# a node still gossiping may answer CLUSTER SLOTS with a partial map.
	for _ in $(seq 300); do
		conv=1
		for h in "${hosts[@]}"; do
			redis-cli -p "${h#*:}" cluster info 2>/dev/null |
				grep -q 'cluster_state:ok' || conv=0
			[ "$(redis-cli -p "${h#*:}" cluster slots 2>/dev/null | grep -c .)" -gt 0 ] ||
				conv=0
		done
		[ "$conv" -eq 1 ] && break
		sleep 0.1
	done
	u="redis://$(IFS=,; echo "${hosts[*]}")/1"
	same_tree cluster "$u"
	owner=$(redis-cli -p "${hosts[0]#*:}" cluster keyslot '{1}' 2>/dev/null)
	prefixed=0
	other=0
	for h in "${hosts[@]}"; do
		prefixed=$((prefixed + $(redis-cli -p "${h#*:}" --scan --pattern '{1}*' | wc -l)))
		other=$((other + $(redis-cli -p "${h#*:}" --scan | grep -vc '^{1}')))
	done
	if [ "$prefixed" -gt 10 ] && [ "$other" -eq 0 ]; then
		t_ok "cluster: all $prefixed keys carry the {1} prefix (slot $owner)"
	else
		t_fail "cluster: keys prefixed {1}" "prefixed $prefixed, others $other"
	fi
else
	t_fail "cluster: create a 3-node cluster" "$(tail -n 5 "$T/cluster.log" 2>/dev/null)" \
		"$(tail -q -n 2 "$T"/c[123]/log 2>/dev/null)"
fi
t_done
