#!/usr/bin/env bash
# Readers racing writers of other clients (issue 12 item 2): two gateways,
# then a gateway and a mount, on one volume, overwrite, delete and read the
# same keys for a few seconds, with trash off and then on. Blocks are
# deleted under the readers; a read may fail (404, 500, an aborted transfer,
# EIO) but every body read whole must be one that was written
# (race-bodies.py: each body carries its version, length and checksum), and
# nothing may be zero-filled.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
python3 -c 'import boto3' 2>/dev/null || t_skip_all "python3-boto3 is not installed"

export AWS_ACCESS_KEY_ID=raceak1 AWS_SECRET_ACCESS_KEY=racesecret1
export MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
SECS=${JFS_RACE_SECS:-4}
META="sqlite3://$T/m.db"
# Small blocks: a body spans several, so a reader is often between two of them.
jfs format "$META" race --bucket "$T/data" --trash-days 0 --block-size 64K
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

PIDS=()
gw_start()
{
	local var=$1 port i
	port=$(free_port)
	"$JFS_BIN" gateway "$META" "127.0.0.1:$port" --cache-dir none --no-banner \
		>>"$T/gw-$port.log" 2>&1 </dev/null &
	PIDS+=("$!")
	T_PIDS+=("$!")
	wait_http "$port" 10
	printf -v "$var" '%s' "$port"
}
stop_all()
{
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	PIDS=()
}

# race DESC ENDPOINT...
race()
{
	local d=$1
	shift
	run timeout 120 python3 "$JFS_SRCDIR/t/integ/race-bodies.py" "$SECS" "$@"
	if [ "$RC" -eq 0 ]; then
		t_ok "$d: every body read was written whole ($(head -n 1 "$T/out"))"
	else
		t_fail "$d: every body read was written whole" "$(cat "$T/out")" "$(tail -n 3 "$T/err")"
	fi
}

have_mount=0
if [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; then
	# shellcheck source=t/integ/fuse-lib.sh
	. "$(dirname "$0")/fuse-lib.sh"
	have_mount=1
fi

for trash in 0 1; do
	if [ "$trash" = 1 ]; then
		jfs config "$META" --trash-days 1 --yes
		[ "$RC" -eq 0 ] || { t_fail "config --trash-days 1" "$(last_run)"; break; }
	fi
	gw_start P1
	gw_start P2
	race "trash $trash, two gateways" "s3=http://127.0.0.1:$P1/race" "s3=http://127.0.0.1:$P2/race"
	if [ "$have_mount" = 1 ]; then
		fmount "$META" "$T/mnt"
		if [ "$RC" -ne 0 ]; then
			t_fail "mount the volume" "$(last_run)"
		else
			race "trash $trash, a gateway and a mount" "s3=http://127.0.0.1:$P1/race" "fs=$T/mnt"
			fumount "$T/mnt"
		fi
	else
		t_skip "trash $trash, a gateway and a mount" "no /dev/fuse or not root"
	fi
	stop_all
done
hits=$(grep -hE -A3 'Sanitizer|runtime error:' "$T"/*.log 2>/dev/null | head -n 12)
[ -z "$hits" ] && t_ok "no sanitizer report from the servers" || t_fail "no sanitizer report" "$hits"
t_done
