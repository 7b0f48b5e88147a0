# The body of the engine test for an SQL metadata engine, sourced by
# t1502-pg-engine.sh and t1602-mysql-engine.sh after lib.sh and `sql_engine`
# (which binds the db_* names); engine_checks_d, when the caller defines it,
# runs last (the bad URLs of its engine).
# (a) the engine-generic unit tests (t/unit/check_meta) pass on the engine
#     (its suite only: make check runs the sqlite3, mem and redis ones);
# (b) the server restarted under a serving gateway: objects stored before are
#     read back byte-exact, a PUT sent while it is down either succeeds (and
#     reads back) or gets a 5xx, never a false success; after the restart the
#     gateway serves new PUTs without being restarted (it reconnects);
# (c) slice commits whose answer is lost (the engine's fault proxy in t/tools
#     forwards every 3rd COMMIT of a chunk write, lets the server run it and
#     closes the connection): a write may fail, but every write that
#     succeeded reads back byte-exact and fsck finds every block of every
#     slice (the blocks of an unknown commit are kept).

: "${JFS_CHECK_META:=$PWD/t/unit/check_meta}"
: "${JFS_FSCP:=$PWD/t/tools/jfs-fscp}"
need_bin "$JFS_BIN" "$JFS_CHECK_META" "$JFS_FSCP"
unset META_PASSWORD

db_start
db_createdb ck
db_createdb vol
db_createdb fault

# ---------------------------------------------------------------- (a)
env "$ENGINE_URL_ENV=$(db_url ck)" CK_RUN_SUITE="$ENGINE_SUITE" timeout 600 "$JFS_CHECK_META" \
	>"$T/check.log" 2>&1
rc=$?
# the summary line that follows the engine suite's header
sum=$(awk -v s="Running suite(s): $ENGINE_SUITE" 'index($0, s) { p = 1 } p && /Checks:/ { print; exit }' "$T/check.log")
if [ "$rc" -eq 0 ] && grep -q '^100%: Checks: [1-9]' <<<"$sum"; then
	t_ok "(a) check_meta passes on $ENGINE ($sum)"
else
	t_fail "(a) check_meta on $ENGINE" "exit $rc" "$(grep -E 'Checks|:[0-9]+:[EF]:' "$T/check.log" | head -n 10)"
fi

# ---------------------------------------------------------------- (b)
V=$(db_url vol)
jfs format "$V" sqlvol --bucket "$T/bk" --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "format $V" "$(last_run)"; t_done; }
export MINIO_ROOT_USER=sqlak2 MINIO_ROOT_PASSWORD=sqlsecret2
S3C=(curl -s --max-time 120 --aws-sigv4 "aws:amz:us-east-1:s3" --user "sqlak2:sqlsecret2")
port=$(free_port)
GW=http://127.0.0.1:$port
"$JFS_BIN" gateway "$V" "127.0.0.1:$port" --cache-dir none --no-banner \
	--metrics "127.0.0.1:$(free_port)" >>"$T/gw.log" 2>&1 </dev/null &
gw_pid=$!
T_PIDS+=("$gw_pid")
for _ in $(seq 150); do
	curl -s -o /dev/null "$GW/" && break
	sleep 0.1
done
for i in 1 2 3; do head -c $((1 << 20)) /dev/urandom >"$T/obj$i"; done
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/obj1" "$GW/sqlvol/obj1")
if [ "$code" = 200 ]; then
	t_ok "(b) PUT before the restart"
else
	t_fail "(b) PUT before the restart" "HTTP $code" "$(tail -n 5 "$T/gw.log")"
	t_done
fi
db_stop
# A PUT while the engine is down: it waits the engine out (bounded) or fails.
("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/obj2" "$GW/sqlvol/obj2" >"$T/code2" 2>/dev/null) &
put=$!
sleep 2
db_run
wait "$put"
code2=$(cat "$T/code2")
if [ "$code2" = 200 ]; then
	"${S3C[@]}" -o "$T/obj2.back" "$GW/sqlvol/obj2"
	if cmp -s "$T/obj2" "$T/obj2.back"; then
		t_ok "(b) a PUT across the restart succeeded and reads back byte-exact"
	else
		t_fail "(b) PUT across the restart: 200 but other bytes back"
	fi
