#!/usr/bin/env python3
"""log.file: the parent writes every process's lines into it (and to
stderr as well with -d); at each UTC day's end it is renamed FILE.DAY
and a new one begun, and a day's file is deleted once retention.logs has
passed since its day began.  On the test clock (the debug build with
RELAYD_TIME_SCALE) a day lasts a few seconds.  With log.addresses left
out, the files name no address of the mail that went through."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root, queue_id, wait_for  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)

SCALE = 8640            # a day in 10 real seconds
DAY = re.compile(r"^relayd\.log\.(\d{4}-\d\d-\d\d)$")

SENDER = "logfile.sender@sender.test"
RCPT = "logfile.rcpt@acme.example"

w = World(tap, log_addresses=False, retention="logs: 2d\n")
r = w.r
logdir = os.path.join(r.dir, "logs")
os.mkdir(logdir)
path = os.path.join(logdir, "relayd.log")
r.log_opts = "file: " + path
r.write_main()


def days():
    try:
        return sorted(m.group(1) for m in
                      (DAY.match(n) for n in os.listdir(logdir)) if m)
    except OSError:
        return []


def every():
    """What the log files hold, today's and the days kept."""
    return "".join(read(os.path.join(logdir, n)) for n in
                   sorted(os.listdir(logdir)))


def read(p):
    try:
        with open(p, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


try:
    # The clock starts a minute into a UTC day, so that the first day's
    # file lives its whole two days: clock = base + (now - base) * SCALE.
    now = int(time.time())
    start = (now // 86400 + 1) * 86400 + 60
    env = {"RELAYD_TIME_SCALE": str(SCALE),
           "RELAYD_TIME_BASE": str((now * SCALE - start) // (SCALE - 1))}
    tenant = w.sink(w.tenant_addr)
    tap.ok(r.start(debug=True, env=env), "relayd starts with log.file")
    code, text = w.send(SENDER, [RCPT])
    qid = queue_id(text)
    tap.ok(qid and tenant.wait(1), "a message goes through")
    tap.ok(wait_for(lambda: "configuration 1 is in force" in every(), 10),
           "the lines go to log.file")
    tap.like(every(), r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
             r"queued: configuration 1 in force$",
             "each with its UTC date and time and its process")
    tap.ok("configuration 1 is in force" in r.log(),
           "with -d they go to stderr as well")
    tap.ok(wait_for(lambda: re.search(r"msgid=%s tenant=acme relay=\S+ "
                                      r".*status=sent" % qid, every()), 10),
           "the message's delivery is in log.file")
    tap.ok(SENDER not in every() and RCPT not in every(),
           "and no log file names its addresses")
    st = os.stat(path)
    tap.eq(st.st_mode & 0o777, 0o640, "the file is 0640")

    first = wait_for(days, 30)
    tap.ok(first, "at the day's end the file takes its day's name (%s)" %
           first)
    if first:
        day = first[0]
        lines = [l for l in read(os.path.join(logdir, "relayd.log." + day))
                 .splitlines() if l]
        tap.ok(lines and all(l.startswith(day + "T") for l in lines),
               "it holds that day's lines, and only those")
    tap.ok(wait_for(lambda: len(read(path)) > 0, 10),
           "a new relayd.log is begun")
    # retention.logs is 2d: a day's file goes two days after it began.
    gone = first and wait_for(lambda: first[0] not in days(), 60)
    tap.ok(gone, "the first day's file is deleted once retention.logs "
           "has passed")
    tap.ok(re.search(r"log: %s deleted: retention\.logs is 2d" %
                     re.escape(path + "." + (first or ["?"])[0]),
                     read(path) + "".join(read(os.path.join(logdir, n))
                                          for n in os.listdir(logdir))),
           "and that is logged")
    tap.ok(len(days()) <= 2, "never more days than retention.logs allows "
           "(%s)" % days())
finally:
    w.stop()
tap.done()
