#!/usr/bin/env python3
"""Page through a ListObjectsV2 (or v1) listing and time every page.

Usage: s3-list-bench.py PORT BUCKET PREFIX [MAXKEYS] [DELIM] [V]

Each page is one presigned GET (made by botocore, so the signing cost stays
out of the timed part) read with http.client on one kept-alive connection;
the next token (v2) or marker (v1) is cut from the XML with a regular
expression, so the client's own cost per page is small beside the server's.
Prints one JSON line: keys, prefixes, pages, total seconds, per-page seconds,
and the SHA-256 of the listed keys in order (so that two servers' listings of
the same volume can be compared).
"""
import hashlib
import http.client
import json
import re
import sys
import time
import urllib.parse

import boto3
from botocore.config import Config

port, bucket, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
maxkeys = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
delim = sys.argv[5] if len(sys.argv) > 5 else ""
v1 = len(sys.argv) > 6 and sys.argv[6] == "1"

s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port,
                  aws_access_key_id="benchadmin", aws_secret_access_key="benchsecret123",
                  region_name="us-east-1", config=Config(signature_version="s3v4",
                                                s3={"addressing_style": "path"}))
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)
KEY = re.compile(rb"<Key>([^<]*)</Key>")
PFX = re.compile(rb"<CommonPrefixes><Prefix>([^<]*)</Prefix>")
NEXT = re.compile(rb"<Next(?:ContinuationToken|Marker)>([^<]*)</Next")
TRUNC = re.compile(rb"<IsTruncated>true</IsTruncated>")

params = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": maxkeys}
if delim:
    params["Delimiter"] = delim
h = hashlib.sha256()
nkeys = npfx = 0
times = []
token = None
t0 = time.monotonic()
while True:
    p = dict(params)
    if token is not None:
        p["Marker" if v1 else "ContinuationToken"] = token
    url = s3.generate_presigned_url("list_objects" if v1 else "list_objects_v2", Params=p,
                                    ExpiresIn=3600)
    u = urllib.parse.urlsplit(url)
    t1 = time.monotonic()
    conn.request("GET", u.path + "?" + u.query)
    r = conn.getresponse()
    body = r.read()
    times.append(time.monotonic() - t1)
    if r.status != 200:
        sys.exit("page %d: HTTP %d %s" % (len(times), r.status, body[:300]))
    keys = KEY.findall(body)
    pfx = PFX.findall(body)
    for k in keys:
        h.update(k + b"\n")
    for k in pfx:
        h.update(b"P" + k + b"\n")
    nkeys += len(keys)
    npfx += len(pfx)
    if not TRUNC.search(body):
        break
    m = NEXT.search(body)
    if m:
        token = m.group(1).decode()
    elif v1:
        last = (keys + pfx)[-1] if keys or pfx else b""
        token = last.decode()
    else:
        sys.exit("truncated page without a next token")
    if len(times) > 100000:
        sys.exit("too many pages")
total = time.monotonic() - t0
print(json.dumps({"keys": nkeys, "prefixes": npfx, "pages": len(times), "total": total,
                  "pages_s": times, "sha": h.hexdigest()}))
