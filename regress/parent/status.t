#!/usr/bin/env python3
"""relayctl show status, relayctl's errors, and the control socket's
protocol spoken directly (common/control_req.h)."""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402


def raw(path, data, timeout=5):
    """Send data on a fresh connection; return (answer, closed)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    buf = b""
    closed = False
    try:
        s.connect(path)
        s.sendall(data)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            buf += chunk
    except (socket.timeout, OSError):
        pass
    finally:
        s.close()
    return buf.decode("utf-8", "replace"), closed


def main():
    t = relaytest.Tap()
    r = relaytest.Relayd(t)
    try:
        if not t.ok(r.start(), "relayd starts"):
            t.done()
        kids = relaytest.wait_for(
            lambda: (lambda k: k if len(k) == len(relaytest.CHILDREN) else None)(
                r.children()), 5)
        kids = kids or r.children()

        rc, out, err = r.ctl("show", "status")
        t.eq(rc, 0, "show status exits 0")
        t.eq(err, "", "show status: nothing on stderr")
        rows = {}
        for line in out.splitlines()[1:]:
            w = line.split()
            if len(w) >= 4:
                rows[w[0]] = (w[1], " ".join(w[3:]))
        t.like(out.splitlines()[0] if out else "", r"^PROCESS\s+PID",
               "show status: header line")
        t.eq(sorted(rows), sorted(["relayd"] + relaytest.CHILDREN),
             "show status lists relayd and its children")
        t.eq(rows.get("relayd", ("", ""))[0], str(r.proc.pid),
             "relayd's pid is right")
        t.like(rows.get("relayd", ("", ""))[1],
               r"^running, configuration 1$", "relayd: running, "
               "configuration 1")
        for name in relaytest.CHILDREN:
            pid, state = rows.get(name, ("", ""))
            t.eq(pid, str(kids.get(name)), "%s: pid matches /proc" % name)
            t.ok(os.path.exists("/proc/%s" % pid) and pid != "",
                 "%s: pid %s exists" % (name, pid))
            t.eq(state.split(",")[0], "running", "%s: running" % name)

        rc, out, err = r.ctl("show", "status", sock="/nonexistent/sock")
        t.eq(rc, 1, "no socket: exits 1")
        t.eq(out, "", "no socket: nothing on stdout")
        t.like(err, r"/nonexistent/sock", "no socket: names the socket")
        t.like(err, r"(is relayd running\?|relayd is not running)",
               "no socket: says relayd is not running")

        rc, out, err = r.ctl("frobnicate")
        t.ok(rc not in (0, None), "unknown command exits non-zero (%r)" % rc)
        t.like(err, r"relayctl: unknown request", "unknown command: says so")
        t.like(err, r"(?m)^usage: relayctl", "unknown command: usage")
        rc, out, err = r.ctl("show", "status", "now")
        t.ok(rc != 0, "an unexpected argument exits non-zero")
        t.like(err, r"unexpected argument", "unexpected argument: says so")

        # The protocol, raw.
        ans, closed = raw(r.sock, b"show status\n")
        t.like(ans, r"(?s)^- PROCESS.*\n- relayd +%d .*\nOK\n$" %
               r.proc.pid, "raw: show status, data lines then OK")
        t.ok(closed, "raw: closed after the answer")
        cases = [
            (b"frobnicate\n", r"^ERR unknown request\n$", "unknown word"),
            (b"\xff\xfe\x01garbage\r\n", r"^ERR bad character",
             "binary garbage"),
            (b"SHOW STATUS\n", r"^ERR unknown request", "upper case"),
            (b"show status\x00\n", r"^ERR bad character", "a NUL"),
            (b"show  status\n", r"^ERR words must be separated",
             "two spaces"),
            (b"\n", r"^ERR empty request\n$", "empty line"),
            # CTL_LINE_MAX is 2048 (control_req.h).
            (b"a" * 2099 + b"\n", r"^ERR request too long\n$",
             "2100 bytes with a newline"),
            (b"a" * 2100, r"^ERR request too long\n$",
             "2100 bytes without a newline"),
            (b"show status " + b"x" * 2088, r"^ERR request too long\n$",
             "2100 bytes starting with a command"),
        ]
        for data, want, what in cases:
            ans, closed = raw(r.sock, data)
            t.like(ans, want, "raw: %s gets ERR" % what)
            t.ok(closed, "raw: %s: connection closed" % what)
        # Sent in two pieces: the length counts across reads.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(r.sock)
        s.sendall(b"b" * 1400)
        time.sleep(0.1)
        s.sendall(b"b" * 700)
        buf = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except (socket.timeout, OSError):
            pass
        s.close()
        t.eq(buf, b"ERR request too long\n",
             "raw: 2100 bytes in two writes gets ERR and a close")

        rc, out, err = r.ctl("show", "status")
        t.eq(rc, 0, "still answering after the bad requests")
        t.ok(r.proc.poll() is None, "relayd still running")
        t.ok(not re.search(r"(?m)^\S+ \S+: .*(fatal|malformed)", r.log()),
             "nothing fatal in the log")
    finally:
        r.cleanup()
    t.done()


main()
