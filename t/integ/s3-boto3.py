#!/usr/bin/env python3
"""S3 behaviour checks with boto3 against a gateway (ours or the reference).

Usage: s3-boto3.py ENDPOINT ACCESS SECRET BUCKET-MODE
  BUCKET-MODE "multi": the script creates and deletes its own buckets;
  otherwise it is the name of the single bucket to use.
Prints "PASS desc" / "FAIL desc: why" lines (t4001 turns them into TAP) and
never stops at the first failure. Hand-signed requests (SigV4 written here
from the AWS documentation, independent of ours) cover what boto3 does not
send: aws-chunked streaming uploads, clock skew, anonymous and raw bodies.
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import sys
import threading
import time
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

EP, AK, SK, MODE = sys.argv[1:5]
HOST = urllib.parse.urlparse(EP).netloc
cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"},
             retries={"max_attempts": 1}, max_pool_connections=32)
try:
    cfg = cfg.merge(Config(request_checksum_calculation="when_required",
                           response_checksum_validation="when_required"))
except TypeError:
    pass
s3 = boto3.client("s3", endpoint_url=EP, aws_access_key_id=AK, aws_secret_access_key=SK,
                  region_name="us-east-1", config=cfg)
fails = 0


def res(ok, desc, why=""):
    global fails
    if ok:
        print("PASS " + desc)
    else:
        fails += 1
        print("FAIL %s: %s" % (desc, str(why)[:300]))
    sys.stdout.flush()


def code_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
        return "OK"
    except ClientError as e:
        return e.response.get("Error", {}).get("Code") or str(
            e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def expect_code(desc, want, fn, *a, **kw):
    got = code_of(fn, *a, **kw)
    res(got == want, "%s -> %s" % (desc, want), "got %s" % got)


# ---------------------------------------------------------------- raw SigV4
def _hm(k, m):
    return hmac.new(k, m.encode(), hashlib.sha256).digest()


def skey(date):
    k = _hm(("AWS4" + SK).encode(), date)
    for p in ("us-east-1", "s3", "aws4_request"):
        k = _hm(k, p)
    return k


def q(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def raw(method, path, query="", headers=None, body=b"", payload=None, when=None,
        secret_ok=True, sign=True):
    """A hand-signed request; returns (status, headers, body)."""
    headers = dict(headers or {})
    t = when or datetime.datetime.now(datetime.timezone.utc)
    amz = t.strftime("%Y%m%dT%H%M%SZ")
    date = amz[:8]
    if payload is None:
        payload = hashlib.sha256(body).hexdigest()
    headers["host"] = HOST
    headers["x-amz-date"] = amz
    headers["x-amz-content-sha256"] = payload
    if sign:
        names = sorted(h.lower() for h in headers)
        canon_h = "".join("%s:%s\n" % (n, str(headers[[k for k in headers if k.lower() == n][0]]).strip())
                          for n in names)
        pairs = sorted((q(k), q(v)) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True))
        cq = "&".join("%s=%s" % kv for kv in pairs)
        creq = "\n".join([method, q(urllib.parse.unquote(path), "/-_.~"), cq, canon_h,
                          ";".join(names), payload])
        scope = "%s/us-east-1/s3/aws4_request" % date
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
        k = skey(date) if secret_ok else skey("19990101")
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                                    % (AK, scope, ";".join(names), sig))
        headers["_sig"] = sig
        headers["_amz"] = amz
        headers["_scope"] = scope
    sig = headers.pop("_sig", None)
    amz_ = headers.pop("_amz", None)
    scope_ = headers.pop("_scope", None)
    if callable(body):
        body = body(sig, amz_, scope_, skey(date))
    c = http.client.HTTPConnection(HOST, timeout=30)
    c.request(method, path + ("?" + query if query else ""), body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


def chunked_body(payload, chunk, tamper=False):
    """aws-chunked body with per-chunk signatures (AWS SigV4 streaming)."""
    def build(seed, amz, scope, key):
        out = []
        prev = seed
        pieces = [payload[i:i + chunk] for i in range(0, len(payload), chunk)] + [b""]
        for n, p in enumerate(pieces):
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz, scope, prev,
                             hashlib.sha256(b"").hexdigest(), hashlib.sha256(p).hexdigest()])
            sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            if tamper and n == 1:
                sig = "0" * 64
            out.append(b"%x;chunk-signature=%s\r\n" % (len(p), sig.encode()) + p + b"\r\n")
            prev = sig
        return b"".join(out)
    return build


def err_code(data):
    s = data.decode(errors="replace")
    i = s.find("<Code>")
    return s[i + 6:s.find("</Code>")] if i >= 0 else ""



# ---------------------------------------------------------------- runner
# Each section below runs on its own: an exception (a call the server does
# not implement, say) fails that section and the script goes on.
SECTIONS = r"""
# ---------------------------------------------------------------- setup
if MODE == "multi":
    B = "boto-%d" % (int(time.time()) % 100000)
    expect_code("CreateBucket", "OK", s3.create_bucket, Bucket=B)
    expect_code("CreateBucket again", "BucketAlreadyOwnedByYou", s3.create_bucket, Bucket=B)
    expect_code("CreateBucket bad name", "InvalidBucketName", s3.create_bucket, Bucket="Bad_Name")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    res(B in names, "ListBuckets shows the new bucket", names)
