#!/usr/bin/env python3
"""relayd against Postfix on this machine, one after the other, with the
same load generator (smtp-source), the same capture sink (smtp-sink) and
the same disk.  Both relay to the sink; both sync before they answer 250.
Prints a table of figures; nothing is asserted.

    bench/compare.py [--scale F] [--repeat R]

--scale F < 1 makes a quicker, noisier run.  --repeat R (default 3) runs
each load R times, relayd then Postfix each time, since a virtual
machine's speed drifts from minute to minute: the table shows the pass
with the median end-to-end rate for each relay, and the ratio is taken
within each pass (the two relays a minute apart) and its median shown
with every pass's.

For each run: injected msg/s (smtp-source's rate), end-to-end msg/s (until
the last message reached the sink), accept-to-delivered p50/p99 (sampled:
a side client sends tagged messages during the run and looks for them in
the sink's files), and relay CPU ms per message (every process of the
relay, reaped children included).  How the two cores were shared between
the relay, smtp-source and smtp-sink is shown per run.
"""
import argparse
import ctypes
import glob
import os
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "regress", "lib"))
from relaytest import (DEFAULT_TENANT, Relayd, SMTPClient, Tap,  # noqa: E402
                       free_port, wait_for)
from dnstest import Unbound  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")
RUNS = [  # name, size, recipients, connections, messages, policy
    ("2 KB x 1 rcpt x 20 conn", 2048, 1, 20, 12000, False),
    ("2 KB x 1 rcpt, policy", 2048, 1, 20, 12000, True),
    ("100 KB x 1 rcpt x 10 conn", 100 * 1024, 1, 10, 3000, False),
    ("2 KB x 5 rcpt x 20 conn", 2048, 5, 20, 6000, False),
]


def proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    rest = st[st.rindex(")") + 2:].split()
    ppid = int(rest[1])
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return ppid, utime + stime, cutime + cstime


def tree_cpu(root):
    """CPU seconds of root and all its descendants, reaped ones included."""
    kids = {}
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = proc_stat(int(d))
            if s:
                stats[int(d)] = s
                kids.setdefault(s[0], []).append(int(d))
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        if p in stats:
            total += stats[p][1] + stats[p][2]
            todo += kids.get(p, [])
    return total / HZ


