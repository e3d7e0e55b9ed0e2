#!/usr/bin/env python3
"""The parent does not take a child's word for more than it may say: a
child's log line cannot be an emergency (it is logged at LOG_CRIT, once
said), nor carry control characters; a message of a type the parent does
not know is that child's fatal error, and relayd stops, naming it.  The
misbehaviour is made on purpose by the debug build (RELAYD_FAIL)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, RELAYD_DEBUG, Relayd,  # noqa: E402
                       Tap, send_message)

tap = Tap()
if not os.path.exists(RELAYD_DEBUG):
    tap.skip_all("no debug build (make debug)")
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")

r = Relayd(tap, tenants={"acme.yaml": TENANT})
try:
    tap.ok(r.start(debug=True, env={"RELAYD_FAIL": "dnsd-emerg-log"}),
           "relayd starts; dnsd logs an emergency")
    tap.ok(r.wait_log(r"dnsd logs above LOG_CRIT; its lines are logged at "
                      r"LOG_CRIT"), "the parent clamps it, and says so once")
    tap.ok(r.wait_log(r"dnsd: fault injection: an emergency, \?\[31mred"
                      r"\?\[0m and \?31m"),
           "the line is logged without its control characters")
    tap.ok("\x1b" not in r.log() and "\u009b" not in r.log(),
           "no ESC or CSI reaches the log")
    tap.eq(send_message(r.port, "a@sender.example", ["bob@acme.example"],
                        b"Subject: x\r\n\r\nx\r\n")[0], 250,
           "relayd works on")
finally:
    r.cleanup()

for child in ("smtpd", "queued", "deliverd", "dnsd", "policyd"):
    r = Relayd(tap, tenants={"acme.yaml": TENANT})
    try:
        r.start(debug=True, env={"RELAYD_FAIL": child + "-bad-message"},
                wait=False)
        rc = r.wait_exit(15)
        tap.ok(rc not in (None, 0), "%s sends an unknown type: relayd "
               "stops (exit %s)" % (child, rc))
        tap.ok(r.wait_log(r"relayd: %s sent a bad message \(type \d+, 0 "
                          r"bytes\): unknown message type; stopping it" %
                          child, 2), "%s: the parent says why" % child)
        tap.ok(r.wait_log(r"%s \(pid \d+\) was killed by signal 9 "
                          r"\(Killed\); stopping relayd" % child, 2),
               "%s: and names it as the cause" % child)
    finally:
        r.cleanup()
tap.done()
