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
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402
from relaytest import Tap, free_port, send_message, wait_for  # noqa: E402
from sink import Sink  # noqa: E402

CACHE = "/var/tmp/relayd-test"
BASE = os.path.join(CACHE, "bookworm-minbase.tar")
USERS = ["relayd-smtpd", "relayd-queue", "relayd-deliver", "relayd-dns",
         "relayd-policy"]
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
              "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}


def mirror():
    """The Debian mirror this machine's apt uses."""
    try:
        with open("/etc/apt/sources.list.d/debian.sources") as f:
            m = re.search(r"(?m)^URIs:\s*(\S+)", f.read())
            if m:
                return m.group(1)
    except OSError:
        pass
    try:
        with open("/etc/apt/sources.list") as f:
            m = re.search(r"(?m)^deb\s+(?:\[[^]]*\]\s+)?(\S+)", f.read())
            if m:
                return m.group(1)
    except OSError:
        pass
    return None


def reachable(url):
    m = re.match(r"https?://([^/:]+)(?::(\d+))?", url or "")
    if not m:
        return False
    port = int(m.group(2) or (443 if url.startswith("https") else 80))
    try:
        socket.create_connection((m.group(1), port), timeout=10).close()
        return True
    except OSError:
        return False


def own_mount_namespace():
    """Re-run in a private mount namespace, where one can be had, so the
    root's mounts go with us whatever happens; else the finally clause
    unmounts them (in a chroot, / is no mount point to make private)."""
    if os.environ.get("RELAYD_IN_NS") is not None:
        return
    probe = subprocess.run(["unshare", "-m", "--propagation", "private",
                            "true"], capture_output=True)
    env = dict(os.environ, RELAYD_IN_NS="1")
    if probe.returncode == 0:
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private",
                               sys.executable, os.path.abspath(sys.argv[0])],
                   env)


def base_image(t, url):
    """A minimal Debian 12 root as a tarball, built once."""
    if os.path.isfile(BASE) and os.path.getsize(BASE) > 0:
        return True
    if shutil.which("mmdebstrap") is None:
        p = subprocess.run(["apt-get", "install", "-y", "-q",
                            "--no-install-recommends", "mmdebstrap"],
                           capture_output=True, text=True,
                           env=dict(os.environ,
                                    DEBIAN_FRONTEND="noninteractive"))
        if p.returncode != 0:
            t.diag(p.stdout + p.stderr)
            return False
    os.makedirs(CACHE, exist_ok=True)
    # mmdebstrap chooses the format by the name's ending.
    partial = BASE[:-len(".tar")] + ".partial-%d.tar" % os.getpid()
    p = subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase",
                        "bookworm", partial, url],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        t.diag(p.stdout + p.stderr)
        if os.path.exists(partial):
            os.unlink(partial)
        return False
    os.rename(partial, BASE)
    return True


def run_in(root, *argv, timeout=600):
    return subprocess.run(["chroot", root] + list(argv), capture_output=True,
                          text=True, env=CHROOT_ENV, timeout=timeout)


def packaged_config(text, port):
    """The packaged relayd.yaml, listening on a loopback port instead of
    port 25 on every address, with a name server that is not needed."""
    text = re.sub(r"(?ms)^listen:\n(?:[ -].*?\n)+",
                  "listen:\n  - address: 127.0.0.1:%d\n    mode: mx\n" % port,
                  text)
    return text + "dns:\n  servers: [127.0.0.1:9]\n"


class Root:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="relayd-deb.", dir="/var/tmp")
        self.mounts = []

    def path(self, p):
        return os.path.join(self.dir, p.lstrip("/"))

    def mount(self, *argv):
        target = argv[-1]
        subprocess.run(["mount"] + list(argv), check=True)
        self.mounts.append(target)

    def close(self):
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], capture_output=True)
        self.mounts = []
        subprocess.run(["rm", "-rf", "--one-file-system", self.dir])


