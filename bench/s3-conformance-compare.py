#!/usr/bin/env python3
"""Compare two s3-tests junit.xml files (ours, the real gateway): counts by area and
the tests that pass on the second but fail on the first. See bench/s3-conformance.md."""
import sys, re, xml.etree.ElementTree as ET
def load(p):
    r = {}
    for tc in ET.parse(p).getroot().iter('testcase'):
        n = tc.get('name')
        st = 'pass'
        for c in tc:
            if c.tag == 'failure': st = 'fail'
            elif c.tag == 'error': st = 'error' if st == 'pass' else st
            elif c.tag == 'skipped': st = 'skip'
        r[n] = st
    return r
AREAS = [('multipart', r'multipart|_upload'), ('copy', r'copy'),
         ('conditional', r'_if_|ifmatch|ifnonematch|if_match|if_none|modified|conditional'),
         ('range', r'range'),
         ('listing', r'list|prefix|delimiter|marker|max_keys|maxkeys|continuation|fetchowner|startafter|encoding'),
         ('auth', r'auth|anon|presign|sign|post_object|acl|policy|cors|access|public|perm'),
         ('errors', r'invalid|bad|nonexist|missing|toolong|too_long|empty|notexist|dne|fail|bogus|wrong|toobig|too_big|unreadable')]
def area(n):
    for a, rx in AREAS:
        if re.search(rx, n): return a
    return 'other'
ours, ref = load(sys.argv[1]), load(sys.argv[2])
from collections import Counter
for name, d in (('ours', ours), ('ref', ref)):
    c = Counter(d.values()); print(name, dict(c))
tab = {}
for n in sorted(set(ours) | set(ref)):
    a = area(n)
    t = tab.setdefault(a, Counter())
    t['o_' + ours.get(n, 'missing')] += 1; t['r_' + ref.get(n, 'missing')] += 1
print('%-12s %22s   %22s' % ('area', 'ours pass/fail/err', 'ref pass/fail/err'))
for a in [x for x, _ in AREAS] + ['other']:
    t = tab.get(a, Counter())
    print('%-12s %8d/%4d/%4d   %12d/%4d/%4d' % (a, t['o_pass'], t['o_fail'], t['o_error'], t['r_pass'], t['r_fail'], t['r_error']))
diff = [n for n in sorted(ours) if ref.get(n) == 'pass' and ours[n] != 'pass']
print('ours-fail/real-pass:', len(diff))
for n in diff: print('  %-10s %s %s' % (area(n), ours[n], n))
rev = [n for n in sorted(ours) if ours[n] == 'pass' and ref.get(n) not in ('pass', None)]
print('ours-pass/real-fail:', len(rev))
