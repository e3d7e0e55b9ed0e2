#!/usr/bin/env python3
"""relayctl announce FILE [--role ROLE]: the operator's text to every
tenant's contacts, or those with the role, each address once (a contact
of two tenants gets one copy), in one message whose header names none of
them; its subject from the file's first line.  relayctl reads FILE with
the caller's rights, and relayd never opens a path: a root-only file
named by an administrator who is not root is refused by relayctl itself
and nothing is sent, and a request that names a path on the socket is
refused.  Refused too, with nothing sent: a binary file, one too big, a
line too long, a directory, a caller who is only an operator, and, on
the socket, a text that is not what its length said, or not text."""
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import RELAYCTL, Tap, need_root  # noqa: E402
import reportlib  # noqa: E402

BETA = """\
tenant: beta
postmaster: postmaster@beta.example
contacts:
  - email: Jane@ops.test
    roles: [technical]
  - email: it@ops.test
    roles: [policy]
domains: [beta.example]
inbound:
  deliver_to: [127.0.0.21:{port}]
"""
TEXT = ("Subject: Maintenance on Sunday\n\nThe relay will be down "
        "from 02:00 to 03:00 UTC.\nJ\u00f6rg, for the operators.\n")

tap = Tap()
need_root(tap)
for tool in ("useradd", "userdel", "groupadd", "groupdel", "setpriv"):
    if shutil.which(tool) is None:
        tap.skip_all("needs %s" % tool)
tag = "%d" % (os.getpid() % 100000)
OPS, ADM = "raops" + tag, "raadm" + tag
OPER, ADMIN = "raop" + tag, "raad" + tag
made_users, made_groups = [], []


