#!/usr/bin/env python3
"""SigV2 through boto3 (signature_version "s3") and by hand, for t4305.

usage: s3-sigv2.py PORT ACCESS SECRET
Prints one "ok - ..." or "not ok - ... : why" line per check and goes on
after a failure, so the real gateway's answers can be printed beside ours.
"""
import base64
import email.utils
import hashlib
import hmac
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore
from botocore.config import Config

PORT, AK, SK = sys.argv[1], sys.argv[2], sys.argv[3]
EP = "http://127.0.0.1:%s" % PORT
BUCKET = "sigv2-bkt"
KEY = "dir/a b+c%d.txt"
BODY = b"hello, signature version 2\n" * 50


def client(secret=SK):
    return boto3.client("s3", endpoint_url=EP, aws_access_key_id=AK,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(signature_version="s3",
                                      s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


def check(name, fn):
    try:
        why = fn()
    except Exception as e:  # a failed call is a failed check, not the end
        why = "%s: %s" % (type(e).__name__, str(e)[:200])
    print(("ok - %s" % name) if not why else ("not ok - %s : %s" % (name, why)))


def code_of(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "no error"


def raw(method, path, headers):
    req = urllib.request.Request(EP + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def v2sig(sts, secret=SK):
    return base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()


c = client()
# The bucket is made with SigV4: the real gateway refuses botocore's SigV2
# CreateBucket ("/bucket/" signed, "/bucket" sent), which ours takes.
boto3.client("s3", endpoint_url=EP, aws_access_key_id=AK, aws_secret_access_key=SK,
             region_name="us-east-1").create_bucket(Bucket=BUCKET)
check("SigV2 CreateBucket signed as botocore signs it (\"/bucket/\")",
      lambda: None if code_of(lambda: c.create_bucket(Bucket=BUCKET + "-2")) == "no error"
      else "refused")


def put_get():
    c.put_object(Bucket=BUCKET, Key=KEY % 1, Body=BODY, ContentType="text/plain",
                 Metadata={"colour": "blue"}, Tagging="k=v")
    o = c.get_object(Bucket=BUCKET, Key=KEY % 1)
    if o["Body"].read() != BODY:
        return "wrong bytes"
    if o["Metadata"].get("colour") != "blue" or o["ContentType"] != "text/plain":
        return "metadata %r, type %r" % (o["Metadata"], o["ContentType"])
    return None


check("PUT (x-amz-meta-*, x-amz-tagging, Content-Type) and GET of a key with ' ' and '+'", put_get)
check("ListObjects", lambda: None if [x["Key"] for x in c.list_objects(Bucket=BUCKET)
                                       .get("Contents", [])] == [KEY % 1] else "wrong list")
check("GetObjectTagging (sub-resource ?tagging signed)",
      lambda: None if c.get_object_tagging(Bucket=BUCKET, Key=KEY % 1)["TagSet"] ==
      [{"Key": "k", "Value": "v"}] else "wrong tags")


def multipart():
    up = c.create_multipart_upload(Bucket=BUCKET, Key="mp")
    parts = []
    for n in (1, 2):
        body = bytes([n]) * (5 << 20 if n == 1 else 1000)
        p = c.upload_part(Bucket=BUCKET, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=body)
        parts.append({"ETag": p["ETag"], "PartNumber": n})
    c.complete_multipart_upload(Bucket=BUCKET, Key="mp", UploadId=up["UploadId"],
                                MultipartUpload={"Parts": parts})
    got = c.get_object(Bucket=BUCKET, Key="mp")["Body"].read()
    return None if got == b"\x01" * (5 << 20) + b"\x02" * 1000 else "wrong bytes"


check("multipart upload (?uploads, ?partNumber&uploadId signed)", multipart)


def presigned():
    url = c.generate_presigned_url("get_object", ExpiresIn=60, Params={
        "Bucket": BUCKET, "Key": KEY % 1, "ResponseContentType": "application/x-test"})
    if "AWSAccessKeyId=" not in url or "Signature=" not in url:
        return "not a SigV2 URL: " + url
    with urllib.request.urlopen(url, timeout=30) as r:
        if r.read() != BODY or r.headers["Content-Type"] != "application/x-test":
            return "wrong body or Content-Type %r" % r.headers["Content-Type"]
    return None


check("presigned SigV2 GET with response-content-type", presigned)


def presigned_put():
    url = c.generate_presigned_url("put_object", ExpiresIn=60,
                                   Params={"Bucket": BUCKET, "Key": "via-url"})
    # urllib would add a Content-Type the URL was not signed with
    req = urllib.request.Request(url, data=b"put by url", method="PUT",
                                 headers={"Content-Type": ""})
    with urllib.request.urlopen(req, timeout=30) as r:
        st = r.status
    got = c.get_object(Bucket=BUCKET, Key="via-url")["Body"].read()
    return None if st == 200 and got == b"put by url" else "status %s, %r" % (st, got)


check("presigned SigV2 PUT", presigned_put)


def expired():
    path = "/%s/%s" % (BUCKET, "via-url")
    exp = int(time.time()) - 10
    sig = v2sig("GET\n\n\n%d\n%s" % (exp, path))
    q = urllib.parse.urlencode({"AWSAccessKeyId": AK, "Expires": exp, "Signature": sig})
    st, body = raw("GET", path + "?" + q, {})
    return None if st == 403 and b"<Code>AccessDenied</Code>" in body else "%s %s" % (st, body[:120])


check("an expired presigned URL: 403 AccessDenied", expired)
check("a wrong secret: SignatureDoesNotMatch",
      lambda: None if code_of(lambda: client("wrong-secret").list_objects(Bucket=BUCKET)) ==
      "SignatureDoesNotMatch" else "other answer")


def tampered():
    path = "/%s/%s" % (BUCKET, "via-url")
    exp = int(time.time()) + 60
    sig = v2sig("GET\n\n\n%d\n%s" % (exp, path))
    q = urllib.parse.urlencode({"AWSAccessKeyId": AK, "Expires": exp + 1, "Signature": sig})
    st, body = raw("GET", path + "?" + q, {})
    return None if st == 403 else "%s %s" % (st, body[:120])


check("a presigned URL whose Expires was changed: 403", tampered)


def skewed():
    date = email.utils.formatdate(time.time() - 3600, usegmt=True)
    path = "/%s" % BUCKET
    sig = v2sig("GET\n\n\n%s\n%s" % (date, path))
    st, body = raw("GET", path, {"Date": date, "Authorization": "AWS %s:%s" % (AK, sig)})
    return None if st == 403 and b"RequestTimeTooSkewed" in body else "%s %s" % (st, body[:120])


check("a Date an hour old: 403 RequestTimeTooSkewed", skewed)


def malformed():
    st, body = raw("GET", "/%s" % BUCKET, {"Date": email.utils.formatdate(usegmt=True),
                                            "Authorization": "AWS no-colon-here"})
    return None if 400 <= st < 500 and st != 404 else "%s %s" % (st, body[:120])


check("an Authorization 'AWS KEY' without a signature: 4xx", malformed)


def amz_date():
    # x-amz-date in place of Date, signed with an empty Date line (AWS's rule)
    xd = email.utils.formatdate(usegmt=True)
    path = "/%s/%s" % (BUCKET, urllib.parse.quote(KEY % 1))
    sig = v2sig("GET\n\n\n\nx-amz-date:%s\n%s" % (xd, path))
    st, body = raw("GET", path, {"x-amz-date": xd, "Authorization": "AWS %s:%s" % (AK, sig)})
    return None if st == 200 and body == BODY else "%s %s" % (st, body[:120])


check("x-amz-date with an empty Date line", amz_date)
