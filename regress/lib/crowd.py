"""crowd: many SMTP connections at once, driven from one thread.

    c = Crowd(port)
    c.open(2000)                       # nonblocking connects
    c.step(c.conns, b"", 1, 120)       # each reads its greeting
    c.step(held, b"NOOP\\r\\n", 1, 60)  # each sends, reads one reply

Every connection keeps the replies it read (code, last line) and whether
the server closed it; a step ends when each connection has the replies it
waits for or was closed, or at the timeout (then the rest are "hung").
"""
import errno
import resource
import selectors
import socket
import time


def raise_nofile(want):
    """Let the test itself hold want descriptors (it runs as root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))


class Conn:
    def __init__(self, sock, i):
        self.sock = sock
        self.i = i
        self.out = b""
        self.inbuf = b""
        self.lines = []
        self.replies = []      # (code, last line)
        self.want = 0
        self.eof = False
        self.connected = False

    def parse(self):
        while b"\r\n" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\r\n", 1)
            line = line.decode("utf-8", "replace")
            self.lines.append(line)
            if len(line) < 4 or line[3] != "-":
                code = int(line[:3]) if line[:3].isdigit() else None
                self.replies.append((code, line))
                self.lines = []

    def done(self):
        return self.eof or len(self.replies) >= self.want

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Crowd:
    def __init__(self, port, host="127.0.0.1", source=None):
        self.port = port
        self.host = host
        self.source = source
        self.conns = []

    def open(self, n):
        raise_nofile(n + 256)
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if self.source:
                s.bind((self.source, 0))
            s.setblocking(False)
            err = s.connect_ex((self.host, self.port))
            c = Conn(s, len(self.conns))
            if err == 0:
                c.connected = True
            elif err not in (errno.EINPROGRESS, errno.EAGAIN):
                c.eof = True
            self.conns.append(c)
        return self.conns

    def step(self, conns, data, nreplies, timeout):
        """Send data on each open connection of conns, then wait for
        nreplies more replies on each (or its close).  True when every
        one finished in time."""
        sel = selectors.DefaultSelector()
        live = []
        for c in conns:
            if c.eof:
                continue
            c.out += data
            c.want = len(c.replies) + nreplies
            live.append(c)
        end = time.time() + timeout
        for c in live:
            self._register(sel, c)
        while time.time() < end:
            if all(c.done() for c in live):
                break
            for key, ev in sel.select(timeout=0.5):
                c = key.data
                if ev & selectors.EVENT_WRITE:
                    self._write(c)
                if ev & selectors.EVENT_READ and not c.eof:
                    self._read(c)
                self._register(sel, c, modify=True)
        sel.close()
        return all(c.done() for c in live)

    def hung(self, conns):
        return [c for c in conns if not c.done()]

    def _events(self, c):
        if c.done() and not c.out:
            return 0
        ev = selectors.EVENT_READ
        if c.out or not c.connected:
            ev |= selectors.EVENT_WRITE
        return ev

    def _register(self, sel, c, modify=False):
        ev = self._events(c)
        if modify:
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
        if ev and not c.eof:
            sel.register(c.sock, ev, c)

    def _write(self, c):
        if not c.connected:
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                c.eof = True
                return
            c.connected = True
        if not c.out:
            return
        try:
            n = c.sock.send(c.out)
            c.out = c.out[n:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            c.eof = True

    def _read(self, c):
        try:
            chunk = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            c.eof = True
            return
        if not chunk:
            c.eof = True
            return
        c.connected = True
        c.inbuf += chunk
        c.parse()

    def close(self, conns=None):
        for c in (self.conns if conns is None else conns):
            c.close()
