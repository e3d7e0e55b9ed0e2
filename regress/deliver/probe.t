#!/usr/bin/env python3
"""Held mail comes home quickly: while a tenant's servers are down and
mail is held for them, deliverd probes them every minute (connect, EHLO,
QUIT), not at the retry backoff; the first probe that gets an answer
brings every held message at once.  Relay and backup tenants alike.

retry_min and retry_max are an hour here: with the backoff alone the
held mail would not come within this test."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, wait_for  # noqa: E402
from world import World  # noqa: E402

BETA = """\
tenant: beta
postmaster: postmaster@beta.example
domains: [beta.example]
inbound:
  mode: backup
  deliver_to: [127.0.0.21:{port}]
recipients:
  verify: none         # a callout to a dead server defers; not this test's
policy:
  greylist: {{enabled: false}}
  sender_domain: false
"""


def held(sink):
    return len([m for m in list(sink.messages) if b"Subject: held" in
                m.data])


tap = Tap()
w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n")
try:
    w.r.write_tenant("beta.yaml", BETA.format(port=w.port))
    tap.ok(w.start(), "relayd starts: acme (relay) and beta (backup), both "
           "primaries down")
    for rcpt in ("bob@acme.example", "carol@acme.example",
                 "dan@beta.example", "eve@beta.example"):
        code, _ = w.send("a@sender.test", [rcpt],
                         b"Subject: held for " + rcpt.encode() +
                         b"\r\n\r\nx\r\n")
        tap.eq(code, 250, "%s: accepted" % rcpt)
    tap.ok(wait_for(lambda: len(w.queue_lines()) == 4 and all(
        " 1 in 60m " in l for l in w.queue_lines()), 15),
        "all four deferred, their next attempt an hour away")
    tap.ok(w.log_has(r"destination tenant:acme is down") and
           w.log_has(r"destination tenant:beta is down"),
           "both destinations are down")

    # The first probes find nobody; the servers come back after them.
    tap.ok(w.log_has(r"destination tenant:acme: still down", 100) and
           w.log_has(r"destination tenant:beta: still down", 10),
           "a minute on, both are probed, and found still down")
    tap.eq(len(w.queue_lines()), 4, "nothing was delivered or lost")
    acme = w.sink(w.tenant_addr)
    beta = w.sink("127.0.0.21")
    t0 = time.time()
    tap.ok(wait_for(lambda: held(acme) == 2 and held(beta) == 2, 90,
                    step=0.2),
           "the next probes bring all the held mail (%.0fs after the "
           "servers' return), an hour before its retry" %
           (time.time() - t0))
    tap.ok(w.log_has(r"destination tenant:acme answers again") and
           w.log_has(r"destination tenant:beta answers again"),
           "each probe's answer is logged")
    tap.ok(w.log_has(r"destination tenant:beta is back: 2 deferred "
                     r"messages rescheduled"),
           "and everything deferred for it goes at once")
    helos = [m.helo for m in acme.messages + beta.messages]
    tap.ok(all(h and h.startswith("relay.test.example") for h in helos),
           "delivered with our EHLO name")
    tap.ok(w.queue_empty(20), "the queue is empty")
finally:
    w.stop()
tap.done()
