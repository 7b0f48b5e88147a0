#!/usr/bin/env bash
# A slice commit whose answer is lost must not lose the slice's blocks
# (issue 12, item 1).
#
# Writers go through a FUSE mount of our binary while every 3rd slice commit
# is applied by the engine but answered with an error:
#   [redis]  t/tools/redis-fault-proxy.py sits between the mount and a private
#            redis-server, forwards MULTI ... RPUSH c<ino>_<i> ... EXEC, then
#            swallows the answer and closes the connection;
#   [sqlite] JFS_FAULT_SQLITE_SLICE_COMMIT=3 makes the engine report an I/O
#            error after its COMMIT succeeded; with =1 also under
#            `gc --compact`, so a compaction swap loses its answer.
# fsync/close may fail (the real client fails them too), but afterwards every
# byte of every file must read back (jfs-fscp, no cache, straight to the
# engine) and fsck must find no lost block. Before the fix the blocks of each
# such slice were deleted at once: the files read EIO and fsck reported them.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
FSCP=${JFS_FSCP:-$(dirname "$JFS_BIN")/t/tools/jfs-fscp}
[ -x "$FSCP" ] || t_skip_all "jfs-fscp is not built"
proxy=$JFS_SRCDIR/t/tools/redis-fault-proxy.py
NFILES=18

# Source files of assorted sizes: small, a block and a bit, more than a chunk.
mkdir -p "$T/src"
for i in $(seq "$NFILES"); do
	head -c $(((i * 397 % 23 + 1) * 311 * 1024 + i)) /dev/urandom >"$T/src/f$i"
done
head -c $((70 << 20)) /dev/urandom >"$T/src/big"

# write_all MP: three writers in parallel, each file with fsync; prints failures.
write_all()
{
	local mp=$1 w pids=()
	for w in 0 1 2; do
		(
			for i in $(seq "$NFILES"); do
				[ $((i % 3)) -eq "$w" ] || continue
				dd if="$T/src/f$i" of="$mp/d$w/f$i" bs=256k conv=fsync status=none \
					2>>"$T/werr" || echo "f$i" >>"$T/wfail"
			done
		) &
		pids+=($!)
	done
	dd if="$T/src/big" of="$mp/big" bs=1M conv=fsync status=none 2>>"$T/werr" ||
		echo big >>"$T/wfail"
	wait "${pids[@]}" # not a bare wait: the servers are children too
}

