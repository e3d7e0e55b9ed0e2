#!/usr/bin/env python3
"""inbound.tls: how deliverd reaches a tenant's own servers.

required: a server without STARTTLS gets nothing; the mail is deferred
with 4.7.5, logged, and delivered under TLS once the server offers it.
verify: a server whose certificate is from a CA not in tls.ca_file, or
for another name, gets nothing either (4.7.5); one with a certificate
from that CA for the deliver_to address gets the mail, logged
verified=pkix.  opportunistic (the default) still delivers in plain text
to a server without STARTTLS."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (Relayd, Tap, free_port, need_root,  # noqa: E402
                       send_message, wait_for)
from secure import TestCA  # noqa: E402
from sink import Sink  # noqa: E402

tap = Tap()
need_root(tap)

PORT = free_port("127.0.0.21")
TENANT = """\
tenant: {name}
postmaster: postmaster@{name}.test
domains: [{name}.test]
inbound:
  deliver_to: [{addr}:{port}]
{tls}"""
TENANTS = {
    "req": ("127.0.0.21", "  tls: required\n"),
    "ver": ("127.0.0.22", "  tls: verify\n"),
    "good": ("127.0.0.23", "  tls: verify\n"),
    "wrong": ("127.0.0.24", "  tls: verify\n"),
    "opp": ("127.0.0.25", ""),
}


def send(to):
    code, text = send_message(r.port, "sender@example.org", [to],
                              b"Subject: inbound.tls\r\n\r\nhello\r\n")
    return code


def deferred(name, pattern):
    return r.wait_log(r"tenant=%s .*to=<alice@%s\.test> .*dsn=4\.7\.5 "
                      r"status=deferred \(%s" % (name, name, pattern), 30)


ca = TestCA()
good = ca.issue("good.test", ips=["127.0.0.23"])
wrong = ca.issue("other.test", ips=["127.0.0.99"])
r = Relayd(tap, tenants={
    n + ".yaml": TENANT.format(name=n, addr=a, port=PORT, tls=t)
    for n, (a, t) in TENANTS.items()},
    main_extra="tls:\n  ca_file: %s\n" % ca.crt,
    queue="retry_min: 1s\nretry_max: 2s\n")
sinks = {"req": Sink("127.0.0.21", PORT),
         "ver": Sink("127.0.0.22", PORT, starttls=True),
         "good": Sink("127.0.0.23", PORT, starttls=True, cert=good),
         "wrong": Sink("127.0.0.24", PORT, starttls=True, cert=wrong),
         "opp": Sink("127.0.0.25", PORT)}


def start():
    """A relayd without inbound.tls (before it) runs without it, so
    that what it does with the mail shows."""
    if r.start():
        return True
    if 'unknown key "tls"' not in r.log():
        return False
    tap.diag("this relayd has no inbound.tls: running without it")
    r.stop()
    r.write_main("")
    for n, (a, t) in TENANTS.items():
        r.write_tenant(n + ".yaml", TENANT.format(name=n, addr=a, port=PORT,
                                                  tls=""))
    return r.start()


try:
    if not tap.ok(start(), "relayd starts"):
        tap.done()
    for name in TENANTS:
        tap.eq(send("alice@%s.test" % name), 250, "mail for %s accepted" %
               name)

    tap.ok(deferred("req", r"[^)]*does not offer STARTTLS"),
           "required, no STARTTLS: deferred with 4.7.5")
    tap.ok(r.wait_log(r"relay=127\.0\.0\.21\[127\.0\.0\.21\]:%d: "
                      r"inbound\.tls required: .* does not offer STARTTLS"
                      % PORT), "and logged, with the policy")
    tap.eq(sinks["req"].count(), 0, "nothing was sent in plain text")
    sinks["req"].close()
    sinks["req"] = Sink("127.0.0.21", PORT, starttls=True)
    tap.ok(sinks["req"].wait(1, 30), "once it offers STARTTLS the mail "
           "goes")
    tap.ok(sinks["req"].messages and sinks["req"].messages[0].tls,
           "under TLS")
    tap.ok(r.wait_log(r"tenant=req .*status=sent .*tls=TLSv1\.[23] "
                      r"verified=none"), "logged sent, TLS, not verified")

    tap.ok(deferred("ver", r"no valid certificate for 127\.0\.0\.22 "),
           "verify, a certificate from an unknown CA: deferred with 4.7.5")
    tap.eq(sinks["ver"].count(), 0, "the mail did not go")
    tap.ok(deferred("wrong", r"no valid certificate for 127\.0\.0\.24 "),
           "verify, our CA's certificate for another address: deferred")
    tap.eq(sinks["wrong"].count(), 0, "the mail did not go")

    tap.ok(sinks["good"].wait(1, 30), "verify, our CA's certificate for "
           "the deliver_to address: delivered")
    tap.ok(r.wait_log(r"tenant=good .*status=sent .*tls=TLSv1\.[23] "
                      r"verified=pkix"), "logged verified=pkix")

    tap.ok(sinks["opp"].wait(1, 30), "opportunistic, no STARTTLS: "
           "delivered in plain text, as before")
    rc, out, err = r.ctl("show", "queue")
    lines = out.splitlines()[1:]
    tap.eq(sorted(l.split()[1] for l in lines), ["ver", "wrong"],
           "the two unverified ones wait in the queue")
    tap.ok(all("4.7.5" in l or "certificate" in l for l in lines),
           "with the reason")
    tap.ok(wait_for(lambda: sinks["ver"].connections >= 2, 20),
           "and are tried again")
    tap.eq(sinks["ver"].count() + sinks["wrong"].count(), 0,
           "never delivered")
finally:
    r.cleanup()
    for s in sinks.values():
        s.close()
    ca.close()
tap.done()
