#!/usr/bin/env python3
"""Delivery status notifications (RFC 3464): a 5xx gives a notice that
reaches the sender's domain as multipart/report from MAILER-DAEMON with
the null sender, with the delivery-status fields and the original's
headers (or, for RET=FULL, the whole original).  NOTIFY=NEVER silences
it; a notice is never bounced; the null sender gets none."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import SMTPClient, Tap, dot_stuff, queue_id  # noqa: E402
from world import World, dsn_fields, parse_dsn  # noqa: E402

tap = Tap()


def send(w, mail, rcpts, body):
    c = SMTPClient(w.r.port, source="127.0.0.9")
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:" + mail)
    for r in rcpts:
        c.cmd("RCPT TO:" + r)
    c.cmd("DATA")
    c.send(dot_stuff(body) + b".\r\n")
    res = c.reply()
    c.close()
    return res


w = World(tap, queue="retry_min: 1s\nretry_max: 2s\nbounce_lifetime: 3s\n")
try:
    mx = w.sink("127.0.0.2")
    mx.rcpt = lambda a: ("550 5.1.1 <%s>: user unknown" % a
                         if a.startswith("nobody") else "250 2.1.5 ok")
    notices = w.sink("127.0.0.6")
    tap.ok(w.start(), "relayd starts")

    body = (b"From: Alice <alice@sender.test>\r\nTo: nobody@remote.test\r\n"
            b"Subject: lost\r\nMessage-ID: <m1@sender.test>\r\n\r\n"
            b"the body stays home\r\n")
    code, text = send(w, "<alice@sender.test> ENVID=E1",
                      ["<nobody@remote.test> ORCPT=rfc822;Nobody@remote.test"],
                      body)
    qid = queue_id(text)
    tap.ok(notices.wait(1), "a 5xx gives a notice at the sender's domain")
    n = notices.messages[0]
    tap.eq(n.sender, "", "sent from the null sender")
    tap.eq(n.rcpt_addrs, ["alice@sender.test"], "to the original sender")
    msg, parts = parse_dsn(n.data)
    tap.like(msg["From"], r"MAILER-DAEMON@relay\.test\.example",
             "From: MAILER-DAEMON")
    tap.eq(msg.get_content_type(), "multipart/report",
           "Content-Type: multipart/report")
    tap.eq(msg.get_param("report-type"), "delivery-status",
           "report-type=delivery-status")
    tap.eq(msg["Auto-Submitted"], "auto-replied", "Auto-Submitted")
    kids = [p.get_content_type() for p in msg.get_payload()]
    tap.eq(kids, ["text/plain", "message/delivery-status",
                  "text/rfc822-headers"],
           "three parts: text, delivery-status, the original's headers")
    ds = parts["message/delivery-status"]
    f = dsn_fields(ds)
    tap.eq(f.get("reporting-mta"), "dns; relay.test.example",
           "Reporting-MTA")
    tap.eq(f.get("original-envelope-id"), "E1", "Original-Envelope-Id")
    tap.eq(f.get("x-relayd-queue-id"), qid, "the queue id")
    tap.ok("arrival-date" in f, "Arrival-Date")
    tap.eq(f.get("final-recipient"), "rfc822; nobody@remote.test",
           "Final-Recipient")
    tap.eq(f.get("original-recipient"), "rfc822; Nobody@remote.test",
           "Original-Recipient from ORCPT")
    tap.eq(f.get("action"), "failed", "Action: failed")
    tap.eq(f.get("status"), "5.1.1", "Status from the next hop's reply")
    tap.eq(f.get("remote-mta"), "dns; mx1.remote.test", "Remote-MTA")
    tap.eq(f.get("diagnostic-code"),
           "smtp; 550 5.1.1 <nobody@remote.test>: user unknown",
           "Diagnostic-Code: the reply, word for word")
    hdrs = msg.get_payload()[2].get_payload()
    tap.ok("Subject: lost" in hdrs and "Message-ID: <m1@sender.test>" in
           hdrs, "the original's headers are there")
    tap.ok("the body stays home" not in hdrs, "its body is not")
    tap.ok(re.search(r"^Received: from client\.example", hdrs, re.M),
           "nor is our Received: field lost from them")
    tap.ok(b"\n" not in n.data.replace(b"\r\n", b""), "CRLF throughout")

    # RET=FULL: the whole original, as message/rfc822.
    send(w, "<alice@sender.test> RET=FULL", ["<nobody2@remote.test>"], body)
    tap.ok(notices.wait(2), "RET=FULL")
    msg, parts = parse_dsn(notices.messages[1].data)
    tap.eq(msg.get_payload()[2].get_content_type(), "message/rfc822",
           "the original comes back whole, as message/rfc822")
    tap.ok(b"the body stays home" in notices.messages[1].data,
           "body included")

    # NOTIFY=NEVER: no notice.
    send(w, "<alice@sender.test>", ["<nobody3@remote.test> NOTIFY=NEVER"],
         body)
    tap.ok(w.log_has(r"to=<nobody3@remote\.test> .*status=bounced"),
           "NOTIFY=NEVER: the recipient bounces")
    time.sleep(1)
    tap.eq(notices.count(), 2, "but no notice is sent")

    # The null sender: no notice either.
    send(w, "<>", ["<nobody4@remote.test>"], body)
    tap.ok(w.log_has(r"no failure notice: the sender is <>"),
           "nothing for the null sender, and it is logged")

    # A notice that fails for good is dropped, never bounced.
    notices.rcpt = lambda a: "550 5.1.1 gone"
    send(w, "<carol@sender.test>", ["<nobody5@remote.test>"], body)
    tap.ok(w.log_has(r"from=<> to=<carol@sender\.test> .*status=bounced"),
           "the notice to carol gets a 5xx")
    tap.ok(w.log_has(r"no failure notice: a notice is never bounced; "
                     r"dropped"), "and is dropped, not bounced")
    tap.ok(w.queue_empty(), "nothing is left in the queue")

    # One that keeps failing is dropped after queue.bounce_lifetime.
    notices.rcpt = lambda a: "451 4.3.0 later"
    send(w, "<dave@sender.test>", ["<nobody6@remote.test>"], body)
    tap.ok(w.log_has(r"from=<> to=<dave@sender\.test> .*dsn=4\.4\.7 "
                     r"status=bounced", 15),
           "a notice deferred past bounce_lifetime expires")
    tap.ok(w.queue_empty(10), "and is dropped")
    tap.eq(notices.count(), 2, "no notice about a notice")
finally:
    w.stop()
tap.done()
