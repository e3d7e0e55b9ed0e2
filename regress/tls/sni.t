#!/usr/bin/env python3
"""The certificate is chosen by SNI: a tenant's tls.names get the
tenant's certificate (ECDSA here), any other name or none the relay's
own (RSA), on STARTTLS and on smtps alike, as openssl s_client sees it.
The key behind each is keyd's: smtpd's status counts the requests."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import PKI, peer, serial, tls_relayd  # noqa: E402

tap = Tap()
need_root(tap)

pki = PKI()
sink = Sink("127.0.0.1", 0)
sink.port = sink.sock.getsockname()[1]
r = tls_relayd(tap, pki, sink)
try:
    if not tap.ok(r.start(), "relayd starts with certificates"):
        tap.done()
    want = {"relay": serial(pki.relay[0]), "acme": serial(pki.acme[0]),
            "beta": serial(pki.beta[0])}
    cases = [
        (None, "relay", "no name"),
        ("relay.test.example", "relay", "the relay's own name"),
        ("unknown.example", "relay", "a name nobody claims"),
        ("post.acme.test", "acme", "acme's first name"),
        ("MAIL.Acme.Test", "acme", "acme's second name, in capitals"),
        ("smtp.beta.test", "beta", "beta's name"),
        ("acme.test", "relay", "acme's domain, which is not a tls.name"),
    ]
    for name, who, what in cases:
        p = peer(r.port, name)
        tap.eq(p and p["serial"], want[who],
               "STARTTLS, %s: %s's certificate" % (what, who))
    p = peer(r.smtps, "post.acme.test", starttls=False)
    tap.eq(p and p["serial"], want["acme"], "smtps: acme's by SNI")
    p = peer(r.smtps, None, starttls=False)
    tap.eq(p and p["serial"], want["relay"], "smtps: the relay's without")
    p = peer(r.port, "smtp.beta.test", extra=["-tls1_2"])
    tap.eq(p and (p["serial"], p["protocol"]), (want["beta"], "TLSv1.2"),
           "TLS 1.2: beta's by SNI too")
    p = peer(r.port, None, extra=["-tls1_2", "-sigalgs", "RSA+SHA256"])
    tap.eq(p and (p["serial"], p["protocol"]), (want["relay"], "TLSv1.2"),
           "TLS 1.2 with an RSA PKCS#1 signature")
    tap.ok(r.wait_log(r"TLS from \[127\.0\.0\.1\]: TLSv1\.3 with \S+ "
                      r"\(\d+/\d+ bits\) sni=post\.acme\.test tenant=acme"),
           "the log names the SNI name and its tenant")
    rc, out, err = r.ctl("show", "status")
    tap.like(out, r"smtpd .* 1[1-9] TLS handshakes, 1[1-9] key requests "
             r"\(\d+ us each, 0 refused, 0 timed out\)",
             "every handshake was signed by keyd")
    tap.like(out, r"keyd .* running, 3 keys, 1[1-9] signatures, 0 refused",
             "keyd counts its signatures")
finally:
    r.cleanup()
    sink.close()
    pki.close()
tap.done()
