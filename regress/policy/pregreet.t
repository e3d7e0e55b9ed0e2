#!/usr/bin/env python3
"""Pregreet, the postscreen model: a listener's greeting_delay with its
pass cache.  Two listeners share the cache: one waits 2 s before its
greeting, the other 60 s, three times the client's patience.  A client
that waited on the first is greeted at once by the second (it would time
out otherwise); a client that talks first is refused, and refused at
connect next time, on either listener (554 5.7.1); both are remembered
across a restart."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld  # noqa: E402
from relaytest import SMTPClient, Tap, free_port, need_root  # noqa: E402

PATIENCE = 20           # the client's time-out, seconds


def main():
    t = Tap()
    need_root(t)
    slow = free_port()
    w = PolicyWorld(t, {"plain": ""}, listen=lambda p: [
        ("127.0.0.1:%d" % p, "mx", "2s"),
        ("127.0.0.1:%d" % slow, "mx", "60s")])
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        run(t, w, w.port, slow)
    finally:
        w.stop()
    forgiven(t)
    t.done()


def forgiven(t):
    """An early talker is refused for an hour: on the test clock of the
    debug build, where a second is SCALE, the hour is gone in seconds."""
    scale = 600
    w = PolicyWorld(t, {"plain": ""}, listen=lambda p: [
        ("127.0.0.1:%d" % p, "mx", "1s")])
    try:
        env = {"RELAYD_TIME_SCALE": str(scale),
               "RELAYD_TIME_BASE": str(int(time.time()))}
        if not t.ok(w.start(debug=True, env=env), "the debug build starts, "
                    "a second is %d" % scale):
            return
        rep, closed = talk_first(w.port, "127.0.1.5")
        t.like(rep[1], r"^554 5\.5\.1 ", "a client talks first")
        start = time.time()
        rep = greeting(w.port, "127.0.1.5")
        t.like(rep and rep[1], r"^554 5\.7\.1 ", "refused at connect")
        time.sleep(max(0, start + 3600 / scale + 2 - time.time()))
        rep = greeting(w.port, "127.0.1.5")
        t.like(rep and rep[1], r"^220 ", "an hour later on the test clock: "
               "it may try again, and waits for the greeting")
    finally:
        w.stop()


def greeting(port, source, timeout=PATIENCE):
    """The greeting, or None if it did not come within timeout."""
    c = SMTPClient(port, source=source, timeout=timeout)
    try:
        return c.reply()
    except socket.timeout:
        return None
    finally:
        c.close()


def talk_first(port, source):
    c = SMTPClient(port, source=source, timeout=PATIENCE)
    try:
        c.send("EHLO early.example\r\n")
        rep = c.reply()
        return rep, c.closed()
    finally:
        c.close()


def run(t, w, fast, slow):
    t.eq(greeting(slow, "127.0.1.1", 3), None,
         "a new client on the 60 s listener: no greeting within 3 s")
    rep = greeting(fast, "127.0.1.1")
    t.like(rep and rep[1], r"^220 ", "it waits 2 s on the other: greeted")
    rep = greeting(slow, "127.0.1.1")
    t.like(rep and rep[1], r"^220 ", "then the 60 s listener greets it "
           "within the client's %d s: the pass is remembered" % PATIENCE)
    t.eq(greeting(slow, "127.0.1.3", 3), None,
         "another address of its /24 still waits")

    rep, closed = talk_first(fast, "127.0.1.2")
    t.like(rep[1], r"^554 5\.5\.1 relay\.test\.example Error: talking "
           r"before the greeting", "a client that talks first: 554")
    t.ok(closed, "and is disconnected")
    t.ok(w.log_has(r"policy pregreet client=\[127\.0\.1\.2\] "
                   r"result=talked-first; refused at connect"),
         "logged: remembered as an early talker")
    for port, what in ((fast, "the 2 s listener"), (slow, "the 60 s one")):
        rep = greeting(port, "127.0.1.2")
        t.like(rep and rep[1], r"^554 5\.7\.1 relay\.test\.example Error: "
               r"your address talked before our greeting",
               "it comes back on %s: refused at connect" % what)
    t.ok(w.log_has(r"policy connect client=\[127\.0\.1\.2\] tenant=- (.* )?"
                   r"check=pregreet result=reject 554 5\.7\.1 .*; "
                   r"pregreet=talked-first-before"),
         "logged: the verdict, check=pregreet")

    w.r.stop()
    if not t.ok(w.r.start(), "relayd restarts on the same state"):
        return
    rep = greeting(slow, "127.0.1.1")
    t.like(rep and rep[1], r"^220 ", "after the restart, the client that "
           "waited is still greeted at once")
    rep = greeting(slow, "127.0.1.2")
    t.like(rep and rep[1], r"^554 5\.7\.1 ", "and the early talker still "
           "refused")
    t.ok(w.r.proc.poll() is None, "relayd still running")


main()
