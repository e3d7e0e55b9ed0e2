#!/usr/bin/env python3
"""A full queue store, filled with real messages: a 1M map, messages of
many long recipients (large envelopes) for a tenant whose server is down.
Past 90% of the map new mail gets 452 4.3.1 while what is queued stays
and is delivered, each recipient once; the removals find room, and below
85% new mail is accepted again.  Nothing comes back after a restart."""
import collections
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import SMTPClient, Tap, dot_stuff, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
NRCPT = 150
PAD = "x" * 48


def rcpts(n):
    return ["user%03d-%s-%d@acme.example" % (i, PAD, n) for i in
            range(NRCPT)]


def send_big(w, n):
    """One message of NRCPT recipients, pipelined: the final reply."""
    c = SMTPClient(w.r.port, timeout=60)
    try:
        c.reply()
        c.cmd("EHLO client.example")
        code, text = c.cmd("MAIL FROM:<a@sender.test>")
        if code != 250:
            return code, text
        c.send("".join("RCPT TO:<%s>\r\n" % a for a in rcpts(n)))
        ok = 0
        for _ in range(NRCPT):
            code, text = c.reply()
            ok += code == 250
        if ok != NRCPT:
            return code, text
        code, text = c.cmd("DATA")
        if code != 354:
            return code, text
        c.send(dot_stuff(b"Subject: big %d\r\n\r\nbody %d\r\n" % (n, n)) +
               b".\r\n")
        return c.reply()
    finally:
        c.close()


def mail_reply(w):
    c = SMTPClient(w.r.port)
    try:
        c.reply()
        c.cmd("EHLO client.example")
        return c.cmd("MAIL FROM:<a@sender.test>")
    finally:
        c.close()


def delivered(sink):
    """(subject, recipient): how many times each arrived."""
    got = collections.Counter()
    for m in list(sink.messages):
        subj = re.search(rb"Subject: (big \d+)", m.data)
        for a in m.rcpt_addrs:
            got[(subj.group(1).decode() if subj else "?", a)] += 1
    return got


def want(accepted):
    return set(("big %d" % n, a) for n in accepted for a in rcpts(n))


w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n",
          limits="store_max_size: 1M\nmax_recipients: 1000\n")
try:
    tap.ok(w.start(), "relayd starts with a 1M store")
    accepted, refused = [], None
    for n in range(200):
        code, text = send_big(w, n)
        if code == 250:
            accepted.append(n)
            continue
        refused = (code, text)
        break
    tap.ok(len(accepted) >= 5, "%d messages of %d recipients are queued" %
           (len(accepted), NRCPT))
    tap.ok(refused is not None and refused[0] == 452 and
           re.search(r"4\.3\.1", refused[1]),
           "then the next gets 452 4.3.1 (%r)" % (refused,))
    tap.ok(w.log_has(r"queued: queue store: \d+ of \d+ pages in use \(90% "
                     r"or more\): new mail gets 452 4\.3\.1", 10),
           "queued logs that the store is full")
    got = wait_for(lambda: mail_reply(w)[0] == 452, 10)
    tap.ok(got, "smtpd refuses MAIL with 452 while it is full")
    tap.like(mail_reply(w)[1], r"^452 4\.3\.1 ", "with 4.3.1")
    rc, out, err = w.r.ctl("show", "queue")
    tap.eq(len(out.splitlines()) - 1, len(accepted),
           "every accepted message is still queued")

    # The tenant's server comes back: queued mail flows, removals commit.
    tenant = w.sink(w.tenant_addr)
    w.r.ctl("queue", "flush", "all")
    expect = want(accepted)
    tap.ok(wait_for(lambda: set(delivered(tenant)) >= expect, 60),
           "every queued recipient is delivered")
    tap.ok(w.queue_empty(30), "the queue empties: every removal committed")
    tap.ok(w.log_has(r"queue store: \d+ of \d+ pages in use, below 85%: "
                     r"new mail is accepted again", 10),
           "queued logs that the store has room again")
    got = wait_for(lambda: mail_reply(w)[0] == 250, 10)
    tap.ok(got, "smtpd accepts MAIL again")
    code, text = send_big(w, 999)
    tap.eq(code, 250, "a new message is queued")
    accepted.append(999)
    expect = want(accepted)
    tap.ok(wait_for(lambda: set(delivered(tenant)) >= expect, 30),
           "and delivered")
    tap.ok(w.queue_empty(30), "the queue is empty")
    tap.eq(w.r.stop(), 0, "relayd stops")
    w.r.proc = None
    tap.ok(w.start(), "relayd restarts on the same store")
    time.sleep(2)
    got = delivered(tenant)
    tap.eq(set(got), expect, "only what was accepted was delivered")
    tap.eq([k for k, v in got.items() if v != 1], [],
           "each recipient exactly once, also after the restart")
    tap.ok(not w.r.wait_log(r"still fails .* at exit", 0.1,
                            since_start=False),
           "no update was lost on the way")
finally:
    w.stop()
tap.done()
