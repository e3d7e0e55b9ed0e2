#!/usr/bin/env python3
"""An inbound shield (relay mode) with default settings filters nothing
beyond protocol strictness and its recipient checks, where a backup MX
greylists, asks the operator's DNS lists and checks sender domains; and
it never waits for policyd: with policyd stopped (SIGSTOP), mail for the
relay tenant, from a tenant's own network and for postmaster@ still
flows, while a greylisting tenant's recipient gets 451 4.3.0 after
timeouts.policy.  Then policyd goes on and all is as before.  Last, in
another relayd, a connection rate makes the greeting wait for policyd:
stopped, 421 4.3.0."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, code  # noqa: E402
from relaytest import Tap, need_root, split_received  # noqa: E402

BL = ["2.1.0.127.bl.test. 300 IN A 127.0.0.2"]
MAIN = "dnsbl:\n  lists:\n    - zone: bl.test\n"
TENANTS = {
    "relay": "",
    "backup": ("backup", ""),
    "grey": "policy:\n  greylist:\n    enabled: true\n    delay: 1h\n",
    "inside": "outbound:\n  networks: [127.0.0.9/32]\n",
}
TIMEOUTS = "command: 30s\ndata: 30s\npolicy: 2s\n"
OK = "250 2.1.5"
# client, sender: relay's verdict, backup's, and why
CASES = [
    ("127.0.1.2", "a@nx.snd.test", OK, "550 5.7.1",
     "a client in the operator's DNS list"),
    ("127.0.1.1", "a@nx.snd.test", OK, "550 5.1.8",
     "a sender domain that does not exist"),
    ("127.0.1.1", "a@bogon10.snd.test", OK, "550 5.1.8",
     "a sender domain with a bogon MX"),
    ("127.0.1.1", "a@good.snd.test", OK, "451 4.7.1", "a new triplet"),
    ("127.0.1.1", "a@fail.snd.test", OK, "451 4.7.1",
     "an SPF fail (SPF is opt-in: greylisted only)"),
]
BODY = b"Subject: no To or Cc\r\n\r\nbody\r\n"


def main():
    t = Tap()
    need_root(t)
    w = PolicyWorld(t, TENANTS, zones={"bl.test.": BL}, main_extra=MAIN,
                    timeouts=TIMEOUTS)
    try:
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        defaults(t, w)
        stopped(t, w)
    finally:
        w.stop()
    connect_rate(t)
    t.done()


def defaults(t, w):
    for client, sender, relay, backup, what in CASES:
        out = w.session(client, sender, ["r@relay.example",
                                         "r@backup.example"])
        t.eq([code(r) for r in out["rcpt"]], [relay, backup],
             "%s: the relay tenant %s, the backup tenant %s" %
             (what, relay, backup))
    t.ok(w.log_has(r"(?m)policy rcpt client=\[127\.0\.1\.1\] tenant=backup "
                   r"from=<a@good\.snd\.test> to=<r@backup\.example> "
                   r"check=greylist result=defer 451 4\.7\.1 Greylisted: "
                   r"try again in 300 seconds; (recipient=\S+ \(.*\) )?"
                   r"dnsbl=0/1 \(bl\.test=none\) "
                   r"sender-domain=ok \(a routable mail host\) "
                   r"spf=\S+ \(.*\) greylist=new triplet client=127\.0\.1\.0/24$"),
         "the backup tenant's verdict logged on one line: check=, facts")
    out = w.session("127.0.1.2", "a@fail.snd.test", ["r@relay.example"],
                    body=BODY)
    t.like(out.get("end", (0, ""))[1], r"^250 2\.0\.0 ", "the relay tenant: "
           "a message without To: or Cc:, from a listed client, accepted")
    if t.ok(w.delivered(1), "delivered"):
        rec, rest = split_received(w.sink.messages[0].data)
        t.ok(rec is not None and rest == BODY, "unaltered: our Received: "
             "and what was sent, no Received-SPF")
    t.ok("policy rcpt client=[127.0.1.2] tenant=relay" not in w.r.log(),
         "policyd was never asked about the relay tenant's recipients")


def stopped(t, w):
    pid = w.r.children().get("policyd")
    if not t.ok(pid, "policyd's pid (%s)" % pid):
        return
    os.kill(pid, signal.SIGSTOP)
    try:
        out = w.session("127.0.1.2", "b@nx.snd.test", ["r@relay.example"],
                        body=BODY)
        t.like(out.get("end", (0, ""))[1], r"^250 2\.0\.0 ",
               "policyd stopped: the relay tenant's mail flows")
        t.ok(w.delivered(2), "and is delivered")
        out = w.session("127.0.0.9", "b@inside.example", ["r@grey.example"],
                        body=b"To: <r@grey.example>\r\n\r\nhi\r\n")
        t.like(out.get("end", (0, ""))[1], r"^250 2\.0\.0 ",
               "from a tenant's own network to the greylisting tenant: "
               "no check, accepted")
        t.eq(code(w.rcpt_reply("127.0.1.1", "b@good.snd.test",
                               "postmaster@grey.example")), OK,
             "postmaster@ of the greylisting tenant: accepted")
        out = w.session("127.0.1.1", "b@good.snd.test",
                        ["r@grey.example", "r@relay.example"])
        t.eq([code(r) for r in out["rcpt"]], ["451 4.3.0", OK],
             "the greylisting tenant's recipient: 451 4.3.0 after "
             "timeouts.policy; the relay tenant's, in the same "
             "transaction, accepted")
        t.like(out["rcpt"][0][1] if out["rcpt"] else None,
               r"policy service is not answering", "the reply says why")
        t.ok(w.log_has(r"policyd gave no verdict for \[127\.0\.1\.1\] "
                       r"within 2s; deferred"), "logged")
    finally:
        os.kill(pid, signal.SIGCONT)
    rep = w.rcpt_reply("127.0.1.3", "c@good.snd.test", "r@grey.example")
    t.like(rep[1], r"^451 4\.7\.1 Greylisted", "policyd goes on: "
           "greylisting as before")
    t.ok(w.r.proc.poll() is None and not w.r.wait_log(
        r"peer broken|malformed|fatal", 0.5), "relayd still running, "
         "nothing broken")


def connect_rate(t):
    w = PolicyWorld(t, {"relay": ""}, limits="client_connection_rate: 100\n",
                    timeouts=TIMEOUTS)
    try:
        if not t.ok(w.start(), "another relayd, with a connection rate"):
            return
        pid = w.r.children().get("policyd")
        os.kill(pid, signal.SIGSTOP)
        try:
            c, g = w.connect("127.0.1.1")
            t.like(g[1], r"^421 4\.3\.0 .*policy service is not answering",
                   "policyd stopped: 421 4.3.0 at connect")
            t.ok(c is not None and c.closed(), "and the connection closed")
        finally:
            os.kill(pid, signal.SIGCONT)
        c, g = w.connect("127.0.1.1")
        t.eq(code(g), "220", "policyd goes on: greeted")
        if c is not None:
            c.close()
    finally:
        w.stop()


main()
