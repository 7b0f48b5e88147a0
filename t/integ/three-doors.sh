# The three-doors body (sourced by t1503-pg-three-doors.sh and
# t1603-mysql-three-doors.sh after lib.sh and fuse-lib.sh, with the engine's
# server started): a FUSE mount, an S3 gateway and a WebDAV server of ours, in
# three processes on one SQL volume (META), write and read each other's
# files; then the mount is killed -9 while it holds an open-unlinked file and
# is in the middle of a write. From the survivors: the mount's session is
# cleaned up (juicefs status), its sustained inode released, every file whose
# write completed before the kill reads back byte-exact through both
# survivors, and fsck is clean.
#
# Needs: META (the volume's URL, in database "doors") and the names that
# lib.sh's sql_engine binds (ENGINE, db_count).

need_bin "$JFS_BIN"
need_fuse
unset META_PASSWORD

jfs format "$META" doors --bucket "$T/bk" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format $META" "$(last_run)"; t_done; }

export MINIO_ROOT_USER=doorak MINIO_ROOT_PASSWORD=doorsecret
export WEBDAV_USER=dav WEBDAV_PASSWORD=davpass
S3C=(curl -s --max-time 120 --aws-sigv4 "aws:amz:us-east-1:s3" --user "doorak:doorsecret")
DAVC=(curl -s --max-time 120 -u "dav:davpass")

A=$T/mnt
mkdir -p "$A"
t_spawn "$JFS_BIN" mount "$META" "$A" --log "$T/mnt.log" --cache-dir "$T/cache" \
	--heartbeat 1 2>>"$T/mnt.log"
mpid=$!
T_MOUNTS+=("$A")
gport=$(free_port)
GW=http://127.0.0.1:$gport/doors
t_spawn "$JFS_BIN" gateway "$META" "127.0.0.1:$gport" --cache-dir none --no-banner \
	--heartbeat 1s --metrics "127.0.0.1:$(free_port)" >>"$T/gw.log" 2>&1 </dev/null
gpid=$!
dport=$(free_port)
DAV=http://127.0.0.1:$dport
t_spawn "$JFS_BIN" webdav "$META" "127.0.0.1:$dport" --cache-dir none --heartbeat 1s \
	--metrics "127.0.0.1:$(free_port)" >>"$T/dav.log" 2>&1 </dev/null
dpid=$!
up=0
for _ in $(seq 200); do
	if [ "$(stat -c %i "$A" 2>/dev/null)" = 1 ] &&
		curl -s -o /dev/null "http://127.0.0.1:$gport/" &&
		"${DAVC[@]}" -f -o /dev/null -X OPTIONS "$DAV/"; then
		up=1
		break
	fi
	sleep 0.1
done
if [ "$up" = 1 ]; then
	t_ok "($ENGINE) a mount, a gateway and a WebDAV server serve one volume"
else
	t_fail "($ENGINE) three doors start" "$(tail -n 3 "$T/mnt.log" "$T/gw.log" "$T/dav.log")"
	t_done
fi

# ---------------------------------------------------------------- each door's files in the others
for n in m1 g1 w1 m2 g2 w2; do head -c $((RANDOM * 97 + (3 << 20))) /dev/urandom >"$T/$n"; done
bad=""
cp "$T/m1" "$A/m1" || bad="$bad cp-m1"
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/g1" "$GW/g1")
[ "$code" = 200 ] || bad="$bad put-g1:$code"
code=$("${DAVC[@]}" -o /dev/null -w '%{http_code}' -T "$T/w1" "$DAV/w1")
[ "$code" = 201 ] || bad="$bad dav-w1:$code"
# readback through every door
check_all()
{
	local n
	for n in "$@"; do
		cmp -s "$T/$n" "$A/$n" || bad="$bad mount:$n"
		"${S3C[@]}" -o "$T/$n.gw" "$GW/$n"
		cmp -s "$T/$n" "$T/$n.gw" || bad="$bad gateway:$n"
		"${DAVC[@]}" -o "$T/$n.dav" "$DAV/$n"
		cmp -s "$T/$n" "$T/$n.dav" || bad="$bad webdav:$n"
	done
}
check_all m1 g1 w1
if [ -z "$bad" ]; then
	t_ok "($ENGINE) files written through each door read byte-exact through the other two"
else
	t_fail "($ENGINE) cross-door reads" "$bad"
fi
# more completed writes, the mount's last just before the kill
"${S3C[@]}" -o /dev/null -T "$T/g2" "$GW/g2"
"${DAVC[@]}" -o /dev/null -T "$T/w2" "$DAV/w2"
mkdir -p "$A/dir" && cp "$T/m2" "$A/dir/m2"

# ---------------------------------------------------------------- the mount dies
cp "$T/m1" "$A/held"
ino=$(stat -c %i "$A/held")
# a reader keeps held open through the mount while it is unlinked there
python3 -c 'import sys, time; f = open(sys.argv[1], "rb"); f.read(1); print("open", flush=True); time.sleep(600)' \
	"$A/held" >"$T/holder.out" 2>&1 &
