#!/usr/bin/env python3
"""A failed handshake ends that session alone: garbage after STARTTLS, a
plain SMTP client on the smtps port, a client that goes silent in the
middle.  Each gets one log line with the reason; a session opened before
goes on, under TLS or not; relayd keeps running and takes new ones."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import CHILDREN, SMTPClient, Tap, need_root  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import PKI, connect, starttls, tls_relayd  # noqa: E402

tap = Tap()
need_root(tap)


def closed(sock, timeout=15):
    """True once the server has hung up (whatever it said first)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True


pki = PKI()
sink = Sink("127.0.0.1", 0)
sink.port = sink.sock.getsockname()[1]
r = tls_relayd(tap, pki, sink, timeouts="command: 3s\n")
try:
    if not tap.ok(r.start(), "relayd starts with certificates"):
        tap.done()
    plain = SMTPClient(r.port)
    plain.reply()
    tap.eq(plain.cmd("EHLO before.example")[0], 250, "a plain session")
    tls = SMTPClient(r.port)
    tls.reply()
    tls.cmd("EHLO before.example")
    tls.cmd("STARTTLS")
    starttls(tls)
    tap.eq(tls.cmd("EHLO before.example")[0], 250, "a TLS session")

    g = connect(r.port)
    g.recv(512)
    g.sendall(b"STARTTLS\r\n")
    tap.ok(g.recv(512).startswith(b"220 "), "garbage: 220 to STARTTLS")
    g.sendall(b"\x16\x03\x01\x00\x05hello" + os.urandom(200))
    tap.ok(closed(g), "garbage instead of a ClientHello: that session is "
           "closed")
    g.close()
    tap.ok(r.wait_log(r"TLS handshake from \[127\.0\.0\.1\]:\d+ failed: "
                      r"\w"), "one log line says why")

    p = connect(r.smtps)
    p.sendall(b"EHLO plain.example\r\n")
    tap.ok(closed(p), "plain SMTP on the smtps port: closed")
    p.close()
    tap.ok(r.wait_log(r"TLS handshake from \[127\.0\.0\.1\]:\d+ failed: "
                      r"(wrong version number|http request|packet length "
                      r"too long|unknown protocol)"), "logged too")

    tap.eq(plain.cmd("NOOP")[0], 250, "the plain session opened before "
           "goes on")
    tap.eq(tls.cmd("NOOP")[0], 250, "the TLS session opened before "
           "goes on")
    plain.close()
    tls.close()
    c = SMTPClient(r.port)
    tap.eq(c.reply()[0], 220, "a new session is greeted")
    c.cmd("EHLO after.example")
    tap.eq(c.cmd("STARTTLS")[0], 220, "and may start TLS")
    starttls(c)
    tap.eq(c.cmd("NOOP")[0], 250, "which works")
    c.close()

    # Last, since the sessions above would time out meanwhile.
    s = connect(r.port)
    s.recv(512)
    s.sendall(b"STARTTLS\r\n")
    s.recv(512)
    s.sendall(b"\x16\x03\x01")      # the start of a record, then silence
    tap.ok(closed(s), "a handshake that stalls: closed at the command "
           "time-out")
    s.close()
    tap.ok(r.wait_log(r"TLS handshake from \[127\.0\.0\.1\]:\d+ failed: "
                      r"timed out"), "logged: timed out")
    time.sleep(0.2)
    tap.ok(r.proc.poll() is None, "relayd still runs")
    tap.eq(len(r.children()), len(CHILDREN), "with all its children")
finally:
    r.cleanup()
    sink.close()
    pki.close()
tap.done()
