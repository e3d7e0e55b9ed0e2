#!/usr/bin/env python3
"""The seccomp filters kill: in the debug build, smtpd makes an outgoing
connection, dnsd opens a file, deliverd and dnsd make a Unix socket (they
may open IPv4 and IPv6 sockets only), policyd makes any socket at all, and
queued clones a process (it may start threads only); each is killed by SIGSYS and relayd reports it and
stops.  clone3, whose flags seccomp cannot see, is answered with ENOSYS,
and queued's threads still start (glibc falls back to clone)."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, RELAYD_DEBUG, Relayd,  # noqa: E402
                       SMTPClient, Tap, send_message)

tap = Tap()
if not os.path.exists(RELAYD_DEBUG):
    tap.skip_all("no debug build (make debug)")
if os.environ.get("SANITIZE") == "1":
    tap.skip_all("SANITIZE=1 builds log denials instead of killing")

TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")


def connect(r):
    """A connection makes smtpd accept and ask dnsd for the client's name."""
    try:
        socket.create_connection(("127.0.0.1", r.port), 5).recv(100)
    except OSError:
        pass


def transaction(r):
    """Up to RCPT: smtpd asks queued for a spool file."""
    try:
        c = SMTPClient(r.port)
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@sender.example>")
        c.cmd("RCPT TO:<bob@acme.example>")
        c.close()
    except OSError:
        pass


def message(r):
    """A whole message: queued hands deliverd a job."""
    try:
        send_message(r.port, "a@sender.example", ["bob@acme.example"],
                     b"Subject: x\r\n\r\nx\r\n")
    except OSError:
        pass


CASES = (("smtpd-connect", "smtpd", connect), ("dnsd-open", "dnsd", connect),
         ("dnsd-unix-socket", "dnsd", connect),
         ("deliverd-unix-socket", "deliverd", message),
         ("queued-fork", "queued", transaction),
         ("policyd-socket", "policyd", connect))
for call, child, provoke in CASES:
    # A connection rate makes smtpd ask policyd at each connection.
    r = Relayd(tap, tenants={"acme.yaml": TENANT},
               limits="client_connection_rate: 1000\n")
    try:
        tap.ok(r.start(debug=True, env={"RELAYD_FORBIDDEN": call}),
               "%s: relayd starts" % call)
        provoke(r)
        rc = r.wait_exit(10)
        tap.ok(rc not in (None, 0), "%s: relayd stops (exit %s)" % (call, rc))
        tap.ok(r.wait_log(r"%s \(pid \d+\) was killed by signal 31 "
                          r"\(Bad system call\); stopping relayd" % child, 2),
               "%s: %s was killed by SIGSYS, and relayd says so" % (call,
                                                                     child))
        tap.ok(not r.wait_log(r"was allowed", 0.1),
               "%s: the call never returned" % call)
    finally:
        r.cleanup()

r = Relayd(tap, tenants={"acme.yaml": TENANT})
try:
    tap.ok(r.start(debug=True, env={"RELAYD_FORBIDDEN": "queued-clone3"}),
           "queued-clone3: relayd starts")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], b"Subject: x\r\n\r\nx\r\n")
    tap.ok(r.wait_log(r"fault injection: clone3 returned -1: Function not "
                      r"implemented"), "clone3 is answered with ENOSYS")
    tap.eq(code, 250, "queued's threads still commit the message")
    tap.ok(r.proc.poll() is None, "relayd is still running")
finally:
    r.cleanup()
tap.done()
