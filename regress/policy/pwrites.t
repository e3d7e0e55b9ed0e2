#!/usr/bin/env python3
"""A policyd that misbehaves cannot fill the store nor stop the queue
(debug build: RELAYD_FAIL=policyd-pq-*).  Beside its real greylist
writes, policyd sends queued a value over the cap, a write to a database
that does not exist, and bursts of a thousand new keys.  queued refuses
and logs each kind, answers policyd (which keeps running), keeps the
flood below policyd's share of a small map, and new mail is still
accepted and delivered; greylisting still defers a new triplet."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, code  # noqa: E402
from relaytest import RELAYD_DEBUG, Tap, need_root, wait_for  # noqa: E402

GREY = """\
policy:
  greylist:
    enabled: true
    delay: 1h
"""
FAULTS = "policyd-pq-oversize:1,policyd-pq-baddb:1,policyd-pq-flood"
REFUSED = r"queued: policy store: a write from policyd refused: "


def main():
    t = Tap()
    need_root(t)
    if not os.path.exists(RELAYD_DEBUG):
        t.skip_all("no debug build (make debug)")
    w = PolicyWorld(t, {"grey": GREY, "plain": ""},
                    limits="store_max_size: 8M\n")
    try:
        if not t.ok(w.start(debug=True, env={"RELAYD_FAIL": FAULTS}),
                    "relayd starts with policyd misbehaving"):
            t.done()
        run(t, w)
    finally:
        w.stop()
    t.done()


def alive(w):
    return w.r.proc.poll() is None and \
        set(w.r.children()) >= {"queued", "policyd"}


def run(t, w):
    kids = w.r.children()
    rep = w.rcpt_reply("127.0.1.1", "a@good.snd.test", "u0@grey.example")
    t.eq(code(rep), "451 4.7.1", "a new triplet is greylisted")
    t.ok(w.log_has(REFUSED + r"value size", 15),
         "an oversized value is refused and logged")
    t.ok(w.log_has(REFUSED + r"no such database", 15),
         "a write to an unknown database is refused and logged")
    t.ok(alive(w), "queued and policyd keep running") or \
        t.diag(w.r.log()[-3000:])

    # Every new triplet brings a burst of a thousand keys.
    full = REFUSED + r"the store is past policyd's share"
    n = 0
    while n < 200 and alive(w) and not w.r.wait_log(full, 0.2):
        n += 1
        w.rcpt_reply("127.0.1.1", "a@good.snd.test", "u%d@grey.example" % n)
    t.ok(w.log_has(full, 15),
         "the flood is refused at policyd's share of the map "
         "(after %d bursts)" % n)
    t.ok(alive(w), "queued and policyd still run")
    t.eq(w.r.children().get("queued"), kids.get("queued"),
         "queued was never restarted")
    t.ok(not w.r.wait_log(r"new mail gets 452", 0.5),
         "the store never reaches new mail's high-water mark")

    out = w.session("127.0.2.1", "b@good.snd.test", ["x@plain.example"],
                    body=b"Subject: still flowing\r\n\r\nhello\r\n")
    t.eq(code(out.get("end")), "250 2.0.0", "new mail is accepted") or \
        t.diag(out)
    t.ok(wait_for(lambda: any(b"still flowing" in m.data
                              for m in list(w.sink.messages)), 30),
         "and delivered")
    rep = w.rcpt_reply("127.0.2.1", "c@good.snd.test", "new@grey.example")
    t.eq(code(rep), "451 4.7.1",
         "a refused write costs a retry, never a pass")


main()
