"""miltertest: a milter for tests, the Sendmail milter protocol (version 6)
from the milter's side, on a Unix socket or a loopback port, in a thread.

It records what it was sent and answers as told, so a test can show what
relayd does with each answer, good or hostile:

    m = Milter(path)                    # or Milter(port=...)
    m.default = "accept"                # what each message gets
    m.messages[0].headers, .body        # what relayd sent, per message

Each message's answer is m.default, unless it has a field
"X-Test-Milter: ACTION" (the first one wins).  ACTION is one of

    accept | continue | reject | tempfail | discard
    replycode TEXT        SMFIR_REPLYCODE with TEXT as it is
    replycode-crlf        a reply code with CR LF and a command after it
    replycode-ml          a reply code of two lines, as smfi_setmlreply
    replycode-2xx         "250 2.0.0 fine", which no milter may send
    quarantine REASON
    addheader NAME VALUE  SMFIR_ADDHEADER, then accept
    chgheader I NAME [VALUE]  SMFIR_CHGHEADER (no VALUE: delete; a
                          backslash-n in VALUE is a line break)
    insheader I NAME VALUE
    replbody              SMFIR_REPLBODY (never offered to it)
    progress N            N progress replies a second apart, then accept
    hang                  no answer to the end of body, ever
    garbage               bytes that are no frame
    huge                  a frame announced as 1 GB
    close                 closes the connection at the end of body
    reject-rcpt           rejects the first recipient at RCPT

and m.optneg_hang makes it never answer the option negotiation.  Each
connection gets its own thread; m.connections counts them.
"""
import os
import socket
import struct
import threading
import time


def frame(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


class Message:
    def __init__(self):
        self.connect = None
        self.helo = None
        self.mail = None
        self.rcpts = []
        self.headers = []        # (name, value) as sent
        self.body = b""
        self.macros = {}
        self.eob = False


class Milter:
    def __init__(self, path=None, port=None, actions=0x31, proto=0):
        self.path = path
        self.default = "accept"
        self.actions = actions
        self.proto = proto
        self.optneg_hang = False
        self.messages = []
        self.connections = 0
        self.max_chunk = 0       # the longest SMFIC_BODY
        self.lock = threading.Lock()
        self.stopping = False
        self.conns = []
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
            os.chmod(path, 0o666)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in list(self.conns):
            try:
                c.close()
            except OSError:
                pass
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def wait(self, n, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if sum(1 for m in self.messages if m.eob) >= n:
                    return True
            time.sleep(0.02)
        return False

    def wait_started(self, n, timeout=30):
        """n messages begun (a hanging milter never ends one)."""
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if sum(1 for m in self.messages if m.headers) >= n:
                    return True
            time.sleep(0.02)
        return False

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(c)
            threading.Thread(target=self._conn, args=(c,),
                             daemon=True).start()

    @staticmethod
    def _read(c, n):
        buf = b""
        while len(buf) < n:
            d = c.recv(n - len(buf))
            if not d:
                raise EOFError
            buf += d
        return buf

    def _conn(self, c):
        try:
            self._talk(c)
        except (EOFError, OSError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _action(self, msg):
        for name, value in msg.headers:
            if name.lower() == "x-test-milter":
                return value.strip()
        return self.default

    def _talk(self, c):
        msg = None
        proto = 0
        while True:
            n = struct.unpack(">I", self._read(c, 4))[0]
            data = self._read(c, n)
            cmd, data = data[:1], data[1:]
            if cmd == b"O":
                ver, act, offered = struct.unpack(">III", data[:12])
                if self.optneg_hang:
                    time.sleep(3600)
                proto = self.proto & offered
                with self.lock:
                    self.offered = (ver, act, offered)
                c.sendall(frame(b"O", struct.pack(
                    ">III", 6, self.actions & act, proto)))
                continue
            if cmd == b"D":
                if msg is None:
                    msg = Message()
                parts = data[1:].split(b"\0")
                for i in range(0, len(parts) - 1, 2):
                    msg.macros[parts[i].decode()] = parts[i + 1].decode(
                        errors="replace")
                continue
            if cmd in (b"Q", b"K"):
                return
            if cmd == b"A":
                msg = None
                continue
            if msg is None:
                msg = Message()
                with self.lock:
                    self.messages.append(msg)
            elif msg not in self.messages:
                with self.lock:
                    self.messages.append(msg)
            if cmd == b"C":
                msg.connect = data
            elif cmd == b"H":
                msg.helo = data.rstrip(b"\0").decode()
            elif cmd == b"M":
                msg.mail = data.split(b"\0")[0].decode()
            elif cmd == b"R":
                msg.rcpts.append(data.split(b"\0")[0].decode())
                if self.default == "reject-rcpt" and len(msg.rcpts) == 1:
                    c.sendall(frame(b"r"))
                    continue
            elif cmd == b"L":
                name, value = data.split(b"\0")[:2]
                msg.headers.append((name.decode(), value.decode(
                    errors="replace")))
                if proto & 0x80:
                    continue    # SMFIP_NR_HDR
            elif cmd == b"B":
                msg.body += data
                self.max_chunk = max(self.max_chunk, len(data))
            elif cmd == b"E":
                self._eob(c, msg)
                msg.eob = True
                msg = None
                continue
            c.sendall(frame(b"c"))

    def _eob(self, c, msg):
        act = self._action(msg)
        word, _, rest = act.partition(" ")
        if word in ("accept", "continue"):
            c.sendall(frame(b"a" if word == "accept" else b"c"))
        elif word == "reject":
            c.sendall(frame(b"r"))
        elif word == "tempfail":
            c.sendall(frame(b"t"))
        elif word == "discard":
            c.sendall(frame(b"d"))
        elif word == "replycode":
            c.sendall(frame(b"y", rest.encode() + b"\0"))
        elif word == "replycode-crlf":
            c.sendall(frame(b"y", b"550 5.7.1 bad\r\nRSET\x07 and more\0"))
        elif word == "replycode-ml":
            c.sendall(frame(b"y", b"550-5.7.1 one\r\n550 5.7.1 two\0"))
        elif word == "replycode-2xx":
            c.sendall(frame(b"y", b"250 2.0.0 fine\0"))
        elif word == "quarantine":
            c.sendall(frame(b"q", rest.encode() + b"\0") + frame(b"a"))
        elif word == "addheader":
            name, _, value = rest.partition(" ")
            c.sendall(frame(b"h", name.encode() + b"\0" + value.encode() +
                            b"\0") + frame(b"a"))
        elif word in ("chgheader", "insheader"):
            parts = rest.split(" ", 2)
            idx, name = int(parts[0]), parts[1]
            value = parts[2].replace("\\n", "\n") if len(parts) > 2 else ""
            c.sendall(frame(b"m" if word == "chgheader" else b"i",
                            struct.pack(">I", idx) + name.encode() + b"\0" +
                            value.encode() + b"\0") + frame(b"a"))
        elif word == "replbody":
            c.sendall(frame(b"b", b"new body\r\n") + frame(b"a"))
        elif word == "progress":
            for _ in range(int(rest or "1")):
                time.sleep(1)
                c.sendall(frame(b"p"))
            c.sendall(frame(b"a"))
        elif word == "hang":
            time.sleep(3600)
        elif word == "garbage":
            c.sendall(b"\x00\x00\x00\x05zzzzz" + os.urandom(64))
        elif word == "huge":
            c.sendall(struct.pack(">I", 1 << 30) + b"h" + b"x" * 1000)
        elif word == "close":
            c.close()
            raise EOFError
        else:
            c.sendall(frame(b"a"))
