#!/usr/bin/env python3
"""The open-relay self-check (relayctl selfcheck, selfcheck.interval).

deliverd connects to each listener from an address outside every
tenant's outbound.networks and tries the classic relay attempts; every
one must be refused.  A source address inside a tenant's networks proves
nothing and is refused.  relayd cannot be configured as an open relay,
so to show that OPEN is seen and reported (and the operator's postmaster
told), the debug build's RELAYD_SELFCHECK_PORT sends the attempts to a
permissive server of the test's instead of the listener."""

import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (RELAYCTL, RELAYD, Relayd, Tap,  # noqa: E402
                       free_port, need_root, wait_for)
from sink import Sink  # noqa: E402

TENANT = """\
tenant: acme
postmaster: postmaster@acme.example
domains: [acme.example]
inbound:
  mode: relay
  deliver_to: [127.0.0.20:{port}]
outbound:
  networks: [{networks}]
"""

# What each attempt is called, and a piece of its recipient.
ATTEMPTS = {
    "foreign recipient": "<relaytest@example.com>",
    "null sender": "<relaytest@example.com>",
    "source route": "<@relay.example:relaytest@example.com>",
    "source route through our name":
        "<@relay.test.example:relaytest@example.com>",
    "%-hack": "<relaytest%example.com@relay.test.example>",
    "quoted @": '<"relaytest@example.com"@relay.test.example>',
    "bang path": "<example.com!relaytest@relay.test.example>",
    "bracketed literal": "<relaytest@[192.0.2.1]>",
    "our name": "<relaytest@relay.test.example>",
    "our address": "<relaytest@[127.0.0.1]>",
    "%-hack through our address": "<relaytest%example.com@[127.0.0.1]>",
    "%-hack through a tenant domain": "<relaytest%example.com@acme.example>",
    "a tenant domain's sub-domain": "<relaytest@selfcheck.acme.example>",
}

tap = Tap()
need_root(tap)


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def make(tenant_port, networks="127.0.0.9/32", listen=None, extra="",
         interval="0s"):
    r = Relayd(tap, listen=listen,
               tenants={"acme.yaml": TENANT.format(port=tenant_port,
                                                   networks=networks)})
    r.selfcheck_extra = extra
    set_interval(r, interval)
    return r


def set_interval(r, interval):
    r.write_main("selfcheck:\n  interval: %s\n%s" % (interval,
                                                    r.selfcheck_extra))
    # The operator's postmaster in the tenant's domain: notices reach
    # the tenant's server, the test's sink.
    with open(r.conf) as f:
        text = f.read()
    with open(r.conf, "w") as f:
        f.write(text.replace("postmaster: hostmaster@test.example",
                             "postmaster: hostmaster@acme.example"))


