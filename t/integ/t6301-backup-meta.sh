#!/usr/bin/env bash
# The automatic metadata backup of mount, gateway and webdav (--backup-meta,
# --backup-skip-trash), against the real client's pkg/vfs/backup.go:
#  1. under 5 minutes is refused unless SKIP_BACKUP_META_CHECK=true (the real
#     client's floor and escape hatch, used here for 2-3 s intervals);
#  2. our gateway writes <Name>/meta/dump-YYYY-MM-DD-HHMMSS.json.gz (UTC) in
#     the object store; ours and the real `load` accept it into fresh SQLite
#     databases, and the trees equal the source's (norm-dump.py; the root's
#     lastBackup stamp aside, it moves with every backup);
#  3. retention: fake old backups (and odd names) in meta/ are pruned by our
#     gateway exactly as by the real gateway on a twin volume;
#  4. two gateways of ours on one volume: one backup per interval between
#     them (distinct names, stamps at least the interval apart);
#  5. --backup-skip-trash leaves the trash out; webdav backs up too;
#     --backup-meta 0 and --no-bgjob write nothing.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN" "$JFS_MKTREE"
need_ref
export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
py=$(dirname "$0")/norm-dump.py
GW_PIDS=()

# start NAME CMD...: run a server in the background, logging to $T/NAME.log.
start()
{
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	T_PIDS+=($!)
	GW_PIDS+=($!)
}
stop_all()
{
	local p
	for p in "${GW_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	GW_PIDS=()
}
# wait_log FILE PATTERN N SECONDS: until FILE has N lines matching PATTERN.
wait_log()
{
	local i
	for i in $(seq $(($4 * 10))); do
		[ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}
# The tree of a dump, without the root's lastBackup stamp.
norm()
{
	python3 "$py" "$1" | sed 's/ xattr:lastBackup=[0-9a-f]*//'
}
our_gw()
{
	local name=$1 meta=$2
	shift 2
	start "$name" env SKIP_BACKUP_META_CHECK=true JFS_BGJOB_CHECK_MS=200 "$JFS_BIN" gateway \
		"$meta" "127.0.0.1:$(free_port)" --no-banner --cache-dir none "$@"
}

# ---- 1. --help, and the 5-minute floor
miss=""
for c in mount gateway webdav; do
	jfs "$c" --help
	grep -q -- '--backup-meta value .*(default: "1h")' "$T/out" || miss="$miss $c:--backup-meta"
	grep -q -- '--backup-skip-trash ' "$T/out" || miss="$miss $c:--backup-skip-trash"
done
[ -z "$miss" ] && t_ok "mount, gateway and webdav --help document the backup flags" ||
	t_fail "--help documents the backup flags" "missing:$miss"
jfs format "sqlite3://$T/a.db" vol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format" "$(last_run)"; t_done; }
run timeout 10 "$JFS_BIN" gateway "sqlite3://$T/a.db" "127.0.0.1:$(free_port)" --backup-meta 1m
if [ "$RC" -eq 1 ] && grep -q "backup-meta should not be less than 5 minutes: 1m0s" "$T/err"; then
	t_ok "--backup-meta 1m is refused, as the real client does"
else
	t_fail "--backup-meta 1m is refused" "$(last_run)"
fi
run timeout 10 "$JFS_BIN" gateway --backup-meta 1x "sqlite3://$T/a.db" "127.0.0.1:1"
# (the real client logs a warning and turns the backup off: a typo should not)
[ "$RC" -ne 0 ] && grep -q '"1x" for flag --backup-meta: not a duration' "$T/err" &&
	t_ok "--backup-meta 1x is refused" ||
	t_fail "--backup-meta 1x is refused" "$(last_run)"

# ---- 2. a backup appears and loads in ours and the real client
run "$JFS_MKTREE" "sqlite3://$T/a.db"
[ "$RC" -eq 0 ] || { t_fail "jfs-mktree" "$(last_run)"; t_done; }
M=$T/data/vol/meta
mkdir -p "$M"
# Fake old backups, named for hours before now (UTC), away from the day
# boundaries of the rotation by at least an hour; plus names JuiceFS skips.
now=$(date +%s)
FAKES=""
for h in 1 30 60 66 80 84 130 200 205 400 410 900 950 1500 2000 2100 6000 6100 9000 9050 20000 \
	30000; do
	f=dump-$(date -u -d "@$((now - h * 3600 - 1800))" +%Y-%m-%d-%H%M%S).json.gz
	FAKES="$FAKES $f"
done
FAKES="$FAKES aaa-not-a-backup dump-2024-13-01-000000.json.gz notes.txt"
seed()
{
	local f
	mkdir -p "$1/old"
	for f in $FAKES; do echo fake >"$1/$f"; done
	echo fake >"$1/old/dump-2019-01-01-000000.json.gz"
}
# The fakes left in meta dir $1 (new backups, named after t0, left out).
fakes_left()
{
	(cd "$1" && find . -type f | sed 's|^\./||' | sort) | while read -r f; do
		case " $FAKES old/dump-2019-01-01-000000.json.gz " in
		*" $f "*) echo "$f" ;;
		esac
	done
}
seed "$M"
t0=$(date -u +%Y-%m-%d-%H%M%S)
our_gw a "sqlite3://$T/a.db" --backup-meta 3s
if wait_log "$T/a.log" "backup metadata succeed" 1 15; then
	t_ok "our gateway (--backup-meta 3s) writes a backup"
