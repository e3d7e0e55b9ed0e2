#!/usr/bin/env python3
"""The private keys live in keyd, never in smtpd.

After handshakes with every certificate, smtpd's memory (read through
/proc) holds no private key, in the byte order of the files or of
OpenSSL's numbers; keyd's holds them, which shows the search works.
keyd stopped (SIGSTOP): a handshake waits for it no longer than its
time-out and fails alone, with a log line; once keyd runs again its late
answer is dropped and handshakes work.  keyd killed: relayd stops, and
says which child died, as for any child."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import SMTPClient, Tap, need_root  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import PKI, peer, starttls, tls_relayd  # noqa: E402

tap = Tap()
need_root(tap)


def secret(keyfile, field):
    """A private number of a key, as bytes (big-endian)."""
    out = subprocess.run(["openssl", "pkey", "-in", keyfile, "-noout",
                          "-text"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"^%s:\s*\n((?:\s+[0-9a-f:]+\n)+)" % field, out, re.M)
    data = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1)))
    return data.lstrip(b"\0")


def memory(pid):
    """Every readable mapping of a process, as one bytes object (those
    of a gigabyte or more are the sanitizers' reserves: left out)."""
    chunks = []
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            f = line.split()
            if not f[1].startswith("r") or (len(f) > 5 and
                                             f[5].startswith("[v")):
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if hi - lo >= 1 << 30:
                continue
            try:
                mem.seek(lo)
                chunks.append(mem.read(hi - lo))
            except (OSError, ValueError, OverflowError):
                pass
    return b"".join(chunks)


def found(blob, secret):
    return secret in blob or secret[::-1] in blob


def handshake(port, sni):
    c = SMTPClient(port, timeout=20)
    try:
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("STARTTLS")
        starttls(c, sni=sni)
        return c.cmd("NOOP")[0]
    except OSError as e:
        return str(e)
    finally:
        c.close()


pki = PKI()
sink = Sink("127.0.0.1", 0)
sink.port = sink.sock.getsockname()[1]
r = tls_relayd(tap, pki, sink)
try:
    if not tap.ok(r.start(), "relayd starts with certificates"):
        tap.done()
    for sni in (None, "post.acme.test", "smtp.beta.test"):
        tap.eq(handshake(r.port, sni), 250, "a handshake (SNI %s)" % sni)
    kids = r.children()
    sanitized = os.environ.get("SANITIZE") == "1"
    secrets = {"the relay's RSA prime": secret(pki.relay[1], "prime1"),
               "the relay's RSA exponent": secret(pki.relay[1],
                                                  "privateExponent"),
               "acme's ECDSA key": secret(pki.acme[1], "priv"),
               "beta's ECDSA key": secret(pki.beta[1], "priv")}
    if sanitized:
        # The sanitizers' allocator keeps the heap where this cannot read.
        tap.diag("SANITIZE=1: the memory of smtpd and keyd is not read")
    else:
        smtpd, keyd = memory(kids["smtpd"]), memory(kids["keyd"])
        tap.ok(len(smtpd) > 100000 and len(keyd) > 100000,
               "both processes' memory read (%d and %d octets)" %
               (len(smtpd), len(keyd)))
        for what, s in secrets.items():
            tap.ok(not found(smtpd, s), "not in smtpd: %s" % what)
            tap.ok(found(keyd, s), "in keyd: %s" % what)
        del smtpd, keyd

    # keyd stopped: the handshake gives up, alone.
    os.kill(kids["keyd"], signal.SIGSTOP)
    plain = SMTPClient(r.port)
    plain.reply()
    t0 = time.time()
    got = handshake(r.port, "post.acme.test")
    tap.ok(got != 250, "keyd stopped: the handshake fails (%s)" % got)
    tap.ok(r.wait_log(r"keyd did not answer key request \d+ within 3000 "
                      r"ms; that TLS handshake fails"),
           "smtpd says keyd did not answer")
    tap.ok(r.wait_log(r"TLS handshake from \[127\.0\.0\.1\]:\d+ failed"),
           "and that this handshake failed")
    tap.ok(time.time() - t0 < 30, "it did not wait for ever")
    tap.eq(plain.cmd("EHLO plain.example")[0], 250,
           "a plain session goes on")
    os.kill(kids["keyd"], signal.SIGCONT)
    tap.eq(handshake(r.port, "post.acme.test"), 250,
           "keyd running again: handshakes work")
    tap.eq(plain.cmd("NOOP")[0], 250, "and the plain session is still up")
    plain.close()
    rc, out, err = r.ctl("show", "status")
    tap.like(out, r"smtpd .* key requests \(\d+ us each, 0 refused, 1 "
             r"timed out\)", "status counts the request that timed out")

    # keyd killed: relayd goes down, as for any child.
    os.kill(kids["keyd"], signal.SIGKILL)
    rc = r.wait_exit(20)
    tap.ok(rc not in (None, 0), "keyd killed: relayd stops, status %s" % rc)
    tap.ok(re.search(r"keyd \(pid %d\) was killed by signal 9 \(Killed\); "
                     r"stopping relayd" % kids["keyd"], r.log()),
           "and says keyd died")
    tap.eq(peer(r.port), None, "nothing answers any more")
finally:
    r.cleanup()
    sink.close()
    pki.close()
tap.done()
