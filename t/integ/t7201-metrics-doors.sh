#!/usr/bin/env bash
# Prometheus metrics (issue 17 §3): the mount, the S3 gateway and the WebDAV
# server serve /metrics on --metrics, scraped here with a real text-format
# parser (Debian's python3-prometheus-client), and the counters move as the
# load does: bytes written through FUSE, N PUTs through S3 or WebDAV -> the
# door's request counter +N and the object PUT bytes + what was written.
# Also: the mount's .stats comes from the same registry in JuiceFS's format
# with the names `juicefs stats` reads; a default address that is taken
# falls back to a free port while a given one that is taken is logged and
# the door serves on without metrics (JuiceFS's exposeMetrics).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_bin "$JFS_BIN"
need_fuse
PY=/usr/bin/python3
$PY -c 'import prometheus_client.parser, boto3' 2>/dev/null ||
	t_skip_all "python3-prometheus-client or python3-boto3 missing (scripts/deps.sh)"
t_start=$(date +%s)

export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
unset WEBDAV_USER WEBDAV_PASSWORD

# scrape URL OUT: the parsed samples, one "name{sorted labels} value" a line.
# (The parser names a counter's sample NAME_total, as the format's readers do.)
cat >"$T/scrape.py" <<'PY'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        lab = ",".join("%s=%s" % kv for kv in sorted(s.labels.items())
                       if kv[0] not in ("instance", "juicefs_version"))
        print("%s{%s} %r" % (s.name, lab, float(s.value)))
PY
scrape()
{
	$PY "$T/scrape.py" "$1/metrics" >"$2" 2>"$T/scrape.err"
}
# val FILE NAME LABELS: the sample's value, 0 when absent.
val()
{
	awk -v k="$2{$3}" '$1 == k { v = $2 } END { printf "%.0f\n", v + 0 }' "$1"
}
# moved DESC BEFORE AFTER NAME LABELS WANT: the sample grew by exactly WANT.
moved()
{
	local a b
	a=$(val "$2" "$4" "$5")
	b=$(val "$3" "$4" "$5")
	if [ $((b - a)) -eq "$6" ]; then
		t_ok "$1: $4{$5} +$6 ($a -> $b)"
	else
		t_fail "$1: $4{$5} grows by $6" "before $a, after $b" "$(grep "^$4" "$3" | head -5)"
	fi
}

fformat metvol
M=$T/mnt
MP_PORT=$(free_port)
fmount "$META" "$M" --metrics "127.0.0.1:$MP_PORT"
[ "$RC" -eq 0 ] || { t_fail "mount with --metrics" "$(last_run)"; t_done; }
MU=http://127.0.0.1:$MP_PORT

# ---- mount: FUSE bytes and object PUT bytes follow a write
if scrape "$MU" "$T/m0"; then
	t_ok "the mount's /metrics parses ($(wc -l <"$T/m0") samples)"
else
	t_fail "the mount's /metrics parses" "$(head -5 "$T/scrape.err")"
	t_done
fi
if grep -q "^juicefs_uptime{mp=$M,vol_name=metvol} " "$T/m0"; then
	t_ok "samples carry JuiceFS's common labels mp and vol_name"
else
	t_fail "samples carry mp and vol_name" "$(grep '^juicefs_uptime' "$T/m0")"
fi
dd if=/dev/urandom of="$M/f1" bs=128k count=24 status=none conv=fsync
cat "$M/f1" >/dev/null
scrape "$MU" "$T/m1"
moved "FUSE write of 3 MiB" "$T/m0" "$T/m1" juicefs_fuse_written_size_bytes_sum "mp=$M,vol_name=metvol" 3145728
moved "FUSE write of 3 MiB" "$T/m0" "$T/m1" juicefs_object_request_data_bytes_total \
	"method=PUT,mp=$M,storage_class=STANDARD,vol_name=metvol" 3145728
