#!/usr/bin/env python3
"""Smaller S3 mismatches (issue 12 item 18, run by t4304), answered as AWS does.

  s3-mismatch.py PORT BUCKET

BUCKET is the gateway's one bucket (single-bucket mode). Prints "ok"/"not ok"
per check (status, code, and what the object holds afterwards) and exits 1
when one fails. Raw signed requests (s3raw.py) for what SDKs would not send;
boto3 for GetObjectAttributes and metadata, as a client reads them.
"""
import base64
import hashlib
import re
import sys

import boto3
from botocore.config import Config

sys.path.insert(0, __import__("os").path.dirname(__file__))
from s3raw import AK, SK, Client, canonical_query  # noqa: E402

port, bucket = int(sys.argv[1]), sys.argv[2]
c = Client(port)
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port, aws_access_key_id=AK,
                  aws_secret_access_key=SK, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
B = "/" + bucket
failed = 0


def code(body):
    m = re.search(rb"<Code>([^<]*)", body)
    return m.group(1).decode() if m else ""


def check(desc, cond, detail=""):
    global failed
    failed += not cond
    print("%s - %s%s" % ("ok" if cond else "not ok", desc, "" if cond else ": %s" % (detail,)))


def expect(desc, got, status, want_code=None):
    st, _, body = got
    check(desc, st == status and (want_code is None or code(body) == want_code),
          "%d %s %r" % (st, code(body), body[:160]))
    return got


def body_of(key):
    st, _, body = c.request("GET", B + "/" + key)
    return body if st == 200 else None


def etag_of(key):
    return c.request("HEAD", B + "/" + key)[1].get("etag", "")


# ---- conditional writes: PutObject
c.request("DELETE", B + "/cond")
expect("PUT If-None-Match: * of a new key", c.request("PUT", B + "/cond", body=b"one",
       headers={"If-None-Match": "*"}), 200)
expect("PUT If-None-Match: * over an object: 412", c.request("PUT", B + "/cond", body=b"two",
       headers={"If-None-Match": "*"}), 412, "PreconditionFailed")
check("... and the object is untouched", body_of("cond") == b"one", body_of("cond"))
expect("PUT If-Match with another ETag: 412", c.request("PUT", B + "/cond", body=b"two",
       headers={"If-Match": '"0123456789abcdef0123456789abcdef"'}), 412, "PreconditionFailed")
check("... and the object is untouched", body_of("cond") == b"one", body_of("cond"))
expect("PUT If-Match with its ETag", c.request("PUT", B + "/cond", body=b"three",
       headers={"If-Match": etag_of("cond")}), 200)
check("... replaces it", body_of("cond") == b"three", body_of("cond"))
expect("PUT If-Match of a key with no object: 404", c.request("PUT", B + "/nocond", body=b"x",
       headers={"If-Match": '"0123456789abcdef0123456789abcdef"'}), 404, "NoSuchKey")
check("... and nothing is written", body_of("nocond") is None)
expect("PUT If-None-Match with an ETag: 501", c.request("PUT", B + "/cond", body=b"x",
       headers={"If-None-Match": etag_of("cond")}), 501, "NotImplemented")

# ---- conditional writes: CompleteMultipartUpload
def mpu(key, headers):
    st, _, body = c.request("POST", B + "/" + key, query=[("uploads", "")])
    uid = re.search(rb"<UploadId>([^<]*)", body).group(1).decode()
    st, h, _ = c.request("PUT", B + "/" + key, query=[("partNumber", "1"), ("uploadId", uid)],
                         body=b"multipart body")
    xml = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
           "</CompleteMultipartUpload>" % h.get("etag", "")).encode()
    return c.request("POST", B + "/" + key, query=[("uploadId", uid)], body=xml,
                     headers=headers), uid


