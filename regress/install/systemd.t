#!/usr/bin/env python3
"""relayd.service run by systemd itself: the package is installed into a
new Debian 12 root with systemd, which systemd-nspawn boots (sharing our
network).  The postinst has enabled the unit; a check unit ordered after
it records what systemd and /proc say, reloads, reloads with a broken
tenant file, and stops it, and then powers the container off.  So the
unit's confinement is shown to let relayd work, not only to parse:
Type=notify readiness, the capability bounding set, no_new_privs and the
system call filter on every process, a listener below port 1024, the
mknod of dnsd's device, a message relayed to a capture server here, a
reload by relayctl (ExecReload) that fails when it must, and a clean
stop (KillMode=mixed: the children are stopped by relayd, not killed).

Needs root, Debian's mirror and a machine where systemd-nspawn can boot
a container; skips with the reason otherwise."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import debroot  # noqa: E402
import relaytest  # noqa: E402
from relaytest import (DEFAULT_TENANT, Tap, free_port,  # noqa: E402
                       send_message, wait_for)
from sink import Sink  # noqa: E402

CAPS = {"chown": 0, "fowner": 3, "fsetid": 4, "kill": 5, "setgid": 6,
        "setuid": 7, "setpcap": 8, "net_bind_service": 10, "sys_chroot": 18,
        "mknod": 27}

CHECK = r"""#!/bin/sh
# Run by check.service once relayd.service has started (or failed to).
exec > /root/result 2>&1
echo "--- started"
systemctl show relayd -p ActiveState -p SubState -p StatusText -p MainPID \
    -p NRestarts
pid=$(systemctl show relayd -p MainPID --value)
echo "--- process relayd"
grep -E '^(Uid|Cap[A-Za-z]+|NoNewPrivs|Seccomp):' /proc/$pid/status
for p in /proc/[0-9]*; do
	[ "$(awk '/^PPid:/ {print $2}' $p/status 2>/dev/null)" = "$pid" ] ||
	    continue
	echo "--- process $(cat $p/comm)"
	grep -E '^(Uid|Cap[A-Za-z]+|NoNewPrivs|Seccomp):' $p/status
done
echo "--- urandom"
ls -ln /var/lib/relayd/dns/dev/urandom
touch /root/ready
i=0
while [ ! -e /root/sent ] && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
echo "--- reload"
cp /root/beta.yaml /etc/relayd/tenants.d/beta.yaml
systemctl reload relayd; echo "rc=$?"
systemctl show relayd -p ActiveState -p StatusText
echo "--- bad reload"
echo 'tenant: [' > /etc/relayd/tenants.d/bad.yaml
systemctl reload relayd; echo "rc=$?"
rm -f /etc/relayd/tenants.d/bad.yaml
systemctl show relayd -p ActiveState -p StatusText
echo "--- stop"
systemctl stop relayd; echo "rc=$?"
systemctl show relayd -p ActiveState -p Result
echo "--- journal"
journalctl -b -u relayd --no-pager -o cat
echo "--- end"
systemctl poweroff
"""

CHECK_UNIT = """[Unit]
Description=relayd's test, after relayd.service
After=relayd.service
Wants=relayd.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/relayd-check

[Install]
WantedBy=multi-user.target
"""


def low_port():
    for port in range(1020, 900, -1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return None


def sections(text):
    """The check's output, by its "--- name" lines."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("--- "):
            cur = out.setdefault(line[4:], [])
        elif cur is not None:
            cur.append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def fields(text):
    return dict(re.findall(r"(?m)^([A-Za-z_]+)[=:]\s*(.*)$", text))


def configure(root, port, sink_port):
    conf = root.path("/etc/relayd/relayd.yaml")
    with open(conf) as f:
        text = f.read()
    text = re.sub(r"(?ms)^listen:\n(?:[ -].*?\n)+",
                  "listen:\n  - address: 127.0.0.1:%d\n    mode: mx\n" % port,
                  text)
    with open(conf, "w") as f:
        f.write(text + "dns:\n  servers: [127.0.0.1:9]\n")
    for name, path in (("acme", "/etc/relayd/tenants.d/acme.yaml"),
                       ("beta", "/root/beta.yaml")):
        root.write(path, DEFAULT_TENANT.format(
            name=name, domain=name + ".example",
            deliver_to="127.0.0.1:%d" % sink_port))
    root.write("/usr/local/sbin/relayd-check", CHECK, 0o755)
    root.write("/etc/systemd/system/relayd-check.service", CHECK_UNIT)
    os.symlink("/etc/systemd/system/relayd-check.service", root.path(
        "/etc/systemd/system/multi-user.target.wants/relayd-check.service"))


