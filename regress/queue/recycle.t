#!/usr/bin/env python3
"""A delivered message's spool file is emptied, renamed and used again
for a new message (queue_spool.c, spool_recycle): the new message is
stored exactly as sent, with nothing of the old one after it, and
nothing is left in the spool once the queue is done."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (Tap, queue_id, spool_file, spool_ids,  # noqa: E402
                       spool_spares, split_received, wait_for)
from world import World  # noqa: E402


def inode(w, qid):
    return os.stat(os.path.join(w.r.state, "spool", qid)).st_ino


tap = Tap()
w = World(tap)
try:
    tap.ok(w.start(), "relayd starts")
    # A large message waits for remote.test, whose servers are down.
    big = b"Subject: big\r\n\r\n" + (b"B" * 998 + b"\r\n") * 200
    code, text = w.send("a@acme.example", ["x@remote.test"], big,
                        inside=True)
    tap.eq(code, 250, "a 200 KB message is queued")
    big_id = queue_id(text)
    big_ino = inode(w, big_id)
    tap.ok(wait_for(lambda: " 1 " in " ".join(w.queue_lines()), 10),
           "its first attempt failed")
    mx1 = w.sink("127.0.0.2")
    rc, out, err = w.r.ctl("queue", "flush", big_id)
    tap.eq((rc, out.strip()), (0, big_id + " flushed"), "it is flushed")
    tap.ok(wait_for(lambda: mx1.count() == 1, 10), "and delivered")
    tap.ok(w.queue_empty(), "the queue is empty")

    # Small messages for a host that is down: they stay queued.
    small = {}
    for i in range(4):
        body = b"Subject: small %d\r\n\r\nsmall\r\n" % i
        code, text = w.send("a@acme.example", ["y@nomx.remote.test"], body,
                            inside=True)
        tap.eq(code, 250, "small message %d queued" % i)
        small[queue_id(text)] = body
    inodes = {inode(w, q): q for q in small}
    tap.ok(big_ino in inodes, "one of them is stored in the big one's "
           "file, renamed")
    for qid, body in small.items():
        tap.eq(split_received(spool_file(w.r, qid))[1], body,
               "%s is stored exactly, nothing of the old one after it" %
               qid)
    tap.eq(sorted(spool_ids(w.r)), sorted(small),
           "the spool holds these messages and spares, nothing else")
    tap.ok(len(spool_spares(w.r)) <= 16, "at most 16 spares")
    tap.eq(w.r.stop(), 0, "relayd stops")
    tap.eq(spool_spares(w.r), [], "no empty file is left at exit")
    tap.eq(sorted(spool_ids(w.r)), sorted(small), "the queued ones stay")
finally:
    w.stop()
tap.done()
