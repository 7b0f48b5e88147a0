#!/usr/bin/env python3
"""S3 listing paging checks for t4601 (boto3 against one gateway).

Usage: s3-list-paging.py PORT BUCKET ACTION
  put       create the key set below
  check     every query of QUERIES, paged with several max-keys values, v2
            (continuation tokens and start-after) and v1 (markers), against a
            model of S3 listing over the key set; prints "ok DESC" or
            "FAIL DESC: why", and "DUMP <json>" with every query's listing
            (for comparing two gateways)
  mutate    keys added and removed between pages (prefix m/)
  bigput N  N keys big/k00000.. for the engine-read count check
  bigpage M page through big/ with max-keys M, print the page count

The model: keys in byte order (UTF-8), filtered by prefix and strictly after
the marker; with a delimiter, a key with the delimiter after the prefix rolls
up into one common prefix (kept only when it sorts after the marker). Pages
concatenated must give exactly that, whatever max-keys is.
"""
import concurrent.futures
import json
import sys

import boto3
from botocore.config import Config

port, bucket, action = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port,
                  aws_access_key_id="s3admin", aws_secret_access_key="s3secret123",
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

# Names chosen so that name order and key order differ: bytes below '/'
# ('!', ' ', '+', '-', '.', '%') right after a directory's name, nested
# prefixes, non-ASCII UTF-8, directory objects (empty directories).
KEYS = [
    "a/ba", "a/b/c", "a/b-c", "a/b.c/d", "a-b", "a.b/x", "a.c", "a0", "a!/z", "a!b",
    "b/cc", "b/c/d/e", "b/c-d", "b!/c", "b!x", "b-", "b0",
    "c d/e f", "c+d", "c%41", "\u00e9/\u00fc", "\u00e9-", "\u65e5\u672c/\u8a9e.txt",
    "\u65e5\u672c-x", "z", "y-1/q", "y-2/q", "y-3",
    "deep/1/2/3/4/5", "deep/1/2/3-4", "deep/1-2", "\u00ff", "~tilde",
    "empty/", "deep/hollow/",
] + ["x-%d" % i for i in range(1, 13)]

QUERIES = [
    ("", "", ""), ("", "/", ""), ("a", "/", ""), ("a/", "/", ""), ("a/", "", ""),
    ("b", "", ""), ("b/c", "", ""), ("deep/", "/", ""), ("deep/1", "/", ""), ("", "-", ""),
    ("x-", "", ""), ("", "", "a/b"), ("", "", "a!"), ("", "/", "a/"), ("", "", "b/c/d"),
    ("", "", "a"), ("a", "", "a-"), ("", "/", "b!/"), ("", "", "\u00e9"), ("", "", "zz"),
    ("nope", "", ""), ("", "", "deep/1/2/"), ("deep/", "", "deep/1/2/3/4/5"), ("", "1", ""),
    ("\u65e5\u672c", "/", ""), ("", "", "x-1"), ("x", "-", ""), ("", "", "a/b/"),
    ("", "/", "a!b"), ("a", "/", "a/"), ("", "", "b!"), ("deep/1/", "/", "deep/1/2/3"),
    ("", "", "c d/"), ("", "", "empty/"), ("", "/", "x-"), ("e", "", ""),
    # markers ending in the lowest bytes (a scan starts just before the marker's name)
    ("", "", "a\x01"), ("", "", "a\x02"), ("", "/", "b\x02"), ("a", "", "a/b\x01"),
]


def bkey(k):
    return k.encode()


def model(prefix, delim, marker):
    out = []
    for k in sorted(KEYS, key=bkey):
        if not k.startswith(prefix):
            continue
        if delim:
            i = k.find(delim, len(prefix))
            if i >= 0:
                cp = k[:i + len(delim)]
                if marker and bkey(cp) <= bkey(marker):
                    continue
                if out and out[-1] == ["P", cp]:
                    continue
                out.append(["P", cp])
                continue
        if marker and bkey(k) <= bkey(marker):
            continue
        out.append(["K", k])
    return out


def merge(resp):
    """One page's keys and prefixes, merged in byte order."""
    items = [["K", c["Key"]] for c in resp.get("Contents", [])]
    items += [["P", p["Prefix"]] for p in resp.get("CommonPrefixes", [])]
    return sorted(items, key=lambda x: bkey(x[1]))


