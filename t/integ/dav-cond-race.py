#!/usr/bin/env python3
"""Concurrent conditional writes through WebDAV (used by t4203).

usage: dav-cond-race.py PORT USER PASSWORD WRITERS

The server runs with JFS_FAULT_DAV_COMMIT_SLEEP_MS, so every request passes
its look before any of them renames. WRITERS clients race each time: PUT
with an If header naming the file's one ETag, MOVE and COPY of distinct
sources onto one free name with Overwrite: F. At most one may win: exactly
one 2xx, the rest 412, and the result is the winner's bytes. Then a MOVE
and a DELETE whose If header names a file's ETag while a plain PUT
replaces that file: 412, and the new file stays where it was. Prints
"ok - ..." / "not ok - ..." lines.
"""
import base64
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from racegate import check, race  # noqa: E402

port, user, pw, nw = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
AUTH = "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def req(method, path, body=b"", headers=None):
    h = {"Authorization": AUTH, "Content-Length": str(len(body))}
    h.update(headers or {})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def judge(what, path, results, bodies):
    wins = [i for i, r in enumerate(results) if 200 <= r[0] < 300]
    st = [r[0] for r in results]
    check("%s: exactly one of %d gets 2xx" % (what, len(results)), len(wins) == 1, st)
    check("%s: the other %d get 412" % (what, len(results) - 1),
          st.count(412) == len(results) - 1, st)
    got = req("GET", path)
    if len(wins) == 1:
        check("%s: the file is the winner's bytes" % what,
              got[0] == 200 and got[2] == bodies[wins[0]], "%d %r" % (got[0], got[2][:60]))
    else:
        check("%s: the file is one writer's bytes" % what, got[2] in bodies, got[2][:60])
    return wins


# ---- PUT with If: (["etag"]) of the file, all with the same ETag
req("PUT", "/f", b"base")
et = req("HEAD", "/f")[1].get("etag", "")
check("base file written, with an ETag", req("GET", "/f")[2] == b"base" and et, et)
bodies = [("dav writer %d " % i).encode() * (i + 1) for i in range(nw)]
judge("PUT If ETag", "/f",
      race([(lambda i=i: req("PUT", "/f", bodies[i], {"If": "([%s])" % et}))
            for i in range(nw)]), bodies)
et2 = req("HEAD", "/f")[1].get("etag", "")
st = req("PUT", "/f", b"stale", {"If": "([%s])" % et})[0]
check("PUT with the first ETag now: 412", st == 412, st)
st = req("PUT", "/f", b"next", {"If": "([%s])" % et2})[0]
check("PUT with the current ETag: 204", st == 204, st)

# ---- MOVE and COPY onto one free name with Overwrite: F
for verb in ("MOVE", "COPY"):
    req("DELETE", "/dst-" + verb)
    srcs = []
    for i in range(nw):
        b = ("%s source %d " % (verb, i)).encode() * (i + 2)
        req("PUT", "/src-%s-%d" % (verb, i), b)
        srcs.append(b)
    res = race([(lambda i=i: req(verb, "/src-%s-%d" % (verb, i), b"",
                                 {"Destination": "http://127.0.0.1:%d/dst-%s" % (port, verb),
                                  "Overwrite": "F"})) for i in range(nw)])
    wins = judge("%s Overwrite: F" % verb, "/dst-" + verb, res, srcs)
    if verb == "MOVE":
        left = [i for i in range(nw) if req("HEAD", "/src-MOVE-%d" % i)[0] == 200]
        check("MOVE: every loser's source is still there",
              sorted(left) == sorted(set(range(nw)) - set(wins)), left)


# ---- MOVE and DELETE with If: (["etag"]) of the source, while a plain PUT
# replaces it: the ETag named the old file, so neither may act on the new one
def replaced_under(verb, path, headers):
    req("PUT", path, b"old " + verb.encode())
    et = req("HEAD", path)[1].get("etag", "")
    h = {"If": "([%s])" % et}
    h.update(headers)
    out = []
    t = threading.Thread(target=lambda: out.append(req(verb, path, b"", h)))
    t.start()
    time.sleep(0.5)  # the conditional request is past its look, asleep
    put = req("PUT", path, b"new " + verb.encode())[0]
    t.join()
    st = out[0][0] if out else 0
    check("%s If ETag, source replaced meanwhile: 412" % verb, st == 412, (st, put))
    got = req("GET", path)
    check("%s If ETag: the replacing file is left in place" % verb,
          got[0] == 200 and got[2] == b"new " + verb.encode(), (got[0], got[2][:40]))


replaced_under("MOVE", "/mv-src", {"Destination": "http://127.0.0.1:%d/mv-dst" % port})
st = req("HEAD", "/mv-dst")[0]
check("MOVE If ETag: nothing moved to the destination", st == 404, st)
replaced_under("DELETE", "/del-f", {})
