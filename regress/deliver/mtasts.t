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
a refresh that fails keeps the cached policy.

Then servers that misbehave, and what a policy asks of the MX: a policy
server whose certificate is from a CA not in tls.ca_file, or for another
name, a redirect (3xx) and a policy over 64 KB are not fetched: no policy,
logged, the mail delivered (each would have deferred it).  A policy past
its max_age is dropped: fetched again, and with the server now failing,
no longer applied.  An enforce MX that does not offer STARTTLS is never
sent the mail in plain text: 4.7.5."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, free_port, need_root, wait_for  # noqa: E402
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
# Misbehaving policy servers, max_age, and an enforce MX without STARTTLS.
# Every policy here is enforce and names no MX host but expire.test's and
# nostarttls.test's: applied, it would defer the mail.
WEB = {"untrusted.test": "127.0.0.32", "wrongname.test": "127.0.0.33"}


def zone2(name, mx, addr):
    return {name + ".": [
        "%s. 300 IN MX 10 %s." % (name, mx),
        "%s. 300 IN A %s" % (mx, addr),
        "mta-sts.%s. 300 IN A %s" % (name, WEB.get(name, "127.0.0.30")),
        '_mta-sts.%s. 300 IN TXT "v=STSv1; id=1;"' % name]}


ZONES2 = {}
for args in (("untrusted.test", "mx.untrusted.test", "127.0.0.7"),
             ("wrongname.test", "mx.wrongname.test", "127.0.0.8"),
             ("redirect.test", "mx.redirect.test", "127.0.0.10"),
             ("big.test", "mx.big.test", "127.0.0.11"),
             ("expire.test", "mx.expire.test", "127.0.0.12"),
             ("nostarttls.test", "mx.nostarttls.test", "127.0.0.13")):
    ZONES2.update(zone2(*args))
EXPIRE = ("version: STSv1\r\nmode: enforce\r\nmx: mx9.expire.test\r\n"
          "max_age: 2\r\n")
NOTLS = policy("enforce", "mx.nostarttls.test")
BIG = (policy("enforce", "mx9.big.test") + "mx: mx9.big.test\r\n" * 4400)
RAW = {
    "mta-sts.redirect.test": (301, [("Location", "https://mta-sts.sts.test"
                                     "/.well-known/mta-sts.txt")], b""),
    "mta-sts.big.test": (200, [("Content-Type", "text/plain")],
                         BIG.encode()),
}
ca = TestCA()
rogue = TestCA()
web = ca.issue("mta-sts.expire.test", "mta-sts.nostarttls.test",
               "mta-sts.redirect.test", "mta-sts.big.test")
untrusted = rogue.issue("mta-sts.untrusted.test")
wrongname = ca.issue("mta-sts.elsewhere.test")
hport = free_port("127.0.0.30")
ENV = {"RELAYD_MTA_STS_PORT": str(hport)}
w = World(tap, dns_extra=ZONES2, queue="retry_min: 1s\nretry_max: 2s\n",
          main_extra="tls:\n  ca_file: %s\n" % ca.crt)
srv = PolicyServer("127.0.0.30", hport, web[0], web[1],
                   {"mta-sts.expire.test": EXPIRE,
                    "mta-sts.nostarttls.test": NOTLS}, raw=RAW)
srv_u = PolicyServer("127.0.0.32", hport, untrusted[0], untrusted[1],
                     {"mta-sts.untrusted.test":
                      policy("enforce", "mx9.untrusted.test")})
srv_w = PolicyServer("127.0.0.33", hport, wrongname[0], wrongname[1],
                     {"mta-sts.wrongname.test":
                      policy("enforce", "mx9.wrongname.test")})
try:
    sinks = {}
    for d, a in (("untrusted", "127.0.0.7"), ("wrongname", "127.0.0.8"),
                 ("redirect", "127.0.0.10"), ("big", "127.0.0.11"),
                 ("expire", "127.0.0.12")):
        sinks[d] = w.sink(a, starttls=True)
    s_notls = w.sink("127.0.0.13")
    tap.ok(start(), "relayd starts again, with misbehaving policy servers")
    for d in ("untrusted", "wrongname", "redirect", "big", "expire",
              "nostarttls"):
        code, _ = w.send("alice@acme.example", ["x@%s.test" % d],
                         inside=True)
        tap.eq(code, 250, "mail for x@%s.test accepted" % d)

    for d, why, what in (
            ("untrusted", r"the certificate is not valid for it",
             "a policy server certificate from a CA not in tls.ca_file"),
            ("wrongname", r"the certificate is not valid for it",
             "a policy server certificate for another name"),
            ("redirect", r"HTTP status 301", "a redirect (301)"),
            ("big", r"policy larger than|the response is too large",
             "a policy over 64 KB")):
        tap.ok(w.log_has(r"MTA-STS: the policy of %s\.test could not be "
                         r"fetched: https://mta-sts\.%s\.test/: (%s).*; "
                         r"none is applied" % (d, d, why), 20),
               "%s: not fetched, logged" % what)
        tap.ok(sinks[d].wait(1, timeout=20), "and no policy applies: "
               "delivered")
        tap.ok(w.log_has(r"to=<x@%s\.test> .*status=sent .* "
                         r"verified=none" % d), "verified=none")
    tap.eq(srv_u.count(), 0, "nothing was asked of the untrusted server")
    tap.eq(srv_w.count(), 0, "nor of the one with another name")

    tap.ok(w.log_has(r"to=<x@nostarttls\.test> .*dsn=4\.7\.5 "
                     r"status=deferred .*does not offer STARTTLS", 20),
           "enforce, and an MX that does not offer STARTTLS: deferred "
           "with 4.7.5")

    tap.ok(w.log_has(r"MTA-STS: policy of expire\.test \(id 1\): mode "
                     r"enforce, 1 mx pattern, max_age 2s"),
           "a policy with max_age 2s is fetched")
    tap.ok(w.log_has(r"to=<x@expire\.test> .*dsn=4\.7\.5 status=deferred "
                     r"\(no MX host of expire\.test is named", 20),
           "and applied while it holds")
    srv.policies.pop("mta-sts.expire.test")
    tap.ok(w.log_has(r"MTA-STS: the policy of expire\.test could not be "
                     r"fetched: https://mta-sts\.expire\.test/: HTTP status "
                     r"404; none is applied", 30),
           "past its max_age it is fetched again, though the TXT id is the "
           "same; the server fails: none is applied")
    tap.ok(sinks["expire"].wait(1, timeout=30), "the expired policy no "
           "longer defers the mail: delivered")
    tap.ok(srv.count("mta-sts.expire.test") >= 2, "the policy server was "
           "asked again")

    time.sleep(3)
    tap.eq(s_notls.count(), 0, "the MX without STARTTLS never got the "
           "mail")
    tap.ok(wait_for(lambda: len(re.findall(
        r"to=<x@nostarttls\.test> .*status=deferred", w.r.log())) >= 2, 30),
        "and the retries defer too")
finally:
    w.stop()
    srv.close()
    srv_u.close()
    srv_w.close()
    ca.close()
    rogue.close()
tap.done()
