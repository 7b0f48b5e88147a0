#!/usr/bin/env python3
"""Concurrent conditional writes against one key (used by t4306).

usage: s3-cas-race.py PORT BUCKET WRITERS

The gateway runs with JFS_FAULT_S3_COMMIT_SLEEP_MS, so every writer passes
the look at the commit before any of them renames. WRITERS clients then race
with one precondition each time: PutObject If-Match with the same ETag,
PutObject If-None-Match: * for a free key, CompleteMultipartUpload If-Match
with the same ETag. At most one may win (AWS: the first to finish; the
others 412 PreconditionFailed): exactly one 200, the rest 412, and the
object's bytes and ETag are the winner's. Prints TAP-like "ok - ..." /
"not ok - ..." lines.
"""
import hashlib
import re
import sys
import threading

sys.path.insert(0, __import__("os").path.dirname(__file__))
from racegate import check, race  # noqa: E402
from s3raw import Client  # noqa: E402

port, bucket, nw = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
B = "/" + bucket


def code(body):
    m = re.search(rb"<Code>([^<]*)", body)
    return m.group(1).decode() if m else ""


def given_etag(r):
    """The ETag a writer was told: PutObject's header, or Complete's XML."""
    m = re.search(rb"<ETag>([^<]*)</ETag>", r[2])
    if m:
        return m.group(1).decode().replace("&quot;", '"').replace("&#34;", '"')
    return r[1].get("etag")


def judge(what, key, results, bodies):
    """Exactly one 200, the rest 412; the stored object is the winner's."""
    c = Client(port)
    wins = [i for i, r in enumerate(results) if r[0] == 200]
    lost = [r for r in results if r[0] == 412 and code(r[2]) == "PreconditionFailed"]
    check("%s: exactly one of %d writers gets 200" % (what, len(results)), len(wins) == 1,
          [(r[0], code(r[2])) for r in results])
    check("%s: the other %d get 412 PreconditionFailed" % (what, len(results) - 1),
          len(lost) == len(results) - 1, [(r[0], code(r[2])) for r in results])
    st, h, body = c.request("GET", B + "/" + key)
    if len(wins) != 1:
        check("%s: the object is one writer's" % what, body in bodies, body[:60])
        return None
    w = wins[0]
    check("%s: the object's bytes are the winner's" % what, st == 200 and body == bodies[w],
          "%d %r, winner %r" % (st, body[:60], bodies[w][:60]))
    check("%s: the object's ETag is the one the winner was given" % what,
          h.get("etag") == given_etag(results[w]),
          "%r vs %r" % (h.get("etag"), given_etag(results[w])))
    return given_etag(results[w])


c = Client(port)

# ---- PutObject If-Match, all with the same ETag
c.request("PUT", B + "/cas", body=b"base")
e0 = c.request("HEAD", B + "/cas")[1].get("etag", "")
check("base object written", e0 == '"%s"' % hashlib.md5(b"base").hexdigest(), e0)
bodies = [("put writer %d " % i).encode() * (i + 1) for i in range(nw)]


def put_if_match(i, etag):
    return lambda: Client(port).request("PUT", B + "/cas", body=bodies[i],
                                        headers={"If-Match": etag})


e1 = judge("PUT If-Match", "cas", race([put_if_match(i, e0) for i in range(nw)]), bodies)
if e1:
    check("PUT If-Match with the winner's ETag still succeeds",
          c.request("PUT", B + "/cas", body=b"next", headers={"If-Match": e1})[0] == 200)
    st, _, body = c.request("PUT", B + "/cas", body=b"stale", headers={"If-Match": e0})
    check("PUT If-Match with the first ETag now: 412", st == 412, "%d %s" % (st, code(body)))

# ---- PutObject If-Match while the object is deleted: the PUT must not bring it
# back. The DELETE is sent well inside the commit's sleep; wherever it lands
# before the rename, the answer is 404 NoSuchKey and the key stays empty.
c.request("PUT", B + "/del", body=b"doomed")
ed = c.request("HEAD", B + "/del")[1].get("etag", "")
res = []
t = threading.Thread(target=lambda: res.append(
    Client(port).request("PUT", B + "/del", body=b"late", headers={"If-Match": ed})))
