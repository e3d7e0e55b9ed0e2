#!/usr/bin/env python3
"""Suspending an AUTH user: by relayctl, and by its message rate.

`relayctl auth suspend acme alice` answers 535 5.7.8 to the user's next
AUTH at once, and the grant of a session already authenticated ends
(queued refuses its next message); the suspension is in the policy store
and survives a restart; `relayctl auth resume` lifts it.  A user over
auth.user_message_rate messages in a minute is suspended on its own,
with the stable line "auth: user U of tenant T suspended: N messages in
a minute"."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from authtest import PASS, USERS, auth_relayd, message, plain  # noqa: E402
from authtest import tls_client  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from relaytest import Tap, need_root, wait_for  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import PKI  # noqa: E402

tap = Tap()
need_root(tap)

FAILED = (535, "535 5.7.8 Error: authentication failed")


def auth(port):
    c, _ = tls_client(port, sni="post.acme.test")
    return c, c.cmd("AUTH PLAIN " + plain("alice@acme.test", PASS))


def by_relayctl(r):
    held, rep = auth(r.port)
    tap.eq(rep[0], 235, "alice authenticates")
    rc, out, err = r.ctl("auth", "suspend", "acme", "alice")
    tap.eq(rc, 0, "relayctl auth suspend acme alice: OK (%s)" %
           err.strip())
    c, rep = auth(r.port)
    tap.eq(rep, FAILED, "suspended: 535 5.7.8 at once, the same as a "
           "wrong password")
    c.close()
    tap.ok(r.wait_log(r"auth: user alice@acme\.test of tenant acme "
                      r"suspended: by relayctl"), "the suspension is logged")
    tap.eq(message(held), 451, "the session authenticated before it "
           "relays no more: queued refuses (451)")
    held.close()
    rc, out, err = r.ctl("auth", "suspend", "acme", "alice")
    tap.ok(rc != 0 and "already suspended" in out + err,
           "suspending twice says so")

    r.stop()
    tap.ok(r.start(), "relayd restarts")
    c, rep = auth(r.port)
    tap.eq(rep, FAILED, "after the restart: still 535")
    c.close()
    rc, out, err = r.ctl("auth", "resume", "acme", "alice")
    tap.eq(rc, 0, "relayctl auth resume acme alice: OK")
    c, rep = auth(r.port)
    tap.eq(rep[0], 235, "resumed: 235")
    tap.eq(message(c), 250, "and the message goes")
    c.close()


def auth_outbound(r):
    """acme's authenticated outbound messages today (show stats)."""
    rc, out, err = r.ctl("show", "stats", "acme", "--json")
    try:
        doc = json.loads(out)
        return doc["tenants"][0]["total"]["auth_outbound_messages"]
    except (ValueError, KeyError, IndexError):
        return None


def by_rate(r, sink):
    before = auth_outbound(r)
    c, rep = auth(r.port)
    codes = [message(c) for i in range(5)]
    tap.eq(codes[:4], [250] * 4, "four messages in the minute pass "
           "(user_message_rate: 4)")
    tap.ok(before is not None and
           wait_for(lambda: auth_outbound(r) == before + 4, 10),
           "show stats counts the four as acme's authenticated outbound "
           "messages (%s, then %s)" % (before, auth_outbound(r)))
    tap.ok(r.wait_log(r"auth: user alice@acme\.test of tenant acme "
                      r"suspended: 5 messages in a minute"),
           "the fifth suspends the user, with the stable log line")

    tap.eq(message(c), 451, "its session relays no more")
    c.close()

    def notice():
        return [m for m in list(sink.messages) if b"acme: user "
                b"alice@acme.test suspended" in m.data and
                b"auth.user_message_rate" in m.data]
    tap.ok(wait_for(lambda: notice(), 30),
           "the tenant's contacts are told, and why (a notice)")
    c, rep = auth(r.port)
    tap.eq(rep, FAILED, "and its next AUTH gets 535")
    c.close()
    tap.eq(r.ctl("auth", "resume", "acme", "alice")[0], 0, "resumed")


def main():
    pki = PKI()
    sink = Sink("127.0.0.1", 0)
    sink.port = sink.sock.getsockname()[1]
    dv = Dovecot(USERS)
    if not tap.ok(dv.start(), "Dovecot starts"):
        tap.diag(dv.log())
        return
    r = auth_relayd(tap, pki, sink, dv,
                    auth_extra="  user_message_rate: 4\n")
    try:
        if tap.ok(r.start(), "relayd starts"):
            by_relayctl(r)
            by_rate(r, sink)
    finally:
        r.cleanup()
        dv.cleanup()
        sink.close()
        pki.close()


main()
tap.done()