holder=$!
T_PIDS+=("$holder")
for _ in $(seq 100); do [ -s "$T/holder.out" ] && break; sleep 0.1; done
rm "$A/held"
# a writer in the middle of a file when the mount dies
python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
block = os.urandom(1 << 20)
print("writing", flush=True)
while True:
    os.write(fd, block)
    time.sleep(0.05)
' "$A/midwrite" >"$T/writer.out" 2>&1 &
writer=$!
T_PIDS+=("$writer")
for _ in $(seq 100); do [ -s "$T/writer.out" ] && break; sleep 0.1; done
sleep 1
msid=$(db_count doors "SELECT sid FROM jfs_sustained WHERE inode = $ino")
if [ -n "$msid" ] && [ "$msid" != 0 ]; then
	t_ok "($ENGINE) the unlinked file held open is sustained by the mount's session $msid"
else
	t_fail "($ENGINE) open-unlinked file sustained" "inode $ino, sid '$msid'"
fi
if kill -0 "$writer" 2>/dev/null && [ "$(stat -c %s "$A/midwrite" 2>/dev/null || echo 0)" -gt 0 ]; then
	t_ok "($ENGINE) the mount is in the middle of a write when it is killed"
else
	t_fail "($ENGINE) writer running at the kill" "$(cat "$T/writer.out")"
fi
kill -9 "$mpid"
wait "$mpid" 2>/dev/null
kill "$holder" "$writer" 2>/dev/null
wait "$holder" "$writer" 2>/dev/null
jfs umount --force "$A"

# ---------------------------------------------------------------- the survivors
done=0
for _ in $(seq 120); do
	left=$(( $(db_count doors "SELECT count(*) FROM jfs_session2 WHERE sid = ${msid:-0}") +
		$(db_count doors "SELECT count(*) FROM jfs_sustained WHERE sid = ${msid:-0}") +
		$(db_count doors "SELECT count(*) FROM jfs_node WHERE inode = $ino") ))
	[ "$left" = 0 ] && { done=1; break; }
	sleep 0.5
done
if [ "$done" = 1 ]; then
	t_ok "($ENGINE) the survivors cleaned the dead mount's session and released its sustained inode"
else
	t_fail "($ENGINE) dead mount's session cleaned" "left: $left (session + sustained + node)" \
		"$(tail -n 3 "$T/gw.log" "$T/dav.log")"
fi
jfs status "$META"
sids=$(jq -r '.Sessions[].Sid' "$T/out" 2>/dev/null | sort -n | tr '\n' ' ')
if [ "$RC" -eq 0 ] && [ "$(jq '.Sessions | length' "$T/out")" = 2 ] &&
	! grep -qw "${msid:-x}" <<<"$sids"; then
	t_ok "($ENGINE) juicefs status lists only the two survivors' sessions ($sids)"
else
	t_fail "($ENGINE) status after the kill" "sessions: $sids (dead: $msid)" "$(last_run)"
fi
bad=""
for n in m1 g1 w1 g2 w2; do
	"${S3C[@]}" -o "$T/$n.gw2" "$GW/$n"
	cmp -s "$T/$n" "$T/$n.gw2" || bad="$bad gateway:$n"
	"${DAVC[@]}" -o "$T/$n.dav2" "$DAV/$n"
	cmp -s "$T/$n" "$T/$n.dav2" || bad="$bad webdav:$n"
done
"${S3C[@]}" -o "$T/m2.gw2" "$GW/dir/m2"
cmp -s "$T/m2" "$T/m2.gw2" || bad="$bad gateway:dir/m2"
"${DAVC[@]}" -o "$T/m2.dav2" "$DAV/dir/m2"
cmp -s "$T/m2" "$T/m2.dav2" || bad="$bad webdav:dir/m2"
if [ -z "$bad" ]; then
	t_ok "($ENGINE) every file completed before the kill reads byte-exact through both survivors"
else
	t_fail "($ENGINE) completed files after the kill" "$bad"
fi
# the survivors still write
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/w1" "$GW/after")
"${DAVC[@]}" -o "$T/after.dav" "$DAV/after"
if [ "$code" = 200 ] && cmp -s "$T/w1" "$T/after.dav"; then
	t_ok "($ENGINE) the survivors keep serving: a PUT after the kill reads back through WebDAV"
else
	t_fail "($ENGINE) survivors after the kill" "PUT $code"
fi
kill "$gpid" "$dpid"
wait "$gpid" "$dpid" 2>/dev/null
jfs fsck "$META"
if [ "$RC" -eq 0 ] && ! crashed; then
	t_ok "($ENGINE) fsck is clean after the kill"
else
	t_fail "($ENGINE) fsck after the kill" "$(last_run)"
fi
fcheck_logs
t_done