def boot(t, root, port, sink):
    """Boot the container; relay a message while the check waits.
    Returns (the check's output or None, what nspawn said)."""
    log = open(os.path.join(root.dir, "nspawn.log"), "wb")
    p = subprocess.Popen(["systemd-nspawn", "--register=no", "--keep-unit",
                          "--quiet", "-D", root.dir, "--boot"],
                         stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    ready = root.path("/root/ready")
    try:
        wait_for(lambda: os.path.exists(ready) or p.poll() is not None, 180)
        if os.path.exists(ready):
            code, text = send_message(port, "someone@example.org",
                                      ["bob@acme.example"],
                                      b"Subject: boot\r\n\r\nhello\r\n")
            t.eq(code, 250, "relayd under systemd accepts a message on port "
                 "%d" % port)
            t.ok(sink.wait(1, 60), "and relays it to the capture server")
            open(root.path("/root/sent"), "w").close()
        try:
            p.wait(180)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    finally:
        log.close()
        if p.poll() is None:
            p.kill()
            p.wait()
    with open(os.path.join(root.dir, "nspawn.log"), errors="replace") as f:
        said = f.read()
    try:
        with open(root.path("/root/result"), errors="replace") as f:
            return f.read(), said
    except OSError:
        return None, said


def check(t, out):
    s = sections(out)
    f = fields(s.get("started", ""))
    t.eq((f.get("ActiveState"), f.get("SubState")), ("active", "running"),
         "relayd.service is active (running)")
    t.eq(f.get("StatusText"), "configuration 1 in force",
         "Type=notify: READY=1 with the status relayd sent")
    t.eq(f.get("NRestarts"), "0", "not restarted")
    want = sum(1 << n for n in CAPS.values())
    p = fields(s.get("process relayd", ""))
    t.eq(p.get("CapBnd"), "%016x" % want,
         "relayd's bounding set is CapabilityBoundingSet=")
    t.eq((p.get("NoNewPrivs"), p.get("Seccomp")), ("1", "2"),
         "relayd: no_new_privs, and systemd's seccomp filter")
    kids = [k for k in s if k.startswith("process ") and k != "process relayd"]
    t.eq(sorted(k[8:] for k in kids), sorted(relaytest.CHILDREN),
         "every child")
    for k in kids:
        c = fields(s[k])
        t.ok(c.get("Uid", "0").split()[0] != "0" and
             c.get("CapEff") == "0" * 16 and c.get("CapBnd") == "0" * 16 and
             c.get("NoNewPrivs") == "1" and c.get("Seccomp") == "2",
             "%s: its own user, no capability, no_new_privs, filtered" %
             k[8:])
    t.like(s.get("urandom", ""), r"^cr--r--r-- 1 0 0 1, +9 ",
           "dnsd's /dev/urandom was made (CAP_MKNOD, DeviceAllow=)")
    r = s.get("reload", "")
    t.like(r, r"(?m)^rc=0$", "systemctl reload (relayctl reload) succeeds")
    t.like(r, r"(?m)^StatusText=configuration 2 in force$",
           "RELOADING=1, then READY=1 with configuration 2")
    r = s.get("bad reload", "")
    t.like(r, r"(?m)^rc=1$", "a reload with a broken tenant file fails")
    t.like(r, r"(?m)^ActiveState=active$", "and relayd runs on")
    r = s.get("stop", "")
    t.like(r, r"(?m)^rc=0$", "systemctl stop")
    t.like(r, r"(?m)^Result=success$", "Result=success")
    j = s.get("journal", "")
    t.like(j, r"(?m)^relayd: relayd stopped$", "relayd stopped itself")
    t.ok(not re.search(r"killed by signal|did not stop|fatal", j),
         "no child was killed: each left when relayd stopped it")


def main():
    t = Tap()
    if os.environ.get("SANITIZE") == "1":
        t.skip_all("SANITIZE=1: the package is built without sanitizers, and "
                   "tested in the plain make check")
    if os.geteuid() != 0:
        t.skip_all("needs root (chroot, systemd-nspawn)")
    url = debroot.mirror()
    if not debroot.reachable(url):
        t.skip_all("Debian's mirror (%s) is not reachable" % url)
    if not debroot.need_tool(t, "systemd-nspawn", "systemd-container"):
        t.skip_all("no systemd-nspawn (systemd-container)")
    port = low_port()
    if port is None:
        t.skip_all("no free port below 1024 on 127.0.0.1")
    debroot.own_mount_namespace()
    t0 = time.time()
    deb = debroot.make_deb(t, relaytest.TOP, reuse=True)
    if not t.ok(deb, "make deb (or the package deb.t has just built)"):
        t.done()
    base = debroot.base_image(t, url, "bookworm-systemd",
                              ["systemd", "systemd-sysv", "dbus"])
    if not t.ok(base, "a Debian 12 root with systemd (%s)" % base):
        t.done()
    root = debroot.Root(base)
    sink = Sink("127.0.0.1", free_port())
    try:
        root.mount_api()
        ok = root.install_deb(t, deb)
        root.unmount()
        if not t.ok(ok, "apt-get install ./%s" % os.path.basename(deb)):
            t.done()
        t.ok(os.path.islink(root.path(
            "/etc/systemd/system/multi-user.target.wants/relayd.service")),
            "the postinst enabled relayd.service")
        configure(root, port, sink.port)
        t1 = time.time()
        out, said = boot(t, root, port, sink)
        if out is None or "--- started" not in out:
            t.ok(True, "# SKIP systemd-nspawn could not boot the root here")
            t.diag(said[-2000:])
            t.done()
        check(t, out)
        if "--- end" not in out:
            t.diag(out[-3000:])
        t.diag("build and install %.0fs, boot to power-off %.0fs" %
               (t1 - t0, time.time() - t1))
    finally:
        sink.close()
        root.close()
    t.done()


main()
