#!/usr/bin/env bash
# WebDAV server: Debian's litmus (all five suites) against ours, then the same
# against the real `juicefs webdav` on the same volume (counts side by side,
# tests that differ listed); Basic auth; hostile input that must get the right
# status and change nothing; locks kept in the metadata across a restart and
# seen by a second server, and never granted twice by two racing servers;
# SIGTERM exits cleanly; a file PUT through ours is read byte-exact through
# our S3 gateway and through the real server.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
command -v litmus >/dev/null || t_skip_all "litmus not installed (apt-get install litmus)"
command -v curl >/dev/null || t_skip_all "curl not installed"

export WEBDAV_USER=davuser WEBDAV_PASSWORD='pa:ss w0rd'
META=sqlite3://$T/dav.db
jfs format "$META" davvol --bucket "$T/data" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format" "$(last_run)"; t_done; }

# Bad command lines: one line on stderr, non-zero exit, nothing changed.
bad_input "webdav on an unformatted database" "$T/dav.db $T/data" -- webdav "sqlite3://$T/none.db" 127.0.0.1:0
bad_input "webdav on a bad address" "$T/dav.db $T/data" -- webdav "$META" 999.1.1.1:80 --cache-dir none
bad_input "webdav with --cert-file but no --key-file" "$T/dav.db $T/data" -- webdav "$META" 127.0.0.1:0 --cert-file "$T/none.pem"
bad_input "webdav with one argument" "$T/dav.db $T/data" -- webdav "$META"

