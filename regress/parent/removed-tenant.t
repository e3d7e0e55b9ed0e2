#!/usr/bin/env python3
"""A tenant removed by a reload: a transaction that had accepted one of
its recipients is deferred with 451 4.3.0 (never a crash), and the mail
already queued for it keeps its route, across a restart too, and is
delivered when its server comes back, marked (removed) in the queue
listing meanwhile."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (CHILDREN, DEFAULT_TENANT, Relayd,  # noqa: E402
                       SMTPClient, Tap, free_port, queue_id, send_message,
                       wait_for)
from sink import Sink  # noqa: E402

tap = Tap()
beta_port = free_port()
ACME = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                             deliver_to="127.0.0.1:9")
BETA = DEFAULT_TENANT.format(name="beta", domain="beta.example",
                             deliver_to="127.0.0.1:%d" % beta_port)
r = Relayd(tap, tenants={"acme.yaml": ACME, "beta.yaml": BETA},
           queue="retry_min: 1h\nretry_max: 1h\n")


def queue_lines():
    rc, out, err = r.ctl("show", "queue")
    return out.splitlines()[1:]


sink = None
try:
    tap.ok(r.start(), "relayd starts with acme and beta")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@beta.example"],
                              b"Subject: for beta\r\n\r\nheld\r\n")
    tap.eq(code, 250, "a message for beta is queued (its server is down)")
    qid = queue_id(text)

    # A transaction in progress when beta goes away.
    c = SMTPClient(r.port)
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@sender.example>")
    tap.eq(c.cmd("RCPT TO:<carol@beta.example>")[0], 250,
           "a recipient of beta is accepted")
    os.unlink(os.path.join(r.tenants_dir, "beta.yaml"))
    rc, out, err = r.ctl("reload")
    tap.eq(rc, 0, "beta's file is removed and relayd reloads")
    tap.eq(c.cmd("DATA")[0], 354, "the transaction goes on to DATA")
    c.send("Subject: late\r\n\r\nx\r\n.\r\n")
    code, text = c.reply()
    tap.like(text, r"^451 4\.3\.0 ", "its end of data gets 451 4.3.0")
    tap.eq(c.cmd("NOOP")[0], 250, "and the session goes on")
    c.close()
    tap.ok(r.wait_log(r"tenant=beta: removed by a reload during a "
                      r"transaction from \[127\.0\.0\.1\]; deferred"),
           "the deferral is logged with the tenant")
    tap.ok(r.proc.poll() is None, "relayd is still running")
    tap.eq(len(r.children()), len(CHILDREN),
           "with all its children")
    tap.eq(send_message(r.port, "a@sender.example", ["bob@beta.example"],
                        b"Subject: x\r\n\r\nx\r\n")[0], 550,
           "beta's domain is no longer ours: 550")

    lines = queue_lines()
    tap.ok(any(l.startswith(qid + " beta(removed) ") for l in lines),
           "the queued message is shown with beta(removed)")
    tap.ok(r.wait_log(r"tenant=beta: removed from the configuration; its "
                      r"queued mail keeps its route"), "and that is logged")

    # A restart without beta's file: its route comes from the store.
    r.stop()
    tap.ok(r.start(), "relayd restarts without beta's file")
    lines = queue_lines()
    tap.ok(any(l.startswith(qid + " beta(removed) ") for l in lines),
           "the message is still shown with beta(removed)")

    sink = Sink("127.0.0.1", beta_port)
    rc, out, err = r.ctl("queue", "flush", qid)
    tap.eq(rc, 0, "beta's server is back; the message is flushed")
    tap.ok(sink.wait(1, 20), "it is delivered by beta's old route")
    tap.ok(sink.count() and b"held" in sink.messages[0].data,
           "the right message")
    tap.ok(wait_for(lambda: queue_lines() == [], 10), "the queue is empty")
finally:
    if sink:
        sink.close()
    r.cleanup()
tap.done()
