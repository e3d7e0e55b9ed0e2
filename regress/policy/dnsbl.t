#!/usr/bin/env python3
"""DNS block and allow lists, the postscreen model, each tenant scoring
the same answers with its own lists: a listed client (127.0.0.2,
127.0.0.4), a list with an answers filter, two lists and a threshold of
2, an allow list with a negative weight, the lists' error code
(127.255.255.254: logged, scored 0), IPv6 clients (nibble names), and
hostile answers (addresses outside 127/8, a huge answer) scored 0.
Then, in a second relayd, a list whose name server never answers: dnsd
times out, the verdict still comes, and the mail is accepted."""
import ipaddress
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, V6Addresses, code  # noqa: E402
from relaytest import Tap, need_root  # noqa: E402

V6 = ("2001:db8:1::10", "2001:db8:2::10")


def rev(addr, zone):
    return ipaddress.ip_address(addr).reverse_pointer.rsplit(
        ".in-addr.arpa", 1)[0].rsplit(".ip6.arpa", 1)[0] + "." + zone


BL = [
    "%s. 300 IN A 127.0.0.2" % rev("127.0.1.2", "bl.test"),
    "%s. 300 IN A 127.0.0.4" % rev("127.0.1.4", "bl.test"),
    "%s. 300 IN A 127.255.255.254" % rev("127.0.1.5", "bl.test"),
    "%s. 300 IN A 127.0.0.2" % rev("127.0.1.6", "bl.test"),
    "%s. 300 IN A 127.0.0.2" % rev("127.0.1.8", "bl.test"),
    "%s. 300 IN A 127.0.0.2" % rev("127.0.1.16", "bl.test"),
    "%s. 300 IN A 127.0.0.2" % rev(V6[0], "bl.test"),
    # Hostile: answers outside 127.0.0.0/8, and a huge answer.
    "%s. 300 IN A 8.8.8.8" % rev("127.0.1.9", "bl.test"),
    "%s. 300 IN A 0.0.0.0" % rev("127.0.1.9", "bl.test"),
    '%s. 300 IN TXT "listed, really"' % rev("127.0.1.9", "bl.test"),
] + ["%s. 300 IN A 10.0.%d.%d" % (rev("127.0.1.10", "bl.test"), i // 250,
                                  i % 250 + 1) for i in range(300)]
BL2 = [
    "%s. 300 IN A 127.0.0.3" % rev("127.0.1.6", "bl2.test"),
    "%s. 300 IN A 127.0.0.2" % rev("127.0.1.7", "bl2.test"),
]
WL = ["%s. 300 IN A 127.0.0.2" % rev("127.0.1.8", "wl.test")]

TENANTS = {
    "one": """\
outbound:
  networks: [127.0.1.16/32]
policy:
  dnsbl:
    enabled: true
    lists:
      - zone: bl.test
""",
    "filt": """\
policy:
  dnsbl:
    enabled: true
    lists:
      - zone: bl.test
        answers: [127.0.0.2, 127.0.0.3]
""",
    "two": """\
policy:
  dnsbl:
    enabled: true
    lists:
      - zone: bl.test
      - zone: bl2.test
    threshold: 2
""",
    "allow": """\
policy:
  dnsbl:
    enabled: true
    lists:
      - zone: bl.test
      - zone: wl.test
        weight: -1
""",
    "plain": "",
}
ORDER = ("one", "filt", "two", "allow", "plain")
OK, BAD = "250 2.1.5", "550 5.7.1"
# client: the verdicts for one, filt, two, allow, plain
CASES = [
    ("127.0.1.1", (OK, OK, OK, OK, OK), "not listed"),
    ("127.0.1.2", (BAD, BAD, OK, BAD, OK), "127.0.0.2 in bl.test"),
    ("127.0.1.4", (BAD, OK, OK, BAD, OK),
     "127.0.0.4 in bl.test (not in filt's answers)"),
    ("127.0.1.5", (OK, OK, OK, OK, OK), "the list's error code"),
    ("127.0.1.6", (BAD, BAD, BAD, BAD, OK), "in bl.test and bl2.test"),
    ("127.0.1.7", (OK, OK, OK, OK, OK), "in bl2.test alone"),
    ("127.0.1.8", (BAD, BAD, OK, OK, OK), "in bl.test and the allow list"),
    ("127.0.1.9", (OK, OK, OK, OK, OK), "answers outside 127/8"),
    ("127.0.1.10", (OK, OK, OK, OK, OK), "a huge answer outside 127/8"),
    ("127.0.1.16", (OK, OK, OK, OK, OK),
     "listed, but in one's outbound.networks: no inbound check"),
    (V6[0], (BAD, BAD, OK, BAD, OK), "IPv6, listed (nibbles)"),
    (V6[1], (OK, OK, OK, OK, OK), "IPv6, another /64, not listed"),
]


def main():
    t = Tap()
    need_root(t)
    v6 = V6Addresses()
    have_v6 = all(v6.add(a) for a in V6)
    w = PolicyWorld(t, TENANTS, zones={"bl.test.": BL, "bl2.test.": BL2,
                                       "wl.test.": WL}, v6=have_v6)
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        lists(t, w, have_v6)
    finally:
        w.stop()
        v6.remove()
    silent(t)
    others(t)
    t.done()


