#!/usr/bin/env python3
"""Hostile HTTP clients for the S3 gateway and the WebDAV server (t4401,
t4402, t5101, t5102). Raw sockets, so that the bytes are exactly the ones
named; every wait is bounded.

usage:
  http-abuse.py flood PORT READY-FILE [--idle N] [--slow N] [--once N]
                [--kaslow N] [--sources A,B,...] [--hold S]
      Opens --idle connections that never send a byte, --slow ones that send
      a request head one byte every 0.5 s, --once ones that send one
      request without credentials and keep the connection open, and --kaslow
      ones that do the same, then send the next request line at once and the
      rest of its head one byte every 0.5 s; source
      addresses are taken in turn from --sources (127.0.0.0/8 is all
      loopback). Writes "ready <opened> <failed>" to READY-FILE when all are
      open, then holds them until SIGTERM or --hold seconds, and prints how
      many of each kind the server closed, and after how long.
  http-abuse.py cap PORT SOURCE N
      Opens N connections from SOURCE, then sends a GET on each: prints
      "<answered-503> <other-answers> <resets-or-silent>", waiting at most
      60 s for all answers, and a line of detail on stderr.
  http-abuse.py raw PORT CASE [--auth HDR] [--s3 AK:SK] [--path P] [--host H]
      Sends one named malformed request (see CASES) on a fresh connection
      and prints "<status|none> <closed|open> <seconds>": the status of the
      first answer, whether the server closed the connection within 8 s, and
      how long the answer took. --s3 signs each head (SigV4) for the
      request it would be without the malformation.
  http-abuse.py chunked PORT BUCKET KEY AK SK CASE
      A SigV4 aws-chunked upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) whose
      body is CASE: "good", or "stray" (one byte after the final chunk),
      prints "<status|none> <seconds> <error-code>".
"""
import hashlib
import hmac
import os
import select
import signal
import socket
import sys
import time


def connect(port, source=None, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_answer(s, wait=8.0, first_only=False):
    """(status or None, closed, seconds, raw bytes) of the first answer;
    reads until the server closes or WAIT passes (FIRST_ONLY: until the
    status line is in)."""
    t0 = time.monotonic()
    data = b""
    status = None
    closed = False
    end = t0 + wait
    first = None
    while time.monotonic() < end:
        p = select.poll()
        p.register(s, select.POLLIN)
        if not p.poll(max(0.0, end - time.monotonic()) * 1000):
            break
        try:
            b = s.recv(65536)
        except (ConnectionResetError, OSError):
            closed = True
            break
        if not b:
            closed = True
            break
        if first is None:
            first = time.monotonic()
        data += b
        if status is None and b"\r\n" in data:
            line = data.split(b"\r\n", 1)[0].split(b" ")
            if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
                status = int(line[1])
                if first_only:
                    break
    secs = (first if first is not None else time.monotonic()) - t0
    return status, closed, secs, data


# ---------------------------------------------------------------- flood

def flood(argv):
    port, ready = int(argv[0]), argv[1]
    opt = {"--idle": 0, "--slow": 0, "--once": 0, "--kaslow": 0, "--hold": 280}
    sources = ["127.0.0.1"]
    i = 2
    while i < len(argv):
        if argv[i] == "--sources":
            sources = argv[i + 1].split(",")
        else:
            opt[argv[i]] = int(argv[i + 1])
        i += 2
    conns = []  # [kind, sock, opened-at, closed-after]
    failed = 0
    n = 0
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    for kind in ("idle", "slow", "once", "kaslow"):
        for _ in range(opt["--" + kind]):
            try:
                s = connect(port, sources[n % len(sources)])
                n += 1
                s.setblocking(False)
                sent = 0
                if kind in ("once", "kaslow"):
                    s.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if kind == "kaslow":
                    sent = head.index(b"\n") + 1
                    s.send(head[:sent])
                conns.append([kind, s, time.monotonic(), None, sent])
            except OSError:
                failed += 1
    with open(ready + ".tmp", "w") as f:
        f.write("ready %d %d\n" % (len(conns), failed))
    os.rename(ready + ".tmp", ready)
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__(0, True))
    end = time.monotonic() + opt["--hold"]
    next_byte = time.monotonic()
    while not stop[0] and time.monotonic() < end:
        now = time.monotonic()
        if now >= next_byte:
            next_byte = now + 0.5
            for c in conns:
                if c[0] in ("slow", "kaslow") and c[3] is None and c[4] < len(head):
                    try:
                        c[1].send(head[c[4]:c[4] + 1])
                        c[4] += 1
                    except OSError:
                        c[3] = now - c[2]
        live = {c[1].fileno(): c for c in conns if c[3] is None}
        p = select.poll()
        for fd in live:
            p.register(fd, select.POLLIN)
        ready = {fd for fd, _ in p.poll(100)} if live else set()
        for fd in ready:
            c = live[fd]
            try:
                b = c[1].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                b = b""
            if not b:
                c[3] = time.monotonic() - c[2]
        if not live:
            time.sleep(0.1)
    for kind in ("idle", "slow", "once", "kaslow"):
        mine = [c for c in conns if c[0] == kind]
        gone = [c[3] for c in mine if c[3] is not None]
        print("%s: %d open, %d closed by the server%s" % (
            kind, len(mine), len(gone),
            " (after %.1f-%.1f s)" % (min(gone), max(gone)) if gone else ""))
    for c in conns:
        c[1].close()


