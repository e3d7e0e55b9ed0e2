#!/usr/bin/env python3
"""Metrics are off by default: no metricsd runs, nothing listens, and
show status does not list it.  metrics.listen: "" is off too."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Relayd, Tap, free_port  # noqa: E402

tap = Tap()
for extra, what in [("", "no metrics: key"),
                    ('metrics:\n  listen: ""\n', 'metrics.listen: ""')]:
    r = Relayd(tap, main_extra=extra)
    try:
        tap.ok(r.start(), "relayd starts with %s" % what)
        tap.ok("metricsd" not in r.children(), "%s: no metricsd" % what)
        rc, out, err = r.ctl("show", "status")
        tap.ok(rc == 0 and "metricsd" not in out,
               "%s: show status does not list it" % what)
        tap.ok(not any(("metricsd" in l) for l in r.log().splitlines()),
               "%s: the log never names it" % what)
        # The port the example uses, and a fresh one: nothing answers.
        for port in (9325, free_port()):
            s = socket.socket()
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", port))
                refused = False
            except ConnectionRefusedError:
                refused = True
            finally:
                s.close()
            tap.ok(refused, "%s: nothing listens on %d" % (what, port))
    finally:
        r.cleanup()
tap.done()
