#!/usr/bin/env bash
# `juicefs dump` and `juicefs load` interchangeable with the real JuiceFS 1.4.2
# client, across SQLite, Redis and mem.
#
# The source is a SQLite volume of ours holding the jfs-mktree tree (nested
# directories, owners and modes, a sparse file, symlinks, hard links, binary
# xattrs, names that need escaping, files and directories in trash) and the
# data-path files of t2001 written through fs.h (small, 5 MiB, a 66 MiB file
# over two chunks, one of many overwrite slices).
# (a) our dump and $JFS_REF dump of it are byte-identical (plain, --subdir,
#     --skip-trash), and the same after norm-dump.py; .gz and stdout forms
#     hold the same bytes.
# (b) our dump is loaded by ours and by the real client into SQLite and into
#     Redis: the databases hold the same rows / keys (row ids and the real
#     loader's hole refcount row aside); loads from .gz, from stdin and
#     into mem:// succeed.
# (c) every loaded volume, and one moved across engines (Redis → dump → SQLite),
#     dumps (by ours and by the real client) to the source's tree, counters
#     and slices: byte-identical but for the id counters the source had
#     reserved in batches.
# (d) data reads byte-exact from the loaded volumes: through our S3 gateway on
#     the SQLite volume loaded by ours from the real client's dump and on
#     the Redis volume loaded by the real client from ours, and through fs.h.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

: "${JFS_FSCP:=$PWD/t/tools/jfs-fscp}"
need_bin "$JFS_BIN" "$JFS_MKTREE" "$JFS_FSCP"
command -v redis-server >/dev/null || t_skip_all "redis-server not installed"
need_ref
unset REDIS_PASSWORD META_PASSWORD
py=$(dirname "$0")/norm-dump.py
canon=$(dirname "$0")/redis-canon.py

rport=$(free_port)
mkdir -p "$T/redis"
t_spawn redis-server --port "$rport" --bind 127.0.0.1 --dir "$T/redis" --save "" \
	--appendonly no --daemonize no --logfile "$T/redis/log"
