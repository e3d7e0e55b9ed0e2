#!/usr/bin/env python3
"""Running out of descriptors.  relayd runs without CAP_SYS_RESOURCE under
a hard limit of 600 descriptors, far below what limits.max_connections
would need, and 2000 clients connect at once; each that is greeted says
EHLO, MAIL and RCPT (so that it holds a spool file) and then idles.
Every connection gets an answer, 220 and 250s or 421 4.3.2, never a
silent close or a hang; the held sessions still answer; once some leave a
new client sends a whole message; relayd and its children never exit.
Then, as root with the right to raise limits, each child gets the limit
its own work needs.  Last, a client that begins and resets transactions
without end holds one spool file at a time, not one per transaction."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from crowd import Crowd, raise_nofile  # noqa: E402
from relaytest import (DEFAULT_TENANT, Relayd, SMTPClient, Tap,  # noqa: E402
                       free_port, need_root, send_message, wait_for)
from sink import Sink  # noqa: E402

LIMIT = 600
N = 2000
HELD_QUIT = 60
PREFIX = ["prlimit", "--nofile=%d:%d" % (LIMIT, LIMIT), "setpriv",
          "--bounding-set=-sys_resource", "--inh-caps=-sys_resource", "--"]

tap = Tap()
need_root(tap)
raise_nofile(N + 512)
sink_port = free_port("127.0.0.20")
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.20:%d" % sink_port)
r = Relayd(tap, tenants={"acme.yaml": TENANT},
           limits="max_connections: 10000\n"
                  "max_connections_per_client: 10000\n")
sink = Sink("127.0.0.20", sink_port)
crowd = None


def nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        m = re.search(r"^Max open files\s+(\d+)\s+(\d+)", f.read(), re.M)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def try_send():
    try:
        code, text = send_message(r.port, "a@sender.example",
                                  ["bob@acme.example"],
                                  b"Subject: room again\r\n\r\n"
                                  b"hello\r\n")
    except OSError:
        return False
    return code == 250


def codes(conns, k):
    return sorted({c.replies[k][1][:9] if len(c.replies) > k else "none"
                   for c in conns})


try:
    tap.ok(r.start(prefix=PREFIX), "relayd starts under a hard limit of %d "
           "descriptors, unable to raise it" % LIMIT)
    kids = r.children()
    tap.eq(nofile(kids["smtpd"])[0], LIMIT, "smtpd has %d descriptors" %
           LIMIT)
    tap.ok(r.wait_log(r"smtpd needs \d+ descriptors .*can have only %d" %
                      LIMIT, 5),
           "the parent says smtpd gets less than it needs")

    crowd = Crowd(r.port)
    crowd.open(N)
    done = crowd.step(crowd.conns, b"", 1, 180)
    hung = crowd.hung(crowd.conns)
    tap.ok(done, "each of %d connections got an answer (%d did not)" %
           (N, len(hung)))
    greeted = [c for c in crowd.conns
               if c.replies and c.replies[0][0] == 220]
    refused = [c for c in crowd.conns if c.replies and
               re.match(r"421 4\.3\.2 ", c.replies[0][1])]
    silent = [c for c in crowd.conns if not c.replies]
    tap.eq(len(greeted) + len(refused), N, "each was greeted (220) or "
           "refused with 421 4.3.2: %d and %d, %d silent" %
           (len(greeted), len(refused), len(silent)))
    if len(greeted) + len(refused) != N:
        tap.diag("first replies: %r" % codes(crowd.conns, 0))
    tap.ok(len(refused) > 0 and len(greeted) >= 100,
           "the limit bit: %d refused, %d served" % (len(refused),
                                                     len(greeted)))
    crowd.step(refused, b"", 1, 30)
    tap.ok(all(c.eof for c in refused), "the refused ones were closed")

    ok = crowd.step(greeted, b"EHLO crowd.example\r\n", 1, 120)
    ok = ok and crowd.step(greeted, b"MAIL FROM:<a@sender.example>\r\n"
                           b"RCPT TO:<bob@acme.example>\r\n", 2, 120)
    good = [c for c in greeted if [x[0] for x in c.replies] ==
            [220, 250, 250, 250]]
    tap.ok(ok and len(good) == len(greeted), "each greeted session got 250 "
           "to EHLO, MAIL and RCPT (%d of %d)" % (len(good), len(greeted)))
    if len(good) != len(greeted):
        tap.diag("replies: %r" % codes(greeted, 3))
    ok = crowd.step(greeted, b"NOOP\r\n", 1, 120)
    tap.ok(ok and all(c.replies[-1][0] == 250 for c in greeted),
           "and each still answers NOOP")
    tap.eq(len(re.findall(r"out of descriptors", r.log()[r.log_mark:])), 1,
           "one log line for the whole episode")
    tap.eq(r.children(), kids, "no child has exited")

    # queued, under the same limit, holds only so many files for smtpd.
    tap.ok(r.wait_log(r"queued: spool files for smtpd: all \d+ in use; new "
                      r"transactions get 451 4\.3\.2", 5),
           "queued says it holds all the files it can")
    ok = crowd.step(greeted, b"DATA\r\n", 1, 120)
    took = [c for c in greeted if c.replies[-1][0] == 354]
    tap.ok(ok and len(took) > 0 and all(
        c in took or c.replies[-1][1].startswith("451 4.3.2 ")
        for c in greeted), "DATA: 354, or 451 4.3.2 without a file (%d "
        "and %d)" % (len(took), len(greeted) - len(took)))
    ok = crowd.step(took, b"Subject: held\r\n\r\nheld\r\n.\r\n", 1, 120)
    tap.ok(ok and all(c.replies[-1][0] == 250 for c in took),
           "the messages with a file are queued")

    leaving = greeted[:HELD_QUIT]
    crowd.step(leaving, b"QUIT\r\n", 1, 60)
    crowd.step(leaving, b"", 1, 30)
    tap.ok(all(c.eof for c in leaving), "%d held sessions quit" % HELD_QUIT)

    tap.ok(wait_for(try_send, 60, 0.5), "a new client sends a whole message")
    tap.ok(sink.wait(len(took) + 1, 120), "every queued message is "
           "delivered")

    crowd.close()
    tap.ok(r.wait_log(r"smtpd: descriptors available again", 60),
           "once the crowd left, the episode's end is logged")
    tap.ok(r.proc.poll() is None, "relayd is still running")
    tap.eq(r.children(), kids, "with the same children")
    r.cleanup()

    # With the right to raise it, each child gets what its work needs.
    r = Relayd(tap, tenants={"acme.yaml": TENANT},
               limits="max_connections: 3000\n",
               queue="max_connections: 100\n")
    tap.ok(r.start(), "relayd starts as root")
    kids = r.children()
    lim = {k: nofile(p) for k, p in kids.items()}
    tap.diag("limits: %r" % lim)
    tap.ok(2 * 3000 + 16 <= lim["smtpd"][0] < 2 * 3000 + 1024,
           "smtpd: a socket and a spool file per session, spares, a margin")
    tap.ok(2 * 100 + 64 <= lim["deliverd"][0] < 8 * 100 + 1024,
           "deliverd: its connections and the spool files of its jobs")
    tap.ok(3000 <= lim["queued"][0] < 3 * 3000 + 1024,
           "queued: the files it holds for smtpd, and more")
    tap.ok(lim["dnsd"][0] <= 4096 and lim["policyd"][0] <= 4096,
           "dnsd and policyd: a modest fixed number")
    tap.ok(all(s == h for s, h in lim.values()),
           "soft and hard limits are the same")
    tap.ok(not re.search(r"needs \d+ descriptors", r.log()[r.log_mark:]),
           "and no warning")
    r.cleanup()

    # A client that begins transactions without end holds one file at a
    # time: queued makes a file per session, not per transaction (strace
    # counts the files it creates).
    r = Relayd(tap, tenants={"acme.yaml": TENANT})
    trace = os.path.join(r.dir, "strace.out")
    tap.ok(r.start(prefix=["strace", "-f", "-qq", "-o", trace, "-e",
                           "trace=openat", "--"]),
           "relayd starts under strace")

    def created():
        with open(trace, errors="replace") as f:
            return len(re.findall(r"O_CREAT\|O_EXCL", f.read()))

    c = SMTPClient(r.port)
    c.reply()
    c.cmd("EHLO loop.example")
    c.send(b"MAIL FROM:<a@sender.example>\r\nRCPT TO:<bob@acme.example>\r\n"
           b"RSET\r\n" * 1000 + b"NOOP\r\n")
    got = [c.reply()[0] for _ in range(3001)]
    tap.eq(got, [250] * 3001, "1000 transactions begun and reset")
    tap.ok(not wait_for(lambda: created() > 40, 5),
           "queued made %d spool files, not one per transaction" % created())
    tap.ok(try_send(), "another client sends a whole message")
    c.close()
finally:
    if crowd is not None:
        crowd.close()
    sink.close()
    r.cleanup()
tap.done()