else:
    B = MODE
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    res(names == [B], "ListBuckets is the volume", names)

expect_code("HeadBucket", "OK", s3.head_bucket, Bucket=B)
# Encryption we do not do must be refused, never stored as plain text.
expect_code("PutObject with SSE-KMS", "NotImplemented", s3.put_object, Bucket=B,
            Key="sse-kms", Body=b"secret", ServerSideEncryption="aws:kms")
expect_code("SSE-refused object was not stored", "404", s3.head_object, Bucket=B, Key="sse-kms")
# SSE-C over plain HTTP is refused before anything else looks at it (400
# InvalidRequest, as AWS and the real gateway answer: the key must not travel
# in clear), malformed or not, on every call that can carry it.
key32 = b"k" * 32
expect_code("SSE-C with a key MD5 that does not match, over HTTP", "InvalidRequest",
            s3.put_object, Bucket=B, Key="sse-c", Body=b"x", SSECustomerAlgorithm="AES256",
            SSECustomerKey=base64.b64encode(key32).decode(),
            SSECustomerKeyMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode())
expect_code("SSE-C well formed, over HTTP", "InvalidRequest", s3.put_object, Bucket=B,
            Key="sse-c", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=key32.decode())
expect_code("SSE-C on CreateMultipartUpload, over HTTP", "InvalidRequest",
            s3.create_multipart_upload, Bucket=B, Key="sse-c", SSECustomerAlgorithm="AES256",
            SSECustomerKey=key32.decode())
expect_code("SSE-C on GetObject, over HTTP", "InvalidRequest", s3.get_object, Bucket=B,
            Key="sse-c", SSECustomerAlgorithm="AES256", SSECustomerKey=key32.decode())
st, _, data = raw("PUT", "/%s/sse-c" % B, body=b"x", headers={
    "x-amz-copy-source-server-side-encryption-customer-algorithm": "AES256"})
res(st == 400 and err_code(data) == "InvalidRequest",
    "copy-source SSE-C header alone, over HTTP -> InvalidRequest", (st, err_code(data)))
expect_code("object retention on a bucket without object lock", "InvalidRequest",
            s3.get_object_retention, Bucket=B, Key="sse-c")
st, _, data = raw("GET", "/%s" % B, query="policyStatus")
res(st == 200 and b"<PolicyStatus" in data and b"<IsPublic>false</IsPublic>" in data,
    "GetBucketPolicyStatus answers IsPublic, not a listing", (st, data[:200]))
expect_code("HeadBucket missing", "404", s3.head_bucket, Bucket="no-such-bucket-x")
expect_code("ListObjects missing bucket", "NoSuchBucket", s3.list_objects, Bucket="no-such-bucket-x")
loc = s3.get_bucket_location(Bucket=B).get("LocationConstraint")
res(loc in (None, "", "us-east-1"), "GetBucketLocation", loc)
v = s3.get_bucket_versioning(Bucket=B)
res("Status" not in v, "GetBucketVersioning: not enabled", v)

