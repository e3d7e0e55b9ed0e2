"""A strict reader of the Prometheus text format 0.0.4, and a scrape.

parse(text) returns {family: {"help": str, "type": str, "samples":
{labels-tuple: float}}} or raises ValueError naming the line: every line
is a # HELP, a # TYPE or a sample; HELP and TYPE come once per family,
before its samples; a family's lines are one group; names, label names
and label values (escapes \\\\, \\" and \\n only) are in syntax; values
are numbers; no series is given twice; the text ends with a newline.
"""
import re
import socket
import urllib.error
import urllib.request

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
HELP_RE = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|"
                     r"untyped)$" % NAME)
SAMPLE_RE = re.compile(r"^(%s)(\{[^\n]*\})? (\S+)( -?\d+)?$" % NAME)
LABEL_RE = re.compile(r'(%s)="((?:[^"\\\n]|\\[\\"n])*)"' % LABEL)
VALUE_RE = re.compile(r"^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|NaN|"
                      r"[+-]Inf)$")


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1),
                                                      m.group(1)), v)


def parse_labels(s, where):
    if s is None:
        return ()
    body = s[1:-1]
    out, pos = [], 0
    while pos < len(body):
        m = LABEL_RE.match(body, pos)
        if m is None:
            raise ValueError("%s: bad labels %r" % (where, s))
        if m.group(1).startswith("__"):
            raise ValueError("%s: reserved label %s" % (where, m.group(1)))
        out.append((m.group(1), unescape(m.group(2))))
        pos = m.end()
        if pos < len(body):
            if body[pos] != ",":
                raise ValueError("%s: bad labels %r" % (where, s))
            pos += 1
    names = [k for k, _ in out]
    if len(set(names)) != len(names):
        raise ValueError("%s: a label twice in %r" % (where, s))
    return tuple(sorted(out))


def parse(text):
    if not text.endswith("\n"):
        raise ValueError("the text does not end with a newline")
    fams, done, cur = {}, set(), None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d %r" % (n, line)
        if line.startswith("#"):
            m = HELP_RE.match(line) or TYPE_RE.match(line)
            if m is None:
                raise ValueError("%s: neither HELP nor TYPE" % where)
            name, kind = m.group(1), line.split()[1].lower()
        else:
            m = SAMPLE_RE.match(line)
            if m is None:
                raise ValueError("%s: not a sample" % where)
            name, kind = m.group(1), "sample"
        if name != cur:
            if name in done:
                raise ValueError("%s: family %s is not one group" %
                                 (where, name))
            if cur is not None:
                done.add(cur)
            cur = name
        f = fams.setdefault(name, {"help": None, "type": None,
                                   "samples": {}})
        if kind != "sample":
            if f[kind] is not None:
                raise ValueError("%s: a second %s for %s" % (where, kind,
                                                             name))
            if f["samples"]:
                raise ValueError("%s: %s after samples" % (where, kind))
            f[kind] = m.group(2)
            continue
        labels, value = m.group(2), m.group(3)
        if f["type"] is None:
            raise ValueError("%s: no TYPE before the sample" % where)
        if f["type"] not in ("counter", "gauge"):
            raise ValueError("%s: unexpected type %s" % (where, f["type"]))
        if not VALUE_RE.match(value):
            raise ValueError("%s: bad value" % where)
        key = parse_labels(labels, where)
        if key in f["samples"]:
            raise ValueError("%s: series given twice" % where)
        v = float(value)
        if f["type"] == "counter" and v < 0:
            raise ValueError("%s: a negative counter" % where)
        f["samples"][key] = v
    for name, f in fams.items():
        if f["help"] is None or f["type"] is None:
            raise ValueError("family %s lacks HELP or TYPE" % name)
    return fams


def scrape(port, host="127.0.0.1", timeout=20):
    """(status, content type, text) of GET /metrics."""
    try:
        with urllib.request.urlopen("http://%s:%d/metrics" % (host, port),
                                    timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), \
                r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def value(fams, name, **labels):
    """A sample's value, or None."""
    f = fams.get(name)
    if f is None:
        return None
    return f["samples"].get(tuple(sorted(labels.items())))


def raw(port, data, host="127.0.0.1", timeout=20):
    """Send bytes, read until the server closes: the answer."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        if data:
            s.sendall(data)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    finally:
        s.close()