def run(*cmd):
    p = subprocess.run(list(cmd), capture_output=True, text=True)
    if p.returncode != 0:
        tap.diag("%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.returncode == 0


def setup_users():
    for g in (OPS, ADM):
        if not run("groupadd", g):
            return False
        made_groups.append(g)
    for name, opts in ((OPER, ["-g", OPS]),
                       (ADMIN, ["-g", OPS, "-G", ADM])):
        if not run("useradd", "-M", "-N", "-d", "/nonexistent", "-s",
                   "/usr/sbin/nologin", *opts, name):
            return False
        made_users.append(name)
    return True


def ctl_as(w, user, *args):
    p = subprocess.run(["setpriv", "--reuid=" + user, "--regid=%d" %
                        pwd.getpwnam(user).pw_gid, "--init-groups",
                        RELAYCTL, "-s", w.r.sock] + list(args),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def raw(w, data):
    """What relayd answers to bytes written on the socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(w.r.sock)
    out = b""
    try:
        s.sendall(data)
    except OSError:
        pass            # relayd may answer and close before the end
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            out += b
    except OSError:
        pass
    s.close()
    return out.decode(errors="replace")


def rcpts(ops, i):
    return sorted(a.lower() for a in ops.messages[i].rcpt_addrs)


def main(d):
    users = setup_users()
    w, ops = reportlib.world(tap, main_extra="control_group: %s\n"
                             "control_admin_group: %s\n" % (OPS, ADM)
                             if users else "")
    w.r.write_tenant("beta.yaml", BETA.format(port=w.port))
    try:
        if not tap.ok(w.start(), "relayd starts"):
            return
        os.chmod(w.r.dir, 0o755)
        good = os.path.join(d, "note.txt")
        with open(good, "w", encoding="utf-8") as f:
            f.write(TEXT)
        os.chmod(good, 0o644)
        os.chmod(d, 0o755)

        rc, out, err = w.r.ctl("announce", good)
        tap.eq(rc, 0, "announce to all: OK (%s)" % (out + err).strip())
        tap.like(out, r"^announce notice msgid=[0-9a-f]{16} queued to 4 "
                 r"recipients\n$", "queued to four addresses")
        tap.ok(ops.wait(1, 30), "the contacts' server gets it")
        tap.eq(rcpts(ops, 0), ["bills@ops.test", "it@ops.test",
                               "jane@ops.test", "pol@ops.test"],
               "every contact of both tenants, Jane (in both) once")
        m = reportlib.parse(ops.messages[0])
        tap.like(m["Subject"], r"\] Maintenance on Sunday$",
                 "the subject is the file's first line")
        tap.eq(m["To"], "undisclosed-recipients:;",
               "the header names no contact")
        body = ops.messages[0].data.decode("utf-8", "replace")
        tap.ok("down from 02:00" in body and "J\u00f6rg" in body and
               "Subject: Maintenance" not in body.split("\r\n\r\n", 1)[1],
               "the text, in UTF-8, without its subject line")
        tap.ok(w.log_has(r"announce msgid=[0-9a-f]{16} from=<[^>]+> "
                         r"status=queued \(to 4 addresses, each once\)"),
               "logged with the count")

        rc, out, err = w.r.ctl("announce", good, "--role", "policy")
        tap.like(out, r"queued to 2 recipients", "announce --role policy")
        tap.ok(ops.wait(2, 30) and rcpts(ops, 1) ==
               ["it@ops.test", "pol@ops.test"], "to the policy contacts")
        rc, out, err = w.r.ctl("announce", good, "--role", "boss")
        tap.ok(rc != 0 and "a role is" in err, "an unknown role refused")

        def refused(args, pattern, what, user=None):
            rc, out, err = (ctl_as(w, user, "announce", *args) if user
                            else w.r.ctl("announce", *args))
            tap.ok(rc != 0 and re.search(pattern, err),
                   "%s: refused (%s)" % (what, err.strip()))

        path = os.path.join(d, "bin")
        with open(path, "wb") as f:
            f.write(b"Subject: x\n\nhello\x00\x01world\n")
        refused([path], r"not text", "a binary file")
        path = os.path.join(d, "big")
        with open(path, "w") as f:
            f.write(("a" * 99 + "\n") * 700)
        refused([path], r"longer than 64 KB", "a file of 70 KB")
        path = os.path.join(d, "long")
        with open(path, "w") as f:
            f.write("a" * 999 + "\n")
        refused([path], r"longer than 998", "a line of 999 octets")
        path = os.path.join(d, "latin1")
        with open(path, "wb") as f:
            f.write(b"J\xf6rg\n")
        refused([path], r"not UTF-8", "a text in Latin-1")
        refused([d], r"not a regular file", "a directory")
        refused(["/nonexistent/x"], r"No such file", "a missing file")
        if users:
            secret = os.path.join(d, "root-only")
            with open(secret, "w") as f:
                f.write("Subject: secret\n\nthe root password\n")
            os.chmod(secret, 0o600)
            refused([secret], r"Permission denied",
                    "a root-only file named by an administrator who is "
                    "not root", user=ADMIN)
            refused([good], r"permission denied", "an operator",
                    user=OPER)
            rc, out, err = ctl_as(w, ADMIN, "announce", good)
            tap.eq(rc, 0, "the same administrator, a file of its own: OK")
            tap.ok(ops.wait(3, 30), "and it goes")
        else:
            for i in range(4):
                tap.n += 1
                print("ok %d # SKIP no users could be made" % tap.n)
        sent = len(ops.messages)
        out = raw(w, b"announce /etc/shadow\n")
        tap.like(out, r"^ERR announce: expected the text's length",
                 "a path on the socket: refused")
        out = raw(w, b"announce 12\nhello\x00world\n")
        tap.like(out, r"^ERR not text", "a binary text on the socket: "
                 "refused by relayd")
        out = raw(w, b"announce 70000\n" + b"a\n" * 35000)
        tap.like(out, r"^ERR announce: expected the text's length",
                 "a length over 64 KB: refused")
        t0 = time.time()
        out = raw(w, b"announce 100\nshort\n")
        tap.eq(out, "", "a text shorter than said: nothing sent, the "
               "connection closed after its time-out (%ds)" %
               (time.time() - t0))
        time.sleep(2)
        tap.eq(len(ops.messages), sent, "none of these mailed anything")
        tap.ok(w.log_has(r"control: uid 0: announce refused: not text"),
               "relayd logs the refusal")
    finally:
        w.stop()


try:
    with tempfile.TemporaryDirectory() as d:
        main(d)
finally:
    for u in made_users:
        run("userdel", u)
    for g in made_groups:
        run("groupdel", g)
tap.done()
