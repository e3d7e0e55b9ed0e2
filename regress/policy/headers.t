#!/usr/bin/env python3
"""Checks at the end of data: a tenant's require_to_or_cc (554 5.6.0 when
To: and Cc: are both absent or empty), the operator's header_max_fields
and header_max_size (554 5.6.0 for everyone), and the end-of-data class:
a transaction has one end of data, so a recipient whose tenant checks it
differently from the first recipient's (To/Cc or not, spf: tag or not)
gets 452 4.5.3 and comes in a new transaction."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, code  # noqa: E402
from relaytest import (SMTPClient, Tap, dot_stuff, need_root,  # noqa: E402
                       wait_for)

TENANTS = {
    "tocc": "policy:\n  require_to_or_cc: true\n",
    "tocc2": "policy:\n  require_to_or_cc: true\n",
    "tag": "policy:\n  spf: tag\n",
    "plain": "",
}
OK = "250 2.0.0"
NO = "554 5.6.0"
# (header, what, the end-of-data reply for tocc, for plain)
CASES = [
    (b"Subject: x\r\n", "no To: or Cc:", NO, OK),
    (b"To:\r\nSubject: x\r\n", "an empty To:", NO, OK),
    (b"To:  \t \r\nCc:\r\n", "To: and Cc: of white space", NO, OK),
    (b"To:\r\n \r\n\t\r\n", "a To: folded over white space", NO, OK),
    (b"X-To: <a@b.example>\r\nResent-To: <a@b.example>\r\n",
     "only other fields ending in To", NO, OK),
    (b"To: <r@tocc.example>\r\n", "a To: with an address", OK, OK),
    (b"tO: <r@tocc.example>\r\n", "a To: in mixed case", OK, OK),
    (b"Cc: <r@tocc.example>\r\n", "a Cc: alone", OK, OK),
    (b"To:\r\n <r@tocc.example>\r\n", "a To: folded onto its next line",
     OK, OK),
    (b"Subject: x\r\n\r\nTo: <r@tocc.example>\r\n",
     "a To: line in the body only", NO, OK),
]


def send(w, rcpt, msg, source="127.0.1.1"):
    out = w.session(source, "s@good.snd.test", [rcpt], body=msg)
    return out.get("end") or out.get("data") or (out["rcpt"] or [None])[0]


def main():
    t = Tap()
    need_root(t)
    w = PolicyWorld(t, TENANTS, limits="header_max_fields: 20\n"
                    "header_max_size: 16K\n")
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        run(t, w)
    finally:
        w.stop()
    t.done()


def run(t, w):
    for head, what, tocc, plain in CASES:
        msg = head + (b"" if b"\r\n\r\n" in head else b"\r\nbody\r\n")
        t.eq(code(send(w, "r@tocc.example", msg)), tocc,
             "require_to_or_cc, %s: %s" % (what, tocc))
        t.eq(code(send(w, "r@plain.example", msg)), plain,
             "a tenant without it, %s: %s" % (what, plain))
    rep = send(w, "r@tocc.example", b"Subject: x\r\n\r\nbody\r\n")
    t.like(rep[1], r"^554 5\.6\.0 Message refused: no recipient in To: or "
           r"Cc:", "the reply says why")
    t.eq(code(send(w, "postmaster@tocc.example", b"Subject: x\r\n\r\nb\r\n")),
         OK, "postmaster@ of the tenant: no To/Cc check")

    # BDAT: the header split across chunks.
    for chunks, want, what in (
            ((b"Subject: x\r\nT", b"o: <r@tocc.example>\r\n\r\nb\r\n"), OK,
             "a To: split across two BDAT chunks"),
            ((b"Subject: x\r\n", b"\r\nTo: <r@tocc.example>\r\n"), NO,
             "BDAT: a To: line in the body only")):
        t.eq(code(bdat(w, "r@tocc.example", chunks)), want,
             "require_to_or_cc, %s: %s" % (what, want))

    # The operator's limits, for every tenant.
    many = [b"X-F%d: v\r\n" % i for i in range(20)]
    for rcpt in ("r@plain.example", "r@tocc.example"):
        t.eq(code(send(w, rcpt, b"To: <a@b.example>\r\n" +
                       b"".join(many[:19]) + b"\r\nbody\r\n")), OK,
             "%s: 20 fields pass" % rcpt)
        rep = send(w, rcpt, b"To: <a@b.example>\r\n" + b"".join(many) +
                   b"\r\nbody\r\n")
        t.like(rep[1], r"^554 5\.6\.0 Message refused: too many header "
               r"fields", "%s: 21 fields: 554 5.6.0" % rcpt)
    big = b"To: <a@b.example>\r\nX-Big: " + b"x" * 16400 + b"\r\n\r\nb\r\n"
    rep = send(w, "r@plain.example", big)
    t.like(rep[1], r"^554 5\.6\.0 Message refused: header section too large",
           "a header over 16K: 554 5.6.0")
    folded = b"To: <a@b.example>\r\nX-Big: " + b"\r\n ".join(
        [b"y" * 70] * 250) + b"\r\n\r\nb\r\n"
    rep = send(w, "r@plain.example", folded)
    t.like(rep[1], r"^554 5\.6\.0 Message refused: header section too large",
           "a header over 16K in one folded field: 554 5.6.0")
    t.eq(code(send(w, "r@plain.example", b"To: <a@b.example>\r\n\r\n" +
                   b"z" * 40000 + b"\r\n")), OK,
         "a body over 16K is no header")

    # The end-of-data class.
    classes(t, w, "tocc", "plain", "require_to_or_cc and not")
    classes(t, w, "tag", "plain", "spf: tag and off")
    classes(t, w, "tocc", "tag", "require_to_or_cc and spf: tag")
    out = w.session("127.0.1.1", "s@good.snd.test",
                    ["r@tocc.example", "r@tocc2.example"],
                    body=b"To: <r@tocc.example>\r\n\r\nb\r\n")
    t.eq([code(r) for r in out["rcpt"]] + [code(out.get("end"))],
         ["250 2.1.5", "250 2.1.5", OK],
         "two tenants of one class: one transaction")
    out = w.session("127.0.1.1", "s@good.snd.test",
                    ["r@tocc.example", "postmaster@tocc.example"],
                    body=b"To: <r@tocc.example>\r\n\r\nb\r\n")
    t.eq([code(r) for r in out["rcpt"]], ["250 2.1.5", "452 4.5.3"],
         "postmaster@ (checked by nothing) after a To/Cc recipient: "
         "452 4.5.3")


def bdat(w, rcpt, chunks):
    """One transaction sent in BDAT chunks: the last reply."""
    c = SMTPClient(w.port, source="127.0.1.1", timeout=30)
    try:
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<s@good.snd.test>")
        rep = c.cmd("RCPT TO:<%s>" % rcpt)
        for i, chunk in enumerate(chunks):
            last = " LAST" if i == len(chunks) - 1 else ""
            c.send(b"BDAT %d%s\r\n" % (len(chunk), last.encode()) + chunk)
            rep = c.reply()
        c.cmd("QUIT")
        return rep
    finally:
        c.close()


def classes(t, w, first, second, what):
    """The second recipient's class differs: 452 4.5.3, then it comes in
    a new transaction, and each message reaches its tenant."""
    tag = ("class %s %s" % (first, second)).encode()
    msg = b"To: <r@%s.example>\r\nSubject: %s\r\n\r\nbody\r\n" % (
        first.encode(), tag)
    c = SMTPClient(w.port, source="127.0.1.1", timeout=30)
    try:
        c.reply()
        c.cmd("EHLO client.example")
        got = [code(c.cmd("MAIL FROM:<s@pass.snd.test>")),
               code(c.cmd("RCPT TO:<r@%s.example>" % first)),
               code(c.cmd("RCPT TO:<r@%s.example>" % second))]
        rep = c.cmd("DATA")
        if rep[0] == 354:
            c.send(dot_stuff(msg) + b".\r\n")
            rep = c.reply()
        got.append(code(rep))
        got += [code(c.cmd("MAIL FROM:<s@pass.snd.test>")),
                code(c.cmd("RCPT TO:<r@%s.example>" % second))]
        rep = c.cmd("DATA")
        if rep[0] == 354:
            c.send(dot_stuff(msg) + b".\r\n")
            rep = c.reply()
        got.append(code(rep))
        c.cmd("QUIT")
    finally:
        c.close()
    t.eq(got, ["250 2.1.0", "250 2.1.5", "452 4.5.3", OK, "250 2.1.0",
               "250 2.1.5", OK], "%s: 452 4.5.3 for the second, accepted "
         "in a new transaction" % what)
    mine = lambda: [m for m in list(w.sink.messages) if tag in m.data]
    if t.ok(wait_for(lambda: len(mine()) >= 2, 30),
            "%s: both delivered" % what):
        rcpts = sorted(a for m in mine() for a in m.rcpt_addrs)
        t.eq(rcpts, sorted(["r@%s.example" % first,
                            "r@%s.example" % second]),
             "%s: one message each" % what)


main()
