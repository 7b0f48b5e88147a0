#!/usr/bin/env python3
"""pg-fault-proxy: a TCP proxy in front of a real postgres that loses the
answer to chosen slice commits, for tests of what a client does when a
commit's outcome is unknown (the PostgreSQL twin of redis-fault-proxy.py).

Every byte is passed through unchanged. The proxy follows the frontend
messages of each connection (protocol 3, no TLS: sslmode=disable): a Parse
whose query appends to a chunk (INSERT INTO jfs_chunk ... ||) names a
statement; a Bind of that statement marks the open transaction; every Nth
marked transaction's COMMIT (a simple Query, or a Parse of COMMIT in a
pipeline, up to the Sync that ends it) is forwarded, then, once the
server had the time to run it, both connections are closed without the
answer: applied, reply lost.

Usage: pg-fault-proxy.py --listen PORT --to HOST:PORT [--every N] [--stats FILE]
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
    global seen, faults
    host, port = args.to.rsplit(":", 1)
    try:
        sreader, swriter = await asyncio.open_connection(host, int(port))
    except OSError:
        cwriter.close()
        return
    back = asyncio.ensure_future(pipe(sreader, cwriter))
    buf = b""
    started = False
    chunk_stmts = set()
    marked = False
    commit_parsed = False
    try:
        while True:
            data = await creader.read(65536)
            if not data:
                break
            buf += data
            out = b""
            drop = False
            while True:
                if not started:
                    if len(buf) < 4:
                        break
                    n = struct.unpack("!I", buf[:4])[0]
                    if len(buf) < n:
                        break
                    out += buf[:n]
                    buf = buf[n:]
                    started = True
                    continue
                if len(buf) < 5:
                    break
                t = buf[:1]
                n = struct.unpack("!I", buf[1:5])[0]
                if len(buf) < 1 + n:
                    break
                msg, body = buf[:1 + n], buf[5:1 + n]
                buf = buf[1 + n:]
                out += msg
                if t == b"P":
                    name, rest = body.split(b"\0", 1)
                    query = rest.split(b"\0", 1)[0]
                    if b"INSERT INTO jfs_chunk (" in query and b"||" in query:
                        chunk_stmts.add(name)
                    q = query.strip().upper()
                    if q in (b"COMMIT", b"ROLLBACK"):
                        commit_parsed = marked and q == b"COMMIT"
                        marked = False
                elif t == b"S" and commit_parsed:
                    commit_parsed = False
                    seen += 1
                    if seen % args.every == 0:
                        drop = True
                        break
                elif t == b"B":
                    _portal, rest = body.split(b"\0", 1)
                    if rest.split(b"\0", 1)[0] in chunk_stmts:
                        marked = True
                elif t == b"Q":
                    q = body.rstrip(b"\0").strip().upper()
                    if q == b"COMMIT" and marked:
                        seen += 1
                        marked = False
                        if seen % args.every == 0:
                            drop = True
                            break
                    elif q in (b"COMMIT", b"ROLLBACK"):
                        marked = False
            swriter.write(out)
            await swriter.drain()
            if drop:
                # let the server run COMMIT, then lose its answer
                back.cancel()
                await asyncio.sleep(0.3)
                faults += 1
                write_stats()
                break
    except ConnectionError:
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
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--every", type=int, default=3)
    p.add_argument("--stats")
    args = p.parse_args()
    asyncio.run(main())
