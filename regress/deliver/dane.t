#!/usr/bin/env python3
"""DANE (RFC 7672): outbound mail to MX hosts with TLSA records, through a
validating resolver on loopback (two unbound: one serves a zone signed in
the test, the other validates it with a trust anchor).

A certificate that matches the TLSA records (DANE-EE 3 1 1, DANE-TA
2 0 1) is delivered to, logged verified=dane; one that does not, or a
host that does not offer STARTTLS, is never delivered to: the next host,
then a deferral with 4.7.5.  Without TLSA records, or in a zone that is
not signed, TLS is as before (verified=none).  With dns.dnssec off, the
AD bit counts for nothing.

The partial cases of RFC 7672 2.2: a secure MX whose address answer is
insecure (a CNAME into an unsigned zone) and an insecure MX naming a host
with secure TLSA records both leave DANE out (the second is a MAY of 2.2.1
relayd does not take: only a secure MX's hosts are asked for TLSA); a
TLSA look-up that fails (a name server that never answers) makes the host
unusable: deferred with 4.7.5, never delivered in plain text."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, free_port, need_root, wait_for  # noqa: E402
from secure import SignedDNS, TestCA, tlsa_cert, tlsa_spki  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)
port = free_port()
ca = TestCA()
good = ca.issue("mx1.dane.test")
bad = ca.issue("mx2.dane.test")
ta = ca.issue("mx4.dane.test", chain=True)
WRONG = "00" * 32
SIGNED = {"dane.test.": [
    # A matching DANE-EE record.
    "good.dane.test. 300 IN MX 10 mx1.dane.test.",
    "mx1.dane.test. 300 IN A 127.0.0.2",
    "_%d._tcp.mx1.dane.test. 300 IN TLSA 3 1 1 %s" % (port,
                                                      tlsa_spki(good[0])),
    # A certificate that matches none of the records.
    "bad.dane.test. 300 IN MX 10 mx2.dane.test.",
    "mx2.dane.test. 300 IN A 127.0.0.3",
    "_%d._tcp.mx2.dane.test. 300 IN TLSA 3 1 1 %s" % (port, WRONG),
    # TLSA records, and no STARTTLS.
    "notls.dane.test. 300 IN MX 10 mx3.dane.test.",
    "mx3.dane.test. 300 IN A 127.0.0.4",
    "_%d._tcp.mx3.dane.test. 300 IN TLSA 3 1 1 %s" % (port,
                                                      tlsa_spki(good[0])),
    # DANE-TA: our CA's certificate, sent in the chain.
    "ta.dane.test. 300 IN MX 10 mx4.dane.test.",
    "mx4.dane.test. 300 IN A 127.0.0.5",
    "_%d._tcp.mx4.dane.test. 300 IN TLSA 2 0 1 %s" % (port,
                                                      tlsa_cert(ca.crt)),
    # No TLSA records (securely): TLS as before.
    "nodane.dane.test. 300 IN MX 10 mx5.dane.test.",
    "mx5.dane.test. 300 IN A 127.0.0.6",
    # The first MX does not match: the second, which does, gets it.
    "two.dane.test. 300 IN MX 10 mx2.dane.test.",
    "two.dane.test. 300 IN MX 20 mx1.dane.test.",
    # A secure MX and TLSA, the address insecure (a CNAME out of the
    # signed zone): no DANE, so the mismatch does not count.
    "cname.dane.test. 300 IN MX 10 mx6.dane.test.",
    "mx6.dane.test. 300 IN CNAME host6.plain.test.",
    "_%d._tcp.mx6.dane.test. 300 IN TLSA 3 1 1 %s" % (port, WRONG),
    # Secure TLSA records for the MX host of an unsigned domain.
    "mx7.dane.test. 300 IN A 127.0.0.11",
    "_%d._tcp.mx7.dane.test. 300 IN TLSA 3 1 1 %s" % (port, WRONG),
    # A TLSA look-up that fails: its name's server never answers.  The
    # records exist, and match: only the failure can keep the mail back.
    "fail.dane.test. 300 IN MX 10 mx8.dane.test.",
    "mx8.dane.test. 300 IN A 127.0.0.12",
    "_%d._tcp.mx8.dane.test. 300 IN TLSA 3 1 1 %s" % (port,
                                                      tlsa_spki(good[0])),
]}
PLAIN = {"plain.test.": [
    # An unsigned zone: its TLSA records mean nothing.
    "plain.test. 300 IN MX 10 mx.plain.test.",
    "mx.plain.test. 300 IN A 127.0.0.7",
    "_%d._tcp.mx.plain.test. 300 IN TLSA 3 1 1 %s" % (port, WRONG),
    "host6.plain.test. 300 IN A 127.0.0.10",
    # An unsigned domain whose MX host has secure TLSA records.
    "insecure.plain.test. 300 IN MX 10 mx7.dane.test.",
]}
SILENT = ["_%d._tcp.mx8.dane.test." % port]
dns = SignedDNS(SIGNED, plain=PLAIN, silent=SILENT)
w = World(tap, port=port, dns=dns,
          queue="retry_min: 1s\nretry_max: 2s\n", dns_opts="dnssec: true")


def start(world):
    """relayd, with dns.dnssec; a relayd without the key (before DANE)
    runs without it, so that what it does with the mail shows."""
    if world.start():
        return True
    if re.search(r'unknown key "dnssec"', world.r.log()):
        tap.diag("this relayd has no dns.dnssec: running without it")
        world.r.stop()
        world.r.dns_opts = ""
        world.r.write_main()
        return world.start()
    return False


def line(rcpt):
    m = re.search(r"to=<%s> .*" % re.escape(rcpt), w.r.log())
    return m.group(0) if m else ""


try:
    s_good = w.sink("127.0.0.2", starttls=True, cert=good)
    s_bad = w.sink("127.0.0.3", starttls=True, cert=bad)
    s_notls = w.sink("127.0.0.4")
    s_ta = w.sink("127.0.0.5", starttls=True, cert=ta)
    s_none = w.sink("127.0.0.6", starttls=True)
    s_plain = w.sink("127.0.0.7", starttls=True)
    s_cname = w.sink("127.0.0.10", starttls=True, cert=bad)
    s_insec = w.sink("127.0.0.11", starttls=True, cert=bad)
    s_fail = w.sink("127.0.0.12", starttls=True, cert=good)
    tap.ok(start(w), "relayd starts with dns.dnssec on")
    tap.ok(w.log_has(r"dnsd: dns servers .*DNSSEC \(AD bit trusted\)"),
           "dnsd trusts the AD bit of its resolver on loopback")

    for rcpt in ("a@good.dane.test", "b@bad.dane.test", "c@notls.dane.test",
                 "d@ta.dane.test", "e@nodane.dane.test", "f@plain.test",
                 "g@two.dane.test", "h@cname.dane.test",
                 "i@insecure.plain.test", "j@fail.dane.test"):
        code, _ = w.send("alice@acme.example", [rcpt], inside=True)
        tap.eq(code, 250, "mail for %s accepted" % rcpt)

    tap.ok(s_good.wait(1), "a matching DANE-EE certificate: delivered")
    tap.ok(s_good.messages and s_good.messages[0].tls, "over TLS")
    tap.ok(w.log_has(r"to=<a@good\.dane\.test> relay=mx1\.dane\.test.* "
                     r"status=sent .* tls=TLSv1\.[23] verified=dane"),
           "logged tls= and verified=dane")

    tap.ok(w.log_has(r"to=<b@bad\.dane\.test> .*dsn=4\.7\.5 "
                     r"status=deferred .*does not match the TLSA records",
                     20), "a certificate matching no TLSA record: deferred "
           "with 4.7.5")
    tap.ok(w.log_has(r"relay=mx2\.dane\.test\[127\.0\.0\.3\]:\d+: DANE: "
                     r"the certificate does not match"),
           "and the mismatch is logged")

    tap.ok(w.log_has(r"to=<c@notls\.dane\.test> .*dsn=4\.7\.5 "
                     r"status=deferred .*does not offer STARTTLS", 20),
           "TLSA records and no STARTTLS: deferred with 4.7.5")

    tap.ok(s_ta.wait(1), "DANE-TA 2 0 1 with the CA in the chain: delivered")
    tap.ok(w.log_has(r"to=<d@ta\.dane\.test> .*status=sent .* "
                     r"verified=dane"), "verified=dane")

    tap.ok(s_none.wait(1), "no TLSA records: delivered as before")
    tap.ok(w.log_has(r"to=<e@nodane\.dane\.test> .*status=sent .* "
                     r"tls=TLSv1\.[23] verified=none"),
           "opportunistic TLS, verified=none")

    tap.ok(s_plain.wait(1), "TLSA records in an unsigned zone: ignored, "
           "delivered")
    tap.ok(w.log_has(r"to=<f@plain\.test> .*status=sent .* verified=none"),
           "verified=none")

    tap.ok(w.log_has(r"to=<g@two\.dane\.test> relay=mx1\.dane\.test.* "
                     r"status=sent .* verified=dane", 20),
           "the first MX does not match: the second one, which does, gets it")

    tap.ok(s_cname.wait(1), "a secure MX whose address answer is insecure: "
           "no DANE, delivered")
    tap.ok(w.log_has(r"to=<h@cname\.dane\.test> relay=mx6\.dane\.test.* "
                     r"status=sent .* verified=none"), "verified=none")

    tap.ok(s_insec.wait(1), "an insecure MX naming a host with secure TLSA "
           "records: no DANE, delivered")
    tap.ok(w.log_has(r"to=<i@insecure\.plain\.test> .*status=sent .* "
                     r"verified=none"), "verified=none")

    tap.ok(w.log_has(r"relay=mx8\.dane\.test\[127\.0\.0\.12\]:\d+: DANE: "
                     r"the TLSA look-up for mx8\.dane\.test failed", 30),
           "a TLSA look-up that fails: the host is not used, and that is "
           "logged")
    tap.ok(w.log_has(r"to=<j@fail\.dane\.test> .*dsn=4\.7\.5 "
                     r"status=deferred", 30), "deferred with 4.7.5")

    # A retry later: still never to the mismatching host, nor in clear.
    time.sleep(3)
    tap.eq(s_bad.count(), 0, "nothing was ever delivered to the host whose "
           "certificate does not match")
    tap.eq(s_notls.count(), 0, "nor in plain text to the host without "
           "STARTTLS")
    tap.ok(len(re.findall(r"to=<b@bad\.dane\.test> .*status=deferred",
                          w.r.log())) >= 2, "and the retries defer too")
    tap.eq(s_good.count(), 2, "the matching host has its two messages")
    tap.eq(s_fail.count(), 0, "the host whose TLSA look-up fails never got "
           "mail, in plain text or otherwise")
    tap.ok(wait_for(lambda: len(re.findall(
        r"to=<j@fail\.dane\.test> .*status=deferred", w.r.log())) >= 2, 30),
        "and its retries defer too")
finally:
    w.stop()

# dns.dnssec off: the same answers, the AD bit trusted by nobody.
dns = SignedDNS(SIGNED, plain=PLAIN)
w = World(tap, port=port, dns=dns, queue="retry_min: 1s\nretry_max: 2s\n",
          dns_opts="dnssec: false")
try:
    s_bad = w.sink("127.0.0.3", starttls=True, cert=bad)
    tap.ok(start(w), "relayd starts with dns.dnssec off")
    code, _ = w.send("alice@acme.example", ["b@bad.dane.test"], inside=True)
    tap.eq(code, 250, "mail for the mismatching host accepted")
    tap.ok(s_bad.wait(1), "without dns.dnssec, no DANE: delivered as before")
    tap.ok(w.log_has(r"to=<b@bad\.dane\.test> .*status=sent .* "
                     r"verified=none"), "verified=none")
finally:
    w.stop()
    ca.close()
tap.done()
