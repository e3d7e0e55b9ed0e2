#!/usr/bin/env python3
"""Outage and recovery notices: the tenant's primary is down; after
notices.outage_after its contacts and the relay's postmaster hear of it,
from the postmaster's address, Auto-Submitted, with the count of held
messages and the last error; at most one per notices.interval.  When the
primary comes back, the held mail arrives within a minute (the
probe), though the retry backoff would have waited an hour; then a
recovery notice.  relayctl show tenant says all of it, also in JSON."""
import email
import email.policy
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, wait_for  # noqa: E402
from world import World  # noqa: E402

OPS = "127.0.0.7"          # the contacts' own mail server
HOSTMASTER = "127.0.0.8"   # the relay's postmaster's
DNS = {
    "ops.test.": ["ops.test. 300 IN MX 10 mx.ops.test.",
                  "mx.ops.test. 300 IN A %s" % OPS],
    "test.example.": ["test.example. 300 IN MX 10 mx.test.example.",
                      "mx.test.example. 300 IN A %s" % HOSTMASTER],
}
CONTACTS = """\
contacts:
  - name: Jane Doe
    email: jane@ops.test
    phone: "+44 20 7946 0000"
    roles: [technical, emergency]
  - email: accounts@ops.test
    roles: [billing]
"""


def notice(m):
    return email.message_from_bytes(m.data, policy=email.policy.compat32)


def kinds(sink):
    return [notice(m)["X-Relayd-Notice"] for m in list(sink.messages)]


tap = Tap()
w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n",
          main_extra="notices:\n  outage_after: 3s\n  interval: 10s\n",
          dns_extra=DNS, tenant_extra=CONTACTS)
