#!/usr/bin/env python3
"""relayctl's policy commands against a live relayd: test dnsbl names the
list a client is in and each tenant's verdict; show greylist [TENANT]
counts the triplets waiting and passed and lists the whitelist added at
run time; greylist whitelist lets a client that was greylisted through;
greylist flush makes a triplet that had passed wait again.  The two that
change the mail flow are refused to an operator outside
control_admin_group, and each request is logged with the caller's uid.

The operator is a user made here (useradd) and removed at the end;
relayctl runs as it under setpriv."""
import ipaddress
import os
import pwd
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from policyworld import PolicyWorld, code  # noqa: E402
from relaytest import RELAYCTL, Tap, need_root, wait_for  # noqa: E402

DELAY = 3
TENANTS = {
    "grey": """\
policy:
  greylist:
    enabled: true
    delay: %ds
    window: 1h
    auto_whitelist_after: 0
""" % DELAY,
    "bl": """\
policy:
  dnsbl:
    enabled: true
    lists:
      - zone: bl.test
""",
}


def rev(addr, zone):
    return ipaddress.ip_address(addr).reverse_pointer.rsplit(
        ".in-addr.arpa", 1)[0] + "." + zone


BL = ["%s. 300 IN A 127.0.0.2" % rev("127.0.1.2", "bl.test")]
tag = "%d" % (os.getpid() % 100000)
OPS, OPER = "rtpops" + tag, "rtpop" + tag


def sh(*cmd):
    return subprocess.run(list(cmd), capture_output=True,
                          text=True).returncode == 0


def ctl_as(w, user, *args):
    p = subprocess.run(["setpriv", "--reuid=" + user, "--regid=" + OPS,
                        "--init-groups", RELAYCTL, "-s", w.r.sock] +
                       list(args), capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def main():
    t = Tap()
    need_root(t)
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "setpriv"):
        if shutil.which(tool) is None:
            t.skip_all("needs %s" % tool)
    made_group = sh("groupadd", OPS)
    made_user = made_group and sh("useradd", "-M", "-N", "-d",
                                  "/nonexistent", "-s", "/usr/sbin/nologin",
                                  "-g", OPS, OPER)
    w = None
    try:
        if not t.ok(made_user, "an operator %s in group %s" % (OPER, OPS)):
            t.done()
        w = PolicyWorld(t, TENANTS, zones={"bl.test.": BL},
                        main_extra="control_group: %s\n" % OPS)
        if not t.ok(w.start(), "relayd starts"):
            t.done()
        run(t, w, pwd.getpwnam(OPER).pw_uid)
    finally:
        if w is not None:
            w.stop()
        if made_user:
            sh("userdel", OPER)
        if made_group:
            sh("groupdel", OPS)
    t.done()


def greylisted(rep):
    return code(rep) == "451 4.7.1"


