#!/usr/bin/env python3
"""my-fault-proxy: a TCP proxy in front of a real MySQL/MariaDB server that
loses the answer to chosen slice commits, for tests of what a client does
when a commit's outcome is unknown (the MySQL twin of pg-fault-proxy.py).

Every byte is passed through unchanged. The proxy follows the client's
packets (3-byte length, sequence byte, payload; no TLS, no compression): a
COM_QUERY that appends to a chunk (INSERT INTO jfs_chunk ... concat, alone
or among the ';'-separated statements of one query) marks the open
transaction; every Nth marked transaction's COMMIT (a query ending in it) is
forwarded,
then, once the server had the time to run it, both connections are closed
without the answer: applied, reply lost.

Usage: my-fault-proxy.py --listen PORT --to HOST:PORT [--every N] [--stats FILE]
--stats FILE is rewritten after each fault with "faults=<n> commits=<m>".
The proxy stops on SIGTERM.
"""
import argparse
import asyncio
import signal

COM_QUERY = 3

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
    marked = False
    try:
        while True:
            data = await creader.read(65536)
            if not data:
                break
            buf += data
            out = b""
            drop = False
            while len(buf) >= 4:
                n = int.from_bytes(buf[:3], "little")
                if len(buf) < 4 + n:
                    break
                pkt, payload = buf[:4 + n], buf[4:4 + n]
                buf = buf[4 + n:]
                out += pkt
                if not payload or payload[0] != COM_QUERY:
                    continue
                # A query may carry several statements (the client sends a
                # transaction's BEGIN and queued writes with the next one);
                # its literals are numbers and hex, so ';' only separates.
                stmts = [x.strip() for x in payload[1:].split(b";")]
                if any(x.startswith(b"INSERT INTO jfs_chunk (") and b"concat(" in x
                       for x in stmts):
                    marked = True
                last = stmts[-1].upper()
                if last == b"COMMIT" and marked:
                    seen += 1
                    marked = False
                    if seen % args.every == 0:
                        drop = True
                        break
                elif last in (b"COMMIT", b"ROLLBACK"):
                    marked = False
            swriter.write(out)
            await swriter.drain()
            if drop:
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
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--every", type=int, default=3)
    p.add_argument("--stats")
    args = p.parse_args()
    asyncio.run(main())
