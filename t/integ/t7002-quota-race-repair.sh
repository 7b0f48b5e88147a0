#!/usr/bin/env bash
# Directory quota usage under pressure, on SQLite and Redis:
#  (a) concurrent writers on our mount racing one quota: usage never passes
#      the limit by more than one block; every writer that succeeded has all
#      its bytes; a refused file holds a prefix of what was written; and a
#      writer was refused only when its data could not fit (no byte lost
#      below the limit);
#  (b) the same through concurrent S3 PUTs: every 200 is complete, every
#      refusal leaves nothing and could not have fit;
#  (c) renames of files and of a whole tree across quota trees (in and out,
#      refused with EDQUOT when the target is full), hard links across
#      trees, truncate, unlink into the trash: usage stays equal to a walk
#      (our quota check and the real client's);
#  (d) deliberate corruption of the usage records: quota check reports it
#      (exit 1), --repair fixes it, and the real client agrees afterwards;
#  (e) nested quotas, the outer set by the real client and the inner by ours:
#      each limit holds on our mount, and both clients agree on the usage.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
need_ref
unset REDIS_PASSWORD META_PASSWORD
export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
MiB=1048576
BLOCK=$((4 * MiB))

for i in $(seq 12); do head -c $((5 * MiB)) /dev/urandom >"$T/src$i"; done
for i in $(seq 12); do head -c $((3 * MiB)) /dev/urandom >"$T/obj$i"; done

align4k() { echo $((($1 == 0 ? 4096 : ($1 + 4095) / 4096 * 4096))); }

# used ENGINE META INO: "space inodes" straight from the stored record.
used()
{
	if [ "$1" = sqlite ]; then
		sqlite3 -separator ' ' "${2#sqlite3://}" \
			"select used_space, used_inodes from jfs_dir_quota where inode = $3"
	else
		echo "$(redis-cli -p "$rport" -n 1 hget dirQuotaUsedSpace "$3")" \
			"$(redis-cli -p "$rport" -n 1 hget dirQuotaUsedInodes "$3")"
	fi
}

# both_check META PATH DESC: ours and the real quota check --strict agree with a walk.
both_check()
{
	local o
	jfs quota check "$1" --path "$2" --strict
	o=$RC
	ref quota check "$1" --path "$2" --strict
	if [ "$o" = 0 ] && [ "$RC" = 0 ]; then
		t_ok "$3: usage of $2 equals a walk (ours and the real check)"
	else
		t_fail "$3: usage of $2 equals a walk" "ours exit $o" "$(last_run)"
	fi
}

