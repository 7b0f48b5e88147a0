#!/usr/bin/env bash
# Directory quotas on every door, on SQLite and Redis, crossed with the real
# JuiceFS 1.4.2 client ($JFS_REF):
#  (a) a quota set by `$JFS_REF quota set` is read by ours (get/list) and
#      stored where the real client keeps it (jfs_dir_quota row / Redis
#      dirQuota* hashes);
#  (b) our S3 gateway enforces it: PUTs under the limit pass, the one that
#      would cross it is refused with the real gateway's answer (checked
#      against `$JFS_REF gateway` on the same volume) and leaves no object;
#  (c) our WebDAV server answers 507 and leaves nothing behind;
#  (d) our FUSE mount answers EDQUOT for space and for inodes, the refused
#      file holds nothing past the limit, and df in a --subdir mount of the
#      quota'd directory shows the quota;
#  (e) a quota set by ours is enforced by the real mount;
#  (f) after all that, usage agrees with a walk in both clients' `quota check`.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_ref
HAVE_FUSE=1
{ [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; } || HAVE_FUSE=0
unset REDIS_PASSWORD META_PASSWORD
export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
export WEBDAV_USER=davuser WEBDAV_PASSWORD=davpass
MiB=1048576

head -c $((3 * MiB)) /dev/urandom >"$T/3m"
head -c $((6 * MiB)) /dev/urandom >"$T/6m"

# gw BIN META: start a gateway; sets GW_PORT and GW_PID.
gw()
{
	GW_PORT=$(free_port)
	"$1" gateway "$2" "127.0.0.1:$GW_PORT" --no-banner --no-bgjob >>"$T/gw-$GW_PORT.log" 2>&1 &
	GW_PID=$!
	T_PIDS+=("$GW_PID")
	wait_http "$GW_PORT"
}

stop()
{
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# s3put PORT KEY FILE: PUT through SigV4; body in $T/s3body, status echoed.
s3put()
{
	curl -s -o "$T/s3body" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
		-u "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" -T "$3" "http://127.0.0.1:$1/$2"
}

s3head()
{
	curl -s -o /dev/null -w '%{http_code}' -I --aws-sigv4 "aws:amz:us-east-1:s3" \
		-u "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" "http://127.0.0.1:$1/$2"
}

xml_code()
{
	sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' "$T/s3body"
}

# quota_used WHO META PATH: "space inodes" as that client's `quota get` prints them.
quota_row()
{
	run "$1" quota get "$2" --path "$3"
	sed -n "s:^| $3 *|::p" "$T/out" | tr -s ' '
}

run_engine()
{
	local eng=$1 META=$2 vol=$3 code ours_code ours_status ref_status n i mp sz
	jfs format "$META" "$vol" --bucket "$T/$vol-data" --trash-days 0
	[ "$RC" -eq 0 ] || { t_fail "$eng: format" "$(last_run)"; return; }

	# ---- (a) the real client sets, ours reads
	ref quota set "$META" --path /rq --capacity 8M --inodes 6 --create
	[ "$RC" -eq 0 ] || { t_fail "$eng: ref quota set" "$(last_run)"; return; }
	jfs quota get "$META" --path /rq
	if [ "$RC" -eq 0 ] && grep -q '^| /rq *| *8.0 MiB | *0 B | *0% | *6 | *0 | *0% |$' "$T/out"; then
		t_ok "$eng: (a) a quota set by the real client reads back through ours"
	else
		t_fail "$eng: (a) ours reads the real client's quota" "$(last_run)"
	fi
	if [ "$eng" = sqlite ]; then
		row=$(sqlite3 "${META#sqlite3://}" "select max_space, max_inodes from jfs_dir_quota")
		[ "$row" = "$((8 * MiB))|6" ] && t_ok "$eng: (a) jfs_dir_quota holds the limits" ||
			t_fail "$eng: (a) jfs_dir_quota row" "$row"
	else
		n=$(redis-cli -p "$rport" -n 1 hstrlen dirQuota 2)
		[ "$n" = 16 ] && t_ok "$eng: (a) dirQuota holds 16 bytes for the directory" ||
			t_fail "$eng: (a) dirQuota field" "hstrlen=$n"
	fi

	# ---- (b) our S3 gateway
	ref quota set "$META" --path /mq --capacity 8M --create
	gw "$JFS_BIN" "$META" || { t_fail "$eng: our gateway starts" "$(tail -n 5 "$T"/gw-*.log)"; return; }
	a=$(s3put "$GW_PORT" "$vol/rq/k1" "$T/3m")
	b=$(s3put "$GW_PORT" "$vol/rq/k2" "$T/3m")
	ours_status=$(s3put "$GW_PORT" "$vol/rq/k3" "$T/3m")
	ours_code=$(xml_code)
	cp "$T/s3body" "$T/s3body.k3"
	head3=$(s3head "$GW_PORT" "$vol/rq/k3")
	# multipart into /mq (8 MiB): a 9 MiB part is refused unstored; two 5 MiB
	# parts fit one by one but not together: Complete is refused, nothing left
	python3 - "$GW_PORT" "$vol" >"$T/mp.out" 2>&1 <<'EOF'
import sys, boto3, botocore
from botocore.config import Config
port, bucket = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port, aws_access_key_id="s3admin",
                  aws_secret_access_key="s3secret123", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
def code(fn):
    try:
        fn()
        return "ok"
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
up = s3.create_multipart_upload(Bucket=bucket, Key="mq/mp")["UploadId"]
big = code(lambda: s3.upload_part(Bucket=bucket, Key="mq/mp", UploadId=up, PartNumber=1,
                                  Body=b"x" * (9 << 20)))
parts = []
for n in (1, 2):
    r = s3.upload_part(Bucket=bucket, Key="mq/mp", UploadId=up, PartNumber=n,
                       Body=bytes([n]) * (5 << 20))
    parts.append({"PartNumber": n, "ETag": r["ETag"]})
done = code(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mq/mp", UploadId=up,
                                                 MultipartUpload={"Parts": parts}))
gone = code(lambda: s3.head_object(Bucket=bucket, Key="mq/mp"))
print(big, done, gone)
EOF
	if [ "$(tail -n 1 "$T/mp.out")" = "InternalError InternalError 404" ]; then
		t_ok "$eng: (b) multipart: an oversized part and an oversized Complete are refused, nothing left"
	else
		t_fail "$eng: (b) multipart under a quota" "$(tail -n 3 "$T/mp.out")"
	fi
	# replacing an object frees its space in the same rename: fits
	ow=$(s3put "$GW_PORT" "$vol/rq/k1" "$T/3m")
	stop "$GW_PID"
	[ "$ow" = 200 ] && t_ok "$eng: (b) overwriting an object in a full quota is not refused" ||
		t_fail "$eng: (b) overwrite in a full quota" "status $ow" "$(cat "$T/s3body")"
	if [ "$a$b" = 200200 ] && [ "$ours_status" = 500 ] && [ "$ours_code" = InternalError ] &&
		grep -q 'disk quota exceeded' "$T/s3body.k3" && [ "$head3" = 404 ]; then
		t_ok "$eng: (b) our gateway refuses the PUT that crosses the quota, no object left"
	else
		t_fail "$eng: (b) our gateway enforces the quota" \
			"puts: $a $b then $ours_status $ours_code, head k3: $head3" "$(cat "$T/s3body.k3")"
	fi
	gw "$JFS_REF" "$META" || { t_fail "$eng: the real gateway starts"; return; }
	ref_status=$(s3put "$GW_PORT" "$vol/rq/r3" "$T/3m")
	code=$(xml_code)
	stop "$GW_PID"
	if [ "$ref_status $code" = "$ours_status $ours_code" ] && [ "$ref_status" != 200 ]; then
		t_ok "$eng: (b) the real gateway answers the same: $ref_status $code"
	else
		t_fail "$eng: (b) same answer as the real gateway" \
			"ours: $ours_status $ours_code, real: $ref_status $code" "$(cat "$T/s3body")"
	fi

	# ---- (c) our WebDAV server
	port=$(free_port)
	"$JFS_BIN" webdav "$META" "127.0.0.1:$port" --no-bgjob >"$T/dav-$eng.log" 2>&1 &
	dpid=$!
	T_PIDS+=("$dpid")
	wait_http "$port"
	dav=(curl -s -u "$WEBDAV_USER:$WEBDAV_PASSWORD")
	s=$("${dav[@]}" -o /dev/null -w '%{http_code}' -T "$T/3m" "http://127.0.0.1:$port/rq/w1")
	g=$("${dav[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/rq/w1")
	# chunked: no length up front, the block-by-block check must stop it
	s2=$("${dav[@]}" -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		-T "$T/3m" "http://127.0.0.1:$port/rq/w2")
	g2=$("${dav[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/rq/w2")
	# RFC 4331 properties of the quota'd collection are the quota's
	"${dav[@]}" -X PROPFIND -H 'Depth: 0' -H 'Content-Type: application/xml' \
		--data '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>' \
		"http://127.0.0.1:$port/rq/" >"$T/pf.xml"
	qa=$(grep -o 'quota-available-bytes>[0-9]*' "$T/pf.xml" | grep -o '[0-9]*$')
	qu=$(grep -o 'quota-used-bytes>[0-9]*' "$T/pf.xml" | grep -o '[0-9]*$')
	[ "$qa $qu" = "$((2 * MiB)) $((6 * MiB))" ] &&
		t_ok "$eng: (c) PROPFIND quota-available/used-bytes of the directory are its quota's" ||
		t_fail "$eng: (c) PROPFIND quota properties" "avail '$qa' used '$qu'" "$(head -c 600 "$T/pf.xml")"
	ow=$("${dav[@]}" -o /dev/null -w '%{http_code}' -T "$T/3m" "http://127.0.0.1:$port/rq/k2")
	ow2=$("${dav[@]}" -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		-T "$T/3m" "http://127.0.0.1:$port/rq/k2")
	stop "$dpid"
	[ "$ow$ow2" = 204204 ] && t_ok "$eng: (c) WebDAV overwrite in a full quota is not refused" ||
		t_fail "$eng: (c) WebDAV overwrite in a full quota" "status $ow, chunked $ow2"
	if [ "$s$g$s2$g2" = 507404507404 ]; then
		t_ok "$eng: (c) WebDAV PUT over the quota is 507, nothing left (with and without a length)"
	else
		t_fail "$eng: (c) WebDAV 507" "put $s get $g; chunked put $s2 get $g2" \
			"$(tail -n 5 "$T/dav-$eng.log")"
	fi

	if [ "$HAVE_FUSE" -eq 1 ]; then
		# ---- (d) our mount: space, inodes, df in a --subdir mount
		mp=$T/mnt-$eng
		fmount "$META" "$mp"
		if [ "$RC" -ne 0 ]; then
			t_fail "$eng: (d) our mount" "$(last_run)"
		else
			# 6 MiB used by k1, k2: 2 MiB of room left
			run dd if="$T/6m" of="$mp/rq/big" bs=1M
			sz=$(stat -c %s "$mp/rq/big" 2>/dev/null || echo none)
			# filled to the byte (a 2 MiB file counts 2 MiB with its inode), then EDQUOT
			if [ "$RC" -ne 0 ] && grep -q 'Disk quota exceeded' "$T/err" &&
				[ "$sz" = $((2 * MiB)) ] && cmp -s -n $((2 * MiB)) "$T/6m" "$mp/rq/big"; then
				t_ok "$eng: (d) our mount fills the quota to the byte, then answers EDQUOT"
			else
				t_fail "$eng: (d) EDQUOT on write" "$(last_run)" "size $sz"
			fi
			rm -f "$mp/rq/big"
			# inodes: k1, k2 are 2 of 6
			n=0
			for i in 1 2 3 4 5 6; do
				touch "$mp/rq/i$i" 2>"$T/err" && n=$((n + 1))
			done
			if [ "$n" = 4 ] && grep -q 'Disk quota exceeded' "$T/err"; then
				t_ok "$eng: (d) our mount: the inode limit answers EDQUOT"
			else
				t_fail "$eng: (d) inode limit" "created $n of 6 (want 4)" "$(cat "$T/err")"
			fi
			rm -f "$mp"/rq/i*
			fumount "$mp"
		fi
		fmount "$META" "$mp" --subdir /rq
		if [ "$RC" -eq 0 ]; then
			total=$(($(stat -f -c %b "$mp") * $(stat -f -c %S "$mp")))
			itotal=$(stat -f -c %c "$mp")
			fumount "$mp"
			if [ "$total" = $((8 * MiB)) ] && [ "$itotal" = 6 ]; then
				t_ok "$eng: (d) df in a --subdir mount shows the quota (8 MiB, 6 inodes)"
			else
				t_fail "$eng: (d) df of the subdir mount" "blocks*size=$total inodes=$itotal"
			fi
		else
			t_fail "$eng: (d) --subdir mount" "$(last_run)"
		fi

		# ---- (e) ours sets, the real mount enforces
		jfs quota set "$META" --path /oq --capacity 4M --create
		[ "$RC" -eq 0 ] || t_fail "$eng: (e) our quota set" "$(last_run)"
		mkdir -p "$mp"
		run "$JFS_REF" mount "$META" "$mp" -d --log "$T/ref-mount-$eng.log" --no-usage-report \
			--cache-dir "$T/refcache"
		if [ "$RC" -eq 0 ]; then
			T_MOUNTS+=("$mp")
			run dd if="$T/6m" of="$mp/oq/big" bs=1M conv=fsync
			sz=$(stat -c %s "$mp/oq/big" 2>/dev/null || echo none)
			grep -q 'Disk quota exceeded' "$T/err" && rc_ok=1 || rc_ok=0
			run "$JFS_REF" umount "$mp"
			for i in $(seq 100); do mountpoint -q "$mp" || break; sleep 0.1; done
			if [ "$rc_ok" = 1 ]; then
				t_ok "$eng: (e) the real mount refuses writes past a quota set by ours ($sz bytes)"
			else
				t_fail "$eng: (e) real mount EDQUOT" "size $sz" \
					"$(tail -n 3 "$T/ref-mount-$eng.log")"
			fi
		else
			t_fail "$eng: (e) the real mount" "$(last_run)"
		fi
	else
		t_skip "$eng: (d)(e) FUSE parts" "no /dev/fuse or not root"
	fi

	# ---- (f) usage agrees with a walk, in both clients
	for d in /rq /oq; do
		[ "$d" = /oq ] && [ "$HAVE_FUSE" -eq 0 ] && continue
		jfs quota check "$META" --path "$d" --strict
		o=$RC
		ref quota check "$META" --path "$d" --strict
		if [ "$o" = 0 ] && [ "$RC" = 0 ]; then
			t_ok "$eng: (f) $d: usage agrees with a walk (ours and the real quota check)"
		else
			t_fail "$eng: (f) $d consistent" "ours exit $o" "$(last_run)"
		fi
	done
}

run_engine sqlite "sqlite3://$T/q.db" sqvol

# A volume made before directory quotas has no quota table: nothing may
# depend on it until a quota is set (rmdir), and the log says so once.
if [ "$HAVE_FUSE" -eq 1 ]; then
	OLD="sqlite3://$T/old.db"
	jfs format "$OLD" oldvol --bucket "$T/old-data"
	sqlite3 "$T/old.db" "drop table jfs_dir_quota"
	fmount "$OLD" "$T/mnt-old"
	if [ "$RC" -eq 0 ]; then
		res=ok
		for i in 1 2 3; do
			mkdir "$T/mnt-old/d$i" && echo x >"$T/mnt-old/d$i/f" && rm "$T/mnt-old/d$i/f" &&
				rmdir "$T/mnt-old/d$i" || res="d$i failed"
			sleep 0.6
		done
		n=$(grep -c 'load directory quotas' "$T/mnt-old.log")
		fumount "$T/mnt-old"
		[ "$res" = ok ] && [ "$n" -le 1 ] &&
			t_ok "a volume without the quota table: mkdir, write, rmdir work; warned $n time(s)" ||
			t_fail "a volume without the quota table" "$res; warnings: $n"
	else
		t_fail "mount the volume without the quota table" "$(last_run)"
	fi
fi

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
