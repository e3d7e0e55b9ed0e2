#!/usr/bin/env python3
"""Crash points (debug build, common/faults.h): relayd is killed at each
step of storing a message.  Without a 250 the client retries and nothing
half-stored remains; once the commit is durable the message is delivered
after the restart, even when the 250 never went out.  Failing steps: a
sync that fails gives 451 and leaves nothing queued, even when the
envelope had already committed."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import RELAYD_DEBUG, Tap, spool_ids, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
if not os.path.exists(RELAYD_DEBUG):
    tap.skip_all("no debug build (make debug)")

# point, committed when it fires?
POINTS = [("queued-after-body-sync", False),
          ("queued-after-commit", True),
          ("queued-before-reply", True),
          ("smtpd-before-250", True)]


def start_and_send(w, env, label, text):
    """relayd (debug build) with env, the tenant's server, one message."""
    tenant = w.sink(w.tenant_addr)
    tap.ok(w.start(debug=True, env=env), "%s: relayd starts" % label)
    code, reply = w.send("a@sender.test", ["bob@acme.example"],
                         b"Subject: %s\r\n\r\n%s\r\n" %
                         (label.encode(), text))
    return tenant, code, reply


for point, committed in POINTS:
    w = World(tap, queue="retry_min: 1s\nretry_max: 1s\n")
    try:
        tenant, code, text = start_and_send(w, {"RELAYD_CRASH": point},
                                            point, b"survive")
        tap.ok(code != 250, "%s: the client gets no 250" % point)
        rc = w.r.wait_exit(15)
        tap.ok(rc not in (None, 0), "%s: relayd stops (exit %s)" % (point,
                                                                   rc))
        tap.ok(w.log_has(r"crash point %s reached" % point, 2) and
               w.log_has(r"was killed by signal 9", 2),
               "%s: the crash is logged" % point)
        before = tenant.count()
        w.r.proc = None
        tap.ok(w.start(), "%s: relayd restarts on the same state" % point)
        if committed:
            tap.ok(wait_for(lambda: tenant.count() >= 1, 10),
                   "%s: the committed message is delivered after the "
                   "restart" % point)
            tap.ok(tenant.count() - before <= 1 and all(
                m.data.endswith(b"survive\r\n") for m in tenant.messages),
                "%s: intact (%d delivered before the kill)" %
                (point, before))
        else:
            time.sleep(1)
            tap.eq(tenant.count(), 0, "%s: nothing is delivered" % point)
            tap.eq(spool_ids(w.r), [], "%s: no spool file remains" % point)
            tap.ok(w.log_has(r"removed 1 files without an envelope", 2),
                   "%s: the half-stored file was removed at start" % point)
        tap.ok(w.queue_empty(), "%s: the queue ends empty" % point)
    finally:
        w.stop()

for step in ("queued-body-sync", "queued-dir-sync"):
    w = World(tap)
    try:
        tenant, code, text = start_and_send(w, {"RELAYD_FAIL": step},
                                            step + " fails", b"retry me")
        tap.eq(code, 451, "%s fails: the client gets 451" % step)
        tap.like(text, r"451 4\.3\.0", "%s fails: with 4.3.0" % step)
        tap.ok(w.log_has(r"not queued: Input/output error", 2),
               "%s fails: the failure is logged" % step)
        tap.ok(wait_for(lambda: spool_ids(w.r) == [], 5),
               "%s fails: no spool file remains" % step)
        tap.ok(w.queue_empty(), "%s fails: nothing is queued" % step)
        time.sleep(1)
        tap.eq(tenant.count(), 0, "%s fails: nothing is delivered" % step)
        w.r.stop()
        w.r.proc = None
        tap.ok(w.start(debug=True), "%s fails: relayd restarts" % step)
        tap.ok(w.queue_empty(), "%s fails: the queue is still empty" % step)
        time.sleep(1)
        tap.eq(tenant.count(), 0, "%s fails: nothing comes back" % step)
    finally:
        w.stop()
tap.done()
