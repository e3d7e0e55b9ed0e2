#!/usr/bin/env python3
"""etc/relayd.service as make install writes it: systemd-analyze verify
finds nothing to say, and systemd-analyze security gives the exposure
score that relayd(8) states (so the page is changed with the unit)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402
from relaytest import Tap  # noqa: E402


def installed_unit(tmp):
    """The unit with its placeholders replaced as make install does, the
    binaries it names present under tmp/sbin."""
    sbin = os.path.join(tmp, "sbin")
    os.mkdir(sbin)
    for p in ("relayd", "relayctl"):
        os.symlink(os.path.join(relaytest.TOP, p, p), os.path.join(sbin, p))
    with open(os.path.join(relaytest.TOP, "etc", "relayd.service")) as f:
        text = f.read()
    text = text.replace("@SBINDIR@", sbin).replace("@SYSCONFDIR@",
                                                   "/etc/relayd")
    path = os.path.join(tmp, "relayd.service")
    with open(path, "w") as f:
        f.write(text)
    return path, text


def main():
    t = Tap()
    sa = shutil.which("systemd-analyze")
    if sa is None:
        t.skip_all("no systemd-analyze (the systemd package)")
    tmp = tempfile.mkdtemp(prefix="relayd-unit.")
    try:
        path, text = installed_unit(tmp)
        t.ok("@" not in re.sub(r"(?m)^(#.*|SystemCallFilter=.*)$", "",
                               text), "no placeholder is left")
        # The manual pages are checked where they are installed (deb.t).
        p = subprocess.run([sa, "verify", "--man=no", path],
                           capture_output=True, text=True, timeout=60)
        t.eq((p.returncode, p.stdout + p.stderr), (0, ""),
             "systemd-analyze verify: no complaint")
        p = subprocess.run([sa, "security", "--offline=true", path],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for relayd\.service: "
                      r"([0-9.]+)", p.stdout)
        if not t.ok(m, "systemd-analyze security gives a score"):
            t.diag(p.stdout + p.stderr)
            t.done()
        with open(os.path.join(relaytest.TOP, "man", "relayd.8")) as f:
            page = f.read()
        doc = re.search(r"exposure level of\s+([0-9.]+)", page)
        t.eq(doc and doc.group(1), m.group(1),
             "relayd(8) states the score systemd-analyze security gives")
        t.like(text, r"(?m)^Type=notify$", "Type=notify")
        t.like(text, r"(?m)^ExecStart=\S+/relayd -F ",
               "ExecStart runs relayd -F: in the foreground, notifying")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t.done()


main()
