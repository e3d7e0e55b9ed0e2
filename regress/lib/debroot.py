"""debroot: a new Debian 12 root for the tests that install the package
(regress/install/).  The base is built once with mmdebstrap from this
machine's mirror and cached as a tarball under /var/tmp/relayd-test; each
test unpacks it afresh and removes it at the end.

    url = mirror()                       # None: no mirror configured
    reachable(url)                       # can we talk to it?
    own_mount_namespace()                # mounts go with the test
    base_image(tap, url, "name", ["systemd"])  # the cached tarball
    root = Root(tarball); root.run("apt-get", "update")
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

CACHE = "/var/tmp/relayd-test"
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
              "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}


def mirror():
    """The Debian mirror this machine's apt uses."""
    for path, rx in (("/etc/apt/sources.list.d/debian.sources",
                      r"(?m)^URIs:\s*(\S+)"),
                     ("/etc/apt/sources.list",
                      r"(?m)^deb\s+(?:\[[^]]*\]\s+)?(\S+)")):
        try:
            with open(path) as f:
                m = re.search(rx, f.read())
        except OSError:
            continue
        if m:
            return m.group(1)
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
    """Re-run this test in a private mount namespace where one can be
    had, so the root's mounts go with it whatever happens; otherwise
    (in a chroot, / is no mount point to make private) Root.close
    unmounts them."""
    if os.environ.get("RELAYD_IN_NS") is not None:
        return
    probe = subprocess.run(["unshare", "-m", "--propagation", "private",
                            "true"], capture_output=True)
    if probe.returncode == 0:
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private",
                               sys.executable, os.path.abspath(sys.argv[0])],
                   dict(os.environ, RELAYD_IN_NS="1"))


def need_tool(tap, tool, package):
    """The tool, installed from Debian when it is missing; False if it
    cannot be had (said in a diagnostic)."""
    if shutil.which(tool) is not None:
        return True
    p = subprocess.run(["apt-get", "install", "-y", "-q",
                        "--no-install-recommends", package],
                       capture_output=True, text=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if p.returncode != 0:
        tap.diag("apt-get install %s: %s" % (package, p.stderr[-500:]))
    return shutil.which(tool) is not None


def base_image(tap, url, name, include=()):
    """The cached tarball of a minimal bookworm root with include."""
    path = os.path.join(CACHE, name + ".tar")
    if os.path.isfile(path) and os.path.getsize(path) > 0:
        return path
    if not need_tool(tap, "mmdebstrap", "mmdebstrap"):
        return None
    os.makedirs(CACHE, exist_ok=True)
    # mmdebstrap chooses the format by the name's ending.
    partial = os.path.join(CACHE, "%s.partial-%d.tar" % (name, os.getpid()))
    argv = ["mmdebstrap", "--quiet", "--variant=minbase"]
    if include:
        argv.append("--include=" + ",".join(include))
    p = subprocess.run(argv + ["bookworm", partial, url],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        tap.diag(p.stdout + p.stderr)
        if os.path.exists(partial):
            os.unlink(partial)
        return None
    os.rename(partial, path)
    return path


class Root:
    """A root unpacked from a base tarball, under /var/tmp."""

    def __init__(self, tarball):
        self.dir = tempfile.mkdtemp(prefix="relayd-root.", dir="/var/tmp")
        self.mounts = []
        subprocess.run(["tar", "-C", self.dir, "-xf", tarball], check=True)
        shutil.copy("/etc/resolv.conf", self.path("/etc/resolv.conf"))

    def path(self, p):
        return os.path.join(self.dir, p.lstrip("/"))

    def write(self, p, text, mode=0o644):
        with open(self.path(p), "w") as f:
            f.write(text)
        os.chmod(self.path(p), mode)

    def mount_api(self):
        """/proc and /dev, for apt and for what runs in the root."""
        for argv in (["-t", "proc", "proc", self.path("/proc")],
                     ["--bind", "/dev", self.path("/dev")]):
            subprocess.run(["mount"] + argv, check=True)
            self.mounts.append(argv[-1])

    def unmount(self):
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], capture_output=True)
        self.mounts = []

    def run(self, *argv, timeout=600):
        return subprocess.run(["chroot", self.dir] + list(argv),
                              capture_output=True, text=True,
                              env=CHROOT_ENV, timeout=timeout)

    def install_deb(self, tap, deb):
        """apt-get update, then the package with its dependencies from
        the mirror; True when both worked."""
        shutil.copy(deb, self.path("/tmp"))
        os.chmod(self.path("/tmp/" + os.path.basename(deb)), 0o644)
        p = self.run("apt-get", "update", "-q")
        if p.returncode == 0:
            p = self.run("apt-get", "install", "-y", "-q",
                         "--no-install-recommends",
                         "/tmp/" + os.path.basename(deb))
        if p.returncode != 0:
            tap.diag((p.stdout + p.stderr)[-3000:])
        return p.returncode == 0

    def close(self):
        self.unmount()
        subprocess.run(["rm", "-rf", "--one-file-system", self.dir])


def built_deb(top):
    out = os.path.join(top, ".build", "deb")
    try:
        debs = [f for f in os.listdir(out)
                if re.match(r"relayd_[0-9.]+_[a-z0-9]+\.deb$", f)]
    except OSError:
        return None
    return os.path.join(out, debs[0]) if len(debs) == 1 else None


def fresh(top, deb):
    """Is deb newer than every source file (those git knows of)?"""
    p = subprocess.run(["git", "-C", top, "ls-files", "-co",
                        "--exclude-standard", "-z"], capture_output=True)
    if p.returncode != 0:
        return False
    when = os.path.getmtime(deb)
    for name in p.stdout.decode(errors="replace").split("\0"):
        try:
            if name and os.lstat(os.path.join(top, name)).st_mtime > when:
                return False
        except OSError:
            continue
    return True


def make_deb(tap, top, reuse=False):
    """make deb in the tree (with reuse, only when the .deb there is
    older than a source file); the path of the .deb, or None."""
    deb = built_deb(top)
    if reuse and deb is not None and fresh(top, deb):
        return deb
    p = subprocess.run(["make", "-s", "-C", top, "deb"], capture_output=True,
                       text=True, timeout=900)
    if p.returncode != 0:
        tap.diag((p.stdout + p.stderr)[-3000:])
        return None
    return built_deb(top)