def pss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def descendants(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = proc_stat(int(d))
            if s:
                kids.setdefault(s[0], []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def listening(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


class Inotify:
    """When each file in a directory was closed after writing: the
    moment smtp-sink has the whole message (file times are too coarse,
    one clock tick)."""
    IN_CLOSE_WRITE = 0x8

    def __init__(self, path):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(
                self.fd, path.encode(), self.IN_CLOSE_WRITE) < 0:
            raise OSError(ctypes.get_errno(), "inotify")
        self.closed = {}
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except OSError:
                return
            now = time.time()
            i = 0
            while i + 16 <= len(buf):
                _, _, _, n = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode()
                self.closed.setdefault(name, now)
                i += 16 + n


class Sink:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-sink.", dir="/dev/shm")
        os.chmod(self.dir, 0o777)
        self.watch = Inotify(self.dir)
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "postfix", "-d", self.dir + "/%M%S.",
             "127.0.0.1:%d" % self.port, "2000"])
        time.sleep(0.3)

    def count(self):
        return len(os.listdir(self.dir))

    def clear(self):
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        self.watch.closed.clear()

    def cpu(self):
        return tree_cpu(self.proc.pid)

    def find(self, tokens):
        """token -> delivery time for the tagged messages."""
        found = {}
        for name in os.listdir(self.dir):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    head = f.read(4096)
            except OSError:
                continue
            i = head.find(b"X-Bench-Sample: ")
            if i >= 0 and name in self.watch.closed:
                tok = head[i + 16:head.index(b"\n", i)].strip().decode()
                if tok in tokens:
                    found[tok] = self.watch.closed[name]
        return found

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# A caching resolver, as a production relay has: loopback clients get a
# forward-confirmed name, as Postfix gets one from /etc/hosts.
DNS_ZONES = {
    "127.in-addr.arpa.": ["1.0.0.127.in-addr.arpa. 3600 IN PTR "
                          "client.bench.example."],
    "bench.example.": ["client.bench.example. 3600 IN A 127.0.0.1"],
    # The policy load: the senders' SPF passes for the clients, and a DNS
    # list that does not list them (the common case).
    "src.example.": ['src.example. 3600 IN TXT "v=spf1 ip4:127.0.0.0/8 '
                     '-all"',
                     "src.example. 3600 IN MX 10 mx.src.example.",
                     "mx.src.example. 3600 IN A 192.0.2.1"],
    "dnsbl.example.": ["2.0.0.127.dnsbl.example. 3600 IN A 127.0.0.2"],
}

# Greylisting (the triplets pass before the run), a DNS list and SPF.
POLICY = """\
policy:
  greylist: {enabled: true, delay: 1s}
  dnsbl:
    enabled: true
    lists: [{zone: dnsbl.example}]
  spf: reject
"""


class RelaydMTA:
    name = "relayd"
    dns = None

    def __init__(self, sink, policy=False):
        self.tap = Tap()
        tenant = DEFAULT_TENANT.format(name="bench", domain="bench.example",
                                       deliver_to="127.0.0.1:%d" % sink.port)
        if policy:
            tenant += POLICY
        self.r = Relayd(self.tap, tenants={"bench.yaml": tenant},
                        limits="max_connections: 12000\n"
                        "max_connections_per_client: 12000\n"
                        "min_free_space: 100M\nmax_message_size: 50M\n",
                        queue="max_connections_per_destination: 20\n",
                        dns=self.dns.server)
        # Logging as in production: one line per message and delivery.
        if not self.r.start(verbose=False):
            sys.exit("relayd did not start")
        self.port = self.r.port
        if policy:
            self.pass_greylisting()

    def pass_greylisting(self):
        """The load's and the sampler's triplets, passed (SPF passes, so
        the client is src.example): greylisting is then a store read."""
        for attempt in (0, 1):
            for sender, rcpt in (("load@src.example", "rcpt@bench.example"),
                                 ("sample@src.example",
                                  "sample@bench.example")):
                c = SMTPClient(self.port)
                c.reply()
                c.cmd("EHLO warm.example")
                c.cmd("MAIL FROM:<%s>" % sender)
                code = c.cmd("RCPT TO:<%s>" % rcpt)[0]
                c.close()
                if attempt == 1 and code != 250:
                    sys.exit("the triplet did not pass greylisting: %d" %
                             code)
            time.sleep(1.5)
    def root(self):
        return self.r.proc.pid

    def smtpd_pids(self):
        return [self.r.children()["smtpd"]]

    def stop(self):
        self.r.cleanup()


class PostfixMTA:
    name = "Postfix"

    def __init__(self, sink, policy=False):
        del policy  # Postfix's plain relay is the yardstick
        self.dir = tempfile.mkdtemp(prefix="bench-postfix.")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        etc = os.path.join(self.dir, "etc")
        os.makedirs(etc)
        for d in ("queue", "data"):
            os.makedirs(os.path.join(self.dir, d))
        shutil.chown(os.path.join(self.dir, "data"), "postfix")
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(dir=self.dir, sink=sink.port))
        with open(os.path.join(etc, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER.format(port=self.port))
        self.etc = etc
        rc = subprocess.run(["postfix", "-c", etc, "start"],
                            capture_output=True, text=True)
        if rc.returncode != 0 or not wait_for(self.pid, 10):
            sys.exit("Postfix did not start; see %s/maillog" % self.dir)
        wait_for(lambda: listening(self.port), 10)
        time.sleep(0.5)

    def pid(self):
        try:
            with open(os.path.join(self.dir, "queue", "pid",
                                   "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def root(self):
        return self.pid()

    def smtpd_pids(self):
        return descendants(self.pid())

    def stop(self):
        subprocess.run(["postfix", "-c", self.etc, "stop"],
                       capture_output=True)
        time.sleep(1)
        shutil.rmtree(self.dir, ignore_errors=True)


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
smtpd_tls_security_level = none
default_process_limit = 1100
default_destination_concurrency_limit = 20
smtpd_client_connection_count_limit = 0
message_size_limit = 52428800
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
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_run(mta, sink, size, rcpts, conns, n):
    sink.clear()
    samples, stop = {}, threading.Event()

    def sample(tok):
        """One tagged message; the time its 250 was read, or None."""
        c = SMTPClient(mta.port, timeout=60)
        try:
            c.reply()
            c.cmd("EHLO sampler.example")
            c.cmd("MAIL FROM:<sample@src.example>")
            c.cmd("RCPT TO:<sample@bench.example>")
            if c.cmd("DATA")[0] != 354:
                return None
            c.send(b"X-Bench-Sample: " + tok.encode() + b"\r\n"
                   b"Subject: sample\r\n\r\n" + b"s" * 1000 + b"\r\n.\r\n")
            code = c.reply()[0]
            now = time.time()
            c.cmd("QUIT")
            return now if code == 250 else None
        finally:
            c.close()

    def sampler():
        i = 0
        while not stop.is_set():
            tok = "%s-%d" % (mta.name, i)
            i += 1
            try:
                t = sample(tok)
            except OSError:
                continue
            if t is not None:
                samples[tok] = t
            stop.wait(0.05)

    root = mta.root()
    cpu0, src0, sink0 = tree_cpu(root), children_cpu(), sink.cpu()
    t0 = time.time()
    th = threading.Thread(target=sampler)
    th.start()
    cmd = ["smtp-source", "-s", str(conns), "-m", str(n), "-l", str(size),
           "-f", "load@src.example", "-t", "rcpt@bench.example"]
    if rcpts > 1:
        cmd += ["-r", str(rcpts)]
    subprocess.run(cmd + ["127.0.0.1:%d" % mta.port], check=True,
                   stdout=subprocess.DEVNULL)
    t1 = time.time()
    stop.set()
    th.join()
    want = n + len(samples)
    wait_for(lambda: sink.count() >= want, 300, 0.02)
    t2 = time.time()
    cpu = tree_cpu(root) - cpu0
    src = children_cpu() - src0
    snk = sink.cpu() - sink0
    found = sink.find(samples)
    lat = sorted((found[t] - samples[t]) * 1000 for t in found)
    wall = t2 - t0
    return {
        "injected": n / (t1 - t0),
        "e2e": n / wall,
        "p50": statistics.median(lat) if lat else float("nan"),
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat
        else float("nan"),
        "cpu_ms": cpu * 1000 / (n + len(samples)),
        "cores": (cpu / wall, src / wall, snk / wall),
        "samples": len(lat),
    }


def idle_memory(mta, n):
    """PSS added per idle connection (after EHLO)."""
    import socket
    pids = mta.smtpd_pids()
    before = pss_kb(mta.smtpd_pids())
    socks = []
    for i in range(n):
        s = socket.socket()
        s.bind(("127.0.%d.%d" % (3 + i // 250, 1 + i % 250), 0))
        s.connect(("127.0.0.1", mta.port))
        socks.append(s)
    for s in socks:
        s.recv(512)
        s.sendall(b"EHLO idle.example\r\n")
    time.sleep(2)
    after = pss_kb(mta.smtpd_pids())
    held = len(socks)
    for s in socks:
        s.close()
    del pids
    return (after - before) / max(held, 1), held


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sink = Sink()
    RelaydMTA.dns = Unbound(DNS_ZONES)
    results = []
    try:
        for name, size, rcpts, conns, n, policy in RUNS:
            n = max(200, int(n * args.scale))
            for k in range(args.repeat):
                for cls in (RelaydMTA, PostfixMTA):
                    mta = cls(sink, policy)
                    try:
                        res = one_run(mta, sink, size, rcpts, conns, n)
                    finally:
                        mta.stop()
                    results.append((name, mta.name, n, k, res))
                    print("%-26s %-8s pass %d: %.0f msg/s end to end" %
                          (name, mta.name, k + 1, res["e2e"]), flush=True)
        mem = []
        for cls, count in ((RelaydMTA, 1000), (PostfixMTA, 200)):
            mta = cls(sink)
            try:
                per, held = idle_memory(mta, count)
                mem.append((mta.name, count, per))
                if cls is RelaydMTA:
                    per10, held10 = idle_memory(mta, 10000)
                    mem.append((mta.name, held10, per10))
            finally:
                mta.stop()
    finally:
        sink.stop()
        RelaydMTA.dns.stop()

    print()
    print("%-26s %-8s %8s %9s %9s %8s %8s %8s  %s" % (
        "run", "relay", "msgs", "inj msg/s", "e2e msg/s", "p50 ms",
        "p99 ms", "CPU ms", "cores: relay/source/sink"))
    names = list(dict.fromkeys(r[0] for r in results))
    for name in names:
        for relay in ("relayd", "Postfix"):
            runs = sorted((r for r in results if r[0] == name and
                           r[1] == relay), key=lambda r: r[4]["e2e"])
            _, _, n, _, r = runs[len(runs) // 2]
            print("%-26s %-8s %8d %9.0f %9.0f %8.1f %8.1f %8.2f  "
                  "%.2f/%.2f/%.2f" % (name, relay, n, r["injected"],
                                      r["e2e"], r["p50"], r["p99"],
                                      r["cpu_ms"], *r["cores"]))
    print()
    for name in names:
        ratios = []
        for k in range(args.repeat):
            pair = {r[1]: r[4] for r in results if r[0] == name and
                    r[3] == k}
            ratios.append(pair["relayd"]["e2e"] / pair["Postfix"]["e2e"])
        print("%-26s relayd end-to-end = %.1f x Postfix (passes: %s)" % (
            name, statistics.median(ratios),
            ", ".join("%.1f" % x for x in ratios)))
    print()
    for relay, count, per in mem:
        print("%-8s PSS per idle connection, %5d held: %6.1f KB" % (
            relay, count, per))


main()