def installed_ok(t, root):
    p = run_in(root.dir, "dpkg-query", "-W", "-f", "${Status} ${Version}",
               "relayd")
    t.eq(p.stdout, "install ok installed 0.1.0"
         if p.returncode == 0 else None,
         "dpkg: relayd %s is installed" % open(
             os.path.join(relaytest.TOP, "VERSION")).read().strip())
    for f in ("/usr/sbin/relayd", "/usr/sbin/relayctl",
              "/usr/libexec/relayd/smtpd", "/usr/libexec/relayd/queued",
              "/usr/libexec/relayd/deliverd", "/usr/libexec/relayd/dnsd",
              "/usr/libexec/relayd/policyd",
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
    p = run_in(root.dir, "getent", "passwd", *USERS)
    t.eq(len(p.stdout.splitlines()), len(USERS),
         "the postinst made the five users, without systemd running")
    t.eq(run_in(root.dir, "getent", "group", "relayadm").returncode, 0,
         "and the relayadm group")
    p = run_in(root.dir, "/usr/sbin/relayd", "-V")
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
        deliver_to="127.0.0.1:%d" % sink.port)
    with open(root.path("/etc/relayd/tenants.d/acme.yaml"), "w") as f:
        f.write(tenant)
    p = run_in(root.dir, "/usr/sbin/relayd", "-n")
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
        p = run_in(root.dir, "/usr/sbin/relayctl", "reload", timeout=60)
        t.eq((p.returncode, p.stderr), (0, ""),
             "relayctl reload (the control socket in /run/relayd)")
        t.like(logtext(), r"configuration 2 is in force in every process",
               "configuration 2 is in force")
        p = run_in(root.dir, "/usr/sbin/relayctl", "show", "status")
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
    p = run_in(root.dir, "apt-get", "purge", "-y", "-q", "relayd")
    if not t.eq(p.returncode, 0, "apt-get purge relayd"):
        t.diag(p.stdout + p.stderr)
    p = run_in(root.dir, "dpkg-query", "-W", "-f", "${Status}", "relayd")
    t.ok(p.returncode != 0 or "not-installed" in p.stdout,
         "dpkg: relayd is gone")
    # What was relayd's alone: its files, its directories, what it made.
    shared = set()
    for d in owned:
        q = run_in(root.dir, "dpkg-query", "-S", d)
        if q.returncode == 0:
            shared.add(d)
    left = [f for f in owned + ["/var/lib/relayd", "/run/relayd"]
            if f not in shared and os.path.lexists(root.path(f))]
    t.eq(left, [], "nothing of relayd's is left (%d paths checked)" %
         (len(owned) + 2))
    for d in ("/etc/relayd", "/usr/libexec/relayd", "/var/lib/relayd"):
        t.ok(not os.path.lexists(root.path(d)), "%s is gone (the tenant "
             "files too)" % d if d == "/etc/relayd" else "%s is gone" % d)
    p = run_in(root.dir, "getent", "passwd", *USERS)
    t.eq(len(p.stdout.splitlines()), len(USERS),
         "the system users stay, as Debian leaves them")


def main():
    t = Tap()
    if os.geteuid() != 0:
        t.skip_all("needs root (chroot, apt)")
    for tool in ("chroot", "mount", "unshare", "apt-get"):
        if shutil.which(tool) is None:
            t.skip_all("no %s" % tool)
    url = mirror()
    if not reachable(url):
        t.skip_all("Debian's mirror (%s) is not reachable" % url)
    own_mount_namespace()
    t0 = time.time()
    p = subprocess.run(["make", "-s", "-C", relaytest.TOP, "deb"],
                       capture_output=True, text=True, timeout=900)
    if not t.eq(p.returncode, 0, "make deb (lintian clean)"):
        t.diag((p.stdout + p.stderr)[-3000:])
        t.done()
    debs = [f for f in os.listdir(os.path.join(relaytest.TOP, ".build",
                                               "deb"))
            if re.match(r"relayd_[0-9.]+_[a-z0-9]+\.deb$", f)]
    t.eq(len(debs), 1, "one package in .build/deb/: %s" % debs)
    t1 = time.time()
    if not t.ok(base_image(t, url), "a Debian 12 base root (%s)" % BASE):
        t.done()
    t2 = time.time()
    root = Root()
    try:
        subprocess.run(["tar", "-C", root.dir, "-xf", BASE], check=True)
        shutil.copy("/etc/resolv.conf", root.path("/etc/resolv.conf"))
        root.mount("-t", "proc", "proc", root.path("/proc"))
        root.mount("--bind", "/dev", root.path("/dev"))
        shutil.copy(os.path.join(relaytest.TOP, ".build", "deb", debs[0]),
                    root.path("/tmp"))
        os.chmod(root.path("/tmp/" + debs[0]), 0o644)
        p = run_in(root.dir, "apt-get", "update", "-q")
        if not t.eq(p.returncode, 0, "apt-get update in the new root"):
            t.diag(p.stdout + p.stderr)
            t.done()
        t3 = time.time()
        p = run_in(root.dir, "apt-get", "install", "-y", "-q",
                   "--no-install-recommends", "/tmp/" + debs[0])
        if not t.eq(p.returncode, 0, "apt-get install ./%s, with its "
                    "dependencies from the mirror" % debs[0]):
            t.diag((p.stdout + p.stderr)[-3000:])
            t.done()
        t4 = time.time()
        installed_ok(t, root)
        owned = run_in(root.dir, "dpkg-query", "-L",
                       "relayd").stdout.split()
        serve(t, root)
        purged_ok(t, root, [f for f in owned if f not in ("/.",)])
        t.diag("make deb %.0fs, base root %.0fs, unpacking and apt-get "
               "update %.0fs, install %.0fs, the rest %.0fs" %
               (t1 - t0, t2 - t1, t3 - t2, t4 - t3, time.time() - t4))
    finally:
        root.close()
    t.done()


main()