def run(t, w, op):
    # test dnsbl
    rc, out, err = ctl_as(w, OPER, "test", "dnsbl", "127.0.1.2")
    t.eq(rc, 0, "an operator may test dnsbl") or t.diag(err)
    t.like(out, r"(?m)^bl\.test: .*127\.0\.0\.2",
           "a listed client: the list names its zone and answer") or \
        t.diag(out)
    t.like(out, r"(?m)^tenant bl: score 1, threshold 1: listed.*bl\.test",
           "and the tenant's verdict: listed, by that list")
    t.ok(w.log_has(r"control: uid %d: test dnsbl 127\.0\.1\.2\n" % op),
         "logged with the operator's uid")
    rc, out, err = w.r.ctl("test", "dnsbl", "127.0.1.3")
    t.like(out, r"(?m)^bl\.test: not listed",
           "a client that is not: not listed") or t.diag(out)
    t.like(out, r"(?m)^tenant bl: score 0, threshold 1: not listed",
           "and the tenant lets it through")

    # A triplet passes after the delay.
    a = ("127.0.3.1", "a@good.snd.test", "u1@grey.example")
    t.ok(greylisted(w.rcpt_reply(*a)), "a new triplet is greylisted")
    time.sleep(DELAY + 1)
    t.eq(code(w.rcpt_reply(*a)), "250 2.1.5", "it passes after the delay")
    b = ("127.0.4.1", "b@good.snd.test", "u2@grey.example")
    t.ok(greylisted(w.rcpt_reply(*b)), "another waits")
    ok = wait_for(lambda: "1 triplets waiting, 1 passed" in
                  w.r.ctl("show", "greylist", "grey")[1], 15)
    rc, out, err = ctl_as(w, OPER, "show", "greylist", "grey")
    t.ok(ok and rc == 0, "an operator may show greylist grey") or \
        t.diag(out + err)
    t.like(out, r"(?m)^tenant grey: greylisting on, 1 triplets waiting, "
           r"1 passed", "one triplet waiting, one passed")
    t.ok("tenant bl:" not in out, "only the tenant named")
    t.ok(w.log_has(r"control: uid %d: show greylist grey\n" % op),
         "logged with the uid")
    rc, out, err = w.r.ctl("show", "greylist")
    t.like(out, r"(?m)^tenant bl: greylisting off",
           "show greylist alone shows every tenant")
    rc, out, err = w.r.ctl("show", "greylist", "nosuch")
    t.ok(rc != 0 and "no such tenant" in out + err,
         "an unknown tenant is refused")

    # greylist flush: administrators only.
    rc, out, err = ctl_as(w, OPER, "greylist", "flush")
    t.ok(rc == 1 and "permission denied: greylist flush needs "
         "control_admin_group" in err,
         "an operator may not flush the greylist") or t.diag(err)
    t.ok(w.log_has(r"control: uid %d: greylist flush: refused: the caller "
                   r"is not in control_admin_group" % op),
         "the refusal is logged with the uid")
    t.eq(code(w.rcpt_reply(*a)), "250 2.1.5", "the passed triplet still "
         "passes")
    rc, out, err = w.r.ctl("greylist", "flush")
    t.eq(rc, 0, "root flushes the greylist")
    t.ok(w.log_has(r"control: uid 0: greylist flush\n") and
         w.log_has(r"policyd: greylist: flushed"), "logged, with the uid")
    t.ok(wait_for(lambda: "0 triplets waiting, 0 passed" in
                  w.r.ctl("show", "greylist", "grey")[1], 15),
         "show greylist counts none")
    t.ok(greylisted(w.rcpt_reply(*a)),
         "the triplet that had passed is greylisted again")

    # greylist whitelist: administrators only.
    c = ("127.0.5.1", "c@good.snd.test", "u3@grey.example")
    t.ok(greylisted(w.rcpt_reply(*c)), "a client is greylisted")
    rc, out, err = ctl_as(w, OPER, "greylist", "whitelist", "127.0.5.0/24")
    t.ok(rc == 1 and "permission denied" in err,
         "an operator may not whitelist")
    t.ok(w.log_has(r"control: uid %d: greylist whitelist 127\.0\.5\.0/24: "
                   r"refused" % op), "the refusal is logged with the uid")
    t.ok(greylisted(w.rcpt_reply(*c)), "the client is still greylisted")
    rc, out, err = w.r.ctl("greylist", "whitelist", "127.0.5.0/24")
    t.eq(rc, 0, "root whitelists its network")
    t.ok(w.log_has(r"control: uid 0: greylist whitelist 127\.0\.5\.0/24\n")
         and w.log_has(r"policyd: greylist whitelist: 127\.0\.5\.0/24 "
                       r"added"), "logged, with the uid")
    t.eq(code(w.rcpt_reply(*c)), "250 2.1.5",
         "the whitelisted client passes greylisting")
    t.eq(code(w.rcpt_reply("127.0.5.9", "d@good.snd.test",
                           "u4@grey.example")), "250 2.1.5",
         "and so does another of its network")
    t.like(w.r.ctl("show", "greylist")[1], r"(?m)^whitelist 127\.0\.5\.0/24$",
           "show greylist lists the whitelist entry")
    rc, out, err = w.r.ctl("greylist", "whitelist", "no such thing!")
    t.ok(rc != 0, "a whitelist entry that is none is refused")
    # Kept across a restart.
    w.r.stop()
    t.ok(w.start(), "relayd restarts")
    t.eq(code(w.rcpt_reply("127.0.5.10", "e@good.snd.test",
                           "u5@grey.example")), "250 2.1.5",
         "the whitelist is kept in the store")


main()
