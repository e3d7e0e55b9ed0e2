#!/usr/bin/env python3
"""Accept-to-first-attempt and accept-to-delivered latency.

Clients send messages through relayd to a capture sink standing in for
the tenant's server; "accepted" is when the client reads the 250, "first
attempt" is when the sink sees the message's MAIL command, "delivered"
is when the sink answers the final dot.  Prints the median and the 99th
percentile of each.  A figure, not a test: nothing is asserted.

    bench/latency.py [-n MESSAGES] [-c CLIENTS]
"""
import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "regress", "lib"))
from relaytest import Tap, send_message  # noqa: E402
from world import World  # noqa: E402


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-c", type=int, default=4)
    args = ap.parse_args()

    tap = Tap()
    w = World(tap, limits="max_connections_per_client: 1000\n")
    first, done, accepted = {}, {}, {}
    lock = threading.Lock()
    try:
        sink = w.sink(w.tenant_addr)

        def on_mail(arg):
            sender = arg.split("<", 1)[1].split(">", 1)[0]
            with lock:
                first.setdefault(sender, time.time())
            return "250 2.1.0 Ok"

        def on_data(msg):
            with lock:
                done[msg.sender] = time.time()
            return "250 2.0.0 Ok"

        sink.mail_reply = on_mail
        sink.data_reply = on_data
        if not w.start():
            sys.exit("relayd did not start")
        body = b"Subject: bench\r\n\r\n" + b"x" * 2000 + b"\r\n"

        def client(k):
            for i in range(k, args.n, args.c):
                sender = "bench%d@sender.test" % i
                code, text = send_message(w.r.port, sender,
                                          ["bob@acme.example"], body)
                with lock:
                    accepted[sender] = time.time()

        t0 = time.time()
        threads = [threading.Thread(target=client, args=(k,))
                   for k in range(args.c)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sink.wait(args.n, 60)
        elapsed = time.time() - t0
        fa = [(first[s] - accepted[s]) * 1000 for s in accepted
              if s in first]
        ad = [(done[s] - accepted[s]) * 1000 for s in accepted if s in done]
        print("latency: %d messages, %d clients, %.1f s, %d delivered" %
              (args.n, args.c, elapsed, len(ad)))
        print("%-28s %10s %10s" % ("", "median ms", "p99 ms"))
        print("%-28s %10.1f %10.1f" % ("accept to first attempt",
                                       statistics.median(fa), pct(fa, 99)))
        print("%-28s %10.1f %10.1f" % ("accept to delivered",
                                       statistics.median(ad), pct(ad, 99)))
        print("(negative: the attempt began before the client read its "
              "250; queued hands the message over the moment the commit "
              "is durable)")
    finally:
        w.stop()


main()
