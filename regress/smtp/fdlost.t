#!/usr/bin/env python3
"""Descriptors lost in transit.  The debug build's RELAYD_FDS_FULL makes
a child fill its descriptor table at start, so that it runs out below the
limit it reads with getrlimit and the kernel itself refuses: accept fails
with EMFILE, and the spool files queued passes arrive with MSG_CTRUNC,
their descriptors dropped.  smtpd: each waiting client still gets 421
4.3.2 (through the reserve descriptor), a transaction whose file was lost
gets 451 4.3.2 at DATA and the session goes on, queued removes the lost
files, a reload whose listening socket is lost keeps the old
configuration, and nothing exits.  deliverd: a job whose spool file is
lost is deferred, and tried again.  At start, a lost listening socket is
fatal, and says why."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from crowd import Crowd, raise_nofile  # noqa: E402
from relaytest import (DEFAULT_TENANT, Relayd, Tap, free_port,  # noqa: E402
                       need_root, send_message, spool_spares, wait_for)
from sink import Sink  # noqa: E402

N = 300
ROUNDS = 4          # transactions per held session, each asking a file
ROOM = 40           # descriptors smtpd has free

tap = Tap()
need_root(tap)
raise_nofile(N + 512)
sink_port = free_port("127.0.0.20")
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.20:%d" % sink_port)
r = Relayd(tap, tenants={"acme.yaml": TENANT},
           limits="max_connections: 1000\n"
                  "max_connections_per_client: 1000\n",
           queue="retry_min: 1s\nretry_max: 2s\n")
sink = Sink("127.0.0.20", sink_port)
crowd = None


def since(mark):
    return r.log()[mark:]


def try_send(subject):
    try:
        code, text = send_message(r.port, "a@sender.example",
                                  ["bob@acme.example"],
                                  b"Subject: " + subject +
                                  b"\r\n\r\nhello\r\n")
    except OSError:
        return False
    return code == 250


try:
    tap.ok(r.start(debug=True, env={"RELAYD_FDS_FULL": "smtpd:%d" % ROOM}),
           "relayd starts, smtpd with %d descriptors free" % ROOM)
    kids = r.children()

    crowd = Crowd(r.port)
    crowd.open(N)
    tap.ok(crowd.step(crowd.conns, b"", 1, 120),
           "each of %d connections got an answer" % N)
    greeted = [c for c in crowd.conns
               if c.replies and c.replies[0][0] == 220]
    refused = [c for c in crowd.conns if c.replies and
               re.match(r"421 4\.3\.2 ", c.replies[0][1])]
    tap.eq(len(greeted) + len(refused), N,
           "220, or 421 4.3.2 through the reserve descriptor: %d and %d" %
           (len(greeted), len(refused)))
    tap.ok(len(refused) > 0 and len(greeted) > 0, "accept ran out")
    tap.like(r.log(), r"smtpd: out of descriptors \(Too many open files\)",
             "the episode is logged")
    crowd.step(refused, b"", 1, 30)
    tap.ok(all(c.eof for c in refused), "the refused ones were closed")

    # smtpd's table is full: the listening socket of a reload is lost.
    mark = len(r.log())
    rc, out, err = r.ctl("reload")
    tap.ok(rc not in (0, None), "relayctl reload fails")
    tap.like(out + err, r"smtpd kept its previous configuration",
             "and says smtpd kept its configuration")
    tap.like(since(mark), r"smtpd: configuration 2 not applied: a "
             r"listening socket was lost in transit",
             "smtpd logs why")

    # Each held session asks queued for files it cannot receive.
    ok = crowd.step(greeted, b"EHLO crowd.example\r\n", 1, 60)
    data_codes = []
    for k in range(ROUNDS):
        ok = ok and crowd.step(greeted, b"MAIL FROM:<a@sender.example>\r\n"
                               b"RCPT TO:<bob@acme.example>\r\n", 2, 60)
        ok = ok and crowd.step(greeted, b"DATA\r\n", 1, 60)
        took = [c for c in greeted if c.replies[-1][0] == 354]
        data_codes += [c.replies[-1][1][:9] for c in greeted]
        ok = ok and crowd.step(took, b"Subject: %d\r\n\r\nbody\r\n.\r\n" %
                               k, 1, 60)
        ok = ok and all(c.replies[-1][0] == 250 for c in took)
        ok = ok and crowd.step([c for c in greeted if c not in took],
                               b"RSET\r\n", 1, 60)
    tap.ok(ok, "every command answered: 250 to MAIL, RCPT and the "
           "messages that had a file")
    lost = [x for x in data_codes if x == "451 4.3.2"]
    tap.ok(len(lost) > 16 + 64 and all(x in ("354 End d", "451 4.3.2")
                                       for x in data_codes),
           "DATA: 451 4.3.2 when the file was lost (%d of %d), else 354" %
           (len(lost), len(data_codes)))
    tap.like(r.log(), r"smtpd: msgid=[0-9a-f]{16} from \[127\.0\.0\.1\] "
             r"not queued: 451 4\.3\.2 its spool file was lost in transit",
             "a lost file is logged with its msgid")
    tap.ok(not re.search(r"descriptors lost in transit|Protocol error",
                         r.log()), "no channel failed")
    tap.eq(r.children(), kids, "no child has exited")

    crowd.close()
    tap.ok(r.wait_log(r"smtpd: descriptors available again", 30),
           "once the crowd left, the episode's end is logged")
    # Lost files go back to queued: no more than smtpd's spares and
    # queued's recycled pool are left empty, though more were lost.
    tap.ok(wait_for(lambda: len(spool_spares(r)) <= 16 + 64, 30),
           "queued removed the files smtpd could not receive (%d empty "
           "files left)" % len(spool_spares(r)))

    tap.ok(wait_for(lambda: try_send(b"again"), 30, 0.5),
           "a new client sends a whole message")
    tap.ok(sink.wait(1 + len([x for x in data_codes if x[:3] == "354"]),
                     60), "every accepted message is delivered")

    tap.ok(r.proc.poll() is None, "relayd is still running")
    tap.eq(r.children(), kids, "with the same children")
    r.stop()

    # deliverd with no descriptor to spare: each job's file is lost.
    delivered = sink.count()
    tap.ok(r.start(debug=True, env={"RELAYD_FDS_FULL": "deliverd:0"}),
           "relayd starts, deliverd without a descriptor free")
    kids = r.children()
    tap.ok(try_send(b"deferred"), "a message is accepted")
    deferred = r"deliverd: msgid=([0-9a-f]{16}) tenant=acme .*status=" \
        r"deferred \(the spool file could not be received"
    tap.ok(r.wait_log(deferred, 30), "its delivery is deferred: the spool "
           "file was lost on the way to deliverd")
    tap.ok(wait_for(lambda: len(re.findall(deferred, since(r.log_mark)))
                    >= 2, 30), "and tried again")
    tap.eq(sink.count(), delivered, "nothing was delivered")
    tap.ok(not re.search(r"Protocol error|a peer had gone", since(r.log_mark)),
           "no channel failed")
    tap.eq(r.children(), kids, "no child has exited")
    r.stop()
    tap.ok(r.start(), "relayd starts without the fault")
    tap.ok(sink.wait(delivered + 1, 60), "the message is delivered")
    r.stop()

    # At start nothing can be kept: a lost listening socket is fatal.
    tap.ok(r.start(debug=True, env={"RELAYD_FDS_FULL": "smtpd:0"},
                   wait=False), "relayd runs, smtpd without a descriptor "
           "free")
    tap.ok(r.wait_exit() not in (0, None), "relayd stops")
    tap.like(since(r.log_mark), r"smtpd: configuration 1: a listening "
             r"socket was lost in transit \(out of descriptors\); cannot "
             r"start", "smtpd says why")
finally:
    if crowd is not None:
        crowd.close()
    sink.close()
    r.cleanup()
tap.done()
