#!/usr/bin/env python3
"""Hostile names against an S3 gateway (issue 12 item 6, run by t4301).

  s3-hostile.py populate PORT
      --multi-buckets gateway: buckets alice and bob; bob/secret.txt written
      and deleted (so it sits in the volume's .trash), bob/keep.txt, and a
      multipart upload of bob/mp.bin with one part in flight (in .sys).
      Prints the upload id.
  s3-hostile.py attack PORT MODE DB UPLOAD-ID [DOMAIN]
      MODE multi (buckets alice, bob) or single (one bucket, the volume, named
      by the first bucket ListBuckets gives). DB is the volume's SQLite file,
      read (never written) for the names of the trash entries. Sends every
      operation with hostile names ('..', '.', '//', leading '/', %2e%2e,
      .trash/<hour>/<entry>, .sys/uploads/...) and checks that nothing out of
      the bucket is listed, read, copied, written or deleted. With DOMAIN
      (the gateway's --domain), the same through virtual-host style names:
      Host: .trash.DOMAIN, .sys.DOMAIN, ...DOMAIN.

Prints one line per leak ("LEAK ...") and a summary; the status of every
request goes to stdout as "# STATUS METHOD TARGET" for side-by-side reading.
Exit status: 0 without leaks, 1 with, 2 when the setup itself failed.
"""
import re
import sqlite3
import sys
import urllib.parse

sys.path.insert(0, __import__("os").path.dirname(__file__))
from s3raw import Client, enc  # noqa: E402

TRASH_INO = 9223372032828243968  # JuiceFS's trash inode (0x7FFFFFFF10000000)
SECRET = b"bob's secret, deleted"    # only in .trash
PART = b"PARTDATA-of-bob-in-flight"  # only in .sys/uploads
KEEP = b"bob keeps this"             # bob/keep.txt: bob's, never alice's
ALICE = {"a.txt": b"alice a", "d/b.txt": b"alice b"}

leaks = []
nreq = 0


def q(st, b):
    return re.findall(rb"<Code>([^<]*)", b)[:1]


def populate(port):
    c = Client(port)
    for b in ("alice", "bob"):
        st, _, body = c.request("PUT", "/" + b)
        if st != 200:
            sys.exit("create bucket %s: %d %r" % (b, st, body[:200]))
    for k, v in ALICE.items():
        c.request("PUT", "/alice/" + k, body=v)
    c.request("PUT", "/bob/secret.txt", body=SECRET)
    c.request("PUT", "/bob/keep.txt", body=KEEP)
    st, _, _ = c.request("DELETE", "/bob/secret.txt")
    st, _, body = c.request("POST", "/bob/mp.bin", query=[("uploads", "")])
    uid = re.search(rb"<UploadId>([^<]*)", body).group(1).decode()
    st, _, _ = c.request("PUT", "/bob/mp.bin", query=[("partNumber", "1"), ("uploadId", uid)],
                         body=PART)
    if st != 200:
        sys.exit("upload part: %d" % st)
    print(uid)


