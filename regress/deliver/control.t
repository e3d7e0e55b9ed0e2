#!/usr/bin/env python3
"""relayctl's queue commands: show queue with next attempt and last
error; flush (one, or all), hold, release, remove (no notice), bounce
(with one); each refuses an unknown id clearly."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (RELAYCTL, SMTPClient, Tap, queue_id,  # noqa: E402
                       wait_for)
from world import World, dsn_fields, parse_dsn  # noqa: E402

tap = Tap()
w = World(tap, queue="retry_min: 60s\nretry_max: 1h\n")
try:
    notices = w.sink("127.0.0.6")
    tap.ok(w.start(), "relayd starts; the tenant's server is down")
    ids = []
    for i in range(3):
        code, text = w.send("a@sender.test", ["bob@acme.example"],
                            b"Subject: %d\r\n\r\nx\r\n" % i)
        ids.append(queue_id(text))
    tap.ok(wait_for(lambda: len(w.queue_lines()) == 3 and all(
        " 1 in " in l for l in w.queue_lines()), 10), "three deferred")
    line = [l for l in w.queue_lines() if l.startswith(ids[0])][0]
    tap.like(line, r"^%s acme <a@sender\.test> bob@acme\.example \d+s 1 "
             r"in \d+s connect to 127\.0\.0\.20\[127\.0\.0\.20\]:\d+: "
             r"Connection refused$" % ids[0],
             "show queue: id, tenant, sender, recipients, age, attempts, "
             "next attempt, last error")

    rc, out, err = w.r.ctl("queue", "hold", ids[0])
    tap.eq((rc, out.strip()), (0, ids[0] + " held"), "queue hold")
    line = [l for l in w.queue_lines() if l.startswith(ids[0])][0]
    tap.like(line, r" 1 held ", "show queue says held")
    rc, out, err = w.r.ctl("queue", "flush", "all")
    tap.eq((rc, out.strip()), (0, "2 messages flushed"),
           "flush all leaves held messages alone")
    tap.ok(wait_for(lambda: all(" 2 in " in l for l in w.queue_lines()
                                if not l.startswith(ids[0])), 10),
           "the flushed ones were tried again at once")
    rc, out, err = w.r.ctl("queue", "release", ids[0])
    tap.eq(rc, 0, "queue release")
    tap.ok(wait_for(lambda: " 2 in " in [l for l in w.queue_lines()
                                         if l.startswith(ids[0])][0], 10),
           "a released message is tried at once")
    rc, out, err = w.r.ctl("queue", "release", ids[0])
    tap.eq(rc, 1, "releasing one that is not held fails")
    tap.like(err, r"not held", "and says why")

    rc, out, err = w.r.ctl("queue", "remove", ids[1])
    tap.eq(rc, 0, "queue remove")
    tap.ok(wait_for(lambda: not any(l.startswith(ids[1])
                                    for l in w.queue_lines()), 5),
           "the message is gone")
    tap.ok(w.log_has(r"msgid=%s removed by the operator" % ids[1]),
           "and the removal is logged")

    rc, out, err = w.r.ctl("queue", "bounce", ids[2])
    tap.eq(rc, 0, "queue bounce")
    tap.ok(notices.wait(1), "a bounced message gives the sender a notice")
    msg, parts = parse_dsn(notices.messages[0].data)
    f = dsn_fields(parts.get("message/delivery-status", ""))
    tap.eq((f.get("action"), f.get("status"), f.get("x-relayd-queue-id")),
           ("failed", "5.0.0", ids[2]), "Action: failed, Status 5.0.0")
    time.sleep(0.5)
    tap.eq(notices.count(), 1, "remove sent none")

    for cmd in ("flush", "hold", "release", "remove", "bounce"):
        rc, out, err = w.r.ctl("queue", cmd, "0123456789abcdef")
        tap.ok(rc == 1 and "no such message: 0123456789abcdef" in err,
               "queue %s of an unknown id: refused clearly" % cmd)
    rc, out, err = w.r.ctl("queue", "hold", "XYZ")
    tap.ok(rc != 0 and "bad queue id" in err, "a malformed id is refused")

    # A sender with a C1 control (U+009B, CSI) in its local part: what
    # relayctl prints has it replaced, so no terminal acts on it.
    c = SMTPClient(w.r.port)
    c.reply()
    c.cmd("EHLO client.example")
    tap.eq(c.cmd("MAIL FROM:<csi\u009b31mred@sender.test> SMTPUTF8")[0], 250,
           "a sender with U+009B is accepted (SMTPUTF8)")
    c.cmd("RCPT TO:<bob@acme.example>")
    c.cmd("DATA")
    tap.eq(c.cmd("Subject: csi\r\n\r\nx\r\n.")[0], 250, "and queued")
    c.close()
    p = subprocess.run([RELAYCTL, "-s", w.r.sock, "show", "queue"],
                       capture_output=True, timeout=30)
    tap.ok(b"\xc2\x9b" not in p.stdout and b"\x9b" not in p.stdout,
           "relayctl show queue prints no C1 control")
    tap.ok(b"<csi?31mred@sender.test>" in p.stdout, "but a ? in its place")

    tenant = w.sink(w.tenant_addr)
    rc, out, err = w.r.ctl("queue", "flush", ids[0])
    tap.eq(rc, 0, "queue flush of one message")
    tap.ok(tenant.wait(1, 10), "delivers it now that the server is back")
    w.r.ctl("queue", "flush", "all")
    tap.ok(w.queue_empty(), "the queue is empty")
finally:
    w.stop()
tap.done()
