#!/usr/bin/env python3
"""Retries: a 4xx then success; a destination that comes back gets its
deferred mail at once; expiry at the end of the lifetime (queue.lifetime,
or the tenant's hold for a backup MX) bounces with 4.4.7; a delay notice
after queue.delay_warning; the queue survives a restart."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, wait_for  # noqa: E402
from world import World, dsn_fields, parse_dsn  # noqa: E402

tap = Tap()

# A 4xx, then success on the retry (retry_min 1s).
w = World(tap, queue="retry_min: 1s\nretry_max: 4s\n")
try:
    tries = []

    def rcpt(addr):
        tries.append(time.time())
        return "451 4.7.1 try later" if len(tries) == 1 else "250 2.1.5 ok"

    tenant = w.sink(w.tenant_addr)
    tenant.rcpt = rcpt
    tap.ok(w.start(), "relayd starts")
    t0 = time.time()
    w.send("a@sender.test", ["bob@acme.example"])
    tap.ok(tenant.wait(1, 10), "a message deferred with 451 is delivered "
           "on a later attempt")
    tap.ok(len(tries) == 2 and 0.8 < tries[1] - tries[0] < 3,
           "the retry came after retry_min (%.1fs)" %
           (tries[1] - tries[0] if len(tries) > 1 else -1))
    tap.ok(tries and tries[0] - t0 < 1.0, "the first attempt started within "
           "a second of acceptance (%.3fs)" % (tries[0] - t0 if tries
                                                else -1))
    tap.ok(w.log_has(r"dsn=4\.7\.1 status=deferred \(451 4\.7\.1 try "
                     r"later\)"), "the deferral is logged with the reply")
    tap.ok(w.queue_empty(), "the queue is empty once delivered")
finally:
    w.stop()

# A destination that comes back: what waits for it goes at once, not at
# its next retry (retry_min is 60s here).
w = World(tap, queue="retry_min: 60s\nretry_max: 1h\n")
try:
    tap.ok(w.start(), "relayd starts; the tenant's server is down")
    for i in range(3):
        w.send("a@sender.test", ["bob@acme.example"],
               b"Subject: waiting %d\r\n\r\nx\r\n" % i)
    tap.ok(wait_for(lambda: len(w.queue_lines()) == 3 and all(
        " 1 in " in l for l in w.queue_lines()), 10),
        "three messages deferred, next attempt in a minute")
    tap.ok(w.log_has(r"destination tenant:acme is down"),
           "the destination is marked down")
    tenant = w.sink(w.tenant_addr)
    t0 = time.time()
    w.send("a@sender.test", ["bob@acme.example"], b"Subject: new\r\n\r\n"
           b"x\r\n")
    tap.ok(tenant.wait(4, 15), "when a new message gets through, the "
           "three deferred ones follow at once")
    tap.ok(time.time() - t0 < 15, "well before their retry time")
    tap.ok(w.log_has(r"destination tenant:acme is back: 3 deferred "
                     r"messages rescheduled"), "and the log says so")
finally:
    w.stop()

# Expiry with a short lifetime, and a delay notice before it.
w = World(tap, queue="retry_min: 1s\nretry_max: 1s\nlifetime: 4s\n"
          "delay_warning: 2s\n")
try:
    notices = w.sink("127.0.0.6")
    tap.ok(w.start(), "relayd starts with lifetime 4s, delay_warning 2s")
    w.send("alice@sender.test", ["x@remote.test"], inside=True)
    w.send("", ["x@remote.test"], inside=True)
    tap.ok(notices.wait(2, 20), "two notices for the message from "
           "alice, none for the one from <>")
    kinds = []
    for m in notices.messages:
        msg, parts = parse_dsn(m.data)
        f = dsn_fields(parts.get("message/delivery-status", ""))
        kinds.append((msg["Subject"], f.get("action"), f.get("status")))
    tap.eq(kinds[0][:2], ("Delayed Mail (still being retried)", "delayed"),
           "first a delay notice, Action: delayed")
    tap.eq(kinds[1], ("Undelivered Mail Returned to Sender", "failed",
                      "4.4.7"), "then expiry: Action: failed, Status 4.4.7")
    time.sleep(1)
    tap.eq(notices.count(), 2, "nothing for the null sender")
    tap.ok(w.log_has(r"no failure notice: the sender is <>"),
           "the null sender's expiry is logged")
    tap.ok(w.queue_empty(), "both are gone from the queue")
finally:
    w.stop()

# Backup MX: inbound.hold, not queue.lifetime, bounds the wait.
# Its greylisting, sender check and recipient callouts (on by default)
# are not the subject: its primary is down from the start.
w = World(tap, mode="backup", hold="3s",
          queue="retry_min: 1s\nretry_max: 1s\nlifetime: 1h\n",
          tenant_extra="policy:\n  greylist: {enabled: false}\n"
          "  sender_domain: false\nrecipients:\n  verify: none\n")
try:
    notices = w.sink("127.0.0.6")
    tap.ok(w.start(), "relayd starts as a backup MX holding for 3s")
    w.send("a@sender.test", ["bob@acme.example"])
    tap.ok(notices.wait(1, 15), "after the hold the message bounces")
    msg, parts = parse_dsn(notices.messages[0].data)
    tap.eq(dsn_fields(parts.get("message/delivery-status", "")).get(
        "status"), "4.4.7", "with 4.4.7")
finally:
    w.stop()

# Everything survives a restart, schedule included.
w = World(tap, queue="retry_min: 3s\nretry_max: 1h\n")
try:
    tap.ok(w.start(), "relayd starts; the tenant's server is down")
    w.send("a@sender.test", ["bob@acme.example", "carol@acme.example"])
    tap.ok(wait_for(lambda: len(w.queue_lines()) == 1 and " 1 in " in
                    w.queue_lines()[0], 10), "the message is deferred")
    tap.eq(w.r.stop(), 0, "relayd stops")
    tenant = w.sink(w.tenant_addr)
    w.r.proc = None
    tap.ok(w.start(), "and starts again")
    tap.ok(tenant.wait(1, 15), "the queued message is delivered after the "
           "restart, at its next attempt")
    tap.eq(sorted(tenant.messages[0].rcpt_addrs),
           ["bob@acme.example", "carol@acme.example"],
           "to both recipients, in one transaction")
    tap.ok(w.queue_empty(), "and removed")
finally:
    w.stop()
tap.done()
