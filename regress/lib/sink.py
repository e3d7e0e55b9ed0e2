"""sink: a capture SMTP server for tests, standing in for a tenant's mail
server or a remote MX.  It runs in a thread of the test, records every
transaction, and can be told to misbehave in the ways real servers do.

    s = Sink("127.0.0.2", port)           # listen
    s.rcpt = lambda addr: "550 5.1.1 no"  # per-recipient replies
    s.wait(1)                             # until one message arrived
    s.messages[0].data                    # bytes as received, unstuffed

A next hop that misbehaves on purpose: s.mode (changed at any time; the
next command or reply sees it) is one of

    "normal"   as above
    "early"    answers the end of data at once, before reading it (250 to
               BDAT LAST before the chunk; 354 then 250 to DATA), then
               reads nothing more until s.release(); then everything, to
               the end of the connection.  s.early counts these replies
    "slow"     every reply goes out one octet per packet, with a pause
               (s.slow_delay) between them
    "mixed"    the reply to the end of data is multi-line, and its code
               changes between the lines (250, then 451)
    "long"     the reply to the end of data is one line longer than any
               client allows (3000 octets)
    "data250"  250 to DATA instead of 354, then waits for a command

In "early", "mixed", "long" and "data250" no message is recorded in
s.messages.  Every octet any client sent is kept in s.raw (s.received()),
whatever the mode, and the command lines of each connection in
s.sessions (a list per connection, DATA's content and BDAT's chunks not
among them); rcvbuf= shrinks the receive buffer, set before listen
so that the window is small from the SYN on.  With starttls=True the sink
offers STARTTLS with a self-signed certificate, or with cert=(chain, key).
"""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

ALL_EXT = ["PIPELINING", "SIZE 100000000", "8BITMIME", "SMTPUTF8", "DSN",
           "CHUNKING"]


class Message:
    def __init__(self):
        self.helo = None
        self.mail = None          # the whole MAIL argument
        self.sender = None
        self.rcpts = []           # the whole RCPT arguments
        self.data = b""
        self.tls = False
        self.bdat = False
        self.when = None

    @property
    def rcpt_addrs(self):
        return [r.split(">")[0].lstrip("TO:<").lstrip("<") for r in
                self.rcpts]


def make_cert(directory):
    key = os.path.join(directory, "key.pem")
    crt = os.path.join(directory, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=sink.test"], check=True,
                   capture_output=True)
    return crt, key


