#!/usr/bin/env python3
"""A notice that cannot be written is owed, not dropped: with the state
on a small tmpfs filled to the last block, a recipient that bounces
leaves its notice owed and the original queued; once there is room, the
notice is written, reaches the sender, and only then does the original
go.  The same across a restart."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (Tap, need_root, private_mounts, queue_id,  # noqa: E402
                       wait_for)
from world import World  # noqa: E402

tap = Tap()
need_root(tap)
private_mounts(tap)


def fill(path):
    """Fill the file system with one file, to the last block."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)


w = World(tap, queue="retry_min: 1s\nretry_max: 2s\n",
          limits="min_free_space: 0\n")
filler = os.path.join(w.r.state, "filler")
try:
    os.makedirs(w.r.state, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24M,mode=0755",
                    "tmpfs", w.r.state], check=True)
    mx = w.sink("127.0.0.2")
    mx.rcpt = lambda a: "450 4.2.0 try later"
    notices = w.sink("127.0.0.6")
    tap.ok(w.start(), "relayd starts on a 24 MB tmpfs")
    code, text = w.send("alice@sender.test", ["nobody@remote.test"],
                        inside=True)
    tap.eq(code, 250, "a message is queued (its MX defers for now)")
    qid = queue_id(text)
    tap.ok(w.log_has(r"msgid=%s .*status=deferred" % qid),
           "its first attempt is deferred")

    fill(filler)
    mx.rcpt = lambda a: "550 5.1.1 <%s>: no such user" % a
    rc, out, err = w.r.ctl("queue", "flush", qid)
    tap.ok(w.log_has(r"msgid=%s .*status=bounced" % qid),
           "the next attempt bounces")
    tap.ok(w.log_has(r"msgid=%s: the failure notice to <alice@sender\.test> "
                     r"could not be queued: No space left on device; it "
                     r"will be tried again" % qid),
           "the notice cannot be written: the disk is full")
    tap.ok(any(l.startswith(qid) for l in w.queue_lines()),
           "the original stays queued, owing its notice")
    tap.eq(notices.count(), 0, "no notice has gone yet")

    tap.ok(w.log_has(r"msgid=%s: the failure notice .* could not be "
                     r"queued.*\n(.*\n)*.*msgid=%s: the failure notice .* "
                     r"could not be queued" % (qid, qid)),
           "and again at the retry, while the disk stays full")

    os.unlink(filler)
    tap.ok(notices.wait(1, 20), "room again: the owed notice is written and "
           "delivered")
    if notices.count():
        n = notices.messages[0]
        tap.eq(n.rcpt_addrs, ["alice@sender.test"], "to the sender")
        tap.ok(b"5.1.1" in n.data and b"nobody@remote.test" in n.data,
               "about the bounced recipient, with its status")
    tap.ok(wait_for(lambda: w.queue_lines() == [], 10),
           "then the original leaves the queue")

    # A restart while a notice is owed keeps it owed.
    mx.rcpt = lambda a: "450 4.2.0 try later"
    code, text = w.send("alice@sender.test", ["nobody@remote.test"],
                        inside=True)
    qid = queue_id(text)
    tap.ok(w.log_has(r"msgid=%s .*status=deferred" % qid),
           "a second message is deferred")
    fill(filler)
    mx.rcpt = lambda a: "550 5.1.1 <%s>: no such user" % a
    w.r.ctl("queue", "flush", qid)
    tap.ok(w.log_has(r"msgid=%s: the failure notice .* could not be queued"
                     % qid), "its notice cannot be written either")
    w.r.stop()
    os.unlink(filler)
    tap.ok(w.start(), "relayd restarts, with room on the disk")
    tap.ok(notices.wait(2, 20), "the notice owed across the restart goes")
    tap.ok(wait_for(lambda: w.queue_lines() == [], 10), "the queue empties")
    tap.ok(not re.search(r"msgid=%s .*status=bounced" % qid,
                         w.r.log()[w.r.log_mark:]),
           "the bounced recipient was not tried again: its notice was owed")
    tap.eq(notices.count(), 2, "one notice each, not more")
finally:
    w.stop()
    subprocess.run(["umount", "-l", w.r.state], capture_output=True)
tap.done()
