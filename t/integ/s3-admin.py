#!/usr/bin/env python3
"""Raw calls of MinIO's admin API for t4703, with bodies mc never sends.

    s3-admin.py ENDPOINT AK SK METHOD PATH?QUERY KIND [JSON]

KIND says what body goes out:
  none       no body
  sealed     JSON sealed as madmin does, under SK (an independent sealer:
             libargon2 through ctypes and python3-cryptography's AES-GCM)
  wrongkey   JSON sealed under another password
  truncated  sealed, the last byte cut
  tampered   sealed, one ciphertext bit flipped
  garbage    64 random bytes
  notjson    the text "not json" sealed properly
  huge       300000 bytes
  plain      JSON as it is
Prints "STATUS CODE" (CODE "-" on success), and for a sealed answer the
opened JSON after it.
"""
import ctypes
import json
import os
import sys
import urllib.request
import urllib.error

import botocore.auth
import botocore.awsrequest
import botocore.credentials
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ep, ak, sk, method, path, kind, *rest = sys.argv[1:]
doc = rest[0] if rest else "{}"

_argon2 = ctypes.CDLL("libargon2.so.1")
_argon2.argon2id_hash_raw.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32,
                                      ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                      ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]


def kdf(password, salt):
    out = ctypes.create_string_buffer(32)
    pw = password.encode()
    r = _argon2.argon2id_hash_raw(1, 65536, 4, pw, len(pw), salt, 32, out, 32)
    assert r == 0, r
    return out.raw


def seal(password, data, frag=16384):
    salt, nonce = os.urandom(32), os.urandom(8)
    a = AESGCM(kdf(password, salt))
    t0 = a.encrypt(nonce + (0).to_bytes(4, "little"), b"", None)
    out, seq, pos = [salt, b"\0", nonce], 1, 0
    while True:
        chunk = data[pos:pos + frag]
        final = pos + frag >= len(data)
        ad = (b"\x80" if final else b"\0") + t0
        out.append(a.encrypt(nonce + seq.to_bytes(4, "little"), chunk, ad))
        seq, pos = seq + 1, pos + frag
        if final:
            return b"".join(out)


def unseal(password, blob, frag=16384):
    salt, alg, nonce, rest = blob[:32], blob[32], blob[33:41], blob[41:]
    assert alg == 0
    a = AESGCM(kdf(password, salt))
    t0 = a.encrypt(nonce + (0).to_bytes(4, "little"), b"", None)
    out, seq = [], 1
    while True:
        final = len(rest) <= frag + 16
        part, rest = (rest, b"") if final else (rest[:frag + 16], rest[frag + 16:])
        ad = (b"\x80" if final else b"\0") + t0
        out.append(a.decrypt(nonce + seq.to_bytes(4, "little"), part, ad))
        seq += 1
        if final:
            return b"".join(out)


body = {
    "none": lambda: b"",
    "wrongkey": lambda: seal("not-the-secret", doc.encode()),
    "garbage": lambda: os.urandom(64),
    "notjson": lambda: seal(sk, b"not json"),
    "huge": lambda: b"x" * 300000,
    "plain": lambda: doc.encode(),
}.get(kind, lambda: None)()
if kind in ("sealed", "truncated", "tampered"):
    body = seal(sk, doc.encode())
    if kind == "truncated":
        body = body[:-1]
    elif kind == "tampered":
        b = bytearray(body)
        b[50] ^= 1
        body = bytes(b)

url = ep + path
req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
req.headers["x-amz-content-sha256"] = __import__("hashlib").sha256(body).hexdigest()
botocore.auth.SigV4Auth(botocore.credentials.Credentials(ak, sk), "s3", "").add_auth(req)
r = urllib.request.Request(url, data=body if body else None, method=method,
                           headers=dict(req.headers.items()))
try:
    with urllib.request.urlopen(r, timeout=60) as resp:
        data, status, code = resp.read(), resp.status, "-"
except urllib.error.HTTPError as e:
    data, status = e.read(), e.code
    try:
        code = json.loads(data).get("Code", "?")
    except ValueError:
        code = "not-json"
extra = ""
if code == "-" and data:
    # A sealed body starts with a random salt, so its first byte alone cannot
    # tell it from JSON: it began with "{" once in a CI run (1 in 128).
    try:
        json.loads(data)
        extra = " " + data.decode()
    except ValueError:
        try:
            extra = " " + unseal(sk, data).decode()
        except Exception as e:  # noqa: BLE001 - print what failed
            extra = " unseal-failed:%s" % e
print("%d %s%s" % (status, code, extra))