class Sink:
    def __init__(self, addr, port, ext=None, greeting="220 sink.test ESMTP",
                 starttls=False, helo_only=False, hang=False,
                 tls_break=False, mode="normal", rcvbuf=None, cert=None):
        self.addr = addr
        self.port = port
        self.ext = list(ALL_EXT if ext is None else ext)
        self.greeting = greeting
        self.helo_only = helo_only
        self.hang = hang
        self.rcpt = lambda addr: "250 2.1.5 Ok"
        self.data_reply = lambda msg: "250 2.0.0 Ok: kept"
        self.mail_reply = lambda arg: "250 2.1.0 Ok"
        self.close_after = None   # transactions per connection
        self.tls_break = tls_break  # say 220 to STARTTLS, then hang up
        self.mode = mode
        self.slow_delay = 0.005
        self.early = 0            # end-of-data replies sent before the data
        self.released = threading.Event()
        self.raw = bytearray()    # everything received, every connection
        self.sessions = []        # the command lines of each connection
        self.messages = []
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.conns = set()
        self.lock = threading.Lock()
        self.ssl = None
        if starttls:
            self.tmp = tempfile.mkdtemp(prefix="sink-tls.")
            # cert=(chain file, key file), e.g. from secure.TestCA.
            crt, key = cert if cert else make_cert(self.tmp)
            self.ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl.load_cert_chain(crt, key)
            self.ext.append("STARTTLS")
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((addr, port))
        self.sock.listen(128)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def release(self):
        """Let the sessions held in "early" mode read what they were sent,
        to the end."""
        self.released.set()

    def received(self):
        with self.lock:
            return bytes(self.raw)

    def close(self):
        """Stop listening and hang up on every client, as a server going
        down does."""
        self.running = False
        self.released.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.ssl:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self):
        while self.running:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            # Replies go out as they are written, as real servers do.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.session, args=(conn,),
                             daemon=True).start()

    def wait(self, n, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if len(self.messages) >= n:
                    return True
            time.sleep(0.02)
        return False

    def count(self):
        with self.lock:
            return len(self.messages)

    # One connection.
    def session(self, conn):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.conns.add(conn)
        try:
            self._session(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with self.lock:
                self.active -= 1
                self.conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _session(self, conn):
        f = _Conn(conn, self)
        if self.hang:
            time.sleep(3600)
            return
        f.send(self.greeting)
        if not self.greeting.startswith("220"):
            f.readline()
            return
        helo = None
        tls = False
        msg = None
        done = 0
        cmds = []
        with self.lock:
            self.sessions.append(cmds)
        while True:
            line = f.readline()
            if line is None:
                return
            cmd = line.decode("utf-8", "replace")
            with self.lock:
                cmds.append(cmd)
            verb = cmd[:4].upper()
            if verb == "EHLO":
                if self.helo_only:
                    f.send("502 5.5.1 EHLO not implemented")
                    continue
                helo = cmd[5:]
                lines = ["sink.test"] + [e for e in self.ext
                                         if not (tls and e == "STARTTLS")]
                f.send("\r\n".join("250-" + l for l in lines[:-1]) +
                       ("\r\n" if len(lines) > 1 else "") +
                       "250 " + lines[-1])
            elif verb == "HELO":
                helo = cmd[5:]
                f.send("250 sink.test")
            elif cmd.upper() == "STARTTLS" and self.ssl and not tls:
                f.send("220 2.0.0 go ahead")
                if self.tls_break:
                    return
                f.start_tls(self.ssl)
                tls = True
                helo = None
            elif verb == "MAIL":
                msg = Message()
                msg.helo = helo
                msg.tls = tls
                msg.mail = cmd[5:]
                msg.sender = cmd.split("<", 1)[1].split(">", 1)[0]
                rep = self.mail_reply(cmd[5:])
                if rep is None:
                    return      # hang up without a word
                f.send(rep)
            elif verb == "RCPT":
                addr = cmd.split("<", 1)[1].split(">", 1)[0]
                rep = self.rcpt(addr)
                if rep.startswith("2"):
                    msg.rcpts.append(cmd[5:])
                f.send(rep)
            elif verb == "DATA":
                if msg is None or not msg.rcpts:
                    f.send("554 5.5.1 no valid recipients")
                    continue
                if self.mode == "data250":
                    f.send("250 2.0.0 Ok")
                    msg = None
                    continue
                f.send("354 go")
                if self.mode == "early":
                    self.hold(f)
                    return
                msg.data = f.read_data()
                done += 1
                self.finish(f, msg)
                msg = None
                if self.close_after and done >= self.close_after:
                    return
            elif verb == "BDAT":
                parts = cmd.split()
                size = int(parts[1])
                last = len(parts) > 2 and parts[2].upper() == "LAST"
                if last and self.mode == "early":
                    self.hold(f)
                    return
                msg.data += f.read_exact(size)
                msg.bdat = True
                if last:
                    done += 1
                    self.finish(f, msg)
                    msg = None
                    if self.close_after and done >= self.close_after:
                        return
                else:
                    f.send("250 2.0.0 chunk ok")
            elif verb == "RSET":
                msg = None
                f.send("250 2.0.0 Ok")
            elif verb == "QUIT":
                f.send("221 2.0.0 Bye")
                return
            elif verb == "NOOP":
                f.send("250 2.0.0 Ok")
            else:
                f.send("500 5.5.2 what?")

    def hold(self, f):
        """The hostile next hop: the end of data is answered before it is
        read; then nothing is read until release(), then everything."""
        f.send("250 2.0.0 Ok: kept")
        with self.lock:
            self.early += 1
        self.released.wait()
        f.drain()

    def finish(self, f, msg):
        if self.mode == "mixed":
            f.send("250-2.0.0 Ok: kept\r\n451 4.3.0 or perhaps not")
            return
        if self.mode == "long":
            f.send("250 2.0.0 " + "x" * 3000)
            return
        rep = self.data_reply(msg)
        if rep.startswith("2"):
            msg.when = time.time()
            with self.lock:
                self.messages.append(msg)
        f.send(rep)


class _Conn:
    def __init__(self, sock, sink):
        self.sock = sock
        self.sink = sink
        self.buf = b""

    def send(self, text):
        data = text.encode() + b"\r\n"
        if self.sink.mode != "slow":
            self.sock.sendall(data)
            return
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            time.sleep(self.sink.slow_delay)

    def _recv(self):
        chunk = self.sock.recv(65536)
        with self.sink.lock:
            self.sink.raw += chunk
        return chunk

    def _fill(self):
        chunk = self._recv()
        if not chunk:
            return False
        self.buf += chunk
        return True

    def drain(self):
        """Read to the end of the connection, keeping it only in raw."""
        while self._recv():
            pass

    def readline(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ValueError("short chunk")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_data(self):
        """DATA content up to CRLF.CRLF, dot-unstuffed."""
        while True:
            i = self.buf.find(b"\r\n.\r\n")
            if self.buf.startswith(b".\r\n"):
                i = -2
            if i != -1:
                break
            if not self._fill():
                raise ValueError("short data")
        if i == -2:
            raw, self.buf = b"", self.buf[3:]
        else:
            raw, self.buf = self.buf[:i + 2], self.buf[i + 5:]
        lines = raw.split(b"\r\n")
        return b"\r\n".join(l[1:] if l.startswith(b".") else l
                            for l in lines)

    def start_tls(self, ctx):
        self.buf = b""
        raw = self.sock
        self.sock = ctx.wrap_socket(raw, server_side=True)
        with self.sink.lock:        # close() must find the new socket
            self.sink.conns.discard(raw)
            self.sink.conns.add(self.sock)
