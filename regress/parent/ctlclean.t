#!/usr/bin/env python3
"""relayctl removes control characters from what it prints on its own,
whatever the socket sends: here no relayd (whose parent strips them
first) but a fake control socket that answers with raw ESC, CSI, DEL,
NUL, C0 controls and the C1 controls 0x80-0x9f, both as bare octets and
UTF-8 encoded, in data lines, in an ERR line and in an answer relayctl
does not expect.  Nothing of them reaches relayctl's stdout or stderr;
printable text, UTF-8 included, does."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import RELAYCTL, Tap  # noqa: E402

C1_RAW = bytes(range(0x80, 0xa0))
C1_UTF8 = "".join(chr(c) for c in range(0x80, 0xa0)).encode()
C0 = bytes(c for c in range(0x01, 0x20) if c != 0x0a)
HOSTILE = [
    b"esc \x1b]0;owned\x07 title",
    b"csi \x1b[31mred\x1b[0m \x1b[2J clear",
    b"c1 raw " + C1_RAW + b" end",
    b"c1 utf8 " + C1_UTF8 + b" end",
    b"c1 csi \x9b31m and \xc2\x9b31m",
    b"c0 " + C0 + b" del \x7f end",
    b"nul before\x00\x1b[2J after",
    b"caf\xc3\xa9 \xe2\x9c\x93 kept",
]


class FakeControl:
    """A control socket that answers every request with answer."""

    def __init__(self, path, answer):
        self.path, self.answer = path, answer
        self.requests = []
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.bind(path)
        self.s.listen(4)
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            with c:
                req = b""
                while not req.endswith(b"\n"):
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    req += chunk
                self.requests.append(req)
                c.sendall(self.answer)

    def close(self):
        self.s.close()


def bad(out):
    """The control octets and C1 characters left in out (bytes)."""
    found = set(re.findall(rb"[\x00-\x09\x0b-\x1f\x7f]", out))
    found |= set(re.findall(rb"\xc2[\x80-\x9f]", out))
    # A bare octet 0x80-0x9f not inside a UTF-8 sequence.
    text = out.decode("utf-8", "surrogateescape")
    found |= set(ch.encode("utf-8", "surrogateescape") for ch in text
                 if 0xdc80 <= ord(ch) <= 0xdc9f or 0x80 <= ord(ch) <= 0x9f)
    return sorted(found)


def relayctl(sock, *args):
    p = subprocess.run([RELAYCTL, "-s", sock] + list(args),
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def main():
    t = Tap()
    d = tempfile.mkdtemp(prefix="relayd-ctlclean.")
    try:
        run(t, d)
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)
    t.done()


def run(t, d):
    lines = b"".join(b"- " + h + b"\n" for h in HOSTILE)
    cases = [
        ("data lines, then OK", lines + b"OK\n", 0),
        ("data lines, then ERR with controls",
         lines + b"ERR no \x1b[31mway\x9b\xc2\x9b\n", 1),
        ("an answer relayctl does not expect",
         b"\x1b[2J\x9bwhat?\n", 1),
    ]
    for i, (what, answer, want_rc) in enumerate(cases):
        path = os.path.join(d, "control%d.sock" % i)
        fake = FakeControl(path, answer)
        try:
            rc, out, err = relayctl(path, "show", "status")
        finally:
            fake.close()
        t.eq(fake.requests, [b"show status\n"],
             "%s: relayctl asked the fake socket" % what)
        t.eq(rc, want_rc, "%s: exit status %d" % (what, want_rc))
        t.eq(bad(out), [], "%s: no control character on stdout" % what) or \
            t.diag(out)
        t.eq(bad(err), [], "%s: none on stderr" % what) or t.diag(err)
        if i == 1:
            t.ok(b"relayctl: no ?[31mway??" in err,
                 "the ERR text is shown, cleaned") or t.diag(err)
        if i < 2:
            got = out.split(b"\n")
            t.eq(len(got), len(HOSTILE) + 1,
                 "%s: one line printed per line sent" % what)
            t.ok(b"esc " in out and b" title" in out and b"red" in out and
                 b"clear" in out, "%s: the printable text is kept" % what)
            t.ok("café ✓ kept".encode() in out,
                 "%s: UTF-8 text is kept" % what)


main()
