#!/usr/bin/env python3
"""SPF (RFC 7208) through relayctl test spf: policyd's evaluator, asking
dnsd, asking a real unbound that resolves the test zones the way a
recursive resolver resolves the Internet (CNAMEs chased, a CNAME loop a
SERVFAIL), with a zone whose name server never answers.  Each case names
the result it expects; a wrong one prints the evaluator's why."""
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from dnstest import Unbound  # noqa: E402
from relaytest import Relayd, Tap, need_root  # noqa: E402

Z = "spf.test."
SPF = [
    'pass.spf.test. 300 IN TXT "v=spf1 ip4:192.0.2.10 -all"',
    'soft.spf.test. 300 IN TXT "v=spf1 ~all"',
    'neutral.spf.test. 300 IN TXT "v=spf1 ?all"',
    'nospf.spf.test. 300 IN TXT "google-site-verification=x"',
    # Strings of one record are joined without spaces (RFC 7208 3.3).
    'split.spf.test. 300 IN TXT "v=spf1 ip4:192.0.2.10" " -all"',
    'syntax.spf.test. 300 IN TXT "v=spf1 ip4:192.0.2.10 -all moo"',
    'two.spf.test. 300 IN TXT "v=spf1 -all"',
    'two.spf.test. 300 IN TXT "v=spf1 +all"',
    'inc.spf.test. 300 IN TXT "v=spf1 include:pass.spf.test -all"',
    'incsoft.spf.test. 300 IN TXT "v=spf1 include:pass.spf.test ~all"',
    'incnone.spf.test. 300 IN TXT "v=spf1 include:nospf.spf.test -all"',
    'inctemp.spf.test. 300 IN TXT "v=spf1 include:x.silent.test -all"',
    'red.spf.test. 300 IN TXT "v=spf1 redirect=pass.spf.test"',
    'ex.spf.test. 300 IN TXT "v=spf1 exists:%{ir}.%{l}._e.%{d2} -all"',
    '20.2.0.192.user._e.spf.test. 300 IN A 127.0.0.2',
    'a.spf.test. 300 IN TXT "v=spf1 a:host.spf.test/24 -all"',
    'host.spf.test. 300 IN A 192.0.2.30',
    'mx.spf.test. 300 IN TXT "v=spf1 mx/28 -all"',
    'mx.spf.test. 300 IN MX 10 mx1.spf.test.',
    'mx1.spf.test. 300 IN A 192.0.2.40',
    'ptr.spf.test. 300 IN TXT "v=spf1 ptr -all"',
    'mail.ptr.spf.test. 300 IN A 192.0.2.60',
    'ip.spf.test. 300 IN TXT '
    '"v=spf1 ip4:192.0.2.64/26 ip6:2001:db8:1::/48 -all"',
    'ten.spf.test. 300 IN TXT "v=spf1 a a a a a a a a a a ip4:192.0.2.10 '
    '-all"',
    'ten.spf.test. 300 IN A 192.0.2.1',
    'eleven.spf.test. 300 IN TXT "v=spf1 a a a a a a a a a a a '
    'ip4:192.0.2.10 -all"',
    'eleven.spf.test. 300 IN A 192.0.2.1',
    'void2.spf.test. 300 IN TXT "v=spf1 a:v1.spf.test a:v2.spf.test '
    'ip4:192.0.2.10 -all"',
    'void3.spf.test. 300 IN TXT "v=spf1 a:v1.spf.test a:v2.spf.test '
    'a:v3.spf.test ip4:192.0.2.10 -all"',
    'loop.spf.test. 300 IN TXT "v=spf1 include:loop2.spf.test -all"',
    'loop2.spf.test. 300 IN TXT "v=spf1 include:loop.spf.test -all"',
    'alias.spf.test. 300 IN CNAME pass.spf.test.',
    'cnloop.spf.test. 300 IN CNAME cnloop2.spf.test.',
    'cnloop2.spf.test. 300 IN CNAME cnloop.spf.test.',
    'exp.spf.test. 300 IN TXT "v=spf1 -all exp=why.spf.test"',
    'why.spf.test. 300 IN TXT "%{l} may not send from %{i}"',
    'helo.spf.test. 300 IN TXT "v=spf1 a -all"',
    'helo.spf.test. 300 IN A 192.0.2.70',
    'xn--bcher-kva.spf.test. 300 IN TXT "v=spf1 ip4:192.0.2.10 -all"',
]
REVERSE = {"2.0.192.in-addr.arpa.": [
    "60.2.0.192.in-addr.arpa. 300 IN PTR mail.ptr.spf.test.",
    "61.2.0.192.in-addr.arpa. 300 IN PTR mail.ptr.spf.test.",
]}

