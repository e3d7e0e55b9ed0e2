#!/usr/bin/env python3
"""The state lock: a second relayd on the same state dir refuses to
start; once the first is gone (stopped, or killed with its whole process
group, leaving a stale lock file and control socket), a new one starts."""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402


def second(t, first):
    """A relayd with first's state dir and control socket, its own port."""
    r = relaytest.Relayd(t)
    r.state = first.state
    r.sock = first.sock
    r.write_main()
    return r


def status_pid(r):
    rc, out, err = r.ctl("show", "status")
    for line in out.splitlines():
        w = line.split()
        if len(w) > 1 and w[0] == "relayd":
            return rc, int(w[1])
    return rc, None


def main():
    t = relaytest.Tap()
    a = relaytest.Relayd(t)
    b = c = d = None
    try:
        if not t.ok(a.start(), "first relayd starts"):
            t.done()
        with open(os.path.join(a.state, "lock")) as f:
            t.eq(f.read().strip(), str(a.proc.pid),
                 "the lock file holds relayd's pid")

        b = second(t, a)
        t.ok(b.start(wait=False), "second relayd launched")
        rc = b.wait_exit(5)
        t.ok(rc is not None and rc != 0,
             "second relayd exits non-zero within 5s (%r)" % rc)
        t.like(b.log(), r"another relayd is running on %s" %
               re.escape(a.state), "it says another relayd runs")
        t.ok(re.search(r"started (smtpd|queued)", b.log()) is None,
             "it started no child")
        t.ok(a.proc.poll() is None, "the first one still runs")
        rc, pid = status_pid(a)
        t.eq((rc, pid), (0, a.proc.pid),
             "the control socket still reaches the first relayd")
        t.eq(len(a.children()), len(relaytest.CHILDREN),
             "the first one's children still run")

        # Stopped cleanly: a new one starts.
        t.eq(a.stop(), 0, "first relayd stops on SIGTERM")
        c = second(t, a)
        t.ok(c.start(), "after a clean stop, a new relayd starts on the "
             "same state dir")
        rc, pid = status_pid(c)
        t.eq((rc, pid), (0, c.proc.pid), "and answers on the control socket")

        # Killed, whole process group: stale lock file and socket.
        pgid = os.getpgid(c.proc.pid)
        os.killpg(pgid, signal.SIGKILL)
        c.wait_exit(5)
        relaytest.wait_for(lambda: not c.children(), 5)
        t.ok(os.path.exists(os.path.join(a.state, "lock")),
             "after kill -9: the lock file is left behind")
        t.ok(os.path.exists(a.sock),
             "after kill -9: the control socket is left behind")
        rc, out, err = c.ctl("show", "status")
        t.eq(rc, 1, "relayctl on the stale socket exits 1")
        t.like(err, r"is relayd running\?|relayd is not running",
               "relayctl on the stale socket: says relayd is not running")
        d = second(t, a)
        t.ok(d.start(), "after kill -9 of the process group, a new relayd "
             "starts on the same state dir")
        rc, pid = status_pid(d)
        t.eq((rc, pid), (0, d.proc.pid),
             "and answers on the control socket")
        t.eq(len(d.children()), len(relaytest.CHILDREN),
             "with all its children")
        with open(os.path.join(a.state, "lock")) as f:
            t.eq(f.read().strip(), str(d.proc.pid),
                 "the lock file holds the new pid")
        t.eq(d.stop(), 0, "the new relayd stops on SIGTERM")
        t.ok(not os.path.exists(a.sock), "and removes the control socket")
    finally:
        for r in (d, c, b, a):
            if r is not None:
                r.cleanup()
    t.done()


main()
