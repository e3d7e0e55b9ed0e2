#!/usr/bin/env python3
"""One name, one meaning: no structure and no function is defined in two
process folders (or in a process folder and common/ or config/), but for
the names that mean the same thing everywhere by design: main, usage,
and the per-peer dispatch functions from_PEER."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import TOP, Tap  # noqa: E402

tap = Tap()
FOLDERS = ["common", "config", "relayd", "smtpd", "queued", "deliverd",
           "dnsd", "policyd", "keyd", "metricsd", "relayctl"]
SAME_EVERYWHERE = re.compile(r"^(main|usage|from_[a-z]+)$")


def definitions(folder):
    """{kind: set(names)} defined in a folder's sources (KNF: a function's
    name starts a line, a structure's definition is 'struct name {')."""
    funcs, structs = set(), set()
    d = os.path.join(TOP, folder)
    for f in sorted(os.listdir(d) if os.path.isdir(d) else []):
        if not f.endswith((".c", ".h")):
            continue
        with open(os.path.join(d, f), encoding="utf-8") as fh:
            text = fh.read()
        funcs |= set(re.findall(r"^([a-z_][a-z0-9_]*)\(", text, re.M))
        structs |= set(re.findall(r"^struct ([a-z_][a-z0-9_]*) \{", text,
                                  re.M))
    return {"function": funcs, "struct": structs}


where = {}
for folder in FOLDERS:
    for kind, names in definitions(folder).items():
        for n in names:
            where.setdefault((kind, n), []).append(folder)
twice = sorted("%s %s: %s" % (k, n, ", ".join(f)) for (k, n), f in
               where.items() if len(f) > 1 and not SAME_EVERYWHERE.match(n))
tap.ok(len(where) > 500, "%d names found" % len(where))
tap.eq(twice, [], "no name is defined in two folders")
tap.done()