got, uid = mpu("cond", {"If-None-Match": "*"})
expect("Complete If-None-Match: * over an object: 412", got, 412, "PreconditionFailed")
check("... and the object is untouched", body_of("cond") == b"three", body_of("cond"))
got, uid = mpu("cond", {"If-Match": '"0123456789abcdef0123456789abcdef"'})
expect("Complete If-Match with another ETag: 412", got, 412, "PreconditionFailed")
got, uid = mpu("cond", {"If-Match": etag_of("cond")})
expect("Complete If-Match with its ETag", got, 200)
check("... replaces it", body_of("cond") == b"multipart body", body_of("cond"))
c.request("DELETE", B + "/mpnew")
got, uid = mpu("mpnew", {"If-None-Match": "*"})
expect("Complete If-None-Match: * of a new key", got, 200)

# ---- GetObjectAttributes
st, h, body = c.request("GET", B + "/cond", query=[("attributes", "")],
                        headers={"x-amz-object-attributes": "ETag,ObjectSize"})
check("GET ?attributes answers XML, not the body",
      st == 200 and b"<GetObjectAttributesResponse" in body and b"multipart body" not in body,
      (st, body[:200]))
try:
    a = s3.get_object_attributes(Bucket=bucket, Key="cond",
                                 ObjectAttributes=["ETag", "ObjectSize", "StorageClass",
                                                   "ObjectParts"])
    check("boto3 GetObjectAttributes: size, ETag, storage class, parts",
          a.get("ObjectSize") == 14 and a.get("StorageClass") == "STANDARD"
          and a.get("ETag") == etag_of("cond").strip('"')
          and a.get("ObjectParts", {}).get("TotalPartsCount") == 1, a)
except Exception as ex:  # noqa: BLE001
    check("boto3 GetObjectAttributes: size, ETag, storage class, parts", False, ex)
expect("GET ?attributes without x-amz-object-attributes: 400",
       c.request("GET", B + "/cond", query=[("attributes", "")]), 400, "InvalidArgument")
expect("GET ?attributes of a missing key: 404",
       c.request("GET", B + "/nothere", query=[("attributes", "")],
                 headers={"x-amz-object-attributes": "ObjectSize"}), 404, "NoSuchKey")

# ---- empty user metadata is kept
s3.put_object(Bucket=bucket, Key="meta", Body=b"m", Metadata={"empty": "", "full": "v"})
md = s3.head_object(Bucket=bucket, Key="meta")["Metadata"]
check("an empty x-amz-meta-* value is kept", md == {"empty": "", "full": "v"}, md)
md = s3.get_object(Bucket=bucket, Key="meta")["Metadata"]
check("... and sent by GET", md == {"empty": "", "full": "v"}, md)

# ---- tags: duplicate keys
dup = (b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key>"
       b"<Value>2</Value></Tag></TagSet></Tagging>")
expect("PutObjectTagging with a key twice: 400 InvalidTag",
       c.request("PUT", B + "/meta", query=[("tagging", "")], body=dup), 400, "InvalidTag")
expect("x-amz-tagging with a key twice: 400 InvalidTag",
       c.request("PUT", B + "/dup", body=b"x", headers={"x-amz-tagging": "a=1&a=2"}),
       400, "InvalidTag")
check("... and nothing is written", body_of("dup") is None)

# ---- bucket names and CreateBucket bodies
for name in ("a..b", "a.-b", "a-.b", "192.168.1.1"):
    expect("CreateBucket %s: 400 InvalidBucketName" % name, c.request("PUT", "/" + name), 400,
           "InvalidBucketName")
for body in (b"garbage", b"<CreateBucketConfiguration><LocationConstraint>us-east-1",
             b"<Other/>"):
    expect("CreateBucket body %r: 400 MalformedXML" % body[:20],
           c.request("PUT", "/newbucket-x", body=body), 400, "MalformedXML")
expect("CreateBucket of the existing bucket with a good body: 409",
       c.request("PUT", B, body=b"<CreateBucketConfiguration><LocationConstraint>us-east-1"
                                b"</LocationConstraint></CreateBucketConfiguration>"), 409)

