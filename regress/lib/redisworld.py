"""redisworld: Debian's redis-server and redis-sentinel started by a test,
each with its own configuration in the test's directory, on loopback
ports, in the foreground (daemonize no), and stopped by the test; never
the system's service.  And FakeRedis: a server that speaks just enough
of the protocol (AUTH, ROLE) to be taken for a primary, then answers the
store's commands the way a test tells it to (garbage, a huge bulk
string, a deep array, silence, a close in the middle of a reply)."""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from relaytest import free_port, wait_for

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
PASSWORD = "s3cret-for-tests"


def have_redis():
    return os.access(REDIS_SERVER, os.X_OK) and \
        os.access(REDIS_SENTINEL, os.X_OK)


def _ping(port, password=None, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            if password:
                s.sendall(b"AUTH %s\r\n" % password.encode())
                if not s.recv(64).startswith(b"+OK"):
                    return False
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def command(port, *args, password=PASSWORD, host="127.0.0.1"):
    """One command, its raw reply (enough for tests: short replies)."""
    with socket.create_connection((host, port), timeout=5) as s:
        out = b""
        if password:
            out += b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (
                len(password), password.encode())
        out += b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        time.sleep(0.2)
        data = b""
        s.settimeout(1)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except socket.timeout:
            pass
        return data


class RedisServer:
    """A redis-server; replica_of: the port of its primary."""

    def __init__(self, port=None, password=PASSWORD, replica_of=None,
                 host="127.0.0.1"):
        self.host = host
        self.port = port or free_port(host)
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="relayd-redis.")
        self.conf = os.path.join(self.dir, "redis.conf")
        lines = ["bind %s" % host, "port %d" % self.port,
                 "daemonize no", "save \"\"", "appendonly no",
                 "dir %s" % self.dir, "protected-mode no",
                 "logfile %s" % os.path.join(self.dir, "redis.log")]
        if password:
            lines += ["requirepass %s" % password,
                      "masterauth %s" % password]
        if replica_of:
            lines += ["replicaof %s %d" % (host, replica_of)]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([REDIS_SERVER, self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        return wait_for(lambda: _ping(self.port, self.password, self.host),
                        15)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Sentinel:
    """A redis-sentinel watching the primary named "relayd"."""

    def __init__(self, primary_port, password=PASSWORD, host="127.0.0.1",
                 down_after=1000):
        self.host = host
        self.port = free_port(host)
        self.dir = tempfile.mkdtemp(prefix="relayd-sentinel.")
        self.conf = os.path.join(self.dir, "sentinel.conf")
        lines = ["bind %s" % host, "port %d" % self.port,
                 "daemonize no", "dir %s" % self.dir,
                 "protected-mode no",
                 "logfile %s" % os.path.join(self.dir, "sentinel.log"),
                 "sentinel monitor relayd %s %d 2" % (host, primary_port),
                 "sentinel down-after-milliseconds relayd %d" % down_after,
                 "sentinel failover-timeout relayd 4000",
                 "sentinel parallel-syncs relayd 1"]
        if password:
            lines += ["sentinel auth-pass relayd %s" % password]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([REDIS_SENTINEL, self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        return wait_for(lambda: _ping(self.port, None, self.host), 15)

    def primary(self):
        """The port the sentinel names as primary, or None."""
        r = command(self.port, "SENTINEL", "get-master-addr-by-name",
                    "relayd", password=None, host=self.host)
        parts = r.split(b"\r\n")
        try:
            return int(parts[4])
        except (IndexError, ValueError):
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def store_yaml(servers, sentinels=None, password_file=None, timeout="1s",
               prefix="relayd-test:"):
    lines = ["policy_store:", "  backend: redis", "  redis:",
             "    servers: [%s]" % ", ".join(servers),
             "    key_prefix: \"%s\"" % prefix,
             "    timeout: %s" % timeout]
    if sentinels:
        lines += ["    sentinels: [%s]" % ", ".join(sentinels),
                  "    master_name: relayd"]
    if password_file:
        lines += ["    password_file: %s" % password_file]
    return "\n".join(lines) + "\n"


def password_file(directory, password=PASSWORD, mode=0o600):
    path = os.path.join(directory, "redis.pass")
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, mode)
    return path


class FakeRedis:
    """A listening socket that answers AUTH with +OK and ROLE with
    master, and every other command with what answer(cmd) returns: bytes
    to send, None to stay silent, or "close" / ("close", bytes) to send
    the bytes and close.  It counts what it was asked."""

    def __init__(self, answer, host="127.0.0.1"):
        self.answer = answer
        self.port = free_port(host)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, self.port))
        self.sock.listen(16)
        self.commands = []
        self.conns = 0
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    @staticmethod
    def _parse(buf):
        """One command off buf: (args, rest) or (None, buf)."""
        if not buf.startswith(b"*"):
            return None, buf
        try:
            end = buf.index(b"\r\n")
            n = int(buf[1:end])
            pos = end + 2
            args = []
            for _ in range(n):
                end = buf.index(b"\r\n", pos)
                ln = int(buf[pos + 1:end])
                pos = end + 2
                if len(buf) < pos + ln + 2:
                    return None, buf
                args.append(buf[pos:pos + ln])
                pos += ln + 2
            return args, buf[pos:]
        except ValueError:
            return None, buf

    def _serve(self, c):
        buf = b""
        try:
            while not self.stopping:
                d = c.recv(65536)
                if not d:
                    break
                buf += d
                while True:
                    args, buf = self._parse(buf)
                    if args is None:
                        break
                    name = args[0].upper().decode(errors="replace")
                    self.commands.append(name)
                    if name == "AUTH":
                        c.sendall(b"+OK\r\n")
                    elif name == "ROLE":
                        c.sendall(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")
                    else:
                        a = self.answer(name, args)
                        if a is None:
                            continue
                        if isinstance(a, tuple) and a[0] == "close":
                            c.sendall(a[1])
                            c.close()
                            return
                        if a == "close":
                            c.close()
                            return
                        c.sendall(a)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()
