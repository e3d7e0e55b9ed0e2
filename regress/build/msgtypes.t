#!/usr/bin/env python3
"""One number, one message: every imsg type in common/msg_*.h has a
number of its own, whichever channel carries it.  Two families that
started at the same number (selfcheck and milters at 700, keyd and
callouts at 600) made a process's dispatch depend on which channel a
frame came by, and a frame sent on the wrong one pass for another."""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import TOP, Tap  # noqa: E402

tap = Tap()
ENUM = re.compile(r"enum\s+\w*\s*\{(.*?)\}", re.S)
MEMBER = re.compile(r"^\s*(M_[A-Z0-9_]+)\s*(?:=\s*(\d+))?\s*,?", re.M)


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def types():
    """[(name, number, file)] of every M_* member of a numbered enum."""
    out = []
    for path in sorted(glob.glob(os.path.join(TOP, "common", "msg_*.h"))):
        with open(path, encoding="utf-8") as f:
            text = strip_comments(f.read())
        for body in ENUM.findall(text):
            n = None
            for name, num in MEMBER.findall(body):
                n = int(num) if num else (None if n is None else n + 1)
                if n is None or name.endswith("_MAX"):
                    continue
                out.append((name, n, os.path.basename(path)))
    return out


found = types()
tap.ok(len(found) > 50, "message types found in common/msg_*.h (%d)" %
       len(found))
seen, clashes = {}, []
for name, n, f in found:
    if n in seen:
        clashes.append("%d: %s (%s) and %s (%s)" % (n, seen[n][0],
                                                     seen[n][1], name, f))
    else:
        seen[n] = (name, f)
tap.eq(clashes, [], "no two message types share a number")
tap.done()
