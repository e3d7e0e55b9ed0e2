#!/usr/bin/env python3
"""The queue store is mapped at limits.store_max_size from the start, its
file staying sparse, and a new size takes effect at the restart.  queued
opens it when its first configuration comes; smtpd's requests before
that get 451 4.3.0, and queued lives on (debug build: RELAYD_DELAY holds
queued's first configuration back)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, RELAYD_DEBUG, Relayd, Tap,  # noqa: E402
                       send_message, wait_for)

tap = Tap()
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")
G = 1024 * 1024 * 1024


def map_size(r):
    """The map size LMDB records in the store, as mdb_stat reads it."""
    p = subprocess.run(["mdb_stat", "-e", os.path.join(r.state, "db")],
                       capture_output=True, text=True)
    m = re.search(r"Map size: (\d+)", p.stdout)
    return int(m.group(1)) if m else p.stdout + p.stderr


def queue_one(r, text):
    return send_message(r.port, "a@sender.example", ["bob@acme.example"],
                        b"Subject: %s\r\n\r\nbody\r\n" % text.encode())[0]


r = Relayd(tap, tenants={"acme.yaml": TENANT}, limits="store_max_size: 3G\n",
           queue="retry_min: 1h\nretry_max: 1h\n")
try:
    tap.ok(r.start(), "relayd starts with store_max_size: 3G")
    tap.eq(queue_one(r, "one"), 250, "a message is queued")
    tap.eq(map_size(r), 3 * G, "the store is mapped at 3G from the start")
    data = os.stat(os.path.join(r.state, "db", "data.mdb"))
    tap.ok(data.st_size < 16 * 1024 * 1024 and
           data.st_blocks * 512 < 16 * 1024 * 1024,
           "its file holds only the pages in use (%d octets, %d blocks)" %
           (data.st_size, data.st_blocks))
    tap.eq(oct(data.st_mode & 0o777), oct(0o640), "data.mdb is 0640")
    lock = os.stat(os.path.join(r.state, "db", "lock.mdb"))
    tap.eq(oct(lock.st_mode & 0o777), oct(0o660), "lock.mdb is 0660")
    tap.eq(r.stop(), 0, "relayd stops")

    r.limits = "store_max_size: 5G\n"
    r.write_main()
    r.proc = None
    tap.ok(r.start(), "relayd restarts with store_max_size: 5G")
    tap.eq(queue_one(r, "two"), 250, "a message is queued")
    tap.eq(map_size(r), 5 * G, "the new size is in force after the restart")
    rc, out, err = r.ctl("show", "queue")
    tap.eq(len(out.splitlines()), 3, "both messages are queued")
finally:
    r.cleanup()

if not os.path.exists(RELAYD_DEBUG):
    tap.ok(True, "# SKIP no debug build (make debug)")
    tap.done()
r = Relayd(tap, tenants={"acme.yaml": TENANT})
try:
    tap.ok(r.start(debug=True, env={"RELAYD_DELAY": "queued-conf:4"}),
           "relayd starts, queued taking its configuration late")
    pid = r.children().get("queued")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"],
                              b"Subject: early\r\n\r\nearly\r\n")
    tap.eq(code, 451, "a message before queued has its store gets 451")
    tap.like(text, r"^451 4\.3\.0 ", "with 4.3.0")
    tap.ok(wait_for(lambda: r.log().count("queue: 0 messages") > 0, 20),
           "queued opens its store when the configuration comes")
    tap.eq(r.children().get("queued"), pid, "queued did not die meanwhile")
    tap.ok(not re.search(r"sent a bad message", r.log()),
           "no peer is taken for broken")
    got = wait_for(lambda: queue_one(r, "later") == 250, 20)
    tap.ok(got, "then mail is accepted")
finally:
    r.cleanup()
tap.done()
