#!/usr/bin/env bash
# `juicefs summary PATH` (--depth, --entries, --csv, --strict) and
# `juicefs info -r` through the control file, against a mount of ours and a
# real mount of one volume, by our CLI and by the real one: all four give the
# real client's bytes, on SQLite and on Redis. The tree has entries of equal
# size in a directory of more than 12 entries, where the order is that of
# Go's sort.Slice (pdqsort) from the listing order JuiceFS reads (SQL: by
# name; Redis: HSCAN order), and names that CSV must quote.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
need_ref

# same NAME SUB ARGS...: the command on SUB in both mounts by both CLIs;
# outputs $T/<mount>.<cli> with the mount point replaced by MP.
same()
{
	local name=$1 sub=$2 mp cli bin out bad=
	shift 2
	for mp in o r; do
		for cli in ours ref; do
			bin=$JFS_BIN
			[ "$cli" = ref ] && bin=$JFS_REF
			out=$T/$mp.$cli
			"$bin" "$@" "$T/$mp-$ENGINE/$sub" 2>"$out.err" </dev/null |
				sed "s#$T/$mp-$ENGINE#MP#" >"$out"
			echo "exit ${PIPESTATUS[0]}" >>"$out"
		done
	done
	for out in o.ours o.ref r.ours; do
		cmp -s "$T/$out" "$T/r.ref" || bad="$bad $out"
	done
	grep -qE 'Sanitizer|runtime error:' "$T"/?.ours.err && bad="$bad (sanitizer report)"
	if [ -z "$bad" ] && grep -qx "exit 0" "$T/r.ref" && [ "$(nlines "$T/r.ref")" -gt 2 ]; then
		t_ok "$ENGINE: $name: the same $(($(nlines "$T/r.ref") - 1)) lines by both CLIs on both mounts"
	else
		t_fail "$ENGINE: $name" "differs from the real CLI on the real mount:$bad" \
			"$(diff "$T/o.ours" "$T/r.ref" | head -n 10)" "$(head -c 300 "$T/o.ours.err")"
	fi
}

run_engine()
{
	jfs format "$META" sumvol --bucket "$T/bk-$ENGINE"
	[ "$RC" -eq 0 ] || { t_fail "$ENGINE: format" "$(last_run)"; return; }
	fmount "$META" "$T/o-$ENGINE"
	[ "$RC" -eq 0 ] || { t_fail "$ENGINE: our mount" "$(last_run)"; return; }
	ref_mount "$META" "$T/r-$ENGINE"
	[ "$RC" -eq 0 ] || { t_fail "$ENGINE: real mount" "$(last_run)"; return; }
	local o=$T/o-$ENGINE i
	mkdir -p "$o/a/b/c" "$o/d" "$o/sp ace,\"q\"" "$o/many"
	head -c 5000 /dev/urandom >"$o/a/f1"
	head -c 70000 /dev/urandom >"$o/a/b/f2"
	head -c 3000000 /dev/urandom >"$o/a/b/c/f3"
	head -c 12 /dev/urandom >"$o/d/g"
	head -c 9000 /dev/urandom >"$o/sp ace,\"q\"/x"
	ln -s ../a/f1 "$o/d/lnk"
	: >"$o/empty"
	for i in $(seq 1 150); do # past 128: a hashtable-encoded Redis hash
		head -c $(((i * 7919 % 5) * 4096 + 1)) /dev/zero >"$o/many/f$i"
	done
	mkdir -p "$o"/many/sub{1..7}
	same "summary" . summary
	same "summary --depth 0" . summary --depth 0
	same "summary --depth 3 --entries 3" . summary --depth 3 --entries 3
	same "summary --csv" . summary --csv
	same "summary --csv --entries 100 (ties past 12 entries)" many summary --csv --entries 100
	same "summary -d 1 -e 12 --strict" many summary -d 1 -e 12 --strict
	same "summary of a file" a/f1 summary --csv
	same "info -r" a info -r
	same "info -r --strict" . info -r --strict
	fumount "$T/o-$ENGINE"
	run "$JFS_REF" umount "$T/r-$ENGINE"
}

ENGINE=sqlite
META=sqlite3://$T/vol.db
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

fcheck_logs
jfs summary "$T"
if [ "$RC" = 1 ] && grep -q "not inside a JuiceFS mount" "$T/err"; then
	t_ok "summary outside a mount fails in one line"
else
	t_fail "summary outside a mount" "$(last_run)"
fi
t_done
