#!/usr/bin/env python3
"""The service manager is told the truth (sd_notify(3), Type=notify):
READY=1 only once every child has the first configuration, RELOADING=1
and READY=1 around a reload, STOPPING=1 when relayd stops; to a socket
path and to an abstract name; no child inherits NOTIFY_SOCKET.  relayd
-F stays in the foreground without -d, as the unit runs it."""

import os
import signal
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402
from relaytest import (DEFAULT_TENANT, RELAYD, NotifySocket,  # noqa: E402
                       Relayd, Tap)

TENANT = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                               deliver_to="127.0.0.1:9")


def environ_has(pid, name):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return any(v.startswith(name.encode() + b"=")
                       for v in f.read().split(b"\0"))
    except OSError:
        return None


def path_socket(t):
    r = Relayd(t, tenants={"acme.yaml": TENANT})
    m = NotifySocket(os.path.join(r.dir, "notify.sock"))
    try:
        r.start(wait=False, env={"NOTIFY_SOCKET": m.env})
        ready, before = m.wait("READY")
        if not t.ok(ready is not None, "path: READY=1 arrives"):
            t.diag(r.log())
            return
        t.like(r.log(), r"configuration 1 is in force in every process",
               "path: only once every child has the first configuration")
        t.eq(before, [], "path: nothing said before READY=1")
        t.eq(ready.get("MAINPID"), str(r.proc.pid),
             "path: MAINPID is relayd's pid")
        t.eq(ready.get("STATUS"), "configuration 1 in force",
             "path: STATUS says which configuration")
        kids = relaytest.wait_for(
            lambda: (lambda k: k if len(k) == len(relaytest.CHILDREN) else None)(
                r.children()), 5)
        t.eq(sorted(kids or {}), sorted(relaytest.CHILDREN),
             "path: every child")
        t.eq([n for n, pid in sorted((kids or {}).items())
              if environ_has(pid, "NOTIFY_SOCKET") is not False], [],
             "path: no child has NOTIFY_SOCKET in its environment")

        r.write_tenant("beta.yaml", DEFAULT_TENANT.format(
            name="beta", domain="beta.example", deliver_to="127.0.0.1:9"))
        rc, out, err = r.ctl("reload")
        t.eq((rc, err), (0, ""), "path: relayctl reload succeeds")
        rel, before = m.wait("RELOADING")
        t.ok(rel is not None and before == [],
             "path: RELOADING=1 is the next thing said")
        t.ok(rel is not None and rel.get("MONOTONIC_USEC", "").isdigit(),
             "path: with MONOTONIC_USEC")
        ready, before = m.wait("READY")
        t.ok(ready is not None and before == [],
             "path: then READY=1, once configuration 2 is in force")
        t.eq((ready or {}).get("STATUS"), "configuration 2 in force",
             "path: STATUS says configuration 2")

        # A reload that fails to load changes nothing, and says nothing.
        r.write_tenant("beta.yaml", "tenant: [\n")
        rc, out, err = r.ctl("reload")
        t.ok(rc != 0, "path: a broken tenant file fails the reload")
        t.ok(m.quiet(), "path: and the manager hears nothing of it")
        os.unlink(os.path.join(r.tenants_dir, "beta.yaml"))

        r.proc.send_signal(signal.SIGTERM)
        stop, before = m.wait("STOPPING")
        t.ok(stop is not None and before == [],
             "path: STOPPING=1 on SIGTERM")
        t.eq(r.wait_exit(), 0, "path: relayd exits 0")
    finally:
        r.cleanup()
        m.close()


def abstract_socket_foreground(t):
    """-F as the unit runs it: no daemon(), the log to syslog."""
    r = Relayd(t, tenants={"acme.yaml": TENANT})
    name = "relayd-test-notify-" + uuid.uuid4().hex
    m = NotifySocket("\0" + name)
    proc = None
    try:
        env = dict(os.environ, NOTIFY_SOCKET=m.env)
        proc = subprocess.Popen([RELAYD, "-F", "-f", r.conf], env=env,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE,
                                start_new_session=True)
        ready, before = m.wait("READY")
        t.ok(ready is not None and before == [],
             "abstract, -F: READY=1 arrives")
        t.eq(proc.poll(), None, "abstract, -F: relayd stays in the "
             "foreground (did not fork away)")
        t.eq((ready or {}).get("MAINPID"), str(proc.pid),
             "abstract, -F: MAINPID is the pid that was started")
        proc.send_signal(signal.SIGTERM)
        stop, before = m.wait("STOPPING")
        t.ok(stop is not None, "abstract, -F: STOPPING=1 on SIGTERM")
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            rc = None
        t.eq(rc, 0, "abstract, -F: relayd exits 0")
        err = proc.stderr.read().decode(errors="replace")
        t.ok("configuration 1 is in force" not in err,
             "abstract, -F: the log goes to syslog, not standard error")
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        r.cleanup()
        m.close()


def bad_socket(t):
    """A NOTIFY_SOCKET that is no socket address is said, not fatal."""
    r = Relayd(t, tenants={"acme.yaml": TENANT})
    try:
        t.ok(r.start(env={"NOTIFY_SOCKET": "relative/path"}),
             "bad NOTIFY_SOCKET: relayd starts all the same")
        t.like(r.log(), r"NOTIFY_SOCKET relative/path: not an absolute "
               r"path", "bad NOTIFY_SOCKET: and says why it is ignored")
    finally:
        r.cleanup()


def main():
    t = Tap()
    relaytest.need_root(t)
    path_socket(t)
    abstract_socket_foreground(t)
    bad_socket(t)
    t.done()


main()
