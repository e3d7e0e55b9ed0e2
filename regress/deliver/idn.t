#!/usr/bin/env python3
"""Internationalised domain names: SMTPUTF8 mail to a domain in U-labels
is routed by its A-label (the MX look-up asks for xn--...) and delivered
with the address as the client wrote it; a next hop without SMTPUTF8
bounces it with 5.6.7.  A notice to a sender in U-labels goes by the
A-label too."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import SMTPClient, Tap, dot_stuff  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
ZONES = {"xn--bcher-kva.test.": [
    "xn--bcher-kva.test. 300 IN MX 10 mx.xn--bcher-kva.test.",
    "mx.xn--bcher-kva.test. 300 IN A 127.0.0.2",
], "xn--mnchen-3ya.test.": [
    "xn--mnchen-3ya.test. 300 IN MX 10 mx.xn--mnchen-3ya.test.",
    "mx.xn--mnchen-3ya.test. 300 IN A 127.0.0.6",
]}


def send_utf8(w, sender, rcpt, body):
    c = SMTPClient(w.r.port, source="127.0.0.9")
    try:
        c.reply()
        c.cmd("EHLO client.example")
        code, text = c.cmd("MAIL FROM:<%s> SMTPUTF8" % sender)
        if code != 250:
            return code, text
        code, text = c.cmd("RCPT TO:<%s>" % rcpt)
        if code != 250:
            return code, text
        c.cmd("DATA")
        c.send(dot_stuff(body) + b".\r\n")
        return c.reply()
    finally:
        c.close()


w = World(tap, dns_extra=ZONES, queue="retry_min: 1s\nretry_max: 2s\n")
try:
    mx = w.sink("127.0.0.2")
    mx.close_after = 1      # each message on a new connection, new EHLO
    back = w.sink("127.0.0.6")
    tap.ok(w.start(), "relayd starts")
    body = "Subject: Grüße\r\n\r\nfür Jörg\r\n".encode()
    code, text = send_utf8(w, "anna@acme.example", "jörg@bücher.test", body)
    tap.eq(code, 250, "SMTPUTF8 mail to jörg@bücher.test is accepted")
    tap.ok(mx.wait(1), "it reaches the MX of xn--bcher-kva.test")
    tap.ok(w.dns.queries("xn--bcher-kva.test", "MX") >= 1,
           "the MX was looked up by its A-label")
    if mx.count():
        m = mx.messages[0]
        tap.eq(m.rcpt_addrs, ["jörg@bücher.test"],
               "the recipient goes as the client wrote it")
        tap.ok("SMTPUTF8" in m.mail, "with SMTPUTF8 on MAIL")
        tap.ok(m.data.endswith(body), "the message unaltered")

    # A next hop without SMTPUTF8: bounced with 5.6.7, and the notice to
    # a sender in U-labels goes by its A-label.
    mx.ext = [e for e in mx.ext if e != "SMTPUTF8"]
    code, text = send_utf8(w, "anna@münchen.test", "jörg@bücher.test", body)
    tap.eq(code, 250, "accepted from a UTF-8 sender")
    tap.ok(w.log_has(r"to=<jörg@bücher\.test> .*dsn=5\.6\.7 status=bounced"),
           "a next hop without SMTPUTF8: 5.6.7")
    tap.ok(back.wait(1), "the notice reaches the sender's MX "
           "(xn--mnchen-3ya.test)")
    if back.count():
        tap.eq(back.messages[0].rcpt_addrs, ["anna@münchen.test"],
               "addressed to the sender as written")
finally:
    w.stop()
tap.done()
