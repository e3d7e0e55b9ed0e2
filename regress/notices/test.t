#!/usr/bin/env python3
"""relayctl notices test TENANT sends the tenant's contacts a test notice;
a notice that reaches no contact outside the tenant's own domains is
queued but not counted as told; what was sent when is kept in the store,
so a restart neither forgets it nor sends it again."""
import email
import email.policy
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, wait_for  # noqa: E402
from world import World  # noqa: E402

OPS = "127.0.0.7"
DNS = {"ops.test.": ["ops.test. 300 IN MX 10 mx.ops.test.",
                     "mx.ops.test. 300 IN A %s" % OPS]}
CONTACTS = """\
contacts:
  - name: Jane Doe
    email: jane@ops.test
    roles: [technical]
  - name: Bob Billing
    email: bills@ops.test
    roles: [billing]
"""
BETA = """\
tenant: beta
postmaster: postmaster@beta.example
contacts:
  - email: it@beta.example
    roles: [technical, emergency]
domains: [beta.example]
inbound:
  deliver_to: [127.0.0.21:{port}]
"""


def kinds(sink):
    return [email.message_from_bytes(m.data, policy=email.policy.compat32)[
        "X-Relayd-Notice"] for m in list(sink.messages)]


tap = Tap()
w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n",
          main_extra="notices:\n  outage_after: 2s\n  interval: 1h\n",
          dns_extra=DNS, tenant_extra=CONTACTS)
try:
    w.r.write_tenant("beta.yaml", BETA.format(port=w.port))
    ops = w.sink(OPS)
    tap.ok(w.start(), "relayd starts")

    rc, out, err = w.r.ctl("notices", "test", "acme")
    tap.eq(rc, 0, "notices test acme: OK")
    tap.like(out, r"^test notice msgid=[0-9a-f]{16} queued to 3 "
             r"recipients\n$", "it says the notice is queued, and to how "
             "many")
    tap.ok(ops.wait(1, 15), "the contacts' server gets it")
    tap.eq(sorted(ops.messages[0].rcpt_addrs if ops.messages else []),
           ["bills@ops.test", "jane@ops.test"],
           "for both contacts (a test goes to every role)")
    m = email.message_from_bytes(ops.messages[0].data,
                                 policy=email.policy.compat32)
    tap.eq(m["X-Relayd-Notice"], "test; tenant=acme", "a test notice")
    tap.eq(m["Auto-Submitted"], "auto-generated", "Auto-Submitted")
    tap.eq(ops.messages[0].sender, "hostmaster@test.example",
           "from the relay's postmaster")
    tap.like(m.get_payload(), r"<jane@ops\.test> Jane Doe \(technical\)",
             "listing the contacts and their roles")
    tap.ok(w.log_has(r"tenant=acme notice=test msgid=[0-9a-f]{16} "
                     r"from=<hostmaster@test\.example> to=<jane@ops\.test>,"
                     r"<bills@ops\.test>,<hostmaster@test\.example> "
                     r"status=queued \(told"), "the notice is logged")
    tap.ok(w.log_has(r"control: uid \d+: notices test acme"),
           "so is the operator's request")

    rc, out, err = w.r.ctl("notices", "test", "nosuch")
    tap.ok(rc == 1 and re.search(r"no such tenant", err),
           "notices test of no tenant: ERR")
    rc, out, err = w.r.ctl("notices", "test", "acme", "--json")
    tap.ok(rc == 2 and re.search(r"no --json form", err),
           "notices test has no --json form")

    # beta's only contacts are in its own domain: queued, not told.
    rc, out, err = w.r.ctl("notices", "test", "beta")
    tap.like(out, r"queued to 2 recipients; none outside the tenant's "
             r"domains", "a tenant with no contact outside its domains: "
             "queued, and said so")
    tap.ok(w.log_has(r"tenant=beta notice=test .*status=queued \(not told"),
           "logged as not told")
    rc, out, err = w.r.ctl("show", "tenant", "beta")
    tap.like(out, r"(?m)^notice test: 1 sent, the last .*, not told",
             "show tenant: not told")

    # An outage notice, and a restart: the record is kept, and nothing
    # is sent again within the interval.
    code, text = w.send("a@sender.test", ["bob@acme.example"])
    tap.eq(code, 250, "a message for acme, whose primary is down")
    tap.ok(wait_for(lambda: "outage; tenant=acme" in kinds(ops), 20),
           "the outage notice")
    rc, before, err = w.r.ctl("show", "tenant", "acme")
    tap.eq(w.r.stop(), 0, "relayd stops")
    w.r.proc = None
    tap.ok(w.start(), "and starts again, the primary still down")
    rc, after, err = w.r.ctl("show", "tenant", "acme")
    for key in ("failing_since", "notice outage", "notice test"):
        b = re.search(r"(?m)^%s: (.*?)( \(\d+[smhd] ago\).*)?$" % key,
                      before)
        a = re.search(r"(?m)^%s: (.*?)( \(\d+[smhd] ago\).*)?$" % key,
                      after)
        tap.ok(a and b and a.group(1) == b.group(1) and
               not a.group(1).startswith("never"),
               "%s: as before the restart (%s)" % (
                   key, a.group(1) if a else None))
    time.sleep(5)
    tap.eq(kinds(ops).count("outage; tenant=acme"), 1,
           "no second outage notice after the restart")
finally:
    w.stop()
tap.done()
