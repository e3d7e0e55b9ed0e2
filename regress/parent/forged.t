#!/usr/bin/env python3
"""The parent takes a control answer only from the child it sent the
request to (relayd/parent_control.c:conn_of_answer).  Debug build:
RELAYD_FAIL=queued-ctl-forge makes queued, given a request, first answer
the request before it, which went to policyd: a test dnsbl kept waiting
by a DNS list nobody answers for.  The forged line and end are dropped
and logged, and policyd's own answer still reaches its relayctl."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld  # noqa: E402
from relaytest import RELAYD_DEBUG, Tap, need_root, wait_for  # noqa: E402

TENANTS = {
    "slow": """\
policy:
  dnsbl:
    enabled: true
    lists:
      - zone: bl.silent.test
""",
}


def ask(w, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(w.r.sock)
    s.sendall(req)
    return s


def read_all(s):
    got = []
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got.append(chunk)
    except OSError:
        pass
    s.close()
    return b"".join(got).decode("utf-8", "replace")


def main():
    t = Tap()
    need_root(t)
    if not os.path.exists(RELAYD_DEBUG):
        t.skip_all("no debug build (make debug)")
    w = PolicyWorld(t, TENANTS, dns_timeout="8s")
    try:
        if not t.ok(w.start(debug=True,
                            env={"RELAYD_FAIL": "queued-ctl-forge:1"}),
                    "relayd starts, queued set to forge an answer"):
            t.done()
        run(t, w)
    finally:
        w.stop()
    t.done()


def run(t, w):
    a = ask(w, b"test dnsbl 127.0.1.2\n")
    m = w.log_has(r"control: uid 0: test dnsbl 127\.0\.1\.2\n", 15)
    t.ok(m, "a test dnsbl goes to policyd and waits for a silent list")
    b = ask(w, b"show queue\n")
    out_b = read_all(b)
    t.ok(out_b.endswith("OK\n") and "forged" not in out_b,
         "queued answers its own request as usual") or t.diag(out_b)
    t.ok(w.log_has(r"relayd: control: queued answered request \d+, which "
                   r"it was not given", 15),
         "queued's answer to policyd's request is dropped and logged")
    out_a = read_all(a)
    t.ok("forged" not in out_a, "the forged line never reaches relayctl") \
        or t.diag(out_a)
    t.like(out_a, r"^- bl\.silent\.test: .*\n(- .*\n)*OK\n$",
           "policyd's own answer arrives, complete") or t.diag(out_a)
    t.ok(w.r.proc.poll() is None and wait_for(
        lambda: {"queued", "policyd"} <= set(w.r.children()), 5),
        "relayd and its children keep running")


main()
