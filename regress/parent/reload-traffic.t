#!/usr/bin/env python3
"""relayctl reload under continuous traffic, while tenant files change,
loses no session and no message (relayd(8), Signals: SIGHUP).

Client threads send without pause: one transaction per session, several
per session, pipelined (MAIL, RCPT and DATA in one write), and by BDAT.
Meanwhile the test reloads many times: it moves one tenant's deliver_to
between two capture servers and grows its recipient list, adds a tenant
(mail for it joins the traffic once its reload has returned) and removes
a third whose mail is not in the traffic.  Every reply must be the one a
working relay gives (nothing in the traffic is for the removed tenant, so
no 451 4.3.0 is due), every session must end with our QUIT, every message
answered 250 must reach a capture server exactly once per recipient, and
relayd must keep the children it started.  Last, deliver_to moves to a
third server, and the mail accepted after that reload returned must go
there, although the connections to the old one never fall idle."""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402
from relaytest import (Relayd, SMTPClient, Tap, dot_stuff,  # noqa: E402
                       free_port, wait_for)
from sink import Sink  # noqa: E402

RELOADS = 24
CLIENTS = [("plain", 1), ("several", 4), ("pipelined", 3), ("bdat", 2),
           ("bdat-pipelined", 3)]

STAY = """\
tenant: stay
postmaster: postmaster@stay.example
domains: [stay.example]
inbound:
  mode: relay
  deliver_to: [127.0.0.1:{port}]
recipients:
  verify: list
  list: [{rcpts}]
"""

OTHER = """\
tenant: {name}
postmaster: postmaster@{name}.example
domains: [{name}.example]
inbound:
  mode: relay
  deliver_to: [127.0.0.1:{port}]
"""


class Traffic:
    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.added = threading.Event()  # the added tenant is in force
        self.lock = threading.Lock()
        self.accepted = {}      # tag -> recipients
        self.final = False      # the last reload has returned
        self.after = set()      # tags begun after it
        self.problems = []
        self.sessions = 0

    def problem(self, who, what):
        with self.lock:
            self.problems.append("%s: %s" % (who, what))

    def rcpts(self, n):
        """Recipients for message n: stay's, and added's once it is in
        force; never gone's."""
        r = [["alice@stay.example"], ["bob@stay.example",
                                      "alice@stay.example"]][n % 2]
        if self.added.is_set() and n % 3 == 0:
            r = r + ["someone@added.example"]
        return r

    def expect(self, c, who, line, want):
        if line is not None:
            c.send(line + "\r\n")
        code, text = c.reply()
        if code != want:
            self.problem(who, "%r: got %r %r, want %d" % (line, code, text,
                                                          want))
            return False
        return True

    def body(self, tag):
        return ("Subject: reload traffic\r\nX-Tag: %s\r\n\r\n%s\r\n" %
                (tag, "line of text\r\n" * (3 + len(tag) % 5))).encode()

    def transaction(self, c, who, tag, rcpts, mode):
        body = self.body(tag)
        after = self.final
        mail = "MAIL FROM:<%s@client.example>" % who
        if mode.endswith("pipelined"):
            lines = [mail] + ["RCPT TO:<%s>" % r for r in rcpts]
            if mode == "pipelined":
                c.send("".join(l + "\r\n" for l in lines + ["DATA"]))
            else:
                c.send("".join(l + "\r\n" for l in lines).encode() +
                       b"BDAT %d LAST\r\n" % len(body) + body)
            for l in lines:
                if not self.expect(c, who, None, 250):
                    return False
            if mode == "pipelined":
                if not self.expect(c, who, None, 354):
                    return False
                c.send(dot_stuff(body) + b".\r\n")
        else:
            if not self.expect(c, who, mail, 250):
                return False
            for r in rcpts:
                if not self.expect(c, who, "RCPT TO:<%s>" % r, 250):
                    return False
            if mode == "bdat":
                c.send(b"BDAT %d LAST\r\n" % len(body) + body)
            else:
                if not self.expect(c, who, "DATA", 354):
                    return False
                c.send(dot_stuff(body) + b".\r\n")
        code, text = c.reply()
        if code != 250:
            self.problem(who, "end of data of %s: got %r %r" % (tag, code,
                                                                 text))
            return False
        with self.lock:
            self.accepted[tag] = sorted(rcpts)
            if after:
                self.after.add(tag)
        return True

    def client(self, mode, per_session):
        who = "%s" % mode
        n = 0
        while not self.stop.is_set():
            try:
                c = SMTPClient(self.port, timeout=60)
            except OSError as e:
                self.problem(who, "connect: %s" % e)
                return
            try:
                ok = self.expect(c, who, None, 220) and \
                    self.expect(c, who, "EHLO client.example", 250)
                for _ in range(per_session):
                    if not ok:
                        break
                    n += 1
                    ok = self.transaction(c, who, "%s-%d" % (who, n),
                                          self.rcpts(n), mode)
                if ok and self.expect(c, who, "QUIT", 221):
                    with self.lock:
                        self.sessions += 1
                if not ok:
                    return
            except OSError as e:
                self.problem(who, "session cut: %s" % e)
                return
            finally:
                c.close()


