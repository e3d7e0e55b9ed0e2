#!/usr/bin/env python3
"""A tenant's limits.spool_max: its queued mail cannot grow past it, and
the other tenants are not affected.  The tenant's server is down, so what
is accepted stays queued."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, Relayd, SMTPClient, Tap,  # noqa: E402
                       queue_id, send_message, wait_for)

tap = Tap()
ACME = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                             deliver_to="127.0.0.1:9") + \
    "limits:\n  spool_max: 100K\n"
BETA = DEFAULT_TENANT.format(name="beta", domain="beta.example",
                             deliver_to="127.0.0.1:9")


def body(kb):
    return b"Subject: q\r\n\r\n" + (b"x" * 1022 + b"\r\n") * kb


def acme_sizes(r):
    """Sizes of acme's queued messages, from smtpd's log lines."""
    return [int(x) for x in re.findall(r"tenant=acme from=<[^>]*> "
                                       r"size=(\d+) .*status=queued",
                                       r.log())]


def rcpt_reply(r, rcpts, size=None):
    c = SMTPClient(r.port)
    try:
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@sender.example>" +
              (" SIZE=%d" % size if size else ""))
        return [c.cmd("RCPT TO:<%s>" % a) for a in rcpts]
    finally:
        c.close()


r = Relayd(tap, tenants={"acme.yaml": ACME, "beta.yaml": BETA},
           queue="retry_min: 1h\nretry_max: 1h\n")
try:
    tap.ok(r.start(), "relayd starts")
    ids = []
    for i in range(2):
        code, text = send_message(r.port, "a@sender.example",
                                  ["bob@acme.example"], body(40))
        tap.eq(code, 250, "40 KB message %d for acme accepted" % (i + 1))
        ids.append(queue_id(text))
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], body(40))
    tap.like(text, r"^452 4\.3\.1 ", "a third would pass 100K: 452 4.3.1 at "
             "the end of its data")
    tap.ok(r.wait_log(r"tenant=acme: message of \d+ octets over the spool "
                      r"quota"), "logged with the tenant")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@beta.example"], body(40))
    tap.eq(code, 250, "beta, without a quota, is not affected")
    got = wait_for(lambda: rcpt_reply(r, ["bob@acme.example",
                                          "bob@beta.example"],
                                      30000)[0][0] == 452, 5)
    tap.ok(got, "a MAIL SIZE that does not fit acme's room gets 452 at RCPT")
    rep = rcpt_reply(r, ["bob@acme.example", "bob@beta.example"], 30000)
    tap.like(rep[0][1], r"^452 4\.3\.1 ", "with 4.3.1")
    tap.eq(rep[1][0], 250, "beta's recipient in the same transaction is "
           "accepted")
    rep = rcpt_reply(r, ["bob@acme.example"], 10000)
    tap.eq(rep[0][0], 250, "a SIZE that fits is accepted")
    rep = rcpt_reply(r, ["bob@acme.example"])
    tap.eq(rep[0][0], 250, "so is a transaction without SIZE")
    # Fill it to the octet: then every recipient of acme waits.  What
    # each message takes is in the log; our Received: field adds the same
    # to each, measured on a small one.
    probe = b"Subject: q\r\n\r\nx\r\n"
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], probe)
    tap.eq(code, 250, "a small message fits")
    # The log comes through the parent: wait for all three lines.
    wait_for(lambda: len(acme_sizes(r)) >= 3, 10)
    used = acme_sizes(r)
    left = 100 * 1024 - sum(used)
    received = used[-1] - len(probe)
    filler = b"Subject: q\r\n\r\n" + \
        b"y" * (left - received - len(b"Subject: q\r\n\r\n\r\n")) + \
        b"\r\n"
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], filler)
    tap.eq(code, 250, "a message that fills the quota to the octet fits")
    ids.append(queue_id(text))
    tap.ok(r.wait_log(r"tenant=acme: spool quota reached"),
           "the quota is reached and logged")
    got = wait_for(lambda: rcpt_reply(r, ["bob@acme.example"])[0][0] == 452,
                   5)
    tap.ok(got, "now every recipient of acme gets 452 at RCPT")
    rc, out, err = r.ctl("queue", "remove", ids[0])
    tap.eq(rc, 0, "the operator removes one of acme's messages")
    got = wait_for(lambda: rcpt_reply(r, ["bob@acme.example"],
                                      30000)[0][0] == 250, 5)
    tap.ok(got, "below the quota, acme's recipients are accepted again")
    tap.ok(r.wait_log(r"tenant=acme: below its spool quota again"),
           "and that is logged")
    tap.ok(r.proc.poll() is None, "relayd is still running")
finally:
    r.cleanup()
tap.done()