t.start()
threading.Event().wait(0.3)
c.request("DELETE", B + "/del")
t.join()
check("PUT If-Match racing a DELETE: 404 NoSuchKey", res and res[0][0] == 404 and
      code(res[0][2]) == "NoSuchKey", res and (res[0][0], code(res[0][2])))
check("... and the deleted key stays deleted", c.request("HEAD", B + "/del")[0] == 404)

# ---- PutObject If-None-Match: * for a free key
c.request("DELETE", B + "/fresh")
nbodies = [("new writer %d " % i).encode() * (i + 2) for i in range(nw)]


def put_if_none(i):
    return lambda: Client(port).request("PUT", B + "/fresh", body=nbodies[i],
                                        headers={"If-None-Match": "*"})


judge("PUT If-None-Match: *", "fresh", race([put_if_none(i) for i in range(nw)]), nbodies)

# ---- CompleteMultipartUpload If-Match, all with the same ETag
e2 = c.request("HEAD", B + "/cas")[1].get("etag", "")
mbodies, xmls, uids = [], [], []
for i in range(nw):
    st, _, body = c.request("POST", B + "/cas", query=[("uploads", "")])
    uid = re.search(rb"<UploadId>([^<]*)", body).group(1).decode()
    mb = ("multipart writer %d " % i).encode() * (i + 3)
    st, h, _ = c.request("PUT", B + "/cas", query=[("partNumber", "1"), ("uploadId", uid)],
                         body=mb)
    mbodies.append(mb)
    uids.append(uid)
    xmls.append(("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
                 "</Part></CompleteMultipartUpload>" % h.get("etag", "")).encode())


def complete_if_match(i, etag):
    return lambda: Client(port).request("POST", B + "/cas", query=[("uploadId", uids[i])],
                                        body=xmls[i], headers={"If-Match": etag})


judge("Complete If-Match", "cas", race([complete_if_match(i, e2) for i in range(nw)]), mbodies)
for u in uids:
    c.request("DELETE", B + "/cas", query=[("uploadId", u)])

# ---- CopyObject onto a destination with If-Match / If-None-Match
csrc = []
for i in range(nw):
    b = ("copy source %d " % i).encode() * (i + 4)
    c.request("PUT", B + "/csrc-%d" % i, body=b)
    csrc.append(b)


def copy(i, key, headers):
    h = {"x-amz-copy-source": "%s/csrc-%d" % (B, i)}
    h.update(headers)
    return Client(port).request("PUT", B + "/" + key, headers=h)


st, _, body = copy(0, "cas", {"If-None-Match": "*"})
check("CopyObject If-None-Match: * over an object: 412", st == 412 and
      code(body) == "PreconditionFailed", "%d %s" % (st, code(body)))
st, _, body = copy(0, "cas", {"If-Match": '"0123456789abcdef0123456789abcdef"'})
check("CopyObject If-Match with another ETag: 412", st == 412 and
      code(body) == "PreconditionFailed", "%d %s" % (st, code(body)))
c.request("DELETE", B + "/nocopy")
st, _, body = copy(0, "nocopy", {"If-Match": '"0123456789abcdef0123456789abcdef"'})
check("CopyObject If-Match of a key with no object: 404", st == 404 and
      code(body) == "NoSuchKey", "%d %s" % (st, code(body)))
check("... and nothing is copied", c.request("HEAD", B + "/nocopy")[0] == 404)
e3 = c.request("HEAD", B + "/cas")[1].get("etag", "")
judge("CopyObject If-Match", "cas",
      race([(lambda i=i: copy(i, "cas", {"If-Match": e3})) for i in range(nw)]), csrc)
c.request("DELETE", B + "/cfresh")
judge("CopyObject If-None-Match: *", "cfresh",
      race([(lambda i=i: copy(i, "cfresh", {"If-None-Match": "*"})) for i in range(nw)]), csrc)