def delivered(sinks):
    """(tag, recipient) -> times delivered, over every sink."""
    got = {}
    for s in sinks:
        with s.lock:
            msgs = list(s.messages)
        for m in msgs:
            tag = re.search(rb"X-Tag: (\S+)", m.data)
            tag = tag.group(1).decode() if tag else "?"
            for r in m.rcpt_addrs:
                got[(tag, r)] = got.get((tag, r), 0) + 1
    return got


def main():
    t = Tap()
    relaytest.need_root(t)
    a = Sink("127.0.0.1", free_port())
    b = Sink("127.0.0.1", free_port())
    c = Sink("127.0.0.1", free_port())
    final = Sink("127.0.0.1", free_port())
    sinks = [a, b, c, final]
    listed = ["alice@stay.example", "bob@stay.example"]
    r = Relayd(t, tenants={
        "stay.yaml": STAY.format(port=a.port, rcpts=", ".join(listed)),
        "gone.yaml": OTHER.format(name="gone", port=c.port)})
    traffic = None
    threads = []
    try:
        if not t.ok(r.start(verbose=False), "relayd starts"):
            t.done()
        n = len(relaytest.CHILDREN)
        kids = wait_for(lambda: (lambda k: k if len(k) == n else None)(
            r.children()), 10) or {}
        t.eq(len(kids), len(relaytest.CHILDREN), "every child")
        traffic = Traffic(r.port)
        for mode, per in CLIENTS:
            th = threading.Thread(target=traffic.client, args=(mode, per),
                                  daemon=True)
            th.start()
            threads.append(th)
        wait_for(lambda: len(traffic.accepted) >= 10, 30)

        failed = []
        for i in range(1, RELOADS + 1):
            listed.append("extra%d@stay.example" % i)
            r.write_tenant("stay.yaml", STAY.format(
                port=(a if i % 2 == 0 else b).port,
                rcpts=", ".join(listed)))
            if i == 4:
                r.write_tenant("added.yaml",
                               OTHER.format(name="added", port=c.port))
            if i == 8:
                os.unlink(os.path.join(r.tenants_dir, "gone.yaml"))
            rc, out, err = r.ctl("reload")
            if rc != 0:
                failed.append((i, rc, err))
            if i == 4 and rc == 0:
                traffic.added.set()
            time.sleep(0.1)
        r.write_tenant("stay.yaml", STAY.format(port=final.port,
                                                rcpts=", ".join(listed)))
        rc, out, err = r.ctl("reload")
        t.eq((rc, err), (0, ""), "the last reload moves deliver_to to a "
             "third server")
        traffic.final = True
        n = len(traffic.accepted)
        wait_for(lambda: len(traffic.accepted) > n + 200, 30)
        traffic.stop.set()
        for th in threads:
            th.join(90)
        t.eq(failed, [], "%d reloads under traffic, each answered OK once "
             "every process had it" % RELOADS)
        t.ok(not any(th.is_alive() for th in threads),
             "every client finished its last session")
        t.eq(traffic.problems, [], "every reply was the expected one, and "
             "no session was cut")
        t.ok(traffic.sessions > RELOADS,
             "sessions ran throughout (%d sessions, %d messages accepted)"
             % (traffic.sessions, len(traffic.accepted)))
        t.ok(any(len(v) == 3 for v in traffic.accepted.values()),
             "mail for the added tenant was accepted once it was in force")

        want = {}
        for tag, rcpts in traffic.accepted.items():
            for rc in rcpts:
                want[(tag, rc)] = 1
        got = wait_for(lambda: (lambda g: g if set(g) >= set(want) else
                                None)(delivered(sinks)), 120) \
            or delivered(sinks)
        time.sleep(1)       # a duplicate would come now
        got = delivered(sinks)
        missing = sorted(k for k in want if k not in got)
        t.eq(missing[:10], [], "every message answered 250 was delivered "
             "(%d recipients)" % len(want))
        t.eq(sorted(k for k, n in got.items() if n > 1)[:10], [],
             "none twice")
        t.eq(sorted(k for k in got if k not in want)[:10], [],
             "nothing delivered that was not accepted")
        stay_after = [tag for tag in traffic.after
                      if traffic.accepted[tag] != ["someone@added.example"]]
        with final.lock:
            there = set(re.search(rb"X-Tag: (\S+)", m.data).group(1).decode()
                        for m in final.messages)
        strays = sorted(set(stay_after) - there)
        t.ok(stay_after and not strays,
             "the %d messages accepted after the last reload went to the "
             "new deliver_to (%d did not)" %
             (len(stay_after), len(strays)))

        t.eq(r.children(), kids, "the children are the ones started")
        t.ok(r.proc.poll() is None, "relayd runs on")
        rc, out, err = r.ctl("show", "status")
        t.like(out, r"relayd .* running, configuration %d\b" %
               (RELOADS + 2), "configuration %d in force" % (RELOADS + 2))
        t.ok(not re.search(r"stopping relayd|killed by signal|fatal|"
                           r"kept its previous configuration", r.log()),
             "no child died or refused a configuration")
    finally:
        if traffic is not None:
            traffic.stop.set()
        for s in sinks:
            s.close()
        r.cleanup()
    t.done()


main()
