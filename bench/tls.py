#!/usr/bin/env python3
"""relayd with STARTTLS on every connection, against plain text, and what
a handshake costs smtpd in its round trip to keyd.  Figures, never
assertions.

    bench/tls.py [-n MESSAGES] [-c CLIENTS] [--memory N] [--postfix]

Each client is a process with Python's ssl, sending one 2 KB message per
connection, as most senders do: EHLO, STARTTLS, a full handshake (no
resumption), EHLO, MAIL, RCPT, DATA, QUIT.  relayd delivers to a capture
sink standing in for the tenant's server.  Three runs: plain text,
STARTTLS with the relay's RSA 2048-bit key, STARTTLS with an ECDSA
P-256 key; for each, messages accepted per second (the client reads
the 250) and delivered per second (the sink has them all), relayd's CPU
per message, and the round trip of one key request as smtpd measures it
(relayctl show status).

--memory N holds N idle plain connections (after EHLO) and prints the
PSS they add to smtpd, with certificates configured: run it with
RELAYD_TOP set to a tree without TLS to compare.  --postfix runs the
same loads against Postfix with the same certificates, when Postfix is
installed (make bench installs it); it is skipped otherwise.
"""
import argparse
import multiprocessing
import os
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "regress", "lib"))
from relaytest import Relayd, Tap, free_port, wait_for  # noqa: E402
from secure import TestCA  # noqa: E402
from sink import Sink  # noqa: E402

TENANT = """\
tenant: bench
postmaster: postmaster@bench.example
domains: [bench.example]
inbound:
  deliver_to: [127.0.0.1:{port}]
"""
BODY = (b"Subject: bench\r\n\r\n" + (b"x" * 76 + b"\r\n") * 26)


def read_reply(f):
    while True:
        line = f.readline()
        if not line:
            raise OSError("connection closed")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3])


def one(port, use_tls, ctx):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    read_reply(f)
    s.sendall(b"EHLO client.bench.example\r\n")
    read_reply(f)
    if use_tls:
        s.sendall(b"STARTTLS\r\n")
        if read_reply(f) != 220:
            raise OSError("STARTTLS refused")
        s = ctx.wrap_socket(s, server_hostname="relay.test.example")
        f = s.makefile("rb")
        s.sendall(b"EHLO client.bench.example\r\n")
        read_reply(f)
    s.sendall(b"MAIL FROM:<load@src.example>\r\n"
              b"RCPT TO:<rcpt@bench.example>\r\nDATA\r\n")
    ok = read_reply(f) == 250 and read_reply(f) == 250 and \
        read_reply(f) == 354
    s.sendall(BODY + b".\r\n")
    ok = read_reply(f) == 250 and ok
    s.sendall(b"QUIT\r\n")
    s.close()
    return ok


def worker(args):
    port, use_tls, n = args
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ok = 0
    for _ in range(n):
        try:
            ok += one(port, use_tls, ctx)
        except OSError:
            pass
    return ok


