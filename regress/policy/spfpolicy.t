#!/usr/bin/env python3
"""SPF as a tenant's policy: `spf: reject` refuses a fail (550 5.7.23)
and defers a temporary error (451 4.7.24, from a name server that never
answers), and accepts pass, softfail, neutral, none and permerror (the
last logged, treated as none); `spf: tag` accepts everything and the
delivered message starts with a Received-SPF field, above our Received:,
the rest byte for byte what the client sent."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, code  # noqa: E402
from relaytest import Tap, need_root, wait_for  # noqa: E402

TENANTS = {
    "rej": "policy:\n  spf: reject\n",
    "tag": "policy:\n  spf: tag\n",
    "plain": "",
}
OK = "250 2.1.5"
REJECT = [
    ("a@pass.snd.test", OK, "pass"),
    ("a@fail.snd.test", "550 5.7.23", "fail"),
    ("a@soft.snd.test", OK, "softfail"),
    ("a@neutral.snd.test", OK, "neutral"),
    ("a@good.snd.test", OK, "none"),
    ("a@perm.snd.test", OK, "permerror"),
    ("a@x.silent.test", "451 4.7.24", "temperror (no answer)"),
    ("a@tempinc.snd.test", "451 4.7.24",
     "temperror (an include nobody answers for)"),
]
BODY = (b"From: <a@%s>\r\nTo: <r@tag.example>\r\nSubject: spf tag\r\n"
        b"X-Odd:  two  spaces\t\r\n\r\n.a line starting with a dot\r\n"
        b"\r\n\xc3\xa9 eight bits\r\nlast line\r\n")


def fields(data):
    """The header's fields, each with its folded lines, in order."""
    head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    rx = rb"[^ \t\r\n][^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*"
    return [m.group(0) for m in re.finditer(rx, head)]


def main():
    t = Tap()
    need_root(t)
    w = PolicyWorld(t, TENANTS)
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        run(t, w)
    finally:
        w.stop()
    t.done()


def run(t, w):
    for sender, want, what in REJECT:
        rep = w.rcpt_reply("127.0.1.1", sender, "r@rej.example")
        t.eq(code(rep), want, "spf: reject, %s: %s" % (what, want))
    rep = w.rcpt_reply("127.0.1.1", "a@fail.snd.test", "r@rej.example")
    t.like(rep[1], r"^550 5\.7\.23 SPF: 127\.0\.1\.1 is not allowed to send "
           r"mail for fail\.snd\.test", "the fail reply names the client and "
           "domain")
    t.ok(w.log_has(r"policy spf client=\[127\.0\.1\.1\] "
                   r"from=<a@perm\.snd\.test>: permerror \(.*\), treated as "
                   r"none"), "permerror: logged, treated as none")
    t.ok(w.log_has(r"(?m)policy rcpt client=\[127\.0\.1\.1\] tenant=rej "
                   r"from=<a@fail\.snd\.test> to=<r@rej\.example> check=spf "
                   r"result=reject 550 5\.7\.23 .*; spf=fail "
                   r"\(fail\.snd\.test: .*\)$"),
         "the refusal logged on one line: check=spf, the result and why")
    t.eq(code(w.rcpt_reply("127.0.1.1", "a@fail.snd.test",
                           "r@plain.example")), OK,
         "a tenant with spf off: a fail accepted")
    t.eq(code(w.rcpt_reply("127.0.1.1", "a@fail.snd.test",
                           "r@tag.example")), OK,
         "spf: tag: a fail accepted")

    # tag: what is delivered.
    n = 0
    for sender, result in (("pass.snd.test", "pass"),
                           ("fail.snd.test", "fail"),
                           ("soft.snd.test", "softfail")):
        body = BODY % sender.encode()
        out = w.session("127.0.1.1", "a@" + sender, ["r@tag.example"],
                        body=body)
        t.like(out.get("end", (0, ""))[1], r"^250 2\.0\.0 ",
               "spf: tag, %s: queued" % result)
        n += 1
        if not t.ok(w.delivered(n), "delivered"):
            return
        data = w.sink.messages[n - 1].data
        f = fields(data)
        t.like(f[0].decode(errors="replace") if f else None,
               r"^Received-SPF: %s \(relay\.test\.example: " % result,
               "%s: the message starts with Received-SPF: %s" %
               (result, result))
        t.like(f[0].decode(errors="replace") if f else None,
               r"client-ip=127\.0\.1\.1;\s+envelope-from=\"?a@%s\"?;"
               % re.escape(sender), "%s: its client-ip and envelope-from" %
               result)
        t.ok(len(f) > 1 and f[1].startswith(b"Received: from "),
             "%s: then our Received:" % result)
        rest = data[sum(len(x) for x in f[:2]):] if len(f) > 1 else b""
        t.eq(rest, body, "%s: then what the client sent, byte for byte" %
             result)
        t.ok(all(len(line) <= 78 for line in f[0].split(b"\r\n")),
             "%s: the field folded at 78 columns" % result)
    out = w.session("127.0.1.1", "a@pass.snd.test", ["r@plain.example"],
                    body=BODY % b"pass.snd.test")
    if t.ok(w.delivered(n + 1), "a tenant with spf off: delivered"):
        t.ok(w.sink.messages[n].data.startswith(b"Received: from "),
             "without a Received-SPF field")
    t.ok(wait_for(lambda: w.r.proc.poll() is None, 1), "relayd still running")


main()
