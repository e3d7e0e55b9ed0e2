#!/usr/bin/env python3
"""metricsd and hostile HTTP clients: garbage, a head too long, a POST,
another path, another version, a client that never finishes its request
(closed after its deadline), many connections at once; a normal scrape
works through all of it and relayd stays up."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import promtext  # noqa: E402
from relaytest import Relayd, Tap, free_port, wait_for  # noqa: E402

tap = Tap()
mport = free_port()
r = Relayd(tap, main_extra="metrics:\n  listen: 127.0.0.1:%d\n" % mport)


def status_of(answer):
    line = answer.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def good_scrape(what):
    status, ctype, text = promtext.scrape(mport)
    try:
        promtext.parse(text)
        parsed = True
    except ValueError:
        parsed = False
    tap.ok(status == 200 and parsed, "a normal scrape works %s" % what)


try:
    tap.ok(r.start(), "relayd starts with metrics.listen")
    for data, want, what in [
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400,
             "a TLS hello (garbage)"),
            (b"GET /metrics\r\n\r\n", 400, "HTTP/0.9 style"),
            (b"GET /metrics HTTP/2.0\r\n\r\n", 400, "another version"),
            (b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
             405, "a POST"),
            (b"HEAD /metrics HTTP/1.1\r\n\r\n", 405, "a HEAD"),
            (b"GET / HTTP/1.1\r\n\r\n", 404, "another path"),
            (b"GET /metricsx HTTP/1.0\r\n\r\n", 404, "a longer path"),
            (b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n", 400,
             "a header without a colon"),
            (b"GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n", 400,
             "a folded header"),
            (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
             400, "a head too long"),
            (b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 200,
             "a query string")]:
        try:
            ans = promtext.raw(mport, data)
        except OSError as e:
            ans = b""
            tap.diag("%s: %s" % (what, e))
        tap.eq(status_of(ans), want, "%s: %d" % (what, want))
    ans = promtext.raw(mport, b"GET /metrics HTTP/1.0\r\n\r\n")
    tap.like(ans.split(b"\r\n", 1)[0].decode(), r"^HTTP/1\.0 200 OK$",
             "an HTTP/1.0 request is answered in HTTP/1.0")
    tap.ok(b"\r\nConnection: close\r\n" in ans, "with Connection: close")
    good_scrape("after the bad requests")

    # A slow client: half a request, then nothing.
    slow = socket.create_connection(("127.0.0.1", mport), timeout=60)
    slow.sendall(b"GET /metr")
    good_scrape("while a client is stuck in its request")
    # Many connections at once, none sending anything.
    many = []
    for i in range(40):
        try:
            many.append(socket.create_connection(("127.0.0.1", mport),
                                                 timeout=60))
        except OSError:
            pass
    good_scrape("while %d idle connections are open" % len(many))
    tap.ok(r.wait_log(r"metricsd: metrics: too many clients; closed "
                      r"127\.0\.0\.1", 10),
           "the oldest idle connections are closed to make room, logged")
    for s in many:
        s.close()
    # The slow one is closed once its deadline passes (10 s).
    try:
        got = slow.recv(100)
    except OSError:
        got = b""
    tap.eq(got, b"", "the slow client is closed without an answer")
    slow.close()
    good_scrape("at the end")
    tap.ok(r.proc.poll() is None and len(r.children()) == 7,
           "relayd and its children are all still running")
finally:
    r.cleanup()
tap.done()