# ---------------------------------------------------------------- put/get, metadata
body = b"0123456789" * 1000
r = s3.put_object(Bucket=B, Key="obj/one", Body=body, ContentType="text/x-test",
                  ContentDisposition="attachment", CacheControl="max-age=5",
                  ContentEncoding="identity", Expires=datetime.datetime(2030, 1, 1),
                  Metadata={"color": "blue"})
etag = r["ETag"].strip('"')
res(etag == hashlib.md5(body).hexdigest(), "PutObject ETag is the MD5", etag)
h = s3.head_object(Bucket=B, Key="obj/one")
res(h["ContentLength"] == len(body) and h["ContentType"] == "text/x-test"
    and h.get("ContentDisposition") == "attachment" and h.get("CacheControl") == "max-age=5"
    and h.get("ContentEncoding") == "identity" and h["Metadata"] == {"color": "blue"}
    and h.get("Expires") is not None,
    "HeadObject: persisted headers and x-amz-meta", h)
g = s3.get_object(Bucket=B, Key="obj/one", ResponseContentType="x/override",
                  ResponseContentDisposition="inline", ResponseCacheControl="no-cache")
res(g["Body"].read() == body and g["ContentType"] == "x/override"
    and g["ContentDisposition"] == "inline" and g["CacheControl"] == "no-cache",
    "GetObject with response-* overrides", {k: g.get(k) for k in ("ContentType", "ContentDisposition")})
# GET/HEAD ?partNumber=: an object here is one part whatever made it (the
# parts' sizes are not kept), so part 1 is all of it and any other part is
# 416 InvalidPartNumber, as the real gateway answers; never the whole object
# again for part 2, which a parallel part-wise download would splice in.
g = s3.get_object(Bucket=B, Key="obj/one", PartNumber=1)
res(g["Body"].read() == body and g["ContentLength"] == len(body),
    "GetObject partNumber=1 is the whole object", g["ContentLength"])
expect_code("GetObject partNumber=2 of a one-part object", "InvalidPartNumber", s3.get_object,
            Bucket=B, Key="obj/one", PartNumber=2)
expect_code("HeadObject partNumber=2 of a one-part object", "416", s3.head_object,
            Bucket=B, Key="obj/one", PartNumber=2)
expect_code("GetObject with both Range and partNumber", "InvalidRequest", s3.get_object,
            Bucket=B, Key="obj/one", PartNumber=1, Range="bytes=0-1")
for pn in ("0", "abc", "10001"):
    st, _, data = raw("GET", "/%s/obj/one" % B, query="partNumber=" + pn)
    res(st == 400 and err_code(data) == "InvalidArgument",
        "GetObject partNumber=%s -> InvalidArgument" % pn, (st, err_code(data)))
expect_code("GetObject missing", "NoSuchKey", s3.get_object, Bucket=B, Key="obj/none")
expect_code("HeadObject missing", "404", s3.head_object, Bucket=B, Key="obj/none")
expect_code("GetObject of a directory name", "NoSuchKey", s3.get_object, Bucket=B, Key="obj")
s3.put_object(Bucket=B, Key="empty", Body=b"")
res(s3.get_object(Bucket=B, Key="empty")["Body"].read() == b"", "empty object round trip")

# overwrite keeps the new one; a failed upload (bad MD5) leaves the old intact
s3.put_object(Bucket=B, Key="obj/one", Body=b"new")
res(s3.get_object(Bucket=B, Key="obj/one")["Body"].read() == b"new", "overwrite")
bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
expect_code("Content-MD5 mismatch", "BadDigest", s3.put_object, Bucket=B, Key="obj/one",
            Body=b"payload", ContentMD5=bad_md5)
res(s3.get_object(Bucket=B, Key="obj/one")["Body"].read() == b"new",
    "failed upload leaves the old object")
expect_code("Content-MD5 invalid", "InvalidDigest", s3.put_object, Bucket=B, Key="obj/x",
            Body=b"payload", ContentMD5="notbase64")

# ---------------------------------------------------------------- ranges
s3.put_object(Bucket=B, Key="r", Body=body)
for rng, want in (("bytes=0-9", body[0:10]), ("bytes=10-", body[10:]), ("bytes=-7", body[-7:]),
                  ("bytes=9990-20000", body[9990:])):
    g = s3.get_object(Bucket=B, Key="r", Range=rng)
    res(g["Body"].read() == want and g["ResponseMetadata"]["HTTPStatusCode"] == 206,
        "ranged GET " + rng, g.get("ContentRange"))
