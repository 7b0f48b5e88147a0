#!/usr/bin/env python3
"""fsx-style random test: random writes, truncates, reads, mmap reads and
writes, punch holes, fsyncs and reopens on one file, against an in-memory
model; every read is compared with the model, and the whole file after every
step that changes the size.

usage: fsx.py FILE [OPS] [SEED] [MAXLEN]
Exit 0 when every comparison matched; on a mismatch prints the op log tail.
"""
import ctypes
import mmap
import os
import random
import sys

FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2

path = sys.argv[1]
nops = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
seed = int(sys.argv[3]) if len(sys.argv) > 3 else random.randrange(1 << 30)
maxlen = int(sys.argv[4]) if len(sys.argv) > 4 else 3 << 20
rnd = random.Random(seed)
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]

model = bytearray()
log = []
fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o644)


def fail(msg):
    print("fsx: seed %d: %s" % (seed, msg))
    for line in log[-15:]:
        print("fsx:   " + line)
    sys.exit(1)


def check_range(off, n, got):
    want = bytes(model[off:off + n])
    if got != want:
        bad = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                   min(len(got), len(want)))
        fail("mismatch at %d (read %d@%d): got %d bytes, want %d" %
             (off + bad, n, off, len(got), len(want)))


def check_all(off=0, n=None):
    """Size always; content of [off, off+n) (the whole file when n is None)."""
    st = os.fstat(fd)
    if st.st_size != len(model):
        fail("size %d, model %d" % (st.st_size, len(model)))
    if n is None:
        off, n = 0, len(model) + 1
    check_range(off, n, os.pread(fd, n, off))


def rand_range():
    off = rnd.randrange(maxlen)
    n = rnd.choice([1, 7, 512, 4096, 65536, 131072 + 3, rnd.randrange(1, 300000)])
    return off, min(n, maxlen - off) or 1


for i in range(nops):
    if i % 50 == 49:
        check_all()
    op = rnd.choices(["write", "read", "trunc", "mread", "mwrite", "punch", "fsync", "reopen"],
                     [30, 25, 8, 10, 8, 5, 4, 3])[0]
    if op == "write":
        off, n = rand_range()
        data = rnd.randbytes(n)
        log.append("%d write %d@%d" % (i, n, off))
        if os.pwrite(fd, data, off) != n:
            fail("short write")
        if off > len(model):
            model.extend(b"\0" * (off - len(model)))
        model[off:off + n] = data
        check_all(max(0, off - 100), n + 200)
    elif op == "read":
        off, n = rand_range()
        off = min(off, len(model))
        log.append("%d read %d@%d" % (i, n, off))
        check_range(off, n, os.pread(fd, n, off))
    elif op == "trunc":
        n = rnd.randrange(maxlen)
        log.append("%d truncate %d" % (i, n))
        os.ftruncate(fd, n)
        if n < len(model):
            del model[n:]
        else:
            model.extend(b"\0" * (n - len(model)))
        check_all()
    elif op in ("mread", "mwrite"):
        if not model:
            continue
        off, n = rand_range()
        off = min(off, len(model) - 1)
        n = min(n, len(model) - off)
        log.append("%d %s %d@%d" % (i, op, n, off))
        m = mmap.mmap(fd, len(model))
        if op == "mread":
            check_range(off, n, m[off:off + n])
        else:
            data = rnd.randbytes(n)
            m[off:off + n] = data
            model[off:off + n] = data
            m.flush()
        m.close()
        if op == "mwrite":
            check_all(off, n)
    elif op == "punch":
        if not model:
            continue
        off, n = rand_range()
        log.append("%d punch %d@%d" % (i, n, off))
        if libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, n):
            fail("fallocate: %s" % os.strerror(ctypes.get_errno()))
        end = min(off + n, len(model))
        if off < end:
            model[off:end] = b"\0" * (end - off)
        check_all(max(0, off - 100), n + 200)
    elif op == "fsync":
        log.append("%d fsync" % i)
        os.fsync(fd)
    else:
        log.append("%d reopen" % i)
        os.close(fd)
        fd = os.open(path, os.O_RDWR)
        check_all()

os.close(fd)
with open(path, "rb") as f:
    if f.read() != bytes(model):
        fail("final content differs")
print("fsx: seed %d: %d ops, final size %d, all matched" % (seed, nops, len(model)))
