#!/usr/bin/env python3
"""Only the parent and relayctl parse YAML: the children neither link
libyaml nor carry the loader's code.  Read from the executables that were
built (ldd for the libraries, nm for the symbols)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import TOP, Tap  # noqa: E402

tap = Tap()
LOADER = ("conf_load", "conf_parse_main", "conf_parse_tenant", "conf_check",
          "ytree_parse", "yaml_parser_initialize")


def libs(path):
    p = subprocess.run(["ldd", path], capture_output=True, text=True)
    return p.stdout


def symbols(path):
    p = subprocess.run(["nm", "-D", "--defined-only", path],
                       capture_output=True, text=True)
    q = subprocess.run(["nm", path], capture_output=True, text=True)
    names = set()
    for line in (p.stdout + q.stdout).splitlines():
        parts = line.split()
        if parts:
            names.add(parts[-1])
    u = subprocess.run(["nm", "-u", path], capture_output=True, text=True)
    for line in u.stdout.splitlines():
        parts = line.split()
        if parts:
            names.add(parts[-1].split("@")[0])
    return names


for child in ("smtpd", "queued", "deliverd", "dnsd", "policyd", "keyd",
              "metricsd"):
    path = os.path.join(TOP, child, child)
    tap.ok("libyaml" not in libs(path), "%s does not link libyaml" % child)
    found = sorted(symbols(path) & set(LOADER))
    tap.eq(found, [], "%s has none of the YAML loader's functions" % child)

for prog in ("relayd", "relayctl"):
    path = os.path.join(TOP, prog, prog)
    tap.ok("libyaml" in libs(path), "%s links libyaml" % prog)
    tap.ok("conf_load" in symbols(path), "%s has the loader" % prog)
tap.done()
