#!/usr/bin/env python3
"""The AUTH grant reaches queued from policyd, not in smtpd's word.

With the fault-injection build, smtpd believes an AUTH that policyd
never granted (smtpd-auth-forge, once) and relays a message out as the
tenant: queued, which holds no grant for the session, refuses the
envelope (451 4.3.0) and says why.  A real AUTH afterwards, which
policyd granted, relays the same message (250): queued took the
tenant from policyd's grant, not from the client's address."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from authtest import PASS, USERS, auth_relayd, message, plain  # noqa: E402
from authtest import tls_client  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from relaytest import Tap, need_root  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import PKI  # noqa: E402

tap = Tap()
need_root(tap)


def run(r):
    c, _ = tls_client(r.port, sni="post.acme.test")
    tap.eq(c.cmd("AUTH PLAIN " + plain("alice@acme.test", "anything"))[0],
           235, "forged: smtpd believes an AUTH policyd never granted")
    tap.eq(message(c), 451, "forged: queued refuses the envelope (451)")
    c.close()
    tap.ok(r.wait_log(r"queued: msgid=[0-9a-f]{16}: the envelope from "
                      r"smtpd is refused: recipient <bob@elsewhere\.example>"
                      r" is not routable here"),
           "forged: queued says the recipient is not routable for it")
    tap.ok(not r.wait_log(r"status=queued", 1),
           "forged: nothing was queued")

    c, _ = tls_client(r.port, sni="post.acme.test")
    tap.eq(c.cmd("AUTH PLAIN " + plain("alice@acme.test", PASS))[0], 235,
           "granted: 235")
    tap.eq(message(c), 250, "granted: queued takes the message")
    c.close()
    tap.ok(r.proc.poll() is None, "relayd runs on")


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
        if tap.ok(r.start(debug=True,
                          env={"RELAYD_FAIL": "smtpd-auth-forge:1"}),
                  "relayd (debug build) starts"):
            run(r)
    finally:
        r.cleanup()
        dv.cleanup()
        sink.close()
        pki.close()


main()
tap.done()
