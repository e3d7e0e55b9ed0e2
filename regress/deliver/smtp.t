#!/usr/bin/env python3
"""The client side of SMTP and its extensions: HELO when EHLO is refused,
opportunistic STARTTLS and its fall-back, PIPELINING, SIZE, 8BITMIME,
SMTPUTF8, DSN passed on or acted on, DATA with dot-stuffing and BDAT,
one transaction per destination, connection reuse and parallelism."""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import SMTPClient, Tap, dot_stuff, wait_for  # noqa: E402
from world import World, dsn_fields, parse_dsn  # noqa: E402

tap = Tap()
NO_CHUNKING = ["PIPELINING", "SIZE 100000000", "8BITMIME", "SMTPUTF8", "DSN"]


def send_raw(port, mail, rcpts, body, source=None):
    """A transaction with exact MAIL and RCPT arguments."""
    c = SMTPClient(port, source=source)
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


w = World(tap, queue="retry_min: 1s\nretry_max: 2s\n", allow_bare=True)
try:
    tap.ok(w.start(), "relayd starts")
    notices = w.sink("127.0.0.6")

    # HELO when EHLO is refused.
    s = w.sink("127.0.0.2", helo_only=True)
    w.send("a@acme.example", ["h@remote.test"], inside=True)
    tap.ok(s.wait(1), "a next hop that refuses EHLO gets HELO")
    tap.eq(s.messages[0].helo, "relay.test.example", "with our host name")
    s.close()

    # STARTTLS, opportunistic.
    s = w.sink("127.0.0.2", starttls=True)
    w.send("a@acme.example", ["t@remote.test"], inside=True)
    tap.ok(s.wait(1), "delivered to a next hop that offers STARTTLS")
    tap.ok(s.messages[0].tls, "over TLS")
    s.close()
    s = w.sink("127.0.0.2", starttls=True, tls_break=True)
    w.send("a@acme.example", ["t2@remote.test"], inside=True)
    tap.ok(s.wait(1), "a failed handshake falls back to plain text")
    tap.ok(not s.messages[0].tls, "on a new connection, without TLS")
    tap.ok(w.log_has(r"TLS handshake failed .*trying again without TLS"),
           "the fall-back is logged")
    s.close()

    # DSN passed on to a next hop that has it.
    s = w.sink("127.0.0.2")
    send_raw(w.r.port, "<a@acme.example> RET=HDRS ENVID=env+2B1",
             ["<d@remote.test> NOTIFY=SUCCESS,FAILURE "
              "ORCPT=rfc822;d@remote.test"], b"Subject: dsn\r\n\r\nx\r\n",
             source="127.0.0.9")
    tap.ok(s.wait(1), "delivered with DSN parameters")
    m = s.messages[0]
    tap.like(m.mail, r"RET=HDRS ENVID=env\+2B1", "RET and ENVID passed on")
    tap.like(m.rcpts[0], r"NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;d@remote\.test",
             "NOTIFY and ORCPT passed on")
    tap.ok(m.bdat, "with BDAT, since the next hop offers CHUNKING")
    s.close()

    # A next hop without DSN: NOTIFY=SUCCESS is ours to honour.
    s = w.sink("127.0.0.2", ext=NO_CHUNKING[:-1])
    send_raw(w.r.port, "<a@sender.test> ENVID=xyz",
             ["<n@remote.test> NOTIFY=SUCCESS ORCPT=rfc822;N@remote.test"],
             b"Subject: relayed\r\n\r\nx\r\n", source="127.0.0.9")
    tap.ok(s.wait(1), "delivered to a next hop without DSN")
    tap.ok("NOTIFY" not in s.messages[0].rcpts[0], "NOTIFY not sent to it")
    tap.ok(notices.wait(1), "the sender gets a success notice")
    msg, parts = parse_dsn(notices.messages[0].data)
    f = dsn_fields(parts.get("message/delivery-status", ""))
    tap.eq((f.get("action"), f.get("original-envelope-id"),
            f.get("original-recipient")),
           ("relayed", "xyz", "rfc822; N@remote.test"),
           "Action: relayed, with the envelope id and original recipient")
    s.close()

    # SIZE and SMTPUTF8 the next hop cannot take: bounced, not sent.
    s = w.sink("127.0.0.2", ext=["PIPELINING", "SIZE 100"])
    w.send("a@sender.test", ["big@remote.test"], b"Subject: big\r\n\r\n" +
           b"x" * 200 + b"\r\n", inside=True)
    tap.ok(notices.wait(2), "too big for the next hop's SIZE: a notice")
    msg, parts = parse_dsn(notices.messages[1].data)
    tap.eq(dsn_fields(parts.get("message/delivery-status", "")).get(
        "status"), "5.3.4", "with 5.3.4")
    send_raw(w.r.port, "<a@sender.test> SMTPUTF8", ["<u@remote.test>"],
             b"Subject: utf8\r\n\r\nx\r\n", source="127.0.0.9")
    tap.ok(notices.wait(3), "SMTPUTF8 needed but not offered: a notice")
    msg, parts = parse_dsn(notices.messages[2].data)
    tap.ok("message/global-delivery-status" in parts,
           "as message/global-delivery-status (RFC 6533)")
    tap.like(parts.get("message/global-delivery-status", ""),
             r"Status: 5\.6\.7", "with 5.6.7")
    tap.eq(s.count(), 0, "nothing was sent to that next hop")
    s.close()

    # No 8BITMIME: sent as it is, and logged; DATA with dot-stuffing.
    s = w.sink("127.0.0.2", ext=["PIPELINING"])
    body = (b"Subject: \xe9\r\n\r\n.one dot\r\n..two dots\r\n.\r\n"
            b"\xff\xfe\r\n")
    send_raw(w.r.port, "<a@acme.example> BODY=8BITMIME",
             ["<e@remote.test>"], body, source="127.0.0.9")
    tap.ok(s.wait(1), "delivered to a next hop without 8BITMIME")
    tap.ok(s.messages[0].data.endswith(body), "unchanged, dots and 8-bit "
           "octets included, through DATA")
    tap.ok("BODY=" not in s.messages[0].mail, "without BODY=8BITMIME")
    tap.ok(w.log_has(r"lacks 8BITMIME; the 8-bit message is sent as it is"),
           "and the log says so")
    # Bare LF from the tenant's own network, through DATA: a dot after a
    # bare LF is stuffed so that no next hop can end the message there.
    c = SMTPClient(w.r.port, source="127.0.0.9")
    c.reply()
    c.cmd("EHLO old.example")
    c.cmd("MAIL FROM:<cron@acme.example>")
    c.cmd("RCPT TO:<bare@remote.test>")
    c.cmd("DATA")
    c.send(b"Subject: bare\n\nline\n.\nMAIL FROM:<x@y.example>\n\r\n.\r\n")
    tap.eq(c.reply()[0], 250, "a bare-LF message from the tenant's network")
    c.close()
    tap.ok(s.wait(2), "is delivered as one message")
    tap.ok(s.messages[1].data.endswith(
        b"Subject: bare\n\nline\n..\nMAIL FROM:<x@y.example>\n\r\n"),
        "with the dot after the bare LF stuffed for the trip")
    s.close()

    # One transaction per destination; a refused recipient bounces alone.
    s = w.sink("127.0.0.2")
    s.rcpt = lambda a: "550 5.1.1 no such user" if a.startswith("gone") \
        else "250 2.1.5 ok"
    w.send("a@sender.test", ["r1@remote.test", "gone@remote.test",
                             "r2@remote.test"], inside=True)
    tap.ok(s.wait(1), "three recipients at one destination")
    tap.eq(sorted(s.messages[0].rcpt_addrs),
           ["r1@remote.test", "r2@remote.test"],
           "share one transaction; the refused one is not in it")
    tap.ok(notices.wait(4), "and only the refused one bounces")
    msg, parts = parse_dsn(notices.messages[3].data)
    f = dsn_fields(parts.get("message/delivery-status", ""))
    tap.eq((f.get("final-recipient"), f.get("status"),
            f.get("diagnostic-code")),
           ("rfc822; gone@remote.test", "5.1.1",
            "smtp; 550 5.1.1 no such user"),
           "with the next hop's own reply as Diagnostic-Code")
    s.close()

    # Connection reuse: a connection that is idle takes the next job
    # (one that is busy makes room for a parallel one instead).
    s = w.sink("127.0.0.2")
    for i in range(5):
        w.send("a@acme.example", ["reuse%d@remote.test" % i], inside=True)
        wait_for(lambda: s.count() == i + 1, 5)
    tap.ok(s.wait(5), "five messages to one destination, one after another")
    tap.eq(s.connections, 1, "over one connection")

    # The next hop hangs up on the reused connection: a fresh one, no
    # penalty (it would otherwise wait for retry_min).
    calls = []

    def once(arg):
        if "again@" in arg and not calls:
            calls.append(arg)
            return None
        return "250 2.1.0 Ok"

    s.mail_reply = once
    t0 = time.time()
    w.send("again@acme.example", ["x@remote.test"], inside=True)
    tap.ok(s.wait(6, 5), "a message whose reused connection is closed "
           "under it is delivered")
    tap.ok(time.time() - t0 < 3, "at once, on a fresh connection")
    tap.eq(s.connections, 2, "the second connection")
    s.close()
