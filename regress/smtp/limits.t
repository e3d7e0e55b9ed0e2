#!/usr/bin/env python3
"""Connection limits (in total and per client), the RFC 5321 4.5.3.2
timeouts, the greeting delay against early talkers, and the recipient
limit per transaction."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, Relayd, SMTPClient, Tap,  # noqa: E402
                       free_port)

tap = Tap()
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")
port2 = free_port()
r = Relayd(tap, tenants={"acme.yaml": TENANT},
           limits="max_connections: 6\nmax_connections_per_client: 3\n",
           timeouts="command: 2s\ndata: 2s\n")
r.listen.append(("127.0.0.1:%d" % port2, "mx", "1s"))
r.write_main()


def connect(src, port=None):
    c = SMTPClient(port or r.port, source=src)
    return c, c.reply()


try:
    tap.ok(r.start(), "relayd starts")

    mine = []
    for i in range(3):
        c, rep = connect("127.0.0.1")
        mine.append(c)
        tap.eq(rep[0], 220, "connection %d from 127.0.0.1 greeted" % (i + 1))
    c, rep = connect("127.0.0.1")
    tap.like(rep[1], r"^421 4\.7\.0 .*too many connections from your "
             "address", "the fourth from the same client gets 421")
    tap.ok(c.closed(), "and is closed")
    other, rep = connect("127.0.0.5")
    tap.eq(rep[0], 220, "another client is still served")
    mine.pop().close()
    time.sleep(0.3)
    c, rep = connect("127.0.0.1")
    tap.eq(rep[0], 220, "a closed connection frees its place")
    mine.append(c)

    extra = []
    for src in ("127.0.0.6", "127.0.0.7"):
        c, rep = connect(src)
        extra.append(c)
        tap.eq(rep[0], 220, "connection from %s within the total" % src)
    c, rep = connect("127.0.0.8")
    tap.like(rep[1], r"^421 4\.7\.0 .*too many connections$",
             "one over max_connections gets 421")
    for c in mine + extra + [other]:
        c.close()
    time.sleep(0.3)

    c, rep = connect("127.0.0.1")
    t0 = time.time()
    code, text = c.reply()
    tap.like(text, r"^421 4\.4\.2 ", "an idle client gets 421 4.4.2 after "
             "the command timeout")
    tap.ok(1.5 < time.time() - t0 < 6, "after about two seconds")
    tap.ok(c.closed(), "and the connection is closed")

    c, rep = connect("127.0.0.1")
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@sender.example>")
    c.cmd("RCPT TO:<alice@acme.example>")
    tap.eq(c.cmd("DATA")[0], 354, "DATA")
    c.send("Subject: slow\r\n")
    code, text = c.reply()
    tap.like(text, r"^421 4\.4\.2 ", "a client that stops sending data "
             "times out too")
    c.close()

    # greeting_delay: whoever talks first is refused.
    c = SMTPClient(port2)
    c.send("EHLO early.example\r\n")
    code, text = c.reply()
    tap.like(text, r"^554 5\.5\.1 .*before the greeting",
             "an early talker gets 554 5.5.1")
    tap.ok(c.closed(), "and is disconnected")
    tap.ok(r.wait_log(r"early talker \[127\.0\.0\.1\]", 2),
           "the early talker is logged")
    # Remembered (the postscreen model): refused at once next time.
    c, rep = connect("127.0.0.1", port2)
    tap.eq(rep[0], 554, "the early talker is refused at connect next time")
    tap.like(rep[1], r"^554 5\.7\.1 ", "with 554 5.7.1")
    c.close()
    t0 = time.time()
    c, rep = connect("127.0.0.2", port2)
    tap.eq(rep[0], 220, "a patient client is greeted")
    tap.ok(time.time() - t0 >= 0.9, "after the greeting delay")
    c.close()

    c, rep = connect("127.0.0.1")
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@sender.example>")
    codes = [c.cmd("RCPT TO:<user%d@acme.example>" % i)[0]
             for i in range(101)]
    tap.eq(codes[:100], [250] * 100, "100 recipients are accepted")
    tap.eq(codes[100], 452, "the 101st gets 452 (4.5.3)")
    c.close()

    # A pipelined transaction with 130 recipients: the 30 over the limit
    # get 452 4.5.3 without counting as errors, so the first 100 go, and
    # the client sends the rest in another transaction.
    c, rep = connect("127.0.0.1")
    c.cmd("EHLO client.example")
    c.send("MAIL FROM:<a@sender.example>\r\n" +
           "".join("RCPT TO:<user%d@acme.example>\r\n" % i
                   for i in range(130)) + "DATA\r\n")
    replies = [c.reply() for _ in range(132)]
    tap.eq(replies[0][0], 250, "pipelined MAIL accepted")
    tap.eq([x[0] for x in replies[1:101]], [250] * 100,
           "100 recipients accepted")
    tap.eq([x[0] for x in replies[101:131]], [452] * 30,
           "30 over the limit get 452")
    tap.ok(all(x[1].startswith("452 4.5.3 ") for x in replies[101:131]),
           "with 4.5.3")
    tap.eq(replies[131][0], 354, "DATA still goes ahead (no 421)")
    c.send("Subject: many\r\n\r\nhello\r\n.\r\n")
    code, text = c.reply()
    tap.eq(code, 250, "the message for the first 100 is accepted")
    c.cmd("MAIL FROM:<a@sender.example>")
    codes = [c.cmd("RCPT TO:<user%d@acme.example>" % i)[0]
             for i in range(100, 130)]
    tap.eq(codes, [250] * 30, "the other 30 in a second transaction")
    c.close()

    # Overshoot beyond Postfix's 1000 counts again: the session ends.
    c, rep = connect("127.0.0.1")
    c.cmd("EHLO client.example")
    c.send("MAIL FROM:<a@sender.example>\r\n" +
           "".join("RCPT TO:<u%d@acme.example>\r\n" % i
                   for i in range(100 + 1000 + 25)))
    replies = [c.reply() for _ in range(1 + 100 + 1000 + 20 + 1)]
    tap.eq([x[0] for x in replies[-2:]], [452, 421],
           "1,020 over the limit: the 20th error ends the session with 421")
    c.close()
    tap.ok(r.proc.poll() is None, "relayd is still running")
finally:
    r.cleanup()
tap.done()