expect_code("range past the end", "InvalidRange", s3.get_object, Bucket=B, Key="r",
            Range="bytes=20000-")
g = s3.get_object(Bucket=B, Key="r", Range="bytes=5-2")
res(g["ResponseMetadata"]["HTTPStatusCode"] == 200, "invalid range is ignored")

# ---------------------------------------------------------------- conditionals
et = '"%s"' % hashlib.md5(body).hexdigest()
past = datetime.datetime(2000, 1, 1)
future = datetime.datetime.now() + datetime.timedelta(days=1)
expect_code("If-Match ok", "OK", s3.get_object, Bucket=B, Key="r", IfMatch=et)
expect_code("If-Match mismatch", "PreconditionFailed", s3.get_object, Bucket=B, Key="r", IfMatch='"x"')
expect_code("If-None-Match match", "304", s3.get_object, Bucket=B, Key="r", IfNoneMatch=et)
expect_code("If-Modified-Since future", "304", s3.get_object, Bucket=B, Key="r", IfModifiedSince=future)
expect_code("If-Modified-Since past", "OK", s3.get_object, Bucket=B, Key="r", IfModifiedSince=past)
expect_code("If-Unmodified-Since past", "PreconditionFailed", s3.get_object, Bucket=B, Key="r",
            IfUnmodifiedSince=past)

# ---------------------------------------------------------------- copy
s3.put_object(Bucket=B, Key="src", Body=b"copy me", Metadata={"a": "1"}, ContentType="text/a")
r = s3.copy_object(Bucket=B, Key="dst/copy", CopySource={"Bucket": B, "Key": "src"})
h = s3.head_object(Bucket=B, Key="dst/copy")
res(s3.get_object(Bucket=B, Key="dst/copy")["Body"].read() == b"copy me"
    and h["Metadata"] == {"a": "1"} and h["ContentType"] == "text/a"
    and r["CopyObjectResult"]["ETag"] == h["ETag"], "CopyObject COPY directive", h)
s3.copy_object(Bucket=B, Key="dst/copy2", CopySource={"Bucket": B, "Key": "src"},
               MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="text/b")
h = s3.head_object(Bucket=B, Key="dst/copy2")
res(h["Metadata"] == {"b": "2"} and h["ContentType"] == "text/b", "CopyObject REPLACE", h)
expect_code("copy onto itself without REPLACE", "InvalidRequest", s3.copy_object, Bucket=B,
            Key="src", CopySource={"Bucket": B, "Key": "src"})
expect_code("copy of a missing source", "NoSuchKey", s3.copy_object, Bucket=B, Key="d",
            CopySource={"Bucket": B, "Key": "nope"})
expect_code("copy-source-if-match mismatch", "PreconditionFailed", s3.copy_object, Bucket=B,
            Key="d", CopySource={"Bucket": B, "Key": "src"}, CopySourceIfMatch='"zz"')
s3.put_object(Bucket=B, Key="src", Body=b"changed")
res(s3.get_object(Bucket=B, Key="dst/copy")["Body"].read() == b"copy me",
    "copy is independent of the source")

# ---------------------------------------------------------------- tagging
s3.put_object_tagging(Bucket=B, Key="src", Tagging={"TagSet": [{"Key": "k1", "Value": "v 1"},
                                                               {"Key": "k&2", "Value": "="}]})
t = s3.get_object_tagging(Bucket=B, Key="src")["TagSet"]
res(sorted((x["Key"], x["Value"]) for x in t) == [("k&2", "="), ("k1", "v 1")], "tagging round trip", t)
res(s3.head_object(Bucket=B, Key="src").get("ResponseMetadata", {}).get("HTTPHeaders", {})
    .get("x-amz-tagging-count") == "2", "x-amz-tagging-count")
