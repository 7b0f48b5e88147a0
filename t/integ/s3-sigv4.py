#!/usr/bin/env python3
"""SigV4 signed by hand (issue 12 item 7, run by t4302).

  s3-sigv4.py PORT BUCKET

Host must be in SignedHeaders, for header and presigned (query) auth alike,
or the request is refused as AWS and MinIO refuse it (400 AccessDenied "There
were headers present in the request which were not signed"); an empty list is
MissingFields; a signed header the request does not carry is refused; a Host
changed after signing does not match. Prints "ok"/"not ok" per check and
exits 1 when one fails.
"""
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from s3raw import Client  # noqa: E402

port, bucket = int(sys.argv[1]), sys.argv[2]
c = Client(port)
failed = 0


def code(body):
    m = re.search(rb"<Code>([^<]*)", body)
    return m.group(1).decode() if m else ""


def check(desc, got, want_status, want_code=None):
    global failed
    st, _, body = got
    ok = st == want_status and (want_code is None or code(body) == want_code)
    failed += not ok
    print("%s - %s: %d %s" % ("ok" if ok else "not ok", desc, st, code(body)))


def set_q(q, name, value):
    for i, (k, _) in enumerate(q):
        if k == name:
            q[i] = (name, value)


B = "/" + bucket
K = B + "/sigv4-object"
check("header auth, host signed", c.request("PUT", K, body=b"v1"), 200)
check("presigned GET, host signed", c.request("GET", K, presign=True), 200)
check("header auth without host signed",
      c.request("GET", B, query=[("list-type", "2")], drop_host=True), 400, "AccessDenied")
check("PUT without host signed",
      c.request("PUT", K, body=b"v2", drop_host=True), 400, "AccessDenied")
st, _, body = c.request("GET", K)
check("... and the object was not replaced", (200 if body == b"v1" else 500, {}, b""), 200)
check("header auth signing only x-amz-date",
      c.request("GET", B, signed=["x-amz-date"]), 400, "AccessDenied")
check("presigned without host signed",
      c.request("GET", K, presign=True, headers={"x-amz-meta-q": "1"}, signed=["x-amz-meta-q"]),
      400, "AccessDenied")
check("presigned with an empty X-Amz-SignedHeaders",
      c.request("GET", K, presign=True, tamper=lambda h, q: set_q(q, "X-Amz-SignedHeaders", "")),
      400, "MissingFields")
check("a signed header the request does not carry",
      c.request("GET", K, headers={"x-amz-meta-gone": "1"},
                tamper=lambda h, q: h.pop("x-amz-meta-gone")), 400, "AccessDenied")
check("Host changed after signing",
      c.request("GET", K, tamper=lambda h, q: h.__setitem__("host", "evil.example:%d" % port)),
      403, "SignatureDoesNotMatch")
check("header auth with host and x-amz-* signed still works",
      c.request("GET", K, headers={"x-amz-meta-x": "y"}), 200)
sys.exit(1 if failed else 0)
