"""Start gate for the conditional-write race drivers (s3-cas-race.py,
dav-cond-race.py): TAP-like check lines, and race(), which runs a set of
requests at once so that they all pass the server's look before any commits.
"""
import threading


def check(desc, cond, detail=""):
    print("%s - %s%s" % ("ok" if cond else "not ok", desc, "" if cond else ": %s" % (detail,)))


def race(fns):
    """Run fns at once (a barrier releases them together); their results in order."""
    out = [None] * len(fns)
    gate = threading.Barrier(len(fns))

    def run(i):
        gate.wait()
        try:
            out[i] = fns[i]()
        except Exception as e:  # a dropped connection is a result too
            out[i] = (0, {}, repr(e).encode())
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out