s3.delete_object_tagging(Bucket=B, Key="src")
res(s3.get_object_tagging(Bucket=B, Key="src")["TagSet"] == [], "DeleteObjectTagging")
s3.put_object(Bucket=B, Key="tagged", Body=b"x", Tagging="a=b&c=d")
res(len(s3.get_object_tagging(Bucket=B, Key="tagged")["TagSet"]) == 2, "x-amz-tagging on PUT")
expect_code("too many tags", "InvalidTag", s3.put_object_tagging, Bucket=B, Key="src",
            Tagging={"TagSet": [{"Key": "k%d" % i, "Value": "v"} for i in range(11)]})

# ---------------------------------------------------------------- multipart
mp = s3.create_multipart_upload(Bucket=B, Key="mp/obj", ContentType="text/mp", Metadata={"m": "1"})
uid = mp["UploadId"]
p1 = b"a" * (5 << 20)
p2 = b"b" * 1000
e1 = s3.upload_part(Bucket=B, Key="mp/obj", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
e2 = s3.upload_part(Bucket=B, Key="mp/obj", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
lp = s3.list_parts(Bucket=B, Key="mp/obj", UploadId=uid)
res([p["PartNumber"] for p in lp["Parts"]] == [1, 2] and lp["Parts"][0]["Size"] == len(p1),
    "ListParts", lp.get("Parts"))
ups = s3.list_multipart_uploads(Bucket=B).get("Uploads", [])
res([u["UploadId"] for u in ups] == [uid], "ListMultipartUploads", ups)
lst = s3.list_objects_v2(Bucket=B, Prefix="").get("Contents", [])
res(not any(".sys" in o["Key"] for o in lst), "parts hidden from listings")
expect_code("Complete: wrong part ETag", "InvalidPart", s3.complete_multipart_upload, Bucket=B,
            Key="mp/obj", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": '"00"'}]})
expect_code("Complete: parts out of order", "InvalidPartOrder", s3.complete_multipart_upload,
            Bucket=B, Key="mp/obj", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
small = s3.create_multipart_upload(Bucket=B, Key="mp/small")["UploadId"]
s1 = s3.upload_part(Bucket=B, Key="mp/small", UploadId=small, PartNumber=1, Body=b"x")["ETag"]
s2 = s3.upload_part(Bucket=B, Key="mp/small", UploadId=small, PartNumber=2, Body=b"y")["ETag"]
expect_code("Complete: part too small", "EntityTooSmall", s3.complete_multipart_upload, Bucket=B,
            Key="mp/small", UploadId=small,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": s1}, {"PartNumber": 2, "ETag": s2}]})
expect_code("AbortMultipartUpload", "OK", s3.abort_multipart_upload, Bucket=B, Key="mp/small",
            UploadId=small)
expect_code("UploadPart after abort", "NoSuchUpload", s3.upload_part, Bucket=B, Key="mp/small",
            UploadId=small, PartNumber=1, Body=b"x")
expect_code("ListParts of unknown upload", "NoSuchUpload", s3.list_parts, Bucket=B, Key="mp/obj",
            UploadId="0" * 32)
c = s3.complete_multipart_upload(Bucket=B, Key="mp/obj", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                                            {"PartNumber": 2, "ETag": e2}]})
want = hashlib.md5(bytes.fromhex(e1.strip('"')) + bytes.fromhex(e2.strip('"'))).hexdigest() + "-2"
res(c["ETag"].strip('"') == want, "multipart ETag is md5 of part md5s -N", c["ETag"])
g = s3.get_object(Bucket=B, Key="mp/obj")
res(g["Body"].read() == p1 + p2 and g["ContentType"] == "text/mp" and g["Metadata"] == {"m": "1"},
    "multipart object content and metadata")
res(s3.list_multipart_uploads(Bucket=B).get("Uploads", []) == [], "completed upload is gone")
# UploadPartCopy
uid = s3.create_multipart_upload(Bucket=B, Key="mp/copy")["UploadId"]
cp = s3.upload_part_copy(Bucket=B, Key="mp/copy", UploadId=uid, PartNumber=1,
                         CopySource={"Bucket": B, "Key": "mp/obj"}, CopySourceRange="bytes=0-5242879")
cp2 = s3.upload_part_copy(Bucket=B, Key="mp/copy", UploadId=uid, PartNumber=2,
                          CopySource={"Bucket": B, "Key": "mp/obj"},
                          CopySourceRange="bytes=5242880-5243879")
s3.complete_multipart_upload(Bucket=B, Key="mp/copy", UploadId=uid, MultipartUpload={"Parts": [
    {"PartNumber": 1, "ETag": cp["CopyPartResult"]["ETag"]},
    {"PartNumber": 2, "ETag": cp2["CopyPartResult"]["ETag"]}]})
res(s3.get_object(Bucket=B, Key="mp/copy")["Body"].read() == p1 + p2, "UploadPartCopy with ranges")
uid = s3.create_multipart_upload(Bucket=B, Key="mp/badrange")["UploadId"]
for rng in ("0-2", "bytes=0", "bytes=hello-world", "bytes=0-bar", "bytes=hello-", "bytes=0-2,3-5",
            "bytes=-5", "bytes=3-1"):
    expect_code("UploadPartCopy range %r" % rng, "InvalidArgument", s3.upload_part_copy, Bucket=B,
                Key="mp/badrange", UploadId=uid, PartNumber=1, CopySourceRange=rng,
                CopySource={"Bucket": B, "Key": "mp/obj"})
expect_code("UploadPartCopy range past the source", "InvalidRange", s3.upload_part_copy, Bucket=B,
            Key="mp/badrange", UploadId=uid, PartNumber=1, CopySourceRange="bytes=0-%d" % (
                len(p1) + len(p2)), CopySource={"Bucket": B, "Key": "mp/obj"})
s3.abort_multipart_upload(Bucket=B, Key="mp/badrange", UploadId=uid)

# ---------------------------------------------------------------- listing
keys = ["list/k%04d" % i for i in range(1100)]
keys += ["list/a-b", "list/a/b", "list/a/c/d", "list/a0", "list/a.b", "list/sub/x", "list/sub/y/z"]


def put_many(ks):
    for k in ks:
        s3.put_object(Bucket=B, Key=k, Body=k.encode())


ths = [threading.Thread(target=put_many, args=(keys[i::16],)) for i in range(16)]
for t_ in ths:
    t_.start()
for t_ in ths:
    t_.join()
want = sorted(keys, key=lambda s: s.encode())
got = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix="list/",
                                                          PaginationConfig={"PageSize": 1000}):
    got += [o["Key"] for o in page.get("Contents", [])]
res(got == want, "ListObjectsV2 paging past 1000 keys, byte order", "%d keys, first diff %s" % (
    len(got), next(((a, b) for a, b in zip(got, want) if a != b), None)))
got = []
for page in s3.get_paginator("list_objects").paginate(Bucket=B, Prefix="list/",
                                                       PaginationConfig={"PageSize": 333}):
    got += [o["Key"] for o in page.get("Contents", [])]
res(got == want, "ListObjects V1 paging (333 a page)", len(got))
r = s3.list_objects_v2(Bucket=B, Prefix="list/a", Delimiter="/")
res([o["Key"] for o in r.get("Contents", [])] == ["list/a-b", "list/a.b", "list/a0"]
    and [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["list/a/"],
    "delimiter: a-b and a.b sort before a/", r.get("Contents"))
r = s3.list_objects_v2(Bucket=B, Prefix="list/", Delimiter="/", MaxKeys=5)
pre = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
res(pre == ["list/a/"] and r["KeyCount"] == 5 and r["IsTruncated"], "delimiter + max-keys", r.get("KeyCount"))
allp, tok, n = [], None, 0
while True:
    kw = {"ContinuationToken": tok} if tok else {}
    r = s3.list_objects_v2(Bucket=B, Prefix="list/", Delimiter="/", MaxKeys=100, **kw)
    allp += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
    n += len(r.get("Contents", []))
    if not r["IsTruncated"]:
        break
    tok = r["NextContinuationToken"]
res(allp == ["list/a/", "list/sub/"] and n == 1103, "delimiter paging: prefixes once each", (allp, n))
r = s3.list_objects_v2(Bucket=B, Prefix="list/k10", StartAfter="list/k1050")
res([o["Key"] for o in r["Contents"]] == ["list/k%04d" % i for i in range(1051, 1100)], "start-after")
r = s3.list_objects(Bucket=B, Prefix="list/sub/", Delimiter="/", Marker="list/sub/x")
res([p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["list/sub/y/"] and not r.get("Contents"),
    "V1 marker with delimiter")
s3.put_object(Bucket=B, Key="enc/a b+c%d", Body=b"")
r = s3.list_objects_v2(Bucket=B, Prefix="enc/", EncodingType="url")
res([urllib.parse.unquote_plus(o["Key"]) for o in r["Contents"]] == ["enc/a b+c%d"]
    and r.get("EncodingType") == "url", "encoding-type=url",
    r.get("Contents"))
r = s3.list_objects_v2(Bucket=B, Prefix="list/a/", FetchOwner=True)
res(all("Owner" in o for o in r["Contents"]), "fetch-owner")
r = s3.list_object_versions(Bucket=B, Prefix="list/a/")
res([(x["Key"], x["VersionId"]) for x in r.get("Versions", [])] == [("list/a/b", "null"),
                                                                   ("list/a/c/d", "null")],
    "ListObjectVersions (unversioned)", r.get("Versions"))
s3.put_object(Bucket=B, Key="dirobj/", Body=b"")
h = s3.head_object(Bucket=B, Key="dirobj/")
r = s3.list_objects_v2(Bucket=B, Prefix="dirobj")
res(h["ContentLength"] == 0 and [o["Key"] for o in r.get("Contents", [])] == ["dirobj/"],
    "directory object", r.get("Contents"))

# ---------------------------------------------------------------- deletes
r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in keys[:1000]]})
res(len(r.get("Deleted", [])) == 1000, "DeleteObjects (1000 keys)", len(r.get("Deleted", [])))
r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in keys[1000:]], "Quiet": True})
res(not r.get("Deleted") and not r.get("Errors"), "DeleteObjects quiet", r)
res(s3.list_objects_v2(Bucket=B, Prefix="list/")["KeyCount"] == 0, "all deleted, no empty dirs left")
expect_code("DeleteObject of a missing key", "OK", s3.delete_object, Bucket=B, Key="nope/nope")