run_engine()
{
	local eng=$1 META=$2 vol=$3 mp=$T/mnt-$1 i pids ok bad over lost ino sz limit u
	jfs format "$META" "$vol" --bucket "$T/$vol-data" --trash-days 1
	[ "$RC" -eq 0 ] || { t_fail "$eng: format" "$(last_run)"; return; }
	limit=$((24 * MiB))
	jfs quota set "$META" --path /race --capacity 24M --create
	[ "$RC" -eq 0 ] || { t_fail "$eng: quota set" "$(last_run)"; return; }
	fmount "$META" "$mp"
	[ "$RC" -eq 0 ] || { t_fail "$eng: mount" "$(last_run)"; return; }
	ino=$(stat -c %i "$mp/race")

	# ---- (a) 12 writers x 5 MiB = 60 MiB into 24 MiB
	pids=()
	for i in $(seq 12); do
		(dd if="$T/src$i" of="$mp/race/f$i" bs=256k conv=fsync 2>"$T/dd$i.err"
		 echo $? >"$T/dd$i.rc") &
		pids+=($!)
	done
	wait "${pids[@]}"
	read -r u _ < <(used "$eng" "$META" "$ino")
	ok=0 bad=0 lost=""
	for i in $(seq 12); do
		sz=$(stat -c %s "$mp/race/f$i" 2>/dev/null || echo 0)
		if [ "$(cat "$T/dd$i.rc")" = 0 ]; then
			cmp -s "$T/src$i" "$mp/race/f$i" && ok=$((ok + 1)) || lost="$lost f$i(ok but differs)"
		else
			bad=$((bad + 1))
			cmp -s -n "$sz" "$T/src$i" "$mp/race/f$i" || lost="$lost f$i(not a prefix)"
			# refused: the rest of it must not have fitted even now
			[ $((u + $(align4k $((5 * MiB))) - $(align4k "$sz"))) -gt "$limit" ] ||
				lost="$lost f$i(refused at $sz bytes with room left: used $u)"
		fi
	done
	if [ "$u" -le $((limit + BLOCK)) ] && [ -z "$lost" ] && [ "$ok" -ge 1 ] && [ "$bad" -ge 1 ]; then
		t_ok "$eng: (a) 12 racing writers: $ok complete, $bad refused, used $u <= limit $limit (+1 block), no byte lost"
	else
		t_fail "$eng: (a) racing writers" "ok $ok refused $bad used $u limit $limit" "$lost" \
			"$(cat "$T"/dd*.err | sort | uniq -c | head -n 5)"
	fi
	both_check "$META" /race "$eng: (a)"

	# ---- (b) 12 concurrent PUTs of 3 MiB into a 20 MiB quota
	jfs quota set "$META" --path /race2 --capacity 20M --create
	limit=$((20 * MiB))
	ino=$(stat -c %i "$mp/race2")
	port=$(free_port)
	"$JFS_BIN" gateway "$META" "127.0.0.1:$port" --no-banner --no-bgjob >"$T/gw-$eng.log" 2>&1 &
	gpid=$!
	T_PIDS+=("$gpid")
	for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
	pids=()
	for i in $(seq 12); do
		curl -s -o "$T/put$i.body" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
			-u "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" -T "$T/obj$i" \
			"http://127.0.0.1:$port/$vol/race2/o$i" >"$T/put$i.code" &
		pids+=($!)
	done
	wait "${pids[@]}"
	kill -TERM "$gpid"
	wait "$gpid" 2>/dev/null
	read -r u _ < <(used "$eng" "$META" "$ino")
	ok=0 bad=0 lost=""
	for i in $(seq 12); do
		c=$(cat "$T/put$i.code")
		if [ "$c" = 200 ]; then
			cmp -s "$T/obj$i" "$mp/race2/o$i" && ok=$((ok + 1)) || lost="$lost o$i(200 but differs)"
		else
			bad=$((bad + 1))
			[ -e "$mp/race2/o$i" ] && lost="$lost o$i($c but present)"
			[ $((u + $(align4k $((3 * MiB))))) -gt "$limit" ] || lost="$lost o$i(refused with room: used $u)"
			grep -q 'disk quota exceeded' "$T/put$i.body" || lost="$lost o$i($c: $(head -c 200 "$T/put$i.body"))"
		fi
	done
	if [ "$u" -le "$limit" ] && [ -z "$lost" ] && [ "$ok" -ge 1 ] && [ "$bad" -ge 1 ]; then
		t_ok "$eng: (b) 12 racing PUTs: $ok stored whole, $bad refused and absent, used $u <= $limit"
	else
		t_fail "$eng: (b) racing PUTs" "ok $ok refused $bad used $u limit $limit" "$lost"
	fi
	both_check "$META" /race2 "$eng: (b)"

	# ---- (c) renames, links, truncate, trash across quota trees
	jfs quota set "$META" --path /qa --capacity 40M --inodes 100 --create
	jfs quota set "$META" --path /qb --capacity 12M --create
	# a running client learns of new quotas within a second (JuiceFS: a heartbeat)
	sleep 1.5
	mkdir -p "$mp/qa/tree/sub" "$mp/free"
	cp "$T/src1" "$mp/qa/tree/a"
	cp "$T/src2" "$mp/qa/tree/sub/b"
	cp "$T/src3" "$mp/free/c"
	python3 - "$mp" >"$T/ren.out" 2>&1 <<'EOF'
import errno, os, sys
mp = sys.argv[1]
def expect(fn, err, what):
    try:
        fn()
    except OSError as e:
        if e.errno != err:
            print("%s: errno %d, want %d" % (what, e.errno, err)); sys.exit(1)
        return
    if err:
        print("%s: succeeded, want errno %d" % (what, err)); sys.exit(1)
# a 10 MiB tree into the 12 MiB /qb: fits
expect(lambda: os.rename(mp + "/qa/tree", mp + "/qb/tree"), 0, "tree into qb")
# a 5 MiB file from outside any quota into the now full /qb: EDQUOT
expect(lambda: os.rename(mp + "/free/c", mp + "/qb/c"), errno.EDQUOT, "file into full qb")
# the tree back out to /qa, then the file in
expect(lambda: os.rename(mp + "/qb/tree", mp + "/qa/tree"), 0, "tree back to qa")
expect(lambda: os.rename(mp + "/free/c", mp + "/qb/c"), 0, "file into emptied qb")
# hard link of that file into /qa, then a growth counted in both trees
expect(lambda: os.link(mp + "/qb/c", mp + "/qa/c-link"), 0, "link into qa")
expect(lambda: os.truncate(mp + "/qb/c", 13 << 20), errno.EDQUOT, "truncate past qb")
expect(lambda: os.truncate(mp + "/qb/c", 6 << 20), 0, "truncate within qb")
expect(lambda: os.truncate(mp + "/qa/tree/a", 1 << 20), 0, "truncate shrink in qa")
# unlink into the trash frees the quota
expect(lambda: os.unlink(mp + "/qa/tree/sub/b"), 0, "unlink to trash")
print("ok")
EOF
	if [ "$(tail -n 1 "$T/ren.out")" = ok ]; then
		t_ok "$eng: (c) renames of a tree and a file across quotas, link, truncate, trash as expected"
	else
		t_fail "$eng: (c) rename/link/truncate/trash" "$(cat "$T/ren.out")"
	fi
	ino=$(stat -c %i "$mp/qa")
	fumount "$mp"
	for d in /qa /qb; do both_check "$META" "$d" "$eng: (c)"; done

	# ---- (d) corrupt the usage records, check, repair
	if [ "$eng" = sqlite ]; then
		sqlite3 "${META#sqlite3://}" "update jfs_dir_quota set used_space = used_space + 12345, used_inodes = used_inodes - 3 where inode = $ino"
	else
		redis-cli -p "$rport" -n 1 hincrby dirQuotaUsedSpace "$ino" 12345 >/dev/null
		redis-cli -p "$rport" -n 1 hset dirQuotaUsedInodes "$ino" -7 >/dev/null
	fi
	jfs quota check "$META" --path /qa
	if [ "$RC" = 1 ] && grep -q 'quota of /qa is inconsistent' "$T/err"; then
		t_ok "$eng: (d) quota check reports corrupted usage"
	else
		t_fail "$eng: (d) check reports corruption" "$(last_run)"
	fi
	jfs quota check "$META" --path /qa --repair
	o=$RC
	jfs quota check "$META" --path /qa --strict
	if [ "$o" = 0 ] && [ "$RC" = 0 ]; then
		t_ok "$eng: (d) quota check --repair fixes it"
	else
		t_fail "$eng: (d) repair" "repair exit $o" "$(last_run)"
	fi
	both_check "$META" /qa "$eng: (d) after repair"

	# ---- (e) nested quotas, one set by each client: the inner and the outer limit both hold
	ref quota set "$META" --path /n1 --capacity 10M --create
	jfs quota set "$META" --path /n1/n2 --capacity 4M --create
	fmount "$META" "$mp"
	res=""
	for f in n2/a n2/b n1a n1b n1c; do
		p=$mp/n1/${f#n1}
		[ "${f#n2/}" != "$f" ] && p=$mp/n1/$f
		# a refused file keeps what fitted (to the byte): drop it, as an application would
		if dd if="$T/obj1" of="$p" bs=1M 2>/dev/null; then res="$res ok"; else
			res="$res EDQUOT"
			rm -f "$p"
		fi
	done
	fumount "$mp"
	# n2 holds 3 of 4 MiB, so b fails; n1 holds 3 + 3 + 3 of 10, so c fails
	if [ "$res" = " ok EDQUOT ok ok EDQUOT" ]; then
		t_ok "$eng: (e) nested quotas (outer set by the real client, inner by ours) both hold"
	else
		t_fail "$eng: (e) nested quotas" "got:$res" "want: ok EDQUOT ok ok EDQUOT"
	fi
	for d in /n1 /n1/n2; do both_check "$META" "$d" "$eng: (e)"; done
}

run_engine sqlite "sqlite3://$T/q.db" sqvol

if command -v redis-server >/dev/null; then
	rport=$(free_port)
	mkdir -p "$T/redis"
	t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
		--appendonly no --daemonize no --logfile "$T/redis/log"
	up=0
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && { up=1; break; }
		sleep 0.05
	done
	if [ "$up" -eq 1 ]; then
		run_engine redis "redis://127.0.0.1:$rport/1" rdvol
	else
		t_fail "redis-server starts" "$(tail -n 5 "$T/redis/log")"
	fi
else
	t_skip "redis engine" "redis-server not installed"
fi
t_done
