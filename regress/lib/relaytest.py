"""relaytest: start a real relayd on loopback with temporary state, and
talk to it.  Used by the integration tests under regress/ (run by prove).

Each test prints TAP through the Tap class.  Tests that need root (the
privilege drop, chroot) skip themselves when run as another user.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.environ.get("RELAYD_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
RELAYD = os.path.join(TOP, "relayd", "relayd")
# The fault-injecting build (make debug): see common/faults.h.
RELAYD_DEBUG = os.path.join(TOP, ".build", "debug", "relayd", "relayd")
RELAYCTL = os.path.join(TOP, "relayctl", "relayctl")
CHILDREN = ["smtpd", "queued", "deliverd", "dnsd", "policyd", "keyd"]
# Started only when configured (metrics.listen).
OPTIONAL_CHILDREN = ["metricsd"]


class Tap:
    """Test Anything Protocol output, counted as we go."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, name),
              flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        r = self.ok(got == want, name)
        if not r:
            self.diag("got  %r" % (got,))
            self.diag("want %r" % (want,))
        return r

    def like(self, got, pattern, name):
        r = self.ok(got is not None and re.search(pattern, got), name)
        if not r:
            self.diag("got %r, want /%s/" % (got, pattern))
        return r

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            print("# " + line, flush=True)

    def skip_all(self, why):
        print("1..0 # SKIP " + why, flush=True)
        sys.exit(0)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def need_root(tap):
    if os.geteuid() != 0:
        tap.skip_all("needs root (privilege drop, chroot)")


def free_port(addr="127.0.0.1"):
    """A TCP port nothing listens on now (good enough on loopback)."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((addr, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10.0, step=0.02):
    """Poll pred() until it returns something true, or time out."""
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            return v
        time.sleep(step)


def yaml_list(items):
    return "[" + ", ".join(items) + "]"


DEFAULT_TENANT = """\
tenant: {name}
postmaster: postmaster@{domain}
domains:
  - {domain}
inbound:
  mode: relay
  deliver_to: [{deliver_to}]
