#!/usr/bin/env python3
"""relayctl report TENANT: the report of this month so far, by mail, to
the tenant's contacts with the role billing or policy (not technical),
each once, and the relay's postmaster; with the figures of what
happened: two messages accepted, one delivered, one bounced, one unknown
user refused, every first attempt within 10 minutes.  An operator who is
not an administrator may not send it; a tenant that does not exist is
refused."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root  # noqa: E402
import reportlib  # noqa: E402

tap = Tap()
need_root(tap)
w, ops = reportlib.world(tap)
try:
    tap.ok(w.start(), "relayd starts")
    reportlib.traffic(tap, w)
    tap.ok(reportlib.counted(w), "the statistics have it all")
    rc, out, err = w.r.ctl("report", "acme")
    tap.eq(rc, 0, "report acme: OK (%s)" % (out + err).strip())
    tap.like(out, r"^report notice msgid=[0-9a-f]{16} queued to 3 "
             r"recipients\n$", "queued to three recipients")
    tap.ok(ops.wait(1, 30), "the contacts' server gets it")
    m = ops.messages[0] if ops.messages else None
    tap.eq(sorted(m.rcpt_addrs) if m else None,
           ["bills@ops.test", "pol@ops.test"],
           "for billing and policy, once each, not technical")
    msg = reportlib.parse(m)
    tap.eq(msg["X-Relayd-Notice"], "report; tenant=acme", "a report")
    tap.like(msg["Subject"], r"acme: report for \w+ \d{4} so far$",
             "its subject names the month")
    reportlib.figures(tap, msg, "report")
    tap.ok(w.log_has(r"tenant=acme notice=report msgid=[0-9a-f]{16} "
                     r"from=<[^>]+> to=<bills@ops\.test>,<pol@ops\.test>,"),
           "it is logged")
    rc, out, err = w.r.ctl("report", "nosuch")
    tap.ok(rc != 0 and re.search(r"no such tenant", out + err),
           "report nosuch: no such tenant")
    rc, out, err = w.r.ctl("show", "tenant", "acme")
    tap.like(out, r"notice report: 1 sent", "show tenant counts it")
finally:
    w.stop()
tap.done()
