#!/usr/bin/env python3
"""Recipient verification by callout (recipients.verify: callout): the
tenant's server is asked (EHLO, MAIL FROM:<>, RCPT, RSET, QUIT; never
DATA) and its answer decides and is cached; the user it does not know
gets 550 5.1.1 (on_unknown: reject) or 450 4.1.1 (defer, a backup MX's
default); callouts for one address at once are merged; relayctl shows
what was learned and forgets it.  A backup MX verifies by callout with
nothing configured: without it, it accepted any user (the back door)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from recipients import QUIET, Setup, in_parallel, refuse, slow  # noqa: E402
from recipients import tenant  # noqa: E402
from relaytest import Tap, need_root, send_message, wait_for  # noqa: E402

tap = Tap()
need_root(tap)

CALLOUT = """\
recipients:
  verify: callout
  delimiter: "+"
  callout:
    positive: 1h
    negative: 1h
    on_unknown: reject
"""

s = Setup(tap, {
    "acme": lambda port: tenant("acme", "acme.example", port,
                                recipients=CALLOUT),
    # A backup MX with nothing said about its recipients.
    "beta": lambda port: tenant("beta", "beta.example", port,
                                mode="backup", extra=QUIET),
})
try:
    s.sink.rcpt = refuse({"nobody@acme.example", "nobody@beta.example"})
    tap.ok(s.start(), "relayd starts with a callout tenant")

    code, text = s.rcpt("alice@acme.example")
    tap.eq(code, 250, "a user the server knows is accepted")
    tap.eq(s.callouts(), ["alice@acme.example"],
           "after one callout asking the server about that user")
    code, text = s.rcpt("nobody@acme.example")
    tap.eq(code, 550, "a user the server does not know is refused")
    tap.like(text, r"^550 5\.1\.1 <nobody@acme\.example>: Recipient "
             r"address rejected: User unknown", "with 550 5.1.1 "
             "(on_unknown: reject)")
    code, text = s.rcpt("nobody@beta.example")
    tap.like(text, r"^450 4\.1\.1 <nobody@beta\.example>: ",
             "a backup MX's unknown user gets 450 4.1.1 by default")
    tap.eq(s.callouts("nobody@beta.example"), ["nobody@beta.example"],
           "a backup MX asks its primary without being told to")
    code, text = s.rcpt("carol@beta.example")
    tap.eq(code, 250, "and accepts what the primary accepts")

    # The answers are cached: no second callout within their lifetime.
    n = len(s.callouts())
    tap.eq(s.rcpt("ALICE@acme.example")[0], 250, "alice again (any case)")
    tap.eq(s.rcpt("alice+news@acme.example")[0], 250,
           "and with an extension")
    tap.eq(s.rcpt("nobody@acme.example")[0], 550, "nobody again")
    tap.eq(len(s.callouts()), n, "answered from the cache: no callout")
    tap.ok(s.r.wait_log(r"check=recipient result=reject 550 5\.1\.1 .*"
                        r"recipient=unknown \(callout, cached\)"),
           "the verdict says the cache decided")

    # The callout asks about the user, not the extension.
    tap.eq(s.rcpt("dave+x@acme.example")[0], 250, "dave+x is accepted")
    tap.eq(s.callouts("dave@acme.example"), ["dave@acme.example"],
           "the callout asked about dave, the extension cut")

    # Merged: two sessions want the same unknown answer at once.
    s.sink.rcpt = slow(2)
    res = in_parallel([lambda: s.rcpt("erin@acme.example"),
                       lambda: s.rcpt("erin@acme.example")])
    tap.eq([r[0] for r in res], [250, 250], "two sessions at once: both "
           "accepted")
    tap.eq(s.callouts("erin@acme.example"), ["erin@acme.example"],
           "with one callout between them")

    # Never DATA: the server saw no message, and the callouts said bye.
    cmds = [c.upper() for c in s.commands()]
    tap.ok("DATA" not in cmds and not any(c.startswith("BDAT")
                                          for c in cmds),
           "no callout sent DATA or BDAT")
    tap.eq(s.sink.count(), 0, "the server received no message")
    tap.ok(wait_for(lambda: sum(1 for c in s.commands()
                                if c.upper() == "QUIT") >= 5, 10),
           "each callout ended with RSET and QUIT")
    tap.ok(sum(1 for c in s.commands() if c.upper() == "RSET") >= 5,
           "RSET before it")

    # What was learned, and forgetting it.
    rc, out, err = s.r.ctl("show", "recipients", "acme")
    tap.eq(rc, 0, "relayctl show recipients acme")
    tap.like(out, r"(?m)^tenant acme: verify callout, first seen \d{4}-",
             "says how the tenant verifies and since when")
    tap.like(out, r"(?m)^alice@acme\.example learned-by=callout first=",
             "lists alice, learned by callout")
    tap.ok("nobody" not in out, "not the unknown user")
    rc, out, err = s.r.ctl("show", "recipients", "nosuch")
    tap.ok(rc != 0 and "no such tenant" in err, "an unknown tenant: error")

    s.sink.rcpt = refuse({"alice@acme.example"})
    rc, out, err = s.r.ctl("recipients", "forget", "acme",
                           "alice@acme.example")
    tap.eq(rc, 0, "relayctl recipients forget acme alice@acme.example")
    tap.ok(wait_for(lambda: "alice@" not in s.r.ctl(
        "show", "recipients", "acme")[1], 10), "alice is no longer listed")
    n = len(s.callouts("alice@acme.example"))
    code, text = s.rcpt("alice@acme.example")
    tap.eq(code, 550, "after forget the server is asked again: now "
           "refused")
    tap.eq(len(s.callouts("alice@acme.example")), n + 1,
           "by a new callout")
    tap.ok(s.r.wait_log(r"control: uid 0: recipients forget acme "
                        r"alice@acme\.example"), "the parent logs forget")

    # A message to a verified user is delivered as ever.
    code, text = send_message(s.r.port, "a@sender.test",
                              ["carol@beta.example"],
                              b"Subject: t\r\n\r\nhello\r\n")
    tap.eq(code, 250, "a message to a verified user is queued")
    tap.ok(s.sink.wait(1, 20), "and delivered")
    tap.ok(s.alive(), "relayd and its children are still running")
finally:
    s.stop()
tap.done()
