"""dnstest: a real DNS server for the tests.  Debian's unbound, on a
loopback port, serving test zones from local-data; names outside them are
refused, and zones can be made to drop queries (local-zone deny), so a
look-up times out.  Queries are logged, for tests of the cache.

Zones given as auth are resolved the way a recursive resolver resolves
the Internet's (unbound's auth-zone, for-upstream): CNAMEs are chased,
and a CNAME loop ends in SERVFAIL.  Zones given as silent are delegated
to a name server on loopback that never answers."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from relaytest import free_port, wait_for


def free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 just now."""
    while True:
        port = free_port()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()


class Unbound:
    def __init__(self, zones, deny=(), auth=None, silent=()):
        """zones: {zone: [record lines]}, e.g.
        {"mx.test.": ["mx.test. 300 IN MX 10 a.mx.test.",
                      "a.mx.test. 300 IN A 127.0.0.2"]}
        Each zone gets an SOA (negative TTL 60) unless it has one.
        auth: the same, as zone files (absolute names) resolved through
        recursion; silent: zone names nobody answers for."""
        self.dir = tempfile.mkdtemp(prefix="unbound-test.")
        os.chmod(self.dir, 0o755)
        self.port = free_udp_tcp_port()
        self.log = os.path.join(self.dir, "unbound.log")
        conf = os.path.join(self.dir, "unbound.conf")
        lines = ["server:",
                 "  interface: 127.0.0.1@%d" % self.port,
                 "  port: %d" % self.port,
                 "  do-daemonize: no",
                 '  username: ""',
                 '  chroot: ""',
                 '  directory: "%s"' % self.dir,
                 '  pidfile: "%s/unbound.pid"' % self.dir,
                 "  use-syslog: no",
                 '  logfile: "%s"' % self.log,
                 "  verbosity: 1",
                 "  log-queries: yes",
                 "  do-ip6: no",
                 "  do-tcp: yes",
                 "  access-control: 127.0.0.0/8 allow",
                 "  module-config: iterator",
                 '  local-zone: "." refuse']
        for zone, records in zones.items():
            lines.append('  local-zone: "%s" static' % zone)
            if not any(" SOA " in r for r in records):
                records = ["%s 300 IN SOA ns.%s hostmaster.%s 1 3600 600 "
                           "86400 60" % (zone, zone, zone)] + list(records)
            for r in records:
                # unbound takes a TXT string's quotes inside single ones.
                lines.append("  local-data: '%s'" % r if '"' in r else
                             '  local-data: "%s"' % r)
        for zone in deny:
            lines.append('  local-zone: "%s" deny' % zone)
        self.silent = None
        if silent:
            # Bound and never read: queries wait in its buffer.
            self.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.silent.bind(("127.0.0.1", 0))
            lines.append("  do-not-query-localhost: no")
        for zone in list((auth or {}).keys()) + list(silent):
            lines.append('  local-zone: "%s" transparent' % zone)
        for zone in silent:
            lines += ["stub-zone:", '  name: "%s"' % zone,
                      "  stub-addr: 127.0.0.1@%d" %
                      self.silent.getsockname()[1]]
        for zone, records in (auth or {}).items():
            path = os.path.join(self.dir, zone + "zone")
            if not any(" SOA " in r for r in records):
                records = ["%s 300 IN SOA ns.%s hostmaster.%s 1 3600 600 "
                           "86400 60" % (zone, zone, zone),
                           "%s 300 IN NS ns.%s" % (zone, zone),
                           "ns.%s 300 IN A 127.0.0.1" % zone] + list(records)
            with open(path, "w") as f:
                f.write("\n".join(records) + "\n")
            lines += ["auth-zone:", '  name: "%s"' % zone,
                      '  zonefile: "%s"' % path, "  for-downstream: no",
                      "  for-upstream: yes"]
        lines += ["remote-control:", "  control-enable: no"]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.conf = conf
        self.start()

    def start(self):
        """Start unbound; a port taken since it was chosen (another
        test's UDP socket, from the same ephemeral range) makes it exit at
        once: then again on a fresh one."""
        for _ in range(5):
            self.proc = subprocess.Popen(["unbound", "-d", "-c", self.conf],
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            if wait_for(lambda: self.ready() or self.proc.poll() is not None,
                        30) and self.proc.poll() is None:
                self.proc.stderr.close()
                return
            err = self.proc.stderr.read().decode(errors="replace") \
                if self.proc.poll() is not None else "no answer in 30s"
            self.proc.kill()
            self.proc.wait()
            self.proc.stderr.close()
            old = self.port
            self.port = free_udp_tcp_port()
            with open(self.conf) as f:
                text = f.read()
            with open(self.conf, "w") as f:
                f.write(text.replace("@%d\n" % old, "@%d\n" % self.port)
                        .replace("port: %d\n" % old, "port: %d\n" %
                                 self.port))
        raise RuntimeError("unbound did not start: %s %s" %
                           (err, self.read_log()))

    def ready(self):
        p = subprocess.run(["dig", "+short", "+time=1", "+tries=1", "-p",
                            str(self.port), "@127.0.0.1", "version.invalid",
                            "A"], capture_output=True, text=True)
        return p.returncode == 0

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def queries(self, name, qtype):
        """How many times name/qtype was asked (from the query log)."""
        needle = " %s %s IN" % (name.rstrip(".") + ".", qtype)
        return sum(1 for l in self.read_log().splitlines() if needle in l)

    def stop(self):
        if self.silent is not None:
            self.silent.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
