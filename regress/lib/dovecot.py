"""A Dovecot of the test's own as the AUTH backend: `dovecot -c CONF -F`
with its base_dir, state and log in a temporary directory, no mail
protocol, and a passwd-file of users with plaintext passwords.  Its
auth-client socket is self.socket (unix:PATH for auth.dovecot); with
inet_port, it answers on 127.0.0.1:inet_port too."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols =
ssl = no
auth_mechanisms = plain login
auth_failure_delay = 0
disable_plaintext_auth = yes
default_login_user = nobody
default_internal_user = nobody
default_internal_group = nogroup
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
{inet}service anvil {{
  chroot =
}}
"""

# The auth-client protocol on TCP as well (auth.dovecot: inet:...).
INET = """\
service auth {{
  inet_listener auth-client {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"""


class Dovecot:
    def __init__(self, users, inet_port=None):
        self.dir = tempfile.mkdtemp(prefix="relayd-dovecot-")
        os.chmod(self.dir, 0o755)
        for sub in ("run", "state"):
            os.mkdir(os.path.join(self.dir, sub))
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for user, pw in users.items():
                f.write("%s:{PLAIN}%s\n" % (user, pw))
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(d=self.dir, inet=INET.format(
                port=inet_port) if inet_port else ""))
        self.socket = os.path.join(self.dir, "run", "auth-client")
        self.proc = None

    def start(self, timeout=30):
        # A socket left by the last run would look ready: remove it.
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        self.proc = subprocess.Popen(["dovecot", "-c", self.conf, "-F"],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        end = time.time() + timeout
        while time.time() < end:
            if os.path.exists(self.socket) and self.answers():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def answers(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        # Its socket may stay behind: a connect to it is refused.

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log")) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