try:
    ops = w.sink(OPS)
    hostmaster = w.sink(HOSTMASTER)
    tap.ok(w.start(), "relayd starts; the tenant's primary is down")
    for i in range(2):
        code, text = w.send("a@sender.test", ["bob@acme.example"],
                            b"Subject: held %d\r\n\r\nwaiting\r\n" % i)
        tap.eq(code, 250, "message %d accepted while the primary is down"
               % i)
    tap.ok(wait_for(lambda: len(w.queue_lines()) == 2 and all(
        " 1 in 60m " in l for l in w.queue_lines()), 15),
        "both deferred, the next attempt an hour away")

    # The outage notice.
    tap.ok(ops.wait(1, 30), "after outage_after the contact hears of it")
    m = ops.messages[0]
    n = notice(m)
    tap.eq(m.sender, "hostmaster@test.example",
           "from the relay's postmaster address")
    tap.eq([r.split(">")[0] for r in m.rcpt_addrs], ["jane@ops.test"],
           "to the technical contact (not the billing one)")
    tap.eq(n["Auto-Submitted"], "auto-generated", "Auto-Submitted: "
           "auto-generated (RFC 3834)")
    tap.eq(n["X-Relayd-Notice"], "outage; tenant=acme", "an outage notice")
    tap.like(n["From"], r"<hostmaster@test\.example>$",
             "From: the postmaster")
    tap.like(n["Subject"], r"acme: .*\(2 messages held\)",
             "the subject counts the held messages")
    text = n.get_payload()
    tap.like(text, r"Held messages: +2 \(\d+ octets\)",
             "the body counts them, with their octets")
    tap.like(text, r"Last error: +connect to .*127\.0\.0\.20.*refused",
             "and gives the last error")
    tap.ok(hostmaster.wait(1, 15), "the relay's postmaster gets it too")
    tap.ok(w.log_has(r"tenant=acme notice=outage msgid=[0-9a-f]{16} "
                     r"from=<hostmaster@test\.example> to=.*status=queued "
                     r"\(told: a contact outside"), "the notice is logged")

    # At most one per interval; a reminder after it, while it lasts.
    first = ops.messages[0].when
    time.sleep(4)
    tap.eq(kinds(ops), ["outage; tenant=acme"],
           "no second outage notice within the interval")
    tap.ok(ops.wait(2, 30), "a reminder once the interval has passed")
    tap.ok(ops.messages[1].when - first >= 9,
           "not before the interval (%.1fs after the first)" %
           (ops.messages[1].when - first))
    tap.eq(kinds(ops)[1], "outage; tenant=acme", "an outage notice again")

    rc, out, err = w.r.ctl("show", "tenant", "acme")
    tap.eq(rc, 0, "show tenant acme")
    tap.like(out, r"(?m)^state: down \(no server answers\) since ",
             "state: down since when")
    tap.like(out, r"(?m)^held_messages: 2$", "held: 2 messages")
    tap.like(out, r"(?m)^last_error: connect to ", "the last error")
    tap.like(out, r"(?m)^notice outage: 2 sent, the last .*, told$",
             "the outage notices, told")
    tap.like(out, r"(?m)^contact: Jane Doe <jane@ops\.test> \+44 20 7946 "
             r"0000 \(technical,emergency\)$", "the contacts, with roles")

    # The primary returns: the probe finds it within a minute.
    primary = w.sink(w.tenant_addr)
    t0 = time.time()
    held = wait_for(lambda: len([x for x in primary.messages if
                                 b"Subject: held" in x.data]) == 2, 90,
                    step=0.2)
    tap.ok(held, "the held mail arrives within a minute of the primary's "
           "return (%.0fs), not at its retry an hour away" %
           (time.time() - t0))
    tap.ok(w.log_has(r"destination tenant:acme answers again"),
           "the probe's answer is logged")
    tap.ok(w.log_has(r"destination tenant:acme is back: \d+ deferred "
                     r"messages rescheduled"),
           "and everything deferred for it goes at once")
    tap.ok(wait_for(lambda: "recovery; tenant=acme" in kinds(ops), 30),
           "a recovery notice follows")
    rec = [notice(x) for x in ops.messages if
           notice(x)["X-Relayd-Notice"] == "recovery; tenant=acme"]
    tap.like(rec[0].get_payload() if rec else "",
             r"accept mail from this relay again", "saying so")
    tap.ok(w.queue_empty(30), "the queue empties")

    rc, out, err = w.r.ctl("show", "tenant", "acme", "--json")
    tap.eq(rc, 0, "show tenant acme --json")
    try:
        j = json.loads(out)
    except ValueError as e:
        j = {}
        tap.diag("not JSON: %s\n%s" % (e, out))
    tap.eq((j.get("tenant"), j.get("mode"), j.get("state")),
           ("acme", "relay", "up"), "JSON: tenant, mode, state up")
    tap.eq(j.get("servers"), ["%s:%d" % (w.tenant_addr, w.port)],
           "JSON: its servers")
    tap.ok((j.get("notice_outage") or {}).get("count", 0) >= 2,
           "JSON: the outage notices counted")
    tap.eq((j.get("notice_recovery") or {}).get("told"), True,
           "JSON: the recovery notice told the tenant")
    tap.eq(j.get("held_messages"), 0, "JSON: nothing held")
    tap.ok(isinstance(j.get("last_accepted"), int), "JSON: last accepted, "
           "seconds since the epoch")
    tap.eq([(c.get("email"), c.get("roles")) for c in j.get("contacts",
                                                           [])],
           [("jane@ops.test", ["technical", "emergency"]),
            ("accounts@ops.test", ["billing"])], "JSON: the contacts")
    rc, out, err = w.r.ctl("--json", "show", "tenant", "acme")
    tap.ok(rc == 0 and out.startswith("{"), "--json before the command")
    rc, out, err = w.r.ctl("show", "tenant", "nosuch")
    tap.ok(rc == 1 and re.search(r"no such tenant", err),
           "show tenant of no tenant: ERR")
finally:
    w.stop()
tap.done()
