#!/usr/bin/env python3
"""Routes: the tenant's servers for inbound mail; MX by preference for
outbound mail, failing over to the next host; implicit MX; null MX;
a domain that does not exist; our own name in the MX list; private MX
hosts; a name server that never answers; postmaster and abuse of the
relay itself to the operator's postmaster."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, queue_id  # noqa: E402
from world import World, parse_dsn, dsn_fields  # noqa: E402

tap = Tap()
OPERATOR = {"test.example.": ["test.example. 300 IN MX 10 mx.test.example.",
                               "mx.test.example. 300 IN A 127.0.0.7"]}
w = World(tap, queue="retry_min: 1s\nretry_max: 2s\n", dns_extra=OPERATOR)
try:
    tenant = w.sink(w.tenant_addr)
    mx2 = w.sink("127.0.0.3")
    nomx = w.sink("127.0.0.5")
    notices = w.sink("127.0.0.6")
    tap.ok(w.start(), "relayd starts")

    body = b"Subject: inbound\r\n\r\nfor the tenant\r\n"
    code, text = w.send("a@sender.test", ["bob@acme.example"], body)
    tap.eq(code, 250, "inbound message accepted")
    tap.ok(tenant.wait(1), "it reaches the tenant's server")
    m = tenant.messages[0]
    tap.ok(m.data.endswith(body), "byte for byte, after the Received: field")
    tap.eq(m.sender, "a@sender.test", "envelope sender kept")

    # mx1 (127.0.0.2) refuses connections: mx2 gets it.
    code, text = w.send("alice@acme.example", ["x@remote.test"],
                        inside=True)
    tap.eq(code, 250, "outbound message accepted from the tenant's network")
    tap.ok(mx2.wait(1), "the lower-preference MX gets it when the first "
           "refuses connections")
    tap.ok(w.log_has(r"connect to mx1\.remote\.test\[127\.0\.0\.2\]:\d+: "
                     r"Connection refused; trying the next host"),
           "the failover is logged")
    tap.ok(w.log_has(r"to=<x@remote\.test> relay=mx2\.remote\.test"
                     r"\[127\.0\.0\.3\]:\d+ delay=\d+s dsn=2\.0\.0 "
                     r"status=sent"),
           "one line per attempt: relay, delay, dsn, status")

    w.send("alice@acme.example", ["y@nomx.remote.test"], inside=True)
    tap.ok(nomx.wait(1), "no MX: the domain's address record is used")

    # Failures that bounce at once, to sender.test's MX (127.0.0.6).
    cases = [("z@nullmx.remote.test", "5.1.10", "null MX"),
             ("z@nxdomain.remote.test", "5.1.2", "does not exist"),
             ("z@loop.remote.test", "5.4.6", "loops back to myself")]
    for i, (rcpt, status, why) in enumerate(cases):
        w.send("alice@sender.test", [rcpt], inside=True)
        tap.ok(notices.wait(i + 1), "%s: a notice comes back" % why)
        msg, parts = parse_dsn(notices.messages[i].data)
        f = dsn_fields(parts.get("message/delivery-status", ""))
        tap.eq((f.get("status"), f.get("final-recipient")),
               (status, "rfc822; " + rcpt), "%s: Status %s" % (why, status))
    tap.eq(notices.messages[0].sender, "", "notices come from <>")

    # Our name is second: the list is cut there, mx1 only (refusing).
    w.send("alice@acme.example", ["q@behind.remote.test"], inside=True)
    tap.ok(w.log_has(r"to=<q@behind\.remote\.test> relay=mx1\.remote\.test"
                     r"\[127\.0\.0\.2\].* status=deferred"),
           "MX hosts after our own name are never tried")

    # A name server that never answers: deferred, never "no such domain".
    w.send("alice@acme.example", ["t@x.blackhole.test"], inside=True)
    tap.ok(w.log_has(r"to=<t@x\.blackhole\.test> .*dsn=4\.4\.3 "
                     r"status=deferred", 15),
           "a DNS time-out defers (4.4.3), it does not bounce")
    tap.eq(notices.count(), 3, "no notice for the deferred ones")

    # From anyone: abuse and postmaster of the relay go to the operator.
    operator = w.sink("127.0.0.7")
    for rcpt in ("abuse@relay.test.example", "postmaster@[127.0.0.1]"):
        code, text = w.send("someone@sender.test", [rcpt],
                            b"Subject: report\r\n\r\nabuse\r\n")
        tap.eq(code, 250, "%s is accepted from outside" % rcpt)
    tap.ok(operator.wait(2), "both reach the operator's MX")
    tap.eq(sorted(a for m in operator.messages for a in m.rcpt_addrs),
           ["hostmaster@test.example"] * 2,
           "addressed to relayd.yaml's postmaster")
finally:
    w.stop()

# Without allow_private_mx, an MX on 10.1.2.3 is not used.
w = World(tap, queue="retry_min: 1s\nretry_max: 2s\n",
          allow_private_mx=False)
try:
    tap.ok(w.start(), "relayd starts without allow_private_mx")
    w.send("alice@acme.example", ["p@private.remote.test"], inside=True)
    tap.ok(w.log_has(r"to=<p@private\.remote\.test> .*dsn=4\.4\.4 "
                     r"status=deferred \(no usable address"),
           "an MX on a private address is skipped (4.4.4)")
finally:
    w.stop()
tap.done()
