#!/usr/bin/env python3
"""relayd -n: checks the configuration and every tenant file, exits 0 or
1 with file:line: reason, and starts nothing.  What is allowed but likely
wrong (a tenant no notice can reach) is a warning, by file and line."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import relaytest  # noqa: E402

TENANT = relaytest.DEFAULT_TENANT.format(
    name="acme", domain="acme.example", deliver_to="127.0.0.1:2600") + """\
contacts:
  - email: noc@ops.example
    roles: [technical]
"""


def check(*args):
    """relayd -n ARGS: (exit status, stdout, stderr)."""
    p = subprocess.run([relaytest.RELAYD, "-n"] + list(args),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def line_of(path, text):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    return None


def main():
    t = relaytest.Tap()
    example = os.path.join(relaytest.TOP, "etc", "relayd.yaml")
    rc, out, err = check("-f", example)
    t.eq(rc, 0, "relayd -n -f etc/relayd.yaml exits 0")
    t.like(err, r"configuration OK: 1 tenants", "and says it is OK")

    r = relaytest.Relayd(t, tenants={"acme.yaml": TENANT})
    try:
        rc, out, err = check("-f", r.conf)
        t.eq((rc, err.strip()), (0, "configuration OK: 1 tenants"),
             "a good test configuration is OK")
        t.ok(not os.path.exists(r.state), "-n creates no state dir")
        t.ok(not os.path.exists(r.sock), "-n creates no control socket")

        # The main file.
        r.write_main("frobnication: yes\n")
        n = line_of(r.conf, "frobnication")
        rc, out, err = check("-f", r.conf)
        t.eq(rc, 1, "unknown key in relayd.yaml: exits 1")
        t.like(err, r"^%s:%d: .*frobnication" % (re.escape(r.conf), n),
               "unknown key in relayd.yaml: file:line: reason on stderr")
        t.eq(out, "", "nothing on stdout")

        r.write_main("hostname: again.example\n")
        n = line_of(r.conf, "again.example")
        rc, out, err = check("-f", r.conf)
        t.eq(rc, 1, "duplicate key in relayd.yaml: exits 1")
        t.like(err, r"^%s:%d: .*hostname" % (re.escape(r.conf), n),
               "duplicate key: file:line: reason")

        r.write_main("limits:\n  max_recipients: 10\n")
        n = line_of(r.conf, "max_recipients")
        rc, out, err = check("-f", r.conf)
        t.eq(rc, 1, "max_recipients below 100: exits 1")
        t.like(err, r"^%s:%d: .*max_recipients" % (re.escape(r.conf), n),
               "max_recipients below 100: file:line: reason")
        r.write_main("")

        # Warnings: no technical or emergency contact outside the tenant's
        # domains.  The configuration is still good.
        tfile = os.path.join(r.tenants_dir, "acme.yaml")
        for what, contacts in [
                ("no contacts", ""),
                ("only a contact in its own domain",
                 "contacts:\n  - email: it@acme.example\n"
                 "    roles: [technical, emergency]\n"),
                ("only a billing contact elsewhere",
                 "contacts:\n  - email: accounts@ops.example\n"
                 "    roles: [billing]\n")]:
            r.write_tenant("acme.yaml", relaytest.DEFAULT_TENANT.format(
                name="acme", domain="acme.example",
                deliver_to="127.0.0.1:2600") + contacts)
            n = line_of(tfile, "contacts:") or 1
            rc, out, err = check("-f", r.conf)
            t.eq(rc, 0, "%s: still exits 0" % what)
            t.like(err, r"^%s:%d: warning: tenant \"acme\" has no technical "
                   r"or emergency contact outside its own domains" % (
                       re.escape(tfile), n),
                   "%s: a warning by file and line" % what)
            t.like(err, r"\nconfiguration OK: 1 tenants\n$",
                   "%s: then OK" % what)
        r.write_tenant("acme.yaml", TENANT.replace("technical",
                                                   "emergency"))
        rc, out, err = check("-f", r.conf)
        t.eq((rc, err.strip()), (0, "configuration OK: 1 tenants"),
             "an emergency contact outside its domains: no warning")
        r.write_tenant("acme.yaml", TENANT)

        # A tenant file.
        tfile = os.path.join(r.tenants_dir, "acme.yaml")
        r.write_tenant("acme.yaml", TENANT + "frobnication: yes\n")
        n = line_of(tfile, "frobnication")
        rc, out, err = check("-f", r.conf)
        t.eq(rc, 1, "unknown key in a tenant file: exits 1")
        t.like(err, r"^%s:%d: .*frobnication" % (re.escape(tfile), n),
               "unknown key in a tenant file: file:line: reason")

        r.write_tenant("acme.yaml", TENANT)
        r.write_tenant("dup.yaml", relaytest.DEFAULT_TENANT.format(
            name="dup", domain="acme.example", deliver_to="127.0.0.1:2601"))
        dfile = os.path.join(r.tenants_dir, "dup.yaml")
        n = line_of(dfile, "- acme.example")
        rc, out, err = check("-f", r.conf)
        t.eq(rc, 1, "a domain claimed by two tenants: exits 1")
        t.like(err, r"^%s:%d: .*acme\.example" % (re.escape(dfile), n),
               "a domain claimed by two tenants: file:line: reason")
        os.unlink(dfile)

        r.write_tenant("anchor.yaml", "tenant: &x anchor\n"
                       "postmaster: postmaster@anchor.example\n"
                       "domains: [anchor.example]\n"
                       "inbound:\n  mode: relay\n"
                       "  deliver_to: [127.0.0.1:2602]\n")
        afile = os.path.join(r.tenants_dir, "anchor.yaml")
        rc, out, err = check("-f", r.conf)
        t.eq(rc, 1, "a YAML anchor: exits 1")
        t.like(err, r"^%s:1: " % re.escape(afile),
               "a YAML anchor: file:line: reason")
        os.unlink(afile)

        rc, out, err = check("-f", r.conf)
        t.eq(rc, 0, "fixed again: exits 0")
        t.ok(not os.path.exists(r.state), "still no state dir")

        # Missing files.
        missing = os.path.join(r.dir, "nonexistent.yaml")
        rc, out, err = check("-f", missing)
        t.eq(rc, 1, "relayd -n with a missing file exits 1")
        t.like(err, r"^%s: No such file or directory" % re.escape(missing),
               "and names the file and the reason")
        os.rename(r.tenants_dir, r.tenants_dir + ".gone")
        rc, out, err = check("-f", r.conf)
        t.eq(rc, 1, "relayd -n with a missing tenants_dir exits 1")
        t.like(err, r"tenants\.d", "and names it")
    finally:
        r.cleanup()
    t.done()


main()
