#!/usr/bin/env bash
# Symlinks made through a mount, seen through both HTTP doors (issue 12 item
# 15). The real gateway and WebDAV server follow them: a link to a file is
# listed and served as that file (its size and time), a link to a directory
# is walked under the link's name, a dangling one is left out (404). We do
# the same, but a link may never lead out of its bucket (multi-bucket mode:
# ../bob/x from bucket alice), out of the volume (absolute targets, '..'
# chains) or into the internal folders, and a loop ends (40 hops).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
fformat symvol --trash-days 0
M=$T/mnt
fmount "$META" "$M"
[ "$RC" -eq 0 ] || { t_fail "mount" "$(last_run)"; t_done; }
mkdir -p "$M/alice/sub" "$M/bob"
printf hello >"$M/alice/f.txt"
printf world >"$M/alice/sub/g"
printf secret >"$M/bob/x"
ln -s f.txt "$M/alice/lnk"
ln -s ./sub/../f.txt "$M/alice/rel"
ln -s sub "$M/alice/dlink"
ln -s nothere "$M/alice/dangle"
ln -s loop2 "$M/alice/loop1"
ln -s loop1 "$M/alice/loop2"
ln -s /etc/passwd "$M/alice/abs"
ln -s /alice/f.txt "$M/alice/absin"
ln -s ../bob/x "$M/alice/esc"
ln -s sub/../../bob/x "$M/alice/esc2"
ln -s ../../../../bob/x "$M/alice/deep"
ln -s . "$M/alice/self"
ln -s .trash "$M/totrash"
fumount "$M"

