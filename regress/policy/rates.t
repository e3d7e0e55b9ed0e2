#!/usr/bin/env python3
"""Rates, the anvil model, counted by policyd per client (an IPv4 address
or an IPv6 /64) and minute: connections (421 4.7.0 at connect), messages
(450 4.7.1 at MAIL), recipients (450 4.7.1 at RCPT); and a tenant's
daily_messages (450 4.7.1 once reached, another tenant unaffected).
Each part uses its own clients, so that one part's counts never reach
another's."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, V6Addresses, code  # noqa: E402
from relaytest import Tap, need_root  # noqa: E402

TENANTS = {
    "vol": "limits:\n  daily_messages: 2\n",
    "other": "",
    "inside": "outbound:\n  networks: [127.0.0.9/32]\n",
}
LIMITS = """\
client_connection_rate: 3
client_message_rate: 3
client_recipient_rate: 4
"""
V6 = ("2001:db8:1::10", "2001:db8:1::11", "2001:db8:1::12", "2001:db8:2::10")
BODY = b"To: <r@vol.example>\r\nSubject: volume\r\n\r\nhi\r\n"


def main():
    t = Tap()
    need_root(t)
    v6 = V6Addresses()
    have_v6 = all(v6.add(a) for a in V6)
    w = PolicyWorld(t, TENANTS, limits=LIMITS, v6=have_v6)
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        run(t, w, have_v6)
    finally:
        w.stop()
        v6.remove()
    t.done()


def greet(w, source):
    c, g = w.connect(source)
    if c is not None:
        c.close()
    return g


def run(t, w, have_v6):
    # Connections.
    got = [code(greet(w, "127.0.1.1")) for i in range(3)]
    t.eq(got, ["220", "220", "220"], "3 connections a minute: greeted")
    g = greet(w, "127.0.1.1")
    t.like(g[1], r"^421 4\.7\.0 .*too many connections from your address",
           "the 4th: 421 4.7.0 at connect")
    t.eq(code(greet(w, "127.0.1.2")), "220", "another client: greeted")
    t.ok(w.log_has(r"policy connect client=\[127\.0\.1\.1\] tenant=- (.* )?"
                   r"check=connection-rate result=defer 421 4\.7\.0 .*; "
                   r"connections=4/min"), "logged: check=connection-rate")
    if have_v6:
        got = [code(greet(w, a)) for a in (V6[0], V6[1], V6[0])]
        t.eq(got, ["220", "220", "220"], "IPv6: 3 connections from one /64")
        t.like(greet(w, V6[2])[1], r"^421 4\.7\.0 ",
               "IPv6: a 4th from another host of the /64: 421")
        t.eq(code(greet(w, V6[3])), "220", "IPv6: another /64: greeted")
    else:
        for i in range(3):
            print("ok %d # SKIP IPv6 on lo refused" % (t.n + 1))
            t.n += 1
    t.eq(code(greet(w, "127.0.0.9")), "220", "a tenant's own network: "
         "not counted")

    # Messages, in one connection.
    c, g = w.connect("127.0.1.3")
    c.cmd("EHLO client.example")
    got = []
    for i in range(4):
        got.append(code(c.cmd("MAIL FROM:<m%d@good.snd.test>" % i)))
        c.cmd("RSET")
    last = c.cmd("MAIL FROM:<m9@good.snd.test>")
    c.close()
    t.eq(got, ["250 2.1.0"] * 3 + ["450 4.7.1"],
         "3 messages a minute; the 4th MAIL: 450 4.7.1")
    t.like(last[1], r"^450 4\.7\.1 .*too many messages", "and the next")
    # Recipients.
    c, g = w.connect("127.0.1.4")
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<r@good.snd.test>")
    got = [code(c.cmd("RCPT TO:<r%d@other.example>" % i)) for i in range(5)]
    c.close()
    t.eq(got, ["250 2.1.5"] * 4 + ["450 4.7.1"],
         "4 recipients a minute; the 5th RCPT: 450 4.7.1")
    t.ok(w.log_has(r"policy mail client=\[127\.0\.1\.3\] tenant=- "
                   r"from=<m3@good\.snd\.test> check=message-rate "
                   r"result=defer 450 4\.7\.1 .*; messages=4/min"),
         "logged: check=message-rate")
    t.ok(w.log_has(r"policy rcpt client=\[127\.0\.1\.4\] tenant=other "
                   r"from=<r@good\.snd\.test> to=<r4@other\.example> "
                   r"check=recipient-rate result=defer 450 4\.7\.1 .*; "
                   r"recipients=5/min"), "logged: check=recipient-rate")

    # The tenant's daily volume.
    for i, src in enumerate(("127.0.1.5", "127.0.1.6")):
        out = w.session(src, "d@good.snd.test", ["r@vol.example"], body=BODY)
        t.like(out.get("end", (0, ""))[1], r"^250 2\.0\.0 ",
               "daily_messages 2: message %d accepted" % (i + 1))
    out = w.session("127.0.1.7", "d@good.snd.test",
                    ["r@vol.example", "r@other.example"], body=BODY)
    t.eq([code(r) for r in out["rcpt"]], ["450 4.7.1", "250 2.1.5"],
         "the 3rd: 450 4.7.1 for the tenant, another tenant's accepted")
    t.like(out["rcpt"][0][1], r"daily volume", "the reply says why")
    t.like(out.get("end", (0, ""))[1], r"^250 2\.0\.0 ",
           "and the message goes to the other tenant")
    t.eq(code(w.rcpt_reply("127.0.1.8", "d@good.snd.test",
                           "postmaster@vol.example")), "250 2.1.5",
         "postmaster@ of the tenant: still accepted")
    t.ok(w.log_has(r"tenant=vol .* check=daily-volume result=defer 450 "
                   r"4\.7\.1 .*; .*today=2 messages"),
         "logged: check=daily-volume, today's count")
    t.ok(w.r.proc.poll() is None, "relayd still running")


main()