# (client, sender, helo or None, result, what the case shows)
CASES = [
    ("192.0.2.10", "a@pass.spf.test", None, "pass", "ip4 matches"),
    ("192.0.2.11", "a@pass.spf.test", None, "fail", "-all"),
    ("192.0.2.11", "a@soft.spf.test", None, "softfail", "~all"),
    ("192.0.2.11", "a@neutral.spf.test", None, "neutral", "?all"),
    ("192.0.2.11", "a@nospf.spf.test", None, "none", "no SPF record"),
    ("192.0.2.11", "a@nowhere.spf.test", None, "none", "no such domain"),
    ("192.0.2.10", "a@split.spf.test", None, "pass",
     "a record in two strings"),
    ("192.0.2.11", "a@split.spf.test", None, "fail",
     "a record in two strings, -all"),
    ("192.0.2.10", "a@syntax.spf.test", None, "permerror",
     "a syntax error after the match"),
    ("192.0.2.10", "a@two.spf.test", None, "permerror", "two records"),
    ("192.0.2.10", "a@x.silent.test", None, "temperror",
     "a name server that does not answer"),
    ("192.0.2.10", "a@inc.spf.test", None, "pass", "include: pass"),
    ("192.0.2.11", "a@incsoft.spf.test", None, "softfail",
     "include: fail inside is no match"),
    ("192.0.2.10", "a@incnone.spf.test", None, "permerror",
     "include of a domain without SPF"),
    ("192.0.2.10", "a@inctemp.spf.test", None, "temperror",
     "include of a domain nobody answers for"),
    ("192.0.2.10", "a@red.spf.test", None, "pass", "redirect: pass"),
    ("192.0.2.11", "a@red.spf.test", None, "fail", "redirect: fail"),
    ("192.0.2.20", "user@ex.spf.test", None, "pass",
     "exists with %{ir}, %{l} and %{d2}"),
    ("192.0.2.21", "user@ex.spf.test", None, "fail",
     "exists: another client"),
    ("192.0.2.20", "other@ex.spf.test", None, "fail",
     "exists: another local part"),
    ("192.0.2.99", "a@a.spf.test", None, "pass", "a:host/24"),
    ("198.51.100.1", "a@a.spf.test", None, "fail", "a:host/24, outside"),
    ("192.0.2.45", "a@mx.spf.test", None, "pass", "mx/28"),
    ("192.0.2.50", "a@mx.spf.test", None, "fail", "mx/28, outside"),
    ("192.0.2.60", "a@ptr.spf.test", None, "pass", "ptr, validated"),
    ("192.0.2.61", "a@ptr.spf.test", None, "fail",
     "ptr, name not leading back"),
    ("192.0.2.100", "a@ip.spf.test", None, "pass", "ip4 /26"),
    ("192.0.2.128", "a@ip.spf.test", None, "fail", "ip4 /26, outside"),
    ("2001:db8:1::5", "a@ip.spf.test", None, "pass", "ip6 /48"),
    ("2001:db8:2::5", "a@ip.spf.test", None, "fail", "ip6 /48, outside"),
    ("192.0.2.10", "a@ten.spf.test", None, "pass",
     "10 DNS-querying terms"),
    ("192.0.2.10", "a@eleven.spf.test", None, "permerror",
     "11 DNS-querying terms"),
    ("192.0.2.10", "a@void2.spf.test", None, "pass", "2 void lookups"),
    ("192.0.2.10", "a@void3.spf.test", None, "permerror",
     "3 void lookups"),
    ("192.0.2.10", "a@loop.spf.test", None, "permerror", "an include loop"),
    ("192.0.2.10", "a@alias.spf.test", None, "pass",
     "a CNAME to a record"),
    ("192.0.2.10", "a@cnloop.spf.test", None, "temperror", "a CNAME loop"),
    ("192.0.2.99", "joe@exp.spf.test", None, "fail", "exp="),
    ("192.0.2.70", "<>", "helo.spf.test", "pass",
     "the HELO identity of the null sender"),
    ("192.0.2.71", "<>", "helo.spf.test", "fail",
     "the HELO identity, another client"),
    ("192.0.2.99", '"a b"@exp.spf.test', "mx.client.test", "fail",
     "a local part with a space"),
    ("192.0.2.10", "j\u00f6rg@b\u00fccher.spf.test", None, "pass",
     "a sender in UTF-8, its domain checked as A-labels"),
]


