#!/usr/bin/env python3
"""kill -9 of the whole tree under load: several clients send, relayd's
process group is SIGKILLed at once in the middle, relayd restarts on the
same state (stale lock, control socket and spool files left behind), and
every message that got a 250 reaches the tenant's server.  Duplicates
are allowed only for messages being delivered at the moment of the kill;
they are counted and reported."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, send_message, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
CLIENTS = 6
w = World(tap, queue="retry_min: 1s\nretry_max: 1s\n",
          limits="max_connections_per_client: 100\n")
acked = set()
lock = threading.Lock()
stop = threading.Event()


def client(k):
    i = 0
    while not stop.is_set():
        token = "c%d-%d" % (k, i)
        i += 1
        try:
            code, text = send_message(
                w.r.port, "a@sender.test", ["bob@acme.example"],
                b"Subject: %s\r\n\r\n%s\r\n" % (token.encode(),
                                               token.encode() * 50))
        except OSError:
            continue
        if code == 250:
            with lock:
                acked.add(token)


try:
    tenant = w.sink(w.tenant_addr)
    tap.ok(w.start(), "relayd starts")
    threads = [threading.Thread(target=client, args=(k,))
               for k in range(CLIENTS)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 150, 30)
    kill_time = time.time()
    os.killpg(w.r.proc.pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    w.r.proc.wait()
    delivered_before = tenant.count()
    tap.ok(len(acked) >= 150, "%d messages acknowledged before the kill" %
           len(acked))
    tap.ok(os.path.exists(w.r.sock), "the kill left the control socket")
    w.r.proc = None
    tap.ok(w.start(), "relayd restarts cleanly after kill -9")
    tap.ok(not w.log_has(r"another relayd|cannot|fatal", 0.1),
           "no complaint about the stale lock, socket or store")

    def seen():
        out = {}
        for m in tenant.messages:
            tok = m.data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0]
            out.setdefault(tok.decode(), []).append(m.when)
        return out

    tap.ok(wait_for(lambda: acked <= set(seen()), 30),
           "every acknowledged message reached the tenant's server")
    got = seen()
    missing = acked - set(got)
    if missing:
        tap.diag("missing: %s" % sorted(missing)[:10])
    dups = {t: ts for t, ts in got.items() if len(ts) > 1}
    tap.diag("%d acknowledged, %d delivered before the kill, %d delivered "
             "twice" % (len(acked), delivered_before, len(dups)))
    tap.ok(all(min(ts) <= kill_time + 0.1 for ts in dups.values()),
           "duplicates are only messages delivered as the kill came")
    tap.ok(w.queue_empty(20), "the queue ends empty")
finally:
    stop.set()
    w.stop()
tap.done()
