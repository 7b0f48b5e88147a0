#!/usr/bin/env bash
# Metadata benchmark (not a test): ops/s of create, lookup, getattr, readdir
# of a 1,000-entry directory, rename and unlink through our `juicefs mount`
# (fs.h under FUSE) beside the real JuiceFS 1.4.2 `juicefs mount`, on SQLite,
# Redis, PostgreSQL and MySQL (MariaDB), at 1 and 16 threads; run ours, real, ours, real...
# with a fresh volume per round and engine.
#
#   bash bench/meta-bench.sh [ROUNDS]
#       (JFS_BIN, JFS_REF, NFILES, NLOOK, NGET, NBIG, NLIST, THREADS may override;
#        ENGINES="sqlite3 redis postgres mysql" picks the engines, default all found)
#
# Volumes: each binary formats its own (block size 4 MiB, no compression,
# `--trash-days 0`, storage `file` in a directory under the temp dir) on
#   sqlite3://TMP/.../m.db, or
#   redis://127.0.0.1:PORT/1 (ours) and /2 (real), one redis-server started
#   here on a free 127.0.0.1 port in the temp dir (`--save "" --appendonly
#   no`), each database flushed before every format and after every unmount,
#   or
#   postgres://postgres@127.0.0.1:PORT/bench_ours (and bench_real), one
#   postgres initdb'ed and started here as nobody on a free 127.0.0.1 port
#   (fsync off, as a test server), each database created anew before every
#   format, or
#   mysql://root:@(127.0.0.1:PORT)/bench_ours (and bench_real), one mariadbd
#   installed and started here as nobody on a free 127.0.0.1 port
#   (innodb_flush_log_at_trx_commit=0, no binlog), each database created
#   anew before every format.
# Mounts: `juicefs mount META MNT -d` with the same options on both:
#   --attr-cache 0 --entry-cache 0 --dir-entry-cache 0 (negative entry cache
#   and open cache are 0 by default on both), so that the kernel answers no
#   lookup or getattr by itself and every op reaches the file system.
# Load (python3 threads, mdtest-style, one directory per thread, each thread
# working through a directory fd (*at calls), so a path walk costs one
# LOOKUP; threads start on a barrier and a phase is timed from the barrier
# to the last thread's end; `echo 2 > /proc/sys/vm/drop_caches` before every
# phase so dentries and inodes are dropped), for each thread count T:
#   create   NFILES/T empty files per thread: open(O_CREAT|O_EXCL) + close
#   lookup   fstatat of each, NLOOK passes (LOOKUP + GETATTR per call; the
#            first pass after the drop meets no inode in the kernel)
#   getattr  fstat on 32 open files per thread, NGET/T calls per thread
#   readdir  listdir of one shared directory of NBIG (1,000) entries (filled
#            untimed once per mount), NLIST/T listings per thread; reported
#            as listings per second
#   rename   each file to a new name in its directory
#   unlink   each renamed file
# Both mounts answer listings with READDIRPLUS (attributes with each entry).
# Each mount gets its own free --metrics port (ours accepts and ignores it).
# The load runs on the same 2 CPUs as the mount and Redis: on a busy machine
# quote the ratios. Prints the median over the rounds of every op x threads
# x engine for ours and real with ours/real and the spread (max-min)/median
# of each, the peak RSS (VmHWM) of each mount process, then `redis-benchmark`
# GET/SET on the same redis-server as the limit (50 clients, the command's
# default, and 1 client; no raw SQLite figure is printed). Needs root (mount,
# drop_caches). Never asserts a time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JFS_BIN=${JFS_BIN:-$ROOT/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
ROUNDS=${1:-3}
NFILES=${NFILES:-2000}
NBIG=${NBIG:-1000}
NLIST=${NLIST:-96}
NGET=${NGET:-40000}
NLOOK=${NLOOK:-3}
THREADS=${THREADS:-1,16}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/meta-bench.XXXXXX")
MNT=
MPID=
MBIN=
RPID=
RPORT=
PGPID=
PGPORT=
PGBIN=
MYPID=
MYPORT=
cleanup()
{
	if [ -n "$MNT" ] && mountpoint -q "$MNT"; then
		"$MBIN" umount "$MNT" >/dev/null 2>&1 || umount -l "$MNT" 2>/dev/null || true
	fi
	if [ -n "$MPID" ]; then
		for _ in $(seq 1 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
		kill "$MPID" 2>/dev/null || true
	fi
	if [ -n "$RPID" ]; then
		kill "$RPID" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -n "$PGPID" ]; then
		kill -INT "$PGPID" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$PGPID" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -n "$MYPID" ]; then
		kill -TERM "$MYPID" 2>/dev/null || true
		for _ in $(seq 1 300); do kill -0 "$MYPID" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat >"$W/load.py" <<'EOF'
import json, os, sys, threading, time
base, nfiles, nbig, nlist, nget, nlook = sys.argv[1], *map(int, sys.argv[2:7])
tcounts = [int(x) for x in sys.argv[7].split(",")]
NOPEN = 32

def drop():
    with open("/proc/sys/vm/drop_caches", "w") as f: f.write("2")

def phase(nt, fn, timed=True):
    """Run fn(i) in nt threads started on a barrier; seconds to the last end."""
    if timed: drop()
    bar = threading.Barrier(nt + 1)
    errs = []
    def body(i):
        try:
            bar.wait()
            fn(i)
        except BaseException as e:
            errs.append("thread %d: %r" % (i, e))
    ths = [threading.Thread(target=body, args=(i,)) for i in range(nt)]
    for t in ths: t.start()
    bar.wait()
    t0 = time.perf_counter()
    for t in ths: t.join()
    dt = time.perf_counter() - t0
    if errs: raise SystemExit("meta-load: " + errs[0])
    return dt

os.makedirs(base)
big = os.path.join(base, "big")
os.mkdir(big)
def fill(i):
    for j in range(i, nbig, 16):
        os.close(os.open(os.path.join(big, "b%04d" % j), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
phase(16, fill, timed=False)

out = {}
for nt in tcounts:
    top = os.path.join(base, "x%d" % nt)
    os.mkdir(top)
    dfd = []
    for i in range(nt):
        p = os.path.join(top, "d%02d" % i)
        os.mkdir(p)
        dfd.append(os.open(p, os.O_RDONLY | os.O_DIRECTORY))
    per = max(1, nfiles // nt)
    names = ["f%05d" % j for j in range(per)]
    renamed = ["g%05d" % j for j in range(per)]
    k = "x%d" % nt

    def create(i):
        d = dfd[i]
        for n in names:
            os.close(os.open(n, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, dir_fd=d))
    out["create " + k] = nt * per / phase(nt, create)

    def lookup(i):
        d = dfd[i]
        for _ in range(nlook):
            for n in names:
                os.stat(n, dir_fd=d)
    out["lookup " + k] = nt * per * nlook / phase(nt, lookup)

    fds = [[] for _ in range(nt)]
    def openn(i):
        fds[i] = [os.open(n, os.O_RDONLY, dir_fd=dfd[i]) for n in names[:NOPEN]]
    phase(nt, openn, timed=False)
    gper = max(1, nget // nt)
    def getattr_(i):
        f = fds[i]; m = len(f)
        for j in range(gper):
            os.fstat(f[j % m])
    out["getattr " + k] = nt * gper / phase(nt, getattr_)
    for f in fds:
        for fd in f: os.close(fd)

    lper = max(1, nlist // nt)
    def readdir(i):
        for _ in range(lper):
            got = len(os.listdir(big))
            if got != nbig: raise RuntimeError("listed %d of %d entries" % (got, nbig))
    out["readdir1k " + k] = nt * lper / phase(nt, readdir)

    def rename(i):
        d = dfd[i]
        for a, b in zip(names, renamed):
            os.rename(a, b, src_dir_fd=d, dst_dir_fd=d)
    out["rename " + k] = nt * per / phase(nt, rename)

    def unlink(i):
        d = dfd[i]
        for b in renamed:
            os.unlink(b, dir_fd=d)
    out["unlink " + k] = nt * per / phase(nt, unlink)

    for i in range(nt):
        os.close(dfd[i])
        os.rmdir(os.path.join(top, "d%02d" % i))
    os.rmdir(top)
print(json.dumps(out))
EOF

start_redis()
{
	mkdir -p "$W/redis"
	RPORT=$(port)
	redis-server --bind 127.0.0.1 --port "$RPORT" --dir "$W/redis" --save "" --appendonly no \
		--protected-mode yes --daemonize no --logfile "$W/redis/log" &
	RPID=$!
	for _ in $(seq 1 100); do
		[ "$(redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null)" = PONG ] && return
		sleep 0.1
	done
	echo "redis-server did not start on 127.0.0.1:$RPORT" >&2
	exit 1
}

start_pg()
{
	local b
	for b in /usr/lib/postgresql/*/bin; do [ -x "$b/postgres" ] && PGBIN=$b; done
	PGPORT=$(port)
	mkdir -p "$W/pg"
	chmod 755 "$W"
	chown nobody:nogroup "$W/pg"
	(cd "$W/pg" && setpriv --reuid=nobody --regid=nogroup --clear-groups "$PGBIN/initdb" \
		-D "$W/pg/data" -U postgres -A trust -E UTF8 --locale=C >"$W/pg/initdb.log" 2>&1) ||
		{ echo "initdb failed:" >&2; tail -5 "$W/pg/initdb.log" >&2; exit 1; }
	(cd "$W/pg" && exec setpriv --reuid=nobody --regid=nogroup --clear-groups "$PGBIN/postgres" \
		-D "$W/pg/data" -p "$PGPORT" -c listen_addresses=127.0.0.1 \
		-c unix_socket_directories="$W/pg" -c max_connections=300 -c fsync=off \
		>"$W/pg/log" 2>&1 </dev/null) &
	PGPID=$!
	for _ in $(seq 1 300); do
		"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -t 1 && return
		sleep 0.1
	done
	echo "postgres did not start on 127.0.0.1:$PGPORT" >&2
	exit 1
}

pg_fresh_db()
{
	"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres \
		-c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}

start_my()
{
	MYPORT=$(port)
	mkdir -p "$W/my"
	chmod 755 "$W"
	chown nobody:nogroup "$W/my"
	(cd "$W/my" && setpriv --reuid=nobody --regid=nogroup --clear-groups mariadb-install-db \
		--no-defaults --datadir="$W/my/data" --skip-test-db \
		--auth-root-authentication-method=normal >"$W/my/install.log" 2>&1) ||
		{ echo "mariadb-install-db failed:" >&2; tail -5 "$W/my/install.log" >&2; exit 1; }
	(cd "$W/my" && exec setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/sbin/mariadbd \
		--no-defaults --datadir="$W/my/data" --skip-networking=0 --bind-address=127.0.0.1 \
		--port="$MYPORT" --socket="$W/my/sock" --pid-file="$W/my/pid" --log-error="$W/my/log" \
		--skip-log-bin --innodb-flush-log-at-trx-commit=0 --max-connections=300 \
		>/dev/null 2>&1 </dev/null) &
	MYPID=$!
	for _ in $(seq 1 300); do
		mariadb-admin --no-defaults -h 127.0.0.1 -P "$MYPORT" -u root --connect-timeout=1 \
			ping >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "mariadbd did not start on 127.0.0.1:$MYPORT" >&2
	exit 1
}

my_fresh_db()
{
	mariadb --no-defaults -h 127.0.0.1 -P "$MYPORT" -u root \
		-e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1" >/dev/null
}

# mount_fs WHO ENGINE DIR: format and mount a fresh volume; sets MNT, MPID, MBIN, META.
mount_fs()
{
	local who=$1 engine=$2 dir=$3 db=1
	MBIN=$JFS_BIN
	[ "$who" = real ] && MBIN=$JFS_REF && db=2
	if [ "$engine" = redis ]; then
		META=redis://127.0.0.1:$RPORT/$db
		redis-cli -h 127.0.0.1 -p "$RPORT" -n "$db" flushdb >/dev/null
	elif [ "$engine" = postgres ]; then
		pg_fresh_db "bench_$who"
		META="postgres://postgres@127.0.0.1:$PGPORT/bench_$who?sslmode=disable"
	elif [ "$engine" = mysql ]; then
		my_fresh_db "bench_$who"
		META="mysql://root:@(127.0.0.1:$MYPORT)/bench_$who"
	else
		META=sqlite3://$dir/m.db
	fi
	if ! "$MBIN" format "$META" bench --bucket "$dir/data" --block-size 4096 \
		--compress none --trash-days 0 >"$dir/format.log" 2>&1; then
		echo "$who: format $META failed:" >&2; tail -5 "$dir/format.log" >&2; exit 1
	fi
	MNT=$dir/mnt
	mkdir -p "$MNT"
	if ! "$MBIN" mount "$META" "$MNT" -d --log "$dir/mount.log" --cache-dir "$dir/cache" \
		--attr-cache 0 --entry-cache 0 --dir-entry-cache 0 \
		--metrics "127.0.0.1:$(port)" --no-usage-report >"$dir/mount.out" 2>&1; then
		echo "$who: mount $META failed:" >&2; tail -5 "$dir/mount.out" "$dir/mount.log" >&2; exit 1
	fi
	for _ in $(seq 1 100); do [ -f "$MNT/.config" ] && break; sleep 0.1; done
	if [ ! -f "$MNT/.config" ]; then
		echo "$who: $MNT/.config did not appear:" >&2; tail -5 "$dir/mount.log" >&2; exit 1
	fi
	MPID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Pid"])' "$MNT/.config")
}

umount_fs()
{
	"$MBIN" umount "$MNT" >/dev/null 2>&1 || umount -l "$MNT" 2>/dev/null || true
	for _ in $(seq 1 200); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
	kill "$MPID" 2>/dev/null || true
	MNT=
	MPID=
}

who=(ours real)
[ -x "$JFS_REF" ] || { who=(ours); echo "no real client at $JFS_REF: ours only" >&2; }
want=${ENGINES:-sqlite3 redis postgres mysql}
engines=()
[[ " $want " = *" sqlite3 "* ]] && engines+=(sqlite3)
if [[ " $want " = *" redis "* ]]; then
	if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
		engines+=(redis)
		start_redis
	else
		echo "no redis-server/redis-cli: no Redis figures" >&2
	fi
fi
if [[ " $want " = *" postgres "* ]]; then
	if compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && command -v setpriv >/dev/null; then
		engines+=(postgres)
		start_pg
	else
		echo "no postgresql server: no PostgreSQL figures" >&2
	fi
fi
if [[ " $want " = *" mysql "* ]]; then
	if [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null &&
		command -v setpriv >/dev/null; then
		engines+=(mysql)
		start_my
	else
		echo "no mariadb server: no MySQL figures" >&2
	fi
fi
[ "${#engines[@]}" -gt 0 ] || { echo "no engine to run (ENGINES=$want)" >&2; exit 1; }
echo "meta-bench: started $(date '+%F %T'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
started=$(date '+%F %T')
for r in $(seq 1 "$ROUNDS"); do
	for e in "${engines[@]}"; do
		for s in "${who[@]}"; do
			dir=$W/$s-$e-$r
			mkdir -p "$dir"
			mount_fs "$s" "$e" "$dir"
			res=$(python3 "$W/load.py" "$MNT/bench" "$NFILES" "$NBIG" "$NLIST" "$NGET" "$NLOOK" "$THREADS")
			hwm=$(awk '/VmHWM/ {print $2}' "/proc/$MPID/status")
			umount_fs
			[ "$e" = redis ] && redis-cli -h 127.0.0.1 -p "$RPORT" -n "$([ "$s" = real ] && echo 2 || echo 1)" \
				flushdb >/dev/null
			echo "{\"who\": \"$s\", \"engine\": \"$e\", \"round\": $r, \"hwm_kb\": $hwm, \"res\": $res}" \
				>>"$W/results.jsonl"
			rm -rf "$dir"
			echo "round $r $e $s done ($(date +%T))" >&2
		done
	done
done
cp "$W/results.jsonl" "${META_BENCH_KEEP:-/dev/null}" 2>/dev/null || true
python3 - "$W/results.jsonl" "$started" "$(date '+%F %T')" "$NFILES" "$NBIG" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
who = list(dict.fromkeys(r["who"] for r in rows))
engines = list(dict.fromkeys(r["engine"] for r in rows))
keys = list(rows[0]["res"].keys())
rounds = max(r["round"] for r in rows)
def vals(w, e, k): return [r["res"][k] for r in rows if r["who"] == w and r["engine"] == e]
def med(w, e, k): return statistics.median(vals(w, e, k))
def spread(w, e, k):
    v = vals(w, e, k); return 100 * (max(v) - min(v)) / statistics.median(v)
print("Metadata bench (%s .. %s): medians of %d rounds, ops/s; %s files per thread count,"
      % (sys.argv[2], sys.argv[3], rounds, sys.argv[4]))
print("readdir1k = listings/s of one %s-entry directory; spread = (max-min)/median over rounds"
      % sys.argv[5])
real = "real" in who
hdr = "%-10s %4s %-8s %10s %10s %10s %8s %8s" % ("op", "thr", "engine", "ours", "real", "ours/real",
                                               "spr ours", "spr real")
print(hdr)
for e in engines:
    for k in keys:
        op, t = k.split(" x")
        o = med("ours", e, k)
        if real:
            p = med("real", e, k)
            print("%-10s %4s %-8s %10.1f %10.1f %10.2f %7.0f%% %7.0f%%" % (op, t, e, o, p, o / p,
                  spread("ours", e, k), spread("real", e, k)))
        else:
            print("%-10s %4s %-8s %10.1f %10s %10s %7.0f%%" % (op, t, e, o, "-", "-", spread("ours", e, k)))
for e in engines:
    h = {w: statistics.median(r["hwm_kb"] for r in rows if r["who"] == w and r["engine"] == e) for w in who}
    if real:
        print("%-10s %4s %-8s %10.1f %10.1f %10.2f" % ("VmHWM MiB", "", e, h["ours"] / 1024,
              h["real"] / 1024, h["ours"] / h["real"]))
    else:
        print("%-10s %4s %-8s %10.1f" % ("VmHWM MiB", "", e, h["ours"] / 1024))
EOF
if [ -n "$RPORT" ]; then
	if command -v redis-benchmark >/dev/null; then
		echo "limit: redis-benchmark -h 127.0.0.1 -p $RPORT -t get,set -n 100000 -q (50 clients):"
		redis-benchmark -h 127.0.0.1 -p "$RPORT" -t get,set -n 100000 -q 2>&1 | tr '\r' '\n' |
			grep -E '^(GET|SET):.*requests per second' | sed 's/^/  /'
		echo "limit: the same with -c 1 (one client):"
		redis-benchmark -h 127.0.0.1 -p "$RPORT" -t get,set -n 20000 -c 1 -q 2>&1 | tr '\r' '\n' |
			grep -E '^(GET|SET):.*requests per second' | sed 's/^/  /'
	else
		echo "limit: redis-benchmark not installed (Debian package redis-tools): no raw GET/SET figures"
	fi
fi
