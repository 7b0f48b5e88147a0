#!/usr/bin/env python3
"""Bucket policy calls for t4701, one per run, printing one line per result.

    s3-policy.py ENDPOINT AK SK put-policy BUCKET FILE | get-policy BUCKET |
        status BUCKET | delete-policy BUCKET | get-object BUCKET KEY |
        put-object BUCKET KEY | put-tagging BUCKET KEY K=V | list BUCKET |
        list-buckets | hostile BUCKET

A failure prints "ERR <code> <status>"; success "ok" (with what was read).
hostile puts each hostile document in turn and prints "<name>: <result>".
"""
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ep, ak, sk, cmd, *args = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk,
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def err(e):
    return "ERR %s %s" % (e.response["Error"].get("Code"),
                          e.response["ResponseMetadata"].get("HTTPStatusCode"))


def call(fn, **kw):
    try:
        return "ok", fn(**kw)
    except ClientError as e:
        return err(e), None


def stmt(bucket, i):
    return {"Sid": "s%d" % i, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::%s/k%d" % (bucket, i)}


def hostile(b):
    ok_stmt = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
               "Resource": "arn:aws:s3:::%s/*" % b}
    deep = '{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*",' \
           '"Condition":{"StringEquals":{"s3:prefix":' + '{"a":' * 300 + '1' + '}' * 300 + '}}}}'
    docs = [
        ("10000-statements", json.dumps({"Version": "2012-10-17",
                                         "Statement": [stmt(b, i) for i in range(10000)]})),
        ("deep-nesting", deep),
        ("brackets", "[" * 5000 + "]" * 5000),
        ("unknown-action", json.dumps({"Statement": [dict(ok_stmt, Action="s3:FrobObject")]})),
        ("malformed-json", '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'),
        ("not-json", "<Policy/>"),
        ("other-bucket", json.dumps({"Statement": [dict(ok_stmt,
                                                         Resource="arn:aws:s3:::otherbkt/*")]})),
        ("allow-notprincipal", json.dumps({"Statement": [{
            "Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/*" % b}]})),
        ("bad-effect", json.dumps({"Statement": [dict(ok_stmt, Effect="Perhaps")]})),
        ("no-statement", json.dumps({"Version": "2012-10-17"})),
        ("bad-cidr", json.dumps({"Statement": [dict(ok_stmt, Condition={
            "IpAddress": {"aws:SourceIp": "10.0.0.0/99"}})]})),
    ]
    for name, doc in docs:
        r, _ = call(s3.put_bucket_policy, Bucket=b, Policy=doc)
        print("%s: %s" % (name, r))


if cmd == "put-policy":
    with open(args[1]) as f:
        print(call(s3.put_bucket_policy, Bucket=args[0], Policy=f.read())[0])
elif cmd == "get-policy":
    r, v = call(s3.get_bucket_policy, Bucket=args[0])
    print(v["Policy"] if v else r)
elif cmd == "status":
    r, v = call(s3.get_bucket_policy_status, Bucket=args[0])
    print("public=%s" % v["PolicyStatus"]["IsPublic"] if v else r)
elif cmd == "delete-policy":
    print(call(s3.delete_bucket_policy, Bucket=args[0])[0])
elif cmd == "get-object":
    r, v = call(s3.get_object, Bucket=args[0], Key=args[1])
    print("ok %d" % len(v["Body"].read()) if v else r)
elif cmd == "put-object":
    print(call(s3.put_object, Bucket=args[0], Key=args[1], Body=b"written")[0])
elif cmd == "put-tagging":
    k, v = args[2].split("=", 1)
    print(call(s3.put_object_tagging, Bucket=args[0], Key=args[1],
               Tagging={"TagSet": [{"Key": k, "Value": v}]})[0])
elif cmd == "list":
    r, v = call(s3.list_objects_v2, Bucket=args[0])
    print("ok %d" % v.get("KeyCount", 0) if v else r)
elif cmd == "list-buckets":
    r, v = call(s3.list_buckets)
    print("ok %d" % len(v["Buckets"]) if v else r)
elif cmd == "hostile":
    hostile(args[0])
else:
    sys.exit("unknown command " + cmd)
