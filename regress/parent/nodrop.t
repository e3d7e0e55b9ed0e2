#!/usr/bin/env python3
"""relayd started by an ordinary user: it warns once and runs without the
privilege drop (for developers), and everything still works.  This run is
also where leaks are looked for: chrooted children cannot run the leak
checker (no /proc), these can, so with SANITIZE=1 LeakSanitizer checks
every process as it exits."""
import os
import pwd
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)
if shutil.which("setpriv") is None:
    tap.skip_all("needs setpriv (util-linux)")
nobody = pwd.getpwnam("nobody")
w = World(tap, queue="retry_min: 1s\nretry_max: 1s\n")
try:
    # nobody must be able to reach and write the test's directory.
    for root, dirs, files in os.walk(w.r.dir):
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), nobody.pw_uid, nobody.pw_gid)
    tenant = w.sink(w.tenant_addr)
    notices = w.sink("127.0.0.6")
    env = {"ASAN_OPTIONS": "detect_leaks=1:exitcode=23"}
    tap.ok(w.start(prefix=["setpriv", "--reuid=nobody", "--regid=nogroup",
                           "--clear-groups"], env=env),
           "relayd starts as nobody")
    tap.ok(w.log_has(r"not running as root: children keep this user"),
           "it warns that the children are not confined")
    w.send("a@sender.test", ["bob@acme.example"])
    w.send("alice@sender.test", ["x@nullmx.remote.test"], inside=True)
    tap.ok(tenant.wait(1), "a message is delivered")
    tap.ok(notices.wait(1), "a bounce is sent")
    rc, out, err = w.r.ctl("show", "status")
    tap.eq(rc, 0, "relayctl works")
    tap.eq(w.r.stop(), 0, "relayd stops cleanly")
    log = w.r.log()
    tap.ok("LeakSanitizer" not in log and "status 23" not in log,
           "no process leaked memory (when built with SANITIZE=1)")
    if "LeakSanitizer" in log:
        tap.diag(log[log.index("LeakSanitizer") - 200:][:3000])
finally:
    w.stop()
tap.done()
