#!/usr/bin/env python3
"""smtpd passes queued's refusals to the client as they are, so it takes
one only if it is a single reply line: 4xx or 5xx, an enhanced code of
that class, printable text.  A reply from queued with a line break and a
forged 250 in it (a lying peer, made on purpose by the debug build:
RELAYD_FAIL=queued-reply-crlf, on a commit refused through
smtpd-envelope-flags) is a broken peer: smtpd stops, as it does for any,
and the client never reads the forged line as a reply."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, RELAYD_DEBUG, Relayd,  # noqa: E402
                       SMTPClient, Tap)

tap = Tap()
if not os.path.exists(RELAYD_DEBUG):
    tap.skip_all("no debug build (make debug)")
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")
FORGED = b"queued as 0000000000000000"


def session(port):
    """A transaction queued refuses, then NOOP; every byte read back, up to
    the NOOP's reply or the end of the connection."""
    c = SMTPClient(port, timeout=30)
    got = b""
    try:
        for line in ("EHLO client.example", "MAIL FROM:<a@sender.example>",
                     "RCPT TO:<bob@acme.example>", "DATA"):
            c.reply()
            c.send(line + "\r\n")
        c.reply()
        c.send(b"Subject: x\r\n\r\nx\r\n.\r\nNOOP\r\n")
        while not got.endswith(b"250 2.0.0 Ok\r\n"):
            chunk = c.sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, ConnectionError) as e:
        tap.diag("the session ended with %r" % e)
    finally:
        c.close()
    return got


r = Relayd(tap, tenants={"acme.yaml": TENANT})
try:
    tap.ok(r.start(debug=True, env={
        "RELAYD_FAIL": "smtpd-envelope-flags,queued-reply-crlf"}),
        "relayd starts")
    got = session(r.port)
    tap.ok(r.wait_log(r"fault injection: failing step queued-reply-crlf"),
           "queued sent smtpd a reply of two lines")
    tap.ok(FORGED not in got, "the client never reads the forged 250")
    if FORGED in got:
        tap.diag("the client read: %r" % got)
    tap.ok(r.wait_log(r"smtpd: .*queued sent a bad message \(type \d+, "
                      r"\d+ bytes\): fail"),
           "smtpd takes queued for a broken peer")
    tap.ok(r.wait_exit(30) is not None, "and relayd stops, as for any")
finally:
    r.cleanup()
tap.done()
