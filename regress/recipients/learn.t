#!/usr/bin/env python3
"""Recipient verification by learning (recipients.verify: learn): every
recipient the tenant's server accepts in a delivery is learned.  While the
server is down, mail to learned recipients is accepted and held, mail to
others gets 451 4.4.3; when it is back the held mail goes and the rest is
accepted again.  A tenant younger than learning_period with nothing
learned defers rather than accepts; once older, it accepts."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from recipients import Setup, tenant  # noqa: E402
from relaytest import Tap, need_root, send_message, wait_for  # noqa: E402

tap = Tap()
need_root(tap)

LEARN = """\
recipients:
  verify: learn
  delimiter: "+"
  learning_period: {period}
"""
BODY = b"Subject: t\r\n\r\nhello\r\n"

s = Setup(tap, {
    "acme": lambda port: tenant("acme", "acme.example", port,
                                recipients=LEARN.format(period="1h")),
    "beta": lambda port: tenant("beta", "beta.example", port,
                                recipients=LEARN.format(period="3s")),
})
try:
    tap.ok(s.start(), "relayd starts with two learning tenants")

    code, text = s.rcpt("bob@acme.example")
    tap.like(text, r"^451 4\.4\.3 <bob@acme\.example>: ", "a young tenant "
             "with nothing learned defers: 451 4.4.3")
    tap.ok(s.r.wait_log(r"to=<bob@acme\.example> check=recipient result="
                        r"defer 451 .*nothing learned yet"),
           "the verdict says why")

    # postmaster@ is always accepted; its delivery teaches the first user.
    code, text = send_message(s.r.port, "a@sender.test",
                              ["postmaster@acme.example"], BODY)
    tap.eq(code, 250, "mail to postmaster@ is accepted")
    tap.ok(s.sink.wait(1, 20), "and delivered")
    tap.ok(wait_for(lambda: "postmaster@acme.example learned-by=delivery"
                    in s.r.ctl("show", "recipients", "acme")[1], 10),
           "the server's 250 to RCPT is learned")
    code, text = s.rcpt("bob@acme.example")
    tap.eq(code, 250, "with something learned, the server decides: bob "
           "is accepted")
    code, text = send_message(s.r.port, "a@sender.test",
                              ["bob+news@acme.example"], BODY)
    tap.ok(code == 250 and s.sink.wait(2, 20), "a message to bob+news "
           "is delivered")
    tap.ok(wait_for(lambda: "\nbob@acme.example learned-by=delivery" in
                    "\n" + s.r.ctl("show", "recipients", "acme")[1], 10),
           "bob is learned, without his extension")
    tap.eq(s.callouts(), [], "learning makes no callout")

    # The server goes down; the next delivery finds it so.
    s.down()
    code, text = send_message(s.r.port, "a@sender.test",
                              ["bob@acme.example"], BODY)
    tap.eq(code, 250, "server down: mail to a learned user is accepted")
    tap.ok(s.r.wait_log(r"recipients tenant=acme: its servers are down"),
           "policyd hears that the tenant's servers are down")
    code, text = s.rcpt("carol@acme.example")
    tap.like(text, r"^451 4\.4\.3 <carol@acme\.example>: ",
             "an unlearned user gets 451 4.4.3 while it is down")
    code, text = send_message(s.r.port, "a@sender.test",
                              ["BOB@acme.example"], BODY)
    tap.eq(code, 250, "a learned one is still accepted, and held")
    rc, out, err = s.r.ctl("show", "recipients", "acme")
    tap.like(out, r"servers down since \d{4}-", "show recipients says "
             "the servers are down")

    sink = s.up()
    tap.ok(sink.wait(2, 30), "the server is back: the held mail is "
           "delivered")
    tap.ok(s.r.wait_log(r"recipients tenant=acme: its servers are up "
                        r"again"), "policyd hears it is up again")
    tap.eq(s.rcpt("carol@acme.example")[0], 250, "and carol is accepted")

    # Past its learning period, a tenant with nothing learned accepts.
    tap.like(s.rcpt("dave@beta.example")[1], r"^451 4\.4\.3 ",
             "beta, young and knowing nobody, defers")
    tap.ok(wait_for(lambda: s.rcpt("dave@beta.example")[0] == 250, 20,
                    step=0.5), "once older than its learning period, it "
           "accepts")

    rc, out, err = s.r.ctl("recipients", "forget", "acme",
                           "Bob+x@ACME.example")
    tap.eq(rc, 0, "recipients forget acme Bob+x@ACME.example")
    tap.ok(wait_for(lambda: "\nbob@" not in "\n" + s.r.ctl(
        "show", "recipients", "acme")[1], 10), "forgets bob")
    tap.ok(s.alive(), "relayd and its children are still running")
finally:
    s.stop()
tap.done()