elif [ "${code2:0:1}" = 5 ]; then
	t_ok "(b) a PUT across the restart got HTTP $code2 (a clear error)"
else
	t_fail "(b) PUT across the restart" "HTTP '$code2'" "$(tail -n 5 "$T/gw.log")"
fi
"${S3C[@]}" -o "$T/obj1.back" "$GW/sqlvol/obj1"
if cmp -s "$T/obj1" "$T/obj1.back"; then
	t_ok "(b) the object stored before the restart reads back byte-exact"
else
	t_fail "(b) object stored before the restart" "$(tail -n 5 "$T/gw.log")"
fi
code=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/obj3" "$GW/sqlvol/obj3")
"${S3C[@]}" -o "$T/obj3.back" "$GW/sqlvol/obj3"
if [ "$code" = 200 ] && cmp -s "$T/obj3" "$T/obj3.back" && kill -0 "$gw_pid" 2>/dev/null; then
	t_ok "(b) the same gateway serves PUT and GET after the restart (it reconnected)"
else
	t_fail "(b) gateway after the restart" "HTTP $code" "$(tail -n 5 "$T/gw.log")"
fi
kill "$gw_pid"
wait "$gw_pid" 2>/dev/null
jfs fsck "$V"
if [ "$RC" -eq 0 ] && ! crashed; then
	t_ok "(b) fsck finds every block of every slice after the restart"
else
	t_fail "(b) fsck after the restart" "$(last_run)"
fi

# ---------------------------------------------------------------- (c)
F=$(db_url fault)
jfs format "$F" sqlfault --bucket "$T/bk-fault" --trash-days 0
pport=$(free_port)
t_spawn python3 "$JFS_SRCDIR/t/tools/sql-fault-proxy.py" --proto "$ENGINE_PROXY" --listen "$pport" \
	--to "127.0.0.1:$(db_port)" --every 3 --stats "$T/proxy.stats"
for _ in $(seq 100); do [ -s "$T/proxy.stats" ] && break; sleep 0.1; done
FP=$(db_url fault "$pport")
ok_files=()
nfail=0
for i in $(seq 1 9); do
	head -c $((i * 900 * 1024 + i)) /dev/urandom >"$T/f$i"
	run "$JFS_FSCP" put "$FP" "$T/f$i" "/f$i"
	if [ "$RC" -eq 0 ]; then ok_files+=("$i"); else nfail=$((nfail + 1)); fi
done
faults=$(sed -n 's/^faults=\([0-9]*\).*/\1/p' "$T/proxy.stats")
if [ "${faults:-0}" -ge 1 ]; then
	t_ok "(c) the proxy lost the answers of $faults slice commits ($nfail writes failed)"
else
	t_fail "(c) the proxy lost answers of slice commits" "stats: $(cat "$T/proxy.stats")"
fi
bad=""
for i in "${ok_files[@]}"; do
	run "$JFS_FSCP" get "$F" "/f$i" "$T/f$i.back"
	[ "$RC" -eq 0 ] && cmp -s "$T/f$i" "$T/f$i.back" || bad="$bad f$i"
done
if [ -z "$bad" ] && [ "${#ok_files[@]}" -gt 0 ]; then
	t_ok "(c) every write that succeeded (${#ok_files[@]}) reads back byte-exact"
else
	t_fail "(c) successful writes read back" "bad:$bad"
fi
jfs fsck "$F"
if [ "$RC" -eq 0 ] && ! crashed; then
	t_ok "(c) fsck finds every block of every slice (the unknown commits' blocks were kept)"
else
	t_fail "(c) fsck after lost commit answers" "$(last_run)"
fi

declare -F engine_checks_d >/dev/null && engine_checks_d
t_done