# ---------------------------------------------------------------- hostile keys
expect_code("key over 1024 bytes", "KeyTooLongError", s3.put_object, Bucket=B, Key="k" * 1025, Body=b"")
st, _, data = raw("PUT", "/%s/a/../b" % B, body=b"x")
res(st == 400, "key with .. rejected", (st, err_code(data)))
st, _, data = raw("PUT", "/%s/a//b" % B, body=b"x")
res(st == 400, "key with // rejected", (st, err_code(data)))
st, _, data = raw("PUT", "/%s/a%%00b" % B, body=b"x")
res(st == 400, "key with NUL rejected", (st, err_code(data)))
st, _, data = raw("PUT", "/%s/.sys/tmp/x" % B, body=b"x") if MODE != "multi" else (403, 0, b"")
res(st in (400, 403), "key under .sys rejected", st)

# ---------------------------------------------------------------- auth
st, _, data = raw("GET", "/%s" % B, sign=False)
res(st == 403 and err_code(data) == "AccessDenied", "anonymous request -> AccessDenied", (st, data[:200]))
bad = boto3.client("s3", endpoint_url=EP, aws_access_key_id=AK, aws_secret_access_key=SK + "x",
                   region_name="us-east-1", config=cfg)
expect_code("wrong secret", "SignatureDoesNotMatch", bad.list_objects_v2, Bucket=B)
bad = boto3.client("s3", endpoint_url=EP, aws_access_key_id="nobody", aws_secret_access_key=SK,
                   region_name="us-east-1", config=cfg)
