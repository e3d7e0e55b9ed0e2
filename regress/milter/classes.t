#!/usr/bin/env python3
"""One end of data serves one tenant's scan: in a transaction that began
with a recipient of a tenant with milters, a recipient of a tenant
without (or with other milters) gets 452 4.5.3, and comes in a
transaction of its own, which never waits for a milter: not even while
another tenant's milter hangs.  Mail from a tenant's own networks is
scanned with its milters only when its content says outbound: true."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from miltertest import Milter  # noqa: E402
from relaytest import SMTPClient, Tap, dot_stuff, need_root  # noqa: E402
from world import INSIDE, World  # noqa: E402

tap = Tap()
need_root(tap)

PLAIN = """\
tenant: plain
postmaster: postmaster@plain.example
domains: [plain.example]
inbound:
  deliver_to: [127.0.0.21:%d]
"""
OTHER = """\
tenant: other
postmaster: postmaster@other.example
domains: [other.example]
inbound:
  deliver_to: [127.0.0.22:%d]
outbound:
  networks: [127.0.0.10/32]
content:
  milters:
    - socket: unix:%s
      timeout: 5s
"""
SLOW = """\
tenant: slow
postmaster: postmaster@slow.example
domains: [slow.example]
inbound:
  deliver_to: [127.0.0.23:%d]
content:
  milters:
    - socket: unix:%s
      timeout: 120s
"""
MSG = b"Subject: classes\r\nX-Test-Milter: accept\r\n\r\nhello\r\n"


def transaction(port, rcpts, body=MSG, source=None):
    """RCPT replies, then the final reply (None without a recipient)."""
    c = SMTPClient(port, source=source)
    try:
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@sender.test>")
        codes = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        if not any(code == 250 for code, _ in codes):
            return codes, None
        c.cmd("DATA")
        c.send(dot_stuff(body) + b".\r\n")
        return codes, c.reply()
    finally:
        c.close()


w = None
m = None
try:
    w = World(tap)
    path = os.path.join(w.r.dir, "milter.sock")
    path2 = os.path.join(w.r.dir, "milter2.sock")
    m = Milter(path)
    m2 = Milter(path2)
    m3 = Milter(os.path.join(w.r.dir, "milter3.sock"))
    m3.default = "hang"
    w.r.write_tenant("acme.yaml", open(os.path.join(
        w.r.tenants_dir, "acme.yaml")).read() + """\
content:
  milters:
    - socket: unix:%s
      timeout: 5s
  outbound: true
""" % path)
    w.r.write_tenant("plain.yaml", PLAIN % w.port)
    w.r.write_tenant("other.yaml", OTHER % (w.port, path2))
    w.r.write_tenant("slow.yaml", SLOW % (w.port, m3.path))
    tap.ok(w.start(), "relayd starts")
    acme = w.sink("127.0.0.20")
    plain = w.sink("127.0.0.21")
    other = w.sink("127.0.0.22")
    remote = w.sink("127.0.0.2")

    codes, final = transaction(w.r.port, ["alice@acme.example",
                                          "bob@plain.example",
                                          "carol@other.example",
                                          "alice2@acme.example"])
    tap.eq([c for c, _ in codes], [250, 452, 452, 250],
           "recipients of a tenant without milters, or with others, get "
           "452 after one with")
    tap.like(codes[1][1], r"^452 4\.5\.3 ", "4.5.3")
    tap.eq(final[0], 250, "the message goes to acme's recipients")
    tap.ok(m.wait(1), "scanned by acme's milter")
    tap.ok(acme.wait(1), "delivered")
    tap.eq(sorted(acme.messages[0].rcpt_addrs),
           ["alice2@acme.example", "alice@acme.example"], "to both")

    before = m.connections + m2.connections
    codes, final = transaction(w.r.port, ["bob@plain.example"])
    tap.eq(final[0], 250, "plain's recipient in a transaction of its own")
    tap.ok(plain.wait(1), "delivered")
    tap.eq(m.connections + m2.connections, before, "without any milter")

    # slow's milter hangs (for 120s): plain's mail does not wait for it.
    slow = {}
    t = threading.Thread(target=lambda: slow.update(r=transaction(
        w.r.port, ["dave@slow.example"], MSG.replace(b"accept", b"hang"))))
    t.start()
    tap.ok(m3.wait_started(1), "slow's milter has a message, and hangs")
    codes, final = transaction(w.r.port, ["bob@plain.example"])
    tap.eq(final[0], 250, "meanwhile plain's mail is accepted")
    tap.ok(plain.wait(2), "and delivered")
    tap.ok(t.is_alive(), "while slow's client still waits for its reply")
    m3.close()
    t.join(60)
    tap.eq(slow.get("r", (None, (None,)))[1][0], 451, "slow's milter gone: "
           "451 (on_failure tempfail)")

    codes, final = transaction(w.r.port, ["bob@plain.example",
                                          "alice@acme.example"])
    tap.eq([c for c, _ in codes], [250, 452], "the other way round, too")

    codes, final = transaction(w.r.port, ["carol@other.example"])
    tap.eq(final[0], 250, "other's recipient: its own transaction")
    tap.ok(m2.wait(1), "scanned by other's milter")

    # Outbound: acme scans its own mail, other does not.
    body = b"Subject: out\r\nX-Test-Milter: reject\r\n\r\nspam\r\n"
    codes, final = transaction(w.r.port, ["x@remote.test"], body,
                               source=INSIDE)
    tap.eq(final[0], 550, "acme (outbound: true): its own outgoing mail is "
           "scanned and refused")
    codes, final = transaction(w.r.port, ["y@remote.test"], MSG,
                               source=INSIDE)
    tap.eq(final[0], 250, "and what its milter accepts goes")
    tap.ok(remote.wait(1), "out to the Internet")
    n = len(m2.messages)
    codes, final = transaction(w.r.port, ["z@remote.test"], body,
                               source="127.0.0.10")
    tap.eq(final[0], 250, "other (outbound: false): its outgoing mail is "
           "not scanned")
    tap.eq(len(m2.messages), n, "its milter never saw it")

    # A reload gives acme other's milter: the next message goes there.
    n1, n2 = len(m.messages), len(m2.messages)
    w.r.write_tenant("acme.yaml", open(os.path.join(
        w.r.tenants_dir, "acme.yaml")).read().replace(path, path2))
    rc, out, err = w.r.ctl("reload")
    tap.eq(rc, 0, "reload")
    tap.ok(w.log_has(r"configuration 2 is in force"), "in force")
    codes, final = transaction(w.r.port, ["alice@acme.example",
                                          "carol@other.example"])
    tap.eq([c for c, _ in codes], [250, 250], "acme and other now share "
           "one scan: one transaction")
    tap.eq(final[0], 250, "accepted")
    tap.ok(m2.wait(n2 + 1), "scanned by the milter acme has now")
    tap.eq(len(m.messages), n1, "not by the one it had")
    m2.close()
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
