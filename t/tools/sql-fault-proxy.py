#!/usr/bin/env python3
"""sql-fault-proxy: a TCP proxy in front of a real PostgreSQL or MySQL/MariaDB
server that loses the answer to chosen slice commits, for tests of what a
client does when a commit's outcome is unknown (the SQL twin of
redis-fault-proxy.py).

Every byte is passed through unchanged. The proxy follows the messages the
client sends (no TLS, no compression) and marks a transaction that appends
to a chunk:
  --proto pg     protocol 3: a Parse whose query is INSERT INTO jfs_chunk
                 ... || names a statement, a Bind of that statement marks;
                 COMMIT and ROLLBACK come as simple Queries, or as a Parse
                 in a pipeline, whose COMMIT is sent at the Sync after it;
  --proto mysql  packets (3-byte length, sequence byte, payload): a
                 COM_QUERY INSERT INTO jfs_chunk ... concat( marks, alone
                 or among the ';'-separated statements of one query (the
                 client sends BEGIN and queued writes with the next one); a
                 query that ends in COMMIT commits.
Every Nth marked transaction's COMMIT is forwarded, then, once the server
had the time to run it, both connections are closed without the answer:
applied, reply lost.

Usage: sql-fault-proxy.py --proto pg|mysql --listen PORT --to HOST:PORT
                          [--every N] [--stats FILE]
--stats FILE is rewritten after each fault with "faults=<n> commits=<m>".
The proxy stops on SIGTERM.
"""
import argparse
import asyncio
import signal
import struct

args = None
seen = 0
faults = 0


def write_stats():
    if args.stats:
        with open(args.stats, "w") as f:
            f.write("faults=%d commits=%d\n" % (faults, seen))


class Txn:
    """What one connection's transaction did so far: a chunk append marks it,
    its end says whether this COMMIT is the one to lose."""

    def __init__(self):
        self.marked = False

    def end(self, query):
        """query ended the transaction (COMMIT or ROLLBACK, upper case):
        True when its answer is to be lost."""
        global seen
        lose = False
        if query == b"COMMIT" and self.marked:
            seen += 1
            lose = seen % args.every == 0
        self.marked = False
        return lose


class PgScanner(Txn):
    def __init__(self):
        super().__init__()
        self.started = False
        self.chunk_stmts = set()
        self.commit_pending = False  # a pipelined COMMIT, sent at the next Sync

    def scan(self, buf):
        """Whole messages at the front of buf: (bytes to forward, rest, lose)."""
        out = b""
        while True:
            if not self.started:  # the startup message has no type byte
                if len(buf) < 4:
                    break
                n = struct.unpack("!I", buf[:4])[0]
                if len(buf) < n:
                    break
                out, buf, self.started = out + buf[:n], buf[n:], True
                continue
            if len(buf) < 5:
                break
            t = buf[:1]
            n = struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + n:
                break
            body = buf[5:1 + n]
            out, buf = out + buf[:1 + n], buf[1 + n:]
            if t == b"P":
                name, rest = body.split(b"\0", 1)
                query = rest.split(b"\0", 1)[0]
                if b"INSERT INTO jfs_chunk (" in query and b"||" in query:
                    self.chunk_stmts.add(name)
                q = query.strip().upper()
                if q in (b"COMMIT", b"ROLLBACK"):
                    self.commit_pending = self.end(q)
            elif t == b"S" and self.commit_pending:
                self.commit_pending = False
                return out, buf, True
            elif t == b"B":
                _portal, rest = body.split(b"\0", 1)
                if rest.split(b"\0", 1)[0] in self.chunk_stmts:
                    self.marked = True
            elif t == b"Q":
                q = body.rstrip(b"\0").strip().upper()
                if q in (b"COMMIT", b"ROLLBACK") and self.end(q):
                    return out, buf, True
        return out, buf, False


class MyScanner(Txn):
    COM_QUERY = 3

    def scan(self, buf):
        out = b""
        while len(buf) >= 4:
            n = int.from_bytes(buf[:3], "little")
            if len(buf) < 4 + n:
                break
            payload = buf[4:4 + n]
            out, buf = out + buf[:4 + n], buf[4 + n:]
            if not payload or payload[0] != self.COM_QUERY:
                continue
            # the literals are numbers and hex, so ';' only separates statements
            stmts = [x.strip() for x in payload[1:].split(b";")]
            if any(x.startswith(b"INSERT INTO jfs_chunk (") and b"concat(" in x for x in stmts):
                self.marked = True
            last = stmts[-1].upper()
            if last in (b"COMMIT", b"ROLLBACK") and self.end(last):
                return out, buf, True
        return out, buf, False


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(creader, cwriter):
    global faults
    host, port = args.to.rsplit(":", 1)
    try:
        sreader, swriter = await asyncio.open_connection(host, int(port))
    except OSError:
        cwriter.close()
        return
    back = asyncio.ensure_future(pipe(sreader, cwriter))
    scanner = PgScanner() if args.proto == "pg" else MyScanner()
    buf = b""
    try:
        while True:
            data = await creader.read(65536)
            if not data:
                break
            out, buf, lose = scanner.scan(buf + data)
            swriter.write(out)
            await swriter.drain()
            if lose:
                # let the server run COMMIT, then lose its answer; counted
                # first: closing the client's side may cancel this task
                faults += 1
                write_stats()
                back.cancel()
                await asyncio.sleep(0.3)
                break
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        swriter.close()
        cwriter.close()
        if not back.done():
            back.cancel()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", args.listen)
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    write_stats()
    async with server:
        await stop


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--proto", choices=("pg", "mysql"), required=True)
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--every", type=int, default=3)
    p.add_argument("--stats")
    args = p.parse_args()
    asyncio.run(main())
