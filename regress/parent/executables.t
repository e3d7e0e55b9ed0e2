#!/usr/bin/env python3
"""relayd runs only children it can trust: each executable is opened,
checked through its descriptor (a regular file, owned by root, writable
by nobody else) and started from that descriptor (fexecve), so the file
checked is the file run.  A copy of the tree's executables is used, so
that they can be spoiled."""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (CHILDREN, DEFAULT_TENANT, TOP, Relayd,  # noqa: E402
                       Tap, need_root)

tap = Tap()
need_root(tap)
TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")
tree = tempfile.mkdtemp(prefix="relayd-exe.")
os.chmod(tree, 0o755)
for p in ["relayd"] + CHILDREN:
    os.mkdir(os.path.join(tree, p))
    shutil.copy2(os.path.join(TOP, p, p), os.path.join(tree, p, p))
    os.chmod(os.path.join(tree, p, p), 0o755)
RELAYD = os.path.join(tree, "relayd", "relayd")


def attempt(r):
    """Run the copied relayd: (exit status or None if it runs, log)."""
    r.log_mark = len(r.log())
    with open(r.logpath, "ab") as f:
        p = subprocess.Popen([RELAYD, "-d", "-v", "-f", r.conf], stdout=f,
                             stderr=subprocess.STDOUT, start_new_session=True)
    r.proc = p
    r.logf = open(r.logpath, "ab")
    if r.wait_log(r"configuration 1 is in force", 10):
        return None, r.log()[r.log_mark:]
    return r.wait_exit(10), r.log()[r.log_mark:]


r = Relayd(tap, tenants={"acme.yaml": TENANT})
try:
    rc, log = attempt(r)
    tap.eq(rc, None, "root-owned 0755 executables: relayd starts")
    r.stop()

    path = os.path.join(tree, "smtpd", "smtpd")
    os.chmod(path, 0o775)
    rc, log = attempt(r)
    tap.ok(rc not in (None, 0), "a group-writable smtpd: relayd refuses "
           "to start (exit %s)" % rc)
    tap.like(log, r"child %s: not run: it must be a file owned by root and "
             r"writable by nobody else \(owner 0, mode 0775\)" % path,
             "and says which file and why")
    os.chmod(path, 0o755)

    path = os.path.join(tree, "deliverd", "deliverd")
    nobody = pwd.getpwnam("nobody").pw_uid
    os.chown(path, nobody, -1)
    rc, log = attempt(r)
    tap.ok(rc not in (None, 0), "a deliverd owned by nobody: refused")
    tap.like(log, r"child %s: not run: .*\(owner %d, mode 0755\)" %
             (path, nobody), "and says so")
    os.chown(path, 0, -1)

    # Started from the descriptor checked: execveat(fd, "", AT_EMPTY_PATH).
    trace = os.path.join(r.dir, "exec.trace")
    r.log_mark = len(r.log())
    with open(r.logpath, "ab") as f:
        r.proc = subprocess.Popen(
            ["strace", "-f", "-qq", "-e", "trace=execve,execveat", "-o",
             trace, RELAYD, "-d", "-v", "-f", r.conf], stdout=f,
            stderr=subprocess.STDOUT, start_new_session=True)
    r.logf = open(r.logpath, "ab")
    tap.ok(r.wait_log(r"configuration 1 is in force", 20),
           "relayd starts under strace")
    r.stop()
    with open(trace) as f:
        calls = f.read()
    kids = [l for l in calls.splitlines() if "execveat(" in l and
            "AT_EMPTY_PATH" in l]
    tap.eq(len(kids), len(CHILDREN), "each child is started by "
           "execveat(fd, \"\", AT_EMPTY_PATH)")
    tap.ok(not any("execve(\"%s" % tree in l for l in calls.splitlines()
                   if "relayd/relayd" not in l),
           "never by path")
finally:
    r.cleanup()
    shutil.rmtree(tree, ignore_errors=True)
tap.done()
