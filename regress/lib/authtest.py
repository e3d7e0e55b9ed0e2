"""authtest: what the AUTH tests share.

    dv = Dovecot(USERS); dv.start()
    r = auth_relayd(tap, pki, sink, dv)   # mx, submission, smtps listeners
    c, ehlo = tls_client(r.port, sni="post.acme.test")
    c.cmd("AUTH PLAIN " + plain("alice@acme.test", PASS))

The tenant acme (acme.test) checks AUTH against dv with realm acme.test;
beta (beta.test) has no auth:.  Both deliver to sink.
"""
import base64

from relaytest import Relayd, SMTPClient, free_port
from tlstest import ACME_NAMES, main_tls, starttls, tenant

PASS = "s3cret-Alice-7f2b"
WRONG = "wrong-Pass-91c4"
USERS = {"alice@acme.test": PASS}


def b64(s):
    return base64.b64encode(s.encode()).decode()


def plain(user, password):
    return b64("\0%s\0%s" % (user, password))


def auth_relayd(tap, pki, sink, dv, auth_extra="", limits="", endpoint=None,
                **kw):
    auth = ("auth:\n  dovecot: %s\n  realm: acme.test\n" %
            (endpoint or "unix:" + dv.socket) + auth_extra)
    sub, smtps, port = free_port(), free_port(), free_port()
    listen = [("127.0.0.1:%d" % port, "mx", "0s"),
              ("127.0.0.1:%d" % sub, "submission", "0s"),
              ("127.0.0.1:%d" % smtps, "smtps", "0s")]
    tenants = {
        "acme.yaml": tenant("acme", "acme.test", sink.port, ACME_NAMES,
                            pki.acme, extra=auth),
        "beta.yaml": tenant("beta", "beta.test", sink.port),
    }
    r = Relayd(tap, tenants=tenants, listen=listen,
               main_extra=main_tls(pki),
               limits=limits or "auth_failure_rate: 5\n",
               timeouts="command: 30s\n", **kw)
    r.port, r.submission, r.smtps = port, sub, smtps
    return r


def tls_client(port, sni=None, source=None):
    """A session under STARTTLS, after its second EHLO: (client, text)."""
    c = SMTPClient(port, source=source, timeout=30)
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("STARTTLS")
    starttls(c, sni=sni)
    code, text = c.cmd("EHLO client.example")
    return c, text


def message(c, sender="alice@acme.test", rcpt="bob@elsewhere.example"):
    """One transaction on an open session: the final reply code."""
    code, _ = c.cmd("MAIL FROM:<%s>" % sender)
    if code != 250:
        return code
    code, _ = c.cmd("RCPT TO:<%s>" % rcpt)
    if code != 250:
        c.cmd("RSET")
        return code
    code, _ = c.cmd("DATA")
    if code != 354:
        return code
    code, _ = c.cmd("Subject: auth\r\n\r\nhello\r\n.")
    return code
