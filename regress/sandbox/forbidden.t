#!/usr/bin/env python3
"""The seccomp filters kill: in the debug build, smtpd makes an outgoing
connection and dnsd opens a file, both forbidden; each is killed by
SIGSYS and relayd reports it and stops."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, RELAYD_DEBUG, Relayd,  # noqa: E402
                       Tap, need_root)

tap = Tap()
if not os.path.exists(RELAYD_DEBUG):
    tap.skip_all("no debug build (make debug)")
if os.environ.get("SANITIZE") == "1":
    tap.skip_all("SANITIZE=1 builds log denials instead of killing")

TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")
for call, child in (("smtpd-connect", "smtpd"), ("dnsd-open", "dnsd")):
    r = Relayd(tap, tenants={"acme.yaml": TENANT})
    try:
        tap.ok(r.start(debug=True, env={"RELAYD_FORBIDDEN": call}),
               "%s: relayd starts" % call)
        # A connection makes smtpd accept and ask dnsd for the client's
        # name: each child gets to its forbidden call.
        try:
            socket.create_connection(("127.0.0.1", r.port), 5).recv(100)
        except OSError:
            pass
        rc = r.wait_exit(10)
        tap.ok(rc not in (None, 0), "%s: relayd stops (exit %s)" % (call, rc))
        tap.ok(r.wait_log(r"%s \(pid \d+\) was killed by signal 31 "
                          r"\(Bad system call\); stopping relayd" % child, 2),
               "%s: %s was killed by SIGSYS, and relayd says so" % (call,
                                                                     child))
        tap.ok(not r.wait_log(r"was allowed", 0.1),
               "%s: the call never returned" % call)
    finally:
        r.cleanup()
tap.done()
