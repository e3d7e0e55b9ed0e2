#!/usr/bin/env python3
"""queued takes nothing on smtpd's word: an envelope with a flag smtpd
may not set, a recipient whose route does not match queued's own
derivation, or a line break in an address is refused with 451 4.3.0 and
logged, and relayd goes on.  deliverd in turn never writes a command
argument with a line break: such a recipient fails for good, and the
next hop never sees it; a sender with one fails the whole job.  The
bugs are made on purpose by the debug build (RELAYD_FAIL)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (CHILDREN, DEFAULT_TENANT, RELAYD_DEBUG,  # noqa: E402
                       Relayd, Tap, free_port, send_message, wait_for)
from sink import Sink  # noqa: E402

tap = Tap()
if not os.path.exists(RELAYD_DEBUG):
    tap.skip_all("no debug build (make debug)")
port = free_port()
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:%d" % port)

CASES = (("smtpd-envelope-flags", r"flags 0x[23] are not smtpd.s to set"),
         ("smtpd-envelope-route", r"recipient <bob@acme\.example>: smtpd "
          r"says tenant=acme outbound via acme\.example, queued finds "
          r"tenant=acme inbound via acme\.example"),
         ("smtpd-envelope-crlf", r"recipient <bob@acme\.example\r\nRSET> "
          r"does not parse|recipient .* does not parse"))
for fault, why in CASES:
    r = Relayd(tap, tenants={"acme.yaml": TENANT})
    try:
        tap.ok(r.start(debug=True, env={"RELAYD_FAIL": fault}),
               "%s: relayd starts" % fault)
        code, text = send_message(r.port, "a@sender.example",
                                  ["bob@acme.example"],
                                  b"Subject: x\r\n\r\nx\r\n")
        tap.like(text, r"^451 4\.3\.0 ", "%s: 451 4.3.0" % fault)
        tap.ok(r.wait_log(r"queued: msgid=[0-9a-f]{16}: the envelope from "
                          r"smtpd is refused: (%s)" % why),
               "%s: queued says why" % fault)
        tap.ok(r.proc.poll() is None and
               len(r.children()) == len(CHILDREN),
               "%s: relayd runs on" % fault)
    finally:
        r.cleanup()

sink = Sink("127.0.0.1", port)
r = Relayd(tap, tenants={"acme.yaml": TENANT})
try:
    tap.ok(r.start(debug=True, env={"RELAYD_FAIL": "queued-job-crlf"}),
           "queued-job-crlf: relayd starts")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], b"Subject: x\r\n\r\nx\r\n")
    tap.eq(code, 250, "the message is queued")
    tap.ok(r.wait_log(r"deliverd: msgid=[0-9a-f]{16}: a recipient holds a "
                      r"control character; not sent"),
           "deliverd refuses to write the recipient")
    tap.ok(r.wait_log(r"dsn=5\.3\.0 status=bounced"), "it fails for good")
    tap.eq(sink.connections, 0, "the next hop never sees a connection")
    tap.ok(r.proc.poll() is None, "relayd runs on")
finally:
    sink.close()
    r.cleanup()

# The sender or ENVID: the whole job fails, every recipient once.
sink = Sink("127.0.0.1", port)
r = Relayd(tap, tenants={"acme.yaml": TENANT})
try:
    tap.ok(r.start(debug=True, env={"RELAYD_FAIL":
                                    "queued-job-crlf-sender:1"}),
           "queued-job-crlf-sender: relayd starts")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example", "carol@acme.example"],
                              b"Subject: x\r\n\r\nx\r\n")
    tap.eq(code, 250, "a message of two recipients is queued")
    tap.ok(r.wait_log(r"deliverd: msgid=[0-9a-f]{16}: the sender or ENVID "
                      r"holds a control character; not sent"),
           "deliverd refuses to write the sender")
    tap.ok(r.wait_log(r"to=<bob@acme\.example> .*dsn=5\.3\.0 "
                      r"status=bounced") and
           r.wait_log(r"to=<carol@acme\.example> .*dsn=5\.3\.0 "
                      r"status=bounced"),
           "both recipients fail for good")
    tap.eq(sink.connections, 0, "the next hop never sees a connection")
    tap.ok(r.proc.poll() is None, "relayd runs on")
finally:
    sink.close()
    r.cleanup()
tap.done()
