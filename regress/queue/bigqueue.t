#!/usr/bin/env python3
"""A queue of 200,000 messages: relayctl show queue gives all of it, and
neither queued nor the parent grows with it, since the listing comes in
parts as relayctl reads (common/ctl_stream.h).  A relayctl that reads
nothing, or reads slowly, makes the parent hold no more than a part or
two; one that goes away mid-answer cancels the listing in queued.

The queue is written by regress/tools/mkqueue while relayd is stopped:
over SMTP it would take minutes.  Its lines are about 450 octets, as with
a tenant's server that gives long temporary errors; the old code sent
them all at once and queued died when its channel passed 64 MB.  The
state directory is a tmpfs in a private mount namespace, with empty spool
files: 200,000 files on a busy disk take a minute to make, on a tmpfs a
second or two, and empty ones cost no memory."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from relaytest import (DEFAULT_TENANT, RELAYCTL, TOP, Relayd,  # noqa: E402
                       Tap, need_root, private_mounts, wait_for)

N = 200000
# The tree under test writes its own envelope format (RELAYD_MKQUEUE: a
# tool built for another tree, such as an older one).
MKQUEUE = os.environ.get("RELAYD_MKQUEUE") or os.path.join(
    TOP, "regress", "tools", "mkqueue")
MB = 1024 * 1024
HEADER = "ID TENANT FROM RECIPIENTS AGE ATTEMPTS NEXT LAST-ERROR"


def rss(pid):
    """Resident memory of pid in bytes (VmRSS), 0 once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
            return int(m.group(1)) * 1024 if m else 0
    except OSError:
        return 0


class Peak:
    """The highest RSS seen of some processes, sampled as we go."""

    def __init__(self, pids):
        self.pids = pids
        self.base = {p: rss(p) for p in pids}
        self.top = dict(self.base)

    def sample(self):
        for p in self.pids:
            self.top[p] = max(self.top[p], rss(p))

    def growth(self, pid):
        return self.top[pid] - self.base[pid]


def queued_status(r):
    rc, out, err = r.ctl("show", "status")
    m = re.search(r"(?m)^queued\s+\d+\s+\S+\s+(.*)$", out)
    return m.group(1) if m else ""


def listings_open(r):
    m = re.search(r"(\d+) listings? open", queued_status(r))
    return int(m.group(1)) if m else 0


tap = Tap()
need_root(tap)
private_mounts(tap)
if not os.access(MKQUEUE, os.X_OK):
    tap.ok(False, "regress/tools/mkqueue is built (make tools)")
    tap.done()
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")
r = Relayd(tap, tenants={"acme.yaml": TENANT})
os.makedirs(r.state)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2G,mode=0755", "tmpfs",
                r.state], check=True)
