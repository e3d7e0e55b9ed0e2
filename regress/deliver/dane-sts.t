#!/usr/bin/env python3
"""DANE and MTA-STS together: precedence is decided host by host (RFC 8461
section 2, RFC 7672).  A signed zone (secure.SignedDNS) whose domains
also publish MTA-STS policies, served over HTTPS on loopback (the debug
build's RELAYD_MTA_STS_PORT) and verified with tls.ca_file.

mixed: an enforce policy naming both MX hosts; the preferred one has no
TLSA records and a certificate for another name, the other matching
TLSA records.  The first is refused by MTA-STS (never used unchecked),
the second gets the mail under DANE.
mixed2: the same first host, and a second whose TLSA records it does not
match: nothing is delivered, the mail is deferred with 4.7.5.
both: TLSA records on the MX host and an enforce policy whose mx
patterns do not name it: DANE wins, delivered, verified=dane."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, free_port, need_root, wait_for  # noqa: E402
from secure import PolicyServer, SignedDNS, TestCA, tlsa_spki  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)
port = free_port()
hport = free_port("127.0.0.30")
ca = TestCA()
dane_crt = ca.issue("mxa.ds.test")
wrong = ca.issue("wrong.example")
other = ca.issue("mxc.ds.test")
WRONG = "00" * 32


def sts(domain):
    return ['_mta-sts.%s. 300 IN TXT "v=STSv1; id=1;"' % domain,
            "mta-sts.%s. 300 IN A 127.0.0.30" % domain]


SIGNED = {"ds.test.": [
    "mxa.ds.test. 300 IN A 127.0.0.2",
    "_%d._tcp.mxa.ds.test. 300 IN TLSA 3 1 1 %s" % (port,
                                                     tlsa_spki(dane_crt[0])),
    "mxb.ds.test. 300 IN A 127.0.0.3",
    "mxc.ds.test. 300 IN A 127.0.0.4",
    "_%d._tcp.mxc.ds.test. 300 IN TLSA 3 1 1 %s" % (port, WRONG),
    # TLSA on the second MX only; the first has a wrong-name certificate.
    "mixed.ds.test. 300 IN MX 10 mxb.ds.test.",
    "mixed.ds.test. 300 IN MX 20 mxa.ds.test.",
    # The same first host; the second does not match its TLSA records.
    "mixed2.ds.test. 300 IN MX 10 mxb.ds.test.",
    "mixed2.ds.test. 300 IN MX 20 mxc.ds.test.",
    # TLSA, and a policy that does not name the host.
    "both.ds.test. 300 IN MX 10 mxa.ds.test.",
] + sts("mixed.ds.test") + sts("mixed2.ds.test") + sts("both.ds.test")}


def policy(*mx):
    return ("version: STSv1\r\nmode: enforce\r\n" +
            "".join("mx: %s\r\n" % m for m in mx) + "max_age: 86400\r\n")


POLICIES = {
    "mta-sts.mixed.ds.test": policy("*.ds.test"),
    "mta-sts.mixed2.ds.test": policy("*.ds.test"),
    "mta-sts.both.ds.test": policy("mx.elsewhere.example"),
}
web = ca.issue(*POLICIES.keys())
ENV = {"RELAYD_MTA_STS_PORT": str(hport)}
dns = SignedDNS(SIGNED)
w = World(tap, port=port, dns=dns, queue="retry_min: 1s\nretry_max: 2s\n",
          dns_opts="dnssec: true",
          main_extra="tls:\n  ca_file: %s\n" % ca.crt)


srv = PolicyServer("127.0.0.30", hport, web[0], web[1], POLICIES)
try:
    s_dane = w.sink("127.0.0.2", starttls=True, cert=dane_crt)
    s_wrong = w.sink("127.0.0.3", starttls=True, cert=wrong)
    s_other = w.sink("127.0.0.4", starttls=True, cert=other)
    tap.ok(w.start(debug=True, env=ENV), "relayd starts with dns.dnssec "
           "and tls.ca_file")
    for rcpt in ("a@mixed.ds.test", "b@mixed2.ds.test", "c@both.ds.test"):
        code, _ = w.send("alice@acme.example", [rcpt], inside=True)
        tap.eq(code, 250, "mail for %s accepted" % rcpt)

    tap.ok(w.log_has(r"to=<a@mixed\.ds\.test> relay=mxa\.ds\.test.* "
                     r"status=sent .* verified=dane", 20),
           "mixed: the MX with TLSA records gets the mail, verified=dane")
    tap.ok(w.log_has(r"relay=mxb\.ds\.test\[127\.0\.0\.3\]:\d+: MTA-STS: "
                     r"no valid certificate for mxb\.ds\.test"),
           "the MX without TLSA records got MTA-STS's name check, and "
           "failed it")
    tap.ok(w.log_has(r"to=<b@mixed2\.ds\.test> .*dsn=4\.7\.5 "
                     r"status=deferred", 20),
           "mixed2: neither host proves itself: deferred with 4.7.5")
    tap.ok(w.log_has(r"relay=mxc\.ds\.test\[127\.0\.0\.4\]:\d+: DANE: the "
                     r"certificate does not match"),
           "the MX with TLSA records was checked by DANE")
    tap.ok(w.log_has(r"to=<c@both\.ds\.test> relay=mxa\.ds\.test.* "
                     r"status=sent .* verified=dane", 20),
           "both: TLSA and a policy not naming the host: DANE wins, "
           "delivered")
    tap.ok(w.log_has(r"MTA-STS: policy of both\.ds\.test \(id 1\): mode "
                     r"enforce"), "(the policy was fetched)")

    # A retry later: still never to the wrong-name host.
    time.sleep(3)
    tap.ok(wait_for(lambda: len(re.findall(
        r"to=<b@mixed2\.ds\.test> .*status=deferred", w.r.log())) >= 2, 30),
        "the retries defer too")
    tap.eq(s_wrong.count(), 0, "the host without TLSA and with a wrong-name "
           "certificate never got mail")
    tap.eq(s_other.count(), 0, "nor the host that does not match its TLSA")
    tap.eq(s_dane.count(), 2, "the DANE host has its two messages")
finally:
    w.stop()
    srv.close()
    ca.close()
tap.done()