expect_code("unknown access key", "InvalidAccessKeyId", bad.list_objects_v2, Bucket=B)
st, _, data = raw("GET", "/%s" % B, when=datetime.datetime.now(datetime.timezone.utc)
                  - datetime.timedelta(hours=1))
res(st == 403 and err_code(data) == "RequestTimeTooSkewed", "clock skew", (st, err_code(data)))
st, _, data = raw("PUT", "/%s/sha" % B, body=b"abc", payload=hashlib.sha256(b"abd").hexdigest())
res(st == 400 and err_code(data) == "XAmzContentSHA256Mismatch", "payload hash mismatch",
    (st, err_code(data)))
st, _, data = raw("PUT", "/%s/unsigned" % B, body=b"abc", payload="UNSIGNED-PAYLOAD")
res(st == 200 and s3.get_object(Bucket=B, Key="unsigned")["Body"].read() == b"abc", "UNSIGNED-PAYLOAD")
payload = bytes(range(256)) * 1000
hdr = {"x-amz-decoded-content-length": str(len(payload)), "content-encoding": "aws-chunked"}
st, _, data = raw("PUT", "/%s/chunked" % B, headers=hdr, body=chunked_body(payload, 65536),
                  payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
res(st == 200 and s3.get_object(Bucket=B, Key="chunked")["Body"].read() == payload,
    "aws-chunked streaming upload with chunk signatures", (st, data[:200]))
st, _, data = raw("PUT", "/%s/chunked" % B, headers=hdr, body=chunked_body(b"Z" * len(payload), 65536, True),
                  payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
res(st == 403 and err_code(data) == "SignatureDoesNotMatch"
    and s3.get_object(Bucket=B, Key="chunked")["Body"].read() == payload,
    "tampered chunk -> SignatureDoesNotMatch, old object intact", (st, err_code(data)))
url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "chunked"}, ExpiresIn=300)
res(urllib.request.urlopen(url).read() == payload, "presigned GET")
url = s3.generate_presigned_url("put_object", Params={"Bucket": B, "Key": "presigned-put"}, ExpiresIn=300)
urllib.request.urlopen(urllib.request.Request(url, data=b"via presigned", method="PUT")).read()
res(s3.get_object(Bucket=B, Key="presigned-put")["Body"].read() == b"via presigned", "presigned PUT")
url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "chunked"}, ExpiresIn=1)
time.sleep(2)
try:
    urllib.request.urlopen(url)
    res(False, "expired presigned URL -> 403", "got 200")
