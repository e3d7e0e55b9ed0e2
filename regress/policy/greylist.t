#!/usr/bin/env python3
"""Greylisting, with delays of seconds in the tenant's policy: the first
attempt deferred with a reply saying when to retry, a retry before the
delay deferred, after it accepted, after the window deferred again; the
client /24 as the key, or the sender's domain when SPF passes for it
(two networks of one domain pass after one retry); senders normalised
(BATV, SRS, VERP: no new triplet); the auto-whitelist; the tenant's
static whitelist (a network; a domain only when SPF passes); postmaster@
and abuse@ exempt; the state kept across a restart; and a store that
names no address in clear.  Each part uses its own /24, so that one
part's passes never auto-whitelist another's clients."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, V6Addresses, code  # noqa: E402
from relaytest import Tap, need_root  # noqa: E402
import storedump  # noqa: E402

DELAY, WINDOW = 5, 15
GREY = """\
policy:
  greylist:
    enabled: true
    delay: %ds
    window: %ds
    auto_whitelist_after: 2
    whitelist: [127.0.7.0/24, pass2.snd.test]
""" % (DELAY, WINDOW)
GOOD = "good.snd.test"      # no SPF record: the key is the client's /24
# Two hosts of one /64, and one of another.
V6 = ("2001:db8:1::10", "2001:db8:1::11", "2001:db8:2::10")


def main():
    t = Tap()
    need_root(t)
    v6 = V6Addresses()
    have_v6 = all(v6.add(a) for a in V6)
    w = PolicyWorld(t, {"grey": GREY, "plain": ""}, v6=have_v6)
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        run(t, w, have_v6)
    finally:
        w.stop()
        v6.remove()
    t.done()


def grey_reply(t, rep, what):
    return t.like(rep[1] if rep else None,
                  r"^451 4\.7\.1 Greylisted: try again in \d+ seconds",
                  what)


def passes(t, rep, what):
    return t.eq(code(rep), "250 2.1.5", what)


def pipelined(t, w):
    """Questions in one packet: each verdict, in order."""
    c, g = w.connect("127.0.11.1")
    c.cmd("EHLO client.example")
    c.send("MAIL FROM:<p@%s>\r\nRCPT TO:<p1@grey.example>\r\n"
           "RCPT TO:<p1@plain.example>\r\nRCPT TO:<postmaster@grey.example>"
           "\r\nRCPT TO:<p2@grey.example>\r\nRSET\r\n" % GOOD)
    replies = [c.reply() for i in range(6)]
    got = [code(r) for r in replies]
    c.close()
    t.eq(got, ["250 2.1.0", "451 4.7.1", "250 2.1.5", "250 2.1.5",
               "451 4.7.1", "250 2.0.0"],
         "pipelined: each recipient its own verdict, in order") or \
        t.diag(replies)


def ipv6(t, w, phase):
    """The key of an IPv6 client is its /64."""
    rc = w.rcpt_reply
    if phase == 0:
        grey_reply(t, rc(V6[0], "v6@" + GOOD, "v6@grey.example"),
                   "IPv6: first attempt from %s" % V6[0])
        t.ok(w.log_has(r"client=\[2001:db8:1::10\].*greylist=new triplet "
                       r"client=2001:db8:1::/64"), "IPv6: logged with the /64")
        return
    passes(t, rc(V6[1], "v6@" + GOOD, "v6@grey.example"),
           "IPv6: the retry from another host of the /64 passes")
    grey_reply(t, rc(V6[2], "v6@" + GOOD, "v6@grey.example"),
               "IPv6: from another /64, greylisted")


def run(t, w, have_v6):
    rc = w.rcpt_reply
    pipelined(t, w)
    if have_v6:
        ipv6(t, w, 0)

    # First attempts.
    before1 = time.time()
    rep = rc("127.0.1.10", "alice@" + GOOD, "alice@grey.example")
    t.like(rep[1], r"^451 4\.7\.1 Greylisted: try again in %d seconds$" %
           DELAY, "a new triplet: 451 4.7.1, retry after the delay")
    first1 = time.time()
    rep = rc("127.0.1.10", "alice@" + GOOD, "alice@grey.example")
    t.like(rep[1], r"^451 4\.7\.1 Greylisted: try again in [1-%d] seconds$"
           % DELAY, "a retry before the delay: 451, with the time left")
    t.ok(w.log_has(r"check=greylist result=defer 451 4\.7\.1 .*greylist="
                   r"retry too early client=127\.0\.1\.0/24"),
         "logged: retry too early, the client's /24")
    before2 = time.time()
    grey_reply(t, rc("127.0.1.11", "bob@" + GOOD, "bob@grey.example"),
               "a second triplet (for the window)")
    t.eq(code(rc("127.0.1.10", "alice@" + GOOD, "alice@plain.example")),
         "250 2.1.5", "a tenant without greylisting: accepted at once")
    # Senders whose tags change, each in its own /24.
    grey_reply(t, rc("127.0.3.1", "prvs=1111111111=carol@" + GOOD,
                     "carol@grey.example"), "BATV: first attempt")
    grey_reply(t, rc("127.0.4.1", "SRS0=h1=T1=orig.example=dave@" + GOOD,
                     "dave@grey.example"), "SRS0: first attempt")
    grey_reply(t, rc("127.0.5.1", "bounce-1001@" + GOOD, "erin@grey.example"),
               "VERP: first attempt")
    # One SPF-passing domain, from one network.
    grey_reply(t, rc("127.0.1.20", "frank@pass.snd.test",
                     "frank@grey.example"), "an SPF-passing sender: first "
               "attempt from 127.0.1.20")
    t.ok(w.log_has(r"greylist=new triplet client=spf:pass\.snd\.test"),
         "logged: the key is the SPF-passing domain")
    # The auto-whitelist: two triplets of one /24.
    grey_reply(t, rc("127.0.6.1", "g1@" + GOOD, "g1@grey.example"),
               "auto-whitelist: a first triplet")
    grey_reply(t, rc("127.0.6.2", "g2@" + GOOD, "g2@grey.example"),
               "auto-whitelist: a second triplet")
    # Whitelists and exemptions: accepted at once.
    passes(t, rc("127.0.7.1", "h@" + GOOD, "h@grey.example"),
           "the tenant's whitelisted network: accepted at once")
    t.ok(w.log_has(r"greylist=whitelisted by the tenant's whitelist "
                   r"\(network\)"), "logged: whitelisted, and by what")
    passes(t, rc("127.0.1.30", "i@pass2.snd.test", "i@grey.example"),
           "the tenant's whitelisted domain, SPF passing: accepted at once")
    grey_reply(t, rc("127.0.9.1", "j@pass2.snd.test", "j@grey.example"),
               "the whitelisted domain from a client SPF fails: greylisted")
    for who in ("postmaster", "abuse", "Postmaster"):
        passes(t, rc("127.0.10.1", "k@" + GOOD, "%s@grey.example" % who),
               "%s@ of a greylisting tenant: accepted at once" % who)

    # After the delay.
    time.sleep(max(0, first1 + DELAY + 1.5 - time.time()))
    if have_v6:
        ipv6(t, w, 1)
    else:
        print("ok %d # SKIP IPv6 on lo refused" % (t.n + 1))
        t.n += 1
    passes(t, rc("127.0.1.10", "alice@" + GOOD, "alice@grey.example"),
           "a retry after the delay: accepted")
    passes(t, rc("127.0.1.10", "alice@" + GOOD, "alice@grey.example"),
           "and again: a known triplet")
    passes(t, rc("127.0.3.2", "prvs=2222222222=carol@" + GOOD,
                 "carol@grey.example"),
           "BATV: a new tag, another host of the /24: the same triplet")
    passes(t, rc("127.0.4.2", "SRS0=h2=T2=orig.example=dave@" + GOOD,
                 "dave@grey.example"), "SRS0: a new wrapper, the same "
           "triplet")
    passes(t, rc("127.0.5.2", "bounce-2002@" + GOOD, "erin@grey.example"),
           "VERP: a new number, the same triplet")
    mark = len(w.r.log())
    passes(t, rc("127.0.2.20", "frank@pass.snd.test", "frank@grey.example"),
           "the SPF-passing sender from another network (127.0.2.20): "
           "accepted after one retry")
    passes(t, rc("127.0.1.21", "frank@pass.snd.test", "frank@grey.example"),
           "and from a third address")
    t.ok("retried in time client=spf:pass.snd.test" in w.log_since(mark),
         "logged: retried in time, by the domain")
    passes(t, rc("127.0.6.1", "g1@" + GOOD, "g1@grey.example"),
           "auto-whitelist: the first triplet passes (1 pass)")
    grey_reply(t, rc("127.0.6.4", "g4@" + GOOD, "g4@grey.example"),
               "auto-whitelist: a new triplet after 1 pass: greylisted")
    passes(t, rc("127.0.6.2", "g2@" + GOOD, "g2@grey.example"),
           "auto-whitelist: the second triplet passes (2 passes)")
    passes(t, rc("127.0.6.3", "g3@" + GOOD, "g3@grey.example"),
           "auto-whitelist: a new triplet after 2 passes: accepted at once")
    grey_reply(t, rc("127.0.16.3", "g3@" + GOOD, "g3@grey.example"),
               "another /24 is not auto-whitelisted")
    # The log, once the time-bound part is over.
    t.ok(w.log_has(r"(?m)policy rcpt client=\[127\.0\.1\.10\] tenant=grey "
                   r"from=<alice@good\.snd\.test> to=<alice@grey\.example> "
                   r"check=- result=pass; spf=\S+ \(.*\) "
                   r"greylist=retried in time "
                   r"client=127\.0\.1\.0/24$"),
         "logged on one line: the pass, and why")
    t.ok(w.log_has(r"greylist=auto-whitelisted client="
                   r"127\.0\.6\.0/24"), "logged: auto-whitelisted")

    # A restart keeps what passed.
    w.r.stop()
    if not t.ok(w.r.start(), "relayd starts again on the same state"):
        return
    passes(t, rc("127.0.1.10", "alice@" + GOOD, "alice@grey.example"),
           "after a restart: the passed triplet passes at once")
    passes(t, rc("127.0.6.5", "g5@" + GOOD, "g5@grey.example"),
           "after a restart: the auto-whitelisted /24 passes at once")

    # After the window, a retry starts again.
    time.sleep(max(0, before2 + WINDOW + 2 - time.time()))
    grey_reply(t, rc("127.0.1.11", "bob@" + GOOD, "bob@grey.example"),
               "a retry after the window: 451 again")

    # The store: triplets, and no address in clear.
    w.r.stop()
    db = os.path.join(w.r.state, "db")
    trip = awl = []
    for attempt in range(3):
        # The children may still be leaving (they die with the parent).
        try:
            trip = storedump.dump(db, "greylist")
            awl = storedump.dump(db, "awl")
            break
        except subprocess.CalledProcessError as e:
            t.diag("mdb_dump: %s" % e.stderr)
            time.sleep(1)
    t.ok(len(trip) >= 10, "the store holds the triplets (%d)" % len(trip))
    t.ok(len(awl) >= 1, "and the auto-whitelisted clients (%d)" % len(awl))
    t.ok(all(len(k) == 32 for k, v in trip + awl), "keyed by HMACs")
    raw = b""
    for name in os.listdir(db):
        with open(os.path.join(db, name), "rb") as f:
            raw += f.read()
    needles = ["alice", "carol", "frank", "g3@", GOOD, "pass.snd.test",
               "grey.example", "orig.example", "127.0.1.10", "127.0.6.1",
               "127.0.1.0", "127.0.6.0"]
    found = [n for n in needles if n.encode() in raw or
             n.encode("utf-16-le") in raw]
    found += [a for a in ("127.0.1.10", "127.0.6.1", "127.0.3.2")
              if socket.inet_aton(a) in raw]
    t.eq(found, [], "no sender, recipient or client address in the store's "
         "files")


main()
