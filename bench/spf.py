#!/usr/bin/env python3
"""SPF checks per second: policyd's evaluator (bench/spf_bench) against a
local unbound serving the records, and from memory (the evaluator alone).
A figure, not a test: nothing is asserted.

The records are those of a typical domain: its MX, two providers'
includes of three levels, ip4 and ip6 networks; the client is in the
last network looked at, so every check evaluates the whole tree (7
terms that query the DNS, 9 look-ups, one of them void).  unbound
caches what it serves; dnsd's own cache is not used, so each check asks
again.

    bench/spf.py [-n CHECKS] [-c CONCURRENT]
"""
import argparse
import os
import subprocess
import sys
import tempfile

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(TOP, "regress", "lib"))
from dnstest import Unbound  # noqa: E402

# name, type, data: the domain, its mail host and two providers.
RECORDS = [
    ("example.bench.", "TXT", "v=spf1 mx a:out.example.bench "
     "include:_spf.mailer.bench include:spf.crm.bench -all"),
    ("example.bench.", "MX", "10 mx.example.bench."),
    ("mx.example.bench.", "A", "203.0.113.25"),
    ("out.example.bench.", "A", "203.0.113.26"),
    ("_spf.mailer.bench.", "TXT", "v=spf1 include:_nb1.mailer.bench "
     "include:_nb2.mailer.bench ~all"),
    ("_nb1.mailer.bench.", "TXT", "v=spf1 ip4:198.51.100.0/26 "
     "ip4:198.51.100.64/26 ip6:2001:db8:10::/48 ip6:2001:db8:11::/48 ~all"),
    ("_nb2.mailer.bench.", "TXT", "v=spf1 ip4:198.51.100.128/26 "
     "ip4:192.0.2.0/27 ip6:2001:db8:12::/48 ~all"),
    ("spf.crm.bench.", "TXT", "v=spf1 exists:%{i}._ip.crm.bench "
     "ip4:192.0.2.128/25 -all"),
]
CLIENT = "192.0.2.200"      # in spf.crm.bench's last network
SENDER = "newsletter@example.bench"


def zone_lines(records):
    out = []
    for name, rtype, data in records:
        if rtype == "TXT":
            # Strings of 255 octets at most, joined by the resolver.
            parts = [data[i:i + 200] for i in range(0, len(data), 200)]
            data = " ".join('"%s"' % p for p in parts)
        out.append("%s 300 IN %s %s" % (name, rtype, data))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("-c", type=int, default=32)
    args = ap.parse_args()
    binary = os.path.join(TOP, "bench", "spf_bench")
    if not os.access(binary, os.X_OK):
        sys.exit("bench/spf.py: run make bench/spf_bench first")
    dns = Unbound({}, auth={"bench.": zone_lines(RECORDS)})
    with tempfile.NamedTemporaryFile("w", suffix=".zone") as zf:
        for name, rtype, data in RECORDS:
            zf.write("%s %s %s\n" % (name.rstrip("."), rtype, data))
        zf.flush()
        try:
            for mode in (["-m", zf.name], ["-s", dns.server, "-c",
                                           str(args.c)]):
                p = subprocess.run([binary, "-n", str(args.n)] + mode +
                                   [CLIENT, SENDER], capture_output=True,
                                   text=True)
                sys.stdout.write(p.stdout)
                if p.returncode != 0:
                    sys.stdout.write(p.stderr)
        finally:
            dns.stop()


main()
