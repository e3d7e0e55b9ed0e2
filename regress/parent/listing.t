#!/usr/bin/env python3
"""Listings in parts (common/ctl_stream.h), spoken on the control socket
directly: a listing resumes after the last id it gave, so what changes
meanwhile does not break it; queued keeps at most 8 open; one relayctl
stops reading is abandoned after timeouts.control, and its answer ends
with ERR; an answer left unread that long after its end is dropped with
its connection; and a child that sends more than was asked for gets its
answer cut by the parent (RELAYD_FAIL=listing-pause, the debug build).

20,000 messages, written by regress/tools/mkqueue on a tmpfs (see
regress/queue/bigqueue.t): about 9 MB of listing, far more than the
parent and the socket hold between them."""
import os
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from relaytest import (DEFAULT_TENANT, TOP, Relayd, Tap,  # noqa: E402
                       need_root, private_mounts, queue_id, send_message,
                       wait_for)

N = 20000
MKQUEUE = os.environ.get("RELAYD_MKQUEUE") or os.path.join(
    TOP, "regress", "tools", "mkqueue")
HEADER = "ID TENANT FROM RECIPIENTS AGE ATTEMPTS NEXT LAST-ERROR"


def listings_open(r):
    rc, out, err = r.ctl("show", "status")
    m = re.search(r"(?m)^queued .*?(\d+) listings? open", out)
    return int(m.group(1)) if m else 0


def ask(r, req=b"show queue\n"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(r.sock)
    s.sendall(req)
    return s


def read_lines(s, n):
    """At least n lines (or what came before the end), as bytes."""
    got, nl = [], 0
    while nl < n:
        chunk = s.recv(4096)
        if not chunk:
            break
        got.append(chunk)
        nl += chunk.count(b"\n")
    return b"".join(got)


def read_all(s):
    got = []
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got.append(chunk)
    except (socket.timeout, OSError):
        pass
    return b"".join(got).decode("utf-8", "replace")


tap = Tap()
need_root(tap)
private_mounts(tap)
if not os.access(MKQUEUE, os.X_OK):
    tap.ok(False, "regress/tools/mkqueue is built (make tools)")
    tap.done()
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")
r = Relayd(tap, tenants={"acme.yaml": TENANT},
           queue="retry_min: 1h\nretry_max: 1h\n")
os.makedirs(r.state)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2G,mode=0755", "tmpfs",
                r.state], check=True)
