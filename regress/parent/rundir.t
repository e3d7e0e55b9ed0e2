#!/usr/bin/env python3
"""The control socket's directory is made when it is missing (as /run/relayd
is after a boot without systemd's RuntimeDirectory=): one level, root's,
0755; a missing grandparent is an error that says which directory."""

import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402
from relaytest import Relayd, Tap  # noqa: E402


def main():
    t = Tap()
    relaytest.need_root(t)
    r = Relayd(t)
    try:
        rundir = os.path.join(r.dir, "run")
        r.sock = os.path.join(rundir, "control.sock")
        text = open(r.conf).read().replace(
            "control_socket: " + os.path.join(r.dir, "control.sock"),
            "control_socket: " + r.sock)
        with open(r.conf, "w") as f:
            f.write(text)
        if t.ok(r.start(), "relayd starts with its socket's directory "
                "missing"):
            st = os.lstat(rundir)
            t.ok(stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and
                 stat.S_IMODE(st.st_mode) == 0o755,
                 "the directory is made: root's, 0755")
            rc, out, err = r.ctl("show", "status")
            t.eq(rc, 0, "relayctl reaches relayd there")
        r.stop()
        deep = os.path.join(r.dir, "no", "such", "control.sock")
        with open(r.conf, "w") as f:
            f.write(text.replace("control_socket: " + r.sock,
                                 "control_socket: " + deep))
        r.start(wait=False)
        t.ok(r.wait_exit(20) not in (None, 0),
             "a missing grandparent: relayd exits non-zero")
        t.like(r.log(), r"control socket directory %s: No such file" %
               os.path.dirname(deep), "and says which directory is missing")
    finally:
        r.cleanup()
    t.done()


main()
