#!/usr/bin/env python3
"""policyd reads and connects only what it is given.  It names a milter
to the parent by its number in the configuration: a number the
configuration does not have is a broken child, and relayd stops, naming
it.  It may open a scanned message's spool file once: queued refuses a
second request, and says so.  And smtpd does not wait for ever for a
policyd that keeps its verdict.  The misbehaviours are made on purpose
by the debug build (RELAYD_FAIL)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from miltertest import Milter  # noqa: E402
from relaytest import (DEFAULT_TENANT, RELAYD_DEBUG, Relayd,  # noqa: E402
                       Tap, need_root, send_message)

tap = Tap()
need_root(tap)
if not os.path.exists(RELAYD_DEBUG):
    tap.skip_all("no debug build (make debug)")

MSG = b"Subject: confined\r\n\r\nhello\r\n"


def relayd(timeouts=""):
    r = Relayd(tap, timeouts=timeouts)
    path = os.path.join(r.dir, "milter.sock")
    r.write_tenant("acme.yaml", DEFAULT_TENANT.format(
        name="acme", domain="acme.example", deliver_to="127.0.0.1:9") +
        "content:\n  milters:\n    - socket: unix:%s\n      timeout: 5s\n"
        % path)
    return r, Milter(path)


r, m = relayd()
try:
    tap.ok(r.start(debug=True, env={"RELAYD_FAIL":
                                    "policyd-milter-endpoint"}),
           "relayd starts; policyd will ask for milter 1000")
    code, _ = send_message(r.port, "a@sender.example", ["bob@acme.example"],
                           MSG)
    tap.ok(r.wait_log(r"policyd sent a bad message \(type \d+, \d+ bytes\): "
                      r"a milter the configuration does not have; stopping "
                      r"it"), "the parent refuses it and stops policyd")
    tap.ok(r.wait_exit(30) is not None, "relayd stops")
    tap.eq(m.connections, 0, "no connection was made to anything")
finally:
    m.close()
    r.cleanup()

r, m = relayd()
try:
    tap.ok(r.start(debug=True, env={"RELAYD_FAIL": "policyd-spool-twice"}),
           "relayd starts; policyd will ask twice for a file")
    code, _ = send_message(r.port, "a@sender.example", ["bob@acme.example"],
                           MSG)
    tap.eq(code, 250, "the scan had its file once, and passed")
    tap.ok(r.wait_log(r"queued: msgid=\w+: policyd asked for a spool file "
                      r"that is not claimed for it; refused"),
           "the second request is refused and logged")
finally:
    m.close()
    r.cleanup()

r, m = relayd(timeouts="policy: 1s\n")
try:
    r.write_tenant("acme.yaml", open(os.path.join(
        r.tenants_dir, "acme.yaml")).read().replace("5s", "1s"))
    tap.ok(r.start(debug=True, env={"RELAYD_FAIL": "policyd-scan-silent"}),
           "relayd starts; policyd will keep its verdicts")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], MSG)
    tap.eq((code, text[:9]), (451, "451 4.7.1"), "smtpd does not wait for "
           "ever: 451 4.7.1")
    tap.ok(r.wait_log(r"smtpd: msgid=\w+ tenant=acme client=\[127\.0\.0\.1\]: "
                      r"no content verdict within 13s"), "after twelve "
           "milter timeouts and timeouts.policy, logged")
    rc, out, err = r.ctl("show", "queue")
    tap.eq(out.splitlines()[1:], [], "nothing was queued")
finally:
    m.close()
    r.cleanup()
tap.done()
