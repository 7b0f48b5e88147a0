#!/usr/bin/env bash
# The WebDAV door beside t4201: a conditional header sent with an empty value
# (If-Match:, If-None-Match:, If-Modified-Since:, If-Unmodified-Since:) is no
# condition, as for the real `juicefs webdav` (Go's Header.Get == ""): a
# ranged GET and a HEAD answer as without it. The same requests with real
# values (a wrong ETag, *, the file's own ETag) keep their meaning. When the
# reference client is there, its answers to the whole table must be ours.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
export WEBDAV_USER=davu WEBDAV_PASSWORD=davp
META="sqlite3://$T/m.db"
jfs format "$META" condvol --bucket "$T/data"
[ "$RC" -eq 0 ] || { t_fail "format the volume" "$(last_run)"; t_done; }

# dav_start BIN VAR ARGS...: a WebDAV server on a free port; VAR gets the port.
DAV_PID=
dav_start()
{
	local bin=$1 var=$2 port i
	shift 2
	port=$(free_port)
	"$bin" webdav "$META" "127.0.0.1:$port" "$@" >>"$T/dav-$port.log" 2>&1 &
	DAV_PID=$!
	T_PIDS+=("$DAV_PID")
	wait_http "$port" 15
	printf -v "$var" '%s' "$port"
}

# table PORT: one line per request, "<method> <header> -> <status>".
table()
{
	local b="http://127.0.0.1:$1/f" h et m code
	et=$(curl -s -o /dev/null -D - -u "$WEBDAV_USER:$WEBDAV_PASSWORD" -I "$b" |
		sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tr -d '\r')
	for h in "If-Match;" "If-None-Match;" "If-Modified-Since;" "If-Unmodified-Since;" \
		'If-Match: "0123zz"' "If-Match: *" "If-None-Match: *" "If-Match: $et" \
		"If-None-Match: $et" "If-Unmodified-Since: Thu, 01 Jan 2004 00:00:00 GMT"; do
		for m in GET HEAD; do
			if [ "$m" = GET ]; then
				code=$(curl -s -o /dev/null -w '%{http_code}' -u "$WEBDAV_USER:$WEBDAV_PASSWORD" \
					-H "$h" -r 0-3 "$b")
			else
				code=$(curl -s -o /dev/null -w '%{http_code}' -u "$WEBDAV_USER:$WEBDAV_PASSWORD" \
					-H "$h" -I "$b")
			fi
			echo "$m ${h/$et/ETAG} -> $code"
		done
	done
}

dav_start "$JFS_BIN" PORT --cache-dir none
head -c 5000 /dev/urandom >"$T/f"
# A busy machine can refuse a handler thread (503): retry a few times.
for _ in 1 2 3; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -u "$WEBDAV_USER:$WEBDAV_PASSWORD" -T "$T/f" \
		"http://127.0.0.1:$PORT/f")
	[ "$code" = 503 ] || break
	sleep 0.5
done
[ "$code" = 201 ] || t_fail "PUT a file through WebDAV" "status $code" "$(tail -n 3 "$T"/dav-*.log)"
table "$PORT" >"$T/ours"
kill -TERM "$DAV_PID" 2>/dev/null
wait "$DAV_PID" 2>/dev/null

bad=$(grep -E ';' "$T/ours" | grep -vE '^(GET .* -> 206|HEAD .* -> 200)$' || true)
if [ -z "$bad" ] && [ "$(nlines "$T/ours")" -eq 20 ]; then
	t_ok "an empty conditional header on WebDAV GET/HEAD is no condition"
else
	t_fail "an empty conditional header on WebDAV GET/HEAD is no condition" "$bad" \
		"$(head -n 20 "$T/ours")"
fi
if grep -q 'If-Match: "0123zz" -> 412' "$T/ours" && grep -q 'GET If-None-Match: ETAG -> 304' "$T/ours"; then
	t_ok "real conditional values keep their meaning (412 on a wrong ETag, 304 on the own one)"
else
	t_fail "real conditional values keep their meaning" "$(cat "$T/ours")"
fi

JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
if [ ! -x "$JFS_REF" ]; then
	t_skip "the real WebDAV server answers the same table" "no reference client at $JFS_REF"
else
	dav_start "$JFS_REF" RPORT
	table "$RPORT" >"$T/ref"
	kill -TERM "$DAV_PID" 2>/dev/null
	wait "$DAV_PID" 2>/dev/null
	# The two servers spell ETags differently, so only the answers are compared.
	if [ -s "$T/ref" ] && cmp -s "$T/ref" "$T/ours"; then
		t_ok "the real WebDAV server answers all $(nlines "$T/ours") conditional requests as ours"
	else
		t_fail "the real WebDAV server answers the same table" "$(diff "$T/ref" "$T/ours")"
	fi
fi
t_done
