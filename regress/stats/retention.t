#!/usr/bin/env python3
"""retention.counters: a day of statistics is deleted, from memory and
from the queue store, once the retention has passed since it began, and
a later day is kept.  On the test clock (the debug build with
RELAYD_TIME_SCALE: a day in 10 real seconds) with a retention of 2 days,
a refusal counted on day D is shown on D+1 and gone on D+2; a refusal
counted later stays.  Restarted with a retention of 10 years, relayd
still has no day D: the store lost it too."""
import calendar
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld  # noqa: E402
from relaytest import Tap, need_root, wait_for  # noqa: E402

SCALE = 8640            # a day in 10 real seconds
DAY = 86400
TENANTS = {
    "acme": "recipients:\n  verify: list\n  list: [alice@acme.example]\n",
}


def day_of(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d")) // DAY


def view(w):
    """(today as days since the epoch, {day: acme's counters})."""
    rc, out, err = w.r.ctl("show", "stats", "acme", "--days", "3650",
                           "--json")
    try:
        doc = json.loads(out)
    except ValueError:
        return None, {}
    today = day_of(doc["from"]) + doc["days"] - 1
    days = {}
    for d in doc["tenants"][0]["days"]:
        days[day_of(d["day"])] = d["counters"]
    return today, days


def refuse(t, w, what):
    t.eq(w.rcpt_reply("127.0.1.2", "a@good.snd.test",
                      "nobody@acme.example")[0], 550, what)


def main():
    t = Tap()
    need_root(t)
    w = PolicyWorld(t, TENANTS)
    w.r.retention = "counters: 2d\n"
    w.r.write_main()
    env = {"RELAYD_TIME_SCALE": str(SCALE),
           "RELAYD_TIME_BASE": str(int(time.time()))}
    try:
        if not t.ok(w.start(debug=True, env=env),
                    "relayd starts on the test clock"):
            t.done()
        run(t, w, env)
    finally:
        w.stop()
    t.done()


def run(t, w, env):
    refuse(t, w, "an unknown user refused on day D")
    t.ok(wait_for(lambda: sum(c.get("rejected_unknown_user", 0)
                              for c in view(w)[1].values()) == 1, 20),
         "counted")
    d = [k for k, c in view(w)[1].items()
         if c.get("rejected_unknown_user")][0]
    early = []

    def until_gone():
        today, days = view(w)
        if today is not None and today < d + 2 and d not in days:
            early.append(today)
        return today is not None and today >= d + 2 and d not in days
    t.ok(wait_for(until_gone, 90), "day D is gone once two days passed")
    t.ok(not early, "day D shown whenever polled before D+2 (missing on "
         "%s)" % early)
    refuse(t, w, "another refusal, on a later day")
    t.ok(wait_for(lambda: any(c.get("rejected_unknown_user")
                              for c in view(w)[1].values()), 20),
         "counted on its day")
    later = [k for k, c in view(w)[1].items()
             if c.get("rejected_unknown_user")][0]
    t.ok(later >= d + 2, "a later day")
    # Kept in the store before the stop, written as queued stops.
    w.r.stop()
    w.r.retention = "counters: 3650d\n"
    w.r.write_main()
    t.ok(w.r.start(debug=True, env=env), "relayd starts again, keeping "
         "ten years")
    days = view(w)[1]
    t.ok(d not in days, "day D is not in the store")
    t.ok(later in days, "the later day is")


if __name__ == "__main__":
    main()
