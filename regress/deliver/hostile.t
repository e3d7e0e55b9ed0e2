#!/usr/bin/env python3
"""A hostile next hop: it answers the end of data at once, before reading
the message, and then reads nothing.  Tenant alpha's server is that hop;
tenant beta's is a well-behaved one.  The early answer must not count as
delivery: alpha's message stays queued (deferred, 4.5.0) and nothing of
it is deleted, so its spool file cannot become beta's next message while
our connection to the hop still has the old file to send.  Once the hop
reads again, it must find nothing of beta's there.  Both ways of sending
the body: BDAT (CHUNKING, the file handed to the kernel as it is, or to
TLS) and DATA."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, Relayd, Tap, free_port,  # noqa: E402
                       queue_id, send_message, spool_sizes, split_received,
                       wait_for)
from sink import ALL_EXT, Sink  # noqa: E402

tap = Tap()
SECRET = b"beta-confidential-5f1e0c9a"
NO_CHUNKING = [e for e in ALL_EXT if e != "CHUNKING"]


def wmem_max():
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


# The message must not fit in what the kernel buffers for a socket
# (tcp_wmem's maximum on our side, a small window on the hop's), so that
# part of it is still ours to send when the early answer comes.
LINES = (2 * wmem_max() + (1 << 20)) // 1000
A_BODY = b"Subject: for alpha\r\n\r\n" + (b"a" * 998 + b"\r\n") * LINES


def beta_body(i):
    line = SECRET + b" " + b"b" * (998 - len(SECRET) - 1) + b"\r\n"
    return b"Subject: for beta %d\r\n\r\n" % i + line * (LINES + 100)


def scenario(ext, how, tls=False):
    hostile = Sink("127.0.0.1", free_port(), ext=ext, mode="early",
                   rcvbuf=4096, starttls=tls)
    beta = None
    beta_port = free_port()
    tenants = {
        "alpha.yaml": DEFAULT_TENANT.format(
            name="alpha", domain="alpha.example",
            deliver_to="127.0.0.1:%d" % hostile.port),
        "beta.yaml": DEFAULT_TENANT.format(
            name="beta", domain="beta.example",
            deliver_to="127.0.0.1:%d" % beta_port),
    }
    # Long time-outs: on the old code, the connection to the hop must
    # outlive the beta messages, for the test to show what it would send.
    r = Relayd(tap, tenants=tenants, queue="retry_min: 1h\nretry_max: 1h\n",
               timeouts="command: 60s\ndata: 60s\n")
    try:
        tap.ok(r.start(), "%s: relayd starts" % how)
        code, text = send_message(r.port, "a@sender.example",
                                  ["bob@alpha.example"], A_BODY)
        tap.eq(code, 250, "%s: alpha's message (%d KB) is accepted" %
               (how, len(A_BODY) >> 10))
        a_id = queue_id(text)
        tap.ok(wait_for(lambda: hostile.early >= 1, 30),
               "%s: the hostile hop answered before reading the message" %
               how)
        tap.ok(r.wait_log(r"msgid=%s tenant=alpha .* status=" % a_id, 30),
               "%s: deliverd has a result for it" % how)
        # Where the old code took alpha's message for delivered, its file
        # is recycled (gone under its name): give that the time it takes.
        wait_for(lambda: a_id not in spool_sizes(r), 3)
        # Beta's server is down for now, so that beta's messages stay in
        # the spool while the hop reads.
        b_ids = []
        for i in range(3):
            code, text = send_message(r.port, "a@sender.example",
                                      ["carol@beta.example"], beta_body(i))
            b_ids.append(queue_id(text))
        tap.eq(len([b for b in b_ids if b]), 3, "%s: beta's three messages "
               "are accepted" % how)
        tap.ok(all(r.wait_log(r"msgid=%s tenant=beta .* status=deferred" %
                              b, 30) for b in b_ids),
               "%s: and wait in the queue" % how)
        # Now the hop reads everything we send it, to the end.
        hostile.release()
        tap.ok(wait_for(lambda: hostile.active == 0, 60),
               "%s: the hostile hop has read its connection to the end" %
               how)
        got = hostile.received()
        tap.ok(SECRET not in got, "%s: nothing of beta's reached alpha's "
               "hop (%d KB read)" % (how, len(got) >> 10))
        tap.ok(r.wait_log(r"msgid=%s tenant=alpha .* dsn=4\.5\.0 "
                          r"status=deferred \(protocol error: the next hop "
                          r"answered before the message was sent" % a_id),
               "%s: alpha's message is deferred as a protocol error" % how)
        tap.ok(any(l.startswith(a_id) for l in r.ctl("show", "queue")[1]
                   .splitlines()), "%s: and is still queued" % how)
        # Both servers behave: nothing is lost.
        hostile.mode = "normal"
        beta = Sink("127.0.0.1", beta_port)
        rc, out, err = r.ctl("queue", "flush", "all")
        tap.eq(rc, 0, "%s: the queue is flushed" % how)
        tap.ok(hostile.wait(1, 60), "%s: alpha's message is delivered when "
               "the hop behaves" % how)
        tap.ok(hostile.messages and
               split_received(hostile.messages[0].data)[1] == A_BODY,
               "%s: intact" % how)
        if tls:
            tap.ok(hostile.messages and hostile.messages[0].tls,
                   "%s: over TLS" % how)
        tap.ok(beta.wait(3, 60), "%s: beta's messages reach beta's own "
               "server" % how)
        tap.eq(sorted(split_received(m.data)[1] for m in beta.messages),
               sorted(beta_body(i) for i in range(3)),
               "%s: intact" % how)
        tap.ok(wait_for(lambda: r.ctl("show", "queue")[1].strip()
                        .count("\n") == 0, 15), "%s: the queue is empty" %
               how)
    finally:
        hostile.close()
        if beta is not None:
            beta.close()
        r.cleanup()


scenario(ALL_EXT, "BDAT")
scenario(ALL_EXT, "BDAT over TLS", tls=True)
scenario(NO_CHUNKING, "DATA")
tap.done()