SRV_PID=
# start_ours PORT [LOG]: our server in the background, waiting until it answers.
start_ours()
{
	local port=$1 log=${2:-$T/ours.log} i
	"$JFS_BIN" webdav "$META" "127.0.0.1:$port" --cache-dir none >"$log" 2>&1 &
	SRV_PID=$!
	T_PIDS+=("$SRV_PID")
	for i in $(seq 1 100); do
		curl -sf -o /dev/null -u "$WEBDAV_USER:$WEBDAV_PASSWORD" -X OPTIONS \
			"http://127.0.0.1:$port/" && return 0
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# stop PID: SIGTERM, wait, and give the exit status in STOP_RC.
STOP_RC=0
stop()
{
	STOP_RC=0
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null || STOP_RC=$?
}

C=(curl -s -u "$WEBDAV_USER:$WEBDAV_PASSWORD")
# code METHOD URL [curl args...]: prints the HTTP status.
code()
{
	local m=$1 u=$2
	shift 2
	"${C[@]}" -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$u"
}

expect_code()
{
	local d=$1 want=$2 got
	shift 2
	got=$(code "$@")
	if [ "$got" = "$want" ]; then t_ok "$d: $got"; else t_fail "$d" "want $want, got $got" "$(head -c 300 "$T/body")"; fi
}

# run_litmus NAME URL: litmus -k, per-suite lines in $T/litmus-NAME.out
run_litmus()
{
	local name=$1 url=$2
	(cd "$T" && mkdir -p "lit-$name" && cd "lit-$name" &&
		timeout 150 litmus -k "$url" "$WEBDAV_USER" "$WEBDAV_PASSWORD") \
		>"$T/litmus-$name.out" 2>&1
}

suite_line()
{
	grep -E "^<- summary for \`$2'" "$T/litmus-$1.out" | sed -E 's/.*: of ([0-9]+) tests run: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2 \3/'
}

# ---------------------------------------------------------------- ours: litmus
PORT=$(free_port)
if ! start_ours "$PORT"; then
	t_fail "our webdav server starts" "$(cat "$T/ours.log")"
	t_done
fi
t_ok "our webdav server starts on 127.0.0.1:$PORT"
grep -q 'WEBDAV_USER is not set' "$T/ours.log" && t_fail "no open-server warning with auth set" || t_ok "no open-server warning with auth set"

run_litmus ours "http://127.0.0.1:$PORT/"
ours_total=0
ours_pass=0
for s in basic copymove props locks http; do
	read -r n p f < <(suite_line ours "$s")
	if [ -n "${n:-}" ] && [ "$f" -eq 0 ] && [ "$p" -eq "$n" ]; then
		t_ok "litmus $s (ours): $p/$n passed"
	else
		t_fail "litmus $s (ours): ${p:-?}/${n:-?} passed" \
			"$(grep -E 'FAIL|WARNING' "$T/litmus-ours.out" | head -n 10)"
	fi
	ours_total=$((ours_total + ${n:-0}))
	ours_pass=$((ours_pass + ${p:-0}))
done
if grep -q 'WARNING' "$T/litmus-ours.out"; then
	t_fail "litmus (ours) issues no warnings" "$(grep -B1 WARNING "$T/litmus-ours.out" | head)"
else
	t_ok "litmus (ours) issues no warnings"
fi
echo "# litmus ours: $ours_pass/$ours_total passed"

# ---------------------------------------------------------------- auth
B=http://127.0.0.1:$PORT
got=$(curl -s -o /dev/null -D "$T/hdr" -w '%{http_code}' "$B/")
if [ "$got" = 401 ] && grep -qi '^WWW-Authenticate: Basic' "$T/hdr"; then
	t_ok "no credentials: 401 with WWW-Authenticate"
else
	t_fail "no credentials: 401 with WWW-Authenticate" "got $got" "$(cat "$T/hdr")"
fi
got=$(curl -s -o /dev/null -w '%{http_code}' -u "$WEBDAV_USER:wrong" -X PUT --data x "$B/authx")
[ "$got" = 401 ] && t_ok "wrong password: 401" || t_fail "wrong password: 401" "got $got"
expect_code "nothing stored by the refused PUT" 404 GET "$B/authx"

# ---------------------------------------------------------------- hostile input
expect_code "MKCOL /h" 201 MKCOL "$B/h/"
printf 'keep me' >"$T/keep"
expect_code "PUT /h/keep" 201 PUT "$B/h/keep" --data-binary "@$T/keep"
tree_digest()
{
	"${C[@]}" -X PROPFIND -H 'Depth: infinity' \
		--data '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>' \
		"$B/" | sha256sum | cut -c1-16
}
before=$(tree_digest)
expect_code "PUT with .." 400 PUT "$B/h/../escape" --path-as-is --data x
expect_code "PUT with %2e%2e" 400 PUT "$B/h/%2e%2e/escape" --path-as-is --data x
expect_code "PUT with %00" 400 PUT "$B/h/a%00b" --data x
expect_code "DELETE with %2E%2E" 400 DELETE "$B/h/%2E%2E" --path-as-is
long=$(head -c 300 /dev/zero | tr '\0' a)
expect_code "PUT with a 300-byte segment" 414 PUT "$B/h/$long" --data x
expect_code "MOVE to another host" 502 MOVE "$B/h/keep" -H "Destination: http://evil.example:80/x"
expect_code "COPY outside the root" 400 COPY "$B/h/keep" -H "Destination: $B/h/../../etc/x"
expect_code "COPY without Destination" 400 COPY "$B/h/keep"
expect_code "COPY Depth 1" 400 COPY "$B/h/" -H "Destination: $B/h2/" -H "Depth: 1"
expect_code "PROPFIND Depth 2" 400 PROPFIND "$B/h/" -H "Depth: 2"
expect_code "PROPFIND malformed XML" 400 PROPFIND "$B/h/" -H "Depth: 0" --data '<D:propfind xmlns:D="DAV:"><D:prop>'
expect_code "PROPFIND with a DTD (entity bomb)" 400 PROPFIND "$B/h/" -H "Depth: 0" \
	--data '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]><D:propfind xmlns:D="DAV:"><D:prop><x>&b;</x></D:prop></D:propfind>'
head -c 2000000 /dev/zero | tr '\0' ' ' >"$T/huge.xml"
expect_code "PROPPATCH with a 2 MB body" 413 PROPPATCH "$B/h/keep" --data-binary "@$T/huge.xml"
expect_code "PROPPATCH malformed" 400 PROPPATCH "$B/h/keep" --data '<nope'
expect_code "UNLOCK with an unknown token" 409 UNLOCK "$B/h/keep" -H 'Lock-Token: <opaquelocktoken:nope>'
expect_code "UNLOCK with a malformed token" 400 UNLOCK "$B/h/keep" -H 'Lock-Token: nope'
expect_code "PUT with a malformed If" 400 PUT "$B/h/keep" -H 'If: (<a' --data x
expect_code "LOCK Depth 1" 400 LOCK "$B/h/keep" -H 'Depth: 1' \
	--data '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'
expect_code "GET /.sys is unreachable" 404 GET "$B/.sys/"
expect_code "PUT into /.sys is refused" 404 PUT "$B/.sys/davlocks/x" --data x
after=$(tree_digest)
[ "$before" = "$after" ] && t_ok "hostile requests changed nothing" || t_fail "hostile requests changed nothing" "$before -> $after"
"${C[@]}" -o "$T/back" "$B/h/keep"
cmp -s "$T/keep" "$T/back" && t_ok "file intact after hostile requests" || t_fail "file intact after hostile requests"
kill -0 "$SRV_PID" 2>/dev/null && t_ok "server still alive" || t_fail "server still alive" "$(tail "$T/ours.log")"

# ---------------------------------------------------------------- locks in the metadata
LOCKBODY='<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>t5001</D:owner></D:lockinfo>'
"${C[@]}" -D "$T/lockhdr" -o /dev/null -X LOCK -H 'Timeout: Second-600' --data "$LOCKBODY" "$B/h/keep"
TOKEN=$(sed -n 's/^Lock-Token: <\(.*\)>\r$/\1/Ip' "$T/lockhdr")
[ -n "$TOKEN" ] && t_ok "LOCK gives a token" || t_fail "LOCK gives a token" "$(cat "$T/lockhdr")"
stop "$SRV_PID"
[ "$STOP_RC" -eq 0 ] && t_ok "SIGTERM: clean exit" || t_fail "SIGTERM: clean exit" "status $STOP_RC" "$(tail -n 5 "$T/ours.log")"
PORT2=$(free_port)
start_ours "$PORT2" "$T/ours2.log" || t_fail "restart" "$(cat "$T/ours2.log")"
B=http://127.0.0.1:$PORT2
PORT3=$(free_port)
start_ours "$PORT3" "$T/ours3.log" || t_fail "second server" "$(cat "$T/ours3.log")"
B3=http://127.0.0.1:$PORT3
expect_code "after restart: PUT without the token" 423 PUT "$B/h/keep" --data x
expect_code "second server: PUT without the token" 423 PUT "$B3/h/keep" --data x
expect_code "second server: DELETE of the parent without the token" 423 DELETE "$B3/h/"
expect_code "second server: PUT with the token" 204 PUT "$B3/h/keep" -H "If: (<$TOKEN>)" --data-binary "@$T/keep"
expect_code "UNLOCK through the restarted server" 204 UNLOCK "$B/h/keep" -H "Lock-Token: <$TOKEN>"
expect_code "second server: PUT after UNLOCK" 204 PUT "$B3/h/keep" --data-binary "@$T/keep"
expect_code "second server: LOCK taken on the restarted one" 200 LOCK "$B/h/keep" --data "$LOCKBODY"
expect_code "second server: a conflicting LOCK" 423 LOCK "$B3/h/keep" --data "$LOCKBODY"
# Both servers race for one exclusive lock, ten times: never both granted.
both=0
one=0
for i in $(seq 1 10); do
	"${C[@]}" -m 20 -o /dev/null -w '%{http_code}\n' -X LOCK --data "$LOCKBODY" "$B/h/race$i" >"$T/ra" &
	pa=$!
	"${C[@]}" -m 20 -o /dev/null -w '%{http_code}\n' -X LOCK --data "$LOCKBODY" "$B3/h/race$i" >"$T/rb" &
	pb=$!
	wait "$pa" "$pb"
	n=$(cat "$T/ra" "$T/rb" | grep -cE '^20[01]$')
	[ "$n" -le 1 ] || both=$((both + 1))
	[ "$n" -eq 1 ] && one=$((one + 1))
done
[ "$both" -eq 0 ] && t_ok "racing LOCKs on two servers: never both granted ($one of 10 rounds granted one)" ||
	t_fail "racing LOCKs on two servers: never both granted" "$both of 10 rounds granted both"

# ---------------------------------------------------------------- the same file through our S3 gateway
if "$JFS_BIN" gateway --help >/dev/null 2>&1; then
	head -c 3000000 /dev/urandom >"$T/s3.bin"
	expect_code "PUT a 3 MB file for the S3 gateway" 201 PUT "$B/s3.bin" --data-binary "@$T/s3.bin"
	GPORT=$(free_port)
	MINIO_ROOT_USER=davs3admin MINIO_ROOT_PASSWORD=davs3secret "$JFS_BIN" gateway "$META" \
		"127.0.0.1:$GPORT" --cache-dir none --no-banner >"$T/ours-gw.log" 2>&1 &
	GPID=$!
	T_PIDS+=("$GPID")
	wait_http "$GPORT" 10
	got=$(curl -s -o "$T/s3.back" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user davs3admin:davs3secret "http://127.0.0.1:$GPORT/davvol/s3.bin")
	if [ "$got" = 200 ] && cmp -s "$T/s3.bin" "$T/s3.back"; then
		t_ok "file PUT through WebDAV is read byte-exact through our S3 gateway"
	else
		t_fail "file PUT through WebDAV is read byte-exact through our S3 gateway" "status $got" \
			"$(tail -n 3 "$T/ours-gw.log")"
	fi
	stop "$GPID"
else
	t_skip "S3 gateway sharing" "this build has no gateway command"
fi

# Our servers' logs: no sanitizer report, no crash.
san_check()
{
	if grep -lE 'Sanitizer|runtime error:' "$T"/ours*.log >/dev/null 2>&1; then
		t_fail "no sanitizer report in our server logs" "$(grep -hE -A5 'Sanitizer|runtime error:' "$T"/ours*.log | head -n 20)"
	else
		t_ok "no sanitizer report in our server logs"
	fi
}
san_check

# ---------------------------------------------------------------- the real juicefs webdav
need_ref_soft()
{
	JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
	[ -x "$JFS_REF" ] && "$JFS_REF" version >/dev/null 2>&1
}
if ! need_ref_soft; then
	t_skip "real juicefs webdav side by side" "reference client $JFS_REF not available"
	t_done
fi
head -c 3000000 /dev/urandom >"$T/big"
expect_code "PUT a 3 MB file through ours" 201 PUT "$B/shared.bin" --data-binary "@$T/big"
RPORT=$(free_port)
"$JFS_REF" webdav "$META" "127.0.0.1:$RPORT" --cache-dir "$T/refcache" --no-usage-report \
	--enable-proppatch \
	--log "$T/ref.log" >"$T/ref.out" 2>&1 &
RPID=$!
T_PIDS+=("$RPID")
for i in $(seq 1 100); do
	curl -s -o /dev/null -u "$WEBDAV_USER:$WEBDAV_PASSWORD" "http://127.0.0.1:$RPORT/" && break
	sleep 0.2
done
"${C[@]}" -o "$T/big.back" "http://127.0.0.1:$RPORT/shared.bin"
cmp -s "$T/big" "$T/big.back" && t_ok "file PUT through ours is read byte-exact through the real server" ||
	t_fail "file PUT through ours is read byte-exact through the real server" "$(tail -n 5 "$T/ref.out")"

run_litmus ref "http://127.0.0.1:$RPORT/"
ref_total=0
ref_pass=0
for s in basic copymove props locks http; do
	read -r n p f < <(suite_line ref "$s")
	read -r on op of < <(suite_line ours "$s")
	echo "# litmus $s: ours ${op:-?}/${on:-?}, real juicefs webdav ${p:-?}/${n:-?}"
	ref_total=$((ref_total + ${n:-0}))
	ref_pass=$((ref_pass + ${p:-0}))
done
echo "# litmus total: ours $ours_pass/$ours_total, real juicefs webdav $ref_pass/$ref_total"
# Test by test where the two differ, keyed by suite, number and name.
res()
{
	sed -E 's/\r//g' "$T/litmus-$1.out" | awk '
		/^-> running `/ { s = $3; gsub(/[`\x27:]/, "", s); next }
		/^ *[0-9]+\. [a-z0-9_]+\./ {
			n = $1; name = $2; sub(/\.+$/, "", name)
			r = "?"
			if ($0 ~ /FAIL/) r = "FAIL"; else if ($0 ~ /SKIPPED/) r = "SKIPPED"
			else if ($0 ~ /WARNING/) r = "WARNING"; else if ($0 ~ /pass/) r = "pass"
			if (!(s ":" n name in seen)) order[++k] = s ":" n name
			seen[s ":" n name] = 1
			if (res[s ":" n name] == "" || r != "pass") res[s ":" n name] = r
		}
		/^ *\.\.\.+ pass/ { }
		END { for (i = 1; i <= k; i++) print order[i], res[order[i]] }' | sort
}
res ours >"$T/r-ours"
res ref >"$T/r-ref"
join -a1 -a2 -e missing -o 0,1.2,2.2 "$T/r-ours" "$T/r-ref" 2>/dev/null |
	awk '$2 != $3 {print "# differs: " $1 ": ours " $2 ", real " $3}' | head -n 60
t_ok "litmus against the real juicefs webdav ran: $ref_pass/$ref_total"
stop "$RPID"
t_done
