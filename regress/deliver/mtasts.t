#!/usr/bin/env python3
"""MTA-STS (RFC 8461): policies fetched over HTTPS from a test server on
loopback (the debug build's RELAYD_MTA_STS_PORT), verified with
tls.ca_file, a CA of the test's own.

enforce: delivered only to an MX host the policy names, with a
certificate valid for its name (verified=mta-sts); an MX not in the
policy, or with a certificate that is not valid, is deferred with 4.7.5.
testing: the same checks, logged, and the mail delivered.  A policy fetch
that times out with nothing cached: no policy.  Policies outlive a
restart (queued stores them): with the policy server gone, the cached
policy still applies; a new id in the TXT record fetches it again, and
a refresh that fails keeps the cached policy."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, free_port, need_root  # noqa: E402
from secure import PolicyServer, TestCA  # noqa: E402
import world  # noqa: E402
from dnstest import Unbound  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)


def zone(name, mx, addr, txt=True):
    recs = ["%s. 300 IN MX 10 %s." % (name, mx),
            "%s. 300 IN A %s" % (mx, addr),
            "mta-sts.%s. 300 IN A %s" % (name, "127.0.0.31" if name ==
                                          "slow.test" else "127.0.0.30")]
    if txt:
        recs.append('_mta-sts.%s. 300 IN TXT "v=STSv1; id=20270101;"' %
                    name)
    return {name + ".": recs}


def policy(mode, *mx):
    return ("version: STSv1\r\nmode: %s\r\n" % mode +
            "".join("mx: %s\r\n" % m for m in mx) + "max_age: 86400\r\n")


ZONES = {}
for args in (("sts.test", "mx1.sts.test", "127.0.0.2"),
             ("other.test", "mx.other.test", "127.0.0.3"),
             ("badcert.test", "mx.badcert.test", "127.0.0.4"),
             ("testing.test", "mx.testing.test", "127.0.0.5"),
             ("slow.test", "mx.slow.test", "127.0.0.6")):
    ZONES.update(zone(*args))
POLICIES = {
    "mta-sts.sts.test": policy("enforce", "mx1.sts.test"),
    "mta-sts.other.test": policy("enforce", "mx9.other.test"),
    "mta-sts.badcert.test": policy("enforce", "*.badcert.test"),
    "mta-sts.testing.test": policy("testing", "*.testing.test"),
}

ca = TestCA()
web = ca.issue(*POLICIES.keys())
slow_cert = ca.issue("mta-sts.slow.test")
mx1 = ca.issue("mx1.sts.test")
hport = free_port("127.0.0.30")
ENV = {"RELAYD_MTA_STS_PORT": str(hport)}
w = World(tap, dns_extra=ZONES, queue="retry_min: 1s\nretry_max: 2s\n",
          main_extra="tls:\n  ca_file: %s\n" % ca.crt)


def start():
    """The debug build, for its port; a relayd without tls.ca_file
    (before MTA-STS) runs without it, so what it does with the mail
    shows."""
    if w.start(debug=True, env=ENV):
        return True
    if re.search(r'unknown key "tls"', w.r.log()):
        tap.diag("this relayd has no tls.ca_file: running without it")
        w.r.stop()
        w.r.main_extra = ""
        w.r.write_main()
        return w.start(debug=True, env=ENV)
    return False


srv = PolicyServer("127.0.0.30", hport, web[0], web[1], POLICIES)
hang = PolicyServer("127.0.0.31", hport, slow_cert[0], slow_cert[1], {},
                    mode="hang")
dns2 = None
try:
    s_sts = w.sink("127.0.0.2", starttls=True, cert=mx1)
    s_other = w.sink("127.0.0.3", starttls=True)
    s_bad = w.sink("127.0.0.4", starttls=True)
    s_testing = w.sink("127.0.0.5", starttls=True)
    s_slow = w.sink("127.0.0.6", starttls=True)
    tap.ok(start(), "relayd starts with tls.ca_file")

    for rcpt in ("a@sts.test", "b@other.test", "c@badcert.test",
                 "d@testing.test", "e@slow.test"):
        code, _ = w.send("alice@acme.example", [rcpt], inside=True)
        tap.eq(code, 250, "mail for %s accepted" % rcpt)

    tap.ok(s_sts.wait(1), "enforce: the named MX with a valid certificate "
           "gets the mail")
    tap.ok(w.log_has(r"MTA-STS: policy of sts\.test \(id 20270101\): mode "
                     r"enforce, 1 mx pattern, max_age 86400s"),
           "the policy was fetched and logged")
    tap.ok(w.log_has(r"to=<a@sts\.test> relay=mx1\.sts\.test.* status=sent "
                     r".* tls=TLSv1\.[23] verified=mta-sts"),
           "logged verified=mta-sts")

    tap.ok(w.log_has(r"to=<b@other\.test> .*dsn=4\.7\.5 status=deferred "
                     r"\(no MX host of other\.test is named by its MTA-STS",
                     20), "enforce: an MX not in the policy is not used, "
           "4.7.5")
    tap.ok(w.log_has(r"MTA-STS: mx\.other\.test, an MX host of other\.test, "
                     r"is not in its policy \(mode enforce\); skipped"),
           "and the log says which host and why")

    tap.ok(w.log_has(r"to=<c@badcert\.test> .*dsn=4\.7\.5 status=deferred "
                     r".*no valid certificate for mx\.badcert\.test", 20),
           "enforce: a certificate not valid for the MX name, 4.7.5")

    tap.ok(s_testing.wait(1), "testing: the mail is delivered all the same")
    tap.ok(w.log_has(r"MTA-STS \(testing\) of testing\.test would refuse "
                     r"this host: no valid certificate"),
           "and what enforce would have refused is logged")
    tap.ok(w.log_has(r"to=<d@testing\.test> .*status=sent .* "
                     r"verified=none"), "verified=none")

    tap.ok(w.log_has(r"MTA-STS: the policy of slow\.test could not be "
                     r"fetched: https://mta-sts\.slow\.test/: timed out; "
                     r"none is applied", 30),
           "a policy fetch that times out, nothing cached: no policy")
    tap.ok(s_slow.wait(1, timeout=30), "and the mail is delivered as "
           "before")

    time.sleep(3)
    tap.eq(s_other.count(), 0, "the MX the policy does not name never got "
           "the mail")
    tap.eq(s_bad.count(), 0, "nor the MX with a bad certificate")
    fetched = srv.count("mta-sts.other.test")
    tap.eq(fetched, 1, "the policy was fetched once, then cached")

    # Restart with the policy server gone: the stored policy holds.
    w.r.stop()
    srv.policies.clear()
    tap.ok(start(), "relayd restarts")
    tap.ok(w.log_has(r"queued: MTA-STS: [45] stored policies"),
           "queued hands back the stored policies")
    code, _ = w.send("alice@acme.example", ["f@other.test"], inside=True)
    tap.eq(code, 250, "mail for other.test accepted after the restart")
    tap.ok(w.log_has(r"to=<f@other\.test> .*dsn=4\.7\.5 status=deferred "
                     r"\(no MX host of other\.test is named", 20),
           "the stored enforce policy still applies")
    tap.eq(srv.count("mta-sts.other.test"), fetched,
           "without a new fetch: the TXT id is the one cached")
    tap.eq(s_other.count(), 0, "the MX not in the policy still has nothing")

    # New ids in the TXT records (another name server, on reload): the
    # policies are fetched again.  sts.test has a new one; other.test's
    # server fails, and its cached policy stays in force.
    zones = {}
    for z, recs in ZONES.items():
        zones[z] = [r.replace("id=20270101", "id=20270202") for r in recs]
    zones.update(world.ZONES)
    dns2 = Unbound(zones)
    srv.policies["mta-sts.sts.test"] = policy("testing", "*.sts.test")
    w.r.dns = dns2.server
    w.r.write_main()
    rc, out, err = w.r.ctl("reload")
    tap.ok(w.log_has(r"configuration 2 is in force in every process"),
           "reloaded with a name server giving new ids")
    for rcpt in ("g@sts.test", "h@other.test"):
        code, _ = w.send("alice@acme.example", [rcpt], inside=True)
        tap.eq(code, 250, "mail for %s accepted" % rcpt)
    tap.ok(w.log_has(r"MTA-STS: policy of sts\.test \(id 20270202\): mode "
                     r"testing", 20), "a new id: the new policy is fetched")
    tap.ok(w.log_has(r"MTA-STS: the policy of other\.test could not be "
                     r"fetched: https://mta-sts\.other\.test/: HTTP status "
                     r"404; the cached one stays in force", 20),
           "a failed refresh keeps the cached policy")
    tap.ok(w.log_has(r"to=<h@other\.test> .*dsn=4\.7\.5 status=deferred",
                     20), "which still defers")
    tap.eq(s_other.count(), 0, "and the MX not in it still has nothing")
finally:
    w.stop()
    if dns2 is not None:
        dns2.stop()
    srv.close()
    hang.close()
    ca.close()
tap.done()
