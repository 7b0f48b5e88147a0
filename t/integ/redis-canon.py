#!/usr/bin/env python3
"""Print every key of one Redis database in a canonical text form.

Usage: redis-canon.py PORT DB [--keys-only]

One line per key, sorted: KEY TYPE VALUE, where binary strings are hex and
collections list their sorted fields/members. Per-volume and volatile parts
are blanked so two volumes can be compared byte for byte: setting UUID, Name
and Bucket; the times (bytes 11..46) of attributes; session expiry scores and
SessionInfo; delfiles scores. A plain socket and RESP are used, so nothing
beyond python3 is needed.
"""
import re
import socket
import sys


class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)


def show(b):
    try:
        s = b.decode("ascii")
        if all(0x21 <= ord(c) <= 0x7E for c in s):
            return s
    except UnicodeDecodeError:
        pass
    return "0x" + b.hex()


def main():
    port, db = int(sys.argv[1]), sys.argv[2]
    keys_only = "--keys-only" in sys.argv
    r = Redis(port)
    r.cmd("SELECT", db)
    for k in sorted(r.cmd("KEYS", "*")):
        ks = k.decode()
        t = r.cmd("TYPE", k)
        if keys_only:
            print(ks, t)
            continue
        if t == "string":
            v = r.cmd("GET", k)
            if ks == "setting":
                s = v.decode()
                s = re.sub(r'"(UUID|Name|Bucket)": "[^"]*"', r'"\1": "-"', s)
                val = s.replace("\n", "\\n")
            elif re.fullmatch(r"i[0-9]+", ks) and len(v) >= 47:
                val = "0x" + v[:11].hex() + "TTTT" + v[47:].hex()
            else:
                val = show(v)
        elif t == "hash":
            a = r.cmd("HGETALL", k)
            pairs = sorted(zip(a[0::2], a[1::2]))
            if ks == "sessionInfos":
                pairs = [(f, b"-") for f, _ in pairs]
            val = " ".join("%s=%s" % (show(f), show(v)) for f, v in pairs)
        elif t == "list":
            val = " ".join(show(v) for v in r.cmd("LRANGE", k, "0", "-1"))
        elif t == "set":
            val = " ".join(sorted(show(v) for v in r.cmd("SMEMBERS", k)))
        elif t == "zset":
            a = r.cmd("ZRANGE", k, "0", "-1", "WITHSCORES")
            pairs = sorted(zip(a[0::2], a[1::2]))
            if ks in ("allSessions", "delfiles", "sessions"):
                pairs = [(f, b"-") for f, _ in pairs]
            val = " ".join("%s=%s" % (show(f), show(v)) for f, v in pairs)
        else:
            val = "?"
        print(ks, t, val)


main()
