#!/usr/bin/env python3
"""The sender's domain (policy.sender_domain): it must exist, accept mail
(no null MX) and have a mail host at a routable address; and, for a
tenant's outbound mail, each recipient's domain likewise.  Answered by a
real unbound: NXDOMAIN, MX hosts at 10.0.0.1 and 127.0.0.1 (bogons), a
null MX, a zone whose name server never answers, and good domains whose
MX is at a public address (never contacted: no message is sent there)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, code  # noqa: E402
from relaytest import Tap, need_root  # noqa: E402

MORE = [
    "aprivate.snd.test. 300 IN A 192.168.1.1",
    "mixed.snd.test. 300 IN MX 10 mx.bogon10.snd.test.",
    "mixed.snd.test. 300 IN MX 20 mx.good.snd.test.",
    "nohost.snd.test. 300 IN MX 10 gone.snd.test.",
    "v6only.snd.test. 300 IN MX 10 mx6.snd.test.",
    "mx6.snd.test. 300 IN AAAA 2a00:1450::1",
    "v6bogon.snd.test. 300 IN MX 10 mx6b.snd.test.",
    "mx6b.snd.test. 300 IN AAAA fe80::1",
]
TENANTS = {
    "sd": "policy:\n  sender_domain: true\n",
    "plain": "outbound:\n  networks: [127.0.0.10/32]\n",
    "out": "outbound:\n  networks: [127.0.0.9/32]\n"
           "policy:\n  sender_domain: true\n",
}
OK = "250 2.1.5"
INBOUND = [
    ("", OK, "the null sender: nothing to check"),
    ("a@good.snd.test", OK, "an MX at a public address"),
    ("a@amx.snd.test", OK, "no MX, an A record at a public address"),
    ("a@mixed.snd.test", OK, "one bogon MX, one good"),
    ("a@v6only.snd.test", OK, "an MX with an AAAA record only"),
    ("a@[127.0.0.1]", OK, "an address literal: no domain to check"),
    ("a@nx.snd.test", "550 5.1.8", "NXDOMAIN"),
    ("a@bogon10.snd.test", "550 5.1.8", "MX at 10.0.0.1"),
    ("a@bogon127.snd.test", "550 5.1.8", "MX at 127.0.0.1"),
    ("a@v6bogon.snd.test", "550 5.1.8", "MX at fe80::1"),
    ("a@aprivate.snd.test", "550 5.1.8", "no MX, an A at 192.168.1.1"),
    ("a@nohost.snd.test", "550 5.1.8", "an MX host without an address"),
    ("a@nullmx.snd.test", "550 5.7.27", "a null MX"),
    ("a@x.silent.test", "450 4.1.8", "a name server that does not answer"),
]
OUTBOUND = [
    ("r@good.snd.test", OK, "a good domain"),
    ("r@nx.snd.test", "550 5.1.2", "NXDOMAIN"),
    ("r@x.silent.test", "450 4.1.2", "a name server that does not answer"),
    ("r@nullmx.snd.test", "556 5.1.10", "a null MX"),
]


def main():
    t = Tap()
    need_root(t)
    w = PolicyWorld(t, TENANTS, zones={"snd.test.": MORE})
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        run(t, w)
    finally:
        w.stop()
    t.done()


def run(t, w):
    for sender, want, what in INBOUND:
        out = w.session("127.0.1.1", sender, ["r@sd.example",
                                              "r@plain.example"])
        got = tuple(code(r) for r in out["rcpt"])
        if not t.eq(got, (want, OK), "sender <%s>, %s: %s; a tenant "
                    "without the check: 250" % (sender, what, want)):
            t.diag(out)
    rep = w.rcpt_reply("127.0.1.1", "a@nullmx.snd.test", "r@sd.example")
    t.like(rep[1], r"^550 5\.7\.27 .*nullmx\.snd\.test accepts no mail",
           "the null MX reply names the domain")
    t.ok(w.log_has(r"(?m)policy rcpt client=\[127\.0\.1\.1\] tenant=sd "
                   r"from=<a@bogon10\.snd\.test> to=<r@sd\.example> "
                   r"check=sender-domain result=reject 550 5\.1\.8 .*; "
                   r"sender-domain=bogon-mx \(mail hosts at unroutable "
                   r"addresses only \(10\.0\.0\.1\)\)$"),
         "the refusal logged on one line: check=sender-domain, why")
    t.eq(code(w.rcpt_reply("127.0.1.1", "a@nx.snd.test",
                           "postmaster@sd.example")), OK,
         "postmaster@ is exempt")

    # Outbound: the tenant's own network, each recipient's domain.
    for rcpt, want, what in OUTBOUND:
        out = w.session("127.0.0.9", "s@out.example", [rcpt])
        t.eq(code(out["rcpt"][0]) if out["rcpt"] else out, want,
             "outbound to <%s>, %s: %s" % (rcpt, what, want))
    out = w.session("127.0.0.9", "s@out.example",
                    ["r@nx.snd.test", "r@good.snd.test", "r@nullmx.snd.test"])
    t.eq([code(r) for r in out["rcpt"]], ["550 5.1.2", OK, "556 5.1.10"],
         "outbound, three recipients: each its own domain's verdict")
    t.ok(w.log_has(r"policy rcpt client=\[127\.0\.0\.9\] tenant=out "
                   r"from=<s@out\.example> to=<r@nx\.snd\.test> "
                   r"check=recipient-domain result=reject 550 5\.1\.2 "),
         "logged: check=recipient-domain")
    out = w.session("127.0.0.9", "s@nx.snd.test", ["r@good.snd.test"])
    t.eq(code(out["rcpt"][0]) if out["rcpt"] else out, OK,
         "outbound: the tenant's own sender is not checked as inbound")
    out = w.session("127.0.0.10", "s@plain.example", ["r@nx.snd.test"])
    t.eq(code(out["rcpt"][0]) if out["rcpt"] else out, OK,
         "outbound from a tenant without sender_domain: not checked")
    t.ok(w.r.proc.poll() is None, "relayd still running")


main()