def proc_cpu(pid):
    """CPU seconds of pid and its descendants (reaped ones included)."""
    hz = os.sysconf("SC_CLK_TCK")
    stats, kids = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        stats[int(d)] = sum(int(x) for x in rest[11:15])
        kids.setdefault(int(rest[1]), []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, 0)
        todo += kids.get(p, [])
    return total / hz


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def load(port, use_tls, n, clients, count):
    """Messages accepted, accepted/s, delivered/s, wall seconds of the
    injection, the clients' CPU seconds."""
    start = count()
    c0 = children_cpu()
    t0 = time.time()
    with multiprocessing.Pool(clients) as pool:
        ok = sum(pool.map(worker, [(port, use_tls, n // clients)] *
                          clients))
    t1 = time.time()
    wait_for(lambda: count() - start >= ok, 300, 0.05)
    t2 = time.time()
    return ok, ok / (t1 - t0), ok / (t2 - t0), t1 - t0, \
        children_cpu() - c0


def key_round_trip(r):
    rc, out, err = r.ctl("show", "status")
    m = re.search(r"(\d+) key requests \((\d+) us each", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def relayd(tap, sink, cert):
    r = Relayd(tap, tenants={"bench.yaml": TENANT.format(port=sink.port)},
               main_extra="tls:\n  certificate: %s\n  key: %s\n" % cert,
               limits="max_connections: 12000\n"
               "max_connections_per_client: 12000\nmin_free_space: 100M\n",
               queue="max_connections_per_destination: 20\n")
    if not r.start(verbose=False):
        sys.exit("relayd did not start:\n" + r.log())
    return r


def run_relayd(args, sink, ca):
    tap = Tap()
    rsa = ca.issue("relay.test.example", chain=True, rsa=True)
    ec = ca.issue("relay.test.example", chain=True)
    rows = []
    for name, cert, use_tls in (("plain", rsa, False),
                                ("STARTTLS, RSA 2048", rsa, True),
                                ("STARTTLS, ECDSA P-256", ec, True)):
        r = relayd(tap, sink, cert)
        try:
            root = r.proc.pid
            cpu0 = proc_cpu(root)
            ok, acc, e2e, wall, ccpu = load(r.port, use_tls, args.n,
                                            args.c, sink.count)
            cpu = proc_cpu(root) - cpu0
            calls, us = key_round_trip(r)
            rows.append((name, ok, acc, e2e, cpu * 1000 / max(ok, 1),
                         calls, us, cpu / wall, ccpu / wall))
            print("%-24s %5d msgs  %6.0f accepted/s  %6.0f delivered/s  "
                  "%.2f ms CPU/msg  %d key requests, %d us each  cores "
                  "relayd/clients %.2f/%.2f" % rows[-1], flush=True)
        finally:
            r.cleanup()
    return rows


def memory(args, ca):
    tap = Tap()
    sink = Sink("127.0.0.1", 0)
    sink.port = sink.sock.getsockname()[1]
    rsa = ca.issue("relay.test.example", chain=True, rsa=True)
    r = relayd(tap, sink, rsa) if args.tls_config else None
    if r is None:
        r = Relayd(tap, tenants={"bench.yaml": TENANT.format(
            port=sink.port)}, limits="max_connections: 12000\n"
            "max_connections_per_client: 12000\nmin_free_space: 100M\n")
        if not r.start(verbose=False):
            sys.exit("relayd did not start:\n" + r.log())
    try:
        pid = r.children()["smtpd"]

        def pss():
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
            return 0
        before = pss()
        socks = []
        for i in range(args.memory):
            s = socket.socket()
            s.bind(("127.0.%d.%d" % (3 + i // 250, 1 + i % 250), 0))
            s.connect(("127.0.0.1", r.port))
            socks.append(s)
        for s in socks:
            s.recv(512)
            s.sendall(b"EHLO idle.example\r\n")
        time.sleep(2)
        after = pss()
        print("%s: %d idle plain connections: %.2f KB PSS each" %
              (os.environ.get("RELAYD_TOP", "this tree"), len(socks),
               (after - before) / max(len(socks), 1)))
        for s in socks:
            s.close()
    finally:
        r.cleanup()
        sink.close()


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.example
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = bench.example
relayhost = [127.0.0.1]:{sink}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
smtp_tls_security_level = none
smtpd_tls_security_level = may
smtpd_tls_chain_files = {key}, {cert}
smtpd_tls_session_cache_database =
default_process_limit = 1100
default_destination_concurrency_limit = 20
smtpd_client_connection_count_limit = 0
"""


POSTFIX_MASTER = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def run_postfix(args, sink, ca):
    if shutil.which("postfix") is None:
        print("Postfix is not installed: no Postfix figures (make bench "
              "installs it)")
        return []
    rows = []
    for name, cert, use_tls in (
            ("Postfix plain", ca.issue("p.test", rsa=True), False),
            ("Postfix STARTTLS, RSA", ca.issue("p.test", rsa=True), True),
            ("Postfix STARTTLS, ECDSA", ca.issue("p.test"), True)):
        d = tempfile.mkdtemp(prefix="bench-postfix.")
        os.chmod(d, 0o755)
        port = free_port()
        etc = os.path.join(d, "etc")
        os.makedirs(etc)
        for sub in ("queue", "data"):
            os.makedirs(os.path.join(d, sub))
        shutil.chown(os.path.join(d, "data"), "postfix")
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(dir=d, sink=sink.port,
                                        cert=cert[0], key=cert[1]))
        with open(os.path.join(etc, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER.format(port=port))
        p = subprocess.run(["postfix", "-c", etc, "start"],
                           capture_output=True, text=True)
        try:
            if p.returncode != 0 or not wait_for(
                    lambda: listening(port), 10):
                print("Postfix did not start: %s" % (p.stdout + p.stderr))
                continue
            time.sleep(0.5)
            with open(os.path.join(d, "queue", "pid", "master.pid")) as f:
                master = int(f.read().split()[0])
            cpu0 = proc_cpu(master)
            ok, acc, e2e, wall, ccpu = load(port, use_tls, args.n,
                                            args.c, sink.count)
            cpu = proc_cpu(master) - cpu0
            rows.append((name, ok, acc, e2e, cpu * 1000 / max(ok, 1),
                         cpu / wall, ccpu / wall))
            print("%-24s %5d msgs  %6.0f accepted/s  %6.0f delivered/s  "
                  "%.2f ms CPU/msg  cores Postfix/clients %.2f/%.2f" %
                  rows[-1], flush=True)
        finally:
            subprocess.run(["postfix", "-c", etc, "stop"],
                           capture_output=True)
            time.sleep(1)
            shutil.rmtree(d, ignore_errors=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("-c", type=int, default=8)
    ap.add_argument("--memory", type=int, default=0)
    ap.add_argument("--no-tls-config", dest="tls_config",
                    action="store_false")
    ap.add_argument("--postfix", action="store_true")
    args = ap.parse_args()
    ca = TestCA()
    try:
        if args.memory:
            memory(args, ca)
            return
        sink = Sink("127.0.0.1", 0)
        sink.port = sink.sock.getsockname()[1]
        try:
            run_relayd(args, sink, ca)
            if args.postfix:
                run_postfix(args, sink, ca)
        finally:
            sink.close()
    finally:
        ca.close()


main()
