"""tlstest: what the TLS server tests share.

    pki = PKI()                       # a CA, the relay's and two tenants'
    r = tls_relayd(tap, pki, sink)    # mx, smtps and submission listeners
    c = SMTPClient(r.port); c.reply(); c.cmd("EHLO x")
    c.cmd("STARTTLS"); starttls(c, sni="post.acme.test")
    peer(r.port, "post.acme.test")    # what openssl s_client was shown

Certificates are made with openssl when the test runs (secure.TestCA):
the relay's is RSA, for relay.test.example, the tenants' ECDSA, so both
kinds of key go through keyd.
"""
import os
import re
import socket
import ssl
import subprocess

from relaytest import DEFAULT_TENANT, Relayd, free_port
from secure import TestCA

ACME_NAMES = ["post.acme.test", "mail.acme.test"]
BETA_NAMES = ["smtp.beta.test"]


class PKI:
    def __init__(self):
        self.ca = TestCA()
        self.relay = self.ca.issue("relay.test.example", chain=True,
                                   rsa=True)
        self.acme = self.ca.issue(*ACME_NAMES, chain=True)
        self.beta = self.ca.issue(*BETA_NAMES)

    def close(self):
        self.ca.close()


def tenant(name, domain, sink_port, names=None, cert=None, extra=""):
    text = DEFAULT_TENANT.format(name=name, domain=domain,
                                 deliver_to="127.0.0.1:%d" % sink_port)
    if names and cert:
        text += ("tls:\n  names: [%s]\n  certificate: %s\n  key: %s\n" %
                 (", ".join(names), cert[0], cert[1]))
    return text + extra


def main_tls(pki, cert=None):
    crt, key = cert or pki.relay
    return "tls:\n  certificate: %s\n  key: %s\n" % (crt, key)


def tls_relayd(tap, pki, sink, tls=True, **kw):
    """relayd with an mx listener (r.port), an smtps one (r.smtps) and a
    submission one (r.submission), and the relay's certificate; with tls
    False, the mx listener alone and no certificate.  The tenants acme
    (acme.test) and beta (beta.test), each with its own certificate,
    deliver to sink."""
    smtps, sub = free_port(), free_port()
    port = free_port()
    listen = [("127.0.0.1:%d" % port, "mx", "0s")]
    if tls:
        listen += [("127.0.0.1:%d" % sub, "submission", "0s"),
                   ("127.0.0.1:%d" % smtps, "smtps", "0s")]
    tenants = {
        "acme.yaml": tenant("acme", "acme.test", sink.port, ACME_NAMES,
                            pki.acme if tls else None),
        "beta.yaml": tenant("beta", "beta.test", sink.port, BETA_NAMES,
                            pki.beta if tls else None),
    }
    r = Relayd(tap, tenants=tenants, listen=listen,
               main_extra=main_tls(pki) if tls else "",
               timeouts=kw.pop("timeouts", "command: 10s\n"), **kw)
    r.port, r.smtps, r.submission = port, smtps, sub
    return r


def client_ctx(minimum=None, maximum=None):
    """A client that checks nothing, as most MTAs: what the server
    offers is what the test looks at."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if minimum or maximum:
        # Old versions need the lowest security level on the client.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        if minimum:
            ctx.minimum_version = minimum
        if maximum:
            ctx.maximum_version = maximum
    return ctx


def starttls(c, sni=None, ctx=None):
    """The handshake on an SMTPClient whose STARTTLS got its 220; what
    the client had read beyond it is a test failure, not data."""
    assert c.buf == b"", "data after the 220: %r" % c.buf
    c.sock = (ctx or client_ctx()).wrap_socket(c.sock, server_hostname=sni)
    return c.sock


def ehlo_keywords(text):
    return [l[4:].split()[0].upper() for l in text.splitlines()[1:]
            if len(l) > 4]


def peer(port, servername=None, starttls=True, extra=()):
    """What openssl s_client sees: {subject, serial, protocol}, or None
    when the handshake fails."""
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port]
    if starttls:
        args += ["-starttls", "smtp"]
    if servername:
        args += ["-servername", servername]
    else:
        args += ["-noservername"]
    p = subprocess.run(args + list(extra), input=b"QUIT\r\n",
                       capture_output=True, timeout=30)
    out = p.stdout.decode(errors="replace")
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                  out, re.S)
    if not m:
        return None
    x = subprocess.run(["openssl", "x509", "-noout", "-subject", "-serial"],
                       input=m.group(0).encode(), capture_output=True)
    info = dict(l.split("=", 1) for l in x.stdout.decode().splitlines()
                if "=" in l)
    # The SSL-Session block's Protocol line waits for TLS 1.3's session
    # ticket, which a quick QUIT may close the connection before; then
    # "New, TLSv1.3, Cipher is ...", printed at the handshake, says it.
    proto = (re.search(r"Protocol\s*:\s*(\S+)", out) or
             re.search(r"^New, (TLSv1\.3), Cipher is", out, re.M))
    return {"subject": info.get("subject", "").strip(),
            "serial": info.get("serial", "").strip(),
            "protocol": proto.group(1) if proto else None}


def serial(pem):
    x = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", pem],
                       capture_output=True, text=True, check=True)
    return x.stdout.strip().split("=", 1)[1]


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def files(*paths):
    return all(os.path.exists(p) for p in paths)
