#!/usr/bin/env python3
"""Two clients of one volume overwrite, delete and read the same keys.

Used by t4102-s3-race-read.sh. Every body written is self-identifying:

    JFSRACE <version:16 hex> <length of the rest:10 digits> <sha256 of the rest:64 hex>\\n<rest>

so a reader can tell, from the body alone, whether it is exactly one body that
was written. A read may fail (404, 5xx, an aborted transfer, ENOENT, EIO),
since the data can go away under it, but a read that succeeds must return one
written body whole: never zeros, never a mix of versions.

Usage: race-bodies.py SECONDS ENDPOINT... where an ENDPOINT is
  s3=URL/BUCKET     an S3 gateway (keys AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)
  fs=DIR            a directory of a mount; writes go to DIR/.race-tmp, then
                    rename(2) over the key, so they are atomic as S3 PUTs are.
Each endpoint gets writer and reader threads. Prints one summary line and
exits 1 when any read returned a body that was not written.
"""
import hashlib
import os
import random
import sys
import threading
import time

import boto3
import botocore.config
import botocore.exceptions

KEYS = ['race-%d' % i for i in range(6)]
MAGIC = b'JFSRACE '
HDR_LEN = len(MAGIC) + 16 + 1 + 10 + 1 + 64 + 1


def make_body(rng):
    # Mostly multi-block bodies (the volume's blocks are small), some tiny.
    n = rng.choice((rng.randrange(1, 4096), rng.randrange(64 << 10, 3 << 20)))
    rest = rng.randbytes(n)
    hdr = b'%s%016x %010d %s\n' % (MAGIC, rng.getrandbits(64), n,
                                   hashlib.sha256(rest).hexdigest().encode())
    assert len(hdr) == HDR_LEN
    return hdr + rest


def judge(body):
    """None when body is one written body, else what is wrong with it."""
    if len(body) < HDR_LEN or not body.startswith(MAGIC):
        zero = body.count(0) > len(body) // 2
        return 'no header (%d bytes%s)' % (len(body), ', mostly zeros' if zero else '')
    try:
        n = int(body[len(MAGIC) + 17:len(MAGIC) + 27])
    except ValueError:
        return 'bad header'
    rest = body[HDR_LEN:]
    if len(rest) != n:
        return 'length %d, header says %d' % (len(rest), n)
    if hashlib.sha256(rest).hexdigest().encode() != body[len(MAGIC) + 28:HDR_LEN - 1]:
        zeros = rest.count(b'\0' * 4096)
        return 'checksum mismatch (%d zero pages)' % zeros
    return None


def slow_read(read):
    """Read to the end in pieces, pausing between them: a slow reader is
    the one whose blocks are deleted under it."""
    out = []
    while True:
        b = read(128 << 10)
        if not b:
            return b''.join(out)
        out.append(b)
        time.sleep(0.002)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.bad = []

    def add(self, what, detail=None):
        with self.lock:
            self.c[what] = self.c.get(what, 0) + 1
            if detail and len(self.bad) < 10:
                self.bad.append(detail)


class S3:
    def __init__(self, spec):
        url, self.bucket = spec.rsplit('/', 1)
        self.name = spec
        cfg = botocore.config.Config(retries={'total_max_attempts': 1},
                                     connect_timeout=5, read_timeout=20)
        self.c = boto3.client('s3', endpoint_url=url, region_name='us-east-1', config=cfg)

    def put(self, key, body):
        self.c.put_object(Bucket=self.bucket, Key=key, Body=body)

    def delete(self, key):
        self.c.delete_object(Bucket=self.bucket, Key=key)

    def get(self, key):
        try:
            r = self.c.get_object(Bucket=self.bucket, Key=key)
            return 'ok', slow_read(r['Body'].read)
        except botocore.exceptions.ClientError as e:
            code = e.response.get('Error', {}).get('Code', '?')
            status = e.response.get('ResponseMetadata', {}).get('HTTPStatusCode', 0)
            if code in ('NoSuchKey', 'InternalError', 'SlowDown'):
                return code, None
            return 'unexpected %s %s' % (status, code), None
        except (botocore.exceptions.BotoCoreError, ConnectionError):
            # a broken transfer (IncompleteReadError, ResponseStreamingError,
            # ConnectionClosedError, a timeout): the client saw the failure
            return 'aborted', None


class Dir:
    def __init__(self, path):
        self.path = path
        self.name = path
        self.tmp = os.path.join(path, '.race-tmp')
        os.makedirs(self.tmp, exist_ok=True)

    def put(self, key, body):
        t = os.path.join(self.tmp, '%s.%d.%d' % (key, os.getpid(), threading.get_ident()))
        with open(t, 'wb') as f:
            f.write(body)
        os.rename(t, os.path.join(self.path, key))

    def delete(self, key):
        try:
            os.unlink(os.path.join(self.path, key))
        except FileNotFoundError:
            pass

    def get(self, key):
        try:
            with open(os.path.join(self.path, key), 'rb') as f:
                return 'ok', slow_read(f.read)
        except FileNotFoundError:
            return 'ENOENT', None
        except OSError as e:
            if e.errno == 5:
                return 'EIO', None
            return 'unexpected %s' % e, None


def writer(ep, stop, st, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        key = rng.choice(KEYS)
        try:
            if rng.random() < 0.2:
                ep.delete(key)
                st.add('deletes')
            else:
                ep.put(key, make_body(rng))
                st.add('puts')
        except (botocore.exceptions.ClientError, OSError):
            st.add('write errors')  # a failed write is not what this test judges
        except Exception as e:
            st.add('write errors', 'write %s: %r' % (ep.name, e))


def reader(ep, stop, st, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        key = rng.choice(KEYS)
        try:
            what, body = ep.get(key)
        except Exception as e:  # not a body: reported, not judged
            st.add('read errors', 'read %s %s: %r' % (ep.name, key, e))
            continue
        if what == 'ok':
            why = judge(body)
            if why:
                st.add('BAD', '%s %s: %s' % (ep.name, key, why))
            else:
                st.add('good')
        elif what.startswith('unexpected'):
            st.add('BAD', '%s %s: %s' % (ep.name, key, what))
        else:
            st.add(what)


def main():
    secs = float(sys.argv[1])
    eps = [S3(a[3:]) if a.startswith('s3=') else Dir(a[3:]) for a in sys.argv[2:]]
    # seed the keys so that readers find bodies at once
    rng = random.Random(1)
    for k in KEYS:
        eps[0].put(k, make_body(rng))
    st, stop, ts = Stats(), threading.Event(), []
    for i, ep in enumerate(eps):
        for j in range(2):
            ts.append(threading.Thread(target=writer, args=(ep, stop, st, 100 * i + j)))
            ts.append(threading.Thread(target=reader, args=(ep, stop, st, 1000 + 100 * i + j)))
    for t in ts:
        t.start()
    time.sleep(secs)
    stop.set()
    for t in ts:
        t.join(60)
    print(' '.join('%s=%d' % kv for kv in sorted(st.c.items())))
    for b in st.bad:
        print('  ' + b)
    # A run where nothing was read whole proves nothing.
    return 1 if st.c.get('BAD') or not st.c.get('good') else 0


if __name__ == '__main__':
    sys.exit(main())
