#!/usr/bin/env python3
"""A "Redis" that lies: it passes for a primary (AUTH, ROLE), then
answers the store's reads with garbage, a huge bulk string, an array
nested too deep, a value that is not one of ours, nothing at all, or
closes in the middle of a reply.  Each time policyd stays up, gives up
on that server (the log says the primary is lost) and answers from its
local store: a new triplet is greylisted, never accepted; and after the
delay the retry passes on the local store's word."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, code  # noqa: E402
from relaytest import Tap, need_root, wait_for  # noqa: E402
import redisworld as rw  # noqa: E402

GREY = """\
policy:
  greylist:
    enabled: true
    delay: 2s
    window: 300s
"""

DEEP = b"*1\r\n" * 40 + b":1\r\n"
HUGE = b"$1073741824\r\n" + b"x" * (1024 * 1024)
CASES = [
    ("garbage", lambda: b"!!! not the protocol\r\n"),
    ("a huge bulk string", lambda: HUGE),
    ("an array nested too deep", lambda: DEEP),
    ("a value that is not one of ours",
     lambda: b"*2\r\n$3\r\nabc\r\n$-1\r\n"),
    ("an error", lambda: b"-ERR go away\r\n"),
    ("no answer", lambda: None),
    ("a close in the middle of a reply",
     lambda: ("close", b"*2\r\n$300\r\nabc")),
]


def answer_with(make):
    def answer(name, args):
        if name in ("MGET", "HMGET"):
            return make()
        if name == "HGETALL":
            return b"*0\r\n"
        if name in ("SET", "HSET"):
            return b"+OK\r\n" if name == "SET" else b":1\r\n"
        if name in ("HINCRBY", "PEXPIRE", "DEL", "UNLINK"):
            return b":1\r\n"
        return b"+OK\r\n"
    return answer


def main():
    t = Tap()
    need_root(t)
    if not rw.have_redis():
        t.skip_all("redis-server is not installed")
    for i, (what, make) in enumerate(CASES):
        one(t, i, what, make)
    t.done()


def one(t, i, what, make):
    fake = rw.FakeRedis(answer_with(make))
    w = PolicyWorld(t, {"grey": GREY}, main_extra=rw.store_yaml(
        ["127.0.0.1:%d" % fake.port], timeout="1s"))
    try:
        if not t.ok(w.start(), "%s: relayd starts" % what):
            return
        t.ok(w.log_has(r"policy store: redis primary 127\.0\.0\.1:%d"
                       % fake.port, 15),
             "%s: the fake passes for a primary" % what)
        pid = w.r.children().get("policyd")
        src = "127.0.%d.5" % (1 if i % 2 == 0 else 2)
        sender = "s%d@good.snd.test" % i
        rep = w.rcpt_reply(src, sender, "u%d@grey.example" % i)
        t.eq(code(rep), "451 4.7.1",
             "%s: a new triplet is greylisted, not accepted" % what) or \
            t.diag(rep)
        t.ok("MGET" in fake.commands,
             "%s: the read went to the fake" % what)
        t.ok(w.log_has(r"policy store: redis primary lost, using the "
                       r"local store", 15),
             "%s: the primary is given up, the log says so" % what)
        t.eq(w.r.children().get("policyd"), pid,
             "%s: policyd did not crash" % what)
        time.sleep(3)
        rep = w.rcpt_reply(src, sender, "u%d@grey.example" % i)
        t.eq(code(rep), "250 2.1.5",
             "%s: after the delay the local store lets it pass" % what) \
            or t.diag(rep)
        rc, out, err = w.r.ctl("show", "status")
        t.like(out, r"policyd .*store=redis primary=(none|127)",
               "%s: show status names the store" % what)
    finally:
        w.stop()
        fake.stop()


main()