else
	t_fail "our gateway writes a backup" "$(tail -n 5 "$T/a.log")"
fi
sleep 1 # the cleanup follows the upload
stop_all
new=$(cd "$M" && ls dump-*.json.gz 2>/dev/null | awk -v t="dump-$t0" '$0 >= t' | head -n 1)
if [ -n "$new" ] && [[ "$new" =~ ^dump-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{6}\.json\.gz$ ]] &&
	gzip -t "$M/$new" 2>/dev/null; then
	t_ok "the object is meta/$new, gzip (the real client's name)"
else
	t_fail "backup object under meta/" "$(ls "$M")"
fi
jfs dump "sqlite3://$T/a.db" "$T/src.json"
norm "$T/src.json" >"$T/src.txt"
jfs load "sqlite3://$T/l1.db" "$M/$new"
r1=$RC
ref load "sqlite3://$T/l2.db" "$M/$new"
r2=$RC
jfs dump "sqlite3://$T/l1.db" "$T/l1.json"
jfs dump "sqlite3://$T/l2.db" "$T/l2.json"
norm "$T/l1.json" >"$T/l1.txt" 2>&1
norm "$T/l2.json" >"$T/l2.txt" 2>&1
if [ "$r1" -eq 0 ] && cmp -s "$T/src.txt" "$T/l1.txt" && [ "$(wc -l <"$T/src.txt")" -gt 20 ]; then
	t_ok "our load of the backup: the tree equals the source ($(wc -l <"$T/src.txt") nodes)"
else
	t_fail "our load of the backup" "load rc $r1" "$(diff "$T/src.txt" "$T/l1.txt" | head -n 5)"
fi
if [ "$r2" -eq 0 ] && cmp -s "$T/src.txt" "$T/l2.txt"; then
	t_ok "the real load of the backup: the tree equals the source"
else
	t_fail "the real load of the backup" "load rc $r2" "$(diff "$T/src.txt" "$T/l2.txt" | head -n 5)"
fi

# ---- 3. retention, against the real gateway on a twin volume
fakes_left "$M" >"$T/ours-left"
jfs format "sqlite3://$T/r.db" rvol --bucket "$T/rdata"
RM=$T/rdata/rvol/meta
mkdir -p "$RM"
seed "$RM"
start ref env SKIP_BACKUP_META_CHECK=true "$JFS_REF" gateway "sqlite3://$T/r.db" \
	"127.0.0.1:$(free_port)" --backup-meta 3s --no-usage-report --cache-dir "$T/refcache"
wait_log "$T/ref.log" "backup metadata succeed" 1 30 ||
	t_fail "the real gateway backs up" "$(tail -n 5 "$T/ref.log")"
sleep 2 # its cleanup runs in a goroutine after the upload
stop_all
fakes_left "$RM" >"$T/ref-left"
nfakes=$(($(echo "$FAKES" | wc -w) + 1))
if cmp -s "$T/ours-left" "$T/ref-left" && [ "$(wc -l <"$T/ours-left")" -lt "$nfakes" ] &&
	[ "$(wc -l <"$T/ours-left")" -gt 3 ]; then
	t_ok "retention: $(wc -l <"$T/ours-left") of $nfakes old objects kept, as by the real gateway"
else
	t_fail "retention as the real gateway" "$(diff "$T/ours-left" "$T/ref-left" | head -n 8)" \
		"ours kept $(wc -l <"$T/ours-left") of $nfakes"
fi

