#!/usr/bin/env python3
"""Defer-all: a tenant whose servers have accepted nothing from relayd
for inbound.defer_all_after although mail was tried gets all its new
inbound mail deferred with 451 4.3.0 and a reply that says why; a warning
is logged, its contacts are told, and relayctl show tenant says so.  Its
users' outbound mail still goes.  Once its servers accept a message, its
mail is accepted again."""
import email
import email.policy
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, wait_for  # noqa: E402
from world import World  # noqa: E402

OPS = "127.0.0.7"
DNS = {"ops.test.": ["ops.test. 300 IN MX 10 mx.ops.test.",
                     "mx.ops.test. 300 IN A %s" % OPS]}
CONTACTS = """\
contacts:
  - email: noc@ops.test
    roles: [emergency]
"""


def kinds(sink):
    return [email.message_from_bytes(m.data, policy=email.policy.compat32)[
        "X-Relayd-Notice"] for m in list(sink.messages)]


tap = Tap()
w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n",
          inbound_extra="  defer_all_after: 3s\n", dns_extra=DNS,
          tenant_extra=CONTACTS)
try:
    ops = w.sink(OPS)
    remote = w.sink("127.0.0.2")
    primary = w.sink(w.tenant_addr)
    primary.rcpt = lambda addr: "451 4.3.2 not today"
    tap.ok(w.start(), "relayd starts; the tenant's server refuses "
           "everything with 451")
    code, text = w.send("a@sender.test", ["bob@acme.example"],
                        b"Subject: first\r\n\r\nx\r\n")
    tap.eq(code, 250, "the first message is accepted")
    tap.ok(w.log_has(r"to=<bob@acme\.example> .*status=deferred \(451 "
                     r"4\.3\.2 not today\)"), "and refused by the server")
    tap.ok(w.log_has(r"tenant=acme: its servers have accepted nothing from "
                     r"this relay for \d+s although 1 held messages were "
                     r"tried \(last error: 451 4\.3\.2 not today\): its new "
                     r"mail is deferred", 20),
           "after defer_all_after, a warning is logged")

    def refused():
        code, text = w.send("a@sender.test", ["carol@acme.example"])
        return (code, text) if code != 250 else None
    got = wait_for(refused, 10, step=0.2)
    tap.eq(got and got[0], 451, "new mail for the tenant gets 451")
    tap.like(got and got[1], r"^451 4\.3\.0 Error: the recipient's own mail "
             r"servers have accepted nothing from this relay for too long",
             "4.3.0, saying why")
    tap.ok(w.log_has(r"reject RCPT from \[127\.0\.0\.1\]: 451 4\.3\.0 .* "
                     r"to=<carol@acme\.example>"), "the refusal is logged")
    code, text = w.send("alice@acme.example", ["x@remote.test"],
                        inside=True)
    tap.eq(code, 250, "its users' outbound mail is still accepted")
    tap.ok(remote.wait(1, 15), "and delivered")

    tap.ok(ops.wait(1, 20), "its emergency contact is told")
    tap.eq(kinds(ops)[:1], ["defer-all; tenant=acme"], "a defer-all notice")
    body = email.message_from_bytes(ops.messages[0].data).get_payload()
    tap.like(body, r"New mail for acme is now deferred",
             "saying its new mail is deferred")
    tap.like(body, r"Last error: +451 4\.3\.2 not today", "and why")
    rc, out, err = w.r.ctl("show", "tenant", "acme")
    tap.like(out, r"(?m)^defer_all: in force", "show tenant: defer-all")
    tap.like(out, r"(?m)^state: refusing mail since ", "state: refusing")
    tap.like(out, r"(?m)^notice defer-all: 1 sent", "the notice, counted")

    # The server takes mail again: defer-all ends with the first message.
    primary.rcpt = lambda addr: "250 2.1.5 ok"
    rc, out, err = w.r.ctl("queue", "flush", "all")
    tap.eq(rc, 0, "queue flush all")
    tap.ok(primary.wait(1, 15), "the held message is delivered")
    tap.ok(w.log_has(r"tenant=acme: defer-all ends: its servers accepted a "
                     r"message"), "defer-all ends, and the log says so")
    tap.ok(wait_for(lambda: w.send("a@sender.test", ["carol@acme.example"])
                    [0] == 250, 10, step=0.2),
           "new mail for the tenant is accepted again")
    rc, out, err = w.r.ctl("show", "tenant", "acme")
    tap.like(out, r"(?m)^defer_all: no$", "show tenant: no defer-all")
    tap.eq(len([k for k in kinds(ops) if k.startswith("defer-all")]), 1,
           "one defer-all notice in all")
finally:
    w.stop()
tap.done()
