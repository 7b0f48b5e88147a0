#!/usr/bin/env bash
# FUSE mount against the real JuiceFS 1.4.2 client, for each compression
# (none, lz4, zstd): a tree written through our mount (a 70 MiB file across
# two chunks, small and empty files, symlinks, hard links, modes) reads
# byte-exact through `$JFS_REF mount`, and a tree written through the real
# mount reads byte-exact through ours. Also: our mount lists files the real
# one put in the trash, and the real `juicefs rmr` works against our mount
# (control protocol).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
need_ref

# info_same MP: `juicefs info` (summary, objects, raw slices, recursive) of ours and of the real
# client print the same thing for files and directories under MP; the tier line is left out (the
# real mount heads an object to name its storage class, ours does not) and lines are sorted (the
# real mount lists a hard-linked file's paths in map order).
info_same()
{
	local args p a b bad=
	for args in "" "--raw" "-r" "-r --raw"; do
		for p in fromours fromours/big-70m fromours/sub/5m fromours/empty fromours/link; do
			# shellcheck disable=SC2086
			a=$("$JFS_BIN" info $args "$1/$p" 2>&1 | grep -v '^   tier:' | sort)
			# shellcheck disable=SC2086
			b=$("$JFS_REF" info $args "$1/$p" 2>&1 | grep -v '^   tier:' | sort)
			if [ "$a" != "$b" ] || ! grep -q ' inode: ' <<<"$a"; then
				bad+="info $args $p:"$'\n'"$(diff <(echo "$a") <(echo "$b") | head -8)"$'\n'
			fi
		done
	done
	[ -z "$bad" ] || echo "$bad"
}

# mktree DIR SEED: a mixed tree; the big file differs per seed.
mktree()
{
	local d=$1
	mkdir -p "$d/sub/deeper" "$d/empty-dir"
	head -c $((70 << 20)) /dev/urandom >"$d/big-70m"
	head -c $((5 << 20 | 123)) /dev/urandom >"$d/sub/5m"
	: >"$d/empty"
	for i in $(seq 30); do head -c $((i * 997)) /dev/urandom >"$d/sub/deeper/s$i"; done
	yes "compressible line $2" | head -c 3000000 >"$d/text"
	ln -s sub/5m "$d/link"
	ln "$d/sub/5m" "$d/hard"
	chmod 0600 "$d/sub/deeper/s1"
	chmod 0751 "$d/sub"
}

for comp in none lz4 zstd; do
	fformat "xref-$comp" --compress "$comp"
	fmount "$META" "$T/ours"
	[ "$RC" -eq 0 ] || { t_fail "mount ours ($comp)" "$(last_run)"; continue; }
	mktree "$T/src-$comp" "ours-$comp"
	cp -a "$T/src-$comp" "$T/ours/fromours"
	fumount "$T/ours"

	ref_mount "$META" "$T/ref"
	if [ "$RC" -ne 0 ]; then
		t_fail "the real client mounts our volume ($comp)" "$(last_run)"
		continue
	fi
	a=$(tree_sum "$T/src-$comp")
	b=$(tree_sum "$T/ref/fromours")
	[ -n "$a" ] && [ "$a" = "$b" ] && t_ok "compress $comp: tree written by our mount reads byte-exact through the real mount" ||
		t_fail "compress $comp: ours -> real mount" "$(diff <(echo "$a") <(echo "$b") | head)"
	[ "$(stat -c %h "$T/ref/fromours/hard")" = 2 ] && t_ok "compress $comp: hard link count seen by the real mount" || t_fail "hard link count ($comp)"
	if [ "$comp" = none ]; then
		d=$(info_same "$T/ref")
		[ -z "$d" ] && t_ok "our juicefs info against the real mount prints what the real info prints" ||
			t_fail "our info against the real mount" "$d"
	fi
	mktree "$T/srcref-$comp" "ref-$comp"
	cp -a "$T/srcref-$comp" "$T/ref/fromref"
	echo gone >"$T/ref/trashed" && rm "$T/ref/trashed"
	ref_umount "$T/ref"

	fmount "$META" "$T/ours"
	[ "$RC" -eq 0 ] || { t_fail "remount ours ($comp)" "$(last_run)"; continue; }
	a=$(tree_sum "$T/srcref-$comp")
	b=$(tree_sum "$T/ours/fromref")
	[ -n "$a" ] && [ "$a" = "$b" ] && t_ok "compress $comp: tree written by the real mount reads byte-exact through ours" ||
		t_fail "compress $comp: real mount -> ours" "$(diff <(echo "$a") <(echo "$b") | head)"
	b=$(tree_sum "$T/ours/fromours")
	[ "$(tree_sum "$T/src-$comp")" = "$b" ] && t_ok "compress $comp: our own tree is unchanged after the real client's mount" ||
		t_fail "compress $comp: own tree unchanged"
	if [ "$comp" = none ]; then
		ls "$T/ours/.trash/"*/ 2>/dev/null | grep -q trashed && t_ok "a file the real mount deleted is in our .trash" ||
			t_fail "trash seen through our mount" "$(ls -R "$T/ours/.trash" | head)"
		d=$(info_same "$T/ours")
		[ -z "$d" ] && t_ok "the real juicefs info against our mount prints what ours prints (control message 1005)" ||
			t_fail "real info against our mount" "$d"
		ref rmr "$T/ours/fromref"
		[ "$RC" -eq 0 ] && [ ! -e "$T/ours/fromref" ] && t_ok "the real client's rmr works against our mount (control protocol)" ||
			t_fail "real rmr against our mount" "$(last_run)"
	fi
	fumount "$T/ours"
	rm -rf "$T/src-$comp" "$T/srcref-$comp" "$T/refcache" "$T/cache"
done
fcheck_logs
t_done