# ---- no DTD in any XML body
ent = b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x "EXPANDED">]>'
expect("Tagging body with an internal entity: 400 MalformedXML",
       c.request("PUT", B + "/meta", query=[("tagging", "")],
                 body=ent + b"<Tagging><TagSet><Tag><Key>k</Key><Value>&x;</Value></Tag>"
                            b"</TagSet></Tagging>"), 400, "MalformedXML")
st, _, body = c.request("GET", B + "/meta", query=[("tagging", "")])
check("... and no tag holds the expansion", b"EXPANDED" not in body, body[:200])
c.request("PUT", B + "/victim", body=b"v")
xml = b'<!DOCTYPE d [<!ENTITY k "victim">]><Delete><Object><Key>&k;</Key></Object></Delete>'
expect("Delete body with an entity naming a key: 400 MalformedXML",
       c.request("POST", B, query=[("delete", "")], body=xml,
                 headers={"Content-MD5": base64.b64encode(hashlib.md5(xml).digest()).decode()}),
       400, "MalformedXML")
check("... and the key is not deleted", body_of("victim") == b"v")
lol = (b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
       b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&b;</ETag></Part>"
       b"</CompleteMultipartUpload>")
st, _, body = c.request("POST", B + "/dtd2", query=[("uploads", "")])
uid = re.search(rb"<UploadId>([^<]*)", body).group(1).decode()
expect("Complete body with a DTD: 400 MalformedXML",
       c.request("POST", B + "/dtd2", query=[("uploadId", uid)], body=lol), 400, "MalformedXML")
expect("CreateBucket body with a DTD: 400 MalformedXML",
       c.request("PUT", "/newbucket-y", body=b"<!DOCTYPE c><CreateBucketConfiguration/>"),
       400, "MalformedXML")

# ---- user metadata over 2 KiB
expect("x-amz-meta-* over 2 KiB: 400 MetadataTooLarge",
       c.request("PUT", B + "/big", body=b"x", headers={"x-amz-meta-a": "v" * 2100}), 400,
       "MetadataTooLarge")
expect("... over 2 KiB in two headers: 400 MetadataTooLarge",
       c.request("PUT", B + "/big", body=b"x", headers={"x-amz-meta-a": "v" * 1100,
                                                         "x-amz-meta-b": "v" * 1100}),
       400, "MetadataTooLarge")
check("... and nothing is written", body_of("big") is None)
expect("x-amz-meta-* under 2 KiB", c.request("PUT", B + "/big", body=b"x",
       headers={"x-amz-meta-a": "v" * 1900}), 200)

# ---- CompleteMultipartUpload sent again (a client retrying after a lost answer)
up = s3.create_multipart_upload(Bucket=bucket, Key="again")["UploadId"]
p1 = s3.upload_part(Bucket=bucket, Key="again", UploadId=up, PartNumber=1, Body=b"a" * (5 << 20))
p2 = s3.upload_part(Bucket=bucket, Key="again", UploadId=up, PartNumber=2, Body=b"tail")
parts = {"Parts": [{"ETag": p1["ETag"], "PartNumber": 1}, {"ETag": p2["ETag"], "PartNumber": 2}]}
first = s3.complete_multipart_upload(Bucket=bucket, Key="again", UploadId=up, MultipartUpload=parts)
try:
    again = s3.complete_multipart_upload(Bucket=bucket, Key="again", UploadId=up,
                                         MultipartUpload=parts)
    check("Complete sent again: 200 with the same ETag, as AWS answers",
          again["ETag"] == first["ETag"], (again["ETag"], first["ETag"]))
except Exception as ex:  # the real gateway answers NoSuchUpload
    check("Complete sent again: 200 with the same ETag, as AWS answers", False, ex)
check("... and the object is intact", body_of("again") == b"a" * (5 << 20) + b"tail")
one = {"Parts": [{"ETag": p1["ETag"], "PartNumber": 1}]}
expect("... with other parts: 404 NoSuchUpload",
       c.request("POST", B + "/again", query=[("uploadId", up)],
                 body=("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
                       "</Part></CompleteMultipartUpload>" % p1["ETag"]).encode()),
       404, "NoSuchUpload")
