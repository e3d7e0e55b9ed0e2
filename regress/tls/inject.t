#!/usr/bin/env python3
"""STARTTLS command injection (CVE-2011-0411): what a client sends after
STARTTLS without waiting for the 220 is never executed under TLS.

"STARTTLS\\r\\nRSET\\r\\n" in one write: the first reply under TLS is
the one to the first command sent under TLS (HELP, 214), not RSET's 250.
A MAIL pipelined the same way does not open a transaction.  And when
the client pipelines more than smtpd reads at once, what is still in the
socket is dropped as well, so the handshake that follows is clean."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import SMTPClient, Tap, need_root  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import PKI, starttls, tls_relayd  # noqa: E402

tap = Tap()
need_root(tap)


def inject(r, tail, what):
    """STARTTLS with tail in the same write; then HELP under TLS."""
    c = SMTPClient(r.port)
    try:
        c.reply()
        c.cmd("EHLO client.example")
        c.send(b"STARTTLS\r\n" + tail)
        code, text = c.reply()
        if not tap.eq(code, 220, "%s: 220 to STARTTLS" % what):
            return None
        # Whatever came after the 220 in plain text would be the reply
        # to an injected command: the server must have sent nothing.
        tap.eq(c.buf, b"", "%s: nothing after the 220 in plain text" % what)
        c.buf = b""
        starttls(c)
        return c.cmd("HELP")
    except OSError as e:
        tap.diag("%s: %s" % (what, e))
        return None
    finally:
        c.close()


pki = PKI()
sink = Sink("127.0.0.1", 0)
sink.port = sink.sock.getsockname()[1]
r = tls_relayd(tap, pki, sink)
try:
    if not tap.ok(r.start(), "relayd starts with certificates"):
        tap.done()
    tap.eq(inject(r, b"RSET\r\n", "RSET"), (214, "214 2.0.0 See RFC 5321"),
           "RSET pipelined after STARTTLS: not executed, HELP answered")
    tap.ok(r.wait_log(r"discarded 6 octets that \[127\.0\.0\.1\] sent after "
                      r"STARTTLS, before our 220"), "and the log says so")

    c = SMTPClient(r.port)
    c.reply()
    c.cmd("EHLO client.example")
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    tap.eq(c.reply()[0], 220, "MAIL pipelined after STARTTLS: 220")
    starttls(c)
    c.cmd("EHLO client.example")
    tap.eq(c.cmd("RCPT TO:<alice@acme.test>")[0], 503,
           "the injected MAIL opened no transaction (RCPT: 503)")
    tap.eq(c.cmd("MAIL FROM:<good@example.org>")[0], 250,
           "a MAIL under TLS opens one")
    c.close()

    # More than one read: part of it waits in the socket, not the buffer.
    big = b"NOOP\r\n" * 4000 + b"RSET\r\n"
    tap.eq(inject(r, big, "24 KB"), (214, "214 2.0.0 See RFC 5321"),
           "24 KB pipelined after STARTTLS: all dropped, the handshake "
           "is clean and HELP is answered first")
    tap.ok(r.wait_log(r"discarded 24006 octets that \[127\.0\.0\.1\] sent "
                      r"after STARTTLS"),
           "the buffered part and the socket's were dropped")
    tap.ok(r.proc.poll() is None, "relayd still runs")
finally:
    r.cleanup()
    sink.close()
    pki.close()
tap.done()
