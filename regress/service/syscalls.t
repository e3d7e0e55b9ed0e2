#!/usr/bin/env python3
"""The unit's SystemCallFilter= and RestrictAddressFamilies= allow what
relayd does (relayd(8), The service).  The whole tree runs under strace
as the unit runs it (relayd -n, then relayd -F with NOTIFY_SOCKET), takes
mail by DATA and by BDAT and delivers it, answers relayctl as ExecReload
runs it, reloads on SIGHUP and stops; every system call made on the way,
relayctl's included, must be in the filter as systemd-analyze expands
its groups, and every socket must be of an allowed family."""

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402
from relaytest import (DEFAULT_TENANT, RELAYCTL, RELAYD,  # noqa: E402
                       NotifySocket, Relayd, Tap, free_port, send_message)
from sink import Sink  # noqa: E402

CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z_][a-z0-9_]*)[( ]")
SOCKET = re.compile(r"^\d+\s+socket\((AF_[A-Z0-9]+)")


def groups(sa):
    """systemd-analyze's syscall groups: {"@name": [members]}."""
    out = subprocess.run([sa, "syscall-filter"], capture_output=True,
                         text=True, timeout=60).stdout
    g, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = g.setdefault(line.split()[0], [])
        elif cur is not None and line.strip() and \
                not line.strip().startswith("#"):
            cur.append(line.strip())
    return g


def expand(g, name, depth=0):
    if not name.startswith("@"):
        return {name}
    out = set()
    for m in g.get(name, []) if depth < 8 else []:
        out |= expand(g, m, depth + 1)
    return out


def unit_lines(key):
    with open(os.path.join(relaytest.TOP, "etc", "relayd.service")) as f:
        return [ln.split("=", 1)[1].split() for ln in f
                if ln.startswith(key + "=")]


def allowed_calls(g):
    """The allow list the unit's SystemCallFilter= lines make, in order:
    the first allows, a later ~ takes away, a later plain one adds."""
    allowed = None
    for words in unit_lines("SystemCallFilter"):
        neg = words[0].startswith("~")
        names = set()
        for w in [words[0].lstrip("~")] + words[1:]:
            names |= expand(g, w)
        if allowed is None:
            if neg:
                return None     # a deny list: not what the unit says
            allowed = names
        elif neg:
            allowed -= names
        else:
            allowed |= names
    return allowed


def traced(outs):
    calls, families = set(), set()
    for path in outs:
        with open(path, errors="replace") as f:
            for line in f:
                m = CALL.match(line)
                if m:
                    calls.add(m.group(1))
                m = SOCKET.match(line)
                if m:
                    families.add(m.group(1))
    return calls, families


def strace(out, argv, **kw):
    return ["strace", "-f", "-qq", "-o", out] + argv


def main():
    t = Tap()
    if os.environ.get("SANITIZE") == "1":
        t.skip_all("SANITIZE=1: the sanitizers' runtimes make calls of their "
                   "own; the filter is for the build that is installed")
    relaytest.need_root(t)
    sa = shutil.which("systemd-analyze")
    if sa is None or shutil.which("strace") is None:
        t.skip_all("needs systemd-analyze (systemd) and strace")
    g = groups(sa)
    allowed = allowed_calls(g)
    if not t.ok(allowed and "read" in allowed and "chroot" in allowed,
                "the unit's SystemCallFilter= is an allow list "
                "systemd-analyze can expand"):
        t.done()

    sink = Sink("127.0.0.1", free_port())
    r = Relayd(t, tenants={"acme.yaml": DEFAULT_TENANT.format(
        name="acme", domain="acme.example",
        deliver_to="127.0.0.1:%d" % sink.port)})
    m = NotifySocket("\0relayd-test-syscalls-" + uuid.uuid4().hex)
    outs = [os.path.join(r.dir, n) for n in ("pre", "main", "ctl")]
    proc = None
    try:
        p = subprocess.run(strace(outs[0], [RELAYD, "-n", "-f", r.conf]),
                           capture_output=True, text=True, timeout=60)
        t.eq(p.returncode, 0, "relayd -n (ExecStartPre) under strace")
        env = dict(os.environ, NOTIFY_SOCKET=m.env)
        proc = subprocess.Popen(strace(outs[1], [RELAYD, "-F", "-f",
                                                 r.conf]),
                                env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                start_new_session=True)
        ready, _ = m.wait("READY", 60)
        if not t.ok(ready, "relayd -F (ExecStart) under strace is ready"):
            t.done()
        for bdat in (False, True):
            code, text = send_message(r.port, "someone@example.org",
                                      ["bob@acme.example"],
                                      b"Subject: s\r\n\r\nx\r\n", bdat=bdat)
            t.eq(code, 250, "a message by %s is accepted" %
                 ("BDAT" if bdat else "DATA"))
        t.ok(sink.wait(2, 60), "both are delivered")
        for args in (["show", "status"], ["show", "queue"], ["reload"]):
            p = subprocess.run(strace(outs[2] + "." + args[-1],
                                      [RELAYCTL, "-f", r.conf] + args),
                               capture_output=True, text=True, timeout=60)
            outs.append(outs[2] + "." + args[-1])
            t.eq(p.returncode, 0, "relayctl %s under strace" %
                 " ".join(args))
        t.ok(m.wait("READY", 30)[0], "reloaded by relayctl (ExecReload)")
        os.kill(int(ready["MAINPID"]), signal.SIGHUP)
        t.ok(m.wait("READY", 30)[0], "reloaded by SIGHUP")
        os.kill(int(ready["MAINPID"]), signal.SIGTERM)
        t.ok(m.wait("STOPPING", 30)[0], "stopping on SIGTERM")
        t.eq(proc.wait(60), 0, "relayd exits 0")
        calls, families = traced([o for o in outs if os.path.exists(o)])
        t.ok(len(calls) > 40, "strace saw the calls (%d kinds)" %
             len(calls))
        t.eq(sorted(calls - allowed), [],
             "every system call is in the unit's SystemCallFilter=")
        fams = set("AF_" + w.replace("AF_", "") for words in
                   unit_lines("RestrictAddressFamilies") for w in words)
        t.eq(sorted(families - fams), [],
             "every socket is of a family RestrictAddressFamilies= allows")
        t.ok({"AF_UNIX", "AF_INET"} <= families,
             "(sockets seen: %s)" % " ".join(sorted(families)))
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        m.close()
        sink.close()
        r.cleanup()
    t.done()


main()
