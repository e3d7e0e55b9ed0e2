#!/usr/bin/env python3
"""A full disk: the state directory on a small tmpfs, mounted in a private
mount namespace (unshare -m).  Mail is refused with 452 4.3.1 and nothing
half-stored stays behind."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, Relayd, SMTPClient, Tap,  # noqa: E402
                       need_root, private_mounts, send_message, spool_ids,
                       wait_for)

tap = Tap()
need_root(tap)
private_mounts(tap)

TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")


def on_tmpfs(r, size):
    os.makedirs(r.state, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                    "tmpfs", r.state], check=True)


def queued_count(r):
    rc, out, err = r.ctl("show", "queue")
    return len(out.splitlines()) - 1


# Writes fail with ENOSPC half-way through a message.
r = Relayd(tap, tenants={"acme.yaml": TENANT},
           limits="max_message_size: 20M\nmin_free_space: 0\n")
try:
    on_tmpfs(r, "3M")
    tap.ok(r.start(), "relayd starts on a 3 MB tmpfs")
    body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 5000
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], body)
    tap.eq(code, 452, "a message that does not fit gets 452")
    tap.like(text, r"^452 4\.3\.1 ", "with 4.3.1")
    tap.ok(wait_for(lambda: spool_ids(r) == [], 5) == True,
           "its spool file is removed")
    tap.eq(queued_count(r), 0, "nothing is queued")
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], b"Subject: s\r\n\r\nok\r\n")
    tap.eq(code, 250, "a small message still fits and is accepted")
    tap.eq(queued_count(r), 1, "and queued")
finally:
    r.cleanup()
    subprocess.run(["umount", "-l", r.state], capture_output=True)

# Below min_free_space: refused at MAIL, and at the end of data.
r = Relayd(tap, tenants={"acme.yaml": TENANT},
           limits="max_message_size: 20M\nmin_free_space: 2M\n")
try:
    on_tmpfs(r, "4M")
    tap.ok(r.start(), "relayd starts on a 4 MB tmpfs with a 2 MB floor")
    c = SMTPClient(r.port)
    c.reply()
    c.cmd("EHLO client.example")
    # smtpd learns the free space from queued just after start.
    for _ in range(30):
        code, text = c.cmd("MAIL FROM:<a@sender.example> SIZE=3000000")
        if code == 452:
            break
        c.cmd("RSET")
        time.sleep(0.1)
    tap.like(text, r"^452 4\.3\.1 ", "a declared SIZE above the free space "
             "over the floor gets 452 4.3.1 at MAIL")
    c.close()
    body = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 2500
    code, text = send_message(r.port, "a@sender.example",
                              ["bob@acme.example"], body)
    tap.like(text, r"^452 4\.3\.1 ", "data that takes the disk below the "
             "floor is refused at its end")
    tap.ok(wait_for(lambda: spool_ids(r) == [], 5) == True,
           "and its file is removed")
    tap.eq(queued_count(r), 0, "nothing is queued")
    tap.ok(r.proc.poll() is None, "relayd is still running")
finally:
    r.cleanup()
    subprocess.run(["umount", "-l", r.state], capture_output=True)
tap.done()
