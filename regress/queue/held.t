#!/usr/bin/env python3
"""A delivered message's spool file that is still open outside queued (a
misbehaving deliverd; here the test itself holds it) is never reused for
a new message (queue_spool.c, spool_recycle and its write lease): it is
removed instead, so whoever holds it reads the old message and nothing
else, and queued warns, once a minute at most."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (Tap, queue_id, spool_file, spool_sizes,  # noqa: E402
                       wait_for)
from world import World  # noqa: E402


def held_open(w, qid):
    return os.open(os.path.join(w.r.state, "spool", qid), os.O_RDONLY)


def inodes(w):
    d = os.path.join(w.r.state, "spool")
    out = set()
    for name in spool_sizes(w.r):
        try:
            out.add(os.stat(os.path.join(d, name)).st_ino)
        except OSError:
            pass
    return out


def content(fd):
    return os.pread(fd, 1 << 20, 0)


tap = Tap()
w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n")
fds = []
try:
    tap.ok(w.start(), "relayd starts")
    # Two messages wait for remote.test, whose servers are down.
    ids, olds = [], []
    for i in range(2):
        body = b"Subject: held %d\r\n\r\n" % i + b"old message\r\n" * 2000
        code, text = w.send("a@acme.example", ["x%d@remote.test" % i], body,
                            inside=True)
        tap.eq(code, 250, "message %d is queued" % i)
        ids.append(queue_id(text))
    tap.ok(wait_for(lambda: len(w.queue_lines()) == 2 and all(
        " 1 " in l for l in w.queue_lines()), 10),
        "their first attempts failed")
    # Someone outside queued keeps their files open.
    for qid in ids:
        fds.append(held_open(w, qid))
        olds.append(spool_file(w.r, qid))
    held = [os.fstat(fd).st_ino for fd in fds]
    mx1 = w.sink("127.0.0.2")
    rc, out, err = w.r.ctl("queue", "flush", "all")
    tap.eq(rc, 0, "they are flushed")
    tap.ok(mx1.wait(2, 20), "and delivered")
    tap.ok(w.queue_empty(), "the queue is empty")
    tap.ok(wait_for(lambda: all(os.fstat(fd).st_nlink == 0 for fd in fds),
                    10), "both files are removed, not renamed for reuse")
    tap.ok(w.log_has(r"msgid=(%s|%s): spool file still open outside "
                     r"queued after the message was done with \(deliverd\?"
                     r"\); removed, not reused" % tuple(ids)),
           "queued warns that someone still held one")
    tap.eq(len(re.findall(r"spool file still open outside queued",
                          w.r.log())), 1, "once, not once per file")

    # New messages get other files; the holder still reads the old one.
    for i in range(4):
        code, text = w.send("a@acme.example", ["y@nomx.remote.test"],
                            b"Subject: new %d\r\n\r\nnew message\r\n" % i,
                            inside=True)
        tap.eq(code, 250, "new message %d queued" % i)
    tap.ok(not set(held) & inodes(w), "none of the spool files is a held "
           "one")
    now = [content(fd) for fd in fds]
    if not tap.ok(now == olds, "the holders read the old messages, "
                  "unchanged"):
        tap.diag("they read: %r" % [c[:160] for c in now])
finally:
    for fd in fds:
        os.close(fd)
    w.stop()
tap.done()
