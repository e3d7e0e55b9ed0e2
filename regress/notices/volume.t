#!/usr/bin/env python3
"""The daily volume limit: when policyd refuses a tenant's mail for its
limits.daily_messages (450 4.7.1), it tells queued, and the tenant's
technical contacts get a notice, once per notices.interval."""
import email
import email.policy
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap  # noqa: E402
from world import World  # noqa: E402

OPS = "127.0.0.7"
DNS = {"ops.test.": ["ops.test. 300 IN MX 10 mx.ops.test.",
                     "mx.ops.test. 300 IN A %s" % OPS]}
EXTRA = """\
contacts:
  - email: noc@ops.test
    roles: [technical]
limits:
  daily_messages: 1
"""

tap = Tap()
w = World(tap, dns_extra=DNS, tenant_extra=EXTRA)
try:
    ops = w.sink(OPS)
    primary = w.sink(w.tenant_addr)
    tap.ok(w.start(), "relayd starts; acme may receive one message a day")
    code, text = w.send("a@sender.test", ["bob@acme.example"])
    tap.eq(code, 250, "the first message is accepted")
    tap.ok(primary.wait(1, 15), "and delivered")
    code, text = w.send("a@sender.test", ["bob@acme.example"])
    tap.eq(code, 450, "the second is refused")
    tap.like(text, r"^450 4\.7\.1 .*daily volume limit",
             "for the daily volume limit")
    tap.ok(ops.wait(1, 20), "the technical contact hears of it")
    m = email.message_from_bytes(ops.messages[0].data,
                                 policy=email.policy.compat32)
    tap.eq(m["X-Relayd-Notice"], "volume; tenant=acme", "a volume notice")
    tap.eq(m["Auto-Submitted"], "auto-generated", "Auto-Submitted")
    tap.like(m.get_payload(), r"acme has reached its daily volume limit "
             r"\(UTC day\): 1 messages", "with today's figures")
    tap.ok(w.log_has(r"tenant=acme: daily volume limit reached \(1 "
                     r"messages"), "queued logs what policyd told it")
    for i in range(2):
        code, text = w.send("a@sender.test", ["carol@acme.example"])
        tap.eq(code, 450, "refused again (%d)" % i)
    time.sleep(3)
    tap.eq(ops.count(), 1, "one notice, however often the limit refuses")
    rc, out, err = w.r.ctl("show", "tenant", "acme")
    tap.like(out, r"(?m)^notice volume: 1 sent, the last .*, told$",
             "show tenant counts it")
finally:
    w.stop()
tap.done()
