#!/usr/bin/env python3
"""The privilege drop of every child, the state directory's owners and
modes, and the control socket's permissions (DESIGN.md, Processes)."""

import grp
import os
import pwd
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402
from relaytest import wait_for  # noqa: E402

# proc name -> (system user, chroot relative to state_dir)
EXPECT = {
    "smtpd": ("relayd-smtpd", "empty"),
    "queued": ("relayd-queue", ""),
    "deliverd": ("relayd-deliver", "empty"),
    "dnsd": ("relayd-dns", "dns"),
    "policyd": ("relayd-policy", ""),
    "keyd": ("relayd-key", "empty"),
    "metricsd": ("relayd-metrics", "empty"),
}
CAPS = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]


def sysusers():
    """The user names etc/relayd.sysusers declares (u lines)."""
    names = []
    with open(os.path.join(relaytest.TOP, "etc", "relayd.sysusers")) as f:
        for line in f:
            w = line.split()
            if len(w) >= 2 and w[0] == "u":
                names.append(w[1])
    return names


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.split()
    return fields


def check_dir(t, path, uid, gid, mode, what):
    st = os.lstat(path)
    t.ok(stat.S_ISDIR(st.st_mode), what + " is a directory")
    t.eq((st.st_uid, st.st_gid), (uid, gid), what + " owner and group")
    t.eq(oct(stat.S_IMODE(st.st_mode)), oct(mode), what + " mode")


def state_repaired(t):
    """A state dir left with wrong owners and modes is put right."""
    r = relaytest.Relayd(t)
    try:
        nobody = pwd.getpwnam("nobody")
        os.mkdir(r.state, 0o700)
        os.chown(r.state, nobody.pw_uid, nobody.pw_gid)
        for sub, mode in (("empty", 0o777), ("spool", 0o755),
                          ("db", 0o2750)):
            path = os.path.join(r.state, sub)
            os.mkdir(path)
            os.chmod(path, mode)
            os.chown(path, 0, 0)
        if not t.ok(r.start(), "relayd starts on a state dir with wrong "
                    "owners and modes"):
            return
        q = pwd.getpwnam("relayd-queue")
        p = pwd.getpwnam("relayd-policy")
        check_dir(t, r.state, 0, 0, 0o755, "repaired: state_dir")
        check_dir(t, os.path.join(r.state, "empty"), 0, 0, 0o755,
                  "repaired: state_dir/empty")
        check_dir(t, os.path.join(r.state, "spool"), q.pw_uid, q.pw_gid,
                  0o700, "repaired: spool/")
        check_dir(t, os.path.join(r.state, "db"), q.pw_uid, p.pw_gid,
                  0o2750, "repaired: db/")
    finally:
        r.cleanup()


def main():
    t = relaytest.Tap()
    relaytest.need_root(t)
    t.eq(sorted(sysusers()), sorted(u for u, _ in EXPECT.values()),
         "etc/relayd.sysusers declares one user per child")
    # metricsd runs only with metrics.listen.
    r = relaytest.Relayd(t, main_extra="metrics:\n  listen: 127.0.0.1:%d\n"
                         % relaytest.free_port())
    try:
        if not t.ok(r.start(), "relayd starts"):
            t.done()
        kids = relaytest.wait_for(
            lambda: (lambda k: k if len(k) == len(EXPECT) else None)(
                r.children()), 5)
        kids = kids or r.children()
        t.eq(sorted(kids), sorted(EXPECT), "every child, by name")
        pgid = os.getpgid(r.proc.pid)
        uids = {}
        for name in relaytest.CHILDREN + relaytest.OPTIONAL_CHILDREN:
            pid = kids.get(name)
            if pid is None:
                t.ok(False, "%s is running" % name)
                continue
            user, rootdir = EXPECT[name]
            pw = pwd.getpwnam(user)
            st = proc_status(pid)
            uids[name] = int(st["Uid"][0])
            t.eq([int(x) for x in st["Uid"]], [pw.pw_uid] * 4,
                 "%s: real, effective, saved and fs uid are %s (%d)" %
                 (name, user, pw.pw_uid))
            t.ok(pw.pw_uid != 0, "%s: uid is not 0" % name)
            t.eq([int(x) for x in st["Gid"]], [pw.pw_gid] * 4,
                 "%s: every gid is %s's group (%d)" % (name, user,
                                                       pw.pw_gid))
            t.ok(pw.pw_gid != 0, "%s: gid is not 0" % name)
            t.eq([int(x) for x in st.get("Groups", [])], [pw.pw_gid],
                 "%s: no supplementary group but its own" % name)
            for cap in CAPS:
                t.eq(int(st[cap][0], 16), 0, "%s: %s is empty" % (name, cap))
            t.eq(st["NoNewPrivs"], ["1"], "%s: NoNewPrivs is set" % name)
            # dnsd loads its filter with its first configuration.
            t.ok(wait_for(lambda: proc_status(pid).get("Seccomp") == ["2"],
                          5), "%s: a seccomp filter is loaded (Seccomp: 2)"
                 % name)
            want_root = os.path.join(r.state, rootdir) if rootdir \
                else r.state
            root = os.readlink("/proc/%d/root" % pid)
            t.ok(root != "/", "%s: root is not /" % name)
            t.eq(os.path.realpath(root), os.path.realpath(want_root),
                 "%s: chrooted in state_dir%s" % (name,
                                                  "/" + rootdir if rootdir
                                                  else ""))
            t.eq(os.readlink("/proc/%d/cwd" % pid), root,
                 "%s: working directory is its root" % name)
            t.eq(os.getpgid(pid), pgid,
                 "%s shares relayd's process group" % name)
        t.eq(len(set(uids.values())), len(EXPECT),
             "the children's uids differ")

        q = pwd.getpwnam("relayd-queue")
        p = pwd.getpwnam("relayd-policy")
        check_dir(t, r.state, 0, 0, 0o755, "state_dir")
        check_dir(t, os.path.join(r.state, "empty"), 0, 0, 0o755,
                  "state_dir/empty")
        t.eq(os.listdir(os.path.join(r.state, "empty")), [],
             "state_dir/empty is empty")
        check_dir(t, os.path.join(r.state, "dns"), 0, 0, 0o755,
                  "state_dir/dns")
        t.eq(os.listdir(os.path.join(r.state, "dns")), ["dev"],
             "state_dir/dns holds dev/ only")
        t.eq(os.listdir(os.path.join(r.state, "dns", "dev")), ["urandom"],
             "and dev/ holds urandom only")
        st = os.lstat(os.path.join(r.state, "dns", "dev", "urandom"))
        t.ok(stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and
             os.minor(st.st_rdev) == 9 and st.st_uid == 0 and
             stat.S_IMODE(st.st_mode) == 0o444,
             "dev/urandom is the root-owned 0444 character device 1,9")
        check_dir(t, os.path.join(r.state, "spool"), q.pw_uid, q.pw_gid,
                  0o700, "spool/")
        check_dir(t, os.path.join(r.state, "db"), q.pw_uid, p.pw_gid,
                  0o2750, "db/")

        st = os.lstat(r.sock)
        t.ok(stat.S_ISSOCK(st.st_mode), "control socket is a socket")
        t.eq(oct(stat.S_IMODE(st.st_mode)), oct(0o660),
             "control socket mode 0660")
        t.eq(st.st_uid, 0, "control socket owned by root")
        t.eq(st.st_gid, grp.getgrnam("relayadm").gr_gid,
             "control socket group relayadm")
    finally:
        r.cleanup()
    state_repaired(t)
    t.done()


main()