# ---------------------------------------------------------------- cap

def cap(argv):
    port, source, n = int(argv[0]), argv[1], int(argv[2])
    socks = []
    refused = 0
    t0 = time.monotonic()
    for _ in range(n):
        try:
            socks.append(connect(port, source))
        except OSError:
            refused += 1
    t_conn = time.monotonic() - t0
    time.sleep(0.5)
    for s in socks:
        try:
            s.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        except OSError:
            pass
    # All sockets at once under one deadline: the answers come in the
    # server's order, and on a loaded 2-core machine the last of 512 can take
    # seconds; a per-socket wait in turn would add up.
    t1 = time.monotonic()
    end = t1 + 60
    data = {s.fileno(): b"" for s in socks}
    by_fd = {s.fileno(): s for s in socks}
    status = {}     # fd -> int
    reset = {}      # fd -> "reset" | "closed", ended without a status line
    last = 0.0
    while len(status) + len(reset) < len(socks) and time.monotonic() < end:
        p = select.poll()
        for fd in by_fd:
            if fd not in status and fd not in reset:
                p.register(fd, select.POLLIN)
        for fd, _ in p.poll(max(0.0, end - time.monotonic()) * 1000):
            try:
                b = by_fd[fd].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                reset[fd] = "reset"
                continue
            if not b:
                reset[fd] = "closed"
                continue
            data[fd] += b
            if b"\r\n" in data[fd]:
                line = data[fd].split(b"\r\n", 1)[0].split(b" ")
                if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
                    status[fd] = int(line[1])
                    last = time.monotonic() - t1
    n503 = sum(1 for v in status.values() if v == 503)
    other = len(status) - n503
    silent = refused + (len(socks) - len(status))
    nreset = sum(1 for v in reset.values() if v == "reset")
    sys.stderr.write("cap: %d connected in %.1f s, %d refused; %d answered (last after %.1f s), "
                     "%d reset and %d closed before a status line, %d silent for 60 s\n"
                     % (len(socks), t_conn, refused, len(status), last, nreset,
                        len(reset) - nreset, len(socks) - len(status) - len(reset)))
    for s in socks:
        s.close()
    print(n503, other, silent)


# ---------------------------------------------------------------- raw

