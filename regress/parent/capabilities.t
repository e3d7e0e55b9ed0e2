#!/usr/bin/env python3
"""The capabilities relayd's parent needs, exactly (relayd(8),
Capabilities; the unit's CapabilityBoundingSet=).  relayd runs under
setpriv with its bounding set reduced to the list and no_new_privs set,
as NoNewPrivileges=yes does: on a new state directory, listening on a
port below 1024, it starts, relays a message, reloads, and stops even
with a child that does not (so the stop timer must kill it).  Then the
same with each capability of the list taken away: each run must fail at
one of those steps, so nothing in the list is there for nothing."""

import grp
import os
import pwd
import signal
import socket
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402
from relaytest import (DEFAULT_TENANT, Relayd, Tap, free_port,  # noqa: E402
                       send_message, wait_for)
from sink import Sink  # noqa: E402

# Kept in step with etc/relayd.service (checked below) and relayd(8).
NEEDED = ["chown", "fowner", "fsetid", "kill", "mknod", "net_bind_service",
          "setgid", "setpcap", "setuid", "sys_chroot"]


def unit_caps():
    """The CapabilityBoundingSet= of etc/relayd.service, as setpriv names
    them."""
    with open(os.path.join(relaytest.TOP, "etc", "relayd.service")) as f:
        for line in f:
            if line.startswith("CapabilityBoundingSet="):
                return sorted(w.lower().replace("cap_", "", 1)
                              for w in line.split("=", 1)[1].split())
    return None


def low_port():
    """A free port below 1024 on 127.0.0.1: binding it needs
    CAP_NET_BIND_SERVICE."""
    for port in range(1020, 900, -1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return None


def started(r):
    """Wait until relayd has its first configuration everywhere, or
    has exited."""
    return wait_for(lambda: r.proc.poll() is not None or
                    "configuration 1 is in force" in r.log()[r.log_mark:],
                    20) and r.proc.poll() is None


def mode_of(path):
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
            st.st_gid, st.st_rdev)


def state_right(r):
    """What relayd makes of a new state directory (relayd(8), State
    directory): owners, modes and the device dnsd needs."""
    q = pwd.getpwnam("relayd-queue")
    p = pwd.getpwnam("relayd-policy")
    want = {
        "spool": (stat.S_IFDIR, 0o700, q.pw_uid, q.pw_gid),
        "db": (stat.S_IFDIR, 0o2750, q.pw_uid, p.pw_gid),
        "dns/dev/urandom": (stat.S_IFCHR, 0o444, 0, 0),
    }
    bad = []
    for sub, w in want.items():
        got = mode_of(os.path.join(r.state, sub))
        if got is None or got[:4] != w or (
                w[0] == stat.S_IFCHR and got[4] != os.makedev(1, 9)):
            bad.append("%s is %r" % (sub, got and got[:4]))
    sock = mode_of(r.sock)
    if sock is None or sock[3] != grp.getgrnam("relayadm").gr_gid:
        bad.append("control socket group is %r" % (sock and sock[3]))
    return bad


def run(t, caps, port):
    """Start, relay, reload, stop with a stuck child, under a bounding
    set of caps.  Returns the first step that failed, or None."""
    sink = Sink("127.0.0.1", free_port())
    tenant = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                                   deliver_to="127.0.0.1:%d" % sink.port)
    r = Relayd(t, tenants={"acme.yaml": tenant},
               listen=[("127.0.0.1:%d" % port, "mx", "0s")])
    r.port = port
    prefix = ["setpriv", "--nnp", "--inh-caps=-all", "--ambient-caps=-all",
              "--bounding-set=-all" + "".join(",+" + c for c in caps)]
    try:
        r.start(wait=False, prefix=prefix)
        if not started(r):
            return "start", r.log()
        bad = state_right(r)
        if bad:
            return "state directory", "; ".join(bad)
        code, text = send_message(port, "someone@example.org",
                                  ["bob@acme.example"],
                                  b"Subject: caps\r\n\r\nhello\r\n")
        if code != 250:
            return "message accepted", "%r %s" % (code, text)
        if not sink.wait(1, 20):
            return "message delivered", r.log()
        r.write_tenant("beta.yaml", DEFAULT_TENANT.format(
            name="beta", domain="beta.example",
            deliver_to="127.0.0.1:%d" % sink.port))
        rc, out, err = r.ctl("reload")
        if rc != 0:
            return "reload", err
        kids = r.children()
        if "policyd" not in kids:
            return "children", repr(kids)
        # A child that does not leave when asked: the stop timer kills it.
        os.kill(kids["policyd"], signal.SIGSTOP)
        r.proc.send_signal(signal.SIGTERM)
        rc = r.wait_exit(15)
        if rc is None:
            os.kill(kids["policyd"], signal.SIGKILL)
            r.wait_exit(15)
            return "stop", r.log()
        return None, None
    finally:
        r.cleanup()
        sink.close()


def main():
    t = Tap()
    relaytest.need_root(t)
    if not os.path.exists("/usr/bin/setpriv"):
        t.skip_all("no setpriv (util-linux)")
    bnd = int([ln for ln in open("/proc/self/status")
               if ln.startswith("CapBnd:")][0].split()[1], 16)
    t.eq(unit_caps(), sorted(NEEDED),
         "etc/relayd.service: CapabilityBoundingSet= is the list tested here")
    port = low_port()
    if not t.ok(port is not None, "a free port below 1024 on 127.0.0.1"):
        t.done()
    step, why = run(t, NEEDED, port)
    if not t.eq(step, None, "with exactly %s: starts, relays, reloads and "
                "stops" % ",".join(NEEDED)):
        t.diag(why)
    for cap in NEEDED:
        num = {"chown": 0, "fowner": 3, "fsetid": 4, "kill": 5, "mknod": 27,
               "net_bind_service": 10, "setgid": 6, "setpcap": 8,
               "setuid": 7, "sys_chroot": 18}[cap]
        if not bnd & (1 << num):
            t.ok(True, "# SKIP this shell lacks cap_%s" % cap)
            continue
        step, why = run(t, [c for c in NEEDED if c != cap], port)
        t.ok(step is not None, "without cap_%s it fails (at: %s)" %
             (cap, step))
        if cap == "kill":
            t.like(why, r"relayd: policyd \(pid \d+\) did not stop; killing "
                   r"it\n.*relayd: cannot kill policyd \(pid \d+\): "
                   r"Operation not permitted",
                   "without cap_kill: the log says the stop timer could "
                   "not kill the child, and why")
    t.done()


main()
