#!/usr/bin/env python3
"""The monthly report: on the test clock (the debug build, twice as fast,
started two minutes before a UTC month ends), a message delivered, one
bounced and an unknown user refused in the last minutes of the month; once
the month has changed, queued sends the month's report to the tenant's
billing and policy contacts with those figures, once: a restart in the
new month sends no second one.  The month it went is in the store."""
import calendar
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root, wait_for  # noqa: E402
import reportlib  # noqa: E402

SCALE = 2
BEFORE = 120            # test-clock seconds before the month ends:
                        # a minute of real time for the traffic


def next_month(now):
    t = time.gmtime(now)
    y, m = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year,
                                                       t.tm_mon + 1)
    return calendar.timegm((y, m, 1, 0, 0, 0))


def month_name(when):
    return time.strftime("%B %Y", time.gmtime(when))


tap = Tap()
need_root(tap)
real = int(time.time())
end = next_month(real + 300)    # not the month about to end for real
# clock = base + (real - base) * SCALE: at "real" it is end - BEFORE.
env = {"RELAYD_TIME_SCALE": str(SCALE),
       "RELAYD_TIME_BASE": str(SCALE * real - (end - BEFORE))}
w, ops = reportlib.world(tap)
try:
    tap.ok(w.start(debug=True, env=env), "relayd starts on the test clock, "
           "two minutes before %s ends" % month_name(end - 1))
    reportlib.traffic(tap, w)
    tap.ok(reportlib.counted(w), "the statistics have it all")
    rc, out, err = w.r.ctl("show", "stats", "acme", "--json")
    days = [d["day"] for d in json.loads(out)["tenants"][0]["days"]]
    last = time.strftime("%Y-%m-%d", time.gmtime(end - 1))
    if not tap.eq(days, [last], "counted on the month's last day"):
        tap.diag("the machine was too slow for the test clock")
    tap.eq(ops.count(), 0,
           "no report before the month ends")
    tap.ok(ops.wait(1, 120), "the contacts' server gets the monthly report")
    m = ops.messages[0] if ops.messages else None
    tap.eq(sorted(m.rcpt_addrs) if m else None,
           ["bills@ops.test", "pol@ops.test"],
           "for billing and policy, once each")
    msg = reportlib.parse(m)
    tap.eq(msg["X-Relayd-Notice"], "monthly; tenant=acme", "the monthly "
           "report")
    tap.like(msg["Subject"], r"acme: report for %s$" % month_name(end - 1),
             "of the month that ended")
    reportlib.figures(tap, msg, "monthly")
    tap.ok(w.log_has(r"tenant=acme notice=monthly msgid=[0-9a-f]{16}"),
           "it is logged")
    # The notice's record is committed with it: a restart knows.
    w.r.stop()
    tap.ok(w.r.start(debug=True, env=env), "relayd starts again")
    rc, out, err = w.r.ctl("show", "tenant", "acme")
    tap.like(out, r"notice monthly: 1 sent", "it remembers the month's "
             "report")
    # A tenant tick is a second: several pass with no second report.
    time.sleep(5)
    tap.eq(len(ops.messages), 1, "and sends no second one")
finally:
    w.stop()
tap.done()
