#!/usr/bin/env bash
# Cost of authorization in our S3 gateway (issue 14, Benchmark; not a test, it never asserts a
# time): 4 KiB PUT and GET at 16 connections, replayed with wrk from presigned URLs (as
# bench/s3-bench.sh does), signed by
#   root   the root key (never evaluates a policy),
#   user   a user holding a 20-statement IAM policy (juicefs gateway-admin), whose requests
#          are allowed by the last statement, beside a 20-statement bucket policy,
#   anon   nobody: unsigned GETs allowed by the 20-statement bucket policy.
# The real gateway ($JFS_REF, when there) serves its own volume with the same bucket policy and
# runs the root and anon loads; it has no user load, as its `mc admin policy attach` is not
# offered (t4702 prints it). Rounds go ours root user anon, real root anon, ...; the table
# gives the medians, user/root, and ours/real.
#
# Usage: bench/s3-policy-bench.sh [ROUNDS]    env: JFS_BIN JFS_REF DUR (seconds per load, 10)
#        NKEYS (200)
set -u

ROUNDS=${1:-3}
DUR=${DUR:-10}
NKEYS=${NKEYS:-200}
here=$(cd "$(dirname "$0")/.." && pwd)
JFS_BIN=${JFS_BIN:-$here/build/juicefs}
JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
export MINIO_ROOT_USER=benchadmin MINIO_ROOT_PASSWORD=benchsecret123

