"""scanners: rspamd and ClamAV from Debian, run by a test in its own
directory, offline: no network, no Redis, no signature download.

    r = Rspamd(directory, rules_lua)   # milter proxy on directory/rspamd.sock
    c = ClamAV(directory, {"name": bytes_of_a_file})  # clamd + clamav-milter

Each waits for its socket (rspamd compiles its regular expressions at
start, which takes a while on a busy machine) and is stopped with
.stop(); .missing names what is not installed.
"""
import hashlib
import os
import shutil
import signal
import subprocess
import time

RSPAMD_CONF = """\
options {{
    pidfile = "{d}/rspamd.pid";
    filters = "";
    hs_cache_dir = "{d}";
    tempdir = "{d}";
    dns {{
        # Nobody listens there: lookups fail at once, nothing leaves.
        nameserver = ["127.0.0.1:9"];
        timeout = 1s;
        retransmits = 1;
    }}
}}
logging {{
    type = "file";
    filename = "{d}/rspamd.log";
    level = "info";
}}
lua = "{d}/rules.lua";
actions {{
    reject = 15;
    add_header = 6;
}}
worker "rspamd_proxy" {{
    bind_socket = "{d}/rspamd.sock mode=0666";
    milter = yes;
    timeout = 60s;
    count = 1;
    upstream "local" {{
        default = yes;
        self_scan = yes;
    }}
}}
"""


def _wait_socket(path, proc, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def _stop(proc):
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class Rspamd:
    def __init__(self, directory, rules):
        self.dir = os.path.join(directory, "rspamd")
        self.socket = os.path.join(self.dir, "rspamd.sock")
        self.proc = None
        self.missing = None if shutil.which("rspamd") else "rspamd"
        if self.missing:
            return
        os.makedirs(self.dir, exist_ok=True)
        shutil.chown(self.dir, "_rspamd", "_rspamd")
        with open(os.path.join(self.dir, "rspamd.conf"), "w") as f:
            f.write(RSPAMD_CONF.format(d=self.dir))
        with open(os.path.join(self.dir, "rules.lua"), "w") as f:
            f.write(rules)

    def start(self, timeout=240):
        self.proc = subprocess.Popen(
            ["rspamd", "-f", "-c", os.path.join(self.dir, "rspamd.conf"),
             "-u", "_rspamd", "-g", "_rspamd"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)
        return _wait_socket(self.socket, self.proc, timeout)

    def log(self):
        try:
            with open(os.path.join(self.dir, "rspamd.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        _stop(self.proc)


CLAMD_CONF = """\
LocalSocket {d}/clamd.sock
LocalSocketMode 666
DatabaseDirectory {d}/db
LogFile {d}/clamd.log
PidFile {d}/clamd.pid
TemporaryDirectory {d}
Foreground yes
User clamav
ScanMail yes
"""
MILTER_CONF = """\
MilterSocket unix:{d}/milter.sock
MilterSocketMode 666
ClamdSocket unix:{d}/clamd.sock
LogFile {d}/milter.log
PidFile {d}/milter.pid
TemporaryDirectory {d}
Foreground yes
User clamav
OnInfected Reject
OnFail Defer
AddHeader Add
RejectMsg Virus found: %v
"""


class ClamAV:
    """clamd with a database of hash signatures (.hdb) made here, one per
    file given, and clamav-milter in front of it."""

    def __init__(self, directory, files):
        self.dir = os.path.join(directory, "clamav")
        self.socket = os.path.join(self.dir, "milter.sock")
        self.clamd = self.milter = None
        self.missing = None
        for prog in ("clamd", "clamav-milter"):
            if not shutil.which(prog) and not os.path.exists(
                    "/usr/sbin/" + prog):
                self.missing = prog
        if self.missing:
            return
        os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
        with open(os.path.join(self.dir, "db", "relayd-test.hdb"),
                  "w") as f:
            for name, data in files.items():
                f.write("%s:%d:%s\n" % (hashlib.md5(data).hexdigest(),
                                        len(data), name))
        with open(os.path.join(self.dir, "clamd.conf"), "w") as f:
            f.write(CLAMD_CONF.format(d=self.dir))
        with open(os.path.join(self.dir, "clamav-milter.conf"), "w") as f:
            f.write(MILTER_CONF.format(d=self.dir))
        subprocess.run(["chown", "-R", "clamav:clamav", self.dir],
                       check=True)

    def start(self, timeout=240):
        self.clamd = subprocess.Popen(
            ["clamd", "-c", os.path.join(self.dir, "clamd.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)
        if not _wait_socket(os.path.join(self.dir, "clamd.sock"),
                            self.clamd, timeout):
            return False
        self.milter = subprocess.Popen(
            ["clamav-milter", "-c", os.path.join(self.dir,
                                                 "clamav-milter.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)
        return _wait_socket(self.socket, self.milter, 60)

    def log(self):
        out = ""
        for name in ("clamd.log", "milter.log"):
            try:
                with open(os.path.join(self.dir, name),
                          errors="replace") as f:
                    out += f.read()
            except OSError:
                pass
        return out

    def stop(self):
        _stop(self.milter)
        _stop(self.clamd)
