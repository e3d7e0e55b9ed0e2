#!/usr/bin/env python3
"""A backup MX is not a back door: with nothing said about its recipients
(no recipients: key at all), a backup tenant asks its primary about each
one and accepts only whom the primary would; the user the primary does
not know gets 450 4.1.1, so the primary stays the judge.  Before, it
accepted anyone, to bounce later."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from recipients import Setup, refuse, tenant  # noqa: E402
from relaytest import Tap, need_root  # noqa: E402

tap = Tap()
need_root(tap)

s = Setup(tap, {
    "acme": lambda port: tenant("acme", "acme.example", port,
                                mode="backup"),
}, policy=None)
try:
    s.sink.rcpt = refuse({"spamtrap@acme.example"})
    tap.ok(s.start(), "relayd starts as a backup MX for acme")
    code, text = s.rcpt("spamtrap@acme.example", sender="")
    tap.eq(code, 450, "a user the primary does not know is not accepted")
    tap.like(text, r"^450 4\.1\.1 <spamtrap@acme\.example>: Recipient "
             r"address rejected", "450 4.1.1: deferred, not bounced later")
    code, text = s.rcpt("alice@acme.example", sender="")
    tap.ok(code != 250 and "4.1.1" not in text, "a user the primary knows "
           "passes the recipient check (then greylisting defers: %s)" % text)
    tap.ok(s.r.wait_log(r"to=<alice@acme\.example> check=greylist result="
                        r"defer .*recipient=accepted \(callout"),
           "the callout ran first, greylisting after it")
    tap.eq(sorted(s.callouts()), ["alice@acme.example",
                                  "spamtrap@acme.example"],
           "each was asked of the primary")
    s.down()
    code, text = s.rcpt("bob@acme.example", sender="")
    tap.like(text, r"^451 4\.4\.3 ", "primary down: a user never verified "
             "gets 451 4.4.3")
finally:
    s.stop()
tap.done()