finally:
    w.stop()

# Parallel connections to one destination, within the limit.
w = World(tap, queue="max_connections_per_destination: 3\n")
try:
    tap.ok(w.start(), "relayd starts with 3 connections per destination")
    s = w.sink(w.tenant_addr)

    def slow(msg):
        time.sleep(0.7)
        return "250 2.0.0 ok"

    s.data_reply = slow
    threads = [threading.Thread(target=w.send, args=(
        "a@sender.test", ["bob@acme.example"],
        b"Subject: %d\r\n\r\nx\r\n" % i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tap.ok(s.wait(8, 20), "eight messages to a slow tenant server")
    tap.eq(s.max_active, 3, "over three parallel connections, no more")
finally:
    w.stop()

# 421 at the greeting: the next MX.
w = World(tap)
try:
    tap.ok(w.start(), "relayd starts")
    bad = w.sink("127.0.0.2", greeting="421 4.3.2 busy")
    good = w.sink("127.0.0.3")
    w.send("a@acme.example", ["g@remote.test"], inside=True)
    tap.ok(good.wait(1), "a 421 greeting moves on to the next MX")
    tap.ok(w.log_has(r"greeted with 421 4\.3\.2 busy; trying the next "
                     r"host"), "and is logged")
finally:
    w.stop()
tap.done()
