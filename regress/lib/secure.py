"""secure: what DANE and MTA-STS tests need, all on loopback.

    ca = TestCA()                         # a CA of our own (openssl)
    crt, key = ca.issue("mx1.dane.test")  # a certificate it signed
    tlsa_spki(crt)                        # "3 1 1" data for it

    dns = SignedDNS({"dane.test.": [records]}, plain={"plain.test.": [...]},
                    silent=["_25._tcp.mx.dane.test."])
    dns.server                            # the validating resolver

SignedDNS signs each zone with ldns-signzone (Debian's ldnsutils), serves
the signed zones (and the plain ones, unsigned) from one unbound, and runs
a second unbound in front of it that validates, with a trust anchor for
each signed zone: its answers carry the AD bit, as a validating resolver
on the host does.  Names in silent are sent by the validator to a server
that never answers (a look-up that times out, or SERVFAIL).

PolicyServer serves MTA-STS policies over HTTPS with a certificate from a
TestCA; mode "hang" accepts and never answers (a fetch that times out);
raw responses stand for misbehaving servers.
"""
import hashlib
import http.server
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading

from relaytest import free_port, wait_for


def _run(*args, cwd=None):
    return subprocess.run(list(args), check=True, capture_output=True,
                          text=True, cwd=cwd).stdout


class TestCA:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="test-ca.")
        self.crt = os.path.join(self.dir, "ca.pem")
        self.key = os.path.join(self.dir, "ca.key")
        self.n = 0
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", self.key,
             "-out", self.crt, "-days", "3", "-subj", "/CN=relayd test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, *names, chain=False, rsa=False, ips=(), key=None):
        """A certificate for names (the first is the CN), signed by us;
        with chain, the file holds our certificate after it.  An ECDSA
        key, or RSA (2048 bits) with rsa; ips add IP addresses to the
        names; key reuses the key file of an earlier certificate (a
        renewal)."""
        self.n += 1
        base = os.path.join(self.dir, "c%d" % self.n)
        ext = os.path.join(self.dir, "c%d.ext" % self.n)
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join(
                ["DNS:" + n for n in names] + ["IP:" + a for a in ips])
                + "\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
        if key:
            shutil.copyfile(key, base + ".key")
            _run("openssl", "req", "-new", "-key", base + ".key", "-out",
                 base + ".csr", "-subj", "/CN=" + names[0])
        else:
            _run("openssl", "req", "-newkey", "rsa:2048" if rsa else "ec",
                 *([] if rsa else ["-pkeyopt",
                                   "ec_paramgen_curve:prime256v1"]),
                 "-nodes", "-keyout", base + ".key", "-out", base + ".csr",
                 "-subj", "/CN=" + names[0])
        _run("openssl", "x509", "-req", "-in", base + ".csr", "-CA",
             self.crt, "-CAkey", self.key, "-CAcreateserial", "-days", "2",
             "-extfile", ext, "-out", base + ".pem")
        if chain:
            with open(base + ".pem", "a") as f, open(self.crt) as ca:
                f.write(ca.read())
        return base + ".pem", base + ".key"

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _der(pem_file, what):
    if what == "spki":
        pub = _run("openssl", "x509", "-in", pem_file, "-pubkey", "-noout")
        return subprocess.run(["openssl", "pkey", "-pubin", "-outform",
                               "DER"], input=pub.encode(), check=True,
                              capture_output=True).stdout
    return subprocess.run(["openssl", "x509", "-in", pem_file, "-outform",
                           "DER"], check=True, capture_output=True).stdout


def tlsa_spki(pem_file):
    """The data of a "3 1 1" (or "2 1 1") record: SHA-256 of the key."""
    return hashlib.sha256(_der(pem_file, "spki")).hexdigest()


def tlsa_cert(pem_file):
    """The data of a "2 0 1" record: SHA-256 of the whole certificate."""
    return hashlib.sha256(_der(pem_file, "cert")).hexdigest()


