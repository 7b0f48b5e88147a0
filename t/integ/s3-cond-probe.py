#!/usr/bin/env python3
"""Conditional-request probe for an S3 gateway (used by t4201).

usage: s3-cond-probe.py PORT BUCKET KEY [KEY...]

Sends GET (ranged), HEAD and CopyObject requests with every conditional
header the gateway reads (If-Match, If-None-Match, If-Modified-Since,
If-Unmodified-Since and their x-amz-copy-source- forms), against each key, and
prints one line per request (copies only for objects up to 1 MiB): "<key> <method> <headers> -> <status>". Keys
written without an ETag (through the mount) are probed with the empty ETag
'""' that a listing shows for them. The output of two gateways on the same
objects can be compared line by line.
"""
import sys
import time
import urllib.parse
from email.utils import formatdate

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

port, bucket, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
base = "http://127.0.0.1:%s" % port
creds = Credentials("s3admin", "s3secret123")
sess = requests.Session()


def send(method, path, headers):
    url = base + path
    req = AWSRequest(method=method, url=url, data=b"", headers=dict(headers))
    req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    r = sess.request(method, url, headers=dict(req.headers.items()), data=b"", timeout=30)
    return r


def head(key):
    r = send("HEAD", "/%s/%s" % (bucket, urllib.parse.quote(key)), {})
    return r.headers.get("ETag", ""), int(r.headers.get("Content-Length", "0"))


past = formatdate(time.time() - 86400 * 365, usegmt=True)
future = formatdate(time.time() + 86400 * 365, usegmt=True)

for key in keys:
    path = "/%s/%s" % (bucket, urllib.parse.quote(key))
    etag, size = head(key)
    # what a client holds for this object: its ETag, or '""' when it has none
    held = etag if etag else '""'
    # An empty value is what the aws CLI sends for an object listed with an
    # empty ETag; the real gateway reads it as no condition at all.
    cases = [
        ("If-Match", held), ("If-Match", '"0123abcd"'), ("If-Match", ""),
        ("If-None-Match", held), ("If-None-Match", '"0123abcd"'), ("If-None-Match", ""),
        ("If-Modified-Since", past), ("If-Modified-Since", future),
        ("If-Modified-Since", ""), ("If-Modified-Since", "garbage"),
        ("If-Unmodified-Since", past), ("If-Unmodified-Since", future),
        ("If-Unmodified-Since", ""), ("If-Unmodified-Since", "garbage"),
    ]
    combos = [
        [("If-Match", ""), ("If-Unmodified-Since", past)],
        [("If-None-Match", ""), ("If-Modified-Since", future)],
    ]
    show = {held: "HELD", past: "PAST", future: "FUTURE", "": "EMPTY"}
    for method in ("GET", "HEAD"):
        for hs in [[c] for c in cases] + combos:
            h = dict(hs)
            if method == "GET":
                h["Range"] = "bytes=0-9"
            r = send(method, path, h)
            desc = ";".join("%s=%s" % (k, show.get(v, v)) for k, v in hs)
            print("%s %s %s -> %d" % (key, method, desc, r.status_code))
    # copies are probed on small objects only, to keep the probe quick
    for hs in cases if size <= (1 << 20) else []:
        name, val = hs
        h = {"x-amz-copy-source": "/%s/%s" % (bucket, urllib.parse.quote(key)),
             "x-amz-copy-source-" + name.lower(): val}
        r = send("PUT", "/%s/%s" % (bucket, urllib.parse.quote("probe-copy/" + key)), h)
        desc = "%s=%s" % ("x-amz-copy-source-" + name.lower(),
                          show.get(val, val))
        print("%s COPY %s -> %d" % (key, desc, r.status_code))