def list_v2(prefix, delim, start_after, maxk):
    got, token, pages = [], None, 0
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": maxk}
        if delim:
            kw["Delimiter"] = delim
        if token:
            kw["ContinuationToken"] = token
        elif start_after:
            kw["StartAfter"] = start_after
        r = s3.list_objects_v2(**kw)
        page = merge(r)
        pages += 1
        if len(page) > maxk or r["KeyCount"] != len(page):
            raise ValueError("page %d: %d items, KeyCount %d, max-keys %d"
                             % (pages, len(page), r["KeyCount"], maxk))
        got += page
        if not r["IsTruncated"]:
            return got
        token = r["NextContinuationToken"]
        if pages > 200:
            raise ValueError("more than 200 pages")


def list_v1(prefix, delim, marker, maxk):
    got, pages = [], 0
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": maxk}
        if delim:
            kw["Delimiter"] = delim
        if marker:
            kw["Marker"] = marker
        r = s3.list_objects(**kw)
        page = merge(r)
        pages += 1
        if len(page) > maxk:
            raise ValueError("page %d: %d items, max-keys %d" % (pages, len(page), maxk))
        got += page
        if not r["IsTruncated"]:
            return got
        marker = r.get("NextMarker") or page[-1][1]
        if pages > 200:
            raise ValueError("more than 200 pages")


# (version, lister, max-keys): every query is paged each of these ways.
VARIANTS = [("v2", list_v2, 1), ("v1", list_v1, 2), ("v2", list_v2, 1000)]


def check_one(q):
    prefix, delim, marker = q
    want = model(prefix, delim, marker)
    desc = "prefix=%r delimiter=%r after=%r" % (prefix, delim, marker)
    res, fails = None, []
    for ver, fn, maxk in VARIANTS:
        try:
            got = fn(prefix, delim, marker, maxk)
        except Exception as e:  # noqa: BLE001 (reported, not hidden)
            got = "error: %s" % e
        if got != want:
            fails.append("FAIL %s %s max-keys=%d: got %s want %s"
                         % (desc, ver, maxk, json.dumps(got)[:400], json.dumps(want)[:400]))
        if ver == "v2" and maxk == 1000:
            res = got
    return [prefix, delim, marker, res], fails


def check():
    # Queries in parallel (a boto3 client is thread-safe); pages in order.
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(check_one, QUERIES))
    fails = [f for _, fl in results for f in fl]
    for f in fails:
        print(f)
    print("checked %d queries, %d mismatches" % (len(QUERIES), len(fails)))
    print("DUMP " + json.dumps([d for d, _ in results]))


def mutate():
    names = ["m/k%02d" % i for i in range(20)]
    got = []
    r = s3.list_objects_v2(Bucket=bucket, Prefix="m/", MaxKeys=5)
    got += [c["Key"] for c in r.get("Contents", [])]
    # Between pages: a key after the marker appears, one before it does not,
    # a key removed after the marker is not listed, one at the end appears.
    s3.put_object(Bucket=bucket, Key="m/k04a", Body=b"n")
    s3.put_object(Bucket=bucket, Key="m/k03a", Body=b"n")
    s3.delete_object(Bucket=bucket, Key="m/k07")
    s3.put_object(Bucket=bucket, Key="m/k99", Body=b"n")
    token = r["NextContinuationToken"]
    while True:
        r = s3.list_objects_v2(Bucket=bucket, Prefix="m/", MaxKeys=5, ContinuationToken=token)
        got += [c["Key"] for c in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    want = names[:5] + ["m/k04a"] + [n for n in names[5:] if n != "m/k07"] + ["m/k99"]
    print("got " + json.dumps(got))
    print("want " + json.dumps(want))


if action == "put":
    # Directory objects last: a key below one would make it a plain directory.
    for k in KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=b"" if k.endswith("/") else k.encode())
    print("put %d keys" % len(KEYS))
elif action == "putm":
    for i in range(20):
        s3.put_object(Bucket=bucket, Key="m/k%02d" % i, Body=b"m")
elif action == "check":
    check()
elif action == "check1000":  # one page per query, for the real gateway
    VARIANTS = [("v2", list_v2, 1000)]
    check()
elif action == "mutate":
    mutate()
elif action == "bigput":
    n = int(sys.argv[4])
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: s3.put_object(Bucket=bucket, Key="big/k%05d" % i, Body=b""),
                    range(n)))
elif action == "bigpage":
    maxk = int(sys.argv[4])
    keys = list_v2("big/", "", "", maxk)
    print("%d keys" % len(keys))
else:
    sys.exit("unknown action " + action)
