#!/usr/bin/env python3
"""auth.dovecot on TCP (inet:127.0.0.1:PORT): the parent's non-blocking
connect, passed to policyd before it completes, works (235), and when
nothing listens there the AUTH gets 454 4.7.0, never 535."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from authtest import PASS, USERS, WRONG, auth_relayd, plain  # noqa: E402
from authtest import tls_client  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from relaytest import Tap, free_port, need_root  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import PKI  # noqa: E402

tap = Tap()
need_root(tap)


def attempt(r, password):
    c, _ = tls_client(r.port, sni="post.acme.test")
    rep = c.cmd("AUTH PLAIN " + plain("alice@acme.test", password))
    c.close()
    return rep


def main():
    pki = PKI()
    sink = Sink("127.0.0.1", 0)
    sink.port = sink.sock.getsockname()[1]
    port = free_port()
    dv = Dovecot(USERS, inet_port=port)
    r = auth_relayd(tap, pki, sink, dv,
                    endpoint="inet:127.0.0.1:%d" % port)
    try:
        if not tap.ok(r.start(), "relayd starts"):
            return
        tap.eq(attempt(r, PASS), (454, "454 4.7.0 Temporary authentication "
                                  "failure"),
               "nothing listens on the port: 454 4.7.0")
        if not tap.ok(dv.start(), "Dovecot starts on TCP"):
            tap.diag(dv.log())
            return
        tap.eq(attempt(r, PASS)[0], 235, "over TCP: 235")
        tap.eq(attempt(r, WRONG)[0], 535, "a wrong password over TCP: 535")
        tap.ok(r.wait_log(r"auth: user=alice@acme\.test tenant=acme "
                          r"client=\[127\.0\.0\.1\] status=ok"),
               "the success is logged")
    finally:
        r.cleanup()
        dv.cleanup()
        sink.close()
        pki.close()


main()
tap.done()
