#!/usr/bin/env python3
"""Header changes a milter asks for are applied only for a tenant with
content.allow_header_changes: true, and only to the header: the body the
tenant's server gets is the body the client sent, byte for byte, however
the header grew or shrank.  A tenant that does not allow them gets the
message as it was sent.  content.bulk_defer turns a field a milter adds
into 450 4.7.1, every time the message comes, changes allowed or not."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from miltertest import Milter  # noqa: E402
from relaytest import Tap, need_root, split_received  # noqa: E402
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
      timeout: 5s
  allow_header_changes: true
  bulk_defer: ["X-Spam-Bulk: yes"]
"""
BODY = (b"\r\nThe body.\r\n" + b"x" * 200000 + b"\r\n" +
        b"From: not a header, a body line\r\n.\r\n")


def msg(action, extra=b""):
    return (b"Subject: headers\r\nX-Spam: forged\r\nX-Spam: forged too\r\n"
            + extra + b"X-Test-Milter: " + action.encode() + b"\r\n" + BODY)


def delivered_header(sink, i):
    data = sink.messages[i].data
    head, rest = split_received(data)
    return rest[:rest.index(b"\r\n\r\n") + 2], rest


w = None
m = None
try:
    w = World(tap)
    path = os.path.join(w.r.dir, "milter.sock")
    m = Milter(path)
    w.r.write_tenant("acme.yaml", open(os.path.join(
        w.r.tenants_dir, "acme.yaml")).read() + """\
content:
  milters:
    - socket: unix:%s
      timeout: 5s
  bulk_defer: [X-Spam-Bulk]
""" % path)
    w.r.write_tenant("beta.yaml", BETA % (w.port, path))
    tap.ok(w.start(), "relayd starts")
    acme = w.sink("127.0.0.20")
    beta = w.sink("127.0.0.21")

    sent = msg("addheader X-Added yes")
    code, _ = w.send("a@sender.test", ["alice@acme.example"], sent)
    tap.eq(code, 250, "changes not allowed: accepted")
    tap.ok(acme.wait(1), "delivered")
    tap.ok(acme.messages[0].data.endswith(sent), "exactly as sent: the "
           "field the milter added is not there")
    tap.ok(w.log_has(r"tenant=acme milter=\S+ result=accept, header "
                     r"changes: 0 applied, 1 not allowed"),
           "the changes not applied are logged")

    n = 0
    for action, want, why in [
            ("addheader X-Added yes", None, "a field added at the end"),
            ("insheader 0 X-First top", None, "a field inserted first, "
             "above our Received:"),
            ("insheader 2 X-Third middle", None, "a field inserted "
             "third"),
            ("chgheader 1 X-Spam", None, "the first X-Spam: removed"),
            ("chgheader 2 X-Spam replaced", None, "the second X-Spam: "
             "replaced"),
            ("chgheader 1 Subject a much longer subject than before, "
             "folded\\nover two lines", None, "the subject changed and "
             "folded"),
            ("chgheader 3 X-Spam", None, "a field that is not there: no "
             "change")]:
        sent = msg(action)
        code, _ = w.send("a@sender.test", ["bob@beta.example"], sent)
        tap.eq(code, 250, "%s: 250" % why)
        n += 1
        if not beta.wait(n):
            tap.ok(False, "delivered")
            continue
        data = beta.messages[n - 1].data
        tap.ok(data.endswith(BODY), "%s: the body is unchanged" % why)
        if action.startswith("addheader"):
            tap.like(data.decode(errors="replace"),
                     r"X-Test-Milter: addheader X-Added yes\r\nX-Added: "
                     r"yes\r\n\r\nThe body", "at the end of the header")
        elif action.startswith("insheader 0"):
            tap.ok(data.startswith(b"X-First: top\r\nReceived: "),
                   "at the very top")
        elif action.startswith("insheader 2"):
            tap.like(data.decode(errors="replace"), r"^Received: [^\r]*"
                     r"\r\n(\t[^\r]*\r\n)*Subject: headers\r\nX-Third: "
                     r"middle\r\nX-Spam: forged\r\n", "after Received: "
                     "and Subject:")
        elif action == "chgheader 1 X-Spam":
            tap.ok(b"X-Spam: forged\r\n" not in data and
                   b"X-Spam: forged too\r\n" in data, "only the first")
        elif action.startswith("chgheader 2"):
            tap.ok(b"X-Spam: forged\r\nX-Spam: replaced\r\nX-Test" in
                   data, "in its place")
        elif action.startswith("chgheader 1 Subject"):
            tap.ok(b"Subject: a much longer subject than before, "
                   b"folded\r\n\tover two lines\r\nX-Spam:" in data,
                   "folded with CRLF and a tab")
        else:
            head, rest = split_received(data)
            tap.ok(rest == sent, "the message as sent")
    tap.eq(m.max_chunk, 65535, "the body went in chunks of at most 64 KB")
    tap.ok(not re.search(r"msgid=\w+: applying the milters' header",
                         w.r.log()), "queued applied every edit")

    for i in (1, 2):
        code, text = w.send("a@sender.test", ["bob@beta.example"],
                            msg("addheader X-Spam-Bulk yes"))
        tap.eq(code, 450, "bulk_defer, try %d: 450" % i)
    tap.like(text, r"^450 4\.7\.1 ", "450 4.7.1")
    code, text = w.send("a@sender.test", ["bob@beta.example"],
                        msg("addheader X-Spam-Bulk no"))
    tap.eq(code, 250, "a value that does not match is no bulk")
    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        msg("addheader X-Spam-Bulk whatever"))
    tap.eq(code, 450, "bulk_defer by name alone, changes not allowed: 450")
    tap.ok(w.log_has(r"milter msgid=\w+ tenant=acme: bulk \(X-Spam-Bulk "
                     r"by unix:\S+\); deferred"), "logged")
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
