#!/usr/bin/env python3
"""Slow and abusive clients.  Hundreds of connections send one byte a
second (slowloris), others never send, others flood commands without
reading the replies, all from other 127.0.0.0/8 addresses than the
well-behaved client's.  relayd keeps serving that client throughout, and
smtpd's memory stays bounded."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, Relayd, Tap, send_message,  # noqa: E402
                       wait_for)

tap = Tap()
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")
SLOW, SILENT, FLOOD = 300, 100, 20
r = Relayd(tap, tenants={"acme.yaml": TENANT},
           limits="max_connections: 2000\nmax_connections_per_client: 50\n")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def addr(i):
    return "127.0.1.%d" % (1 + i // 40)   # 40 per address, under the limit


stop = threading.Event()
socks = []
flooded = []
try:
    # AddressSanitizer keeps freed memory in quarantine (256 MB unless
    # told): keep it small, so that RSS still shows what smtpd holds.
    env = {}
    if os.environ.get("SANITIZE") == "1":
        env["ASAN_OPTIONS"] = "detect_leaks=0:quarantine_size_mb=4"
    tap.ok(r.start(env=env), "relayd starts")
    smtpd = r.children()["smtpd"]
    before = rss_kb(smtpd)

    for i in range(SLOW + SILENT):
        s = socket.socket()
        s.bind((addr(i), 0))
        s.connect(("127.0.0.1", r.port))
        s.setblocking(False)
        socks.append(s)
    slow = socks[:SLOW]

    def slowloris():
        msg = b"EHLO slow.example\r\n"
        k = 0
        while not stop.is_set():
            for s in slow:
                try:
                    s.send(msg[k % len(msg):k % len(msg) + 1])
                except OSError:
                    pass
            k += 1
            stop.wait(1)

    def flood(i):
        s = socket.socket()
        s.bind(("127.0.2.%d" % (1 + i), 0))
        s.connect(("127.0.0.1", r.port))
        s.settimeout(2)
        # After EHLO pipelining is allowed, so only back-pressure stops
        # it (without EHLO the error limit ends it with 421 at once).
        s.sendall(b"EHLO flood.example\r\n")
        data = b"NOOP\r\n" * 10000
        sent = 0
        try:
            while not stop.is_set():
                try:
                    sent += s.send(data)   # never reads a reply
                except socket.timeout:
                    # relayd stopped reading: it waits for us to read.
                    flooded.append(sent)
                    stop.wait(0.5)
        except OSError:
            pass
        finally:
            s.close()

    threads = [threading.Thread(target=slowloris)]
    threads += [threading.Thread(target=flood, args=(i,))
                for i in range(FLOOD)]
    for t in threads:
        t.start()
    time.sleep(2)
    lat = []
    for i in range(10):
        t0 = time.time()
        code, text = send_message(r.port, "a@sender.example",
                                  ["bob@acme.example"],
                                  b"Subject: %d\r\n\r\nstill here\r\n" % i)
        lat.append(time.time() - t0)
        if code != 250:
            tap.diag("message %d: %r" % (i, text))
            break
        time.sleep(0.3)
    tap.eq(len(lat), 10, "the well-behaved client is served throughout")
    tap.ok(max(lat) < 2.0, "each of its transactions took under 2 s "
           "(slowest %.3f s)" % max(lat))
    tap.ok(wait_for(lambda: len(flooded) >= FLOOD, 10),
           "the floods were stopped by back-pressure, not served without "
           "end")
    during = rss_kb(smtpd)
    tap.diag("smtpd RSS: %d kB before, %d kB with %d connections" %
             (before, during, SLOW + SILENT + FLOOD))
    tap.ok(during - before < 64 * 1024, "smtpd's memory stays bounded "
           "(+%d kB)" % (during - before))
    rc, out, err = r.ctl("show", "status")
    tap.like(out, r"smtpd .*running, \d+ sessions", "show status answers")
    tap.ok(r.proc.poll() is None, "relayd is still running")
finally:
    stop.set()
    for s in socks:
        s.close()
    r.cleanup()
tap.done()