# check_all NAME META: every file reads back byte for byte; fsck is clean.
check_all()
{
	local name=$1 meta=$2 i w bad=()
	for i in $(seq "$NFILES"); do
		w=$((i % 3))
		run "$FSCP" get "$meta" "/d$w/f$i" "$T/back"
		if [ "$RC" -ne 0 ] || ! cmp -s "$T/back" "$T/src/f$i"; then
			bad+=("f$i: $(head -c 200 "$T/err")")
		fi
	done
	run "$FSCP" get "$meta" /big "$T/back"
	if [ "$RC" -ne 0 ] || ! cmp -s "$T/back" "$T/src/big"; then
		bad+=("big: $(head -c 200 "$T/err")")
	fi
	rm -f "$T/back"
	if [ ${#bad[@]} -eq 0 ]; then
		t_ok "[$name] every byte of $((NFILES + 1)) files reads back ($(sort -u "$T/wfail" \
			2>/dev/null | wc -l) writes reported an error)"
	else
		t_fail "[$name] every byte of every file reads back" "${bad[@]:0:5}" \
			"writes that failed: $(tr '\n' ' ' <"$T/wfail" 2>/dev/null)"
	fi
	jfs fsck "$meta"
	if [ "$RC" -eq 0 ]; then
		t_ok "[$name] fsck finds no lost block"
	else
		t_fail "[$name] fsck finds no lost block" "$(last_run)"
	fi
}

# ---------------------------------------------------------------- redis
if command -v redis-server >/dev/null; then
	rport=$(free_port)
	mkdir -p "$T/redis"
	t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
		--appendonly no --daemonize no --logfile "$T/redis/log"
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
	pport=$(free_port)
	t_spawn python3 "$proxy" --listen "$pport" --to "127.0.0.1:$rport" --every 3 \
		--stats "$T/proxy.stats"
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$pport" ping 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
	direct=redis://127.0.0.1:$rport/1
	jfs format "$direct" faulty --bucket "$T/rbucket" --trash-days 0
	[ "$RC" -eq 0 ] || { t_fail "[redis] format" "$(last_run)"; t_done; }
	fmount "redis://127.0.0.1:$pport/1" "$T/rmp"
	if [ "$RC" -ne 0 ]; then
		t_fail "[redis] mount through the fault proxy" "$(last_run)" "$(tail -n 5 "$T/rmp.log")"
	else
		mkdir -p "$T/rmp/d0" "$T/rmp/d1" "$T/rmp/d2"
		rm -f "$T/wfail"
		write_all "$T/rmp"
		fumount "$T/rmp"
		faults=$(sed -n 's/^faults=\([0-9]*\).*/\1/p' "$T/proxy.stats")
		if [ "${faults:-0}" -ge 3 ]; then
			t_ok "[redis] the proxy lost the answers of $faults slice commits"
		else
			t_fail "[redis] the proxy lost answers of slice commits" \
				"stats: $(cat "$T/proxy.stats")"
		fi
		check_all redis "$direct"
	fi
else
	t_skip "[redis] slice commits with lost answers" "redis-server not installed"
fi

# ---------------------------------------------------------------- sqlite
fformat sqvol --trash-days 0
JFS_FAULT_SQLITE_SLICE_COMMIT=3 fmount "$META" "$T/smp"
if [ "$RC" -ne 0 ]; then
	t_fail "[sqlite] mount with JFS_FAULT_SQLITE_SLICE_COMMIT=3" "$(last_run)"
else
	mkdir -p "$T/smp/d0" "$T/smp/d1" "$T/smp/d2"
	rm -f "$T/wfail"
	write_all "$T/smp"
	fumount "$T/smp"
	n=$(grep -c "injected I/O error after COMMIT" "$T/smp.log")
	if [ "$n" -ge 3 ]; then
		t_ok "[sqlite] $n slice commits reported an error after COMMIT"
	else
		t_fail "[sqlite] the fault hook fired" "$(grep -c . "$T/smp.log") log lines, $n faults"
	fi
	check_all sqlite "$META"
fi

# ---------------------------------------------------------------- compaction
# A compaction swap whose answer is lost: the new slice may be what the chunk
# now points at, so its blocks must stay as well.
fformat cmpvol --trash-days 0
run "$FSCP" randwrite "$META" /frag $((3 << 20)) 40 7 "$T/frag.model"
[ "$RC" -eq 0 ] || { t_fail "[compaction] write a fragmented file" "$(last_run)"; t_done; }
JFS_FAULT_SQLITE_SLICE_COMMIT=1 jfs gc "$META" --compact
if grep -q "injected I/O error after COMMIT" "$T/err"; then
	t_ok "[compaction] the swap reported an error after COMMIT"
else
	t_fail "[compaction] the fault hook fired on the swap" "$(last_run)"
fi
run "$FSCP" get "$META" /frag "$T/back"
if [ "$RC" -eq 0 ] && cmp -s "$T/back" "$T/frag.model"; then
	t_ok "[compaction] the compacted file reads back byte for byte"
else
	t_fail "[compaction] the compacted file reads back" "$(last_run)"
fi
jfs fsck "$META"
if [ "$RC" -eq 0 ]; then
	t_ok "[compaction] fsck finds no lost block"
else
	t_fail "[compaction] fsck finds no lost block" "$(last_run)"
fi

t_done