def sigv4_lines(method, path, host, s3):
    """Header lines of a SigV4 signature (UNSIGNED-PAYLOAD) for METHOD PATH."""
    if not s3:
        return b""
    ak, sk = s3.split(":", 1)
    region, service = "us-east-1", "s3"
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    day = amz[:8]
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    path, _, query = path.partition("?")
    q = "&".join(sorted(query.split("&"))) if query else ""
    hdrs = {"host": host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-date": amz}
    names = sorted(hdrs)
    creq = "\n".join([method, path, q, "".join("%s:%s\n" % (n, hdrs[n]) for n in names),
                      ";".join(names), "UNSIGNED-PAYLOAD"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + sk).encode()
    for m in (day, region, service, "aws4_request"):
        k = hmac.new(k, m.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    out = "".join("%s: %s\r\n" % (n, hdrs[n]) for n in names if n != "host")
    out += "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s\r\n" % (
        ak, scope, ";".join(names), sig)
    return out.encode()


def cases(path, host, auth, s3):
    a = b"Authorization: " + auth.encode() + b"\r\n" if auth else b""
    h = b"Host: " + host.encode() + b"\r\n"
    p = path.encode()

    def head(method, target, wire_method=None, wire_target=None):
        """A head signed for METHOD TARGET, sent as WIRE_METHOD WIRE_TARGET."""
        return ((wire_method or method.encode()) + b" " + (wire_target or target.encode()) +
                b" HTTP/1.1\r\n" + h + a + sigv4_lines(method, target, host, s3))

    return {
        # A NUL inside the request line: the method must not read as DELETE.
        "nul-method": head("DELETE", path, b"DELETE\x00") + b"\r\n",
        "nul-target": head("DELETE", path, None, p + b"\x00x") + b"\r\n",
        "nul-header": head("GET", path) + b"X-A: a\x00b\r\n\r\n",
        "nul-line": b"\x00" * 32 + b"\r\n",
        "blank-lines": b"\r\n" * 40,
        "two-clen": head("PUT", path + ".2") +
                    b"Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
        "huge-chunk": head("PUT", path + ".3") +
                      b"Transfer-Encoding: chunked\r\n\r\n0xfffffffffffffff\r\nabc",
        "huge-chunk-hex": head("PUT", path + ".4") +
                          b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nabc",
        "many-params": head("GET", path, None, p + b"?" +
                            b"&".join(b"p%d=1" % i for i in range(10000))) + b"\r\n",
        "huge-header": head("GET", path) +
                       b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(200)) + b"\r\n",
        # The same on a kept-alive connection, after a good request.
        "ka-nul-method": head("GET", path) + b"\r\n" + head("DELETE", path, b"DELETE\x00") + b"\r\n",
        "ka-nul-header": head("GET", path) + b"\r\n" + head("GET", path) + b"X-A: a\x00b\r\n\r\n",
        "ka-many-params": head("GET", path) + b"\r\n" + head("GET", path, None, p + b"?" +
                          b"&".join(b"p%d=1" % i for i in range(10000))) + b"\r\n",
        "ka-huge-header": head("GET", path) + b"\r\n" + head("GET", path) +
                          b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(200)) + b"\r\n",
    }


def raw(argv):
    port, case = int(argv[0]), argv[1]
    opt = {"--auth": "", "--path": "/", "--host": "127.0.0.1:%d" % port, "--s3": ""}
    for i in range(2, len(argv), 2):
        opt[argv[i]] = argv[i + 1]
    if case == "nul-basic":
        # --auth USER:PASSWORD; sent as "USER\0x:PASSWORD".
        import base64
        user, pw = opt["--auth"].split(":", 1)
        cred = base64.b64encode(user.encode() + b"\x00x:" + pw.encode()).decode()
        req = b"DELETE " + opt["--path"].encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" \
              b"Authorization: Basic " + cred.encode() + b"\r\n\r\n"
    else:
        req = cases(opt["--path"], opt["--host"], opt["--auth"], opt["--s3"])[case]
    s = connect(port)
    try:
        s.sendall(req)
    except OSError:
        pass
    t0 = time.monotonic()
    status, closed, secs, data = read_answer(s, 8)
    if case.startswith("ka-"):
        # Kept alive: the answer to the second request is the one that counts.
        import re
        while status and len(re.findall(rb"HTTP/1\.[01] \d\d\d ", data)) < 2 and not closed:
            _, closed, _, more = read_answer(s, 8)
            if not more:
                break
            data += more
        found = re.findall(rb"HTTP/1\.[01] (\d\d\d) ", data)
        status = int(found[1]) if len(found) > 1 else None
        secs = time.monotonic() - t0
    elif status and not closed:
        _, closed, _, _ = read_answer(s, 8)
    s.close()
    print("%s %s %.2f" % (status if status else "none", "closed" if closed else "open", secs))


# ---------------------------------------------------------------- aws-chunked

def chunked(argv):
    port, bucket, key, ak, sk, case = int(argv[0]), argv[1], argv[2], argv[3], argv[4], argv[5]
    region, service = "us-east-1", "s3"
    t = time.gmtime()
    amz = time.strftime("%Y%m%dT%H%M%SZ", t)
    day = amz[:8]
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    data = b"x" * 1000
    chunk_sz = 600

    def hm(k, m):
        return hmac.new(k, m.encode() if isinstance(m, str) else m, hashlib.sha256).digest()

    kd = hm(hm(hm(hm(("AWS4" + sk).encode(), day), region), service), "aws4_request")
    host = "127.0.0.1:%d" % port
    path = "/%s/%s" % (bucket, key)
    hdrs = {
        "host": host,
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "x-amz-date": amz,
        "x-amz-decoded-content-length": str(len(data)),
        "content-encoding": "aws-chunked",
    }
    pieces = [data[i:i + chunk_sz] for i in range(0, len(data), chunk_sz)] + [b""]
    # Lengths first: Content-Length is signed.
    sig_len = 64
    body_len = 0
    for p in pieces:
        body_len += len("%x;chunk-signature=" % len(p)) + sig_len + 2 + len(p) + 2
    extra = b"Z" if case == "stray" else b""
    hdrs["content-length"] = str(body_len + len(extra))
    names = sorted(hdrs)
    creq = "\n".join(["PUT", path, "", "".join("%s:%s\n" % (n, hdrs[n]) for n in names),
                      ";".join(names), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    seed = hmac.new(kd, sts.encode(), hashlib.sha256).hexdigest()
    auth = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ak, scope, ";".join(names), seed)
    prev = seed
    body = b""
    empty = hashlib.sha256(b"").hexdigest()
    for p in pieces:
        s2s = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz, scope, prev, empty,
                         hashlib.sha256(p).hexdigest()])
        prev = hmac.new(kd, s2s.encode(), hashlib.sha256).hexdigest()
        body += b"%x;chunk-signature=%s\r\n" % (len(p), prev.encode()) + p + b"\r\n"
    body += extra
    req = ("PUT %s HTTP/1.1\r\n" % path).encode()
    for n in names:
        req += ("%s: %s\r\n" % (n, hdrs[n])).encode()
    req += ("Authorization: %s\r\n\r\n" % auth).encode() + body
    s = connect(port)
    s.sendall(req)
    status, closed, secs, data = read_answer(s, 8)
    code = "-"
    if b"<Code>" in data:
        code = data.split(b"<Code>", 1)[1].split(b"<", 1)[0].decode()
    s.close()
    print("%s %.2f %s" % (status if status else "none", secs, code))


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"flood": flood, "cap": cap, "raw": raw, "chunked": chunked}[cmd](sys.argv[2:])
