#!/usr/bin/env python3
"""Store updates that fail are tried again until they commit (debug
build: RELAYD_FAIL=step:n fails a step n times).  Deliveries complete
while the removals of the delivered messages fail; their spool files
stay until the removals commit, and after a restart nothing is delivered
twice.  A new state that fails is written again as it is then, so that a
delivered recipient is not delivered again after a restart.  After
MDB_PANIC the store is opened again: the message of that batch gets 451,
the next is accepted and delivered."""
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

QUEUE = "retry_min: 1s\nretry_max: 1s\n"


def body(n):
    return b"Subject: m%d\r\n\r\nmessage %d\r\n" % (n, n)


def restart(w, label):
    tap.eq(w.r.stop(), 0, "%s: relayd stops" % label)
    w.r.proc = None
    return tap.ok(w.start(debug=True), "%s: relayd restarts" % label)


# Removals fail five times: after the first, at least 1 + 2 + 4 seconds of
# backoff, at most 1 + 2 + 4 + 8 + 16.
w = World(tap, queue=QUEUE)
try:
    tap.ok(w.start(debug=True, env={"RELAYD_FAIL":
                                    "queued-store-delete:5"}),
           "relayd starts, the store's removals failing")
    for n in range(3):
        code, text = w.send("a@sender.test", ["bob@acme.example"], body(n))
        tap.eq(code, 250, "message %d queued while the server is down" % n)
    tenant = w.sink(w.tenant_addr)
    tap.ok(tenant.wait(3, 30), "the server is back: all three delivered")
    tap.ok(w.log_has(r"msgid=[0-9a-f]{16}: the queue store failed to "
                     r"remove the delivered message's envelope \(Input/"
                     r"output error\); tried again, and its spool file "
                     r"kept until then"), "a failed removal is logged")
    tap.ok(len(spool_ids(w.r)) > 0,
           "the spool files stay while their removals fail")
    tap.ok(w.queue_empty(), "the delivered messages have left the queue")
    tap.ok(w.log_has(r"msgid=[0-9a-f]{16}: the queue store took the removal "
                     r"after \d failures", 90),
           "the removal commits in the end")
    tap.ok(wait_for(lambda: spool_ids(w.r) == [], 30),
           "then the spool files go")
    if restart(w, "removals"):
        time.sleep(3)
        tap.eq(tenant.count(), 3, "nothing is delivered twice after the "
               "restart")
        tap.ok(w.queue_empty(), "the queue is empty")
finally:
    w.stop()

# New states fail: one recipient delivered, one deferred for an hour, so
# that no later update writes the state in their place.
w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n")
try:
    tenant = w.sink(w.tenant_addr)
    tap.ok(w.start(debug=True, env={"RELAYD_FAIL": "queued-store-put:3"}),
           "relayd starts, the store's updates failing")
    code, text = w.send("a@sender.test", ["bob@acme.example",
                                          "carol@remote.test"], body(10),
                       inside=True)
    tap.eq(code, 250, "a message for the tenant and a remote host queued")
    tap.ok(tenant.wait(1, 20), "the tenant's recipient is delivered")
    tap.ok(w.log_has(r"the queue store failed to write the message's new "
                     r"state \(Input/output error\); tried again"),
           "the failed update is logged")
    tap.ok(w.log_has(r"the queue store took the new state after \d "
                     r"failures", 30),
           "the message's state as it is now commits in the end")
    if restart(w, "updates"):
        remote = w.sink("127.0.0.2")
        w.r.ctl("queue", "flush", "all")
        tap.ok(remote.wait(1, 30), "the remote recipient is delivered "
               "after the restart")
        tap.eq([m.rcpt_addrs for m in remote.messages],
               [["carol@remote.test"]], "to carol alone")
        time.sleep(1)
        tap.eq(tenant.count(), 1, "bob is not delivered again")
        tap.ok(w.queue_empty(), "the queue is empty")
finally:
    w.stop()

# MDB_PANIC: the environment is opened again.
w = World(tap, queue=QUEUE)
try:
    tenant = w.sink(w.tenant_addr)
    tap.ok(w.start(debug=True, env={"RELAYD_FAIL": "queued-store-panic:1"}),
           "relayd starts, the store's next commit to panic")
    code, text = w.send("a@sender.test", ["bob@acme.example"], body(20))
    tap.eq(code, 451, "the message of the panicking batch gets 451")
    tap.ok(w.log_has(r"queue store: MDB_PANIC"), "the panic is logged")
    tap.ok(w.log_has(r"queue store: environment opened again"),
           "the environment is opened again")
    code, text = w.send("a@sender.test", ["bob@acme.example"], body(21))
    tap.eq(code, 250, "the next message is accepted")
    tap.ok(tenant.wait(1, 20), "and delivered")
    tap.ok(w.queue_empty(), "the queue empties")
    tap.ok(wait_for(lambda: spool_ids(w.r) == [], 10),
           "no spool file is left")
    time.sleep(1)
    tap.eq(tenant.count(), 1, "the refused message never went out")
finally:
    w.stop()
tap.done()