w0=$(val "$T/m0" juicefs_fuse_ops_total "method=write,mp=$M,vol_name=metvol")
w1=$(val "$T/m1" juicefs_fuse_ops_total "method=write,mp=$M,vol_name=metvol")
h1=$(val "$T/m1" juicefs_fuse_ops_durations_histogram_seconds_count "mp=$M,vol_name=metvol")
inf=$(val "$T/m1" juicefs_fuse_ops_durations_histogram_seconds_bucket "le=+Inf,mp=$M,vol_name=metvol")
if [ $((w1 - w0)) -ge 24 ] && [ "$h1" -gt 0 ] && [ "$h1" = "$inf" ]; then
	t_ok "fuse_ops_total{method=write} +$((w1 - w0)); histogram count $h1 = +Inf bucket"
else
	t_fail "fuse op counters" "writes $w0 -> $w1, count $h1, +Inf bucket $inf"
fi
u=$(val "$T/m1" juicefs_used_space "mp=$M,vol_name=metvol")
tx=$(val "$T/m1" juicefs_transaction_durations_histogram_seconds_count "mp=$M,vol_name=metvol")
if [ "$u" -ge 3145728 ] && [ "$tx" -gt 0 ]; then
	t_ok "used_space $u and $tx metadata transactions are reported"
else
	t_fail "used_space and transactions" "used_space $u, transactions $tx"
fi

# ---- .stats: the same registry in JuiceFS's format, with what `juicefs stats` reads
cp "$M/.stats" "$T/stats"
bad=$(awk 'NF != 2 || $2 !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/' "$T/stats" | head -3)
miss=""
for n in juicefs_cpu_usage juicefs_memory juicefs_used_buffer_size_bytes \
	juicefs_store_cache_size_bytes juicefs_fuse_ops_durations_histogram_seconds_total \
	juicefs_fuse_ops_durations_histogram_seconds_sum juicefs_fuse_read_size_bytes_sum \
	juicefs_fuse_written_size_bytes_sum juicefs_meta_ops_durations_histogram_seconds_total \
	juicefs_transaction_durations_histogram_seconds_sum juicefs_transaction_restart \
	juicefs_blockcache_hit_bytes juicefs_blockcache_write_bytes \
	juicefs_object_request_data_bytes_GET juicefs_object_request_data_bytes_PUT \
	juicefs_object_request_durations_histogram_seconds_PUT_total \
	juicefs_object_request_durations_histogram_seconds_DELETE_sum juicefs_fuse_ops_total_write; do
	grep -q "^$n " "$T/stats" || miss="$miss $n"
done
if [ -z "$bad" ] && [ -z "$miss" ]; then
	t_ok ".stats parses as 'name value' and has every name juicefs stats reads"
else
	t_fail ".stats format" "bad lines: $bad" "missing:$miss"
fi
sw=$(awk '$1 == "juicefs_fuse_written_size_bytes_sum" { print $2 }' "$T/stats")
if [ "$sw" -ge 3145728 ] 2>/dev/null; then
	t_ok ".stats juicefs_fuse_written_size_bytes_sum = $sw"
else
	t_fail ".stats written bytes" "got '$sw'"
fi

# ---- the default address taken: a port the kernel picks (JuiceFS's exposeMetrics)
$PY -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", 9567)); s.listen(1)
except OSError:
    pass  # someone else holds it: just as taken
time.sleep(60)' &
HOLD=$!
T_PIDS+=("$HOLD")
sleep 0.3
M2=$T/mnt2
fmount "$META" "$M2"
P2=$(sed -nE 's/.*Prometheus metrics listening on 127\.0\.0\.1:([0-9]+).*/\1/p' "$T/mnt2.log" | tail -n 1)
if [ "$RC" -eq 0 ] && [ -n "$P2" ] && [ "$P2" != 9567 ] && scrape "http://127.0.0.1:$P2" "$T/d2" &&
	[ "$(jq -r .Port.PrometheusAgent "$M2/.config")" = "127.0.0.1:$P2" ]; then
	t_ok "default 127.0.0.1:9567 taken: the mount serves /metrics on 127.0.0.1:$P2 (in .config)"