def lists(t, w, have_v6):
    for client, want, what in CASES:
        if ":" in client and not have_v6:
            print("ok %d # SKIP IPv6 on lo refused" % (t.n + 1))
            t.n += 1
            continue
        out = w.session(client, "s@good.snd.test",
                        ["r@%s.example" % n for n in ORDER])
        got = tuple(code(r) for r in out["rcpt"])
        if not t.eq(got, want, "%s (%s): each tenant's verdict" %
                    (client, what)):
            t.diag(out)
    rep = w.rcpt_reply("127.0.1.2", "s@good.snd.test", "r@one.example")
    t.like(rep[1], r"^550 5\.7\.1 Service unavailable; client \[127\.0\.1\.2"
           r"\] blocked using bl\.test$", "the reply names the list")
    t.eq(code(w.rcpt_reply("127.0.1.2", "s@good.snd.test",
                           "postmaster@one.example")), OK,
         "postmaster@ of the tenant: accepted from a listed client")
    t.eq(code(w.rcpt_reply("127.0.1.2", "s@good.snd.test",
                           "abuse@one.example")), OK,
         "abuse@: accepted from a listed client")
    t.ok(w.log_has(r"(?m)policy rcpt client=\[127\.0\.1\.2\] tenant=one "
                   r"from=<s@good\.snd\.test> to=<r@one\.example> check=dnsbl "
                   r"result=reject 550 5\.7\.1 Service unavailable; client "
                   r"\[127\.0\.1\.2\] blocked using bl\.test; dnsbl=1/1 "
                   r"\(bl\.test=127\.0\.0\.2\(\+1\)\)$"),
         "the refusal logged on one line: check=dnsbl, the score and answer")
    t.ok(w.log_has(r"tenant=allow .* check=- result=pass; dnsbl=0/1 "
                   r"\(bl\.test=127\.0\.0\.2\(\+1\) wl\.test=127\.0\.0\.2"
                   r"\(-1\)\)"), "the allow list's weight in the facts")
    t.ok(w.log_has(r"dnsbl: bl\.test answered 127\.255\.255\.254, an error "
                   r"code of the list"), "the error code is logged")
    for client, what in (("127.0.1.9", "answers outside 127/8"),
                         ("127.0.1.10", "a huge answer")):
        t.ok(w.log_has(r"client=\[%s\] tenant=one .* result=pass; "
                       r"dnsbl=0/1 \(bl\.test=none\)" % re.escape(client)),
             "%s: scored as none" % what)
    t.ok(w.r.proc.poll() is None and not w.r.wait_log(
        r"fatal|peer broken|malformed", 0.1), "relayd still running, "
         "nothing fatal")


SLOW = {
    "slow": """\
policy:
  dnsbl:
    enabled: true
    lists:
      - zone: bl.silent.test
      - zone: bl.test
""",
}


def silent(t):
    w = PolicyWorld(t, SLOW, zones={"bl.test.": BL})
    try:
        if not t.ok(w.start(), "a second relayd, with a list nobody "
                    "answers for"):
            return
        out = w.session("127.0.1.1", "s@good.snd.test", ["r@slow.example"],
                        body=b"Subject: slow list\r\n\r\nhi\r\n")
        t.eq(code(out["rcpt"][0]) if out["rcpt"] else out, OK,
             "a list that never answers: the verdict comes, accepted")
        t.like(out.get("end", (None, ""))[1], r"^250 2\.0\.0 ",
               "and the message queued")
        t.ok(w.log_has(r"tenant=slow .* result=pass; dnsbl=0/1 \(bl\.silent"
                       r"\.test=tempfail bl\.test=none\)"),
             "logged: the silent list failed, scored 0")
        rep = w.rcpt_reply("127.0.1.2", "s@good.snd.test", "r@slow.example")
        t.eq(code(rep), BAD, "the other list still lists its client")
    finally:
        w.stop()


BOTH = {
    "slow": SLOW["slow"],
    "quick": """\
policy:
  dnsbl:
    enabled: true
    lists:
      - zone: bl.test
""",
}


def others(t):
    """A tenant's verdict waits for its own lists only: dnsd waits 30 s
    for the silent one, smtpd 10 s for a verdict."""
    w = PolicyWorld(t, BOTH, zones={"bl.test.": BL}, dns_timeout="30s",
                    timeouts="command: 60s\ndata: 60s\npolicy: 10s\n")
    try:
        if not t.ok(w.start(), "a third relayd: one tenant with a silent "
                    "list, one without"):
            return
        out = w.session("127.0.1.2", "s@good.snd.test", ["r@quick.example"])
        t.eq(code(out["rcpt"][0]) if out["rcpt"] else out, BAD,
             "the other tenant's verdict does not wait for the silent list")
        out = w.session("127.0.1.1", "s@good.snd.test", ["r@quick.example"])
        t.eq(code(out["rcpt"][0]) if out["rcpt"] else out, OK,
             "nor for an unlisted client")
    finally:
        w.stop()


main()
