#!/usr/bin/env python3
"""A recipient waiting for policyd while the transaction's spool file
arrives.  The file is asked for at the first accepted recipient; a fresh
smtpd holds no spare yet, so it comes from queued a moment later, while a
second recipient waits for its verdict (greylisting waits for SPF, and
the sender's SPF record is in a zone nobody answers for, so for dnsd's
time-out).  The file must wait for DATA: the waiting recipient gets its
own verdict, and the transaction goes on as the client sent it."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, code  # noqa: E402
from relaytest import Tap, dot_stuff, need_root  # noqa: E402

GREY = """\
policy:
  greylist:
    enabled: true
    delay: 1h
"""
BODY = b"Subject: rcptwait\r\nTo: <a@plain.example>\r\n\r\nhello\r\n"


def transaction(t, w, source, with_data):
    c, g = w.connect(source)
    c.cmd("EHLO client.example")
    tail = "DATA\r\n" if with_data else "RSET\r\n"
    c.send("MAIL FROM:<a@x.silent.test>\r\nRCPT TO:<a@plain.example>\r\n"
           "RCPT TO:<a@grey.example>\r\n" + tail)
    replies = [c.reply() for i in range(4)]
    if with_data and replies[3][0] == 354:
        c.send(dot_stuff(BODY) + b".\r\n")
        replies.append(c.reply())
    replies.append(c.cmd("QUIT"))
    c.close()
    return replies


def main():
    t = Tap()
    need_root(t)
    w = PolicyWorld(t, {"grey": GREY, "plain": ""})
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        for n, with_data in enumerate((False, True)):
            if n > 0:
                # A fresh smtpd again: no spare file.
                w.r.stop()
                t.ok(w.r.start(), "relayd restarted")
            got = transaction(t, w, "127.0.1.%d" % (n + 1), with_data)
            what = "DATA" if with_data else "RSET"
            want = ["250 2.1.0", "250 2.1.5", "451 4.7.1"] + (
                ["354", "250 2.0.0", "221 2.0.0"] if with_data else
                ["250 2.0.0", "221 2.0.0"])
            if not t.eq([code(r) for r in got], want, "pipelined, then %s: "
                        "the waiting recipient gets its verdict" % what):
                t.diag(got)
            t.like(got[2][1], r"Greylisted", "%s: the greylisting reply" %
                   what)
        t.ok(w.delivered(1), "the message went to the recipient accepted")
        m = w.sink.messages[0] if w.sink.messages else None
        t.eq(m and m.rcpt_addrs, ["a@plain.example"], "to it alone")
        t.ok(m is not None and m.data.endswith(BODY), "whole")
        t.ok(w.r.proc.poll() is None, "relayd still running")
    finally:
        w.stop()
    too_late(t)
    t.done()


def too_late(t):
    """smtpd gives up on a verdict (timeouts.policy 1 s, under dnsd's
    2 s for the silent zone) and the client starts a new transaction
    for the same recipient: the abandoned question is not decided with
    the new transaction's sender, nor logged as if it had been asked."""
    w = PolicyWorld(t, {"grey": GREY}, timeouts="command: 30s\n"
                    "data: 30s\npolicy: 1s\n")
    try:
        if not t.ok(w.start(), "another relayd: timeouts.policy 1s"):
            return
        c, g = w.connect("127.0.1.9")
        c.cmd("EHLO client.example")
        got = [code(c.cmd("MAIL FROM:<a@x.silent.test>")),
               code(c.cmd("RCPT TO:<r@grey.example>")),
               code(c.cmd("RSET")),
               code(c.cmd("MAIL FROM:<b@good.snd.test>")),
               code(c.cmd("RCPT TO:<r@grey.example>"))]
        c.cmd("QUIT")
        c.close()
        t.eq(got, ["250 2.1.0", "451 4.3.0", "250 2.0.0", "250 2.1.0",
                   "451 4.7.1"], "451 4.3.0 when the verdict is late; "
             "the next transaction greylisted")
        t.ok(w.log_has(r"policy rcpt client=\[127\.0\.1\.9\] .* "
                       r"from=<b@good\.snd\.test> to=<r@grey\.example> "
                       r"check=greylist .*greylist=new triplet"),
             "the new transaction's triplet is new")
        log = w.r.log()
        lines = [l for l in log.splitlines() if "policy rcpt" in l and
                 "from=<b@good.snd.test>" in l]
        if not t.eq(len(lines), 1, "and the only verdict logged for its "
                    "sender"):
            t.diag("\n".join(lines))
    finally:
        w.stop()


main()