for _ in $(seq 100); do
	[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
	sleep 0.05
done
R=redis://127.0.0.1:$rport
SRC=sqlite3://$T/src.db

# ---------------------------------------------------------------- source
jfs format "$SRC" dumpvol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format the source" "$(last_run)"; t_done; }
run "$JFS_MKTREE" "$SRC"
[ "$RC" -eq 0 ] || { t_fail "jfs-mktree on the source" "$(last_run)"; t_done; }
head -c 12345 /dev/urandom >"$T/f-small"
head -c $((5 << 20)) /dev/urandom >"$T/f-5m"
head -c $((66 << 20)) /dev/urandom >"$T/f-66m"
ok=1
for f in f-small f-5m f-66m; do
	run "$JFS_FSCP" put "$SRC" "$T/$f" "/data/$f" || true
	[ "$RC" -eq 0 ] || { ok=0; t_fail "jfs-fscp put $f" "$(last_run)"; }
done
run "$JFS_FSCP" randwrite "$SRC" /data/f-slices 3000000 60 7 "$T/f-slices"
[ "$RC" -eq 0 ] || { ok=0; t_fail "jfs-fscp randwrite" "$(last_run)"; }
[ "$ok" -eq 1 ] && t_ok "source: jfs-mktree tree and data files (66 MiB over two chunks, 60 slices)"
files=(f-small f-5m f-66m f-slices)

# ---------------------------------------------------------------- (a)
jfs dump "$SRC" "$T/ours.json"
[ "$RC" -eq 0 ] || { t_fail "(a) our dump" "$(last_run)"; t_done; }
ref dump "$SRC" "$T/ref.json"
[ "$RC" -eq 0 ] || { t_fail "(a) the real dump" "$(last_run)"; t_done; }
if cmp -s "$T/ref.json" "$T/ours.json"; then
	t_ok "(a) our dump is byte-identical to the real client's ($(wc -c <"$T/ours.json") bytes)"
else
	t_fail "(a) our dump is byte-identical to the real client's" \
		"$(diff "$T/ref.json" "$T/ours.json" | head -n 10)"
fi
python3 "$py" "$T/ours.json" | sort >"$T/src.norm"
python3 "$py" "$T/ref.json" | sort >"$T/ref.norm"
if [ -s "$T/src.norm" ] && diff "$T/ref.norm" "$T/src.norm" >"$T/diff"; then
	t_ok "(a) normalised dumps agree ($(nlines "$T/src.norm") lines)"
else
	t_fail "(a) normalised dumps agree" "$(head -n 10 "$T/diff")"
fi
for flags in "--subdir /data" "--subdir /dir1/sub" "--skip-trash"; do
	# shellcheck disable=SC2086
	jfs dump "$SRC" "$T/o.json" $flags
	# shellcheck disable=SC2086
	run "$JFS_REF" dump "$SRC" "$T/r.json" $flags
	if cmp -s "$T/o.json" "$T/r.json"; then
		t_ok "(a) dump $flags: byte-identical to the real client's"
	else
		t_fail "(a) dump $flags: byte-identical" "$(diff "$T/r.json" "$T/o.json" | head -n 8)"
	fi
done
jfs dump "$SRC" "$T/ours.json.gz"
run "$JFS_BIN" dump "$SRC"
cp "$T/out" "$T/stdout.json"
jfs dump "$SRC" -
if gzip -dc "$T/ours.json.gz" | cmp -s - "$T/ours.json" && cmp -s "$T/stdout.json" "$T/ours.json" &&
	cmp -s "$T/out" "$T/ours.json" && [ ! -e "$T/ours.json.gz.tmp" ]; then
	t_ok "(a) .gz, no FILE and '-' (stdout) give the same dump"
else
	t_fail "(a) .gz and stdout dumps" "$(last_run)"
fi
# sessions' sustained inodes and files waiting for deletion, as the real
# client writes them; load restores the deleted files, not the sessions
jfs format "sqlite3://$T/df.db" dfvol --bucket "$T/dfdata"
sqlite3 "$T/df.db" "insert into jfs_delfile values (77, 1234, 1700000000);
	insert into jfs_sustained(sid, inode) values (3, 5), (3, 6), (9, 8);"
jfs dump "sqlite3://$T/df.db" "$T/df-ours.json"
run "$JFS_REF" dump "sqlite3://$T/df.db" "$T/df-ref.json"
jfs load "sqlite3://$T/df2.db" "$T/df-ours.json"
# The real client lists Sustained in Go map order (random from run to run):
# compare with the sessions sorted, as ours writes them.
same_sustained()
{
	python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
for d in (a, b):
    d["Sustained"] = sorted(d.get("Sustained") or [], key=lambda e: e["sid"])
sys.exit(a != b)
PY
}
if same_sustained "$T/df-ours.json" "$T/df-ref.json" && grep -q '"sid": 9' "$T/df-ours.json" &&
	[ "$(sqlite3 "$T/df2.db" 'select inode, length, expire from jfs_delfile')" = "77|1234|1700000000" ]; then
	t_ok "(a) Sustained and DelFiles as the real client dumps them; DelFiles load"
else
	t_fail "(a) Sustained and DelFiles" "$(diff "$T/df-ref.json" "$T/df-ours.json" | head -n 6)" \
		"$(sqlite3 "$T/df2.db" 'select * from jfs_delfile' 2>&1)"
fi

# directory quotas: dumped as the real client does; loaded with the usage
# counted again, by ours as by the real client
jfs format "sqlite3://$T/q.db" qvol --bucket "$T/qdata"
run "$JFS_MKTREE" "sqlite3://$T/q.db"
jfs quota set "sqlite3://$T/q.db" --path /dir1 --capacity 1 --inodes 100
jfs quota set "sqlite3://$T/q.db" --path /dir1/sub --inodes 7
jfs dump "sqlite3://$T/q.db" "$T/q-ours.json"
run "$JFS_REF" dump "sqlite3://$T/q.db" "$T/q-ref.json"
jfs load "sqlite3://$T/q1.db" "$T/q-ours.json"
ref load "sqlite3://$T/q2.db" "$T/q-ours.json"
qrows() { sqlite3 "$1" 'select * from jfs_dir_quota order by inode' | tr '\n' ' '; }
if cmp -s "$T/q-ours.json" "$T/q-ref.json" && grep -q '"Quotas": {' "$T/q-ours.json" &&
	[ "$(qrows "$T/q1.db")" = "$(qrows "$T/q2.db")" ] && [ "$(qrows "$T/q1.db")" = "$(qrows "$T/q.db")" ] &&
	[ -n "$(qrows "$T/q.db")" ]; then
	t_ok "(a) directory quotas dump as the real client's and load alike: $(qrows "$T/q1.db")"
else
	t_fail "(a) directory quotas" "$(diff "$T/q-ref.json" "$T/q-ours.json" | head -n 6)" \
		"source: $(qrows "$T/q.db")" "ours: $(qrows "$T/q1.db")" "real: $(qrows "$T/q2.db")"
fi

# secrets: stripped to "removed" unless --keep-secret-key, kept sealed as stored
jfs format "sqlite3://$T/k.db" keyvol --bucket "$T/kdata" --access-key AKEY --secret-key SKEY123
for flags in "" "--keep-secret-key"; do
	# shellcheck disable=SC2086
	jfs dump "sqlite3://$T/k.db" "$T/k-ours.json" $flags
	# shellcheck disable=SC2086
	run "$JFS_REF" dump "sqlite3://$T/k.db" "$T/k-ref.json" $flags
	if cmp -s "$T/k-ours.json" "$T/k-ref.json" &&
		{ [ -n "$flags" ] || grep -q '"SecretKey": "removed"' "$T/k-ours.json"; } &&
		{ [ -z "$flags" ] || ! grep -q '"removed"' "$T/k-ours.json"; }; then
		t_ok "(a) dump ${flags:-without --keep-secret-key}: secret as the real client writes it"
	else
		t_fail "(a) dump ${flags:-without --keep-secret-key}: secret" \
			"$(diff "$T/k-ref.json" "$T/k-ours.json" | head -n 6)"
	fi
done
jfs load "sqlite3://$T/k2.db" "$T/k-ref.json"
jfs load "sqlite3://$T/k3.db" "$T/k-ours.json"
jfs dump "sqlite3://$T/k2.db" "$T/k2.json"
if [ "$RC" -eq 0 ] && grep -q '"SecretKey": "removed"' "$T/k2.json"; then
	t_ok "(a) a dump without the secret loads; the secret stays \"removed\""
else
	t_fail "(a) a dump without the secret loads" "$(last_run)"
fi

jfs dump "$SRC" "$T/nodir/x.json"
[ "$RC" -ne 0 ] && [ "$(nlines "$T/err")" -eq 1 ] && t_ok "(a) dump into a missing directory: one-line error" ||
	t_fail "(a) dump into a missing directory" "$(last_run)"

# ---------------------------------------------------------------- (b)
jfs load "sqlite3://$T/A.db" "$T/ours.json"
[ "$RC" -eq 0 ] || t_fail "(b) ours loads our dump into SQLite" "$(last_run)"
ref load "sqlite3://$T/B.db" "$T/ours.json"
[ "$RC" -eq 0 ] || t_fail "(b) the real client loads our dump into SQLite" "$(last_run)"
jfs load "$R/1" "$T/ours.json.gz"
[ "$RC" -eq 0 ] || t_fail "(b) ours loads our .gz dump into Redis" "$(last_run)"
ref load "$R/2" "$T/ours.json"
[ "$RC" -eq 0 ] || t_fail "(b) the real client loads our dump into Redis" "$(last_run)"
RC=0
"$JFS_BIN" load "sqlite3://$T/E.db" - <"$T/ref.json" >"$T/out" 2>"$T/err" || RC=$?
[ "$RC" -eq 0 ] || t_fail "(b) ours loads the real dump from stdin into SQLite" "$(last_run)"
RC=0
"$JFS_BIN" load mem://t6101 <"$T/ours.json" >"$T/out" 2>"$T/err" || RC=$?
[ "$RC" -eq 0 ] && t_ok "(b) ours loads the dump into mem:// (stdin, no FILE)" ||
	t_fail "(b) ours loads into mem://" "$(last_run)"

sqlrows()
{
	local db=$1
	sqlite3 "$db" "
	select 'node', * from jfs_node order by inode;
	select 'edge', parent, hex(name), inode, type from jfs_edge order by parent, name;
	select 'chunk', inode, indx, hex(slices) from jfs_chunk order by inode, indx;
	select 'ref', * from jfs_chunk_ref where chunkid <> 0 order by chunkid;
	select 'stat', * from jfs_dir_stats order by inode;
	select 'sym', inode, hex(target) from jfs_symlink order by inode;
	select 'xattr', inode, hex(name), hex(value) from jfs_xattr order by inode, name;
	select 'del', * from jfs_delfile order by inode;
	select 'counter', * from jfs_counter where name <> 'nextCleanupSlices' order by name;
	select 'setting', length(value) > 0 from jfs_setting;"
}
sqlrows "$T/A.db" >"$T/A.rows"
sqlrows "$T/B.db" >"$T/B.rows"
if [ -s "$T/A.rows" ] && diff "$T/B.rows" "$T/A.rows" >"$T/diff"; then
	t_ok "(b) SQLite: our load and the real one hold the same rows ($(nlines "$T/A.rows"))"
else
	t_fail "(b) SQLite: our load and the real one hold the same rows" "$(head -n 10 "$T/diff")"
fi
python3 "$canon" "$rport" 1 >"$T/r1" 2>&1
python3 "$canon" "$rport" 2 >"$T/r2" 2>&1
if [ -s "$T/r2" ] && diff "$T/r2" "$T/r1" >"$T/diff"; then
	t_ok "(b) Redis: our load and the real one hold the same keys and values ($(nlines "$T/r1"))"
else
	t_fail "(b) Redis: our load and the real one hold the same keys" "$(head -n 10 "$T/diff")"
fi

# ---------------------------------------------------------------- (c)
# across engines: our Redis volume → our dump → our SQLite
jfs dump "$R/1" "$T/r1.json"
jfs load "sqlite3://$T/G.db" "$T/r1.json"
[ "$RC" -eq 0 ] || t_fail "(c) Redis → SQLite by ours" "$(last_run)"
# the source had reserved ids in batches and open sessions; a load recomputes
# the ids from the tree and restarts session ids, as the real loader does
strip() { grep -vE '"(nextInodes|nextChunk|nextSession)":' "$1"; }
strip "$T/ours.json" >"$T/src.stripped"
bad=
for v in "A:sqlite3://$T/A.db" "B:sqlite3://$T/B.db" "E:sqlite3://$T/E.db" "R1:$R/1" "R2:$R/2" \
	"G:sqlite3://$T/G.db"; do
	name=${v%%:*}
	url=${v#*:}
	jfs dump "$url" "$T/$name.ours.json"
	ref dump "$url" "$T/$name.ref.json"
	for who in ours ref; do
		if ! strip "$T/$name.$who.json" | cmp -s - "$T/src.stripped"; then
			bad="$bad $name($who):$(strip "$T/$name.$who.json" | diff "$T/src.stripped" - | head -n 4 | tr '\n' ' ')"
		fi
	done
done
if [ -z "$bad" ]; then
	t_ok "(c) all 6 loaded volumes dump (ours and real) to the source's bytes, id counters aside"
else
	t_fail "(c) loaded volumes dump to the source" "$bad"
fi

# ---------------------------------------------------------------- (d)
fsbad=
for f in "${files[@]}"; do
	for url in "sqlite3://$T/A.db" "$R/2" "sqlite3://$T/G.db"; do
		run "$JFS_FSCP" get "$url" "/data/$f" "$T/got"
		cmp -s "$T/got" "$T/$f" || fsbad="$fsbad $url:$f"
	done
done
[ -z "$fsbad" ] && t_ok "(d) data files read byte-exact through fs.h from 3 loaded volumes" ||
	t_fail "(d) data through fs.h" "$fsbad"

if python3 -c 'import boto3' 2>/dev/null; then
	export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
	for url in "sqlite3://$T/E.db" "$R/2"; do
		port=$(free_port)
		"$JFS_BIN" gateway "$url" "127.0.0.1:$port" --no-banner --cache-dir none \
			>>"$T/gw.log" 2>&1 &
		gpid=$!
		T_PIDS+=("$gpid")
		wait_http "$port" 15
		run python3 - "$port" "$T" "${files[@]}" <<'EOF'
import sys, boto3
from botocore.config import Config
port, d, *names = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port, aws_access_key_id="s3admin",
                  aws_secret_access_key="s3secret123", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
bad = []
for n in names:
    got = s3.get_object(Bucket="dumpvol", Key="data/" + n)["Body"].read()
    if got != open(d + "/" + n, "rb").read():
        bad.append(n)
print("bad:", bad) if bad else print("ok")
sys.exit(1 if bad else 0)
EOF
		if [ "$RC" -eq 0 ]; then
			t_ok "(d) our S3 gateway on $(echo "$url" | sed "s|$T/||") serves the data byte-exact"
		else
			t_fail "(d) our S3 gateway on $url serves the data" "$(last_run)" "$(tail -n 3 "$T/gw.log")"
		fi
		kill -TERM "$gpid" 2>/dev/null
		wait "$gpid" 2>/dev/null
	done
else
	t_skip "(d) data through our S3 gateway" "python3 boto3 missing"
fi

t_done
