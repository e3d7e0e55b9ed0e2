#!/usr/bin/env python3
"""Per-tenant statistics of what happens after acceptance, and of a DNS
list: one message for three recipients of one tenant, whose server takes
the first, defers the second (451) and refuses the third (550), moves
delivered, deferred and bounced by exactly one each and the first
attempts by three; a client listed in the tenant's DNS block list moves
rejected_dnsbl by one, and nothing else of that tenant's."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld  # noqa: E402
from relaytest import Tap, need_root, wait_for  # noqa: E402
from dnsbl_zone import listed  # noqa: E402

TENANTS = {
    "fate": "",
    "listed": "policy:\n  dnsbl:\n    enabled: true\n    lists:\n"
              "      - zone: bl.test\n",
}
BODY = b"Subject: fates\r\n\r\nhello\r\n"
FIRSTS = ("first_attempt_1s", "first_attempt_10s", "first_attempt_1m",
          "first_attempt_10m", "first_attempt_later")


def totals(w):
    rc, out, err = w.r.ctl("show", "stats", "--json")
    try:
        doc = json.loads(out)
    except ValueError:
        return {}
    return {t["tenant"]: t["total"] for t in doc["tenants"]}


def main():
    t = Tap()
    need_root(t)
    w = PolicyWorld(t, TENANTS, zones={"bl.test.": [listed("127.0.1.2",
                                                           "bl.test")]})
    # No retry while the test runs: a deferral is counted once.
    w.r.queue = "retry_min: 1h\nretry_max: 2h\n"
    w.r.write_main()
    w.sink.rcpt = lambda a: ("451 4.3.0 try later" if a.startswith("later")
                             else "550 5.1.1 no such user"
                             if a.startswith("gone") else "250 2.1.5 Ok")
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        run(t, w)
    finally:
        w.stop()
    t.done()


def run(t, w):
    # The null sender: the bounce makes no notice of its own to count.
    out = w.session("127.0.1.1", "", ["ok@fate.example",
                                      "later@fate.example",
                                      "gone@fate.example"], BODY)
    t.eq(out.get("end", (None,))[0], 250, "one message, three recipients")
    t.ok(w.delivered(1), "the first delivered")
    t.eq(w.rcpt_reply("127.0.1.2", "a@good.snd.test",
                      "x@listed.example")[0], 550,
         "a listed client refused by the DNS list")
    want = {"delivered": 1, "deferred": 1, "bounced": 1,
            "inbound_messages": 1}
    ok = wait_for(lambda: all(totals(w).get("fate", {}).get(k, 0) >= n
                              for k, n in want.items()) and
                  totals(w).get("listed", {}).get("rejected_dnsbl", 0) >= 1,
                  30)
    t.ok(ok, "the counts arrive")
    # Written once a second: two more seconds add nothing more.
    time.sleep(2.5)
    s = totals(w)
    fate = s.get("fate", {})
    for k, n in want.items():
        t.eq(fate.get(k), n, "fate %s is %d" % (k, n))
    t.eq(sum(fate.get(k, 0) for k in FIRSTS), 3,
         "three first attempts, one for each recipient")
    listed_t = s.get("listed", {})
    t.eq(listed_t.get("rejected_dnsbl"), 1, "listed rejected_dnsbl is 1")
    t.eq(sum(listed_t.values()), 1, "and listed counted nothing else")
    t.eq(fate.get("rejected_dnsbl"), 0, "fate has no DNS list")


if __name__ == "__main__":
    main()
