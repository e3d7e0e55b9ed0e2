#!/usr/bin/env python3
"""STARTTLS (RFC 3207) on mx and submission listeners, TLS from the start
on smtps (RFC 8314), with swaks and Python's ssl as clients.

EHLO offers STARTTLS only with a certificate and only before TLS;
STARTTLS with an argument gets 501 5.5.4, under TLS or in a transaction
503 5.5.1, without a certificate 454 4.7.0.  After the handshake the
session starts afresh (MAIL before a new EHLO gets 503).  TLS 1.2 and
1.3 are spoken, TLS 1.1 is refused.  A message that came under TLS has
"with ESMTPS" and the version and cipher in its Received: field.  A
relayd without a certificate offers no STARTTLS until a reload brings
one."""
import os
import re
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import SMTPClient, Tap, need_root, wait_for  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import (PKI, client_ctx, ehlo_keywords, main_tls,  # noqa: E402
                     starttls, tls_relayd)

tap = Tap()
need_root(tap)


def swaks(*args):
    p = subprocess.run(["swaks", "--timeout", "20", "--from",
                        "sender@example.org", "--to", "alice@acme.test",
                        "--header", "Subject: swaks"] + list(args),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def received(msg):
    m = re.match(rb"(Received: [^\r]*\r\n(?:\t[^\r]*\r\n)*)", msg.data)
    return m.group(1).decode() if m else ""


def no_certificate(sink, pki):
    """Without a certificate: no STARTTLS, 454; a reload brings one."""
    r = tls_relayd(tap, pki, sink, tls=False)
    try:
        if not tap.ok(r.start(), "relayd without a certificate starts"):
            return
        c = SMTPClient(r.port)
        c.reply()
        code, text = c.cmd("EHLO client.example")
        tap.ok(code == 250 and "STARTTLS" not in ehlo_keywords(text),
               "no certificate: EHLO offers no STARTTLS")
        tap.eq(c.cmd("STARTTLS"), (454, "454 4.7.0 TLS not available due "
                                   "to local problem"),
               "no certificate: STARTTLS gets 454 4.7.0")
        c.close()
        r.write_main(main_tls(pki))
        rc, out, err = r.ctl("reload")
        tap.eq(rc, 0, "a reload brings the certificate")
        c = SMTPClient(r.port)
        c.reply()
        code, text = c.cmd("EHLO client.example")
        tap.ok("STARTTLS" in ehlo_keywords(text),
               "after the reload EHLO offers STARTTLS")
        if tap.eq(c.cmd("STARTTLS")[0], 220, "and STARTTLS gets 220"):
            starttls(c)
            tap.eq(c.cmd("NOOP")[0], 250, "and the handshake is made")
        c.close()
    finally:
        r.cleanup()


def commands(r):
    c = SMTPClient(r.port)
    c.reply()
    code, text = c.cmd("EHLO client.example")
    tap.ok("STARTTLS" in ehlo_keywords(text), "EHLO offers STARTTLS")
    tap.eq(c.cmd("STARTTLS now"), (501, "501 5.5.4 Syntax: STARTTLS"),
           "STARTTLS with an argument: 501 5.5.4")
    tap.eq(c.cmd("MAIL FROM:<sender@example.org>")[0], 250, "MAIL")
    tap.eq(c.cmd("STARTTLS"), (503, "503 5.5.1 Error: MAIL transaction in "
                               "progress"),
           "STARTTLS in a transaction: 503 5.5.1")
    tap.eq(c.cmd("RSET")[0], 250, "RSET")
    tap.eq(c.cmd("STARTTLS"), (220, "220 2.0.0 Ready to start TLS"),
           "STARTTLS: 220 2.0.0")
    tls = starttls(c)
    tap.eq(tls.version(), "TLSv1.3", "TLS 1.3 by default")
    tap.eq(c.cmd("MAIL FROM:<sender@example.org>"),
           (503, "503 5.5.1 Error: send HELO/EHLO first"),
           "after the handshake the session starts afresh: EHLO first")
    code, text = c.cmd("EHLO client.example")
    tap.ok(code == 250 and "STARTTLS" not in ehlo_keywords(text),
           "under TLS EHLO offers no STARTTLS")
    tap.eq(c.cmd("STARTTLS"), (503, "503 5.5.1 Error: TLS already active"),
           "STARTTLS under TLS: 503 5.5.1")
    tap.eq(c.cmd("QUIT")[0], 221, "QUIT under TLS: 221")
    c.close()


def versions(r):
    for name, top in (("1.2", ssl.TLSVersion.TLSv1_2),):
        c = SMTPClient(r.port)
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("STARTTLS")
        tls = starttls(c, ctx=client_ctx(maximum=top))
        tap.eq(tls.version(), "TLSv" + name, "TLS %s is spoken" % name)
        c.close()
    c = SMTPClient(r.port)
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("STARTTLS")
    try:
        with_11 = client_ctx(minimum=ssl.TLSVersion.TLSv1,
                             maximum=ssl.TLSVersion.TLSv1_1)
        starttls(c, ctx=with_11)
        got = c.sock.version()
    except (ssl.SSLError, OSError) as e:
        got = "refused: %s" % e
    tap.like(got, r"^refused", "TLS 1.1 is refused")
    c.close()
    tap.ok(r.wait_log(r"TLS handshake from \[127\.0\.0\.1\]:\d+ failed: "
                      r"unsupported protocol"),
           "one log line says why the handshake failed")


def messages(r, sink):
    rc, out = swaks("--server", "127.0.0.1:%d" % r.port, "--tls")
    tap.ok(rc == 0 and "<~  250 2.0.0 Ok: queued as" in out,
           "swaks --tls: the message is queued under TLS")
    if rc != 0:
        tap.diag(out)
    rc, out = swaks("--server", "127.0.0.1:%d" % r.smtps,
                    "--tls-on-connect")
    tap.ok(rc == 0 and re.search(r"<~  220 relay\.test\.example ESMTP", out)
           and "<~  250 2.0.0 Ok: queued as" in out,
           "swaks --tls-on-connect on smtps: greeted and queued under TLS")
    if rc != 0:
        tap.diag(out)
    rc, out = swaks("--server", "127.0.0.1:%d" % r.submission, "--tls")
    tap.ok(rc == 0 and "<~  250 2.0.0 Ok: queued as" in out,
           "swaks --tls on submission")
    rc, out = swaks("--server", "127.0.0.1:%d" % r.port)
    tap.ok(rc == 0, "and in plain text, as before")
    tap.ok(sink.wait(4, 30), "all four delivered")
    recs = [received(m) for m in sorted(sink.messages, key=lambda m: m.when)]
    tls_re = (r"^Received: from \S+ \(\[127\.0\.0\.1\]\)\r\n"
              r"\t\(using TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 "
              r"\(256/256 bits\)\)\r\n"
              r"\tby relay\.test\.example \(relayd\) with ESMTPS id ")
    tap.eq(len([x for x in recs if re.search(tls_re, x)]), 3,
           "Received: says ESMTPS, the version and the cipher, three times")
    tap.eq(len([x for x in recs if " with ESMTP id " in x and "using" not
                in x]), 1, "and ESMTP without them for the plain message")
    if len(recs) == 4:
        tap.diag(recs[0])


def main():
    pki = PKI()
    sink = Sink("127.0.0.1", 0)
    sink.port = sink.sock.getsockname()[1]
    r = tls_relayd(tap, pki, sink)
    try:
        if tap.ok(r.start(), "relayd starts with certificates"):
            tap.ok(r.wait_log(r"smtpd: TLS: 3 certificates, 3 tenant "
                              r"names"),
                   "smtpd has the relay's and the tenants' certificates")
            tap.ok(r.wait_log(r"keyd: holding 3 keys"),
                   "keyd holds the keys")
            commands(r)
            versions(r)
            messages(r, sink)
            tap.ok(r.proc.poll() is None, "relayd still runs")
    finally:
        r.cleanup()
    no_certificate(sink, pki)
    sink.close()
    pki.close()
    tap.done()


main()
