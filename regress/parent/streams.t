#!/usr/bin/env python3
"""show recipients (policyd) and show corrupt (queued) come in parts at
the pace relayctl reads, like show queue (regress/parent/listing.t): a
client that waits before it reads, then reads slowly, gets every line of
listings far larger than the 1 MB the parent holds unread, and more
entries than the 10,000 show corrupt once stopped at.

N learned recipients are loaded into the store with mdb_load, and N
envelopes are put in quarantine (state_dir/corrupt) while relayd is
stopped."""
import os
import pwd
import re
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from relaytest import DEFAULT_TENANT, Relayd, Tap, need_root  # noqa: E402
import storedump  # noqa: E402

N = 12000
PAD = "p" * 40
REASON = "the envelope cannot be decoded: " + "r" * 120


def i64(v):
    return struct.pack(">q", v)


def learned(n, now):
    """(key, value) of n learned recipients of acme (policy_rcpt.c)."""
    out = []
    for i in range(n):
        key = b"acme\0" + ("user%05d-%s@acme.example" % (i, PAD)).encode()
        out.append((key, i64(now + 30 * 86400) + b"\x01" + i64(now) +
                    i64(now)))
    return sorted(out)


def quarantine(state, n):
    d = os.path.join(state, "corrupt")
    ids = ["%016x" % (0x5000000000000000 + i * 7919) for i in range(n)]
    for qid in ids:
        for name, text in (("%s.envelope" % qid, b"\xff\xfe junk"),
                           ("%s.reason" % qid, (REASON + "\n").encode())):
            path = os.path.join(d, name)
            with open(path, "wb") as f:
                f.write(text)
            storedump.give_to_queued(path)
    return ids


def slow_read(r, req):
    """The answer to req, read by a client that first waits, then takes
    4 KB at a time with pauses."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(r.sock)
    s.sendall(req)
    time.sleep(3)
    got = []
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got.append(chunk)
            time.sleep(0.002)
    except OSError:
        pass
    s.close()
    return b"".join(got).decode("utf-8", "replace").splitlines()


def main():
    tap = Tap()
    need_root(tap)
    tenant = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                                   deliver_to="127.0.0.1:9")
    r = Relayd(tap, tenants={"acme.yaml": tenant})
    try:
        if not tap.ok(r.start(), "relayd starts"):
            tap.done()
        r.stop()
        db = os.path.join(r.state, "db")
        storedump.load(db, "recipients", learned(N, int(time.time())))
        queued = pwd.getpwnam("relayd-queue").pw_uid
        for f in os.listdir(db):
            os.chown(os.path.join(db, f), queued, -1)
        ids = quarantine(r.state, N)
        tap.ok(r.start(), "relayd starts with %d learned recipients and "
               "%d envelopes in quarantine" % (N, N))
        run(tap, r, ids)
    finally:
        r.cleanup()
    tap.done()


def run(tap, r, ids):
    lines = slow_read(r, b"show recipients acme\n")
    tap.eq(lines[-1] if lines else None, "OK",
           "show recipients, read slowly, ends with OK") or \
        tap.diag(lines[-3:])
    addrs = [l[2:].split(" ", 1)[0] for l in lines
             if l.startswith("- user")]
    want = ["user%05d-%s@acme.example" % (i, PAD) for i in range(N)]
    tap.eq(len(addrs), N, "every learned recipient is listed")
    tap.ok(addrs == want, "each once, in order")
    tap.ok(sum(len(l) + 1 for l in lines) > 1024 * 1024,
           "more than the parent holds unread (%d octets)" %
           sum(len(l) + 1 for l in lines))
    tap.like(lines[-2] if len(lines) > 1 else "",
             r"^- tenant acme: verify \S+, first seen \S+, servers up, "
             r"%d recipients learned$" % N, "the summary comes last")
    tap.ok(not re.search(r"relayd: control: .*(cut|dropped)", r.log()),
           "the parent cut nothing")

    lines = slow_read(r, b"show corrupt\n")
    tap.eq(lines[-1] if lines else None, "OK",
           "show corrupt, read slowly, ends with OK") or \
        tap.diag(lines[-3:])
    tap.eq(lines[0] if lines else None, "- ID SIZE WHEN REASON",
           "its header first")
    got = [l[2:].split(" ", 1)[0] for l in lines[1:-1]]
    tap.eq(len(got), N, "every quarantined envelope is listed (%d)" % N)
    tap.ok(got == ids, "each once, by id")
    tap.ok(all(l.endswith(" " + REASON) for l in lines[1:-1]),
           "each with its reason")
    rc, out, err = r.ctl("show", "corrupt")
    tap.eq((rc, len(out.splitlines())), (0, N + 1),
           "relayctl show corrupt lists them too")


main()
