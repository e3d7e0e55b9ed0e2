#!/usr/bin/env python3
"""Each process's SMTP replies in one place: smtpd's in smtpd/smtp_reply.c,
what queued tells smtpd (which smtpd passes to its client) in
queued/queue_reply.c, and the verdicts policyd gives smtpd (checks,
recipient verification, content scans) in policyd/policy_reply.c, so that
a reply seen in a log leads to one line.

Read from the sources, with comments left out: elsewhere in smtpd/, and in
the queued files that talk to smtpd, no string holds an enhanced status
code or starts a reply line, no reply, close or fail call is given a reply
code as a number, and no string repeats a text of the tables."""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import TOP, Tap  # noqa: E402

tap = Tap()
TABLES = {"smtpd": "smtpd/smtp_reply.c", "queued": "queued/queue_reply.c",
          "policyd": "policyd/policy_reply.c"}
ENH = re.compile(r"(?<![\w.])[245]\.\d{1,3}\.\d{1,3}(?![\w.])")
REPLY_LINE = re.compile(r"(?:^|\n)[2-5]\d\d[ -]")
CODE = re.compile(r"(?<![\w.])[2-5]\d\d(?![\w.])")
CALL = re.compile(r"\b\w*(?:reply|close|fail)\w*\s*\(")
CODE_SET = re.compile(r"\bcode\s*=\s*[2-5]\d\d\b")
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def unescape(s):
    return re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1),
                                                  "\\" + m.group(1)), s)


def scan(path):
    """(code, strings) of a C file: the code without comments and with
    every string emptied; the strings with their lines, adjacent ones
    joined as the compiler joins them."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    code, strings = [], []
    i, n, line, joining = 0, len(text), 1, None
    while i < n:
        if text.startswith("/*", i) or text.startswith("//", i):
            end = text.find("*/", i + 2) + 2 if text[i + 1] == "*" else \
                text.find("\n", i)
            end = n if end < 2 or end == -1 else end
            code.append("\n" * text.count("\n", i, end) or " ")
            line += text.count("\n", i, end)
            i = end
            continue
        c = text[i]
        if c == "#" and text[text.rfind("\n", 0, i) + 1:i].strip() == "":
            # A preprocessor line: its "file.h" is not a string.
            end = i
            while True:
                end = text.find("\n", end)
                if end == -1 or text[end - 1] != "\\":
                    break
                end += 1
            end = n if end == -1 else end
            code.append(text[i:end])
            line += text.count("\n", i, end)
            i = end
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            value = unescape(text[i + 1:j])
            if c == '"':
                if joining is None:
                    joining = [line, ""]
                    strings.append(joining)
                joining[1] += value
            else:
                joining = None
            code.append(c + c)
            line += text.count("\n", i, j)
            i = j + 1
            continue
        if c == "\n":
            line += 1
        if not c.isspace():
            joining = None
        code.append(c)
        i += 1
    return "".join(code), [(ln, s) for ln, s in strings]


def call_args(code, start):
    """The text between a call's parentheses (start: after its '(')."""
    depth, i = 1, start
    while i < len(code) and depth > 0:
        depth += {"(": 1, ")": -1}.get(code[i], 0)
        i += 1
    return code[start:i - 1]


def table_texts(path):
    """The texts of a table file's replies: its strings but the enhanced
    codes, and the constant start of each formatted reply."""
    _, strings = scan(path)
    texts = set()
    for _, s in strings:
        if ENH.fullmatch(s) or len(s) < 2:
            continue
        texts.add(s.split("%")[0].strip() if "%" in s else s)
    # A check's name ("greylist") names it in log lines too.
    return {t for t in texts if len(t) >= 2 and
            not re.fullmatch(r"[a-z][a-z-]*", t)}


def offences(path, texts):
    rel = os.path.relpath(path, TOP)
    code, strings = scan(path)
    found = []
    for line, s in strings:
        where = "%s:%d: %r" % (rel, line, s[:60])
        if ENH.search(s):
            found.append(where + " holds an enhanced status code")
        elif REPLY_LINE.search(s):
            found.append(where + " is a reply line")
        elif s in texts or any(len(t) >= 20 and t in s for t in texts):
            found.append(where + " repeats a reply text")
    for m in CALL.finditer(code):
        args = call_args(code, m.end())
        if CODE.search(args):
            found.append("%s:%d: %s) is given a reply code" % (
                rel, code.count("\n", 0, m.start()) + 1,
                m.group(0) + " ".join(args.split())[:60]))
    for m in CODE_SET.finditer(code):
        found.append("%s:%d: %s: a reply code set by hand" % (
            rel, code.count("\n", 0, m.start()) + 1, m.group(0)))
    return found


def queued_reply_paths():
    """queued's files that talk to smtpd: what they send reaches clients."""
    paths = []
    for p in sorted(glob.glob(os.path.join(TOP, "queued", "*.[ch]"))):
        code, _ = scan(p)
        if re.search(r"\bPROC_SMTPD\b|\bM_Q_\w+", code):
            paths.append(p)
    return paths


scope = {
    "smtpd": sorted(glob.glob(os.path.join(TOP, "smtpd", "*.[ch]"))),
    "queued": queued_reply_paths(),
    "policyd": sorted(glob.glob(os.path.join(TOP, "policyd", "*.[ch]"))),
}
for proc, table in sorted(TABLES.items()):
    path = os.path.join(TOP, table)
    if not tap.ok(os.path.exists(path), "%s: the table is %s" % (proc,
                                                                   table)):
        texts = set()
    else:
        _, strings = scan(path)
        codes = sum(len(ENH.findall(s)) for _, s in strings)
        tap.ok(codes >= {"smtpd": 40, "queued": 8, "policyd": 15}[proc],
               "%s: %d enhanced codes in the table" % (proc, codes))
        texts = table_texts(path)
    files = [p for p in scope[proc] if os.path.relpath(p, TOP) != table]
    names = [os.path.basename(p) for p in files]
    tap.ok(len(files) >= {"smtpd": 10, "queued": 2, "policyd": 10}[proc] and
           ("queue_receive.c" in names or proc != "queued"),
           "%s: %d files checked (%s)" % (proc, len(files),
                                          " ".join(names)))
    found = []
    for p in files:
        found += offences(p, texts)
    if not tap.ok(not found, "%s: no reply outside %s" % (proc, table)):
        for f in found:
            tap.diag(f)
tap.done()
