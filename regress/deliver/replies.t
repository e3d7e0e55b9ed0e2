#!/usr/bin/env python3
"""Replies from a next hop that is slow, broken or lying (mta_reply.c
keeps its limits): a reply that comes one octet per packet still works;
a multi-line reply whose code changes, a reply line longer than
REPLY_LINE_MAX and 250 instead of 354 to DATA are protocol errors, and
the message is deferred, not taken for delivered; once the next hop
behaves, it is delivered."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, queue_id, split_received, wait_for  # noqa: E402
from sink import ALL_EXT  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
NO_CHUNKING = [e for e in ALL_EXT if e != "CHUNKING"]
BODY = b"Subject: %s\r\n\r\n" + b"line of text\r\n" * 50


def queued(w, qid):
    return any(l.startswith(qid) for l in w.queue_lines())


w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n")
try:
    tap.ok(w.start(), "relayd starts")

    # Every reply one octet at a time: slow, but a reply all the same.
    s = w.sink(w.tenant_addr, mode="slow")
    body = BODY % b"slow"
    w.send("a@sender.test", ["bob@acme.example"], body)
    tap.ok(s.wait(1, 60), "replies sent one octet per packet: delivered")
    tap.eq(split_received(s.messages[0].data)[1], body, "intact")
    tap.ok(w.queue_empty(), "and gone from the queue")
    s.close()

    cases = [
        ("mixed", ALL_EXT, "a multi-line reply to the end of data whose "
         "code changes", r"protocol error: malformed reply"),
        ("long", ALL_EXT, "a reply line longer than allowed",
         r"protocol error: malformed reply"),
        ("data250", NO_CHUNKING, "250 to DATA",
         r"protocol error: the next hop answered DATA with 250 2\.0\.0 Ok, "
         r"not 354"),
    ]
    for mode, ext, what, diag in cases:
        s = w.sink(w.tenant_addr, mode=mode, ext=ext)
        body = BODY % mode.encode()
        code, text = w.send("a@sender.test", ["bob@acme.example"], body)
        qid = queue_id(text)
        tap.ok(w.log_has(r"msgid=%s tenant=acme .* dsn=4\.5\.0 "
                         r"status=deferred \(%s" % (qid, diag), 30),
               "%s: deferred as a protocol error" % what)
        tap.ok(queued(w, qid), "%s: still queued" % what)
        tap.eq(s.count(), 0, "%s: nothing taken for delivered" % what)
        s.mode = "normal"
        rc, out, err = w.r.ctl("queue", "flush", qid)
        tap.eq(rc, 0, "%s: flushed" % what)
        tap.ok(s.wait(1, 30), "%s: delivered once the next hop behaves" %
               what)
        tap.eq(split_received(s.messages[0].data)[1] if s.messages else
               None, body, "%s: intact" % what)
        tap.ok(wait_for(lambda: not queued(w, qid), 10),
               "%s: and gone from the queue" % what)
        s.close()
finally:
    w.stop()
tap.done()