die() { echo "s3-policy-bench: $*" >&2; exit 1; }
[ -x "$JFS_BIN" ] || die "no binary at $JFS_BIN (set JFS_BIN)"
command -v wrk >/dev/null || die "wrk missing (Debian: wrk)"
python3 -c 'import boto3' 2>/dev/null || die "python3 has no boto3 (Debian: python3-boto3)"

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /tmp/s3-policy-bench.XXXXXX)
PIDS=()
cleanup()
{
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

write_wrk_lua "$W/s3.lua"
head -c 4096 /dev/urandom >"$W/4k.bin"

# 20 statements, the last one the match: every earlier one is evaluated and passed over.
python3 - "$W" <<'EOF'
import json, sys
w = sys.argv[1]
def stmts(principal):
    out = []
    for i in range(19):
        s = {"Sid": "s%d" % i, "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": ["arn:aws:s3:::bench/other%d/*" % i],
             "Condition": {"IpAddress": {"aws:SourceIp": "10.%d.0.0/16" % i}}}
        if principal: s["Principal"] = {"AWS": ["*"]}
        out.append(s)
    last = {"Sid": "all", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": ["arn:aws:s3:::bench/*"]}
    if principal: last["Principal"] = "*"
    out.append(last)
    return {"Version": "2012-10-17", "Statement": out}
json.dump(stmts(False), open(w + "/iam.json", "w"))
json.dump(stmts(True), open(w + "/bucket.json", "w"))
EOF
# start NAME BIN: format a volume named bench with BIN, serve it; sets PORT_<NAME>.
start()
{
	local name=$1 bin=$2 d=$W/$1 port i
	mkdir -p "$d"
	"$bin" format "sqlite3://$d/m.db" bench --bucket "$d/data" --trash-days 0 >"$d/format.log" 2>&1 ||
		die "format with $bin: $(tail -3 "$d/format.log")"
	if [ "$name" = ours ]; then
		"$bin" gateway-admin policy-add "sqlite3://$d/m.db" twenty "$W/iam.json" >/dev/null 2>&1 &&
			"$bin" gateway-admin user-add "sqlite3://$d/m.db" benchuser benchusersecret \
				--policy twenty >/dev/null 2>&1 || die "gateway-admin failed"
	fi
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$bin" gateway "sqlite3://$d/m.db" "127.0.0.1:$port" --no-banner --cache-dir "$d/cache" \
		>"$d/gw.log" 2>&1 &
	PIDS+=("$!")
	for i in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
	printf -v "PORT_$name" '%s' "$port"
	python3 - "$port" "$W" "$NKEYS" "$name" <<'EOF' || die "preload on $name failed"
import sys, boto3, urllib.request
from botocore.config import Config
from urllib.parse import urlsplit
port, w, nkeys, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def client(ak, sk):
    return boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port, region_name="us-east-1",
                        aws_access_key_id=ak, aws_secret_access_key=sk,
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
root = client("benchadmin", "benchsecret123")
users = [("root", root)] + ([("user", client("benchuser", "benchusersecret"))] if name == "ours" else [])
root.put_bucket_policy(Bucket="bench", Policy=open(w + "/bucket.json").read())
small = open(w + "/4k.bin", "rb").read()
for i in range(nkeys):
    root.put_object(Bucket="bench", Key="get/k%05d" % i, Body=small)
def target(c, op, key):
    p = urlsplit(c.generate_presigned_url(op, Params={"Bucket": "bench", "Key": key}, ExpiresIn=6 * 3600))
    return p.path + "?" + p.query
for who, c in users:
    for kind, op, fmt in (("put", "put_object", "put/k%05d"), ("get", "get_object", "get/k%05d")):
        with open("%s/%s-%s-%s.txt" % (w, name, who, kind), "w") as out:
            for i in range(nkeys):
                out.write(target(c, op, fmt % i) + "\n")
with open("%s/%s-anon-get.txt" % (w, name), "w") as out:
    for i in range(nkeys):
        out.write("/bench/get/k%05d\n" % i)
for who, _ in users + [("anon", None)]:
    got = urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, open("%s/%s-%s-get.txt" % (w, name, who)).readline().strip())).read()
    assert got == small, who + " GET returned other bytes"
EOF
}
start ours "$JFS_BIN"
SERVERS=(ours)
if [ -x "$JFS_REF" ]; then
	start real "$JFS_REF"
	SERVERS+=(real)
fi

load()
{
	local port=$1 list=$2 method=$3 body=${4:-}
	wrk -t1 -c16 -d"${DUR}s" --timeout 60s -s "$W/s3.lua" "http://127.0.0.1:$port/" \
		-- "$list" "$method" $body >"$W/wrk.out" 2>&1
	awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%.1f %d\n", v["reqs"] / (v["dur_us"] / 1e6), v["bad"] + v["sockerr"] }' "$W/wrk.out"
}

echo "# s3-policy-bench: $ROUNDS rounds, ${DUR}s per load, 16 connections, $(nproc) CPUs; ${SERVERS[*]}"
: >"$W/results"
for r in $(seq 1 "$ROUNDS"); do
	for srv in "${SERVERS[@]}"; do
		port=PORT_$srv
		for who in root user anon; do
			[ -f "$W/$srv-$who-get.txt" ] || continue
			if [ "$who" != anon ]; then
				res=$(load "${!port}" "$W/$srv-$who-put.txt" PUT "$W/4k.bin")
				echo "$srv $who put4k $res" >>"$W/results"
				echo "round $r $srv $who put4k: ops/s bad = $res"
			fi
			res=$(load "${!port}" "$W/$srv-$who-get.txt" GET)
			echo "$srv $who get4k $res" >>"$W/results"
			echo "round $r $srv $who get4k: ops/s bad = $res"
		done
	done
done
python3 - "$W/results" <<'EOF'
import sys, statistics
m, bad = {}, {}
for srv, who, k, ops, nbad in (l.split() for l in open(sys.argv[1])):
    m.setdefault((srv, who, k), []).append(float(ops))
    bad[(srv, who, k)] = bad.get((srv, who, k), 0) + int(nbad)
med = {key: statistics.median(v) for key, v in m.items()}
def cell(*key):
    if key not in med:
        return "-"
    return "%.1f" % med[key] + (" (%d bad)" % bad[key] if bad[key] else "")
def ratio(a, b):
    return "%.3f" % (med[a] / med[b]) if a in med and b in med else "-"
print("\n| load | ours root | ours user | ours anon | real root | real anon | user/root | ours/real root | ours/real anon |")
print("|---|---|---|---|---|---|---|---|---|")
for k in ("put4k", "get4k"):
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (k, cell("ours", "root", k),
          cell("ours", "user", k), cell("ours", "anon", k), cell("real", "root", k),
          cell("real", "anon", k), ratio(("ours", "user", k), ("ours", "root", k)),
          ratio(("ours", "root", k), ("real", "root", k)),
          ratio(("ours", "anon", k), ("real", "anon", k))))
EOF