def answer(out):
    """{key: value} of relayctl's lines, and the Received-SPF lines."""
    fields, header = {}, []
    for line in out.splitlines():
        if line.startswith("Received-SPF:") or (header and
                                                line.startswith(" ")):
            header.append(line)
            continue
        k, _, v = line.partition(": ")
        fields[k] = v
    return fields, header


def raw(sock, data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(data)
    buf = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf.decode(errors="replace")


def main():
    t = Tap()
    need_root(t)
    dns = Unbound({}, auth=dict({Z: SPF}, **REVERSE), silent=("silent.test.",))
    r = Relayd(t, dns=dns.server)
    try:
        if not r.start():
            t.done()
        for ip, sender, helo, want, what in CASES:
            args = ["test", "spf", ip, sender] + ([helo] if helo else [])
            rc, out, err = r.ctl(*args)
            fields, header = answer(out)
            if not t.eq(fields.get("result"), want, "%s: %s from %s: %s" %
                        (what, sender, ip, want)):
                t.diag("why: %s" % fields.get("why"))
                t.diag("relayctl: rc %r, %s" % (rc, err.strip()))
            t.eq(rc, 0, "%s: relayctl exits 0" % what)
            t.like(header[0] if header else None,
                   r"^Received-SPF: %s \(relay\.test\.example: " % want,
                   "%s: the Received-SPF field" % what)

        # What relayctl shows, line by line.
        rc, out, err = r.ctl("test", "spf", "192.0.2.10", "a@inc.spf.test")
        fields, header = answer(out)
        t.eq(fields.get("domain"), "inc.spf.test (MAIL FROM identity)",
             "the domain checked")
        t.eq(fields.get("why"), '"include:pass.spf.test" matched in the '
             'record of inc.spf.test, by "ip4:192.0.2.10" in pass.spf.test',
             "why names the term that matched, through the include")
        t.ok(all(len(l) <= 78 for l in header) and len(header) > 1,
             "the field is folded at 78 columns")
        t.like(" ".join(l.strip() for l in header),
               r"client-ip=192\.0\.2\.10; envelope-from=\"a@inc\.spf\.test\";"
               r" receiver=relay\.test\.example; identity=mailfrom;$",
               "its key-value pairs")
        rc, out, err = r.ctl("test", "spf", "192.0.2.99", "joe@exp.spf.test")
        fields, header = answer(out)
        t.eq(fields.get("explanation"), "joe may not send from 192.0.2.99",
             "exp=: the explanation, its macros expanded")
        rc, out, err = r.ctl("test", "spf", "192.0.2.10", "a@eleven.spf.test")
        fields, header = answer(out)
        t.like(fields.get("why"), r"more than 10 DNS-querying terms",
               "permerror: why says which limit")
        t.like(" ".join(l.strip() for l in header),
               r'problem="more than 10 DNS-querying terms',
               "permerror: problem= in the field")
        rc, out, err = r.ctl("test", "spf", "192.0.2.70", "<>",
                             "helo.spf.test")
        fields, header = answer(out)
        t.eq(fields.get("domain"), "helo.spf.test (HELO identity)",
             "the null sender: the HELO identity is checked")
        t.like(" ".join(l.strip() for l in header),
               r'envelope-from=""; helo=helo\.spf\.test; '
               r'receiver=relay\.test\.example; identity=helo;',
               "the null sender: identity=helo")

        # A local part with a space and quotes reaches policyd whole.
        rc, out, err = r.ctl("test", "spf", "192.0.2.99",
                             '"a b"@exp.spf.test', "mx.client.test")
        fields, header = answer(out)
        t.eq(fields.get("explanation"),
             '"a b" may not send from 192.0.2.99',
             "the local part, spaces and quotes, reached %{l}")
        t.like(" ".join(l.strip() for l in header),
               r'envelope-from="\\"a b\\"@exp\.spf\.test";',
               "and the field quotes it")
        ans = raw(r.sock, b"test spf 192.0.2.99 %22a%20b%22@exp.spf.test\n")
        t.like(ans, r'(?m)^- explanation: "a b" may not send from '
               r'192\.0\.2\.99\n(.*\n)*OK\n$',
               "the protocol: %20 is a space in an argument")
        ans = raw(r.sock, b"test spf 192.0.2.99 a%2@exp.spf.test\n")
        t.like(ans, r"^ERR bad %-escape in argument\n$",
               "the protocol: a broken %-escape is refused")
        ans = raw(r.sock, b"test spf 192.0.2.99 a%00@exp.spf.test\n")
        t.like(ans, r"^ERR NUL in argument\n$",
               "the protocol: %00 is refused")

        # Arguments that do not make a test.
        rc, out, err = r.ctl("test", "spf", "192.0.2.10")
        t.ok(rc != 0 and "expected IP SENDER [HELO]" in err,
             "a missing sender: refused by relayctl (%s)" %
             err.splitlines()[0] if err else "")
        ans = raw(r.sock, b"test spf 192.0.2.10\n")
        t.like(ans, r"^ERR expected IP SENDER \[HELO\]\n$",
               "a missing sender: refused by relayd")
        rc, out, err = r.ctl("test", "spf", "300.1.2.3", "a@pass.spf.test")
        t.ok(rc != 0 and "expected an IPv4 or IPv6 address" in err,
             "a bad address: ERR from policyd (%s)" % err.strip())
        rc, out, err = r.ctl("test", "spf", "192.0.2.10", "<>")
        t.ok(rc != 0 and "the null sender needs a HELO name" in err,
             "the null sender without HELO: ERR (%s)" % err.strip())
        rc, out, err = r.ctl("test", "spf", "192.0.2.10", "nobody")
        t.ok(rc != 0 and "expected a sender address" in err,
             "a sender without a domain: ERR (%s)" % err.strip())
        rc, out, err = r.ctl("test", "spf", "192.0.2.10", "")
        t.ok(rc != 0 and "an argument is empty" in err,
             "an empty argument: refused by relayctl")

        t.ok(r.proc.poll() is None, "relayd still running")
        t.ok(not re.search(r"(fatal|peer broken|malformed)", r.log()),
             "nothing fatal in the log")
        t.like(r.log(), r"policyd: control: test spf client=192\.0\.2\.10 "
               r"from=<a@pass\.spf\.test> helo=-: pass \(",
               "each test is logged, with its result and why")
    finally:
        r.cleanup()
        dns.stop()
    t.done()


main()
