#!/usr/bin/env python3
"""The manual pages: mandoc -Tlint -Wall has nothing to say about them,
and they name every configuration key and every control command.

mandoc looks up .Xr references in /usr/share/man and then in the current
directory, so the lint runs from man/, where the pages refer to each
other.  Pages of other packages are found only through a mandoc.db
(makewhatis), which Debian does not build: so the pages name them with
.Fn or in plain words, not with .Xr."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import TOP, Tap  # noqa: E402

PAGES = ["relayd.8", "relayctl.8", "relayd.yaml.5", "relayd-tenant.5"]
MAIN_TABLES = ["main_fields", "listener_fields", "dns_fields",
               "limits_fields", "timeouts_fields", "queue_fields",
               "main_dnsbl_fields", "dnsbl_list_fields", "selfcheck_fields",
               "tls_fields", "notices_fields", "retention_fields",
               "log_fields"]
TENANT_TABLES = ["tenant_fields", "domain_fields", "inbound_fields",
                 "recipients_fields", "callout_fields", "outbound_fields",
                 "tenant_limits_fields", "policy_fields", "greylist_fields",
                 "tenant_dnsbl_fields", "dnsbl_list_fields",
                 "tenant_tls_fields", "contact_fields"]


def read(path):
    with open(os.path.join(TOP, path), encoding="utf-8") as f:
        return f.read()


def keys(src, table):
    """The keys of one struct field table of config_load.c."""
    m = re.search(r"static const struct field %s\[\] = \{(.*?)\n\};" % table,
                  src, re.S)
    if not m:
        return None
    return re.findall(r'\{ "(\w+)"|QF\((\w+),', m.group(1))


def documented(page):
    return set(re.findall(r"^\.It Ic (\w+)", read("man/" + page), re.M))


tap = Tap()
if shutil.which("mandoc") is None:
    tap.skip_all("mandoc is not installed (scripts/deps test)")

for page in PAGES:
    p = subprocess.run(["mandoc", "-Tlint", "-Wall", page],
                       cwd=os.path.join(TOP, "man"), capture_output=True,
                       text=True)
    out = p.stdout + p.stderr
    if not tap.ok(out == "", "mandoc -Tlint -Wall %s: nothing to say" % page):
        tap.diag(out)

src = read("config/config_load.c")
for page, tables in (("relayd.yaml.5", MAIN_TABLES),
                     ("relayd-tenant.5", TENANT_TABLES)):
    have = documented(page)
    for table in tables:
        found = keys(src, table)
        if not tap.ok(found, "%s found in config_load.c" % table):
            continue
        names = [a or b for a, b in found]
        missing = [k for k in names if k not in have]
        tap.eq(missing, [], "%s names every key of %s" % (page, table))

verbs = re.findall(r'\{ "([a-z ]+)", CTL_', read("common/control_req.c"))
tap.ok(verbs, "commands found in control_req.c")
ctl = read("man/relayctl.8")
missing = [v for v in verbs
           if not re.search(r"^\.It Cm %s\b" % re.escape(v), ctl, re.M)]
tap.eq(missing, [], "relayctl.8 names every command of control_req.c")
tap.done()