def trash_entries(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    rows = con.execute(
        "select cast(h.name as text), cast(e.name as text) from jfs_edge h join jfs_edge e"
        " on e.parent = h.inode where h.parent = ?", (TRASH_INO,)).fetchall()
    con.close()
    return ["%s/%s" % r for r in rows if r[1].endswith("secret.txt")]


def upload_dirs(db, uid):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    n = con.execute("select count(*) from jfs_edge where cast(name as text) = ?",
                    (uid,)).fetchone()[0]
    con.close()
    return n


class Attack:
    def __init__(self, port, mode, db, uid):
        self.c = Client(port)
        self.mode = mode
        st, _, body = self.c.request("GET", "/")
        names = re.findall(rb"<Name>([^<]*)</Name>", body)
        if mode == "multi":
            self.bucket, self.pre = "alice", ""
        else:
            self.bucket, self.pre = names[0].decode(), "alice/"
        self.trash = trash_entries(db)
        self.uid = uid
        if not self.trash:
            sys.exit("no trash entry for bob/secret.txt in %s" % db)
        h = self.trash[0]
        up = ".sys/uploads/%s/%s/1" % (uid[:3], uid)
        if mode == "multi":
            # From bucket alice: its parent is the volume root.
            self.dirty = ["../bob/keep.txt", "../.trash/" + h, "../" + up, "./a.txt",
                          "d/../a.txt", "d/../../bob/keep.txt", "d/./b.txt", "d//b.txt",
                          "/a.txt", "//a.txt", " ../bob/keep.txt", "../bob/./keep.txt",
                          "../../bob/keep.txt", ".. /bob/keep.txt"]
            self.dirty_prefixes = ["../", "../.trash/", "../.sys/", "../bob/", "./", "../../",
                                   "d/../", "d/./", "d//", "//", "/../", "../.sys/uploads/"]
        else:
            self.dirty = [".trash/" + h, up, ".sys/tmp/x", ".trash/", ".sys/uploads/",
                          "alice/../.trash/" + h, "alice/../" + up, "./alice/a.txt",
                          "/alice/a.txt", "alice//a.txt", "../x", ".minio.sys/x"]
            self.dirty_prefixes = [".trash/", ".sys/", ".sys/uploads/", ".trash", ".sys",
                                   "/.trash/", "/.sys/", "alice/../.trash/", "./", "../",
                                   "//", "alice//", ".minio.sys/", "/../.trash/"]

    def req(self, method, path, **kw):
        global nreq
        nreq += 1
        st, h, body = self.c.request(method, path, **kw)
        tgt = path + ("?" + "&".join("%s=%s" % p for p in kw.get("query", ())) if kw.get("query") else "")
        extra = kw.get("headers", {}).get("x-amz-copy-source", "")
        print("# %d %s %s%s %s" % (st, method, tgt, " <- " + extra if extra else "",
                                  b"".join(q(st, body)).decode()))
        return st, h, body

    def leak(self, what, why):
        leaks.append(what)
        print("LEAK %s: %s" % (what, why))

    def check_body(self, what, body):
        for m, name in ((SECRET, "a deleted file from .trash"), (PART, "a part in flight from .sys"),
                        (KEEP if self.mode == "multi" else None, "bob's object through alice")):
            if m and m in body:
                self.leak(what, "body has " + name)

    def own_keys(self):
        """What alice really holds (listed by plain, clean requests)."""
        st, _, body = self.c.request("GET", "/" + self.bucket, query=[("list-type", "2")])
        return set(k.decode() for k in re.findall(rb"<Key>([^<]*)</Key>", body))

    def check_listing(self, what, st, body, keys):
        if st != 200:
            return
        listed = [urllib.parse.unquote(k.decode()) for k in
                  re.findall(rb"<Key>([^<]*)</Key>", body) +
                  re.findall(rb"<CommonPrefixes><Prefix>([^<]*)</Prefix>", body)]
        for k in listed:
            segs = k.split("/")
            if ".trash" in segs[:1] or ".sys" in segs[:1] or ".." in segs or "." in segs or \
                    k.startswith("/") or "" in segs[:-1]:
                self.leak(what, "lists %r" % k)
            elif k not in keys and not any(x.startswith(k) for x in keys):
                self.leak(what, "lists %r, which is no key of the bucket" % k)
        self.check_body(what, body)

    def run(self):
        B = "/" + self.bucket
        # A gateway that cleans names (the real one: d/../a.txt is a.txt) may
        # have deleted these in an earlier run: put them back.
        for k, v in ALICE.items():
            self.c.request("PUT", "%s/%s%s" % (B, self.pre, k), body=v)
        uploads_before = upload_dirs(DB, self.uid)
        keys = self.own_keys()
        if not any(k.endswith("a.txt") for k in keys):
            sys.exit("bucket %s has no a.txt: %r" % (self.bucket, sorted(keys)))
        # ---- listings: every parameter that names keys
        for p in self.dirty_prefixes:
            for extra in ([("list-type", "2")], [], [("versions", "")],
                          [("list-type", "2"), ("delimiter", "/")]):
                st, _, body = self.req("GET", B, query=extra + [("prefix", p)])
                self.check_listing("list prefix=%r %s" % (p, extra), st, body, keys)
            for name in ("start-after", "marker"):
                st, _, body = self.req("GET", B, query=[("list-type", "2"), (name, p)])
                self.check_listing("list %s=%r" % (name, p), st, body, keys)
            st, _, body = self.req("GET", B, query=[("uploads", ""), ("prefix", p)])
            if self.uid.encode() in body or b"mp.bin" in body:
                self.leak("list uploads prefix=%r" % p, "shows bob's upload")
        # ---- object operations by path: raw and with the dots percent-encoded
        for k in self.dirty:
            for path in (B + "/" + k.replace(" ", "%20"), B + "/" + enc(k).replace(".", "%2E"),
                         B + "/" + enc(k, False).replace(".", "%2e")):
                for m in ("GET", "HEAD"):
                    st, _, body = self.req(m, path)
                    if st in (200, 206) and m == "GET":
                        self.check_body("GET %s" % path, body)
                st, _, body = self.req("GET", path, query=[("tagging", "")])
                st, _, body = self.req("GET", path, query=[("attributes", "")],
                                       headers={"x-amz-object-attributes": "ObjectSize"})
                self.check_body("GET %s?attributes" % path, body)
                self.req("PUT", path, query=[("tagging", "")],
                         body=b"<Tagging><TagSet><Tag><Key>x</Key><Value>y</Value></Tag>"
                              b"</TagSet></Tagging>")
                self.req("PUT", path, body=b"HOSTILE-WRITE")
                self.req("DELETE", path)
                st, _, body = self.req("POST", path, query=[("uploads", "")])
                m = re.search(rb"<UploadId>([^<]*)", body)
                if m:
                    uid = m.group(1).decode()
                    self.req("PUT", path, query=[("partNumber", "1"), ("uploadId", uid)],
                             body=b"HOSTILE-WRITE")
                    self.req("POST", path, query=[("uploadId", uid)],
                             body=b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                                  b"</Part></CompleteMultipartUpload>")
                    self.req("DELETE", path, query=[("uploadId", uid)])
            # bob's upload, named through the hostile key
            st, _, body = self.req("GET", B + "/" + k.replace(" ", "%20"),
                                   query=[("uploadId", self.uid)])
            if st == 200:
                self.leak("ListParts %s" % k, "bob's upload listed through alice")
        # ---- copies: CopyObject and UploadPartCopy from hostile sources
        st, _, body = self.req("POST", B + "/" + self.pre + "dst-mp", query=[("uploads", "")])
        muid = re.search(rb"<UploadId>([^<]*)", body).group(1).decode()
        srcs = []
        for k in self.dirty:
            srcs += ["/%s/%s" % (self.bucket, k), "%s/%s" % (self.bucket, k),
                     "/%s/%s" % (self.bucket, enc(k))]
        srcs += ["/.trash/" + self.trash[0], "/%2e%2e/.trash/" + self.trash[0],
                 "/.sys/uploads/%s/%s/1" % (self.uid[:3], self.uid),
                 "/../.trash/" + self.trash[0], "/./alice/a.txt", "//alice/a.txt",
                 "/.trash/" + enc(self.trash[0], False), "/.minio.sys/x"]
        for i, src in enumerate(srcs):
            dst = "%s/%scopied-%d" % (B, self.pre, i)
            self.req("PUT", dst, headers={"x-amz-copy-source": src})
            st, _, body = self.req("GET", dst)
            if st == 200:
                self.check_body("CopyObject from %r" % src, body)
            st, _, body = self.req("PUT", B + "/" + self.pre + "dst-mp",
                                   query=[("partNumber", "1"), ("uploadId", muid)],
                                   headers={"x-amz-copy-source": src})
            if st == 200:
                st, _, body = self.req("POST", B + "/" + self.pre + "dst-mp",
                                       query=[("uploadId", muid)],
                                       body=b"<CompleteMultipartUpload><Part><PartNumber>1"
                                            b"</PartNumber><ETag>%s</ETag></Part>"
                                            b"</CompleteMultipartUpload>" %
                                       re.search(rb"<ETag>([^<]*)", body).group(1))
                st, _, body = self.req("GET", B + "/" + self.pre + "dst-mp")
                self.check_body("UploadPartCopy from %r" % src, body)
                st, _, body = self.req("POST", B + "/" + self.pre + "dst-mp",
                                       query=[("uploads", "")])
                muid = re.search(rb"<UploadId>([^<]*)", body).group(1).decode()
        # ---- virtual-host style: the bucket named by Host
        if DOMAIN and self.mode == "multi":
            for vb in (".trash", ".sys", "..", ".", ".minio.sys", "alice/..", "%2e%2e"):
                host = "%s.%s:%d" % (vb, DOMAIN, self.c.port)
                for path, query in (("/", [("list-type", "2")]),
                                    ("/" + self.trash[0], []),
                                    ("/uploads/%s/%s/1" % (self.uid[:3], self.uid), []),
                                    ("/" + self.trash[0].split("/")[0] + "/", [])):
                    st, _, body = self.req("GET", path, query=query, headers={"host": host})
                    self.check_listing("vhost %s GET %s" % (vb, path), st, body, set())
        # ---- multi-object delete with hostile keys
        xml = b"<Delete>" + b"".join(b"<Object><Key>%s</Key></Object>" % k.encode()
                                     for k in self.dirty) + b"</Delete>"
        self.req("POST", B, query=[("delete", "")], body=xml)
        # ---- afterwards: bob's objects, trash and upload untouched; nothing new outside
        c = self.c
        kb = "/bob/keep.txt" if self.mode == "multi" else "/%s/bob/keep.txt" % self.bucket
        st, _, body = c.request("GET", kb)
        if st != 200 or body != KEEP:
            self.leak("bob/keep.txt after the attack", "%d %r" % (st, body[:60]))
        if self.trash[0] not in trash_entries(DB):
            self.leak("the trash entry after the attack", "gone")
        if upload_dirs(DB, self.uid) != uploads_before:
            self.leak("bob's upload after the attack", "its folder is gone")
        if self.mode == "multi":
            st, _, _ = c.request("GET", "/bob/mp.bin", query=[("uploadId", self.uid)])
            if st != 200:
                self.leak("bob's upload after the attack", "ListParts %d" % st)
        if self.mode == "multi":
            st, _, body = c.request("GET", "/bob", query=[("list-type", "2")])
            bob = set(re.findall(rb"<Key>([^<]*)</Key>", body))
            if bob != {b"keep.txt"}:
                self.leak("bucket bob after the attack", "holds %r" % sorted(bob))
            st, _, body = c.request("GET", "/")
            names = set(re.findall(rb"<Name>([^<]*)</Name>", body))
            if names != {b"alice", b"bob"}:
                self.leak("bucket list after the attack", "%r" % sorted(names))
        else:
            st, _, body = c.request("GET", B, query=[("list-type", "2"), ("delimiter", "/")])
            top = set(re.findall(rb"<Prefix>([^<]*)</Prefix>", body)) - {b""}
            if not top <= {b"alice/", b"bob/"}:
                self.leak("volume root after the attack", "holds %r" % sorted(top))


def compare(ours, real):
    """Requests (method and target) both sent, answered with another status."""
    def load(f):
        d = {}
        for line in open(f, errors="replace"):
            m = re.match(r"# (\d{3}) (\S+) (.*?)(?: \S*)?$", line.rstrip("\n"))
            if m:
                tgt = re.sub(r"/vol(?:ours|ref)\b", "/VOL", m.group(3))
                d.setdefault((m.group(2), tgt), m.group(1))
        return d
    a, b = load(ours), load(real)
    both = [k for k in a if k in b]
    diff = [k for k in both if a[k] != b[k]]
    print("%d of %d requests answered with another status than the real gateway's"
          % (len(diff), len(both)))
    for k in diff[:8]:
        print("  ours %s, real %s: %s %s" % (a[k], b[k], k[0], k[1][:100]))


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if sys.argv[1] == "populate":
        populate(int(sys.argv[2]))
        sys.exit(0)
    port, mode, DB, uid = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    DOMAIN = sys.argv[6] if len(sys.argv) > 6 else None
    Attack(port, mode, DB, uid).run()
    print("SUMMARY %s: %d requests, %d leaks" % (mode, nreq, len(leaks)))
    sys.exit(1 if leaks else 0)
