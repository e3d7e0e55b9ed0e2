#!/usr/bin/env python3
"""metrics.listen: metricsd serves the text format 0.0.4; every line of a
scrape parses (HELP and TYPE once per family, before its samples); every
process answers; and one more message moves its counters by exactly one:
in, delivered, the queue's and smtpd's."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import promtext  # noqa: E402
from relaytest import CHILDREN, Tap, free_port, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
mport = free_port()
w = World(tap, main_extra="metrics:\n  listen: 127.0.0.1:%d\n" % mport)


def scrape():
    status, ctype, text = promtext.scrape(mport)
    tap.eq(status, 200, "GET /metrics: 200")
    try:
        fams = promtext.parse(text)
        tap.ok(True, "every line parses (%d families)" % len(fams))
    except ValueError as e:
        tap.ok(False, "every line parses: %s" % e)
        tap.diag(text)
        fams = {}
    return ctype, fams


def counters(fams):
    v = promtext.value
    return {
        "in": v(fams, "relayd_messages_in_total", tenant="acme"),
        "delivered": v(fams, "relayd_messages_delivered_total",
                       tenant="acme"),
        "queue": v(fams, "relayd_queue_deliveries_total",
                   result="delivered"),
        "accepted": v(fams, "relayd_smtpd_messages_accepted_total"),
        "deliverd": v(fams, "relayd_deliverd_deliveries_total",
                      result="delivered"),
    }


try:
    sink = w.sink(w.tenant_addr)
    tap.ok(w.start(), "relayd starts with metrics.listen")
    tap.ok(w.log_has(r"metricsd: serving metrics on 127\.0\.0\.1:%d" %
                     mport), "metricsd logs where it listens")
    ctype, fams = scrape()
    tap.eq(ctype, "text/plain; version=0.0.4; charset=utf-8",
           "Content-Type says the format's version")
    for name in ["relayd"] + CHILDREN + ["metricsd"]:
        tap.eq(promtext.value(fams, "relayd_up", process=name), 1.0,
               "relayd_up{process=%s} is 1" % name)
    tap.eq(promtext.value(fams, "relayd_scrape_incomplete"), 0.0,
           "the scrape is complete")
    for name, kind in [("relayd_smtpd_sessions", "gauge"),
                       ("relayd_queue_messages", "gauge"),
                       ("relayd_queue_oldest_message_age_seconds", "gauge"),
                       ("relayd_dns_queries_total", "counter"),
                       ("relayd_deliverd_connections_total", "counter"),
                       ("relayd_keyd_signatures_total", "counter"),
                       ("relayd_config_generation", "gauge")]:
        tap.eq(fams.get(name, {}).get("type"), kind,
               "%s is a %s" % (name, kind))

    w.send("a@sender.test", ["bob@acme.example"])
    tap.ok(sink.wait(1, 10), "a first message is delivered")
    tap.ok(wait_for(lambda: counters(scrape()[1])["delivered"] == 1.0, 10),
           "relayd_messages_delivered_total{tenant=acme} reaches 1")
    before = counters(scrape()[1])
    w.send("a@sender.test", ["bob@acme.example"])
    tap.ok(sink.wait(2, 10), "one more message is delivered")
    tap.ok(w.queue_empty(), "the queue is empty again")
    tap.ok(wait_for(lambda: counters(scrape()[1])["delivered"] ==
                    before["delivered"] + 1, 10), "delivered moved")
    after = counters(scrape()[1])
    for k in sorted(before):
        tap.eq((after[k] or 0) - (before[k] or 0), 1.0,
               "%s moved by exactly one (%s -> %s)" % (k, before[k],
                                                       after[k]))
    ctype, fams = scrape()
    tap.eq(promtext.value(fams, "relayd_queue_messages"), 0.0,
           "relayd_queue_messages is 0")
    tap.ok(promtext.value(fams, "relayd_smtpd_sessions_total",
                          listener="mx") >= 2,
           "relayd_smtpd_sessions_total{listener=mx} counts the sessions")
    rc, out, err = w.r.ctl("show", "status")
    tap.like(out, r"(?m)^metricsd +\d+ .*running, listening",
             "show status lists metricsd")
finally:
    w.stop()
tap.done()
