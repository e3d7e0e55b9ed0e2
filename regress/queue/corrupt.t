#!/usr/bin/env python3
"""Corrupt or vanished state is kept, never deleted.  An envelope that
cannot be decoded goes with its spool file to state_dir/corrupt/, and so
does an envelope whose spool file is gone although it was acknowledged:
each logged as an error and listed by relayctl show corrupt.  Only an
envelope of the last batch before a crash, whose directory sync may not
have ended, is taken for never acknowledged and dropped.  A store that
cannot be read to its end stops relayd."""
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import storedump  # noqa: E402
from relaytest import (RELAYD_DEBUG, Tap, queue_id, spool_ids,  # noqa: E402
                       wait_for)
from world import World  # noqa: E402

tap = Tap()
QUEUE = "retry_min: 1h\nretry_max: 1h\n"


def queued_ids(w):
    return sorted(l.split()[0] for l in w.queue_lines())


def corrupt_files(w):
    try:
        return sorted(os.listdir(os.path.join(w.r.state, "corrupt")))
    except OSError:
        return None


def content(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


# Envelopes that cannot be decoded, and a spool file lost by hand.
w = World(tap, queue=QUEUE)
try:
    tap.ok(w.start(), "relayd starts; the tenant's server is down")
    ids = []
    for n in range(4):
        code, text = w.send("a@sender.test", ["bob@acme.example"],
                            b"Subject: c%d\r\n\r\nkeep me %d\r\n" % (n, n))
        ids.append(queue_id(text))
    tap.eq(len(queued_ids(w)), 4, "four messages are queued")
    sizes = dict((i, os.stat(os.path.join(w.r.state, "spool", i)).st_size)
                 for i in ids)
    tap.eq(w.r.stop(), 0, "relayd stops")
    db = os.path.join(w.r.state, "db")
    env = dict((k.hex(), v) for k, v in storedump.dump(db, "queue"))
    bad_version = b"\xa2" + struct.pack("<I", 7) + env[ids[0]][5:]
    truncated = env[ids[1]][:len(env[ids[1]]) // 2]
    storedump.load(db, "queue", [(bytes.fromhex(ids[0]), bad_version),
                                 (bytes.fromhex(ids[1]), truncated)])
    os.unlink(os.path.join(w.r.state, "spool", ids[2]))
    w.r.proc = None
    tap.ok(w.start(), "relayd restarts on the damaged state")
    tap.ok(w.log_has(r"queued: msgid=%s: envelope version 7 unknown: kept "
                     r"in quarantine \(corrupt/\), not delivered" % ids[0],
                     2), "an envelope of an unknown version is logged")
    tap.ok(w.log_has(r"queued: msgid=%s: envelope \(version 2, %d octets\) "
                     r"cannot be decoded: kept in quarantine" %
                     (ids[1], len(truncated)), 2),
           "an envelope that cannot be decoded is logged")
    tap.ok(w.log_has(r"queued: msgid=%s: its spool file is missing: kept in "
                     r"quarantine" % ids[2], 2),
           "an acknowledged message without its spool file is logged")
    tap.ok(w.log_has(r"queue: 3 messages put in quarantine \(relayctl show "
                     r"corrupt\)", 2), "the count is logged")
    tap.ok(not w.log_has(r"removed \d+ files without an envelope", 0.5),
           "no spool file is removed")
    tap.eq(queued_ids(w), [ids[3]], "the sound message is still queued")
    tap.eq(spool_ids(w.r), [ids[3]], "only its file is left in the spool")
    tap.eq(corrupt_files(w), sorted([ids[0], ids[0] + ".envelope",
                                     ids[0] + ".reason", ids[1],
                                     ids[1] + ".envelope", ids[1] + ".reason",
                                     ids[2] + ".envelope",
                                     ids[2] + ".reason"]),
           "bodies, envelopes and reasons are in corrupt/")
    cdir = os.path.join(w.r.state, "corrupt")
    tap.eq(content(os.path.join(cdir, ids[0] + ".envelope")), bad_version,
           "the raw envelope is kept as it was")
    tap.ok((content(os.path.join(cdir, ids[1])) or b"").endswith(
        b"keep me 1\r\n"), "the body is intact")
    tap.eq(oct(os.stat(cdir).st_mode & 0o7777) if os.path.isdir(cdir)
           else None, oct(0o700), "corrupt/ is 0700")
    rc, out, err = w.r.ctl("show", "corrupt")
    tap.eq(rc, 0, "relayctl show corrupt works")
    lines = out.splitlines()
    tap.eq(lines[:1], ["ID SIZE WHEN REASON"], "a header line")
    when = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    tap.like(out, r"(?m)^%s %d %s envelope version 7 unknown$" %
             (ids[0], sizes[ids[0]], when), "a line per message: id, size, "
             "when, reason")
    tap.like(out, r"(?m)^%s %d %s envelope \(version 2, \d+ octets\) cannot "
             r"be decoded$" % (ids[1], sizes[ids[1]], when),
             "the undecodable one")
    tap.like(out, r"(?m)^%s - %s its spool file is missing$" % (ids[2], when),
             "the one without a body, with no size")
    tap.eq(len(lines), 4, "three entries")
    tap.eq(w.r.stop(), 0, "relayd stops")
    left = sorted(k.hex() for k, v in storedump.dump(db, "queue"))
    tap.eq(left, [ids[3]], "the quarantined envelopes have left the store")
    w.r.proc = None
    tap.ok(w.start(), "relayd starts again")
    tap.ok(not w.log_has(r"quarantine", 1), "nothing more is quarantined")
    tap.eq(len(w.r.ctl("show", "corrupt")[1].splitlines()), 4,
           "the quarantine is as it was")
finally:
    w.stop()

# The crash window: the last batch before a crash, its name lost.
if os.path.exists(RELAYD_DEBUG):
    w = World(tap, queue=QUEUE)
    try:
        tap.ok(w.start(debug=True, env={
            "RELAYD_CRASH": "queued-after-commit",
            "RELAYD_FAIL": "queued-dir-sync"}),
            "crash window: relayd starts, to die after the next commit")
        code, text = w.send("a@sender.test", ["bob@acme.example"],
                            b"Subject: w\r\n\r\nwindow\r\n")
        tap.ok(code != 250, "crash window: the client gets no 250")
        tap.ok(w.r.wait_exit(15) not in (None, 0),
               "crash window: relayd stops")
        lost = spool_ids(w.r)
        tap.eq(len(lost), 1, "crash window: the envelope's file is there")
        # A power cut before the directory's sync would lose its name.
        for i in lost:
            os.unlink(os.path.join(w.r.state, "spool", i))
        w.r.proc = None
        tap.ok(w.start(debug=True), "crash window: relayd restarts")
        tap.ok(w.log_has(r"msgid=%s: envelope without a spool file \(never "
                         r"acknowledged\), removed" % lost[0], 2),
               "crash window: the unacknowledged envelope is dropped")
        tap.eq(corrupt_files(w), [], "crash window: nothing in quarantine")
        tap.ok(w.queue_empty(), "crash window: nothing queued")
        # The next message, acknowledged, and its file lost after a
        # clean stop: the list of the last batch was cleared at the stop.
        code, text = w.send("a@sender.test", ["bob@acme.example"],
                            b"Subject: w2\r\n\r\nafter\r\n")
        tap.eq(code, 250, "crash window: the next message is accepted")
        qid = queue_id(text)
        tap.eq(w.r.stop(), 0, "crash window: relayd stops cleanly")
        os.unlink(os.path.join(w.r.state, "spool", qid))
        w.r.proc = None
        tap.ok(w.start(debug=True), "crash window: relayd restarts")
        tap.ok(w.log_has(r"msgid=%s: its spool file is missing: kept in "
                         r"quarantine" % qid, 2),
               "crash window: an acknowledged message is never taken for "
               "one in the window")
        tap.eq(corrupt_files(w), [qid + ".envelope", qid + ".reason"],
               "crash window: its envelope is in quarantine")
    finally:
        w.stop()
else:
    tap.ok(True, "# SKIP no debug build (make debug)")


def break_last_branch(db):
    """Point the last child of every branch page at a page past the end,
    as a torn or scribbled page would: walking the queue fails there."""
    p = subprocess.run(["mdb_stat", "-e", db], capture_output=True,
                       text=True, check=True)
    psize = int(re.search(r"Page size: (\d+)", p.stdout).group(1))
    n = 0
    with open(os.path.join(db, "data.mdb"), "r+b") as f:
        data = bytearray(f.read())
        for off in range(2 * psize, len(data), psize):
            flags, lower = struct.unpack_from("<HH", data, off + 10)
            if flags != 0x01 or lower <= 16:
                continue
            last = struct.unpack_from("<H", data, off + lower - 2)[0]
            struct.pack_into("<HHH", data, off + last, 0xffff, 0x0fff, 0)
            n += 1
        f.seek(0)
        f.write(data)
    return n


# A cursor error while loading: relayd stops, rather than run on part of
# its queue.
w = World(tap, queue=QUEUE)
try:
    tap.ok(w.start(), "unreadable store: relayd starts")
    many = ["r%02d-%s@acme.example" % (i, "y" * 40) for i in range(5)]
    for n in range(24):
        w.send("a@sender.test", many, b"Subject: u\r\n\r\nu\r\n")
    tap.eq(len(queued_ids(w)), 24, "unreadable store: 24 messages queued")
    tap.eq(w.r.stop(), 0, "unreadable store: relayd stops")
    tap.ok(break_last_branch(os.path.join(w.r.state, "db")) > 0,
           "unreadable store: a page of the queue is damaged")
    w.r.proc = None
    tap.ok(w.start(wait=False), "unreadable store: relayd is run")
    rc = w.r.wait_exit(20)
    tap.ok(rc not in (None, 0), "unreadable store: relayd does not start "
           "(exit %s)" % rc)
    tap.ok(w.log_has(r"queue store: db: reading the queue failed after \d+ "
                     r"envelopes \(last [0-9a-f]{16}\): MDB_PAGE_NOTFOUND.*; "
                     r"relayd stops rather than run without part of its "
                     r"queue", 2), "unreadable store: it says why")
    w.r.proc = None
    tap.eq(len(spool_ids(w.r)), 24, "unreadable store: no spool file was "
           "removed")
finally:
    w.stop()
tap.done()
