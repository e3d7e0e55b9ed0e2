#!/usr/bin/env python3
"""relayctl monitor: each record as queued writes it, until relayctl
goes; --json as objects.  A monitor that does not read never holds up
queued: the mail goes on being delivered, the records it could not take
are counted, and once it reads again it is told how many it lost, then
follows the events again."""
import json
import os
import queue
import re
import select
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (RELAYCTL, Tap, need_root, queue_id,  # noqa: E402
                       send_message, wait_for)
from world import World  # noqa: E402

tap = Tap()
need_root(tap)


class Monitor:
    """relayctl monitor, its lines read by a thread."""

    def __init__(self, sock, *args):
        self.p = subprocess.Popen([RELAYCTL, "-s", sock, "monitor"] +
                                  list(args), stdout=subprocess.PIPE,
                                  text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, pred, timeout=20):
        """Lines up to the first that pred accepts; (it, all seen)."""
        seen = []
        end = time.time() + timeout
        while time.time() < end:
            try:
                line = self.lines.get(timeout=max(0.1, end - time.time()))
            except queue.Empty:
                break
            seen.append(line)
            if pred(line):
                return line, seen
        return None, seen

    def stop(self):
        self.p.terminate()
        self.p.wait(10)


def listings(w):
    rc, out, err = w.r.ctl("show", "status")
    m = re.search(r"(?m)^queued .*?(\d+) listings? open", out)
    return int(m.group(1)) if m else 0


w = World(tap, log_addresses=False)
mons = []
try:
    tenant = w.sink(w.tenant_addr)
    tap.ok(w.start(), "relayd starts")
    mon = Monitor(w.r.sock)
    mons.append(mon)
    tap.ok(wait_for(lambda: listings(w) == 1, 10),
           "relayctl monitor is open at queued")
    jmon = Monitor(w.r.sock, "--json")
    mons.append(jmon)
    tap.ok(wait_for(lambda: listings(w) == 2, 10), "and one with --json")

    code, text = w.send("mon.sender@sender.test", ["mon.rcpt@acme.example"])
    qid = queue_id(text)
    line, seen = mon.until(lambda l: l.startswith(qid + " ") and
                           " done " in l)
    tap.ok(line, "monitor follows the message to its end")
    tap.eq([l.split()[2] for l in seen if l.startswith(qid + " ")],
           ["accepted", "sent", "done"], "each record as it was written")
    line, seen = jmon.until(lambda l: '"done"' in l)
    objs = [json.loads(l) for l in seen]
    tap.eq([o["event"] for o in objs if o["id"] == qid],
           ["accepted", "sent", "done"], "--json: the same, as objects")
    mon.stop()
    jmon.stop()
    tap.ok(wait_for(lambda: listings(w) == 0, 10),
           "a monitor that goes is forgotten")

    # One that never reads: a raw client with a small receive buffer.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(w.r.sock)
    s.sendall(b"monitor\n")
    tap.ok(wait_for(lambda: listings(w) == 1, 10), "a monitor that will "
           "not read")
    rcpts = ["%s.%03d@acme.example" % ("x" * 50, i) for i in range(100)]
    sent = 0
    for i in range(20):
        code, text = send_message(w.r.port, "stalled.sender@sender.test",
                                  rcpts, b"Subject: many\r\n\r\nbody\r\n")
        sent += code == 250
    tap.eq(sent, 20, "twenty messages of 100 recipients are accepted")
    tap.ok(tenant.wait(1 + 20, 60),
           "and delivered: queued never waits for the monitor")
    rc, out, err = w.r.ctl("show", "status")
    tap.like(out, r"(?m)^queued .* 1 listing open",
             "queued answers, the monitor still there")

    # Now it reads: what it lost is told, then the events again.
    s.setblocking(False)
    got = {"buf": b""}

    def read_until(rx, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(rx, got["buf"])
            if m:
                return m
            r, _, _ = select.select([s], [], [], 0.5)
            if not r:
                continue
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            got["buf"] += chunk
        return re.search(rx, got["buf"])

    m = read_until(rb"(?m)^- monitor: (\d+) records lost: relayctl was not "
                   rb"reading$")
    tap.ok(m and int(m.group(1)) > 0, "it is told how many records it lost"
           " (%s)" % (m.group(1).decode() if m else None))
    code, text = w.send("after@sender.test", ["after.rcpt@acme.example"])
    last = queue_id(text)
    tap.ok(last and read_until(rb"(?m)^- %s \S+ done " % last.encode()),
           "and follows the events again")
    s.close()
    tap.ok(wait_for(lambda: listings(w) == 0, 10), "then it goes")
finally:
    for m in mons:
        if m.p.poll() is None:
            m.p.kill()
    w.stop()
tap.done()
