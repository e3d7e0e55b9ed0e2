#!/usr/bin/env python3
"""The order of system calls behind a 250 (strace -f -ttt -T -y).  For
every queue id: the spool file's fsync, the spool directory's fsync and
the LMDB commit (an fdatasync of data.mdb, then the meta page written to
data.mdb through LMDB's O_DSYNC descriptor) all complete before smtpd
starts writing the 250 that carries the id."""
import os
import re
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402
from relaytest import Tap, need_root, send_message  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)
if shutil.which("strace") is None:
    tap.skip_all("needs strace")

N = 30
w = World(tap, limits="max_connections_per_client: 100\n")
trace = os.path.join(w.r.dir, "strace.out")


def start_traced(wait=True, args=(), debug=False, env=None):
    r = w.r
    r.log_mark = len(r.log())
    r.logf = open(r.logpath, "ab")
    r.proc = subprocess.Popen(
        ["strace", "-f", "-qq", "-ttt", "-T", "-y", "-s", "120", "-o", trace,
         "-e", "trace=fsync,fdatasync,pwrite64,pwritev,write,writev",
         relaytest.RELAYD, "-d", "-f", r.conf],
        stdout=r.logf, stderr=subprocess.STDOUT, start_new_session=True)
    return r.wait_log(r"configuration 1 is in force", 30)


LINE = re.compile(r"^(\d+)\s+(\d+\.\d+) (?:(\w+)\((.*)|<\.\.\. (\w+) resumed>"
                  r"(.*))$")


def events(path):
    """(syscall, first argument, start, end) for every complete call."""
    pending, out = {}, []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            pid, ts = m.group(1), float(m.group(2))
            if m.group(3):
                call, rest = m.group(3), m.group(4)
                if rest.endswith("<unfinished ...>"):
                    pending[(pid, call)] = (rest, ts)
                    continue
                start = ts
            else:
                call = m.group(5)
                head, start = pending.pop((pid, call), ("", ts))
                rest = head + m.group(6)
            dur = re.search(r"<(\d+\.\d+)>$", rest)
            ok = re.search(r"\) = (\d+)", rest)
            if not ok:
                continue
            end = start + float(dur.group(1)) if dur else start
            out.append((call, rest, start, end))
    return out


try:
    w.sink(w.tenant_addr, hang=True)   # keep the spool files around
    w.r.start = start_traced
    tap.ok(w.start(), "relayd starts under strace")
    ids = []
    lock = threading.Lock()

    def client(k):
        for i in range(k, N, 3):
            code, text = send_message(w.r.port, "a@sender.test",
                                      ["bob@acme.example"],
                                      b"Subject: %d\r\n\r\nx\r\n" % i)
            if code == 250:
                with lock:
                    ids.append(relaytest.queue_id(text))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tap.eq(len(ids), N, "%d messages acknowledged" % N)
    w.r.stop()
    ev = events(trace)
    spool = os.path.join(w.r.state, "spool")
    data = os.path.join(w.r.state, "db", "data.mdb")
    dir_syncs = [e for e in ev if e[0] == "fsync" and
                 e[1].startswith(tuple("0123456789")) and
                 "<%s>" % spool in e[1]]
    datasyncs = [e for e in ev if e[0] == "fdatasync" and data in e[1]]
    metas = [e for e in ev if e[0] in ("pwrite64", "pwritev") and
             data in e[1]]
    tap.ok(dir_syncs and datasyncs and metas, "the trace shows directory "
           "fsyncs (%d), fdatasyncs of data.mdb (%d) and writes to it (%d)"
           % (len(dir_syncs), len(datasyncs), len(metas)))
    bad = []
    for qid in ids:
        body = [e for e in ev if e[0] == "fsync" and
                "%s/%s>" % (spool, qid) in e[1]]
        reply = [e for e in ev if e[0] in ("write", "writev") and
                 "queued as %s" % qid in e[1]]
        if not body or not reply:
            bad.append((qid, "no fsync" if not body else "no 250 seen"))
            continue
        t1, t3 = body[0][3], reply[0][2]
        dsync = [e for e in dir_syncs if t1 <= e[3] <= t3]
        # A commit after the body sync: fdatasync, then the meta page.
        commit = [(f, m) for f in datasyncs if t1 <= f[2] and f[3] <= t3
                  for m in metas if f[3] <= m[2] and m[3] <= t3]
        if not (t1 <= t3 and dsync and commit):
            bad.append((qid, "t1=%.6f t3=%.6f dirsync=%d commit=%d" %
                        (t1, t3, len(dsync), len(commit))))
    tap.eq(bad, [], "for each of the %d ids: body fsync, directory fsync, "
           "fdatasync of data.mdb and its meta page all before the 250" %
           len(ids))
finally:
    w.stop()
tap.done()
