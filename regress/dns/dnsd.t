#!/usr/bin/env python3
"""dnsd: answers are cached no longer than dns.max_ttl, negative answers
for the SOA's negative TTL under the same cap, failures not at all; the
client's forward-confirmed reverse name goes into the Received: field;
a reload with other servers makes a new channel that uses them, and so
does a reload with other dns.tries and dns.timeout, which then apply."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from dnstest import Unbound  # noqa: E402
from relaytest import Tap, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
REVERSE = {"127.in-addr.arpa.": [
    "1.0.0.127.in-addr.arpa. 300 IN PTR client.remote.test.",
    "9.0.0.127.in-addr.arpa. 300 IN PTR liar.remote.test.",
], "remote.test.": [
    "client.remote.test. 300 IN A 127.0.0.1",
    "liar.remote.test. 300 IN A 192.0.2.77",
]}


def deliver(w, sink, rcpt, n):
    w.send("a@acme.example", [rcpt], inside=True)
    return sink.wait(n, 10)


# max_ttl 2s: a 300s record is asked for again after 2s.
w = World(tap, dns_extra=REVERSE, dns_opts="max_ttl: 2s\n",
          queue="retry_min: 1s\nretry_max: 1s\n")
try:
    mx = w.sink("127.0.0.2")
    mx.close_after = 1      # no connection reuse: every delivery resolves
    tap.ok(w.start(), "relayd starts with max_ttl 2s")
    tap.ok(deliver(w, mx, "a@remote.test", 1), "first delivery")
    tap.ok(deliver(w, mx, "b@remote.test", 2), "second delivery at once")
    tap.eq(w.dns.queries("remote.test", "MX"), 1,
           "the MX answer came from the cache the second time")
    time.sleep(2.5)
    tap.ok(deliver(w, mx, "c@remote.test", 3), "third delivery, 2.5s later")
    tap.eq(w.dns.queries("remote.test", "MX"), 2,
           "the 300s record was asked for again after max_ttl (2s)")

    # Negative answers: cached (SOA negative TTL 60, capped at 2s).
    w.send("a@acme.example", ["x@gone.remote.test"], inside=True)
    tap.ok(w.log_has(r"to=<x@gone\.remote\.test> .*dsn=5\.1\.2"),
           "NXDOMAIN: 5.1.2")
    w.send("a@acme.example", ["y@gone.remote.test"], inside=True)
    tap.ok(w.log_has(r"to=<y@gone\.remote\.test> .*dsn=5\.1\.2"),
           "again")
    tap.eq(w.dns.queries("gone.remote.test", "MX"), 1,
           "the NXDOMAIN was cached")
    time.sleep(2.5)
    w.send("a@acme.example", ["z@gone.remote.test"], inside=True)
    tap.ok(w.log_has(r"to=<z@gone\.remote\.test> .*dsn=5\.1\.2"), "later")
    tap.eq(w.dns.queries("gone.remote.test", "MX"), 2,
           "and asked again once max_ttl capped it")

    # FCrDNS: 127.0.0.1 confirms as client.remote.test; 127.0.0.9 lies.
    tenant = w.sink(w.tenant_addr)
    w.send("a@sender.test", ["bob@acme.example"])
    w.send("a@acme.example", ["r@remote.test"], inside=True)
    tap.ok(mx.wait(4, 10), "the message from the tenant's network arrives")
    tap.ok(b"Received: from client.example ([127.0.0.9])" in
           mx.messages[3].data, "an unconfirmed reverse name is left out")
    # The tenant also gets the notices about the NXDOMAIN tests above.
    tap.ok(wait_for(lambda: [m for m in tenant.messages
                             if m.sender == "a@sender.test"], 10),
           "the inbound message arrives")
    mine = [m for m in tenant.messages if m.sender == "a@sender.test"]
    tap.ok(mine and b"Received: from client.example (client.remote.test "
           b"[127.0.0.1])" in mine[0].data,
           "a confirmed reverse name is in the Received: field")
finally:
    w.stop()

# A reload with another server list: a new channel, and it is used.
w = World(tap, queue="retry_min: 1s\nretry_max: 1s\n")
other = Unbound({"remote.test.": [
    "elsewhere.remote.test. 300 IN MX 10 mx1.remote.test.",
    "mx1.remote.test. 300 IN A 127.0.0.2"]})
try:
    mx = w.sink("127.0.0.2")
    tap.ok(w.start(), "relayd starts")
    w.r.dns = other.server
    w.r.write_main()
    rc, out, err = w.r.ctl("reload")
    tap.eq(rc, 0, "reload with another DNS server")
    tap.ok(w.log_has(r"dns servers %s, timeout 2s, 1 tries \(a new "
                     r"channel\)" % other.server.replace(".", r"\.")),
           "dnsd makes a new channel for it")
    tap.ok(deliver(w, mx, "e@elsewhere.remote.test", 1),
           "a name only the new server knows resolves")
    tap.eq(other.queries("elsewhere.remote.test", "MX"), 1,
           "through the new server")
finally:
    w.stop()
    other.stop()


class Silent:
    """A name server that counts the queries for each name and answers
    none of them."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.server = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.counts = {}
        self.lock = threading.Lock()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            name, i = [], 12
            while i < len(data) and data[i] != 0:
                name.append(data[i + 1:i + 1 + data[i]].decode("ascii",
                                                               "replace"))
                i += 1 + data[i]
            with self.lock:
                key = ".".join(name).lower()
                self.counts[key] = self.counts.get(key, 0) + 1

    def queries(self, name):
        with self.lock:
            return self.counts.get(name, 0)

    def stop(self):
        self.sock.close()


# dns.tries and dns.timeout change on reload: counted at a silent server.
silent = Silent()
w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n")
try:
    w.r.dns = silent.server
    w.r.dns_opts = ""
    w.r.write_main()
    tap.ok(w.start(), "relayd starts with a name server that never answers")
    w.send("a@acme.example", ["x@one.test"], inside=True)
    tap.ok(w.log_has(r"to=<x@one\.test> .*status=deferred", 20),
           "a look-up with tries 1 gives up")
    tap.eq(silent.queries("one.test"), 1, "after one query")
    w.r.dns_opts = "tries: 3\n"
    w.r.write_main()
    with open(w.r.conf) as f:
        text = f.read().replace("  tries: 1\n", "")
    with open(w.r.conf, "w") as f:
        f.write(text)
    rc, out, err = w.r.ctl("reload")
    tap.eq(rc, 0, "reload with tries 3")
    tap.ok(w.log_has(r"dns servers %s, timeout 2s, 3 tries \(a new "
                     r"channel\)" % silent.server.replace(".", r"\.")),
           "dnsd makes a new channel with the new tries")
    w.send("a@acme.example", ["x@three.test"], inside=True)
    tap.ok(w.log_has(r"to=<x@three\.test> .*status=deferred", 60),
           "the next look-up gives up too")
    tap.eq(silent.queries("three.test"), 3, "after three queries")
finally:
    w.stop()
    silent.stop()
tap.done()
