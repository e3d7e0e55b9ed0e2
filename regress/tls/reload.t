#!/usr/bin/env python3
"""Certificates are read by the parent at start and at each reload.

A renewed certificate (new serial, same key) and a new one (new key) are
picked up by relayctl reload, as openssl s_client sees; a tenant's too.
A reload with a bad file (a key that does not match, a file that is
gone) fails with the file and the reason, and the certificate in force
stays.  At start, a key that does not match its certificate, or an
Ed25519 key, stops relayd with the file and the reason."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import RELAYD, Tap, need_root  # noqa: E402
from sink import Sink  # noqa: E402
from tlstest import PKI, main_tls, peer, serial, tls_relayd  # noqa: E402

tap = Tap()
need_root(tap)


def reload(r):
    rc, out, err = r.ctl("reload")
    return rc, (out + err).strip()


def renewals(r, pki):
    live = os.path.join(r.dir, "relay.pem")
    key = os.path.join(r.dir, "relay.key")
    shutil.copyfile(pki.relay[0], live)
    shutil.copyfile(pki.relay[1], key)
    r.write_main(main_tls(pki, (live, key)))
    tap.eq(reload(r)[0], 0, "a reload to certificate files of our own")
    first = serial(pki.relay[0])
    tap.eq((peer(r.port) or {}).get("serial"), first,
           "s_client sees the first certificate")

    renewed = pki.ca.issue("relay.test.example", chain=True,
                           key=pki.relay[1])
    shutil.copyfile(renewed[0], live)
    tap.eq(reload(r)[0], 0, "the certificate renewed, with the same key: "
           "reload")
    tap.eq((peer(r.port) or {}).get("serial"), serial(renewed[0]),
           "s_client sees the new serial")

    fresh = pki.ca.issue("relay.test.example", chain=True, rsa=True)
    shutil.copyfile(fresh[0], live)
    rc, text = reload(r)
    tap.ok(rc != 0, "a new certificate without its new key: the reload "
           "fails")
    tap.like(text, r"tls\.key .*relay\.key: the key does not match the "
             r"certificate", "relayctl says which file and why")
    tap.ok(r.wait_log(r"reload: .*relay\.key: the key does not match the "
                      r"certificate"), "and the log")
    tap.eq((peer(r.port) or {}).get("serial"), serial(renewed[0]),
           "the certificate in force stays")

    shutil.copyfile(fresh[1], key)
    tap.eq(reload(r)[0], 0, "with its key: the reload works")
    tap.eq((peer(r.port) or {}).get("serial"), serial(fresh[0]),
           "s_client sees the new certificate, with its new key")
    tap.eq((peer(r.port, "relay.test.example") or {}).get("protocol"),
           "TLSv1.3", "signed by keyd with the new key")

    os.unlink(live)
    rc, text = reload(r)
    tap.like(text, r"tls\.certificate .*relay\.pem: No such file",
             "a certificate file gone: the reload fails and says so")
    tap.eq((peer(r.port) or {}).get("serial"), serial(fresh[0]),
           "the certificate in force stays")
    shutil.copyfile(fresh[0], live)

    # A tenant's renewal.
    acme = pki.ca.issue("post.acme.test", "mail.acme.test", chain=True)
    t = os.path.join(r.tenants_dir, "acme.yaml")
    with open(t) as f:
        text = f.read()
    with open(t, "w") as f:
        f.write(text.replace(pki.acme[0], acme[0]).replace(pki.acme[1],
                                                          acme[1]))
    tap.eq(reload(r)[0], 0, "a tenant's new certificate: reload")
    tap.eq((peer(r.port, "post.acme.test") or {}).get("serial"),
           serial(acme[0]), "s_client sees the tenant's new serial")


def refused_at_start(pki, sink, cert, pattern, what):
    r = tls_relayd(tap, pki, sink)
    try:
        r.write_main(main_tls(pki, cert))
        p = subprocess.run([RELAYD, "-d", "-f", r.conf],
                           capture_output=True, text=True, timeout=30)
        tap.eq(p.returncode, 1, "%s: relayd refuses to start" % what)
        tap.like(p.stderr, pattern, "%s: it says which file and why" % what)
    finally:
        r.cleanup()


def main():
    pki = PKI()
    sink = Sink("127.0.0.1", 0)
    sink.port = sink.sock.getsockname()[1]
    r = tls_relayd(tap, pki, sink)
    try:
        if tap.ok(r.start(), "relayd starts with certificates"):
            renewals(r, pki)
            tap.ok(r.proc.poll() is None, "relayd still runs")
    finally:
        r.cleanup()
    other = pki.ca.issue("relay.test.example", rsa=True)
    refused_at_start(pki, sink, (pki.relay[0], other[1]),
                     r"tls\.key \S+: the key does not match the "
                     r"certificate", "a key of another certificate")
    ed = os.path.join(pki.ca.dir, "ed25519")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ed25519",
                    "-nodes", "-keyout", ed + ".key", "-out", ed + ".pem",
                    "-days", "2", "-subj", "/CN=relay.test.example"],
                   check=True, capture_output=True)
    refused_at_start(pki, sink, (ed + ".pem", ed + ".key"),
                     r"tls\.key \S+: Ed25519 keys are not supported: the "
                     r"key process signs with RSA and ECDSA only",
                     "an Ed25519 key")
    sink.close()
    pki.close()
    tap.done()


main()
