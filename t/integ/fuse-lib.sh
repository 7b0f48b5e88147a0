# Helpers for the FUSE mount scripts t/integ/t3*-fuse-*.sh (sourced after lib.sh).
#
# Mounts are made with `juicefs mount -d` and recorded in T_MOUNTS, so
# lib.sh's cleanup unmounts them; fumount also waits for the daemon (its pid
# read from .config) to exit, so the next mount finds the session closed.
# Nothing here kills a process it did not start.

# The kernel side must be there: /dev/fuse, root (allow_other, umount2).
need_fuse()
{
	[ -c /dev/fuse ] || t_skip_all "no /dev/fuse on this machine"
	[ "$(id -u)" -eq 0 ] || t_skip_all "the FUSE tests mount as root"
}

# fformat NAME [ARGS...]: a sqlite3 volume with file storage under $T; sets META.
fformat()
{
	local name=$1
	shift
	META="sqlite3://$T/$name.db"
	jfs format "$META" "$name" --bucket "$T/$name-bucket" "$@"
	[ "$RC" -eq 0 ] || { t_fail "format $name" "$(last_run)"; t_done; }
}

# fmount META MP [ARGS...]: mount in the background; RC as run() sets it.
fmount()
{
	local meta=$1 mp=$2
	shift 2
	mkdir -p "$mp"
	run "$JFS_BIN" mount "$meta" "$mp" -d --log "$T/$(basename "$mp").log" \
		--cache-dir "$T/cache" "$@"
	if [ "$RC" -eq 0 ]; then
		T_MOUNTS+=("$mp")
		# -d returns once mounted: the root must answer at once.
		[ "$(stat -c %i "$mp" 2>/dev/null)" = 1 ] || RC=99
	fi
}

# fumount MP: unmount and wait (at most 20 s) for the serving process to end.
fumount()
{
	local mp=$1 pid i
	pid=$(jq -r .Pid "$mp/.config" 2>/dev/null)
	run "$JFS_BIN" umount "$mp"
	[ "$RC" -eq 0 ] || return 0
	if [ -n "$pid" ] && [ "$pid" != null ]; then
		for i in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
}

# ref_mount META MP [ARGS...]: mount with the real client (-d), its log in
# $T/ref-<basename MP>.log; RC as run() sets it. ref_umount MP: unmount it
# and wait (at most 20 s) for its process to end.
ref_mount()
{
	local meta=$1 mp=$2
	shift 2
	mkdir -p "$mp"
	run "$JFS_REF" mount "$meta" "$mp" -d --log "$T/ref-$(basename "$mp").log" --no-usage-report \
		--cache-dir "$T/refcache" "$@"
	[ "$RC" -eq 0 ] && T_MOUNTS+=("$mp")
}
ref_umount()
{
	local pid i
	pid=$(jq -r .Pid "$1/.config" 2>/dev/null)
	run "$JFS_REF" umount "$1"
	if [ -n "$pid" ] && [ "$pid" != null ]; then
		for i in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
}

# tree_sum DIR: one line per entry (type, mode; size and sha256 of files, symlink targets),
# for comparing trees across mounts.
tree_sum()
{
	(cd "$1" && find . -path ./.trash -prune -o ! -name . ! -name .accesslog ! -name .stats \
		! -name .config -printf '%p %y %m %s %l\n' | sort | while read -r p y m s l; do
		case $y in
		f) echo "$p $y $m $s $(sha256sum <"$p" | cut -c1-16)" ;;
		l) echo "$p $y $l" ;;
		*) echo "$p $y $m" ;;
		esac
	done)
}

# fcheck_logs: the mount processes logged no sanitizer report (their stderr
# goes to the --log files in $T).
fcheck_logs()
{
	local hits
	hits=$(grep -hE -A3 'Sanitizer|runtime error:' "$T"/*.log 2>/dev/null | head -n 12)
	if [ -z "$hits" ]; then
		t_ok "no sanitizer report from the mount processes"
	else
		t_fail "no sanitizer report from the mount processes" "$hits"
	fi
}
