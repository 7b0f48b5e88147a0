#!/usr/bin/env python3
"""Write a synthetic JuiceFS 1.x JSON dump of N regular files, for load/dump
benchmarks and for tests that need a load to take a while.

Usage: gen-dump.py N [PER-DIR] > dump.json

Files sit in directories of PER-DIR (default 1000) files under the root; each
file has one chunk with one slice (its own id, 1-65536 bytes), every 16th file
an xattr, every 100th file a second name (hard link) in the same directory.
The output is streamed, so N may be millions.
"""
import sys
import uuid

N = int(sys.argv[1])
PER = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
T = 1764900000
out = sys.stdout
w = out.write


def attr(ino, typ, mode, nlink, length):
    return ('{"inode":%d,"type":"%s","mode":%d,"uid":0,"gid":0,"atime":%d,"mtime":%d,'
            '"ctime":%d,"nlink":%d,"length":%d}' % (ino, typ, mode, T, T, T, nlink, length))


ndirs = (N + PER - 1) // PER
used_space = 0
w('{\n  "Setting": {\n    "Name": "benchvol",\n    "UUID": "%s",\n' % uuid.uuid4())
w('    "Storage": "file",\n    "Bucket": "/tmp/benchvol/",\n    "BlockSize": 4096,\n')
w('    "Compression": "none",\n    "TrashDays": 1,\n    "MetaVersion": 1,\n')
w('    "DirStats": true,\n    "EnableACL": false\n  },\n')
w('  "Counters": {\n    "usedSpace": 0,\n    "usedInodes": %d,\n    "nextInodes": %d,\n'
  '    "nextChunk": %d,\n    "nextSession": 0,\n    "nextTrash": 0\n  },\n'
  % (N + ndirs, N + ndirs + 2, N + 1))
w('  "Sustained": [],\n  "DelFiles": [],\n')
w('  "FSTree": {\n    "attr": %s,\n    "entries": {' % attr(1, "directory", 511, 2 + ndirs, 0))
ino = 2
sid = 1
done = 0
for d in range(ndirs):
    dino = ino
    ino += 1
    w('%s\n      "d%06d": {\n        "attr": %s,\n        "entries": {'
      % ("," if d else "", d, attr(dino, "directory", 493, 2, 0)))
    k = min(PER, N - done)
    names = []
    for i in range(k):
        fino = ino
        ino += 1
        length = 1 + (fino * 7919) % 65536
        linked = (done + i) % 100 == 99
        body = '"attr": %s' % attr(fino, "regular", 420, 2 if linked else 1, length)
        if (done + i) % 16 == 0:
            body += ',\n            "xattrs": [{"name":"user.k","value":"v%d"}]' % fino
        body += (',\n            "chunks": [{"index":0,"slices":[{"id":%d,"size":%d,"len":%d}]}]'
                 % (sid, length, length))
        sid += 1
        names.append(("f%07d" % (done + i), body))
        if linked:
            names.append(("f%07d-link" % (done + i), body))
    names.sort()
    for j, (name, body) in enumerate(names):
        w('%s\n          "%s": {\n            %s\n          }' % ("," if j else "", name, body))
    w('\n        }\n      }')
    done += k
w('\n    }\n  }\n}\n')
