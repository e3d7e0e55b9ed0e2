"""world: a small Internet on loopback for delivery tests.

unbound serves the test zones; capture sinks listen on 127.0.0.2 and up,
all on one port, which relayd uses as queue.smtp_port; the tenant acme
(acme.example) has its own server on 127.0.0.20, and the network
127.0.0.9/32 may relay out.  Sinks are started on demand so a test can
leave an address with nobody listening (connection refused)."""
import email
import email.policy
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnstest import Unbound  # noqa: E402
from relaytest import (Relayd, free_port, send_message,  # noqa: E402
                       wait_for)
from sink import Sink  # noqa: E402

ZONES = {
    # Two MX hosts by preference.
    "remote.test.": [
        "remote.test. 300 IN MX 10 mx1.remote.test.",
        "remote.test. 300 IN MX 20 mx2.remote.test.",
        "mx1.remote.test. 300 IN A 127.0.0.2",
        "mx2.remote.test. 300 IN A 127.0.0.3",
        # No MX: the address record (implicit MX).
        "nomx.remote.test. 300 IN A 127.0.0.5",
        # Null MX, RFC 7505.
        "nullmx.remote.test. 300 IN MX 0 .",
        # Our own host name among the MX hosts.
        "loop.remote.test. 300 IN MX 10 relay.test.example.",
        "loop.remote.test. 300 IN MX 20 mx2.remote.test.",
        "behind.remote.test. 300 IN MX 10 mx1.remote.test.",
        "behind.remote.test. 300 IN MX 20 relay.test.example.",
        # Senders get their notices here.
        "sender.test. 300 IN MX 10 mx.sender.test.",
        "mx.sender.test. 300 IN A 127.0.0.6",
        # An MX on a private address, skipped without allow_private_mx.
        "private.remote.test. 300 IN MX 10 mx.private.remote.test.",
        "mx.private.remote.test. 300 IN A 10.1.2.3",
    ],
}

TENANT = """\
tenant: acme
postmaster: postmaster@acme.example
domains: [acme.example]
inbound:
  mode: {mode}
  deliver_to: [{deliver_to}]
  hold: {hold}
{inbound_extra}outbound:
  networks: [127.0.0.9/32]
  allow_bare_newlines: {bare}
"""

INSIDE = "127.0.0.9"


class World:
    def __init__(self, tap, queue="", main_extra="", mode="relay",
                 hold="8d", deliver_to=None, dns_extra=None,
                 allow_private_mx=True, deny=("blackhole.test.",),
                 timeouts=None, limits="", allow_bare=False, dns_opts="",
                 port=None, dns=None, tenant_extra="", inbound_extra="",
                 log_addresses=True, log_opts="", retention=""):
        """port: the sinks' port (chosen before, e.g. for TLSA names);
        dns: a DNS server of the test's own (secure.SignedDNS), stopped
        with the world, instead of unbound with the zones above;
        tenant_extra: YAML added to the tenant's file (e.g. policy:);
        inbound_extra: keys added to its inbound: (indented by two)."""
        self.tap = tap
        self.port = port or free_port()
        zones = dict(ZONES)
        if dns_extra:
            for z, recs in dns_extra.items():
                zones[z] = zones.get(z, []) + recs
        self.dns = dns or Unbound(zones, deny=deny)
        self.sinks = {}
        self.tenant_addr = "127.0.0.20"
        tenant = TENANT.format(mode=mode, hold=hold,
                               inbound_extra=inbound_extra,
                               bare="true" if allow_bare else "false",
                               deliver_to=deliver_to or "%s:%d" % (
                                   self.tenant_addr, self.port))
        tenant += tenant_extra
        self.r = Relayd(tap, tenants={"acme.yaml": tenant},
                        dns=self.dns.server, main_extra=main_extra,
                        queue="smtp_port: %d\n" % self.port + queue,
                        allow_private_mx=allow_private_mx,
                        timeouts=timeouts or "command: 5s\ndata: 10s\n",
                        limits=limits, dns_opts=dns_opts,
                        log_addresses=log_addresses, log_opts=log_opts,
                        retention=retention)

    def sink(self, addr, **kw):
        s = Sink(addr, self.port, **kw)
        self.sinks[addr] = s
        return s

    def start(self, **kw):
        return self.r.start(**kw)

    def send(self, sender, rcpts, body=b"Subject: test\r\n\r\nhello\r\n",
             inside=False, **kw):
        return send_message(self.r.port, sender, rcpts, body,
                            source=INSIDE if inside else None, **kw)

    def queue_lines(self):
        rc, out, err = self.r.ctl("show", "queue")
        return out.splitlines()[1:]

    def queue_empty(self, timeout=10):
        return wait_for(lambda: self.queue_lines() == [], timeout)

    def log_has(self, pattern, timeout=10):
        return self.r.wait_log(pattern, timeout)

    def stop(self):
        for s in self.sinks.values():
            s.close()
        self.r.cleanup()
        self.dns.stop()


def parse_dsn(data):
    """A notice as (message, {part content type: payload})."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    parts = {}
    for p in msg.walk():
        if p.is_multipart():
            continue
        parts[p.get_content_type()] = p.get_payload(decode=False)
    for p in msg.get_payload() if msg.is_multipart() else []:
        ct = p.get_content_type()
        if ct in ("message/delivery-status", "message/rfc822",
                  "message/global-delivery-status"):
            parts[ct] = p.as_string()
    return msg, parts


def dsn_fields(text):
    return dict((k.strip().lower(), v.strip()) for k, v in
                re.findall(r"^([A-Za-z-]+):(.*)$", text, re.M))
