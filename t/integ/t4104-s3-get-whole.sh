#!/usr/bin/env bash
# GET bodies pinned whole and sent from the blocks (issue 15,
# gateway/filebody.c body_whole, gw_resp_pieces): a body whose every block
# is held locally goes to MHD as an iovec, so
#  - full, ranged (across block boundaries, suffix, last short block),
#    partNumber, HEAD, conditional and zero-length GETs answer as before,
#    byte-exact, over HTTP and HTTPS, through S3 and WebDAV;
#  - the body really is pinned whole (more pins than the two views a
#    streamed body holds), and every pin goes back once the body is sent or
#    the client goes away in the middle (juicefs_blockcache_reader_pins
#    returns to 0);
#  - blocks that are not local stream as before, and a cache file that
#    fails its CRC is fetched again: never a 200 with other bytes;
#  - the access log and the sent-bytes metric count each body once.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"

AK=wholeak1 SK=wholesecret1
export MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK
S3C=(curl -s --max-time 60 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK")

# srv_start VAR PIDVAR MPORTVAR CMD...: a server on a free port with metrics.
srv_start()
{
	local var=$1 pvar=$2 mvar=$3 port mport scheme=http
	shift 3
	[[ " $* " == *" --cert-file "* ]] && scheme=https
	port=$(free_port)
	mport=$(free_port)
	"$JFS_BIN" "$@" --metrics "127.0.0.1:$mport" "127.0.0.1:$port" \
		>>"$T/srv-$port.log" 2>&1 </dev/null &
	printf -v "$pvar" '%s' "$!"
	T_PIDS+=("$!")
	wait_http "$port" 10 "$scheme"
	printf -v "$var" '%s' "$port"
	printf -v "$mvar" '%s' "$mport"
}
srv_stop()
{
	kill "$1" 2>/dev/null && wait "$1" 2>/dev/null
}
# metric MPORT NAME: the value of an unlabelled-by-us sample (sums the children).
metric()
{
	curl -s "http://127.0.0.1:$1/metrics" |
		awk -v n="$2" '$1 ~ "^"n"({|$)" { s += $NF } END { printf "%.0f\n", s }'
}
# pins_back MPORT: wait (5 s at most) until no reader pin is left; 0 when none is.
pins_back()
{
	local i
	for i in $(seq 1 50); do
		[ "$(metric "$1" juicefs_blockcache_reader_pins)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
# slice FILE FROM LEN: LEN bytes of FILE from offset FROM.
slice()
{
	tail -c +$(($2 + 1)) "$1" | head -c "$3"
}

META="sqlite3://$T/m.db"
jfs format "$META" whole --bucket "$T/data" --trash-days 0 --block-size 1M
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }
srv_start P PID MP gateway "$META" --no-banner --cache-dir "$T/cache" \
	--access-log "$T/access.log"
U="http://127.0.0.1:$P/whole"
SIZE=$(((6 << 20) + 12345))     # six 1 MiB blocks and a short one
head -c $SIZE /dev/urandom >"$T/A"
: >"$T/empty"
head -c 1000 /dev/urandom >"$T/small"
head -c $((40 << 20)) /dev/urandom >"$T/big"   # more than the socket buffers hold
ok=1
for k in A empty small big; do
	[ "$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/$k" "$U/$k")" = 200 ] || ok=0
done
[ "$ok" = 1 ] && t_ok "objects put" || t_fail "objects put" "$(tail -3 "$T/srv-$P.log")"
# Local from here on: reads fill the disk cache in the background, and
# drop blocks when the fillers lag (as JuiceFS does), so read until all 48
# blocks are there.
for i in $(seq 1 20); do
	[ "$(metric "$MP" juicefs_blockcache_blocks)" -ge 48 ] && break
	"${S3C[@]}" -o /dev/null "$U/A"
	"${S3C[@]}" -o /dev/null "$U/big"
	sleep 0.2
done
[ "$(metric "$MP" juicefs_blockcache_blocks)" -ge 48 ] && t_ok "every block in the disk cache" ||
	t_fail "every block in the disk cache" "$(metric "$MP" juicefs_blockcache_blocks) blocks"

# ---------------------------------------------------------------- bytes
s0=$(metric "$MP" juicefs_s3_sent_bytes)
code=$("${S3C[@]}" -D "$T/h" -o "$T/got" -w '%{http_code}' "$U/A")
s1=$(metric "$MP" juicefs_s3_sent_bytes)
if [ "$code" = 200 ] && cmp -s "$T/got" "$T/A" && grep -qi "^content-length: $SIZE" "$T/h"; then
	t_ok "a full GET is exact"
else
	t_fail "a full GET is exact" "status $code, $(stat -c %s "$T/got") bytes"
fi
[ $((s1 - s0)) = "$SIZE" ] && t_ok "sent-bytes metric counts the body once" ||
	t_fail "sent-bytes metric counts the body once" "moved by $((s1 - s0)), body $SIZE"
grep -q "\"GET /whole/A\" 200 $SIZE " "$T/access.log" && t_ok "access log: 200 and the body's size" ||
	t_fail "access log: 200 and the body's size" "$(tail -3 "$T/access.log")"

# Ranges: across block boundaries, inside one block, the short last block,
# suffix and open-ended; small ones (read before the answer) too.
bad=
B=1048576
for r in "0-$((SIZE - 1))" "$((B - 1))-$B" "1000-5000000" "262144-" "-300000" \
	"$((3 * B - 1))-$((6 * B))" "$((6 * B - 5))-" "$((2 * B))-$((3 * B - 1))" \
	"$((B + 17))-$((B + 300000))" "$((SIZE - 1))-" "5-4000000"; do
	from=${r%-*} to=${r#*-}
	if [ -z "$from" ]; then
		from=$((SIZE - to)) to=$((SIZE - 1))
	fi
	[ -z "$to" ] && to=$((SIZE - 1))
	len=$((to - from + 1))
	code=$("${S3C[@]}" -H "Range: bytes=$r" -D "$T/h" -o "$T/got" -w '%{http_code}' "$U/A")
	if [ "$code" != 206 ] || ! slice "$T/A" "$from" "$len" | cmp -s - "$T/got" ||
		! grep -qi "^content-range: bytes $from-$to/$SIZE" "$T/h"; then
		bad+="$r: $code $(stat -c %s "$T/got"); "
	elif ! grep -q "\"GET /whole/A\" 206 $len " "$T/access.log"; then
		bad+="$r: access log $(tail -1 "$T/access.log"); "
	fi
done
[ -z "$bad" ] && t_ok "ranged GETs across block boundaries are exact" ||
	t_fail "ranged GETs across block boundaries are exact" "$bad"

code=$("${S3C[@]}" -D "$T/h" -o "$T/got" -w '%{http_code}' "$U/A?partNumber=1")
if [ "$code" = 206 ] && cmp -s "$T/got" "$T/A" &&
	grep -qi "^content-range: bytes 0-$((SIZE - 1))/$SIZE" "$T/h"; then
	t_ok "partNumber=1 is the whole object"
else
	t_fail "partNumber=1 is the whole object" "status $code"
fi
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' "$U/A?partNumber=2")
[ "$code" = 416 ] && t_ok "partNumber=2 is 416" || t_fail "partNumber=2 is 416" "status $code"

code=$("${S3C[@]}" -I -D "$T/h" -o "$T/got" -w '%{http_code}' "$U/A")
if [ "$code" = 200 ] && grep -qi "^content-length: $SIZE" "$T/h" &&
	grep -q '"HEAD /whole/A" 200 0 ' "$T/access.log"; then
	t_ok "HEAD: the length, no body"
else
	t_fail "HEAD: the length, no body" "status $code" "$(tail -1 "$T/access.log")"
fi
etag=$(grep -i '^etag:' "$T/h" | cut -d' ' -f2 | tr -d '\r')
c1=$("${S3C[@]}" -H "If-None-Match: $etag" -o "$T/got" -w '%{http_code} %{size_download}' "$U/A")
c2=$("${S3C[@]}" -H 'If-Match: "0123"' -o /dev/null -w '%{http_code}' "$U/A")
c3=$("${S3C[@]}" -H "If-Match: $etag" -o "$T/got" -w '%{http_code}' "$U/A")
if [ "$c1" = "304 0" ] && [ "$c2" = 412 ] && [ "$c3" = 200 ] && cmp -s "$T/got" "$T/A"; then
	t_ok "conditional GETs: 304, 412, 200 with the object"
else
	t_fail "conditional GETs: 304, 412, 200 with the object" "$c1 / $c2 / $c3"
fi
c1=$("${S3C[@]}" -o "$T/got" -w '%{http_code} %{size_download}' "$U/empty")
c2=$("${S3C[@]}" -o "$T/got2" -w '%{http_code}' "$U/small")
if [ "$c1" = "200 0" ] && [ "$c2" = 200 ] && cmp -s "$T/got2" "$T/small"; then
	t_ok "zero-length and small objects"
else
	t_fail "zero-length and small objects" "$c1 / $c2"
fi

# ---------------------------------------------------------------- pins
# A slow reader: the body is pinned whole while it is sent (a streamed one
# holds two views at most), and given back when done.
"${S3C[@]}" --limit-rate 8M -o "$T/slow" "$U/big" &
cp=$!
sleep 1
held=$(metric "$MP" juicefs_blockcache_reader_pins)
wait "$cp"
if [ "$held" -ge 40 ] && cmp -s "$T/slow" "$T/big" && pins_back "$MP"; then
	t_ok "a slow GET holds its 40 blocks while sent, then none ($held held)"
else
	t_fail "a slow GET holds its 40 blocks while sent, then none" "held $held, now $(metric "$MP" juicefs_blockcache_reader_pins)"
fi
# Clients that go away in the middle: every pin goes back.
CPIDS=()
for i in 1 2 3 4; do
	"${S3C[@]}" --limit-rate 4M --max-time 1 -o /dev/null "$U/big" &
	CPIDS+=("$!")
	"${S3C[@]}" --limit-rate 4M --max-time 1 -H "Range: bytes=1000-30000000" -o /dev/null "$U/big" &
	CPIDS+=("$!")
done
wait "${CPIDS[@]}"
if pins_back "$MP"; then
	t_ok "aborted GETs give back every pin"
else
	t_fail "aborted GETs give back every pin" "$(metric "$MP" juicefs_blockcache_reader_pins) left"
fi
n=$(grep -c '"GET /whole/big" 20[06] [0-9]* [0-9]*ms aborted' "$T/access.log")
over=$(awk -v s=$((40 << 20)) '/aborted/ && $6 > s' "$T/access.log" | wc -l)
[ "$n" -ge 8 ] && [ "$over" = 0 ] && t_ok "access log: aborted GETs marked, no more than the body" ||
	t_fail "access log: aborted GETs marked, no more than the body" "$n marked, $over over"
code=$("${S3C[@]}" -o "$T/got" -w '%{http_code}' "$U/A")
[ "$code" = 200 ] && cmp -s "$T/got" "$T/A" && t_ok "a GET after the aborts is exact" ||
	t_fail "a GET after the aborts is exact" "status $code"
srv_stop "$PID"

# ---------------------------------------------------------------- not local
# A second gateway with a cache of its own: nothing is local, so the body
# streams (two views at most) and is exact; then it is local and goes whole.
srv_start P2 PID2 MP2 gateway "$META" --no-banner --cache-dir "$T/cache2"
U2="http://127.0.0.1:$P2/whole"
"${S3C[@]}" --limit-rate 8M -o "$T/slow" "$U2/big" &
cp=$!
sleep 1
held=$(metric "$MP2" juicefs_blockcache_reader_pins)
wait "$cp"
if [ "$held" -le 2 ] && cmp -s "$T/slow" "$T/big"; then
	t_ok "blocks not local: streamed ($held pins), exact"
else
	t_fail "blocks not local: streamed, exact" "held $held"
fi
srv_stop "$PID2"

# A cache file of big (the one object the second gateway read) that fails
# its CRC (flipped on disk while no one holds it):
# fetched again from the store, the GET exact.
srv_start P3 PID3 MP3 gateway "$META" --no-banner --cache-dir "$T/cache2"
U3="http://127.0.0.1:$P3/whole"
f=$(find "$T/cache2" -type f -name '*_2_1048576' | head -1)
if [ -n "$f" ]; then
	printf 'X' | dd of="$f" bs=1 seek=5000 conv=notrunc 2>/dev/null
	code=$("${S3C[@]}" -o "$T/got" -w '%{http_code}' "$U3/big")
	if [ "$code" = 200 ] && cmp -s "$T/got" "$T/big" && grep -q 'checksum mismatch' "$T/srv-$P3.log"; then
		t_ok "a cache file failing its CRC is fetched again, the GET exact"
	else
		t_fail "a cache file failing its CRC is fetched again, the GET exact" "status $code" "$(tail -3 "$T/srv-$P3.log")"
	fi
else
	t_fail "a cache file failing its CRC is fetched again" "no cache file of block 2 in $T/cache2"
fi
pins_back "$MP3" && t_ok "no pin left after it" || t_fail "no pin left after it"
srv_stop "$PID3"

# ---------------------------------------------------------------- the budget
# --buffer-size 160 MiB: a body may pin 40 MiB, all of them 160: of eight
# GETs of the 40 MiB object at once four go whole, the others stream (two
# views each at most); all exact, every pin given back.
srv_start P5 PID5 MP5 gateway "$META" --no-banner --cache-dir "$T/cache" --buffer-size 160
U5="http://127.0.0.1:$P5/whole"
"${S3C[@]}" -o /dev/null "$U5/big"
CPIDS=()
for i in 1 2 3 4 5 6 7 8; do
	"${S3C[@]}" --limit-rate 8M -o "$T/par-$i" "$U5/big" &
	CPIDS+=("$!")
done
sleep 1
held=$(metric "$MP5" juicefs_blockcache_reader_pins)
wait "${CPIDS[@]}"
exact=0
for i in 1 2 3 4 5 6 7 8; do cmp -s "$T/par-$i" "$T/big" && exact=$((exact + 1)); done
if [ "$exact" = 8 ] && [ "$held" -ge 40 ] && [ "$held" -le $((4 * 40 + 4 * 2)) ] && pins_back "$MP5"; then
	t_ok "eight GETs at once within the budget: all exact, $held pins held, none after"
else
	t_fail "eight GETs at once within the budget" "$exact exact, $held pins held, $(metric "$MP5" juicefs_blockcache_reader_pins) after"
fi
srv_stop "$PID5"

# ---------------------------------------------------------------- staged
# --writeback with a long upload delay: the blocks stay staged and are
# read from the staging files, whole.
jfs format "sqlite3://$T/wb.db" wbvol --bucket "$T/wbdata" --trash-days 0 --block-size 1M
srv_start P6 PID6 MP6 gateway "sqlite3://$T/wb.db" --no-banner --cache-dir "$T/wbcache" \
	--writeback --upload-delay 1h
U6="http://127.0.0.1:$P6/wbvol"
c0=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/A" "$U6/A")
c1=$("${S3C[@]}" -o "$T/got" -w '%{http_code}' "$U6/A")
cmp -s "$T/got" "$T/A" || c1+=" differs"
c2=$("${S3C[@]}" -H "Range: bytes=$((B - 9))-$((5 * B))" -o "$T/got" -w '%{http_code}' "$U6/A")
slice "$T/A" $((B - 9)) $((4 * B + 10)) | cmp -s - "$T/got" || c2+=" differs"
staged=$(find "$T/wbcache" -path '*rawstaging*' -type f | wc -l)
[ "$c0" = 200 ] && [ "$c1" = 200 ] && [ "$c2" = 206 ] && [ "$staged" -ge 7 ] && pins_back "$MP6" &&
	t_ok "staged blocks (--writeback): full and ranged GETs exact" ||
	t_fail "staged blocks (--writeback): full and ranged GETs exact" "$c0 / $c1 / $c2, $staged staged"
srv_stop "$PID6"

# ---------------------------------------------------------------- TLS, WebDAV
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
	-subj /CN=127.0.0.1 >/dev/null 2>&1
srv_start P4 PID4 MP4 gateway "$META" --no-banner --cache-dir "$T/cache" \
	--cert-file "$T/cert.pem" --key-file "$T/key.pem"
U4="https://127.0.0.1:$P4/whole"
"${S3C[@]}" -k -o /dev/null "$U4/A"
c1=$("${S3C[@]}" -k -o "$T/got" -w '%{http_code}' "$U4/A")
cmp -s "$T/got" "$T/A" || c1+=" differs"
c2=$("${S3C[@]}" -k -H "Range: bytes=$((B - 3))-$((4 * B))" -o "$T/got" -w '%{http_code}' "$U4/A")
slice "$T/A" $((B - 3)) $((3 * B + 4)) | cmp -s - "$T/got" || c2+=" differs"
[ "$c1" = 200 ] && [ "$c2" = 206 ] && pins_back "$MP4" && t_ok "HTTPS: full and ranged GETs exact" ||
	t_fail "HTTPS: full and ranged GETs exact" "$c1 / $c2"
srv_stop "$PID4"

srv_start D DPID DMP webdav "$META" --cache-dir "$T/cache"
DU="http://127.0.0.1:$D"
curl -s -o /dev/null "$DU/A"
c1=$(curl -s -o "$T/got" -w '%{http_code}' "$DU/A")
cmp -s "$T/got" "$T/A" || c1+=" differs"
c2=$(curl -s -H "Range: bytes=$((2 * B - 7))-$((5 * B + 3))" -o "$T/got" -w '%{http_code}' "$DU/A")
slice "$T/A" $((2 * B - 7)) $((3 * B + 11)) | cmp -s - "$T/got" || c2+=" differs"
CPIDS=()
curl -s -o /dev/null "$DU/big"
for i in 1 2 3; do
	curl -s --limit-rate 4M --max-time 1 -o /dev/null "$DU/big" &
	CPIDS+=("$!")
done
wait "${CPIDS[@]}"
[ "$c1" = 200 ] && [ "$c2" = 206 ] && pins_back "$DMP" &&
	t_ok "WebDAV: full and ranged GETs exact, aborted ones give back their pins" ||
	t_fail "WebDAV: full and ranged GETs exact, pins given back" "$c1 / $c2 / $(metric "$DMP" juicefs_blockcache_reader_pins) pins"
srv_stop "$DPID"

if grep -qE 'Sanitizer|runtime error:' "$T"/srv-*.log; then
	t_fail "no sanitizer report in the server logs" "$(grep -hE -A5 'Sanitizer|runtime error:' "$T"/srv-*.log | head -20)"
else
	t_ok "no sanitizer report in the server logs"
fi

t_done