try:
    if not tap.ok(r.start(), "relayd starts on an empty queue"):
        tap.done()
    r.stop()
    p = subprocess.run([MKQUEUE, "-n", str(N), "-s", "0", r.state],
                       capture_output=True, text=True)
    if not tap.eq(p.returncode, 0, "mkqueue writes %d messages" % N):
        tap.diag(p.stderr)
        tap.done()
    tap.ok(r.start(), "relayd starts again")
    tap.ok(r.wait_log(r"queue: %d messages" % N, 60), "with them queued")
    rc, out, err = r.ctl("show", "queue")
    ids = [l.split(" ", 1)[0] for l in out.splitlines()[1:]]
    tap.eq((rc, len(ids)), (0, N), "show queue lists them all")

    # Changed while the listing waits: a message ahead is held, a new
    # one arrives; the listing goes on from where it was and shows both.
    s = ask(r)
    first = read_lines(s, 10)
    tap.ok(first.startswith(b"- " + HEADER.encode() + b"\n"),
           "a listing begins")
    tap.ok(wait_for(lambda: listings_open(r) == 1, 10),
           "and waits in queued for relayctl to read on")
    rc, out, err = r.ctl("queue", "hold", ids[-1])
    tap.eq(rc, 0, "meanwhile the last message is held")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"],
                              b"Subject: new\r\n\r\nnew\r\n")
    new = queue_id(text)
    tap.eq(code, 250, "and a new message arrives")
    rest = read_all(s)
    s.close()
    lines = (first.decode() + rest).splitlines()
    tap.eq(lines[-1] if lines else None, "OK", "the listing ends with OK")
    got = [l[2:].split(" ", 1)[0] for l in lines[1:-1]]
    tap.eq(got, ids + [new], "each message once, in order, the new one "
           "last")
    held = [l for l in lines if l.startswith("- " + ids[-1])]
    tap.like(held[0] if held else "", r" 4 held ",
             "the message held meanwhile is listed as held")

    # At most 8 listings open in queued; a ninth is refused.
    socks = [ask(r) for _ in range(8)]
    tap.ok(wait_for(lambda: listings_open(r) == 8, 10),
           "8 relayctl that read nothing: 8 listings open")
    s = ask(r)
    ans = read_all(s)
    s.close()
    tap.like(ans, r"^ERR too many listings in progress \(8\); try again "
             r"later\n$", "a ninth is refused with ERR")
    tap.ok(r.wait_log(r"queued: control: show queue \(request \d+\) "
                      r"refused: 8 listings in progress"), "and logged")
    for s in socks:
        s.close()
    tap.ok(wait_for(lambda: listings_open(r) == 0, 10),
           "the 8 went away: their listings are cancelled")
    tap.eq(len(re.findall(r"queued: control: show queue \(request \d+\) "
                          r"cancelled after \d+ lines: relayctl has gone",
                          r.log())), 8, "each one logged (debug)")
    rc, out, err = r.ctl("show", "queue")
    tap.eq((rc, len(out.splitlines())), (0, N + 2), "show queue works")

    # timeouts.control: a listing nobody reads is abandoned.
    r.timeouts = "control: 3s\n"
    r.write_main()
    rc, out, err = r.ctl("reload")
    tap.eq(rc, 0, "reload with timeouts.control: 3s")
    s = ask(r)
    tap.ok(r.wait_log(r"queued: control: show queue \(request \d+\) "
                      r"abandoned after \d+ lines: not asked to continue "
                      r"for 3s", 20),
           "a listing nobody reads is abandoned by queued")
    ans = read_all(s)
    s.close()
    tap.like(ans, r"^- ID TENANT .*\n(- [0-9a-f]{16} .*\n)+ERR listing "
             r"abandoned: not read for 3s\n$",
             "relayctl gets the lines so far and ERR")
    tap.eq(listings_open(r), 0, "no listing is left open")

    # An answer left unread after its end: dropped with the connection.
    s = ask(r)
    tap.ok(r.wait_log(r"relayd: control: uid \d+ left its answer unread "
                      r"for 3s; connection closed", 30),
           "an answer left unread: the parent closes the connection")
    ans = read_all(s)
    s.close()
    if not tap.ok(ans.startswith("- ID TENANT") and
                  not re.search(r"(?m)^(OK|ERR)", ans),
                  "relayctl gets what the socket held, no end"):
        tap.diag("%d bytes: %r ... %r" % (len(ans), ans[:100], ans[-200:]))
    r.stop()

    # A child that sends it all unasked: the parent cuts the answer.
    tap.ok(r.start(debug=True, env={"RELAYD_FAIL": "listing-pause"}),
           "relayd (debug build) with RELAYD_FAIL=listing-pause")
    s = ask(r)
    tap.ok(r.wait_log(r"relayd: control: queued sent more than was asked "
                      r"for request \d+; answer cut", 20),
           "queued sends unasked: the parent cuts the answer")
    ans = read_all(s)
    s.close()
    tap.like(ans, r"\nERR answer cut: it came faster than it was asked "
             r"for\n$", "relayctl gets ERR")
    tap.ok(len(ans) < 2 * 1024 * 1024, "after %d KB, not the whole 9 MB" %
           (len(ans) // 1024))
    tap.ok(r.proc.poll() is None, "relayd still running")
finally:
    r.stop()
    subprocess.run(["umount", "-l", r.state], capture_output=True)
    r.cleanup()
tap.done()