c.request("PUT", B + "/again", body=b"replaced")
expect("... once the object was replaced: 404 NoSuchUpload",
       c.request("POST", B + "/again", query=[("uploadId", up)],
                 body=("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
                       "</Part><Part><PartNumber>2</PartNumber><ETag>%s</ETag></Part>"
                       "</CompleteMultipartUpload>" % (p1["ETag"], p2["ETag"])).encode()),
       404, "NoSuchUpload")
check("... and the replacing object is kept", body_of("again") == b"replaced")

# ---- bodies of 8 MiB and more: their digests run on a thread of their own
# beside the copy (s3_body_tee); the ETag is still the body's MD5 and a bad
# Content-MD5 or payload hash still fails the PUT before the key changes.
import os  # noqa: E402
import socket  # noqa: E402
big = os.urandom(9 << 20) + b"tail"
md5b = hashlib.md5(big).digest()
c.request("PUT", B + "/big", body=b"old")
st, h, _ = c.request("PUT", B + "/big", body=big,
                     headers={"Content-MD5": base64.b64encode(md5b).decode()})
check("9 MiB PUT, payload signed, Content-MD5: 200, ETag its MD5",
      st == 200 and h.get("etag", "").strip('"') == md5b.hex(), (st, h.get("etag")))
check("... and GET returns it", body_of("big") == big)
bad = bytearray(big)
bad[5 << 20] ^= 1
c.request("PUT", B + "/big", body=b"old")
expect("9 MiB PUT, one bit off its Content-MD5: 400 BadDigest",
       c.request("PUT", B + "/big", body=bytes(bad),
                 headers={"Content-MD5": base64.b64encode(md5b).decode()}), 400, "BadDigest")
check("... and the old object stays", body_of("big") == b"old")
expect("9 MiB PUT, one bit off its signed payload hash: 400 XAmzContentSHA256Mismatch",
       c.request("PUT", B + "/big", body=bytes(bad), payload_hash=hashlib.sha256(big).hexdigest()),
       400, "XAmzContentSHA256Mismatch")
check("... and the old object stays", body_of("big") == b"old")
st, h, _ = c.request("PUT", B + "/big", body=big, presign=True)
check("9 MiB PUT, unsigned payload (presigned): ETag its MD5",
      st == 200 and h.get("etag", "").strip('"') == md5b.hex(), (st, h.get("etag")))
check("... and GET returns it", body_of("big") == big)
up = s3.create_multipart_upload(Bucket=bucket, Key="bigmp")["UploadId"]
p1 = s3.upload_part(Bucket=bucket, Key="bigmp", UploadId=up, PartNumber=1, Body=big)
check("9 MiB UploadPart: ETag its MD5", p1["ETag"].strip('"') == md5b.hex(), p1["ETag"])
s3.abort_multipart_upload(Bucket=bucket, Key="bigmp", UploadId=up)


class Signed(Exception):
    pass


def cut_short(key, clen, send):
    """A presigned PUT of clen bytes whose client goes away after send."""
    q = {}

    def take(hh, qq):  # the Client signs; a raw socket sends
        q["q"] = qq
        raise Signed
    try:
        c.request("PUT", B + "/" + key, presign=True, tamper=take)
    except Signed:
        pass
    head = ("PUT %s/%s?%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
            % (B, key, canonical_query(q["q"]), port, clen)).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(head + big[:send])
    s.close()


c.request("PUT", B + "/cut", body=b"old")
for sent in (0, 1 << 20, 6 << 20):
    cut_short("cut", len(big), sent)
check("9 MiB PUTs cut short at 0, 1 and 6 MiB: the old object stays", body_of("cut") == b"old")
st, _, _ = c.request("PUT", B + "/after", body=b"x")
check("... and the gateway answers after them", st == 200, st)
sys.exit(1 if failed else 0)