def _unbound(conf_path, port, log):
    proc = subprocess.Popen(["unbound", "-d", "-c", conf_path],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def ready():
        p = subprocess.run(["dig", "+short", "+time=1", "+tries=1", "-p",
                            str(port), "@127.0.0.1", "version.invalid", "A"],
                           capture_output=True, text=True)
        return p.returncode == 0
    if not wait_for(ready, 10):
        proc.kill()
        with open(log) as f:
            raise RuntimeError("unbound did not start: " + f.read())
    return proc


def _server_lines(d, name, port):
    return ["server:",
            "  interface: 127.0.0.1@%d" % port,
            "  port: %d" % port,
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            '  directory: "%s"' % d,
            '  pidfile: "%s/%s.pid"' % (d, name),
            "  use-syslog: no",
            '  logfile: "%s/%s.log"' % (d, name),
            "  verbosity: 1",
            "  log-queries: yes",
            "  do-ip6: no",
            "  do-tcp: yes",
            "  access-control: 127.0.0.0/8 allow",
            '  local-zone: "." refuse']


def _silent_server():
    """A UDP and a TCP socket on one loopback port, bound and never read:
    queries sent there go unanswered."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            tcp.listen(1)
            return [udp, tcp]
        except OSError:
            udp.close()
            tcp.close()
    raise RuntimeError("no loopback port free for UDP and TCP")


class SignedDNS:
    def __init__(self, signed, plain=None, silent=()):
        """signed, plain: {zone: [record lines]}; each zone gets an SOA
        and an NS unless it has them; silent: names the validator asks a
        server that never answers."""
        self.dir = tempfile.mkdtemp(prefix="dnssec-test.")
        os.chmod(self.dir, 0o755)
        self.auth_port = free_port()
        self.port = free_port()
        self.procs = []
        self.silent = []
        if silent:
            self.silent = _silent_server()
            self.silent_port = self.silent[0].getsockname()[1]
        anchors = []
        auth = _server_lines(self.dir, "auth", self.auth_port)
        auth.append("  module-config: iterator")
        zones = dict(signed)
        zones.update(plain or {})
        for zone, records in zones.items():
            head = []
            if not any(" SOA " in r for r in records):
                head.append("%s 300 IN SOA ns.%s hostmaster.%s 1 3600 600 "
                            "86400 60" % (zone, zone, zone))
            if not any(" NS " in r for r in records):
                head += ["%s 300 IN NS ns.%s" % (zone, zone),
                         "ns.%s 300 IN A 127.0.0.1" % zone]
            path = os.path.join(self.dir, zone + "zone")
            with open(path, "w") as f:
                f.write("\n".join(head + list(records)) + "\n")
            if zone in signed:
                key = _run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k",
                           zone, cwd=self.dir).strip()
                _run("ldns-signzone", "-o", zone, path, key, cwd=self.dir)
                path += ".signed"
                with open(os.path.join(self.dir, key + ".key")) as f:
                    anchors.append(f.read().split(";")[0].strip()
                                   .replace("\t", " "))
            auth.append('  local-zone: "%s" transparent' % zone)
        for zone in zones:
            sfx = ".signed" if zone in signed else ""
            auth += ["auth-zone:", '  name: "%s"' % zone,
                     '  zonefile: "%s/%szone%s"' % (self.dir, zone, sfx),
                     "  for-downstream: yes", "  for-upstream: no"]
        auth += ["remote-control:", "  control-enable: no"]
        val = _server_lines(self.dir, "validator", self.port)
        val += ['  module-config: "validator iterator"',
                "  do-not-query-localhost: no",
                "  val-log-level: 2"]
        val += ['  trust-anchor: "%s"' % a for a in anchors]
        val += ['  local-zone: "%s" transparent' % z for z in zones]
        for zone in zones:
            val += ["stub-zone:", '  name: "%s"' % zone,
                    "  stub-addr: 127.0.0.1@%d" % self.auth_port]
        for name in silent:
            val += ["stub-zone:", '  name: "%s"' % name,
                    "  stub-addr: 127.0.0.1@%d" % self.silent_port]
        val += ["remote-control:", "  control-enable: no"]
        for name, lines, port in (("auth", auth, self.auth_port),
                                  ("validator", val, self.port)):
            conf = os.path.join(self.dir, name + ".conf")
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            self.procs.append(_unbound(conf, port, os.path.join(
                self.dir, name + ".log")))

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        for sk in self.silent:
            sk.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        srv = self.server.owner
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        with srv.lock:
            srv.requests.append((host, self.path))
        if srv.mode == "hang":
            srv.released.wait(60)
            return
        if host in srv.raw:
            status, headers, data = srv.raw[host]
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        body = srv.policies.get(host)
        if self.path != "/.well-known/mta-sts.txt" or body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class _TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class PolicyServer:
    """HTTPS on addr:port; policies: {"mta-sts.DOMAIN": text}; raw:
    {"mta-sts.DOMAIN": (status, [(header, value)], body bytes)}, answered
    as they are (a redirect, an oversized policy)."""

    def __init__(self, addr, port, cert, key, policies, mode="normal",
                 raw=None):
        self.policies = dict(policies)
        self.raw = dict(raw or {})
        self.mode = mode
        self.requests = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd = _TLSServer((addr, port), _Handler)
        self.httpd.owner = self
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def count(self, host=None):
        with self.lock:
            return sum(1 for h, p in self.requests
                       if host is None or h == host)

    def close(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
