#!/usr/bin/env python3
"""What is stored is what was sent, byte for byte, after one Received:
field; what is refused leaves nothing behind; the queue survives a
restart, and files without envelopes do not."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, Relayd, SMTPClient, Tap,  # noqa: E402
                       queue_id, send_message, spool_file, spool_ids,
                       spool_spares,
                       split_received, wait_for)

tap = Tap()
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")
r = Relayd(tap, tenants={"acme.yaml": TENANT},
           limits="max_message_size: 60M\n")
try:
    tap.ok(r.start(), "relayd starts")

    # 8-bit octets, a 1500-octet line, lines starting with dots.
    body = (b"From: a@sender.example\r\nSubject: \xe9t\xe9\r\n\r\n"
            b".leading dot\r\n..two dots\r\n" + b"L" * 1500 + b"\r\n"
            b"\xff\xfe binary-ish 8-bit\r\n\r\n.\r\nend\r\n")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], body)
    tap.eq(code, 250, "8-bit message with a 1500-octet line accepted")
    qid = queue_id(text)
    data = spool_file(r, qid)
    hdr, rest = split_received(data)
    tap.eq(rest, body, "stored byte for byte after the Received: field")
    tap.like(hdr.decode(), r"^Received: from client\.example \(\[127\.0\.0"
             r"\.1\]\)\r\n\tby relay\.test\.example \(relayd\) with ESMTP "
             r"id " + qid + r"\r\n\tfor <bob@acme\.example>;\r\n\t\w{3}, "
             r"\d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n$",
             "Received: field: helo, address, host, protocol, id, for, date")

    # The HELO name is escaped: no 8-bit octets, no forged clauses.
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], b"Subject: h\r\n\r\nx\r\n",
                              ehlo="\u00e9vil(by\\x);for")
    tap.eq(code, 250, "a message after an EHLO with UTF-8, ( ) ; and \\")
    hdr, rest = split_received(spool_file(r, queue_id(text)))
    tap.ok(hdr.startswith(b"Received: from \\xc3\\xa9vil\\x28by\\x5cx\\x29"
                          b"\\x3bfor ([127.0.0.1])\r\n"),
           "the Received: field has it escaped as \\xHH")
    tap.ok(all(32 <= c < 127 or c in b"\r\n\t" for c in hdr),
           "and is plain printable ASCII")

    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], body, bdat=True)
    tap.eq(code, 250, "the same message by BDAT")
    hdr, rest = split_received(spool_file(r, queue_id(text)))
    tap.eq(rest, body, "BDAT content stored byte for byte")

    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example", "carol@acme.example"],
                              b"Subject: two\r\n\r\nx\r\n")
    hdr, rest = split_received(spool_file(r, queue_id(text)))
    tap.ok(b"\tfor <" not in hdr, "no 'for' clause with two recipients")

    big = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 52429
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], big)
    tap.eq(code, 250, "a 50 MB message is accepted")
    qid_big = queue_id(text)
    tap.eq(split_received(spool_file(r, qid_big))[1], big,
           "the 50 MB message is stored intact")

    before = spool_ids(r)
    over = b"Subject: too big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 63000
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], over)
    tap.eq(code, 552, "data over max_message_size gets 552 at the end")
    tap.like(text, r"552 5\.3\.4", "with 5.3.4")
    tap.eq(wait_for(lambda: spool_ids(r) == before and before, 5), before,
           "nothing is left in the spool")

    # A transaction takes an empty spare file at its first recipient;
    # one that ends before its data puts it back, however it ends, so
    # a client looping MAIL RCPT RSET makes no files at all.
    c = SMTPClient(r.port)
    c.reply()
    c.cmd("EHLO client.example")
    for end in ("RSET", "EHLO again.example",
                "MAIL FROM:<x@sender.example>"):
        c.cmd("MAIL FROM:<a@sender.example>")
        tap.eq(c.cmd("RCPT TO:<bob@acme.example>")[0], 250,
               "RCPT accepted before " + end.split()[0])
        c.cmd(end)
    c.cmd("RSET")
    tap.ok(wait_for(lambda: len(spool_spares(r)) == 16, 5),
           "smtpd holds 16 spare files")
    spares = spool_spares(r)
    for i in range(50):
        c.send("MAIL FROM:<a@sender.example>\r\n"
               "RCPT TO:<bob@acme.example>\r\nRSET\r\n")
    c.send("MAIL FROM:<a@sender.example>\r\nRCPT TO:<bob@acme.example>\r\n")
    for i in range(152):
        c.reply()
    c.close()
    tap.eq(wait_for(lambda: spool_ids(r) == before and before, 5), before,
           "no file of a transaction without data is left")
    tap.eq(spool_spares(r), spares, "the same spares, none made or lost")
    c = SMTPClient(r.port)
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@sender.example>")
    c.cmd("RCPT TO:<bob@acme.example>")
    c.cmd("RSET")
    c.cmd("MAIL FROM:<a@sender.example>")
    c.cmd("RCPT TO:<bob@acme.example>")
    tap.eq(c.cmd("DATA")[0], 354, "DATA after a transaction was reset")
    code, text = c.cmd("Subject: second\r\n\r\nsecond\r\n.")
    tap.eq(code, 250, "the message is queued")
    c.cmd("QUIT")
    c.close()
    tap.eq(len(spool_ids(r)), len(before) + 1, "one file more, no leftover")
    tap.eq(len(spool_spares(r)), 16, "the spares are topped up")

    rc, out, err = r.ctl("show", "queue")
    tap.eq(rc, 0, "show queue works")
    lines = out.splitlines()
    tap.eq(len(lines), 7, "six messages and a header line")
    # Nothing listens on the tenant's server: attempts are deferred.
    tap.like(out, qid + r" acme <a@sender\.example> bob@acme\.example "
             r"\d+s [01] (now|in \d+s) (-|.*Connection refused)",
             "a line per message: id tenant sender recipients age "
             "attempts next error")

    # swaks, a real client.
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                        str(r.port), "--from", "s@sender.example", "--to",
                        "bob@acme.example", "--helo", "swaks.example",
                        "--body", "hello from swaks"],
                       capture_output=True, text=True, timeout=60)
    tap.like(p.stdout, r"<-  250 2\.0\.0 Ok: queued as", "swaks gets 250")

    # Restart: the queue stays; orphans (never acknowledged) go.
    queued_before = sorted(l.split()[0] for l in
                           r.ctl("show", "queue")[1].splitlines()[1:])
    tap.eq(r.stop(), 0, "relayd stops cleanly")
    tap.eq(spool_spares(r), [], "spare files are removed at exit")
    # A spool file lost while relayd was stopped: the message had been
    # acknowledged, so its envelope is kept in quarantine (corrupt.t).
    lost = [i for i in queued_before if i != qid][0]
    os.unlink(os.path.join(r.state, "spool", lost))
    queued_before.remove(lost)
    orphan = os.path.join(r.state, "spool", "00000000deadbeef")
    stranger = os.path.join(r.state, "spool", "README")
    for path in (orphan, stranger):
        with open(path, "w") as f:
            f.write("x")
    r.proc = None
    tap.ok(r.start(), "relayd restarts on the same state")
    after = sorted(l.split()[0] for l in
                   r.ctl("show", "queue")[1].splitlines()[1:])
    tap.eq(after, queued_before, "every queued message is still queued")
    tap.ok(not os.path.exists(orphan), "a spool file without an envelope is "
           "removed at start")
    tap.ok(os.path.exists(stranger), "a file that is not ours is left alone")
    tap.ok(r.wait_log(r"removed 1 files without an envelope", 2),
           "the removal is logged")
    tap.ok(r.wait_log(r"msgid=%s: its spool file is missing: kept in "
                      r"quarantine" % lost, 2),
           "an envelope without its file goes to quarantine, and is logged")
    r.stop()
    r.proc = None
    tap.ok(r.start(), "relayd restarts again")
    tap.ok(not r.wait_log(r"its spool file is missing", 1),
           "the quarantined envelope is gone from the store")
    mode = os.stat(os.path.join(r.state, "spool", qid)).st_mode & 0o777
    tap.eq(oct(mode), oct(0o600), "spool files are 0600")
finally:
    r.cleanup()
tap.done()
