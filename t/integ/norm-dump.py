#!/usr/bin/env python3
"""Normalise a `juicefs dump` JSON file to jfs-mktree --print's text form.

Usage: norm-dump.py DUMP.json > tree.txt

One line per node (see t/tools/mktree.c for the format), the root as "/",
trash under "/.trash", counters first. The dump escapes bytes <= 0x20, '%',
'"', '\\' and invalid UTF-8 as %XX; names, targets and xattrs are unescaped
to bytes and re-escaped the way jfs-mktree escapes them.
"""
import json
import sys

HEX = "0123456789abcdefABCDEF"


def unesc(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "%" and i + 3 <= len(s) and all(x in HEX for x in s[i + 1:i + 3]):
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
        else:
            out += c.encode("utf-8", "surrogateescape")
            i += 1
    return bytes(out)


def esc(b):
    return "".join(chr(x) if 0x20 < x < 0x7F and x not in b'%"\\=' else "%%%02X" % x for x in b)


def node_line(path, e):
    a = e["attr"]
    t = a["type"]
    f = [path, t, "ino=%d" % a["inode"], "mode=%04o" % a["mode"], "uid=%d" % a["uid"],
         "gid=%d" % a["gid"], "nlink=%d" % a["nlink"]]
    if t == "regular":
        f.append("len=%d" % a.get("length", 0))
    if a.get("rdev"):
        f.append("rdev=%d" % a["rdev"])
    if a.get("flags"):
        f.append("flags=%d" % a["flags"])
    f.append("mtime=%d.%09d" % (a["mtime"], a.get("mtimensec", 0)))
    if t == "symlink":
        f.append("target=" + esc(unesc(e.get("symlink", ""))))
    xs = sorted((unesc(x["name"]), unesc(x.get("value", ""))) for x in (e.get("xattrs") or []))
    for name, value in xs:
        f.append("xattr:" + esc(name) + "=" + value.hex())
    return " ".join(f)


def walk(path, e, out):
    for name, child in (e.get("entries") or {}).items():
        p = path + "/" + esc(unesc(name))
        out.append(node_line(p, child))
        if child["attr"]["type"] == "directory":
            walk(p, child, out)


def main():
    with open(sys.argv[1], "rb") as fh:
        d = json.load(fh)
    c = d.get("Counters", {})
    out = ["#counter usedSpace=%d" % c.get("usedSpace", 0),
           "#counter totalInodes=%d" % c.get("usedInodes", 0)]
    out.append(node_line("/", d["FSTree"]))
    walk("", d["FSTree"], out)
    if d.get("Trash"):
        out.append(node_line("/.trash", d["Trash"]))
        walk("/.trash", d["Trash"], out)
    for line in out:
        print(line)


if __name__ == "__main__":
    main()
