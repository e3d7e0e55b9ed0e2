#!/usr/bin/env python3
"""Failed callouts say nothing about the user: a 4xx or a 5.7.x to RCPT,
MAIL FROM:<> refused, a server that is down, that stalls after EHLO,
that answers garbage or a multi-line 250 whose last line is a 550.  A
recipient learned before (from a delivery) is accepted all the same;
any other gets 451 4.4.3, in time for smtpd (well before
timeouts.policy).  Repeated failures raise the warning the tenant's
notices hook into, and relayd keeps running through all of it."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from recipients import Setup, stall_port, tenant  # noqa: E402
from relaytest import Tap, need_root, send_message, wait_for  # noqa: E402
from sink import Sink  # noqa: E402

tap = Tap()
need_root(tap)

CALLOUT = """\
recipients:
  verify: callout
  callout:
    negative: 1s
    positive: 1s
"""

stall, stall_close = stall_port()
s = Setup(tap, {
    "acme": lambda port: tenant("acme", "acme.example", port,
                                recipients=CALLOUT),
    # Its first server stalls after EHLO; the second is the sink.
    "beta": lambda port: tenant("beta", "beta.example", port,
                                recipients=CALLOUT,
                                deliver_to="127.0.0.20:%d, 127.0.0.20:%d"
                                % (stall, port)),
}, policy="6s")
try:
    tap.ok(s.start(), "relayd starts")

    # Learned from a delivery: the server took bob in a real message.
    code, text = send_message(s.r.port, "a@sender.test",
                              ["postmaster@acme.example"],
                              b"Subject: t\r\n\r\nhello\r\n")
    s.sink.rcpt = lambda a: "250 2.1.5 Ok"
    code, text = send_message(s.r.port, "a@sender.test",
                              ["bob@acme.example"],
                              b"Subject: t\r\n\r\nhello\r\n")
    tap.eq(code, 250, "a message to bob (the callout accepts him)")
    tap.ok(s.sink.wait(2, 20), "both are delivered")
    rc, out, err = s.r.ctl("show", "recipients", "acme")
    tap.like(out, r"(?m)^bob@acme\.example learned-by=callout",
             "bob is learned (by the callout)")
    tap.like(out, r"(?m)^postmaster@acme\.example learned-by=delivery",
             "postmaster is learned from the delivery")

    def failing(reply, why):
        s.sink.rcpt = lambda a: reply
        time.sleep(1.2)         # the cached answers (1s) expire
        code, text = s.rcpt("carol@acme.example")
        tap.eq(code, 451, "%s: an unverified user gets 451" % why)
        tap.like(text, r"^451 4\.4\.3 <carol@acme\.example>: Recipient "
                 r"address rejected: cannot verify", "4.4.3, try later")
        code, text = s.rcpt("bob@acme.example")
        tap.eq(code, 250, "%s: a learned user is accepted" % why)

    failing("450 4.2.1 mailbox busy", "RCPT 450")
    failing("550 5.7.1 relaying denied", "RCPT 550 5.7.1")
    failing("250-2.1.5 Ok\r\n550 5.1.1 or not", "a 250 ending in 550")
    failing("hello? is this SMTP", "garbage")
    s.sink.rcpt = lambda a: "250 2.1.5 Ok"
    s.sink.mail_reply = lambda arg: "550 5.7.1 no null senders here" \
        if arg.startswith("FROM:<>") else "250 2.1.0 Ok"
    failing("250 2.1.5 Ok", "MAIL FROM:<> refused")
    tap.ok(s.r.wait_log(r"callout to tenant acme failing: \d+ failed in a "
                        r"row, the last: "), "repeated failures: a warning "
                        "for the tenant's contacts")
    s.sink.mail_reply = lambda arg: "250 2.1.0 Ok"
    time.sleep(1.2)
    tap.eq(s.rcpt("carol@acme.example")[0], 250,
           "the server answers again: carol is accepted")
    tap.ok(s.r.wait_log(r"callout to tenant acme working again"),
           "and the end of the failures is logged")

    # The server is down: connection refused.
    s.down()
    time.sleep(1.2)
    code, text = s.rcpt("dave@acme.example")
    tap.like(text, r"^451 4\.4\.3 ", "server down: an unknown user "
             "gets 451 4.4.3")
    tap.eq(s.rcpt("bob@acme.example")[0], 250, "a learned one 250")
    sink = s.up()

    # Stalled after EHLO: the next server answers within the deadline.
    t0 = time.time()
    code, text = s.rcpt("erin@beta.example")
    tap.eq(code, 250, "the first server stalls after EHLO; the second "
           "accepts: 250")
    tap.ok(s.callouts("erin@beta.example", sink) == ["erin@beta.example"],
           "asked by the second server")
    # Both stall: no answer in time is a failure, given before smtpd
    # would give up on policyd (its own 451 4.3.0).
    beta = tenant("beta", "beta.example", s.port, recipients=CALLOUT,
                  deliver_to="127.0.0.20:%d" % stall)
    s.r.write_tenant("beta.yaml", beta)
    rc, out, err = s.r.ctl("reload")
    tap.eq(rc, 0, "reload: beta's only server stalls")
    code, text = s.rcpt("frank@beta.example")
    tap.like(text, r"^451 4\.4\.3 ", "a stalled server: 451 4.4.3, "
             "policyd's own, not smtpd's time-out")
    tap.ok(s.r.wait_log(r"callout tenant=beta to=<frank@beta\.example> "
                        r"result=failed: no answer within"),
           "logged as a failed callout that was not answered in time")

    tap.ok(s.alive(), "relayd and every child are still running")
    rc, out, err = s.r.ctl("show", "status")
    tap.like(out, r"callouts", "show status counts callouts")
finally:
    s.stop()
    stall_close()
tap.done()
