#!/usr/bin/env python3
"""Legal holds on a tenant: relayctl hold-records TENANT placed after the
tenant's mail was delivered keeps that tenant's records past
retention.message_records (records/held/N, found by trace), while
another tenant's go at their time; the holds are listed, as text and as
JSON (an address with quotes and backslashes in its quoted local part
stays valid JSON); placing and releasing are answered and logged with
the caller's uid; a release deletes what the hold kept, and then no
address is left anywhere.  On the test clock (2d in about 40 seconds)."""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root, queue_id, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)

SCALE = 4320            # 2d in 40 real seconds
FROM_A = "from.h7a@sender.test"
KEPT = "kept.h7@acme.example"
FROM_B = "from.h7b@sender.test"
GONE = "gone.h7@beta.example"
ODD = '"odd \\"one\\""@beta.example'
ALL = [FROM_A, KEPT, FROM_B, GONE]
BETA_ADDR = "127.0.0.21"
BETA = """\
tenant: beta
postmaster: postmaster@beta.example
domains: [beta.example]
inbound:
  mode: relay
  deliver_to: [%s:%d]
"""


def files(top):
    for d, dirs, names in os.walk(top):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                yield p


def found(w, allowed=()):
    """{address: [files]} of the addresses found, outside allowed."""
    hits = {}
    for p in list(files(w.r.state)) + [w.r.logpath]:
        if any(p == ok or p.startswith(ok + "/") for ok in allowed):
            continue
        try:
            with open(p, "rb") as f:
                data = f.read().lower()
        except OSError:
            continue
        for a in ALL:
            if a.encode() in data:
                hits.setdefault(a, []).append(os.path.relpath(p, w.r.dir))
    return hits


w = World(tap, log_addresses=False)
try:
    w.r.write_tenant("beta.yaml", BETA % (BETA_ADDR, w.port))
    acme = w.sink(w.tenant_addr)
    beta = w.sink(BETA_ADDR)
    env = {"RELAYD_TIME_SCALE": str(SCALE),
           "RELAYD_TIME_BASE": str(int(time.time()))}
    tap.ok(w.start(debug=True, env=env), "relayd starts on the test clock")

    code, text = w.send(FROM_A, [KEPT])
    acme_id = queue_id(text)
    code, text = w.send(FROM_B, [GONE])
    beta_id = queue_id(text)
    tap.ok(acme_id and beta_id, "a message for each tenant is accepted")
    tap.ok(acme.wait(1) and beta.wait(1), "both are delivered")
    tap.ok(w.queue_empty(20), "nothing is left in the queue")

    # The hold comes after the delivery: what the buckets hold is kept.
    rc, out, err = w.r.ctl("hold-records", "acme")
    tap.ok(rc == 0 and out.strip() == "hold 1 placed on tenant acme",
           "a legal hold on the tenant acme (%s)" % (out + err).strip())
    tap.ok(w.log_has(r"control: uid 0: hold-records acme\n", 5) and
           w.log_has(r"records: legal hold 1 placed on tenant acme", 5),
           "placed, logged with the caller's uid")
    rc, out, err = w.r.ctl("hold-records", "acme")
    tap.ok(rc == 0 and "held already (hold 1)" in out,
           "placing it again is no error (%s)" % (out + err).strip())
    rc, out, err = w.r.ctl("hold-records", ODD)
    tap.ok(rc == 0 and out.startswith("hold 2 placed on address"),
           "a hold on an address with quotes in its local part (%s)" %
           (out + err).strip())

    rc, out, err = w.r.ctl("hold-records")
    lines = out.splitlines()
    tap.ok(rc == 0 and len(lines) == 3 and lines[0].startswith("HOLD ") and
           re.match(r"1 tenant acme since \d{4}-\d\d-\d\dT\S+Z, \d+ octets "
                    r"kept$", lines[1]),
           "hold-records lists them (%s)" % out.strip())
    rc, out, err = w.r.ctl("hold-records", "--json")
    try:
        objs = [json.loads(l) for l in out.splitlines()]
    except ValueError as e:
        objs = None
        tap.diag("not JSON: %s: %s" % (e, out))
    tap.ok(objs is not None and len(objs) == 2 and
           objs[0].get("hold") == 1 and objs[0].get("tenant") == "acme" and
           objs[1].get("hold") == 2 and objs[1].get("address") == ODD,
           "and as JSON, one object each, the address whole")

    # Past the retention: beta's records are gone, acme's are held.
    held = os.path.join(w.r.state, "records", "held")
    left = wait_for(lambda: not found(w, [held]), 120, 0.5)
    tap.ok(left, "past the retention no address is left but in "
           "records/held")
    if not left:
        tap.diag(found(w, [held]))
    tap.ok(w.log_has(r"records: \d+ records of \S+ kept for the legal "
                     r"holds", 5), "what was kept is logged")
    rc, out, err = w.r.ctl("trace", beta_id)
    tap.ok(rc != 0 and "no records" in err,
           "the other tenant's message is traced no more (%s)" %
           err.strip())
    rc, out, err = w.r.ctl("trace", acme_id)
    tap.ok(rc == 0 and re.search(r"(?m)^%s \S+ accepted tenant=acme .*"
                                 r"to=<%s>" % (acme_id, re.escape(KEPT)),
                                 out) and
           re.search(r"(?m)^%s \S+ sent .*to=<%s>" %
                     (acme_id, re.escape(KEPT)), out),
           "the held tenant's message is traced whole")
    tap.ok(found(w).get(KEPT) == [os.path.relpath(
        os.path.join(held, "1"), w.r.dir)], "in records/held/1 alone")

    rc, out, err = w.r.ctl("hold-records", "acme", "--release")
    tap.ok(rc == 0 and out.strip() == "hold 1 on tenant acme released",
           "the hold is released (%s)" % (out + err).strip())
    tap.ok(w.log_has(r"control: uid 0: hold-records acme --release", 5) and
           w.log_has(r"records: legal hold 1 on tenant acme released", 5),
           "logged with the caller's uid")
    tap.ok(not os.path.exists(os.path.join(held, "1")),
           "what it kept is deleted")
    rc, out, err = w.r.ctl("hold-records", "acme", "--release")
    tap.ok(rc != 0 and "no legal hold on tenant acme" in err,
           "a second release is refused (%s)" % err.strip())
    rc, out, err = w.r.ctl("trace", acme_id)
    tap.ok(rc != 0, "trace finds the message no more")
    left = wait_for(lambda: not found(w), 30, 0.5)
    tap.ok(left, "no address is left anywhere")
    if not left:
        tap.diag(found(w))
    rc, out, err = w.r.ctl("hold-records", ODD, "--release")
    tap.ok(rc == 0 and "released" in out, "the other hold is released")
    rc, out, err = w.r.ctl("hold-records")
    tap.ok(rc == 0 and out == "", "no hold is left (%r)" % out)
finally:
    w.stop()
tap.done()
