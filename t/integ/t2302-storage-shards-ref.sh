#!/usr/bin/env bash
# format --shards N (issue 16 §3) against the real JuiceFS 1.4.2 client.
#
# A volume over N local buckets named by the "%d" of --bucket, both ways:
# formatted by the real client (3 shards) and by ours (4 shards, with lz4 and
# encryption on as well). Ours writes, the real client reads byte for byte,
# and the other way round; every object lies in the bucket JuiceFS picks
# (FNV-1a-32 of "<Name>/<key>" modulo N, checked here in Python) and the
# blocks are spread over more than one bucket; fsck of both finds every
# block and gc of both scans the same objects. --shards without a "%d" in
# the bucket is one line on stderr and writes nothing.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

: "${JFS_FSCP:=$PWD/t/tools/jfs-fscp}"
need_bin "$JFS_BIN" "$JFS_FSCP"
need_ref
START=$(date +%s)
export JFS_NO_USAGE_REPORT=1 JFS_GC_SKIPPEDTIME=0

head -c $((9 << 20)) /dev/urandom >"$T/src-big"
printf x >"$T/src-one"
mkdir -p "$T/refsrc"
head -c $((5 << 20 | 77)) /dev/urandom >"$T/refsrc/r1"
yes "written by the real client" | head -c 100000 >"$T/refsrc/r2"
openssl genrsa -out "$T/key.pem" 2048 2>/dev/null || t_skip_all "openssl genrsa failed"

# placed DIR-PREFIX N NAME: every object under DIR-PREFIX{0..N-1}/NAME/ lies in
# the shard JuiceFS picks; prints "ok BUCKETS-USED" or the misplaced ones.
placed()
{
	python3 - "$1" "$2" "$3" <<'PY'
import os, sys
base, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def fnv(s):
    h = 2166136261
    for c in s.encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h
bad, used, total = [], set(), 0
for i in range(n):
    root = f"{base}{i}"
    for d, _, files in os.walk(root):
        for f in files:
            key = os.path.relpath(os.path.join(d, f), root)
            if not key.startswith(name + "/"):
                continue
            total += 1
            if "/chunks/" in key:
                used.add(i)
            if fnv(key) % n != i:
                bad.append(f"{key} in {i}, want {fnv(key) % n}")
print("ok %d %d" % (len(used), total) if not bad else "bad " + "; ".join(bad[:5]))
PY
}

# gc_scanned: "scanned valid leaked" from the gc log in $T/err
gc_scanned()
{
	sed -nE 's/.*scanned ([0-9]+) objects, ([0-9]+) valid, .* ([0-9]+) leaked .*/\1 \2 \3/p' "$T/err" | tail -n 1
}

# vol_check WHO N EXTRA...: format with WHO (ours|ref) over N shards, both ways.
vol_check()
{
	local who=$1 n=$2 name=sh$1 meta tag bad=() p
	shift 2
	meta=sqlite3://$T/$who.db
	tag="[$who-formatted, $n shards${*:+, $*}]"
	if [ "$who" = ours ]; then
		jfs format "$meta" "$name" --bucket "$T/$who-b%d" --shards "$n" "$@"
	else
		ref format "$meta" "$name" --bucket "$T/$who-b%d" --shards "$n" "$@"
	fi
	[ "$RC" -eq 0 ] || { t_fail "$tag format" "$(last_run)"; return; }
	run "$JFS_FSCP" put "$meta" "$T/src-big" /ours/big
	[ "$RC" -eq 0 ] || bad+=("ours put big: $(last_run)")
	run "$JFS_FSCP" put "$meta" "$T/src-one" /ours/one
	[ "$RC" -eq 0 ] || bad+=("ours put one: $(last_run)")
	V=$meta run "$JFS_REF" sync "jfs://V/ours/" "$T/out-$who/"
	[ "$RC" -eq 0 ] || bad+=("real sync out: $(last_run)")
	cmp -s "$T/out-$who/big" "$T/src-big" || bad+=("real client read other bytes of big")
	cmp -s "$T/out-$who/one" "$T/src-one" || bad+=("real client read other bytes of one")
	V=$meta run "$JFS_REF" sync "$T/refsrc/" "jfs://V/ref/"
	[ "$RC" -eq 0 ] || bad+=("real sync in: $(last_run)")
	for f in r1 r2; do
		run "$JFS_FSCP" get "$meta" "/ref/$f" "$T/got"
		[ "$RC" -eq 0 ] && cmp -s "$T/got" "$T/refsrc/$f" || bad+=("ours read $f: $(last_run)")
	done
	if [ ${#bad[@]} -eq 0 ]; then
		t_ok "$tag ours writes, the real client reads; it writes, ours reads"
	else
		t_fail "$tag both ways" "${bad[@]}"
	fi
	p=$(placed "$T/$who-b" "$n" "$name")
	if [ "${p%% *}" = ok ] && [ "$(echo "$p" | cut -d' ' -f2)" -ge 2 ]; then
		t_ok "$tag every object in the bucket JuiceFS picks; blocks in $(echo "$p" | cut -d' ' -f2) of $n buckets, $(echo "$p" | cut -d' ' -f3) objects"
	else
		t_fail "$tag objects placed as JuiceFS places them" "$p"
	fi
	# The real 1.4.2 client lists a sharded volume wrong (its file store is
	# asked for "0/0/" without the "<Name>/chunks/" prefix: "skip
	# .../b0/0/0/" in its debug log), so its fsck and gc see few or no blocks;
	# ours are checked against the buckets themselves instead.
	local nblk
	nblk=$(find "$T/$who-b"* -path "*/$name/chunks/*" -type f | wc -l)
	jfs fsck "$meta"
	if [ "$RC" -eq 0 ] && grep -q "Found $nblk blocks" "$T/err" && ! grep -q lost "$T/err"; then
		t_ok "$tag our fsck finds all $nblk blocks over the $n buckets"
	else
		t_fail "$tag our fsck finds all $nblk blocks" "$(last_run)"
	fi
	jfs gc "$meta"
	if [ "$(gc_scanned)" = "$nblk $nblk 0" ]; then
		t_ok "$tag our gc scans all $nblk blocks, all valid, none leaked"
	else
		t_fail "$tag our gc scans every block" "scanned valid leaked: '$(gc_scanned)', $nblk blocks"
	fi
	ref fsck "$meta"
	[ "$RC" -eq 0 ] && t_ok "$tag the real fsck accepts the volume" ||
		t_fail "$tag the real fsck accepts the volume" "$(last_run)"
}

vol_check ref 3
vol_check ours 4 --compress lz4 --encrypt-rsa-key "$T/key.pem"

bad_input "format --shards 2 without %d in the bucket" "$T/nb" -- format "sqlite3://$T/x.db" volx \
	--bucket "$T/nb" --shards 2
[ -e "$T/x.db" ] && t_fail "a refused format leaves no database" || t_ok "a refused format leaves no database"
echo "# $(basename "$0"): $(($(date +%s) - START)) s"
t_done
