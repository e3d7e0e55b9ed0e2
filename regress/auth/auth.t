#!/usr/bin/env python3
"""SMTP AUTH (RFC 4954) against the tenant's Dovecot (a real one, on a
unix socket of the test's own, with a passwd-file).

AUTH is offered only under TLS (538 5.7.11 before); PLAIN and LOGIN
(swaks) get 235 2.7.0 and relay out as the user's tenant, "with
ESMTPSA"; a wrong password gets 535 5.7.8 and no hint; "*" cancels (501
5.0.0); an over-long response or AUTH line gets 500 5.5.6; AUTH twice
or in a transaction 503; MAIL without AUTH on submission 530 5.7.0; a
sender outside the tenant's domains 553 5.7.1; a flood of failures from
a client, or for a user from many clients, ends in 421 4.7.0; Dovecot
stopped gives 454 4.7.0, never 535; no password is ever in the log."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from authtest import (PASS, USERS, WRONG, auth_relayd, b64,  # noqa: E402
                      tls_client)
from dovecot import Dovecot  # noqa: E402
from relaytest import SMTPClient, Tap, need_root  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import PKI, ehlo_keywords  # noqa: E402

tap = Tap()
need_root(tap)


def swaks(port, *args):
    p = subprocess.run(["swaks", "--timeout", "20", "--server",
                        "127.0.0.1", "--port", str(port),
                        "--from", "alice@acme.test",
                        "--to", "bob@elsewhere.example",
                        "--header", "Subject: auth"] + list(args),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def run(r, dv):
    # Before TLS: not offered, and refused with 538.
    c = SMTPClient(r.port)
    c.reply()
    code, text = c.cmd("EHLO client.example")
    tap.ok("AUTH" not in ehlo_keywords(text), "no AUTH before STARTTLS")
    tap.eq(c.cmd("AUTH PLAIN " + b64("\0alice@acme.test\0" + PASS)),
           (538, "538 5.7.11 Encryption required for requested "
            "authentication mechanism"), "AUTH before TLS: 538 5.7.11")
    c.close()

    c, text = tls_client(r.port, sni="post.acme.test")
    tap.ok("AUTH PLAIN LOGIN" in text, "under TLS EHLO offers AUTH PLAIN "
           "LOGIN")
    tap.eq(c.cmd("AUTH PLAIN " + b64("\0alice@acme.test\0" + WRONG)),
           (535, "535 5.7.8 Error: authentication failed"),
           "a wrong password: 535 5.7.8, no hint")
    tap.eq(c.cmd("AUTH PLAIN " + b64("\0nobody@acme.test\0" + WRONG)),
           (535, "535 5.7.8 Error: authentication failed"),
           "an unknown user: the same 535 5.7.8")
    tap.eq(c.cmd("AUTH LOGIN")[0], 334, "AUTH LOGIN asks")
    tap.eq(c.cmd("*"), (501, "501 5.0.0 Authentication cancelled"),
           "a cancelled exchange: 501 5.0.0")
    tap.eq(c.cmd("AUTH PLAIN")[0], 334, "AUTH PLAIN asks")
    tap.eq(c.cmd("A" * 4000), (500, "500 5.5.6 Authentication exchange "
                               "line is too long"),
           "an over-long response: 500 5.5.6")
    tap.eq(c.cmd("NOOP")[0], 250, "and the session goes on")
    tap.eq(c.cmd("AUTH PLAIN " + "A" * 4000)[:1], (500,),
           "an over-long AUTH command: 500")
    tap.eq(c.cmd("AUTH PLAIN " + "A" * 1200),
           (500, "500 5.5.6 Authentication exchange line is too long"),
           "an AUTH command over its limit: 500 5.5.6")
    tap.eq(c.cmd("AUTH PLAIN " + b64("\0%s@acme.test\0%s" %
                                     ("u" * 200, "p" * 250)))[0], 535,
           "a long name and password still fit (535, not 500)")
    tap.eq(c.cmd("AUTH PLAIN " + b64("\0alice\0" + PASS))[0], 235,
           "the realm is appended to a bare name: 235")
    tap.eq(c.cmd("AUTH PLAIN " + b64("\0alice@acme.test\0" + PASS))[0],
           503, "AUTH twice: 503")
    tap.eq(c.cmd("MAIL FROM:<mallory@beta.test>"),
           (553, "553 5.7.1 Sender address not owned by the authenticated "
            "user"), "a sender outside the tenant's domains: 553 5.7.1")
    tap.eq(c.cmd("MAIL FROM:<alice@acme.test>")[0], 250, "its own sender")
    tap.eq(c.cmd("RCPT TO:<bob@elsewhere.example>")[0], 250,
           "relays out as its tenant")
    c.close()

    # Submission without AUTH: 530.
    c, text = tls_client(r.submission)
    tap.eq(c.cmd("MAIL FROM:<alice@acme.test>"),
           (530, "530 5.7.0 Authentication required"),
           "submission: MAIL without AUTH gets 530 5.7.0")
    c.close()

    # Without AUTH the relay is closed to that recipient.
    c, text = tls_client(r.port)
    c.cmd("MAIL FROM:<alice@acme.test>")
    tap.eq(c.cmd("AUTH PLAIN " + b64("\0alice@acme.test\0" + PASS)),
           (503, "503 5.5.1 Error: AUTH not permitted during a mail "
            "transaction"), "AUTH during a transaction: 503 5.5.1")
    tap.eq(c.cmd("RCPT TO:<bob@elsewhere.example>")[0], 550,
           "without AUTH: no relaying")
    c.close()

    # swaks: PLAIN with STARTTLS, LOGIN on smtps; the message goes.
    rc, out = swaks(r.submission, "--tls", "--auth", "PLAIN",
                    "--auth-user", "alice@acme.test",
                    "--auth-password", PASS)
    tap.ok(rc == 0 and "235 2.7.0" in out and "250 2.0.0" in out,
           "swaks --tls --auth PLAIN on submission: 235, then queued")
    if rc != 0:
        tap.diag(out[-1500:])
    rc, out = swaks(r.smtps, "--tls-on-connect", "--auth", "LOGIN",
                    "--auth-user", "alice@acme.test",
                    "--auth-password", PASS)
    tap.ok(rc == 0 and "235 2.7.0" in out and "250 2.0.0" in out,
           "swaks --tls-on-connect --auth LOGIN on smtps: 235, queued")
    tap.ok(r.wait_log(r"proto=ESMTPSA status=queued", 20),
           "the message was received with ESMTPSA")
    if not r.wait_log(r"proto=ESMTPSA status=queued", 1):
        tap.diag("\n".join(l for l in r.log().splitlines()
                           if "queued" in l)[-2000:])

    # Dovecot stopped: 454, never 535.
    dv.stop()
    c, text = tls_client(r.port)
    tap.eq(c.cmd("AUTH PLAIN " + b64("\0alice@acme.test\0" + PASS)),
           (454, "454 4.7.0 Temporary authentication failure"),
           "Dovecot stopped: 454 4.7.0, not 535")
    c.close()
    tap.ok(dv.start(), "Dovecot back")

    # A flood from one client: after the limit, 421 and the door shuts.
    c, text = tls_client(r.port)
    codes = []
    for i in range(8):
        code, _ = c.cmd("AUTH PLAIN " + b64("\0carol%d@acme.test\0%s" %
                                            (i, WRONG)))
        codes.append(code)
        if code == 421:
            break
    # The client failed three times above: the limit (5) comes soon.
    tap.ok(codes[0] == 535 and codes[-1] == 421 and
           all(x == 535 for x in codes[:-1]),
           "a flood of failures ends in 421 4.7.0 (%s)" % codes)
    c.close()
    if codes[-1] != 421:
        tap.diag(r.log()[-3000:])

    # One user tried from many clients: after the limit, 421 as well.
    codes = []
    for i in range(2, 10):
        c, text = tls_client(r.port, source="127.0.0.%d" % i)
        code, _ = c.cmd("AUTH PLAIN " + b64("\0dave@acme.test\0" + WRONG))
        codes.append(code)
        c.close()
        if code == 421:
            break
    tap.eq(codes, [535] * 5 + [421], "failures for one user from many "
           "clients: 421 after limits.auth_failure_rate (5)")

    log = r.log()
    tap.ok(PASS not in log and WRONG not in log and
           b64("\0alice@acme.test\0" + PASS) not in log,
           "no password, clear or encoded, in the log")
    tap.ok("auth: user=alice@acme.test tenant=acme" in log,
           "attempts are logged with user and tenant")


def main():
    pki = PKI()
    sink = Sink("127.0.0.1", 0)
    sink.port = sink.sock.getsockname()[1]
    dv = Dovecot(USERS)
    if not tap.ok(dv.start(), "Dovecot starts"):
        tap.diag(dv.log())
        return
    r = auth_relayd(tap, pki, sink, dv)
    try:
        if tap.ok(r.start(), "relayd starts"):
            run(r, dv)
    finally:
        r.cleanup()
        dv.cleanup()
        sink.close()
        pki.close()


main()
tap.done()