# ---- 4. two gateways: one backup per interval
jfs format "sqlite3://$T/b.db" bvol --bucket "$T/bdata"
our_gw b1 "sqlite3://$T/b.db" --backup-meta 2s
our_gw b2 "sqlite3://$T/b.db" --backup-meta 2s
sleep 9
stop_all
grep -ho "meta/dump-[0-9-]*\.json\.gz" "$T/b1.log" "$T/b2.log" | sort >"$T/b-names"
n=$(wc -l <"$T/b-names")
nd=$(sort -u "$T/b-names" | wc -l)
gaps=$(sed 's/.*dump-\(....\)-\(..\)-\(..\)-\(..\)\(..\)\(..\).*/\1-\2-\3 \4:\5:\6/' "$T/b-names" |
	while read -r d t; do date -u -d "$d $t" +%s; done |
	awk 'NR > 1 && $1 - p < 2 { bad++ } { p = $1 } END { print bad + 0 }')
w1=$(grep -c "backup metadata succeed" "$T/b1.log")
w2=$(grep -c "backup metadata succeed" "$T/b2.log")
if [ "$n" -ge 2 ] && [ "$n" -le 6 ] && [ "$n" -eq "$nd" ] && [ "$gaps" -eq 0 ]; then
	t_ok "two gateways, 9 s, interval 2 s: $n backups ($w1 + $w2), each turn taken once"
else
	t_fail "one backup per interval across two gateways" "n=$n distinct=$nd close=$gaps" \
		"$(cat "$T/b-names")"
fi

# ---- 5. --backup-skip-trash, webdav, 0 and --no-bgjob
jfs format "sqlite3://$T/c.db" cvol --bucket "$T/cdata" --trash-days 1
run "$JFS_MKTREE" "sqlite3://$T/c.db"
jfs dump "sqlite3://$T/c.db" "$T/c.json"
intrash=$(python3 "$py" "$T/c.json" | grep -c '^/\.trash/')
start dav env SKIP_BACKUP_META_CHECK=true JFS_BGJOB_CHECK_MS=200 "$JFS_BIN" webdav \
	"sqlite3://$T/c.db" "127.0.0.1:$(free_port)" --cache-dir none --backup-meta 2s \
	--backup-skip-trash
wait_log "$T/dav.log" "backup metadata succeed" 1 15
stop_all
f=$(ls "$T"/cdata/cvol/meta/dump-*.json.gz 2>/dev/null | tail -n 1)
if [ -n "$f" ] && zcat "$f" >"$T/c-bk.json" &&
	[ "$(python3 "$py" "$T/c-bk.json" | grep -c '^/\.trash/')" -eq 0 ] && [ "$intrash" -gt 0 ] &&
	[ "$(norm "$T/c-bk.json" | grep -vc '^/\.trash')" -eq \
		"$(norm "$T/c.json" | grep -vc '^/\.trash')" ]; then
	t_ok "webdav --backup-skip-trash: a backup without the $intrash trash entries"
else
	t_fail "webdav --backup-skip-trash" "file=$f in trash=$intrash" "$(tail -n 3 "$T/dav.log")"
fi

jfs format "sqlite3://$T/z.db" zvol --bucket "$T/zdata"
our_gw z0 "sqlite3://$T/z.db" --backup-meta 0
our_gw z1 "sqlite3://$T/z.db" --backup-meta 2s --no-bgjob
sleep 3
stop_all
if [ -z "$(ls "$T/zdata/zvol/meta" 2>/dev/null)" ] &&
	grep -q "Metadata backup is disabled" "$T/z0.log"; then
	t_ok "--backup-meta 0 and --no-bgjob write no backup"
else
	t_fail "--backup-meta 0 writes none" "$(ls "$T/zdata/zvol/meta" 2>&1)"
fi

# ---- 6. the mount backs up too (when this machine can mount)
if [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; then
	# shellcheck source=t/integ/fuse-lib.sh
	. "$(dirname "$0")/fuse-lib.sh"
	jfs format "sqlite3://$T/m.db" mvol --bucket "$T/mdata"
	SKIP_BACKUP_META_CHECK=true JFS_BGJOB_CHECK_MS=200 fmount "sqlite3://$T/m.db" "$T/mnt" \
		--backup-meta 2s
	if [ "$RC" -eq 0 ]; then
		echo hello >"$T/mnt/file"
		wait_log "$T/mnt.log" "backup metadata succeed" 1 15
		fumount "$T/mnt"
		f=$(ls "$T"/mdata/mvol/meta/dump-*.json.gz 2>/dev/null | tail -n 1)
		if [ -n "$f" ] && gzip -t "$f" && jfs load "sqlite3://$T/m2.db" "$f" && [ "$RC" -eq 0 ]; then
			t_ok "the mount writes a backup that loads"
		else
			t_fail "the mount writes a backup" "$(tail -n 3 "$T/mnt.log")" "$(last_run)"
		fi
	else
		t_fail "mount with --backup-meta 2s" "$(last_run)"
	fi
else
	t_skip "the mount backs up" "no /dev/fuse or not root"
fi

t_done
