#!/usr/bin/env bash
# GET bodies lent from pinned cached blocks instead of copied (issue 15,
# gateway/filebody.c): a block is pinned while MHD sends from it, so
#  - slow GETs racing an overwrite, a delete (trash off: the blocks are
#    deleted) and enough other reads to push the object's blocks out of the
#    memory and disk caches either fail or give back exactly the object as
#    it was when they started: never other bytes, never a short body as a
#    success; the same through WebDAV;
#  - on a compressed and on an encrypted volume (the pinned block is the
#    decoded one) full and ranged GETs are byte-exact.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"

AK=viewak1 SK=viewsecret1
export MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK
S3C=(curl -s --max-time 90 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK")

# srv_start VAR PIDVAR CMD...: a server on a free port; VAR gets the port.
srv_start()
{
	local var=$1 pvar=$2 port i
	shift 2
	port=$(free_port)
	"$JFS_BIN" "$@" "127.0.0.1:$port" >>"$T/srv-$port.log" 2>&1 </dev/null &
	printf -v "$pvar" '%s' "$!"
	T_PIDS+=("$!")
	wait_http "$port" 10
	printf -v "$var" '%s' "$port"
}
srv_stop()
{
	kill "$1" 2>/dev/null && wait "$1" 2>/dev/null
}

# ---------------------------------------------------------------- the race
# Small blocks (a body spans many, each view is one) and a 2 MiB disk cache.
META="sqlite3://$T/m.db"
jfs format "$META" view --bucket "$T/data" --trash-days 0 --block-size 64K
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }
srv_start P PID gateway "$META" --no-banner --cache-dir "$T/cache" --cache-size 2
srv_start D DPID webdav "$META" --cache-dir "$T/dcache" --cache-size 2
U="http://127.0.0.1:$P/view"
head -c $((12 << 20)) /dev/urandom >"$T/A"
head -c $((12 << 20)) /dev/urandom >"$T/B"
put_ok=1
for k in obj c1 c2 c3; do
	f=$T/A
	[ "$k" = obj ] || { head -c $((12 << 20)) /dev/urandom >"$T/$k"; f=$T/$k; }
	[ "$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$f" "$U/$k")" = 200 ] || put_ok=0
done
[ "$put_ok" = 1 ] && t_ok "objects put" || t_fail "objects put" "$(tail -3 "$T"/srv-"$P".log)"
# Warm: the first GET loads the blocks into the caches.
"${S3C[@]}" -o "$T/warm" "$U/obj"
cmp -s "$T/warm" "$T/A" && t_ok "a quiet GET is exact" || t_fail "a quiet GET is exact"

# Slow readers (about 6 s each) started before the object changes under them.
CPIDS=()
for i in 1 2 3; do
	"${S3C[@]}" --limit-rate 2M -o "$T/s3-$i" -w '%{http_code}' "$U/obj" >"$T/s3-$i.code" &
	CPIDS+=("$!")
	curl -s --max-time 90 --limit-rate 2M -o "$T/dav-$i" -w '%{http_code}' \
		"http://127.0.0.1:$D/obj" >"$T/dav-$i.code" &
	CPIDS+=("$!")
done
sleep 1
"${S3C[@]}" -o /dev/null -T "$T/B" "$U/obj"              # overwrite
for k in c1 c2 c3 c1 c2 c3; do "${S3C[@]}" -o /dev/null "$U/$k"; done  # evict
"${S3C[@]}" -o /dev/null -X DELETE "$U/obj"              # delete: blocks go
for k in c1 c2 c3; do "${S3C[@]}" -o /dev/null "$U/$k"; done
rcs=()
for p in "${CPIDS[@]}"; do
	wait "$p"
	rcs+=("$?")
done
exact=0 failed=0 wrong=0 detail=
n=0
for who in s3-1 dav-1 s3-2 dav-2 s3-3 dav-3; do
	rc=${rcs[$n]}
	n=$((n + 1))
	code=$(cat "$T/$who.code")
	if [ "$rc" = 0 ] && [ "$code" = 200 ]; then
		if cmp -s "$T/$who" "$T/A"; then
			exact=$((exact + 1))
		else
			wrong=$((wrong + 1))
			detail+="$who: 200 with $(stat -c %s "$T/$who") bytes that are not the object; "
		fi
	else
		failed=$((failed + 1))
	fi
done
if [ "$wrong" = 0 ]; then
	t_ok "slow GETs across an overwrite, evictions and a delete: $exact exact, $failed failed, none wrong"
else
	t_fail "slow GETs across an overwrite, evictions and a delete: none wrong" "$detail"
fi
# The server is still sound after it.
"${S3C[@]}" -o "$T/c1.back" "$U/c1"
cmp -s "$T/c1.back" "$T/c1" && t_ok "GET after the race is exact" || t_fail "GET after the race is exact"
srv_stop "$PID"
srv_stop "$DPID"

# ---------------------------------------------------------------- decoded blocks
openssl genrsa -out "$T/key.pem" 2048 >/dev/null 2>&1
# half compressible text, half random: both kinds of block
{ yes "the quick brown fox jumps over the lazy dog" | head -c $((3 << 20)); head -c $((3 << 20)) /dev/urandom; } >"$T/mixed"
for kind in lz4 zstd encrypted; do
	m="sqlite3://$T/$kind.db"
	if [ "$kind" = encrypted ]; then
		jfs format "$m" "v$kind" --bucket "$T/d-$kind" --trash-days 0 --encrypt-rsa-key "$T/key.pem"
	else
		jfs format "$m" "v$kind" --bucket "$T/d-$kind" --trash-days 0 --compress "$kind"
	fi
	[ "$RC" -eq 0 ] || { t_fail "$kind: format" "$(last_run)"; continue; }
	srv_start P2 PID2 gateway "$m" --no-banner --cache-dir "$T/cache-$kind"
	u="http://127.0.0.1:$P2/v$kind/mixed"
	"${S3C[@]}" -o /dev/null -T "$T/mixed" "$u"
	ok=1
	for pass in cold warm; do
		"${S3C[@]}" -o "$T/got" "$u"
		cmp -s "$T/got" "$T/mixed" || { ok=0; echo "$pass full GET differs" >>"$T/why-$kind"; }
		"${S3C[@]}" -H "Range: bytes=1000000-4500000" -o "$T/got" "$u"
		tail -c +1000001 "$T/mixed" | head -c 3500001 | cmp -s - "$T/got" ||
			{ ok=0; echo "$pass ranged GET differs" >>"$T/why-$kind"; }
	done
	[ "$ok" = 1 ] && t_ok "$kind volume: full and ranged GETs are exact, cold and warm" ||
		t_fail "$kind volume: full and ranged GETs are exact" "$(cat "$T/why-$kind")"
	srv_stop "$PID2"
done
# A sanitizer build reports a view used after its block went back here.
if grep -qE 'Sanitizer|runtime error:' "$T"/srv-*.log; then
	t_fail "no sanitizer report in the server logs" "$(grep -hE -A5 'Sanitizer|runtime error:' "$T"/srv-*.log | head -20)"
else
	t_ok "no sanitizer report in the server logs"
fi

t_done
