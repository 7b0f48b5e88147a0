#!/usr/bin/env bash
# Names that are not UTF-8 (a GBK name, a control character, made through a
# mount) seen through both HTTP doors (issue 12 item 16). Every XML answer
# must stay well-formed: hrefs and encoding-type=url keys carry the exact
# bytes percent-encoded, text nodes (displayname, S3 keys without
# encoding-type, error Key/Resource) get U+FFFD per byte, as the real
# server's encoder does. The percent-encoded name then reaches the file.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
fformat u8vol --trash-days 0
M=$T/mnt
fmount "$META" "$M"
[ "$RC" -eq 0 ] || { t_fail "mount" "$(last_run)"; t_done; }
mkdir -p "$M/bkt"
printf gbk >"$M/bkt/$(printf '\xd6\xd0\xce\xc4').txt"
printf ctl >"$M/bkt/$(printf 'a\x01b')"
printf ok >"$M/bkt/plain"
fumount "$M"

srv_start()
{
	local var=$1 port i
	shift
	port=$(free_port)
	"$JFS_BIN" "$@" "127.0.0.1:$port" --cache-dir none >>"$T/srv-$port.log" 2>&1 &
	T_PIDS+=($!)
	wait_http "$port" 10
	printf -v "$var" 'http://127.0.0.1:%s' "$port"
}
srv_start GW gateway "$META" --multi-buckets --no-banner
srv_start DAV webdav "$META"
S3=(curl -s --user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" --aws-sigv4 "aws:amz:us-east-1:s3")

# wellformed FILE: the file parses as XML.
wellformed()
{
	python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$1" 2>/dev/null
}

# check_xml DESC FILE GREP-PATTERN...: well-formed and each pattern found.
check_xml()
{
	local d=$1 f=$2 p
	shift 2
	if ! wellformed "$f"; then
		t_fail "$d" "not well-formed: $(head -c 400 "$f" | od -c | head -n 8)"
		return
	fi
	for p in "$@"; do
		grep -q -- "$p" "$f" || { t_fail "$d" "no '$p' in: $(head -c 600 "$f")"; return; }
	done
	t_ok "$d"
}
FFFD=$(printf '\xef\xbf\xbd')

# ---------------------------------------------------------------- WebDAV
curl -s -X PROPFIND -H 'Depth: 1' "$DAV/bkt/" >"$T/pf"
check_xml "WebDAV PROPFIND with a GBK name is well-formed, href percent-encoded" "$T/pf" \
	'<D:href>/bkt/%D6%D0%CE%C4.txt</D:href>' "<D:displayname>$FFFD$FFFD$FFFD$FFFD.txt<" \
	'<D:href>/bkt/a%01b</D:href>' "<D:displayname>a${FFFD}b<"
code=$(curl -s -o "$T/body" -w '%{http_code}' "$DAV/bkt/%D6%D0%CE%C4.txt")
if [ "$code" = 200 ] && [ "$(cat "$T/body")" = gbk ]; then
	t_ok "WebDAV GET of the percent-encoded href reaches the GBK file"
else
	t_fail "WebDAV GET of the percent-encoded href" "$code $(head -c 200 "$T/body")"
fi
curl -s -X PROPFIND -H 'Depth: 0' "$DAV/bkt/%D6%D0%CE%C4.txt" >"$T/pf"
check_xml "WebDAV PROPFIND depth 0 on the GBK file" "$T/pf" '<D:getcontentlength>3<'
curl -s "$DAV/bkt/" >"$T/html"
if grep -q 'href="%D6%D0%CE%C4.txt"' "$T/html" && ! grep -q "$(printf '\xd6')" "$T/html"; then
	t_ok "WebDAV HTML listing: no raw GBK bytes"
else
	t_fail "WebDAV HTML listing: no raw GBK bytes" "$(head -c 400 "$T/html")"
fi
curl -s -X LOCK -H 'Timeout: Second-60' -d '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>' \
	"$DAV/bkt/%D6%D0%CE%C4.txt" >"$T/lock"
check_xml "WebDAV LOCK answer on the GBK file" "$T/lock" '/bkt/%D6%D0%CE%C4.txt</D:href></D:lockroot>'
curl -s -X PUT -d x "$DAV/bkt/%D6%D0%CE%C4.txt" >"$T/err"
check_xml "WebDAV 423 error body on the GBK file" "$T/err" 'lock-token-submitted'

# ---------------------------------------------------------------- S3
"${S3[@]}" "$GW/bkt?list-type=2" >"$T/list"
check_xml "S3 list with a GBK key is well-formed" "$T/list" "<Key>$FFFD$FFFD$FFFD$FFFD.txt</Key>" \
	"<Key>a${FFFD}b</Key>"
"${S3[@]}" "$GW/bkt?encoding-type=url&list-type=2" >"$T/list"
check_xml "S3 list with encoding-type=url keeps the bytes" "$T/list" '<Key>%D6%D0%CE%C4.txt</Key>' \
	'<Key>a%01b</Key>'
"${S3[@]}" "$GW/bkt?encoding-type=url" >"$T/list"
check_xml "S3 list v1 with encoding-type=url" "$T/list" '<Key>%D6%D0%CE%C4.txt</Key>'
code=$("${S3[@]}" -o "$T/body" -w '%{http_code}' "$GW/bkt/%D6%D0%CE%C4.txt")
if [ "$code" = 200 ] && [ "$(cat "$T/body")" = gbk ]; then
	t_ok "S3 GET of the url-encoded key reaches the GBK file"
else
	t_fail "S3 GET of the url-encoded key" "$code $(head -c 300 "$T/body")"
fi
"${S3[@]}" "$GW/bkt/%D6%D0%CE%C4.nope" >"$T/err"
check_xml "S3 error echoing a GBK key is well-formed" "$T/err" '<Code>NoSuchKey</Code>'
t_done
