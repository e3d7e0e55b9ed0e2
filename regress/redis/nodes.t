#!/usr/bin/env python3
"""Three relayd nodes (127.0.0.1, .2 and .3, each with its own port and
state) share their policy state in Redis: a primary, a replica and three
sentinels, all on loopback.  A triplet greylisted at node 1 passes at
node 2 after the delay; a tenant's daily volume is reached across the
nodes, not per node; the primary is killed, the sentinels promote the
replica, and the nodes follow it without losing a verdict (a triplet
greylisted before passes after, at a third node); with every Redis
process stopped, the nodes keep accepting and delivering mail on their
local stores, and say so."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld  # noqa: E402
from relaytest import (Relayd, SMTPClient, Tap, dot_stuff,  # noqa: E402
                       free_port, need_root, wait_for)
import redisworld as rw  # noqa: E402

DELAY = 2
TENANTS = {
    "grey": "policy:\n  greylist:\n    enabled: true\n    delay: %ds\n"
            "    window: 600s\n" % DELAY,
    "vol": "limits:\n  daily_messages: 3\n",
    "plain": "",
}


def rcpt(host, port, src, sender, to, body=None):
    """The RCPT reply code (and the end of DATA's, with a body)."""
    try:
        c = SMTPClient(port, host=host, source=src, timeout=30)
    except OSError as e:
        return (None, str(e)), None
    try:
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<%s>" % sender)
        r = c.cmd("RCPT TO:<%s>" % to)
        end = None
        if body is not None and r[0] == 250:
            if c.cmd("DATA")[0] == 354:
                c.send(dot_stuff(body) + b".\r\n")
                end = c.reply()
        else:
            c.cmd("RSET")
        c.cmd("QUIT")
        return r, end
    except OSError as e:
        return (None, str(e)), None
    finally:
        c.close()


def main():
    t = Tap()
    need_root(t)
    if not rw.have_redis():
        t.skip_all("redis-server or redis-sentinel is not installed")
    primary = rw.RedisServer()
    procs = [primary]
    nodes = []
    w = None
    try:
        if not t.ok(primary.start(), "the Redis primary starts"):
            t.done()
        replica = rw.RedisServer(replica_of=primary.port)
        procs.append(replica)
        t.ok(replica.start(), "the replica starts")
        sentinels = [rw.Sentinel(primary.port) for i in range(3)]
        procs += sentinels
        t.ok(all(s.start() for s in sentinels), "three sentinels start")
        t.ok(wait_for(lambda: all(s.primary() == primary.port
                                  for s in sentinels), 20),
             "the sentinels name the primary")
        pdir = primary.dir
        store = rw.store_yaml(
            ["127.0.0.1:%d" % primary.port, "127.0.0.1:%d" % replica.port],
            sentinels=["127.0.0.1:%d" % s.port for s in sentinels],
            password_file=rw.password_file(pdir))
        w = PolicyWorld(t, TENANTS, main_extra=store)
        nodes = [(w.r, "127.0.0.1", w.port)]
        files = {n + ".yaml": w.tenant_text(n, x) for n, x in
                 TENANTS.items()}
        for k in (2, 3):
            host = "127.0.0.%d" % k
            port = free_port(host)
            r = Relayd(t, tenants=files, dns=w.dns.server,
                       main_extra=store,
                       listen=[("%s:%d" % (host, port), "mx", "0s")],
                       timeouts="command: 30s\ndata: 30s\n")
            nodes.append((r, host, port))
        for k, (r, host, port) in enumerate(nodes, 1):
            with open(r.conf) as f:
                text = f.read()
            with open(r.conf, "w") as f:
                f.write(text.replace("hostname: relay.test.example",
                                     "hostname: node%d.test.example" % k))
        for k, (r, host, port) in enumerate(nodes, 1):
            t.ok(r.start(), "node %d starts" % k) or t.done()
        for k, (r, host, port) in enumerate(nodes, 1):
            t.ok(r.wait_log(r"policy store: redis primary 127\.0\.0\.1:%d"
                            % primary.port, 20),
                 "node %d found the primary through the sentinels" % k)
        run(t, w, nodes, primary, replica, sentinels)
    finally:
        for r, host, port in nodes[1:]:
            r.cleanup()
        if w is not None:
            w.stop()
        for p in procs:
            p.stop()
    t.done()


def run(t, w, nodes, primary, replica, sentinels):
    (r1, h1, p1), (r2, h2, p2), (r3, h3, p3) = nodes
    src = "127.0.1.7"

    # Greylisting: one triplet, two nodes.
    rep, _ = rcpt(h1, p1, src, "a@good.snd.test", "x@grey.example")
    t.eq(rep[0], 451, "node 1 greylists a new triplet") or t.diag(rep)
    rep, _ = rcpt(h2, p2, src, "a@good.snd.test", "x@grey.example")
    t.eq(rep[0], 451, "node 2 knows it: too early there too") or t.diag(rep)
    time.sleep(DELAY + 1)
    rep, _ = rcpt(h2, p2, src, "a@good.snd.test", "x@grey.example")
    t.eq(rep[0], 250, "after the delay it passes at node 2, where it was "
         "never seen first") or t.diag(rep)

    # The daily volume, counted across nodes.
    body = b"Subject: volume\r\n\r\nhello\r\n"
    got = []
    for (h, p) in ((h1, p1), (h2, p2), (h1, p1)):
        rep, end = rcpt(h, p, "127.0.2.7", "v@good.snd.test",
                        "y@vol.example", body)
        got.append(end[0] if end else rep[0])
    t.eq(got, [250, 250, 250], "three messages for the tenant, through "
         "nodes 1, 2, 1")
    rep, _ = rcpt(h3, p3, "127.0.2.7", "v@good.snd.test", "y@vol.example")
    t.eq(rep[0], 450, "node 3, which accepted none, refuses the fourth: "
         "the limit is the tenant's, not the node's") or t.diag(rep)
    t.ok(r3.wait_log(r"check=daily-volume.*today=3 messages", 5),
         "node 3's log shows the nodes' total")

    rc, out, err = r2.ctl("show", "status")
    t.like(out, r"store=redis primary=127\.0\.0\.1:%d latency=[0-9.]+ms "
           r"tenants=same" % primary.port,
           "show status: the store, its primary, latency, same tenants") \
        or t.diag(out)

    # Before the failover: a triplet greylisted at node 1 (and replicated).
    rep, _ = rcpt(h1, p1, src, "b@good.snd.test", "z@grey.example")
    t.eq(rep[0], 451, "node 1 greylists another triplet")
    t.ok(wait_for(lambda: b"greylist" in rw.command(
        replica.port, "KEYS", "relayd-test:greylist:*"), 10),
        "the replica has the greylist entries")
    primary.kill()
    t.ok(wait_for(lambda: all(s.primary() == replica.port
                              for s in sentinels), 40),
         "the sentinels promote the replica")
    for k, (r, h, p) in enumerate(nodes, 1):
        t.ok(r.wait_log(r"policy store: redis primary 127\.0\.0\.1:%d again"
                        % replica.port, 40),
             "node %d follows the new primary" % k)
    time.sleep(DELAY + 1)
    rep, _ = rcpt(h3, p3, src, "b@good.snd.test", "z@grey.example")
    t.eq(rep[0], 250, "the triplet greylisted before the failover passes "
         "at node 3: no verdict lost") or t.diag(rep)

    # Every Redis process gone: the local stores.
    for s in sentinels:
        s.kill()
    replica.kill()
    for k, (r, h, p) in enumerate(nodes, 1):
        t.ok(r.wait_log(r"policy store: redis primary lost, using the "
                        r"local store", 30),
             "node %d says it uses its local store" % k)
    n0 = len(w.sink.messages)
    ends = []
    for k, (r, h, p) in enumerate(nodes, 1):
        rep, end = rcpt(h, p, "127.0.3.7", "c@good.snd.test",
                        "n%d@plain.example" % k,
                        b"Subject: outage %d\r\n\r\nstill here\r\n" % k)
        ends.append(end[0] if end else rep)
    t.eq(ends, [250, 250, 250], "each node accepts mail without Redis")
    t.ok(w.delivered(n0 + 3, 30), "and delivers it")
    rep, _ = rcpt(h2, p2, "127.0.3.7", "d@good.snd.test", "q@grey.example")
    t.eq(rep[0], 451, "without Redis a new triplet is still greylisted: "
         "never fail open")
    rc, out, err = r1.ctl("show", "status")
    t.like(out, r"store=redis primary=none", "show status: no primary") or \
        t.diag(out)


main()
