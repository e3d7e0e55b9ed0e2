#!/usr/bin/env python3
"""relayctl trace ID|ADDRESS: a message's whole passage from the record
store (client, tenant, recipients, each attempt and its reply, times),
across a restart: a message delivered before the restart, and one
deferred before it and delivered after, are traced whole by their ids;
an address (any case) finds the records that name it; --json gives one
JSON object per record; what is unknown is an error."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root, queue_id, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)

SENDER = "trace.sender@sender.test"
NOW = "now.rcpt@acme.example"
LATER = "later.rcpt@acme.example"


def events(out, qid):
    return [l.split()[2] for l in out.splitlines()
            if l.startswith(qid + " ")]


w = World(tap, queue="retry_min: 1h\nretry_max: 2h\n",
          log_addresses=False)
try:
    tenant = w.sink(w.tenant_addr)
    refuse = {"later": True}
    tenant.rcpt = lambda a: ("451 4.2.0 <%s>: try later" % a
                             if a.startswith("later") and refuse["later"]
                             else "250 2.1.5 ok")
    tap.ok(w.start(), "relayd starts")
    code, text = w.send(SENDER, [NOW])
    done_id = queue_id(text)
    code, text = w.send(SENDER, [LATER])
    later_id = queue_id(text)
    tap.ok(done_id and later_id, "two messages accepted")
    tap.ok(tenant.wait(1), "one is delivered")
    tap.ok(w.log_has(r"msgid=%s .*status=deferred" % later_id, 10),
           "the other is deferred")

    rc, out, err = w.r.ctl("trace", done_id)
    tap.eq(events(out, done_id), ["accepted", "sent", "done"],
           "trace ID: accepted, sent, done")
    tap.like(out, r"(?m)^%s \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ accepted "
             r"tenant=acme from=<%s> to=<%s> client=\S*\[127\.0\.0\.1\] "
             r"helo=client\.example size=\d+ nrcpt=1$" %
             (done_id, re.escape(SENDER), re.escape(NOW)),
             "accepted: time, tenant, sender, recipient, client, HELO, size")
    tap.like(out, r"(?m)^%s \S+ sent tenant=acme from=<%s> to=<%s> "
             r"relay=\S+\[127\.0\.0\.20\]:\d+ dsn=2\.0\.0 attempt=1 "
             r"reply=\"250 [^\"]*\"$" %
             (done_id, re.escape(SENDER), re.escape(NOW)),
             "sent: relay, status, attempt and the reply")
    rc, out, err = w.r.ctl("trace", later_id)
    tap.eq(events(out, later_id), ["accepted", "deferred"],
           "a queued message: accepted, deferred")
    tap.like(out, r"deferred .* dsn=4\.2\.0 attempt=1 reply=\"451 4\.2\.0 "
             r"<%s>: try later\"" % re.escape(LATER),
             "with the server's reply as it came")

    w.r.stop()
    tap.ok(w.r.start(), "relayd starts again")
    rc, out, err = w.r.ctl("trace", done_id)
    tap.eq(events(out, done_id), ["accepted", "sent", "done"],
           "after the restart: the delivered message's passage")
    rc, out, err = w.r.ctl("trace", later_id)
    tap.eq(events(out, later_id), ["accepted", "deferred"],
           "and the deferred one's so far")
    refuse["later"] = False
    rc, out, err = w.r.ctl("queue", "flush", later_id)
    tap.eq(rc, 0, "queue flush of the deferred message")
    tap.ok(tenant.wait(2), "it is delivered now")
    tap.ok(w.queue_empty(10), "the queue is empty")
    rc, out, err = w.r.ctl("trace", later_id)
    tap.eq(events(out, later_id), ["accepted", "deferred", "flushed", "sent",
                                   "done"],
           "its whole passage, across the restart")
    tap.like(out, r"flushed tenant=acme from=<%s> reason=\"by the "
             r"operator\"" % re.escape(SENDER), "the operator's flush too")

    rc, out, err = w.r.ctl("trace", SENDER.upper())
    tap.ok(rc == 0 and set(l.split()[0] for l in out.splitlines()) ==
           {done_id, later_id},
           "trace ADDRESS (any case) finds both messages")
    rc, out, err = w.r.ctl("trace", NOW)
    tap.eq(sorted(set(events(out, done_id))), ["accepted", "sent"],
           "a recipient's address: the records that name it")
    rc, out, err = w.r.ctl("trace", later_id, "--json")
    objs = []
    try:
        objs = [json.loads(l) for l in out.splitlines()]
    except ValueError as e:
        tap.diag(str(e))
    tap.eq([o.get("event") for o in objs], ["accepted", "deferred",
                                             "flushed", "sent", "done"],
           "--json: one object per record")
    tap.ok(objs and objs[0].get("id") == later_id and
           objs[0].get("from") == SENDER and objs[0].get("to") == LATER and
           objs[0].get("nrcpt") == 1, "with its fields, addresses bare, "
           "numbers as numbers")

    rc, out, err = w.r.ctl("trace", "0123456789abcdef")
    tap.ok(rc != 0 and "no records of 0123456789abcdef" in err,
           "an id with no records is an error (%s)" % err.strip())
    rc, out, err = w.r.ctl("trace", "not-an-address")
    tap.ok(rc != 0 and "expected a queue id" in err,
           "neither an id nor an address is refused")
    tap.ok(w.log_has(r"control: uid 0: trace %s" % done_id, 5),
           "a trace is logged with the caller's uid")
finally:
    w.stop()
tap.done()