def ctl(r, *args):
    """relayctl, with time for a run on a busy machine."""
    p = subprocess.run([RELAYCTL, "-s", r.sock] + list(args),
                       capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def selfcheck(r, *args):
    """relayctl selfcheck, again while a scheduled run holds the check."""
    res = [None]

    def once():
        res[0] = ctl(r, "selfcheck", *args)
        return "already running" not in res[0][2]
    wait_for(once, 120, 0.5)
    return res[0]


def report(out):
    """{status: [(listener, attempt, rest)]} of relayctl's lines."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"(OPEN|refused|failed) (\S+) (.*?): (<.*)$", line)
        if m:
            rows.setdefault(m.group(1), []).append(m.groups()[1:])
    return rows


def closed_relay():
    """A relay as it should be: every attempt refused."""
    sink_port = free_port("127.0.0.20")
    tenant = Sink("127.0.0.20", sink_port)
    p1, p2 = free_port(), free_port()
    listen = [("127.0.0.1:%d" % p1, "mx", "0s"),
              ("0.0.0.0:%d" % p2, "mx", "1s")]
    v6 = have_ipv6()
    if v6:
        p3 = free_port("::1")
        listen.append(("\"[::1]:%d\"" % p3, "mx", "0s"))
    r = make(sink_port, listen=listen)
    try:
        if not tap.ok(r.start(), "relayd starts"):
            return
        rc, out, err = selfcheck(r)
        tap.eq(rc, 0, "relayctl selfcheck exits 0: nothing was accepted")
        tap.eq(err, "", "nothing on stderr")
        tap.like(out, r"(?m)^source 127\.0\.0\.2 \(chosen: loopback, "
                 r"outside every tenant's outbound\.networks\)$",
                 "the IPv4 source is chosen outside the tenants' networks")
        if v6:
            tap.like(out, r"(?m)^source ::1 \(chosen", "and the IPv6 one")
        rows = report(out)
        tap.ok("OPEN" not in rows and "failed" not in rows,
               "no attempt was accepted, none failed")
        refused = rows.get("refused", [])
        listeners = set(x[0] for x in refused)
        want = {"127.0.0.1:%d" % p1, "0.0.0.0:%d" % p2}
        if v6:
            want.add("[::1]:%d" % p3)
        tap.eq(listeners, want, "every listener was tried, the wildcard "
               "one on loopback")
        for what, rcpt in ATTEMPTS.items():
            got = [x for x in refused if x[1] == what and rcpt in x[2]]
            tap.ok(len(got) == len(want) and all(
                re.search(r"-> <[^>]*>: 5\d\d ", x[2]) for x in got),
                "%s, refused with 5xx at RCPT on every listener" % what)
        null = [x for x in refused if x[1] == "null sender"]
        tap.ok(null and null[0][2].startswith("<> -> "),
               "the null sender is <>")
        tap.ok(any("Relay access denied" in x[2] for x in refused),
               "the replies are smtpd's own")
        if v6:
            tap.ok(any(x[1] == "our address" and "[IPv6:::1]" in x[2]
                       for x in refused), "our IPv6 address as a literal")
        n = len(refused)
        tap.like(out, r"(?m)^%d attempts: 0 OPEN, %d refused, 0 failed; 0 "
                 r"listeners not checked$" % (n, n), "the summary")
        tap.ok(r.wait_log(r"selfcheck \(uid 0\): %d attempts: 0 OPEN.*"
                          r"status=closed" % n), "the summary is logged")
        tap.ok(re.search(r"reject RCPT from \[127\.0\.0\.2\]", r.log()),
               "smtpd saw the attempts come from 127.0.0.2")
        if v6:
            tap.ok(re.search(r"reject RCPT from \[::1\]", r.log()),
                   "and from ::1")
        rc, qout, qerr = r.ctl("show", "queue")
        tap.eq(qout.splitlines()[1:], [], "nothing was queued")

        # A source of the operator's choosing.
        rc, out, err = selfcheck(r, "--from", "127.0.0.5")
        tap.eq(rc, 0, "--from 127.0.0.5 works")
        tap.like(out, r"(?m)^source 127\.0\.0\.5 \(--from\)$",
                 "and is the source")
        tap.ok(re.search(r"reject RCPT from \[127\.0\.0\.5\]", r.log()),
               "smtpd saw it")

        # Inside a tenant's networks: refused, not run.
        rc, out, err = ctl(r, "selfcheck", "--from", "127.0.0.9")
        tap.eq(rc, 1, "--from inside a tenant's networks exits 1")
        tap.like(err, r"127\.0\.0\.9 is inside the outbound\.networks of "
                 r"tenant acme.*the check would prove nothing; not run",
                 "and says why")
        tap.eq(out, "", "no attempt was made")

        # Not an address of this host: each attempt fails, and says so.
        rc, out, err = selfcheck(r, "--from", "192.0.2.99")
        tap.eq(rc, 1, "--from an address not ours exits 1")
        tap.like(out, r"(?m)^failed 127\.0\.0\.1:%d foreign recipient: .*"
                 r"connecting: bind 192\.0\.2\.99: " % p1,
                 "each attempt failed to bind, and says so")
        tap.like(err, r"the check is incomplete", "it is incomplete")

        # The timer, at a reload: a scheduled run, logged; no notice.
        set_interval(r, "2s")
        rc, out, err = r.ctl("reload")
        tap.eq(rc, 0, "reload with selfcheck.interval 2s")
        tap.ok(r.wait_log(r"selfcheck \(scheduled\): \d+ attempts: 0 OPEN.*"
                          r"status=closed", 90),
               "a scheduled run is logged: closed")
        tap.eq(tenant.count(), 0, "and tells no one")
    finally:
        r.cleanup()
        tenant.close()


def open_config():
    """A tenant that may relay from anywhere: nothing to prove from."""
    r = make(free_port(), networks='0.0.0.0/0, "::/0"', interval="2s")
    try:
        if not tap.ok(r.start(), "relayd starts with a tenant that may "
                      "relay from anywhere"):
            return
        rc, out, err = ctl(r, "selfcheck")
        tap.eq(rc, 1, "selfcheck refuses to run")
        tap.like(err, r"no listener can be reached from an address outside "
                 r"every tenant's outbound\.networks: the check would "
                 r"prove nothing", "and says why")
        tap.ok(r.wait_log(r"selfcheck \(scheduled\): not run: .*no listener "
                          r"can be reached", 60),
               "the scheduled run says so in the log")
    finally:
        r.cleanup()
    # selfcheck.from inside a tenant's networks: a configuration error.
    r = make(free_port(), extra="  from: 127.0.0.9\n")
    try:
        p = subprocess.run([RELAYD, "-n", "-f", r.conf], capture_output=True,
                           text=True, timeout=30)
        tap.eq(p.returncode, 1, "selfcheck.from inside a tenant's networks: "
               "relayd -n fails")
        tap.like(p.stderr, r"relayd\.yaml:\d+: selfcheck\.from 127\.0\.0\.9 "
                 r"is inside the outbound\.networks of tenant \"acme\"",
                 "naming the line and the tenant")
    finally:
        r.cleanup()


def open_relay():
    """The attempts sent to a server that accepts anything: OPEN."""
    sink_port = free_port("127.0.0.20")
    tenant = Sink("127.0.0.20", sink_port)
    fake_port = free_port()
    fake = Sink("127.0.0.1", fake_port)
    r = make(sink_port, interval="2s")
    try:
        if not tap.ok(r.start(debug=True, env={
                "RELAYD_SELFCHECK_PORT": str(fake_port)}),
                "the debug build starts, its self-check aimed at a "
                "permissive server"):
            return
        tap.ok(r.wait_log(r"selfcheck \(scheduled\): \d+ attempts: \d+ "
                          r"OPEN.*status=OPEN", 90),
               "the first scheduled run, soon after start, finds it open")
        tap.ok(r.wait_log(r"selfcheck \(scheduled\): listener=127\.0\.0\.1:"
                          r"%d .*to=<relaytest@example\.com> reply=\"250 "
                          r".*status=OPEN" % r.port),
               "each OPEN attempt is logged")
        tap.ok(tenant.wait(1, 60), "the operator's postmaster gets a notice")
        if tenant.count() > 0:
            m = tenant.messages[0]
            data = m.data.decode("ascii", "replace")
            tap.eq(m.sender, "", "from the null sender")
            tap.ok(any("hostmaster@acme.example" in x for x in m.rcpts),
                   "to relayd.yaml's postmaster")
            tap.like(data, r"(?m)^From: Mail Delivery System "
                     r"<MAILER-DAEMON@relay\.test\.example>\r$",
                     "from MAILER-DAEMON")
            tap.like(data, r"(?m)^Auto-Submitted: auto-generated\r$",
                     "Auto-Submitted: auto-generated")
            tap.like(data, r"(?m)^Subject: relayd on relay\.test\.example is "
                     r"an open relay: \d+ relay attempts were accepted\r$",
                     "the subject says it")
            tap.like(data, r"(?m)^OPEN 127\.0\.0\.1:%d foreign recipient: "
                     r"<selfcheck@relay\.test\.example> -> "
                     r"<relaytest@example\.com>: 250 " % r.port,
                     "the body lists the attempts accepted")
        raw = fake.received().decode("ascii", "replace")
        tap.like(raw, r"RCPT TO:<relaytest@example\.com>\r\nRSET\r\nQUIT",
                 "each session ends with RSET and QUIT after RCPT")
        tap.ok("DATA" not in raw and "BDAT" not in raw and
               fake.count() == 0, "no DATA is ever sent")
        tap.like(raw, r"MAIL FROM:<>\r\n", "the null sender is tried")

        # Now by hand: OPEN lines, and relayctl fails.
        set_interval(r, "0s")
        rc, out, err = r.ctl("reload")
        tap.eq(rc, 0, "the timer off, at a reload")
        rc, out, err = selfcheck(r)
        tap.eq(rc, 1, "relayctl selfcheck exits 1")
        rows = report(out)
        n = len(rows.get("OPEN", []))
        tap.ok(n > 0 and "refused" not in rows and "failed" not in rows,
               "every attempt is reported OPEN")
        tap.ok(any(x[1] == "foreign recipient" and "250 2.1.5 Ok" in x[2]
                   for x in rows.get("OPEN", [])),
               "with the reply that accepted it")
        tap.like(err, r"relayctl: OPEN RELAY: %d of %d attempts were "
                 r"accepted" % (n, n), "and says OPEN RELAY")
        log = r.log()
        mine = list(re.finditer(r"selfcheck \(uid 0\): \d+ attempts: .*"
                                r"status=OPEN", log))
        tap.ok(mine and "was handed to queued" not in log[mine[-1].end():],
               "a run by hand sends no notice")
    finally:
        r.cleanup()
        fake.close()
        tenant.close()


closed_relay()
open_config()
open_relay()
tap.done()
