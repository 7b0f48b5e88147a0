#!/usr/bin/env python3
"""redis-fault-proxy: a TCP proxy in front of a real redis-server that loses
the answer to chosen slice commits, for tests of what a client does when a
commit's outcome is unknown.

Every byte is passed through unchanged, except: when a client's MULTI ...
EXEC transaction contains an RPUSH to a chunk key (c<ino>_<indx>, with or
without a "{db}" prefix), every Nth such transaction is hit by the fault:

  after   (default) EXEC is forwarded, the server runs it, its answer is
          swallowed and both connections are closed: applied, reply lost.
  before  the transaction is forwarded without its EXEC and both
          connections are closed: the server discards it, nothing applied.

With --fail-key REGEX, any command whose first key matches REGEX closes
the connection instead (nothing forwarded): the engine stays reachable but
cannot read or write those keys, as when a server keeps dying on them.

Usage: redis-fault-proxy.py --listen PORT --to HOST:PORT [--every N]
       [--max K] [--mode after|before] [--fail-key REGEX] [--stats FILE]

--stats FILE is rewritten after each fault with "faults=<n> commits=<m>"
(m: chunk transactions seen). The proxy stops on SIGTERM.
"""
import argparse
import asyncio
import os
import re
import signal
import sys

CHUNK_KEY = re.compile(rb"^(\{[^}]*\})?c\d+_\d+$")


class Resp:
    """Incremental parser of the client's command stream (RESP arrays)."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data

    def next(self):
        """(raw bytes, [args]) of the next whole command, or None."""
        b = self.buf
        if not b:
            return None
        if b[:1] != b"*":
            # inline command: up to the end of the line
            i = b.find(b"\r\n")
            if i < 0:
                return None
            raw = b[: i + 2]
            self.buf = b[i + 2 :]
            return raw, raw.split()
        i = b.find(b"\r\n")
        if i < 0:
            return None
        n = int(b[1:i])
        pos = i + 2
        args = []
        for _ in range(max(n, 0)):
            j = b.find(b"\r\n", pos)
            if j < 0:
                return None
            if b[pos : pos + 1] != b"$":
                raise ValueError("unexpected RESP from client")
            ln = int(b[pos + 1 : j])
            start = j + 2
            if len(b) < start + ln + 2:
                return None
            args.append(b[start : start + ln])
            pos = start + ln + 2
        raw = b[:pos]
        self.buf = b[pos:]
        return raw, args


class Proxy:
    def __init__(self, opts):
        self.o = opts
        self.commits = 0
        self.faults = 0
        self.fail_key = re.compile(opts.fail_key.encode()) if opts.fail_key else None

    def stats(self):
        if self.o.stats:
            with open(self.o.stats + ".tmp", "w") as f:
                f.write("faults=%d commits=%d\n" % (self.faults, self.commits))
            os.replace(self.o.stats + ".tmp", self.o.stats)

    def want_fault(self):
        self.commits += 1
        hit = self.commits % self.o.every == 0 and (self.o.max < 0 or self.faults < self.o.max)
        if hit:
            self.faults += 1
        self.stats()
        return hit

    async def handle(self, cr, cw):
        host, port = self.o.to.rsplit(":", 1)
        try:
            sr, sw = await asyncio.open_connection(host, int(port))
        except OSError:
            cw.close()
            return
        state = {"mute": False}

        async def down():
            try:
                while True:
                    d = await sr.read(65536)
                    if not d:
                        break
                    if not state["mute"]:
                        cw.write(d)
                        await cw.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                cw.close()

        task = asyncio.ensure_future(down())
        parser = Resp()
        multi = None  # raw bytes of the open transaction, None outside one
        chunk = False
        try:
            while True:
                d = await cr.read(65536)
                if not d:
                    break
                parser.feed(d)
                out = b""
                while True:
                    c = parser.next()
                    if c is None:
                        break
                    raw, args = c
                    name = args[0].upper() if args else b""
                    if self.fail_key and len(args) > 1 and self.fail_key.match(args[1]):
                        self.faults += 1
                        self.stats()
                        raise ConnectionAbortedError
                    if name == b"MULTI":
                        multi, chunk = b"", False
                    if multi is None:
                        out += raw
                        continue
                    if name == b"RPUSH" and len(args) > 1 and CHUNK_KEY.match(args[1]):
                        chunk = True
                    if name in (b"EXEC", b"DISCARD"):
                        if name == b"EXEC" and chunk and self.want_fault():
                            sw.write(out + multi)
                            if self.o.mode == "after":
                                state["mute"] = True
                                sw.write(raw)
                            await sw.drain()
                            # let the server run it (or see it cut) before we hang up
                            await asyncio.sleep(0.3)
                            raise ConnectionAbortedError
                        out += multi + raw
                        multi = None
                        continue
                    multi += raw
                if out:
                    sw.write(out)
                    await sw.drain()
        except (OSError, ValueError, ConnectionAbortedError, asyncio.CancelledError):
            pass
        finally:
            sw.close()
            cw.close()
            task.cancel()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--max", type=int, default=-1)
    ap.add_argument("--mode", choices=("after", "before"), default="after")
    ap.add_argument("--fail-key")
    ap.add_argument("--stats")
    o = ap.parse_args()
    if o.every < 1:
        sys.exit("--every must be >= 1")
    p = Proxy(o)
    p.stats()
    srv = await asyncio.start_server(p.handle, "127.0.0.1", o.listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with srv:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
