#!/usr/bin/env python3
"""The store's format version.  A store of the format before versions
(fixtures/store-v1: made by the relayd of that time, envelopes v1, no
meta database) is migrated at start in one transaction, and its messages
are delivered.  A store of a newer format than this relayd knows is
refused: relayd does not start, and says which versions."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import storedump  # noqa: E402
from relaytest import Tap, spool_ids, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "fixtures", "store-v1")


def restore_v1(r):
    """The fixture into a fresh state directory, its times moved so that
    the next attempts are now (the messages would have expired)."""
    with open(os.path.join(FIXTURE, "store.dump")) as f:
        text = f.read()
    lines = text.splitlines()
    body = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    pairs = [(bytes.fromhex(body[i].strip()), bytes.fromhex(
        body[i + 1].strip())) for i in range(0, len(body), 2)]
    now = int(time.time())
    pairs = [(k, storedump.shift_times(v, now - max(storedump.times(v))))
             for k, v in pairs]
    db = os.path.join(r.state, "db")
    storedump.load(db, "queue", pairs)
    spool = os.path.join(r.state, "spool")
    os.makedirs(spool)
    for name in os.listdir(os.path.join(FIXTURE, "spool")):
        shutil.copy(os.path.join(FIXTURE, "spool", name), spool)
        storedump.give_to_queued(os.path.join(spool, name))
    for name in os.listdir(db):
        storedump.give_to_queued(os.path.join(db, name))
    return [k.hex() for k, v in pairs]


def meta_version(r):
    try:
        return dict(storedump.dump(os.path.join(r.state, "db"),
                                   "meta")).get(b"version")
    except Exception as e:
        return repr(e)


w = World(tap)
try:
    ids = restore_v1(w.r)
    tap.eq(sorted(spool_ids(w.r)), sorted(ids), "a store of the first format "
           "with two messages is in place")
    tenant = w.sink(w.tenant_addr)
    tap.ok(w.start(), "relayd starts on it")
    tap.ok(w.log_has(r"queue store: migrated from format 1 to 2: 2 "
                     r"envelopes rewritten, 0 unreadable"),
           "the store is migrated, and that is logged")
    tap.ok(tenant.wait(2, 30), "both messages are delivered")
    got = sorted((m.rcpt_addrs, m.data.split(b"\r\n\r\n", 1)[1]) for m in
                 tenant.messages)
    tap.eq(got, [(["alice@acme.example", "carol@acme.example"],
                  b"migrated message 2\r\n"),
                 (["bob@acme.example"], b"migrated message 1\r\n")],
           "to their recipients, intact")
    tap.ok(w.queue_empty(), "the queue empties")
    tap.eq(w.r.stop(), 0, "relayd stops")
    tap.eq(meta_version(w.r), b"2", "the store records format 2")
    w.r.proc = None
    tap.ok(w.start(), "relayd starts again")
    tap.ok(not w.log_has(r"migrated", 1), "no second migration")
finally:
    w.stop()

w = World(tap)
try:
    storedump.load(os.path.join(w.r.state, "db"), "meta",
                   [(b"version", b"99")])
    for name in os.listdir(os.path.join(w.r.state, "db")):
        storedump.give_to_queued(os.path.join(w.r.state, "db", name))
    tap.ok(w.start(wait=False), "relayd is run on a store of format 99")
    rc = w.r.wait_exit(20)
    tap.ok(rc not in (None, 0), "relayd does not start (exit %s)" % rc)
    tap.ok(w.log_has(r"queued: queue store: db: the store is in format 99, "
                     r"newer than this relayd's \(2\)", 2),
           "it says why, with both versions")
    w.r.proc = None
    tap.eq(meta_version(w.r), b"99", "the store is left as it was")
finally:
    w.stop()
tap.done()
