#!/usr/bin/env python3
"""ClamAV from Debian: clamd with a signature database made by the test
(a hash signature, .hdb, of a test file; freshclam never runs) and
clamav-milter in front of it, both in the test's directory.  A message
carrying the file as an attachment is refused with clamav-milter's
reply; a clean one is delivered, and the X-Virus-* fields clamav-milter
asks to add are there only for a tenant that allows header changes."""
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root  # noqa: E402
from scanners import ClamAV  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)

BAD = b"relayd test malware sample: not a virus, only its hash is known\n"
BETA = """\
tenant: beta
postmaster: postmaster@beta.example
domains: [beta.example]
inbound:
  deliver_to: [127.0.0.21:%d]
content:
  milters:
    - socket: unix:%s
      timeout: 60s
  allow_header_changes: true
"""


def mail(attachment):
    b64 = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    return (b"Subject: a file\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n"
            b"--b\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"f.bin\"\r\n\r\n"
            + b64 + b"--b--\r\n")


w = None
cl = None
try:
    w = World(tap)
    cl = ClamAV(w.r.dir, {"Relayd.Test.Sample": BAD})
    if cl.missing:
        tap.skip_all("%s is not installed (scripts/deps test)" % cl.missing)
    w.r.write_tenant("acme.yaml", open(os.path.join(
        w.r.tenants_dir, "acme.yaml")).read() + """\
content:
  milters:
    - socket: unix:%s
      timeout: 60s
""" % cl.socket)
    w.r.write_tenant("beta.yaml", BETA % (w.port, cl.socket))
    ok = cl.start()
    tap.ok(ok, "clamd and clamav-milter start with the test's signature")
    if not ok:
        tap.diag(cl.log()[-3000:])
    tap.ok(w.start(), "relayd starts")
    acme = w.sink("127.0.0.20")
    beta = w.sink("127.0.0.21")

    code, text = w.send("a@sender.test", ["alice@acme.example"], mail(BAD))
    tap.eq(code, 550, "the known file: 550 (%s)" % text)
    tap.like(text, r"Virus found: Relayd\.Test\.Sample", "with clamav-"
             "milter's reply, naming the signature")

    clean = mail(b"an ordinary file\n")
    code, text = w.send("a@sender.test", ["alice@acme.example"], clean)
    tap.eq(code, 250, "a clean file: 250")
    tap.ok(acme.wait(1), "delivered")
    tap.ok(acme.messages[0].data.endswith(clean), "as sent: no X-Virus "
           "fields without allow_header_changes")
    code, text = w.send("a@sender.test", ["bob@beta.example"], clean)
    tap.eq(code, 250, "for a tenant that allows header changes: 250")
    tap.ok(beta.wait(1), "delivered")
    data = beta.messages[0].data
    tap.ok(b"X-Virus-Scanned: " in data and b"X-Virus-Status: Clean" in
           data, "with the fields clamav-milter added")
    tap.ok(data.endswith(clean[clean.index(b"\r\n\r\n"):]),
           "and the body unchanged")
except Exception as e:
    import traceback
    tap.ok(False, "exception: %r" % e)
    tap.diag(traceback.format_exc())
finally:
    if cl is not None:
        cl.stop()
    if w is not None:
        w.stop()
tap.done()
