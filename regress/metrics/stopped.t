#!/usr/bin/env python3
"""A child that does not answer (SIGSTOP) is left out of the scrape, which
is still answered: relayd_up{process} is 0 for it alone and
relayd_scrape_incomplete is 1, and the parent logs it.  Once it runs
again, its late answers are dropped and the next scrape is whole."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import promtext  # noqa: E402
from relaytest import CHILDREN, Relayd, Tap, free_port, wait_for  # noqa

tap = Tap()
mport = free_port()
r = Relayd(tap, main_extra="metrics:\n  listen: 127.0.0.1:%d\n" % mport)


def scrape(what):
    status, ctype, text = promtext.scrape(mport, timeout=30)
    try:
        fams = promtext.parse(text)
    except ValueError as e:
        tap.diag("%s: %s" % (what, e))
        fams = {}
    tap.ok(status == 200 and fams, "%s: answered, and parses" % what)
    return fams


try:
    tap.ok(r.start(), "relayd starts with metrics.listen")
    kids = r.children()
    for victim in ("dnsd", "queued"):
        os.kill(kids[victim], signal.SIGSTOP)
        try:
            for n in (1, 2):
                fams = scrape("%s stopped, scrape %d" % (victim, n))
                tap.eq(promtext.value(fams, "relayd_up", process=victim),
                       0.0, "relayd_up{process=%s} is 0" % victim)
                tap.eq(promtext.value(fams, "relayd_scrape_incomplete"),
                       1.0, "relayd_scrape_incomplete is 1")
                others = [p for p in ["relayd"] + CHILDREN if p != victim]
                tap.eq([promtext.value(fams, "relayd_up", process=p)
                        for p in others], [1.0] * len(others),
                       "every other process answered")
            tap.ok(r.wait_log(r"relayd: metrics: %s did not answer scrape "
                              r"\d+ within 1000 ms; left out" % victim, 5),
                   "the parent logs who was left out")
        finally:
            os.kill(kids[victim], signal.SIGCONT)
        tap.ok(wait_for(lambda: promtext.value(
            scrape("%s running again" % victim), "relayd_scrape_incomplete")
            == 0.0, 20), "once %s runs again, a scrape is whole" % victim)
    tap.ok(r.proc.poll() is None and len(r.children()) == 7,
           "late answers broke nothing: every process still runs")
finally:
    r.cleanup()
tap.done()
