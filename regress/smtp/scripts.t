#!/usr/bin/env python3
"""Scripted SMTP sessions against one relayd, in the OpenBSD regress manner.

Each regress/smtp/scripts/NAME.smtp is a dialogue:

    = from 127.0.0.2      connect from this address (first line only)
    > LINE                send LINE and CRLF
    >> TEXT               send TEXT with \\r \\n \\x00 escapes, no CRLF added
    < 250 2.1.5           the next reply must start with this
    < close               the server must have closed the connection
    # comment

The relayd here has two tenants (see TENANTS below); clients connect from
127.0.0.1 (outside every tenant) unless the script says otherwise.
"""
import codecs
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Relayd, SMTPClient, Tap  # noqa: E402

TENANTS = {
    "acme.yaml": """\
tenant: acme
postmaster: postmaster@acme.example
domains:
  - acme.example
  - name: acme.org
    subdomains: true
inbound:
  deliver_to: [127.0.0.1:9]
recipients:
  verify: list
  list: [alice@acme.example, Bob@acme.example, carol@acme.org,
         "weird%route@acme.example", "\\"quoted@local\\"@acme.example"]
  delimiter: "+"
outbound:
  networks: [127.0.0.2/32]
""",
    "beta.yaml": """\
tenant: beta
postmaster: postmaster@beta.example
domains: [beta.example, münchen.example]
inbound:
  deliver_to: [127.0.0.1:9]
outbound:
  networks: [127.0.0.3/32, "::1/128"]
  allow_bare_newlines: true
""",
}


def run_script(port, path):
    """Run one script; return (ok, transcript)."""
    log = []
    client = None
    source = None
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f]
    for n, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        if line.startswith("= from "):
            source = line[7:].strip()
            continue
        if client is None:
            client = SMTPClient(port, source=source)
            log.append("(connected%s)" % (" from " + source if source
                                          else ""))
        if line.startswith(">> "):
            data = codecs.decode(line[3:], "unicode_escape").encode(
                "latin-1")
            client.send(data)
            log.append("C: %r" % data)
        elif line.startswith("> "):
            client.send(line[2:].encode("utf-8") + b"\r\n")
            log.append("C: " + line[2:])
        elif line.startswith("< close"):
            closed = client.closed()
            log.append("(closed)" if closed else "(still open)")
            if not closed:
                return False, log + ["line %d: expected close" % n]
        elif line.startswith("< "):
            want = line[2:]
            code, text = client.reply()
            last = text.splitlines()[-1] if text else ""
            log.append("S: " + (text.replace("\n", "\nS: ") if text
                                else "(nothing)"))
            if not last.startswith(want):
                return False, log + ["line %d: expected %r" % (n, want)]
        else:
            return False, log + ["line %d: bad script line" % n]
    if client:
        client.close()
    return True, log


def main():
    tap = Tap()
    here = os.path.dirname(os.path.abspath(__file__))
    scripts = sorted(glob.glob(os.path.join(here, "scripts", "*.smtp")))
    r = Relayd(tap, tenants=TENANTS, limits="max_message_size: 1M\n"
               "max_recipients: 100\n", allow_private_mx=False)
    try:
        if not tap.ok(r.start(), "relayd starts"):
            tap.done()
        for path in scripts:
            try:
                ok, log = run_script(r.port, path)
            except OSError as e:
                ok, log = False, ["exception: %r" % e]
            if not tap.ok(ok, os.path.basename(path)):
                for l in log:
                    tap.diag(l)
        alive = r.proc.poll() is None
        tap.ok(alive, "relayd survived every script")
    finally:
        r.cleanup()
    tap.done()


main()
