#!/usr/bin/env python3
"""A tenant's milter decides at the end of data, before the 250: accept,
reject, tempfail, its own reply code, discard (250, never delivered) and
quarantine (held in the queue until relayctl queue release).  The body
the tenant's server gets is the body the client sent, byte for byte; what
the milter was sent is the message as queued, our Received: first."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from miltertest import Milter  # noqa: E402
from relaytest import Tap, need_root, queue_id, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)


def rest(text):
    """The reply's text after its code."""
    return text.split(" ", 1)[1] if " " in text else text


def body(action, text=b"hello\r\n"):
    return (b"Subject: verdicts\r\nX-Test-Milter: " + action.encode() +
            b"\r\n\r\n" + text)


w = None
m = None
try:
    w = World(tap)
    sockpath = os.path.join(w.r.dir, "milter.sock")
    m = Milter(sockpath)
    w.r.write_tenant("acme.yaml", open(os.path.join(
        w.r.tenants_dir, "acme.yaml")).read() + """\
content:
  milters:
    - socket: unix:%s
      timeout: 5s
""" % sockpath)
    tap.ok(w.start(), "relayd starts with a tenant that has a milter")
    tenant = w.sink("127.0.0.20")

    sent = body("accept", b"line one\r\n.dot line\r\n\r\nlast, no eol")
    code, text = w.send("a@sender.test", ["alice@acme.example"], sent +
                        b"\r\n")
    tap.eq(code, 250, "accept: 250")
    tap.ok(tenant.wait(1), "and delivered to the tenant's server")
    got = tenant.messages[0].data
    tap.ok(got.endswith(sent + b"\r\n"), "the body and header delivered "
           "are the ones sent, byte for byte")
    tap.ok(m.wait(1), "the milter saw the message")
    msg = m.messages[0]
    tap.eq(msg.headers[0][0], "Received", "our Received: field first")
    tap.eq(msg.headers[-1], ("X-Test-Milter", "accept"),
           "then the message's own fields, values without the space")
    tap.eq(msg.body, b"line one\r\n.dot line\r\n\r\nlast, no eol\r\n",
           "the body, unstuffed")
    tap.eq(msg.mail, "<a@sender.test>", "the sender")
    tap.eq(msg.rcpts, ["<alice@acme.example>"], "the recipient")
    tap.eq(msg.macros.get("i"), queue_id(text), "the queue id in {i}")

    big = b"".join(b"X-Filler-%03d: %s\r\n" % (i, b"f" * 60)
                   for i in range(600))
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        big + body("accept"))
    tap.eq(code, 250, "a header of 45 KB: 250")
    tap.ok(m.wait(2), "scanned")
    tap.eq(len(m.messages[1].headers), 603, "the milter got every field "
           "(the header is read in growing steps)")

    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("reject"))
    tap.eq((code, rest(text)[:5]), (550, "5.7.1"), "reject: 550 5.7.1")
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("tempfail"))
    tap.eq((code, rest(text)[:5]), (451, "4.7.1"),
           "tempfail: 451 4.7.1")
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("replycode 554 5.7.0 Virus found: Eicar"))
    tap.eq((code, rest(text)), (554, "5.7.0 Virus found: Eicar"),
           "a reply code: the milter's code and text")
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("replycode 452 5.2.2 mailbox full"))
    tap.eq((code, rest(text)), (452, "4.2.2 mailbox full"),
           "an enhanced code of the wrong class is put in the code's")
    tap.ok(w.log_has(r"reject message from \[127\.0\.0\.1\]: 554 5\.7\.0 "
                     r"Virus found: Eicar; msgid=\w+ tenant=acme"),
           "a refusal is logged with the milter's reply")

    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("discard"))
    tap.eq(code, 250, "discard: 250")
    qid = queue_id(text)
    tap.ok(w.log_has(r"msgid=%s tenant=acme .* status=discarded" % qid),
           "logged as discarded")

    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("quarantine looks odd"))
    tap.eq(code, 250, "quarantine: 250")
    qid = queue_id(text)
    tap.ok(w.log_has(r"msgid=%s .*status=quarantined" % qid),
           "logged as quarantined")
    tap.ok(wait_for(lambda: any(qid in l and "held" in l
                                for l in w.queue_lines()), 10),
           "held in the queue")
    tap.eq(len(tenant.messages), 2, "neither discarded nor quarantined "
           "mail reached the tenant")
    rc, out, err = w.r.ctl("queue", "release", qid)
    tap.eq(rc, 0, "relayctl queue release lets it go")
    tap.ok(tenant.wait(3), "and it is delivered")
    tap.ok(w.queue_empty(), "the queue is empty")
except Exception as e:
    import traceback
    tap.ok(False, "exception: %r" % e)
    tap.diag(traceback.format_exc())
finally:
    if m is not None:
        m.close()
    if w is not None:
        w.stop()
tap.done()