try:
    # A first start makes the state directory as relayd wants it.
    if not tap.ok(r.start(), "relayd starts on an empty queue"):
        tap.done()
    r.stop()
    p = subprocess.run([MKQUEUE, "-n", str(N), "-s", "0", r.state],
                       capture_output=True, text=True)
    if not tap.eq(p.returncode, 0, "mkqueue writes %d messages" % N):
        tap.diag(p.stderr)
        tap.done()
    # AddressSanitizer keeps freed memory in quarantine (256 MB unless
    # told): keep it small, so that RSS still shows what is held.
    env = {}
    if os.environ.get("SANITIZE") == "1":
        env["ASAN_OPTIONS"] = "detect_leaks=0:quarantine_size_mb=4"
    tap.ok(r.start(env=env), "relayd starts again")
    tap.ok(r.wait_log(r"queue: %d messages" % N, 60),
           "queued has loaded the %d messages" % N)
    kids = wait_for(lambda: (lambda k: k if "queued" in k else None)(
        r.children()), 10) or {}
    qpid, ppid = kids.get("queued", 0), r.proc.pid

    # The whole listing, read as fast as relayctl can.
    peak = Peak([ppid, qpid])
    with tempfile.TemporaryFile("w+") as out:
        ctl = subprocess.Popen([RELAYCTL, "-s", r.sock, "show", "queue"],
                               stdout=out, stderr=subprocess.PIPE, text=True)
        while ctl.poll() is None:
            peak.sample()
            time.sleep(0.02)
        err = ctl.stderr.read()
        out.seek(0)
        lines = out.read().splitlines()
    tap.eq((ctl.returncode, err), (0, ""), "show queue exits 0, nothing on "
           "stderr")
    tap.eq(lines[0] if lines else None, HEADER, "the header comes first")
    tap.eq(len(lines), N + 1, "then a line per message")
    ids = [l.split(" ", 1)[0] for l in lines[1:]]
    tap.ok(len(set(ids)) == N and ids == sorted(ids),
           "each message once, in id order")
    tap.like(lines[-1] if lines else "", r"^[0-9a-f]{16} acme <newsletter-"
             r"\d+@sender\.example> user\d+-0@acme\.example,.* \d+m 4 in \S+ "
             r"451 4\.3\.0 ", "a line: id, tenant, sender, recipients, age, "
             "attempts, next attempt, last error")
    tap.ok(r.proc.poll() is None and r.children().get("queued") == qpid,
           "relayd and queued are still running")
    tap.ok(peak.growth(ppid) < 32 * MB, "the parent grew by %.1f MB (less "
           "than 32)" % (peak.growth(ppid) / MB))
    tap.ok(peak.growth(qpid) < 32 * MB, "queued grew by %.1f MB (less "
           "than 32)" % (peak.growth(qpid) / MB))
    tap.ok(not re.search(r"dropped \d+ log lines|not reading", r.log()),
           "no log line was dropped, no channel was full")
    if r.proc.poll() is not None:
        tap.diag("relayd has stopped:")
        tap.diag("\n".join(l for l in r.log().splitlines()[-200:]
                           if re.search(r"exit|signal|killed|fatal|cannot",
                                        l)))
        tap.done()

    # Asks and never reads: the listing waits in queued, not in the parent.
    peak = Peak([ppid, qpid])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(r.sock)
    s.sendall(b"show queue\n")
    tap.ok(wait_for(lambda: listings_open(r) == 1, 10),
           "a relayctl that reads nothing: queued holds its listing open")
    # Time enough for the old code to have sent the parent everything.
    for _ in range(20):
        peak.sample()
        time.sleep(0.1)
    tap.ok(peak.growth(ppid) < 32 * MB, "the parent grew by %.1f MB "
           "(less than 32)" % (peak.growth(ppid) / MB))

    # Then reads, slowly, a fifth of it, and goes away.
    got, nl, n = [], 0, 0
    while nl < N // 5:
        chunk = s.recv(4096)
        if not chunk:
            break
        got.append(chunk)
        nl += chunk.count(b"\n")
        n += 1
        if n % 16 == 0:
            peak.sample()
            time.sleep(0.002)
    lines = b"".join(got).decode("utf-8", "replace").split("\n")
    tap.ok(lines[0] == "- " + HEADER and len(lines) > N // 5 and
           all(l.startswith("- ") for l in lines[1:N // 5]),
           "read slowly, the answer comes: %d lines" % (len(lines) - 1))
    tap.ok(peak.growth(ppid) < 32 * MB, "the parent grew by %.1f MB while "
           "it was read slowly (less than 32)" % (peak.growth(ppid) / MB))
    tap.ok(peak.growth(qpid) < 32 * MB, "queued grew by %.1f MB (less than "
           "32)" % (peak.growth(qpid) / MB))
    s.close()
    tap.ok(r.wait_log(r"queued: control: show queue \(request \d+\) "
                      r"cancelled after \d+ lines: relayctl has gone", 10),
           "relayctl went away mid-answer: queued cancels the listing")
    tap.ok(wait_for(lambda: listings_open(r) == 0, 10),
           "and holds no listing open")

    rc, out, err = r.ctl("show", "queue")
    tap.eq((rc, len(out.splitlines())), (0, N + 1),
           "a listing after all that is whole again")
    tap.ok(r.proc.poll() is None, "relayd still running")
finally:
    r.stop()
    subprocess.run(["umount", "-l", r.state], capture_output=True)
    r.cleanup()
tap.done()