"""


class Relayd:
    """One relayd instance with its own state, config and ports.

    main: extra YAML appended to relayd.yaml (top-level keys not set here).
    tenants: {filename: yaml text} for tenants.d.
    log_addresses: log.addresses, true in tests by default so that they
    can find their messages in the log (a test of the default passes
    False, and the key is left out); log_opts and retention: more lines
    under log: and retention:.
    """

    def __init__(self, tap, main_extra="", tenants=None, listen=None,
                 limits="", timeouts="", queue="", dns=None, keep=False,
                 allow_private_mx=True, dns_opts="", log_addresses=True,
                 log_opts="", retention=""):
        self.tap = tap
        self.dir = tempfile.mkdtemp(prefix="relayd-test.")
        os.chmod(self.dir, 0o755)
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "control.sock")
        self.conf = os.path.join(self.dir, "relayd.yaml")
        self.tenants_dir = os.path.join(self.dir, "tenants.d")
        os.mkdir(self.tenants_dir)
        self.port = free_port()
        self.listen = listen or [("127.0.0.1:%d" % self.port, "mx", "0s")]
        self.proc = None
        self.logpath = os.path.join(self.dir, "relayd.log")
        self.keep = keep or os.environ.get("RELAYD_TEST_KEEP")
        self.main_extra = main_extra
        self.limits = limits
        self.timeouts = timeouts
        self.queue = queue
        self.dns = dns
        self.dns_opts = dns_opts
        self.allow_private_mx = allow_private_mx
        self.log_addresses = log_addresses
        self.log_opts = log_opts
        self.retention = retention
        self.write_main()
        for name, text in (tenants or {}).items():
            self.write_tenant(name, text)

    def write_main(self, extra=None):
        lines = [
            "hostname: relay.test.example",
            "postmaster: hostmaster@test.example",
            "state_dir: " + self.state,
            "control_socket: " + self.sock,
            "tenants_dir: tenants.d",
            "listen:",
        ]
        for addr, mode, delay in self.listen:
            lines += ["  - address: " + addr, "    mode: " + mode,
                      "    greeting_delay: " + delay]
        lines += ["dns:", "  servers: [%s]" % (self.dns or "127.0.0.1:53"),
                  "  timeout: 2s", "  tries: 1"]
        lines += ["  " + l for l in self.dns_opts.strip().splitlines()]
        if self.limits:
            lines += ["limits:"] + ["  " + l for l in
                                    self.limits.strip().splitlines()]
        if self.timeouts:
            lines += ["timeouts:"] + ["  " + l for l in
                                      self.timeouts.strip().splitlines()]
        lines += ["queue:", "  allow_private_mx: %s" %
                  ("true" if self.allow_private_mx else "false")]
        lines += ["  " + l for l in self.queue.strip().splitlines()]
        log = (["addresses: true"] if self.log_addresses else []) + \
            self.log_opts.strip().splitlines()
        if log:
            lines += ["log:"] + ["  " + l for l in log]
        if self.retention:
            lines += ["retention:"] + ["  " + l for l in
                                       self.retention.strip().splitlines()]
        text = "\n".join(lines) + "\n" + (extra if extra is not None
                                          else self.main_extra)
        with open(self.conf, "w") as f:
            f.write(text)

    def write_tenant(self, name, text):
        with open(os.path.join(self.tenants_dir, name), "w") as f:
            f.write(text)

    def start(self, wait=True, args=(), debug=False, env=None, prefix=(),
              verbose=True):
        """Run relayd (the debug build with debug=True; env adds to the
        environment, which relayd passes on to its children; prefix is a
        command to run it under, such as setpriv; verbose=False logs at
        the level of a production run)."""
        self.log_mark = len(self.log())
        self.logf = open(self.logpath, "ab")
        env = dict(os.environ, **(env or {}))
        self.proc = subprocess.Popen(
            list(prefix) + [RELAYD_DEBUG if debug else RELAYD, "-d"] +
            (["-v"] if verbose else []) + ["-f", self.conf] + list(args),
            stdout=self.logf, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        if wait and not self.wait_log(r"configuration 1 is in force", 15):
            self.tap.diag("relayd did not start; log follows")
            self.tap.diag(self.log())
            return False
        return True

    def log(self):
        try:
            with open(self.logpath, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10.0, since_start=True):
        """Wait for pattern in the log of this run (or the whole log)."""
        rx = re.compile(pattern)
        mark = getattr(self, "log_mark", 0) if since_start else 0
        return wait_for(lambda: rx.search(self.log()[mark:]), timeout)

    def ctl(self, *args, sock=None):
        p = subprocess.run([RELAYCTL, "-s", sock or self.sock] + list(args),
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    def children(self):
        """{name: pid} of the children, read from /proc."""
        kids = {}
        if self.proc is None:
            return kids
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    st = f.read()
            except OSError:
                continue
            comm = st[st.index("(") + 1:st.rindex(")")]
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            if ppid == self.proc.pid and (comm in CHILDREN or
                                            comm in OPTIONAL_CHILDREN):
                kids[comm] = int(pid)
        return kids

    def wait_exit(self, timeout=15.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait_exit()
            if rc is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                rc = self.proc.wait()
        self.logf.close()
        return rc

    def cleanup(self):
        self.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            self.tap.diag("kept " + self.dir)


class NotifySocket:
    """The service manager's end of sd_notify(3): a datagram socket at
    a path or, for a name starting with a NUL, an abstract name."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        name = self.sock.getsockname()
        if isinstance(name, bytes):
            name = name.decode()
        # As NOTIFY_SOCKET spells it: abstract names with '@'.
        self.env = "@" + name[1:] if name.startswith("\0") else name

    def next(self, timeout=15):
        """The next datagram as {field: value}, or None."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        return dict(line.split("=", 1) for line in
                    data.decode().splitlines() if "=" in line)

    def wait(self, key, timeout=15):
        """Datagrams up to the first with key=1: (that one, those
        before), or (None, those seen)."""
        seen = []
        end = time.time() + timeout
        while time.time() < end:
            m = self.next(max(0.1, end - time.time()))
            if m is None:
                break
            if m.get(key) == "1":
                return m, seen
            seen.append(m)
        return None, seen

    def quiet(self, seconds=1.0):
        return self.next(seconds) is None

    def close(self):
        self.sock.close()


class SMTPClient:
    """A raw SMTP client: send exactly the bytes a test wants."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=10):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        """Send one command line and read its reply."""
        self.send(line + "\r\n")
        return self.reply()

    def reply(self):
        """Read one (possibly multi-line) reply: (code, text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return (None, "\n".join(lines)) if lines else (None, "")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            line = line.decode("utf-8", "replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                code = int(line[:3]) if line[:3].isdigit() else None
                return (code, "\n".join(lines))

    def closed(self, timeout=5):
        """True when the server has closed the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, ConnectionResetError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def dot_stuff(body):
    """DATA transparency (RFC 5321 4.5.2) for bytes ending in CRLF."""
    out = []
    for line in body.split(b"\r\n"):
        out.append(b"." + line if line.startswith(b".") else line)
    return b"\r\n".join(out)


def send_message(port, sender, rcpts, body, source=None, ehlo="client.example",
                 bdat=False):
    """One whole transaction; returns the final (code, text)."""
    c = SMTPClient(port, source=source, timeout=60)
    try:
        c.reply()
        c.cmd("EHLO " + ehlo)
        code, text = c.cmd("MAIL FROM:<%s>" % sender)
        if code != 250:
            return code, text
        ok = 0
        for r in rcpts:
            code, text = c.cmd("RCPT TO:<%s>" % r)
            ok += code == 250
        if ok == 0:
            return code, text
        if bdat:
            c.send(b"BDAT %d LAST\r\n" % len(body) + body)
            return c.reply()
        code, text = c.cmd("DATA")
        if code != 354:
            return code, text
        c.send(dot_stuff(body) + b".\r\n")
        res = c.reply()
        c.cmd("QUIT")
        return res
    finally:
        c.close()


def queue_id(text):
    m = re.search(r"queued as ([0-9a-f]{16})", text or "")
    return m.group(1) if m else None


def spool_file(r, qid):
    with open(os.path.join(r.state, "spool", qid), "rb") as f:
        return f.read()


def spool_sizes(r):
    d = os.path.join(r.state, "spool")
    out = {}
    try:
        for name in os.listdir(d):
            try:
                out[name] = os.stat(os.path.join(d, name)).st_size
            except OSError:
                pass
    except OSError:
        pass
    return out


def spool_ids(r):
    """The spool files holding a message (each starts with Received:)."""
    return sorted(n for n, size in spool_sizes(r).items() if size > 0)


def spool_spares(r):
    """The empty files smtpd holds for the next transactions."""
    return sorted(n for n, size in spool_sizes(r).items() if size == 0)


def split_received(data):
    """Our Received: field and the rest of a spool file."""
    m = re.match(rb"(Received: [^\r]*\r\n(?:\t[^\r]*\r\n)*)", data)
    if not m:
        return None, data
    return m.group(1), data[m.end():]


def private_mounts(tap):
    """Re-run this test in its own mount namespace, so its mounts (a small
    tmpfs, a loop device) stay its own.  In a chroot, where / is not a
    mount point, propagation cannot be changed; then the test runs only
    if no mount is shared, so nothing it mounts can leak out."""
    if os.environ.get("RELAYD_IN_NS") == "1":
        if os.environ.get("RELAYD_NS_UNCHANGED") == "1":
            with open("/proc/self/mountinfo") as f:
                if " shared:" in f.read():
                    tap.skip_all("mounts are shared and cannot be made "
                                 "private here")
        return
    env = dict(os.environ, RELAYD_IN_NS="1")
    me = [sys.executable, os.path.abspath(sys.argv[0])]
    probe = subprocess.run(["unshare", "-m", "--propagation", "private",
                            "true"], capture_output=True)
    if probe.returncode == 0:
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private"]
                   + me, env)
    env["RELAYD_NS_UNCHANGED"] = "1"
    os.execvpe("unshare", ["unshare", "-m", "--propagation", "unchanged"]
               + me, env)