else
	t_fail "default address taken falls back to a free port" "rc $RC port '$P2'" \
		"$(grep -i metrics "$T/mnt2.log" | tail -3)"
fi
fumount "$M2"

# ---- S3 gateway: N PUTs -> requests_total{PUT,200} +N, object PUT bytes +N*4 KiB
GP=$(free_port)
GMP=$(free_port)
"$JFS_BIN" gateway "$META" "127.0.0.1:$GP" --no-banner --cache-dir none \
	--metrics "127.0.0.1:$GMP" >>"$T/gw.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$GP/" && break; sleep 0.1; done
GU=http://127.0.0.1:$GMP
scrape "$GU" "$T/g0" || t_fail "gateway /metrics parses" "$(head -3 "$T/scrape.err")"
$PY - "$GP" >"$T/boto.out" 2>&1 <<'PY'
import sys, os, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % sys.argv[1],
                  aws_access_key_id="s3admin", aws_secret_access_key="s3secret123",
                  region_name="us-east-1", config=Config(retries={"max_attempts": 0}))
for i in range(20):
    s3.put_object(Bucket="metvol", Key="m/o%02d" % i, Body=os.urandom(4096))
for i in range(5):
    assert len(s3.get_object(Bucket="metvol", Key="m/o%02d" % i)["Body"].read()) == 4096
try:
    s3.get_object(Bucket="metvol", Key="m/none")
except s3.exceptions.NoSuchKey:
    pass
print("done")
PY
grep -q done "$T/boto.out" || t_fail "boto3 load on the gateway" "$(tail -3 "$T/boto.out")"
scrape "$GU" "$T/g1"
moved "20 S3 PUTs" "$T/g0" "$T/g1" juicefs_s3_requests_total "method=PUT,mp=s3gateway,status=200,vol_name=metvol" 20
moved "5 S3 GETs" "$T/g0" "$T/g1" juicefs_s3_requests_total "method=GET,mp=s3gateway,status=200,vol_name=metvol" 5
moved "a GET of a missing key" "$T/g0" "$T/g1" juicefs_s3_requests_total "method=GET,mp=s3gateway,status=404,vol_name=metvol" 1
moved "20 S3 PUTs of 4 KiB" "$T/g0" "$T/g1" juicefs_object_request_data_bytes_total \
	"method=PUT,mp=s3gateway,storage_class=STANDARD,vol_name=metvol" 81920
moved "20 S3 PUTs timed" "$T/g0" "$T/g1" juicefs_s3_request_durations_histogram_seconds_count \
	"method=PUT,mp=s3gateway,status=200,vol_name=metvol" 20

# ---- hostile peers on the metrics port: one that never sends, one that sends
# its head a byte every 0.5 s, twenty that connect at once; a scrape still
# gets its answer at once (a serial server with a 2 s wait per read was held
# by the trickler for its whole run)
python3 - "$GMP" >"$T/trickle.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
t = socket.create_connection(("127.0.0.1", port))
head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100 + b"\r\n\r\n"
end = time.monotonic() + 25
for b in head:
    if time.monotonic() > end:
        break
    try:
        t.send(bytes([b]))
    except OSError:
        break
    time.sleep(0.5)
PY
TRICKLE=$!
T_PIDS+=("$TRICKLE")
sleep 1.5
t0=$(date +%s%N)
code=$(curl -s --max-time 8 -o "$T/hostile.prom" -w '%{http_code}' "$GU/metrics")
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$code" = 200 ] && grep -q '^juicefs_uptime' "$T/hostile.prom"; then
	t_ok "a scrape beside 21 idle or trickling metrics clients is answered (${ms} ms)"
else
	t_fail "a scrape beside 21 idle or trickling metrics clients is answered" "status $code after ${ms} ms"
fi
kill "$TRICKLE" 2>/dev/null
wait "$TRICKLE" 2>/dev/null

