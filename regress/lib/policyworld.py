"""policyworld: relayd with several tenants whose policy: the tests set,
the capture sink as every tenant's server, and a real unbound serving the
zones policyd asks: DNS lists, SPF records and sender domains, with a zone
whose name server never answers (silent.test).

Clients bind addresses of 127.0.1.0/24 and 127.0.2.0/24, so that their
/24 keys differ, and, for IPv6, addresses added to lo in two /64s of
2001:db8::/32 (add_v6)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnstest import Unbound  # noqa: E402
from relaytest import (Relayd, SMTPClient, dot_stuff, free_port,  # noqa: E402
                       wait_for)
from sink import Sink  # noqa: E402

TENANT = """\
tenant: {name}
postmaster: postmaster@{name}.example
domains: [{name}.example]
inbound:
  mode: {mode}
  deliver_to: [{sink}]
"""

SINK_ADDR = "127.0.0.20"

# Sender domains and SPF records (the zone "snd.test.").
SENDERS = [
    "good.snd.test. 300 IN MX 10 mx.good.snd.test.",
    "mx.good.snd.test. 300 IN A 1.2.3.4",
    "amx.snd.test. 300 IN A 1.2.3.5",
    "bogon10.snd.test. 300 IN MX 10 mx.bogon10.snd.test.",
    "mx.bogon10.snd.test. 300 IN A 10.0.0.1",
    "bogon127.snd.test. 300 IN MX 10 mx.bogon127.snd.test.",
    "mx.bogon127.snd.test. 300 IN A 127.0.0.1",
    "nullmx.snd.test. 300 IN MX 0 .",
    # SPF: the clients' networks pass.
    'pass.snd.test. 300 IN TXT "v=spf1 ip4:127.0.1.0/24 ip4:127.0.2.0/24 '
    'ip6:2001:db8::/32 -all"',
    "pass.snd.test. 300 IN MX 10 mx.good.snd.test.",
    'pass2.snd.test. 300 IN TXT "v=spf1 ip4:127.0.1.0/24 ip4:127.0.2.0/24 '
    '-all"',
    "pass2.snd.test. 300 IN MX 10 mx.good.snd.test.",
    'fail.snd.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"',
    "fail.snd.test. 300 IN MX 10 mx.good.snd.test.",
    'soft.snd.test. 300 IN TXT "v=spf1 ~all"',
    "soft.snd.test. 300 IN MX 10 mx.good.snd.test.",
    'neutral.snd.test. 300 IN TXT "v=spf1 ?all"',
    "neutral.snd.test. 300 IN MX 10 mx.good.snd.test.",
    'perm.snd.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all moo"',
    "perm.snd.test. 300 IN MX 10 mx.good.snd.test.",
    'tempinc.snd.test. 300 IN TXT "v=spf1 include:x.silent.test -all"',
    "tempinc.snd.test. 300 IN MX 10 mx.good.snd.test.",
]


def v6_supported():
    return os.path.exists("/proc/net/if_inet6")


class V6Addresses:
    """Addresses added to lo for the test, and removed after it (only
    those this test added)."""

    def __init__(self):
        self.added = []

    def add(self, addr):
        p = subprocess.run(["ip", "-6", "addr", "add", addr + "/128", "dev",
                            "lo", "nodad"], capture_output=True, text=True)
        if p.returncode == 0:
            self.added.append(addr)
            return True
        return "File exists" in p.stderr

    def remove(self):
        for a in self.added:
            subprocess.run(["ip", "-6", "addr", "del", a + "/128", "dev",
                            "lo"], capture_output=True)
        self.added = []


class PolicyWorld:
    def __init__(self, tap, tenants, zones=None, silent=("silent.test.",),
                 limits="", timeouts="", main_extra="", listen=None,
                 v6=False, dns=None, dns_timeout=None):
        """tenants: {name: YAML added to its file}, each with the domain
        NAME.example, in relay mode; or {name: (mode, YAML)}; zones: more
        zones for unbound; listen: a function of the port giving
        Relayd.listen; v6: listen on [::1] too, on the same port;
        dns_timeout: dnsd's, instead of 2s."""
        self.tap = tap
        self.sink_port = free_port(SINK_ADDR)
        z = {"snd.test.": list(SENDERS)}
        for name, recs in (zones or {}).items():
            z[name] = z.get(name, []) + list(recs)
        self.dns = dns or Unbound(z, silent=silent)
        self.sink = Sink(SINK_ADDR, self.sink_port)
        files = {}
        for name, extra in tenants.items():
            files[name + ".yaml"] = self.tenant_text(name, extra)
        self.r = Relayd(tap, tenants=files, dns=self.dns.server,
                        limits=limits, main_extra=main_extra,
                        timeouts=timeouts or "command: 30s\ndata: 30s\n")
        self.port = self.r.port
        if listen is not None:
            self.r.listen = listen(self.port)
        elif v6:
            self.r.listen = [("127.0.0.1:%d" % self.port, "mx", "0s"),
                             ('"[::1]:%d"' % self.port, "mx", "0s")]
        self.r.write_main()
        if dns_timeout:
            with open(self.r.conf) as f:
                text = f.read()
            with open(self.r.conf, "w") as f:
                f.write(text.replace("\n  timeout: 2s\n",
                                     "\n  timeout: %s\n" % dns_timeout, 1))

    def tenant_text(self, name, extra):
        mode = "relay"
        if isinstance(extra, tuple):
            mode, extra = extra
        return TENANT.format(name=name, mode=mode,
                             sink="%s:%d" % (SINK_ADDR, self.sink_port)) + \
            extra

    def start(self, **kw):
        return self.r.start(**kw)

    def connect(self, source=None, host=None, port=None, timeout=30):
        """(client, greeting) or (None, error text)."""
        if host is None:
            host = "::1" if source and ":" in source else "127.0.0.1"
        try:
            c = SMTPClient(port or self.port, host=host, source=source,
                           timeout=timeout)
        except OSError as e:
            return None, str(e)
        try:
            return c, c.reply()
        except OSError as e:
            c.close()
            return None, str(e)

    def session(self, source, sender, rcpts, body=None, ehlo="client.example",
                host=None, quit=True):
        """One transaction; {"greeting", "mail", "rcpt": [...], "data",
        "end"} as (code, text); a reply not reached is absent.  body None:
        no DATA (RSET instead)."""
        out = {"rcpt": []}
        c, g = self.connect(source, host)
        if c is None:
            out["greeting"] = (None, g)
            return out
        try:
            out["greeting"] = g
            if g[0] != 220:
                return out
            c.cmd("EHLO " + ehlo)
            out["mail"] = c.cmd("MAIL FROM:<%s>" % sender)
            if out["mail"][0] != 250:
                return out
            for r in rcpts:
                out["rcpt"].append(c.cmd("RCPT TO:<%s>" % r))
            if body is None or not any(r[0] == 250 for r in out["rcpt"]):
                c.cmd("RSET")
            else:
                out["data"] = c.cmd("DATA")
                if out["data"][0] == 354:
                    c.send(dot_stuff(body) + b".\r\n")
                    out["end"] = c.reply()
            if quit:
                c.cmd("QUIT")
            return out
        except OSError as e:
            out["error"] = str(e)
            return out
        finally:
            c.close()

    def rcpt_reply(self, source, sender, rcpt, **kw):
        """The reply to one RCPT, or to what came before it if refused."""
        out = self.session(source, sender, [rcpt], **kw)
        if out["rcpt"]:
            return out["rcpt"][0]
        return out.get("mail") or out.get("greeting")

    def delivered(self, n, timeout=30):
        return wait_for(lambda: len(self.sink.messages) >= n, timeout)

    def log_has(self, pattern, timeout=10):
        return self.r.wait_log(pattern, timeout)

    def log_since(self, mark):
        return self.r.log()[mark:]

    def stop(self):
        self.sink.close()
        self.r.cleanup()
        self.dns.stop()


def code(reply):
    """'451 4.7.1' of a reply, for messages."""
    if not reply or reply[0] is None:
        return None
    m = re.match(r"^(\d{3})(?:[ -](\d\.\d{1,3}\.\d{1,3}))?", reply[1])
    return "%s %s" % (m.group(1), m.group(2)) if m and m.group(2) else \
        str(reply[0])
