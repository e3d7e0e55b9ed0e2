#!/usr/bin/env python3
"""The two levels of relayctl, with real users: whoever may connect
(control_group) may show and hold; queue remove and bounce need
control_admin_group too (root always; or the caller's group, or one of
its supplementary groups).  Every request is logged with the caller's
uid, refused ones too.

The users and groups are made here (useradd, groupadd) and removed at
the end; relayctl runs as them under setpriv."""

import grp
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (DEFAULT_TENANT, RELAYCTL, Relayd, Tap,  # noqa: E402
                       free_port, need_root, queue_id, send_message,
                       wait_for)

tap = Tap()
need_root(tap)
for tool in ("useradd", "userdel", "groupadd", "groupdel", "setpriv"):
    if shutil.which(tool) is None:
        tap.skip_all("needs %s" % tool)

tag = "%d" % (os.getpid() % 100000)
OPS, ADM = "rtops" + tag, "rtadm" + tag
OPER, ADMIN, OUTSIDER = "rtop" + tag, "rtad" + tag, "rtout" + tag
made_users, made_groups = [], []


def run(*cmd):
    p = subprocess.run(list(cmd), capture_output=True, text=True)
    if p.returncode != 0:
        tap.diag("%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.returncode == 0


def setup():
    for g in (OPS, ADM):
        if not run("groupadd", g):
            return False
        made_groups.append(g)
    users = [(OPER, ["-g", OPS]),
             (ADMIN, ["-g", "nogroup", "-G", "%s,%s" % (OPS, ADM)]),
             (OUTSIDER, ["-g", "nogroup"])]
    for name, opts in users:
        if not run("useradd", "-M", "-N", "-d", "/nonexistent", "-s",
                   "/usr/sbin/nologin", *opts, name):
            return False
        made_users.append(name)
    return True


def teardown():
    for u in made_users:
        run("userdel", u)
    for g in made_groups:
        run("groupdel", g)


def ctl_as(r, user, *args, group=None, groups=None):
    """relayctl as user: its own groups from /etc/group, or the group
    and supplementary groups given."""
    ids = ["--reuid=" + user]
    if group is None:
        ids += ["--regid=%d" % pwd.getpwnam(user).pw_gid, "--init-groups"]
    else:
        ids += ["--regid=" + group, "--groups=" + ",".join(groups)]
    p = subprocess.run(["setpriv"] + ids + [RELAYCTL, "-s", r.sock] +
                       list(args), capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def queued(r):
    rc, out, err = r.ctl("show", "queue")
    return set(re.findall(r"(?m)^([0-9a-f]{16}) ", out))


def enqueue(r, n):
    """n messages the tenant's server (nobody listens) leaves queued."""
    ids = []
    for i in range(n):
        code, text = send_message(r.port, "a@sender.example",
                                  ["bob@acme.example"],
                                  b"Subject: %d\r\n\r\nhello\r\n" % i)
        if code == 250:
            ids.append(queue_id(text))
    return ids


def uid(name):
    return pwd.getpwnam(name).pw_uid


def logged(r, pattern):
    return r.wait_log(pattern, 10)


def main():
    tenant = DEFAULT_TENANT.format(name="acme", domain="acme.example",
                                   deliver_to="127.0.0.1:%d" % free_port())
    r = Relayd(tap, tenants={"acme.yaml": tenant},
               main_extra="control_group: %s\n" % OPS)
    try:
        if not tap.ok(r.start(), "relayd starts, control_group %s" % OPS):
            return
        st = os.stat(r.sock)
        tap.eq(stat.S_IMODE(st.st_mode), 0o660, "the socket is 0660")
        tap.eq(grp.getgrgid(st.st_gid).gr_name, OPS,
               "the socket's group is control_group")
        ids = enqueue(r, 4)
        tap.ok(len(ids) == 4 and wait_for(lambda: set(ids) <= queued(r)),
               "four messages wait in the queue")
        if len(ids) != 4:
            return
        op = uid(OPER)

        # The operator's commands.
        rc, out, err = ctl_as(r, OPER, "show", "status")
        tap.eq(rc, 0, "an operator may show status")
        tap.ok(logged(r, r"control: uid %d: show status\n" % op),
               "and it is logged with the operator's uid")
        rc, out, err = ctl_as(r, OPER, "show", "queue")
        tap.ok(rc == 0 and ids[0] in out, "an operator may show the queue")
        rc, out, err = ctl_as(r, OPER, "queue", "hold", ids[0])
        tap.eq(rc, 0, "an operator may hold a message")
        rc, out, err = ctl_as(r, OPER, "queue", "release", ids[0])
        tap.eq(rc, 0, "and release it")
        tap.ok(logged(r, r"control: uid %d: queue hold %s\n" % (op, ids[0]))
               and logged(r, r"control: uid %d: queue release %s\n" %
                          (op, ids[0])), "both logged with the uid")

        # control_admin_group is left out: relayadm, which the operator
        # is not in.
        rc, out, err = ctl_as(r, OPER, "queue", "remove", ids[0])
        tap.eq(rc, 1, "an operator may not remove a message")
        tap.like(err, r"relayctl: permission denied: queue remove needs "
                 r"control_admin_group \(relayadm\)",
                 "refused: permission denied, naming the group")
        rc, out, err = ctl_as(r, OPER, "queue", "bounce", ids[1])
        tap.ok(rc == 1 and "permission denied: queue bounce needs" in err,
               "nor bounce one")
        tap.ok(logged(r, r"control: uid %d: queue remove %s: refused: the "
                      r"caller is not in control_admin_group relayadm" %
                      (op, ids[0])), "the refusal is logged with the uid")
        tap.ok({ids[0], ids[1]} <= queued(r),
               "both messages are still queued")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(r.sock)
        s.sendall(b"frobnicate\n")
        tap.eq(s.recv(4096), b"ERR unknown request\n",
               "a request relayd cannot parse is refused")
        s.close()
        tap.ok(logged(r, r"control: uid 0: request refused: unknown "
                      r"request"), "and logged with the uid")

        rc, out, err = ctl_as(r, OUTSIDER, "show", "status")
        tap.ok(rc == 1 and "Permission denied" in err,
               "someone outside control_group cannot connect")

        # Root may do anything.
        rc, out, err = r.ctl("queue", "remove", ids[3])
        tap.eq(rc, 0, "root may remove a message")
        tap.ok(logged(r, r"control: uid 0: queue remove %s\n" % ids[3]),
               "logged with uid 0")
        tap.ok(wait_for(lambda: ids[3] not in queued(r)), "it is gone")

        # control_admin_group of our own, at a reload.
        r.write_main("control_group: %s\ncontrol_admin_group: %s\n" %
                     (OPS, ADM))
        rc, out, err = r.ctl("reload")
        tap.eq(rc, 0, "reload with control_admin_group %s" % ADM)
        rc, out, err = ctl_as(r, OPER, "queue", "remove", ids[0])
        tap.ok(rc == 1 and "control_admin_group (%s)" % ADM in err,
               "the operator is still refused, and told which group")
        rc, out, err = ctl_as(r, ADMIN, "show", "status")
        tap.eq(rc, 0, "a member of both groups may show status")
        rc, out, err = ctl_as(r, ADMIN, "queue", "remove", ids[0])
        tap.eq(rc, 0, "and, in %s by a supplementary group, remove a "
               "message" % ADM)
        tap.ok(logged(r, r"control: uid %d: queue remove %s\n" %
                      (uid(ADMIN), ids[0])), "logged with its uid")
        tap.ok(wait_for(lambda: ids[0] not in queued(r)), "it is gone")
        # The group itself, with control_group only as a supplementary
        # group: that is enough too.
        rc, out, err = ctl_as(r, OPER, "queue", "bounce", ids[1],
                              group=ADM, groups=[OPS])
        tap.eq(rc, 0, "a caller whose own group is %s may bounce" % ADM)
        tap.ok(logged(r, r"control: uid %d: queue bounce %s\n" %
                      (op, ids[1])), "logged with its uid")
        # And without it, the same user is an operator again.
        rc, out, err = ctl_as(r, OPER, "queue", "remove", ids[2],
                              group=OPS, groups=[OPS])
        tap.ok(rc == 1 and "permission denied" in err,
               "the same user without %s is refused" % ADM)

        r.write_main("control_group: %s\ncontrol_admin_group: nosuch%s\n" %
                     (OPS, tag))
        rc, out, err = r.ctl("reload")
        tap.ok(rc == 1 and "control_admin_group nosuch%s does not exist" %
               tag in err, "a reload to a group that does not exist fails")
        rc, out, err = ctl_as(r, ADMIN, "queue", "remove", ids[2])
        tap.eq(rc, 0, "and the group in force stays")
        tap.ok(r.proc.poll() is None, "relayd still runs")
    finally:
        r.cleanup()


try:
    if tap.ok(setup(), "users and groups made"):
        main()
finally:
    teardown()
tap.done()
