"""recipients: a relayd whose tenants verify recipients (callout, learn),
and a capture sink as the tenants' own server, for regress/recipients/.

The sink (sink.py) keeps every octet it was sent in raw: callouts are the
transactions with MAIL FROM:<>, and what they asked shows in their RCPT
lines.  Its rcpt function is the server's answer to each recipient; set
s.rcpt = refuse({"nobody@acme.example"}) to make some users unknown.
"""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relaytest import (CHILDREN, Relayd, SMTPClient, free_port,  # noqa: E402
                       wait_for)
from sink import Sink  # noqa: E402

SERVER = "127.0.0.20"     # the tenants' own server

TENANT = """\
tenant: {name}
postmaster: postmaster@{domain}
domains: [{domain}]
inbound:
  mode: {mode}
  deliver_to: [{deliver_to}]
{recipients}{extra}"""

# A backup tenant's other checks (on by default) are not the subject.
QUIET = """\
policy:
  greylist: {enabled: false}
  sender_domain: false
"""


def tenant(name, domain, port, mode="relay", recipients="", extra="",
           deliver_to=None):
    return TENANT.format(name=name, domain=domain, mode=mode,
                         deliver_to=deliver_to or "%s:%d" % (SERVER, port),
                         recipients=recipients, extra=extra)


def refuse(users, reply="550 5.1.1 <{}>: user unknown"):
    """A server that knows everyone but users."""
    return lambda addr: reply.format(addr) if addr.lower() in users \
        else "250 2.1.5 Ok"


class Setup:
    """relayd with the given tenant files, its queue retrying every
    second, timeouts.policy of policy (None: the default), and a sink
    on SERVER."""

    def __init__(self, tap, tenants, policy="6s", queue="", sink=True):
        self.tap = tap
        self.port = free_port(SERVER)
        files = {"%s.yaml" % n: t(self.port) for n, t in tenants.items()}
        self.r = Relayd(tap, tenants=files,
                        timeouts="command: 10s\n" +
                        ("policy: %s\n" % policy if policy else ""),
                        queue="retry_min: 1s\nretry_max: 1s\n" + queue)
        self.sink = Sink(SERVER, self.port) if sink else None

    def start(self, **kw):
        return self.r.start(**kw)

    def down(self):
        """The server goes away; its port stays closed."""
        if self.sink:
            self.sink.close()
        self.sink = None

    def up(self):
        self.sink = Sink(SERVER, self.port)
        return self.sink

    def rcpt(self, addr, sender="someone@sender.test"):
        """One RCPT in a fresh session: (code, text); sender "" is <>."""
        c = SMTPClient(self.r.port, timeout=60)
        try:
            c.reply()
            c.cmd("EHLO client.test")
            c.cmd("MAIL FROM:<%s>" % sender)
            return c.cmd("RCPT TO:<%s>" % addr)
        finally:
            c.close()

    def callouts(self, addr=None, sink=None):
        """The addresses callouts asked the server about (addr only, if
        given): RCPT after MAIL FROM:<>, in each connection."""
        sink = sink or self.sink
        if sink is None:
            return []
        with sink.lock:
            sessions = [list(s) for s in sink.sessions]
        asked = []
        for cmds in sessions:
            for i, c in enumerate(cmds[1:], 1):
                if cmds[i - 1].upper() == "MAIL FROM:<>" and \
                        c.upper().startswith("RCPT TO:<"):
                    asked.append(c[9:].split(">")[0])
        return [a for a in asked if addr is None or a.lower() ==
                addr.lower()]

    def commands(self, sink=None):
        """Every command line the server received, in order per
        connection."""
        sink = sink or self.sink
        with sink.lock:
            return [c for s in sink.sessions for c in s]

    def alive(self):
        return self.r.proc.poll() is None and \
            len(self.r.children()) == len(CHILDREN)

    def stop(self):
        if self.sink:
            self.sink.close()
        self.r.cleanup()


def in_parallel(fns):
    """Run each function in its own thread at once; their results."""
    out = [None] * len(fns)
    start = threading.Barrier(len(fns))

    def run(i, fn):
        start.wait()
        out[i] = fn()
    ts = [threading.Thread(target=run, args=(i, f)) for i, f in
          enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    return out


def slow(seconds, then="250 2.1.5 Ok"):
    """A server that thinks before it answers RCPT."""
    def answer(addr):
        time.sleep(seconds)
        return then
    return answer


def stall_port():
    """A listener that accepts, greets, answers EHLO, then says nothing
    more: a server stalled after EHLO.  Returns (port, closer)."""
    port = free_port(SERVER)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((SERVER, port))
    ls.listen(16)
    conns = []
    running = [True]

    def serve():
        while running[0]:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            conns.append(c)
            threading.Thread(target=talk, args=(c,), daemon=True).start()

    def talk(c):
        try:
            c.sendall(b"220 stall.test ESMTP\r\n")
            buf = b""
            while b"\r\n" not in buf:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
            c.sendall(b"250 stall.test\r\n")
            while c.recv(4096):
                pass        # read on, answer never
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()

    def close():
        running[0] = False
        for s in [ls] + conns:
            try:
                s.close()
            except OSError:
                pass
    return port, close
