"""reportlib: a world for the tenants' reports: acme lists its users
(alice, bounced), its server refuses bounced@, and its contacts of each
role are at ops.test, whose server is a capture sink."""
import email
import email.policy
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import wait_for  # noqa: E402
from world import World  # noqa: E402

OPS = "127.0.0.7"
DNS = {"ops.test.": ["ops.test. 300 IN MX 10 mx.ops.test.",
                     "mx.ops.test. 300 IN A %s" % OPS]}
ACME = """\
recipients:
  verify: list
  list: [alice@acme.example, bounced@acme.example]
contacts:
  - email: jane@ops.test
    roles: [technical, emergency]
  - email: bills@ops.test
    roles: [billing]
  - email: pol@ops.test
    roles: [policy]
"""
SENDER = "someone@remote.test"


def world(tap, **kw):
    w = World(tap, queue="retry_min: 1h\nretry_max: 1h\n", dns_extra=DNS,
              tenant_extra=ACME, **kw)
    tenant = w.sink(w.tenant_addr)
    tenant.rcpt = lambda a: ("550 5.1.1 no such user"
                             if a.startswith("bounced") else "250 2.1.5 ok")
    return w, w.sink(OPS)


def traffic(tap, w):
    """One message delivered, one bounced, one unknown user refused."""
    tap.eq(w.send(SENDER, ["alice@acme.example"])[0], 250,
           "a message for alice accepted")
    # From the null sender: no bounce of its own to count.
    tap.eq(w.send("", ["bounced@acme.example"])[0], 250,
           "a message the server will refuse accepted")
    tap.eq(w.send(SENDER, ["nobody@acme.example"])[0], 550,
           "an unknown user refused")


def total(w, name):
    import json
    rc, out, err = w.r.ctl("show", "stats", "acme", "--json")
    try:
        return json.loads(out)["tenants"][0]["total"][name]
    except (ValueError, KeyError, IndexError):
        return None


def counted(w, timeout=30):
    return wait_for(lambda: total(w, "delivered") == 1 and
                    total(w, "bounced") == 1 and
                    total(w, "rejected_unknown_user") == 1, timeout)


def parse(m):
    return email.message_from_bytes(m.data, policy=email.policy.compat32)


def figures(tap, msg, what):
    """The figures of the traffic above in a report's text."""
    body = msg.get_payload()
    tap.like(body, r"Messages accepted: +inbound 2 \(\d+ octets\), "
             r"outbound 0 \(0 octets\)", what + ": two messages in")
    tap.like(body, r"Recipients: +1 delivered, 1 bounced, 0 attempts "
             r"deferred", what + ": one delivered, one bounced")
    tap.like(body, r"Refused at SMTP time: +1 refused \(5xx\), 0 deferred",
             what + ": one refused at SMTP time")
    tap.like(body, r"Top refusal reasons:\r?\n  unknown_user +1 \(1 "
             r"refused, 0 deferred\)\r?\n(?!  )", what +
             ": the reason, alone")
    tap.like(body, r"Service level: +100\.00% of 2 first delivery attempts "
             r"within 10 minutes", what + ": the service level")
