#!/usr/bin/env python3
"""Supervision: a child that dies takes relayd down (non-zero, with a log
line naming it and how it died) and no child outlives relayd; SIGTERM
stops everything cleanly; children die with their parent."""

import ctypes
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
PROC_EXIT_PEER = 3      # common/proc.h


def procs():
    """[(pid, ppid, pgrp, comm)] of every process."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        w = st[st.rindex(")") + 2:].split()
        out.append((int(pid), int(w[1]), int(w[2]), comm))
    return out


def leftovers(rpid, kids):
    """Processes that are relayd's children, in its process group, or
    one of the children we saw."""
    pids = set(kids.values())
    return [p for p in procs()
            if p[1] == rpid or p[2] == rpid or p[0] in pids]


def all_kids(r):
    return relaytest.wait_for(
        lambda: (lambda k: k if len(k) == len(relaytest.CHILDREN) else None)(
            r.children()), 5) \
        or r.children()


def kill_child(t, victim):
    r = relaytest.Relayd(t)
    try:
        if not t.ok(r.start(), "%s: relayd starts" % victim):
            return
        kids = all_kids(r)
        rpid = r.proc.pid
        if not t.ok(victim in kids, "%s: running" % victim):
            return
        vpid = kids[victim]
        os.kill(vpid, signal.SIGKILL)
        rc = r.wait_exit(5)
        t.ok(rc is not None and rc != 0,
             "%s killed: relayd exits non-zero within 5s (%r)" % (victim, rc))
        log = r.log()
        cause = [l for l in log.splitlines() if "stopping relayd" in l]
        t.eq(len(cause), 1, "%s killed: one line says why relayd stops"
             % victim)
        t.like(cause[0] if cause else "",
               r"relayd: %s \(pid %d\) was killed by signal 9 \(Killed\)"
               % (victim, vpid),
               "%s killed: that line names %s, its pid and the signal"
               % (victim, victim))
        relaytest.wait_for(lambda: not leftovers(rpid, kids), 2)
        t.eq(leftovers(rpid, kids), [],
             "%s killed: no process left of relayd's" % victim)
        t.ok(not os.path.exists(r.sock),
             "%s killed: control socket removed" % victim)
        if rc is None or len(cause) != 1:
            t.diag(log)
    finally:
        r.cleanup()


def sigterm(t):
    r = relaytest.Relayd(t)
    try:
        if not t.ok(r.start(), "SIGTERM: relayd starts"):
            return
        kids = all_kids(r)
        rpid = r.proc.pid
        t.ok(os.path.exists(r.sock), "SIGTERM: control socket there before")
        r.proc.send_signal(signal.SIGTERM)
        rc = r.wait_exit(5)
        t.eq(rc, 0, "SIGTERM: relayd exits 0 within 5s")
        t.eq(leftovers(rpid, kids), [], "SIGTERM: every child gone")
        t.ok(not os.path.exists(r.sock), "SIGTERM: control socket removed")
        log = r.log()
        t.like(log, r"relayd: received Terminated; stopping",
               "SIGTERM: logged")
        t.like(log, r"relayd: relayd stopped", "SIGTERM: stop logged")
        t.ok(not re.search(r"stopping relayd|killed by signal|did not stop",
                           log), "SIGTERM: no child died badly")
    finally:
        r.cleanup()


def reap(pids, timeout=5.0):
    """Wait for pids, orphans handed to us as their subreaper:
    {pid: wait status, or None if it did not die}."""
    got = {}
    end = time.time() + timeout
    while len(got) < len(pids) and time.time() < end:
        for pid in pids:
            if pid in got:
                continue
            try:
                wpid, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                # Not ours after all: it is gone once /proc says so.
                if not os.path.exists("/proc/%d" % pid):
                    got[pid] = -1
                continue
            if wpid == pid:
                got[pid] = status
        time.sleep(0.02)
    return {pid: got.get(pid) for pid in pids}


def parent_killed(t):
    """SIGKILL to relayd alone: PR_SET_PDEATHSIG takes the children."""
    # Become the children's reaper once relayd is gone (PID 1 may not
    # reap), so that we see how they died and leave no zombie behind.
    libc = ctypes.CDLL(None, use_errno=True)
    subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    r = relaytest.Relayd(t)
    try:
        if not t.ok(r.start(), "parent killed: relayd starts"):
            return
        kids = all_kids(r)
        t.eq(len(kids), len(relaytest.CHILDREN),
             "parent killed: every child")
        r.proc.send_signal(signal.SIGKILL)
        r.wait_exit(5)
        died = reap(list(kids.values()))
        for name, pid in sorted(kids.items()):
            st = died[pid]
            t.ok(st is not None, "parent killed: %s dies with it" % name)
            if subreaper and st is not None and st != -1:
                # The death signal, or, if it noticed first, the end of
                # its parent's channel (0) or a peer's (PROC_EXIT_PEER).
                t.ok((os.WIFSIGNALED(st) and
                      os.WTERMSIG(st) == signal.SIGKILL) or
                     (os.WIFEXITED(st) and
                      os.WEXITSTATUS(st) in (0, PROC_EXIT_PEER)),
                     "parent killed: %s died of SIGKILL or left cleanly "
                     "(status 0x%x)" % (name, st))
    finally:
        r.cleanup()
        if subreaper:
            libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def main():
    t = relaytest.Tap()
    for victim in relaytest.CHILDREN:
        kill_child(t, victim)
    sigterm(t)
    parent_killed(t)
    t.done()


main()