# ---- a given address that is taken: logged, the gateway serves on without metrics
: >"$T/gw2.log"
"$JFS_BIN" gateway "$META" "127.0.0.1:$(free_port)" --no-banner --cache-dir none \
	--metrics "127.0.0.1:$GMP" >>"$T/gw2.log" 2>&1 &
G2=$!
T_PIDS+=("$G2")
for _ in $(seq 50); do grep -q "metrics" "$T/gw2.log" && break; sleep 0.1; done
if kill -0 "$G2" 2>/dev/null && grep -q "listen on 127.0.0.1:$GMP for metrics failed" "$T/gw2.log"; then
	t_ok "--metrics on a taken port: one error line, the gateway keeps serving"
else
	t_fail "--metrics on a taken port" "$(tail -3 "$T/gw2.log")"
fi

# ---- WebDAV: N PUTs -> requests_total{PUT,201} +N
DP=$(free_port)
DMP=$(free_port)
"$JFS_BIN" webdav "$META" "127.0.0.1:$DP" --cache-dir none --metrics "127.0.0.1:$DMP" \
	>>"$T/dav.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$DP/" && break; sleep 0.1; done
DU=http://127.0.0.1:$DMP
scrape "$DU" "$T/w0" || t_fail "webdav /metrics parses" "$(head -3 "$T/scrape.err")"
head -c 4096 /dev/urandom >"$T/4k"
for i in $(seq 10); do curl -s -o /dev/null -T "$T/4k" "http://127.0.0.1:$DP/dav$i"; done
for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$DP/dav$i"; done
# made-up methods share one label value: a client cannot grow the registry
for i in 1 2 3; do curl -s -o /dev/null -X "MADEUP$i" "http://127.0.0.1:$DP/dav1"; done
scrape "$DU" "$T/w1"
moved "10 WebDAV PUTs" "$T/w0" "$T/w1" juicefs_webdav_requests_total "method=PUT,mp=webdav,status=201,vol_name=metvol" 10
moved "3 WebDAV GETs" "$T/w0" "$T/w1" juicefs_webdav_sent_bytes_total "method=GET,mp=webdav,vol_name=metvol" 12288
n=$(grep -c '^juicefs_webdav_requests_total{method=MADEUP' "$T/w1")
o=$(awk -F'[{}]' '$1 == "juicefs_webdav_requests_total" && $2 ~ /method=OTHER/ { s += $3 } END { print s + 0 }' "$T/w1")
if [ "$n" -eq 0 ] && [ "$o" -ge 3 ]; then
	t_ok "3 requests with made-up methods are counted as method=OTHER ($o)"
else
	t_fail "made-up methods are counted as OTHER" "MADEUP series $n, OTHER $o"
fi
moved "10 WebDAV PUTs of 4 KiB" "$T/w0" "$T/w1" juicefs_object_request_data_bytes_total \
	"method=PUT,mp=webdav,storage_class=STANDARD,vol_name=metvol" 40960

# an address that is not HOST:PORT stops the command, as JuiceFS's Fatalf does (bounded:
# a server that took it would serve on)
bad_metrics()
{
	local d=$1
	shift
	run timeout 10 "$JFS_BIN" "$@"
	if [ "$RC" -ne 0 ] && [ "$RC" -lt 124 ] && [ "$(nlines "$T/err")" -eq 1 ] &&
		grep -q "metrics format error" "$T/err" && ! crashed; then
		t_ok "$d: $(cut -c1-90 "$T/err")"
	else
		t_fail "$d fails in one line" "$(last_run)"
	fi
}
bad_metrics "gateway --metrics without a port" gateway "$META" "127.0.0.1:$(free_port)" \
	--metrics 127.0.0.1
bad_metrics "webdav --metrics with a bad port" webdav "$META" "127.0.0.1:$(free_port)" \
	--metrics 127.0.0.1:x9
mkdir -p "$T/mnt3"
bad_metrics "mount --metrics with a port past 65535" mount "$META" "$T/mnt3" --metrics 127.0.0.1:70000

fcheck_logs
echo "# t7201 took $(($(date +%s) - t_start)) s"
t_done
