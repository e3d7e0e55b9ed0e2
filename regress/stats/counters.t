#!/usr/bin/env python3
"""Per-tenant statistics: one message accepted and delivered, and one
refusal of each kind smtpd and policyd can be made to give here (unknown
user, relay denied, size, greylist) move their counters by exactly one,
in relayctl show stats --json, which parses; the counts are in the store
and survive a restart."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld  # noqa: E402
from relaytest import Tap, need_root, wait_for  # noqa: E402

TENANTS = {
    "plain": "",
    "acme": "recipients:\n  verify: list\n  list: [alice@acme.example]\n",
    "grey": "policy:\n  greylist:\n    enabled: true\n    delay: 60s\n",
}
BODY = b"Subject: stats\r\n\r\nhello\r\n"


def stats(w):
    rc, out, err = w.r.ctl("show", "stats", "--json")
    try:
        doc = json.loads(out)
    except ValueError:
        return None
    return {t["tenant"]: t for t in doc["tenants"]}


def total(w, tenant, name):
    s = stats(w)
    if s is None or tenant not in s:
        return None
    return s[tenant]["total"][name]


def main():
    t = Tap()
    need_root(t)
    w = PolicyWorld(t, TENANTS)
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        run(t, w)
    finally:
        w.stop()
    t.done()


def run(t, w):
    t.ok(stats(w) is not None, "show stats --json is one JSON document")
    out = w.session("127.0.1.1", "a@good.snd.test", ["bob@plain.example"],
                    BODY)
    t.eq(out.get("end", (None,))[0], 250, "a message for plain accepted")
    t.ok(w.delivered(1), "and delivered")
    t.eq(w.rcpt_reply("127.0.1.2", "a@good.snd.test",
                         "nobody@acme.example")[0], 550,
            "unknown user refused")
    t.eq(w.rcpt_reply("127.0.1.3", "a@good.snd.test",
                         "x@elsewhere.example")[0], 550,
            "relay denied")
    c, g = w.connect("127.0.1.4")
    c.cmd("EHLO client.example")
    t.eq(c.cmd("MAIL FROM:<a@good.snd.test> SIZE=999999999999")[0], 552,
            "a message too big refused at MAIL")
    c.close()
    t.eq(w.rcpt_reply("127.0.2.5", "a@good.snd.test",
                         "alice@grey.example")[0], 451, "greylisted")
    want = [("plain", "inbound_messages", 1),
            ("plain", "delivered", 1),
            ("plain", "inbound_delivered_messages", 1),
            ("plain", "first_attempt_1s", 1),
            ("acme", "rejected_unknown_user", 1),
            ("", "rejected_relay_denied", 1),
            ("", "rejected_size", 1),
            ("grey", "deferred_greylist", 1)]
    for tenant, name, n in want:
        wait_for(lambda: (total(w, tenant, name) or 0) >= n, 20)
        t.eq(total(w, tenant, name), n,
                "%s %s is %d" % (tenant or "(relay)", name, n))
    t.ok((total(w, "plain", "inbound_octets") or 0) > len(BODY),
         "plain: the octets of the message as spooled (trace added)")
    t.eq(total(w, "plain", "bounced"), 0, "nothing bounced")
    s = stats(w)
    t.eq(s["plain"]["first_attempt_within_10m"], 1.0,
            "plain: every first attempt within 10 minutes")
    t.ok("limits" in s["acme"] and s["acme"]["limits"]["spool_held"] == 0,
         "acme: its limits shown")
    rc, out, err = w.r.ctl("show", "stats", "plain", "--days", "2")
    t.like(out, r"tenant plain, total of 1 day", "text form, one tenant")
    # queued writes what is left as it stops.
    w.r.stop()
    t.ok(w.r.start(), "relayd starts again")
    for tenant, name, n in want:
        t.eq(total(w, tenant, name), n, "after the restart: %s %s is %d"
                % (tenant or "(relay)", name, n))


if __name__ == "__main__":
    main()
