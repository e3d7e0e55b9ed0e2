#!/usr/bin/env python3
"""Reload: a broken tenant file leaves the running configuration in
force (SIGHUP and relayctl reload); a fixed one becomes configuration 2
in every process."""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402

TENANT = relaytest.DEFAULT_TENANT.format(
    name="acme", domain="acme.example", deliver_to="127.0.0.1:2600")


def status_rows(out):
    rows = {}
    for line in out.splitlines()[1:]:
        w = line.split()
        if len(w) >= 4:
            rows[w[0]] = " ".join(w[3:])
    return rows


def main():
    t = relaytest.Tap()
    r = relaytest.Relayd(t, tenants={"acme.yaml": TENANT})
    try:
        if not t.ok(r.start(), "relayd starts with one tenant"):
            t.done()
        t.like(r.log(), r"relayd started: 1 tenants", "one tenant loaded")
        tfile = os.path.join(r.tenants_dir, "acme.yaml")
        bad_line = len(TENANT.splitlines()) + 1
        r.write_tenant("acme.yaml", TENANT + "frobnication: yes\n")
        where = re.escape("%s:%d:" % (tfile, bad_line))

        # SIGHUP with the broken file.
        r.proc.send_signal(signal.SIGHUP)
        t.ok(r.wait_log(r"reload failed; the configuration in force is "
                        r"unchanged", 5), "SIGHUP: reload fails")
        t.like(r.log(), r"relayd: reload: %s .*frobnication" % where,
               "SIGHUP: the error is logged with file:line")
        t.ok(r.proc.poll() is None, "SIGHUP: relayd still running")
        t.eq(len(r.children()), len(relaytest.CHILDREN),
             "SIGHUP: every child still runs")
        rc, out, err = r.ctl("show", "status")
        t.eq(rc, 0, "SIGHUP: show status still works")
        rows = status_rows(out)
        t.eq(rows.get("relayd"), "running, configuration 1",
             "SIGHUP: configuration 1 still in force")
        t.eq(sorted(v.split(",")[0] for k, v in rows.items()
                    if k != "relayd"),
             ["running"] * len(relaytest.CHILDREN),
             "SIGHUP: every child running")

        # relayctl reload with the broken file.
        rc, out, err = r.ctl("reload")
        t.ok(rc not in (0, None), "relayctl reload, broken: exits "
             "non-zero (%r)" % rc)
        t.like(err, r"^relayctl: .*%s .*frobnication" % where,
               "relayctl reload, broken: says file:line and why")
        t.ok(r.proc.poll() is None, "relayctl reload, broken: relayd "
             "still running")
        rc, out, err = r.ctl("show", "status")
        t.eq(status_rows(out).get("relayd"), "running, configuration 1",
             "relayctl reload, broken: configuration 1 still in force")
        t.ok(not re.search(r"configuration 2", r.log()),
             "no configuration 2 so far")

        # Fixed, with a second tenant file: configuration 2.
        r.write_tenant("acme.yaml", TENANT)
        r.write_tenant("beta.yaml", relaytest.DEFAULT_TENANT.format(
            name="beta", domain="beta.example", deliver_to="127.0.0.1:2601"))
        rc, out, err = r.ctl("reload")
        t.eq((rc, err), (0, ""), "relayctl reload, fixed: exits 0")
        log = r.log()
        t.like(log, r"relayd: configuration 2 loaded: 2 tenants",
               "configuration 2 loaded, with both tenants")
        t.like(log, r"relayd: configuration 2 is in force in every process",
               "relayctl returned once configuration 2 is in force in "
               "every process")
        for name in relaytest.CHILDREN:
            t.ok(r.wait_log(r"%s: configuration 2 in force" % name, 5),
                 "%s took configuration 2" % name)
        rc, out, err = r.ctl("show", "status")
        rows = status_rows(out)
        t.eq(rows.get("relayd"), "running, configuration 2",
             "show status: configuration 2")
        t.eq(sorted(v.split(",")[0] for k, v in rows.items()
                    if k != "relayd"),
             ["running"] * len(relaytest.CHILDREN),
             "show status: every child running")
        t.ok(not re.search(r"stopping relayd|killed by signal|fatal", log),
             "no child died on the way")
    finally:
        r.cleanup()
    t.done()


main()