except urllib.error.HTTPError as e:
    res(e.code == 403, "expired presigned URL -> 403", e.code)
url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "chunked"}, ExpiresIn=0)
try:
    urllib.request.urlopen(url)
    res(False, "presigned URL with X-Amz-Expires=0 -> 403", "got 200")
except urllib.error.HTTPError as e:
    res(e.code == 403, "presigned URL with X-Amz-Expires=0 -> 403", e.code)
st, _, data = raw("PUT", "/%s/src" % B, query="tagging", body=b"<Tagging><TagSet><Tag>")
res(st == 400 and err_code(data) == "MalformedXML", "malformed XML -> MalformedXML", (st, err_code(data)))
st, _, data = raw("POST", "/%s" % B, query="delete", body=b"<Delete>" + b"<Object><Key>x</Key></Object>" * 70000 + b"</Delete>")
res(st == 400, "huge XML body rejected", (st, err_code(data)))
st, _, data = raw("PATCH", "/%s/src" % B)
res(st == 405 and err_code(data) == "MethodNotAllowed", "unknown method -> MethodNotAllowed", (st, err_code(data)))

# ---------------------------------------------------------------- buckets
if MODE == "multi":
    expect_code("DeleteBucket not empty", "BucketNotEmpty", s3.delete_bucket, Bucket=B)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=B):
        ks = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if ks:
            s3.delete_objects(Bucket=B, Delete={"Objects": ks})
    for u in s3.list_multipart_uploads(Bucket=B).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=B, Key=u["Key"], UploadId=u["UploadId"])
    expect_code("DeleteBucket", "OK", s3.delete_bucket, Bucket=B)
    expect_code("HeadBucket after delete", "404", s3.head_bucket, Bucket=B)
else:
    expect_code("DeleteBucket of the volume", "MethodNotAllowed", s3.delete_bucket, Bucket=B)

"""
for chunk in SECTIONS.split("\n# ---------------------------------------------------------------- ")[1:]:
    name = chunk.split("\n", 1)[0]
    try:
        exec(compile("\n" * 0 + chunk.split("\n", 1)[1], "section " + name, "exec"), globals())
    except Exception as e:  # noqa: BLE001 - reported as a failure
        res(False, "section %s ran to the end" % name, "%s: %s" % (type(e).__name__, e))
print("DONE %d failures" % fails)
