#!/usr/bin/env python3
"""A milter that misbehaves costs only its own tenant's mail a temporary
failure: garbage, a frame announced as 1 GB, a reply code with CR LF, a
2xx reply code, a body replacement it was never offered, a connection
closed, silence (its timeout, with on_failure tempfail and accept both
ways), and a milter that is not there at all.  policyd never falls over:
its pid is the same at the end."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from miltertest import Milter  # noqa: E402
from relaytest import Tap, need_root, queue_id  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)

BETA = """\
tenant: beta
postmaster: postmaster@beta.example
domains: [beta.example]
inbound:
  deliver_to: [127.0.0.21:%d]
content:
  milters:
    - socket: unix:%s
      timeout: 2s
      on_failure: accept
"""


def body(action):
    return (b"Subject: hostile\r\nX-Test-Milter: " + action.encode() +
            b"\r\n\r\nhello\r\n")


w = None
milters = []
try:
    w = World(tap)
    path = os.path.join(w.r.dir, "milter.sock")
    gone = os.path.join(w.r.dir, "nobody.sock")
    m = Milter(path)
    milters.append(m)
    w.r.write_tenant("acme.yaml", open(os.path.join(
        w.r.tenants_dir, "acme.yaml")).read() + """\
content:
  milters:
    - socket: unix:%s
      timeout: 2s
""" % path)
    w.r.write_tenant("beta.yaml", BETA % (w.port, path))
    w.r.write_tenant("gamma.yaml", (BETA % (w.port, gone)).replace(
        "beta", "gamma").replace("127.0.0.21", "127.0.0.22"))
    tap.ok(w.start(), "relayd starts")
    acme = w.sink("127.0.0.20")
    beta = w.sink("127.0.0.21")
    gamma = w.sink("127.0.0.22")
    policyd = w.r.children().get("policyd")

    for action, why in [
            ("garbage", "bytes that are no frame"),
            ("huge", "a frame announced as 1 GB"),
            ("replycode-crlf", "a reply code with CR LF"),
            ("replycode-2xx", "a 2xx reply code"),
            ("replbody", "a body replacement it was not offered"),
            ("close", "the connection closed at the end of body")]:
        code, text = w.send("a@sender.test", ["alice@acme.example"],
                            body(action))
        tap.eq(code, 451, "%s: 451 (on_failure tempfail)" % why)
    tap.ok(w.log_has(r"milter msgid=\w+ tenant=acme milter=unix:\S+ "
                     r"result=failed \(a frame larger than 64 KB\); "
                     r"on_failure tempfail"),
           "each failure is logged with what the milter did wrong")
    tap.ok(w.log_has(r"result=failed \(a reply code that is not 4xx or "
                     r"5xx\)"), "a 2xx reply code is refused")
    tap.ok(w.log_has(r"result=failed \(a change that was not offered"),
           "so is a body replacement")
    tap.ok(w.log_has(r"result=failed \(a reply code with a line break in "
                     r"its text\)"), "a reply code with a command after "
           "CR LF is refused")
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("replycode-ml"))
    tap.eq((code, text), (550, "550 5.7.1 one two"),
           "a reply of several lines becomes one")
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("replycode 550 5.7.1 bad\x07 text"))
    tap.eq((code, text), (550, "550 5.7.1 bad? text"),
           "a reply code's control characters are replaced")

    t0 = time.time()
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("hang"))
    tap.eq(code, 451, "a milter that hangs: 451 with on_failure tempfail")
    tap.ok(w.log_has(r"tenant=acme milter=\S+ result=failed \(no reply "
                     r"within 2s\); on_failure tempfail"), "after its "
           "timeout, logged")
    code, text = w.send("a@sender.test", ["bob@beta.example"], body("hang"))
    tap.eq(code, 250, "with on_failure accept: 250")
    tap.ok(beta.wait(1), "and delivered")
    tap.ok(w.log_has(r"tenant=beta milter=\S+ result=failed \(no reply "
                     r"within 2s\); on_failure accept"), "logged")

    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("progress 3"))
    tap.eq(code, 250, "three progress replies a second apart: each starts "
           "the 2s wait again, 250")
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("progress 12"))
    tap.eq(code, 451, "but not more than ten times: 451")
    tap.ok(w.log_has(r"result=failed \(still busy after 10 waits of 2s\)"),
           "logged")

    m.default = "accept"
    m.optneg_hang = True
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("accept"))
    tap.eq(code, 451, "silence at the option negotiation: 451 too")
    m.optneg_hang = False

    code, text = w.send("a@sender.test", ["carol@gamma.example"],
                        body("accept"))
    tap.eq(code, 250, "a milter that is not there, on_failure accept: 250")
    tap.ok(gamma.wait(1), "delivered")
    tap.ok(w.log_has(r"milter unix:\S+nobody\.sock: cannot connect: .*"
                     r"not tried again for 1s"), "the failed connect is "
           "logged, with the back-off")
    code, text = w.send("a@sender.test", ["carol@gamma.example"],
                        body("accept"))
    tap.eq(code, 250, "while it is left alone, mail goes on at once")

    # The milter comes up: once its back-off is over, policyd asks the
    # parent again and the milter decides.  Sent until it is asked (the
    # back-off is seconds; the bound is generous for a loaded machine).
    back = Milter(gone)
    milters.append(back)
    code = None
    end = time.time() + 60
    while time.time() < end:
        code, text = w.send("a@sender.test", ["carol@gamma.example"],
                            body("reject"))
        if code != 250:
            break
        time.sleep(0.5)
    tap.eq(code, 550, "once it is up and its back-off is over, it is asked "
           "again: its reject is a 550")
    tap.ok(back.wait(1), "the milter got the message")

    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        body("accept"))
    tap.eq(code, 250, "after all that, the milter's next message passes")
    tap.ok(acme.wait(1), "and is delivered")
    tap.eq(w.r.children().get("policyd"), policyd, "policyd is the same "
           "process throughout")
except Exception as e:
    import traceback
    tap.ok(False, "exception: %r" % e)
    tap.diag(traceback.format_exc())
finally:
    for m in milters:
        m.close()
    if w is not None:
        w.stop()
tap.done()