# srv_start VAR CMD...: a server on a free port; VAR gets the base URL.
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
srv_start GW1 gateway "$META" --no-banner
srv_start DAV webdav "$META"
S3=(curl -s --user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" --aws-sigv4 "aws:amz:us-east-1:s3")

# expect DESC WANT-STATUS WANT-BODY CURL-ARGS...: status and (when not '-') body.
expect()
{
	local d=$1 want=$2 body=$3 code
	shift 3
	code=$("$@" -o "$T/body" -w '%{http_code}')
	if [ "$code" = "$want" ] && { [ "$body" = - ] || [ "$(cat "$T/body")" = "$body" ]; }; then
		t_ok "$d"
	else
		t_fail "$d" "want $want '$body', got $code: $(head -c 300 "$T/body")"
	fi
}

# wellformed FILE: the file parses as XML.
wellformed()
{
	python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$1" 2>/dev/null
}

# ---------------------------------------------------------------- S3, multi-bucket
expect "S3 GET of a link to a file serves the target" 200 hello "${S3[@]}" "$GW/alice/lnk"
expect "S3 GET of a link with ./ and .. inside the bucket" 200 hello "${S3[@]}" "$GW/alice/rel"
expect "S3 GET through a link to a directory" 200 world "${S3[@]}" "$GW/alice/dlink/g"
code=$("${S3[@]}" -I -o "$T/head" -w '%{http_code}' "$GW/alice/lnk")
if [ "$code" = 200 ] && grep -qi '^content-length: 5' "$T/head"; then
	t_ok "S3 HEAD of a link gives the target's length"
else
	t_fail "S3 HEAD of a link gives the target's length" "$code $(cat "$T/head")"
fi
expect "S3 GET of a dangling link: 404" 404 - "${S3[@]}" "$GW/alice/dangle"
expect "S3 GET of a link loop ends: 500" 500 - "${S3[@]}" "$GW/alice/loop1"
for k in esc esc2 deep abs absin; do
	expect "S3 GET of a link out of the bucket ($k) is refused" 403 - "${S3[@]}" "$GW/alice/$k"
	if grep -q secret "$T/body"; then t_fail "bob's file leaked through alice/$k"; fi
done
"${S3[@]}" "$GW/alice?list-type=2" >"$T/list"
keys=$(grep -o '<Key>[^<]*</Key>' "$T/list" | sed 's/<[^>]*>//g' | tr '\n' ' ')
if [ "$keys" = "dlink/g f.txt lnk rel sub/g " ]; then
	t_ok "S3 list follows links inside the bucket and leaves out the rest"
else
	t_fail "S3 list follows links inside the bucket and leaves out the rest" "keys: $keys"
fi
if grep -q '<Key>lnk</Key>.*<Size>5</Size>' <(sed 's/<Contents>/\n/g' "$T/list"); then
	t_ok "S3 list gives a link the target's size"
else
	t_fail "S3 list gives a link the target's size" "$(head -c 600 "$T/list")"
fi
"${S3[@]}" "$GW/alice?delimiter=%2F&list-type=2" >"$T/list"
if grep -q '<Prefix>dlink/</Prefix>' "$T/list" && ! grep -q 'esc\|dangle' "$T/list"; then
	t_ok "S3 list with a delimiter: a directory link is a common prefix"
else
	t_fail "S3 list with a delimiter" "$(head -c 600 "$T/list")"
fi
"${S3[@]}" "$GW/alice?list-type=2&prefix=dlink%2F" >"$T/list"
if grep -q '<Key>dlink/g</Key>' "$T/list"; then
	t_ok "S3 list under a directory link's prefix"
else
	t_fail "S3 list under a directory link's prefix" "$(head -c 600 "$T/list")"
fi

# ---------------------------------------------------------------- S3, one bucket = the volume
expect "S3 (volume bucket) GET of a link to another folder of the volume" 200 secret \
	"${S3[@]}" "$GW1/symvol/alice/esc"
expect "S3 (volume bucket) a link into .trash is refused" 404 - "${S3[@]}" "$GW1/symvol/totrash/"
"${S3[@]}" "$GW1/symvol?list-type=2" >"$T/list"
if ! grep -q 'totrash\|\.trash\|/etc' "$T/list" && grep -q '<Key>alice/esc</Key>' "$T/list"; then
	t_ok "S3 (volume bucket) list: no link into the internal folders"
else
	t_fail "S3 (volume bucket) list: no link into the internal folders" "$(head -c 800 "$T/list")"
fi

# ---------------------------------------------------------------- WebDAV
expect "WebDAV GET of a link to a file" 200 hello curl -s "$DAV/alice/lnk"
expect "WebDAV GET through a link to a directory" 200 world curl -s "$DAV/alice/dlink/g"
expect "WebDAV GET of a dangling link: 404" 404 - curl -s "$DAV/alice/dangle"
expect "WebDAV GET of a link loop ends: 508" 508 - curl -s "$DAV/alice/loop1"
expect "WebDAV GET of an absolute link is refused" 403 - curl -s "$DAV/alice/abs"
expect "WebDAV GET of a link into .trash: 404" 404 - curl -s "$DAV/totrash/"
curl -s -X PROPFIND -H 'Depth: 1' "$DAV/alice/" >"$T/pf"
if wellformed "$T/pf" &&
	grep -q '<D:href>/alice/lnk</D:href>.*<D:getcontentlength>5<' <(sed 's/<D:response>/\n/g' "$T/pf") &&
	grep -q '<D:href>/alice/dlink/</D:href>' "$T/pf" &&
	! grep -q 'dangle\|loop1\|/abs<' "$T/pf"; then
	t_ok "WebDAV PROPFIND shows links as their targets and leaves out broken ones"
else
	t_fail "WebDAV PROPFIND shows links as their targets" "$(head -c 800 "$T/pf")"
fi
code=$(timeout 20 curl -s -o "$T/pf" -w '%{http_code}' -X PROPFIND -H 'Depth: infinity' "$DAV/alice/")
if [ "$code" = 207 ] && wellformed "$T/pf" && [ "$(grep -o '<D:response>' "$T/pf" | wc -l)" -lt 40 ]; then
	t_ok "WebDAV PROPFIND depth infinity does not loop through a link to '.'"
else
	t_fail "WebDAV PROPFIND depth infinity" "status $code, $(wc -c <"$T/pf") bytes"
fi
expect "WebDAV PUT through a directory link" 201 - curl -s -T /dev/stdin "$DAV/alice/dlink/new.txt" <<<"made"
expect "... lands in the link's target" 200 made curl -s "$DAV/alice/sub/new.txt"
expect "WebDAV DELETE of a link removes the link" 204 - curl -s -X DELETE "$DAV/alice/lnk"
expect "... not its target" 200 hello curl -s "$DAV/alice/f.txt"
# A link to the root, made only now (the listings above would show it):
# a PUT through it names the internal folder, which the jail keeps out.
fmount "$META" "$M"
[ "$RC" -eq 0 ] || { t_fail "mount again" "$(last_run)"; t_done; }
ln -s .. "$M/alice/up"
fumount "$M"
expect "WebDAV PUT through a link to the root cannot name .sys: 404" 404 - \
	curl -s -T /dev/stdin "$DAV/alice/up/.sys" <<<"x"
expect "... and PUT through it elsewhere works" 201 - \
	curl -s -T /dev/stdin "$DAV/alice/up/bob/y" <<<"why"
expect "... landing in the root's folder" 200 why curl -s "$DAV/bob/y"
t_done
