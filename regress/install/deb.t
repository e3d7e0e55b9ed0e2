#!/usr/bin/env python3
"""The Debian package, installed the way an operator would: make deb
builds it (lintian clean), apt installs it into a new Debian 12 root
(mmdebstrap, the base cached under /var/tmp) with its dependencies from
the mirror; there, without systemd, the users exist, relayd -n accepts
the packaged configuration, relayd relays a message to a capture server
on loopback (the root shares our network), relayctl reloads it, it
stops; apt-get purge then leaves nothing of it but its system users,
which Debian leaves in place (files may still be theirs).

Needs root and Debian's mirror; skips with the reason otherwise.  Takes
a minute or two, most of it apt."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import debroot  # noqa: E402
import relaytest  # noqa: E402
from debroot import CHROOT_ENV  # noqa: E402
from relaytest import Tap, free_port, send_message, wait_for  # noqa: E402
from sink import Sink  # noqa: E402

USERS = ["relayd-smtpd", "relayd-queue", "relayd-deliver", "relayd-dns",
         "relayd-policy", "relayd-key", "relayd-metrics"]


def packaged_config(text, port):
    """The packaged relayd.yaml, listening on a loopback port instead of
    port 25 on every address, with a name server that is not needed."""
    text = re.sub(r"(?ms)^listen:\n(?:[ -].*?\n)+",
                  "listen:\n  - address: 127.0.0.1:%d\n    mode: mx\n" % port,
                  text)
    return text + "dns:\n  servers: [127.0.0.1:9]\n"


def installed_ok(t, root):
    p = root.run("dpkg-query", "-W", "-f", "${Status} ${Version}",
               "relayd")
    t.eq(p.stdout, "install ok installed 0.1.0"
         if p.returncode == 0 else None,
         "dpkg: relayd %s is installed" % open(
             os.path.join(relaytest.TOP, "VERSION")).read().strip())
    for f in ("/usr/sbin/relayd", "/usr/sbin/relayctl",
              "/usr/libexec/relayd/smtpd", "/usr/libexec/relayd/queued",
              "/usr/libexec/relayd/deliverd", "/usr/libexec/relayd/dnsd",
              "/usr/libexec/relayd/policyd", "/usr/libexec/relayd/keyd",
              "/usr/libexec/relayd/metricsd",
              "/lib/systemd/system/relayd.service",
              "/usr/lib/sysusers.d/relayd.conf",
              "/usr/share/man/man8/relayd.8.gz",
              "/usr/share/man/man8/relayctl.8.gz",
              "/usr/share/man/man5/relayd.yaml.5.gz",
              "/usr/share/man/man5/relayd-tenant.5.gz",
              "/etc/relayd/relayd.yaml",
              "/etc/relayd/tenants.d/example.yaml.sample"):
        t.ok(os.path.exists(root.path(f)), "installed: %s" % f)
    with open(root.path("/var/lib/dpkg/info/relayd.conffiles")) as f:
        t.like(f.read(), r"(?m)^/etc/relayd/relayd\.yaml$",
               "/etc/relayd/relayd.yaml is a conffile")
    p = root.run("getent", "passwd", *USERS)
    t.eq(len(p.stdout.splitlines()), len(USERS),
         "the postinst made the six users, without systemd running")
    t.eq(root.run("getent", "group", "relayadm").returncode, 0,
         "and the relayadm group")
    p = root.run("/usr/sbin/relayd", "-V")
    t.eq(p.stdout.strip(), "relayd 0.1.0", "relayd -V: relayd 0.1.0")


def serve(t, root):
    """Start the installed relayd, relay a message, reload, stop."""
    sink = Sink("127.0.0.1", free_port())
    port = free_port()
    conf = root.path("/etc/relayd/relayd.yaml")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(packaged_config(text, port))
    tenant = relaytest.DEFAULT_TENANT.format(
        name="acme", domain="acme.example",
        deliver_to="127.0.0.1:%d" % sink.port) + (
            "contacts:\n  - email: noc@ops.example\n"
            "    roles: [technical]\n")
    with open(root.path("/etc/relayd/tenants.d/acme.yaml"), "w") as f:
        f.write(tenant)
    p = root.run("/usr/sbin/relayd", "-n")
    t.eq((p.returncode, p.stderr.strip()), (0, "configuration OK: 1 tenants"),
         "relayd -n accepts /etc/relayd/relayd.yaml (ExecStartPre)")
    logpath = root.path("/var/tmp/relayd.log")
    log = open(logpath, "wb")
    proc = subprocess.Popen(["chroot", root.dir, "/usr/sbin/relayd", "-d"],
                            stdout=log, stderr=subprocess.STDOUT,
                            env=CHROOT_ENV, start_new_session=True)

    def logtext():
        with open(logpath, errors="replace") as f:
            return f.read()
    try:
        up = wait_for(lambda: proc.poll() is not None or
                      "configuration 1 is in force" in logtext(), 30)
        if not t.ok(up and proc.poll() is None,
                    "relayd starts in the root, without systemd"):
            t.diag(logtext())
            return
        code, text = send_message(port, "someone@example.org",
                                  ["bob@acme.example"],
                                  b"Subject: packaged\r\n\r\nhello\r\n")
        t.eq(code, 250, "a message is accepted")
        t.ok(sink.wait(1, 60), "and relayed to the capture server")
        if sink.messages:
            t.like(sink.messages[0].data.decode(errors="replace"),
                   r"Subject: packaged\r\n\r\nhello\r\n$",
                   "unaltered")
        with open(root.path("/etc/relayd/tenants.d/beta.yaml"), "w") as f:
            f.write(relaytest.DEFAULT_TENANT.format(
                name="beta", domain="beta.example",
                deliver_to="127.0.0.1:%d" % sink.port))
        p = root.run("/usr/sbin/relayctl", "reload", timeout=60)
        t.eq((p.returncode, p.stderr), (0, ""),
             "relayctl reload (the control socket in /run/relayd)")
        t.like(logtext(), r"configuration 2 is in force in every process",
               "configuration 2 is in force")
        p = root.run("/usr/sbin/relayctl", "show", "status")
        t.like(p.stdout, r"relayd .* running, configuration 2",
               "relayctl show status: configuration 2")
        proc.send_signal(signal.SIGTERM)
        rc = None
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        t.eq(rc, 0, "relayd stops on SIGTERM and exits 0")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        sink.close()


def purged_ok(t, root, owned):
    p = root.run("apt-get", "purge", "-y", "-q", "relayd")
    if not t.eq(p.returncode, 0, "apt-get purge relayd"):
        t.diag(p.stdout + p.stderr)
    p = root.run("dpkg-query", "-W", "-f", "${Status}", "relayd")
    t.ok(p.returncode != 0 or "not-installed" in p.stdout,
         "dpkg: relayd is gone")
    # What was relayd's alone: its files, its directories, what it made.
    shared = set()
    for d in owned:
        q = root.run("dpkg-query", "-S", d)
        if q.returncode == 0:
            shared.add(d)
    left = [f for f in owned + ["/var/lib/relayd", "/run/relayd"]
            if f not in shared and os.path.lexists(root.path(f))]
    t.eq(left, [], "nothing of relayd's is left (%d paths checked)" %
         (len(owned) + 2))
    for d in ("/etc/relayd", "/usr/libexec/relayd", "/var/lib/relayd"):
        t.ok(not os.path.lexists(root.path(d)), "%s is gone (the tenant "
             "files too)" % d if d == "/etc/relayd" else "%s is gone" % d)
    p = root.run("getent", "passwd", *USERS)
    t.eq(len(p.stdout.splitlines()), len(USERS),
         "the system users stay, as Debian leaves them")


def main():
    t = Tap()
    if os.environ.get("SANITIZE") == "1":
        t.skip_all("SANITIZE=1: the package is built without sanitizers, and "
                   "tested in the plain make check")
    if os.geteuid() != 0:
        t.skip_all("needs root (chroot, apt)")
    for tool in ("chroot", "mount", "unshare", "apt-get"):
        if shutil.which(tool) is None:
            t.skip_all("no %s" % tool)
    url = debroot.mirror()
    if not debroot.reachable(url):
        t.skip_all("Debian's mirror (%s) is not reachable" % url)
    debroot.own_mount_namespace()
    t0 = time.time()
    deb = debroot.make_deb(t, relaytest.TOP)
    if not t.ok(deb, "make deb: one package in .build/deb/, lintian "
                "clean (%s)" % (deb and os.path.basename(deb))):
        t.done()
    t1 = time.time()
    base = debroot.base_image(t, url, "bookworm-minbase")
    if not t.ok(base, "a Debian 12 base root (%s)" % base):
        t.done()
    t2 = time.time()
    root = debroot.Root(base)
    try:
        root.mount_api()
        if not t.ok(root.install_deb(t, deb), "apt-get install ./%s in "
                    "the new root, with its dependencies from the mirror"
                    % os.path.basename(deb)):
            t.done()
        t3 = time.time()
        installed_ok(t, root)
        owned = root.run("dpkg-query", "-L", "relayd").stdout.split()
        serve(t, root)
        purged_ok(t, root, [f for f in owned if f != "/."])
        t.diag("make deb %.0fs, base root %.0fs, unpacking and installing "
               "%.0fs, the rest %.0fs" %
               (t1 - t0, t2 - t1, t3 - t2, time.time() - t3))
    finally:
        root.close()
    t.done()


main()
