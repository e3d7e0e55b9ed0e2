#!/usr/bin/env python3
"""Log lines name no mail address by default (log.addresses: false):
a message delivered, one of its recipients refused by the tenant's
server with a reply that quotes the address, the notice that goes back
to the sender, and a recipient refused at SMTP time are all logged with
their queue id, tenant, relay, status and reason, and none of the lines
holds any of the addresses.  With log.addresses: true (after a reload)
the lines carry from=<...> and to=<...> again."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root, queue_id, send_message  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)

SENDER = "alice.sender@sender.test"
GOOD = "bob.good@acme.example"
BAD = "nobody.bad@acme.example"
FOREIGN = "eve.foreign@elsewhere.test"
ADDRS = [SENDER, GOOD, BAD, FOREIGN, "Nobody.Bad@acme.example"]

w = World(tap, log_addresses=False)
try:
    tenant = w.sink(w.tenant_addr)
    tenant.rcpt = lambda a: ("550 5.1.1 <%s>: no such user here" % a
                             if "nobody" in a.lower() else "250 2.1.5 ok")
    notices = w.sink("127.0.0.6")
    tap.ok(w.start(), "relayd starts with log.addresses left out")

    code, text = send_message(w.r.port, SENDER, [GOOD, "Nobody.Bad@acme."
                                                 "example"],
                              b"Subject: hello\r\n\r\nbody\r\n")
    qid = queue_id(text)
    tap.ok(qid, "a message for two recipients of the tenant is queued")
    tap.ok(tenant.wait(1), "one is delivered to the tenant's server")
    tap.ok(notices.wait(1), "the other bounces, and its notice reaches "
           "the sender's domain")
    tap.ok(w.log_has(r"msgid=[0-9a-f]{16}: failure notice msgid=[0-9a-f]{16}"
                     r" queued", 5), "the notice is logged as queued")
    code, text = send_message(w.r.port, SENDER, [FOREIGN],
                              b"Subject: relay?\r\n\r\nno\r\n")
    tap.ok(code is not None and code >= 500,
           "a foreign recipient is refused at SMTP time (%s)" % code)
    tap.ok(w.log_has(r"reject RCPT from \[127\.0\.0\.1\]", 5),
           "the refusal is logged")
    # The notice is itself a message: wait for its delivery line too.
    tap.ok(w.log_has(r"msgid=\S+ tenant=\S+ relay=mx\.sender\.test"
                     r"\S* .*status=sent", 10),
           "the notice's delivery is logged, with no address")

    log = w.r.log()
    tap.ok(re.search(r"msgid=%s tenant=acme size=\d+ nrcpt=2 "
                     r"client=\[127\.0\.0\.1\] .*status=queued" % qid, log),
           "accepted: msgid, tenant, size, client, status")
    tap.ok(re.search(r"msgid=%s tenant=acme relay=\S+ delay=\d+s "
                     r"dsn=2\.\S+ status=sent" % qid, log),
           "delivered: msgid, tenant, relay, dsn, status")
    tap.ok(re.search(r"msgid=%s tenant=acme relay=\S+ delay=\d+s "
                     r"dsn=5\.1\.1 status=bounced \(550 5\.1\.1 "
                     r"<redacted>: no such user here\)" % qid, log),
           "bounced: the reason kept, the address in the reply redacted")
    found = [a for a in ADDRS if a.lower() in log.lower()]
    tap.eq(found, [], "no log line names any of the addresses")
    bad = [l for l in log.splitlines() if "@" in l and
           not re.search(r"@(test\.example|acme\.example)\b", l)]
    tap.eq(bad, [], "no line holds an '@' but the configuration's own")

    # log.addresses: true, by a reload: the fields are back.
    w.r.log_addresses = True
    w.r.write_main()
    rc, out, err = w.r.ctl("reload")
    tap.eq(rc, 0, "reload with log.addresses: true (%s)" % err.strip())
    code, text = send_message(w.r.port, SENDER, [GOOD],
                              b"Subject: again\r\n\r\nbody\r\n")
    qid2 = queue_id(text)
    tap.ok(w.log_has(r"msgid=%s tenant=acme from=<%s> size=" %
                     (qid2, re.escape(SENDER)), 10),
           "with log.addresses: the accepted line names the sender")
    tap.ok(w.log_has(r"msgid=%s tenant=acme from=<%s> to=<%s> relay=.* "
                     r"status=sent" % (qid2, re.escape(SENDER),
                                       re.escape(GOOD)), 10),
           "and the delivery line the sender and the recipient")
finally:
    w.stop()
tap.done()
