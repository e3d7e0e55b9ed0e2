#!/usr/bin/env python3
"""rspamd from Debian, its milter proxy (rspamd_proxy with milter = yes,
scanning itself) on a Unix socket in the test's directory, offline: no
Redis, a resolver nobody answers.  A local rule rejects a test subject;
another adds X-Spam-Bulk: yes, which the tenant's bulk_defer turns into
450 4.7.1 every time.  Ordinary mail goes through unchanged."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import Tap, need_root  # noqa: E402
from scanners import Rspamd  # noqa: E402
from world import World  # noqa: E402

tap = Tap()
need_root(tap)

RULES = """\
rspamd_config:register_symbol({
  name = 'RELAYD_TEST_REJECT',
  score = 100.0,
  callback = function(task)
    local subj = task:get_subject()
    return subj ~= nil and subj:find('RELAYD%-REJECT') ~= nil
  end
})
rspamd_config:register_symbol({
  name = 'RELAYD_TEST_BULK',
  score = 0.1,
  callback = function(task)
    local subj = task:get_subject()
    if subj ~= nil and subj:find('RELAYD%-BULK') then
      task:set_milter_reply({add_headers = {['X-Spam-Bulk'] = 'yes'}})
      return true
    end
    return false
  end
})
"""

w = None
rs = None
try:
    w = World(tap)
    rs = Rspamd(w.r.dir, RULES)
    if rs.missing:
        tap.skip_all("%s is not installed (scripts/deps test)" % rs.missing)
    w.r.write_tenant("acme.yaml", open(os.path.join(
        w.r.tenants_dir, "acme.yaml")).read() + """\
content:
  milters:
    - socket: unix:%s
      timeout: 60s
  bulk_defer: ["X-Spam-Bulk: yes"]
""" % rs.socket)
    ok = rs.start()
    tap.ok(ok, "rspamd starts offline with its milter proxy")
    if not ok:
        tap.diag(rs.log()[-3000:])
    tap.ok(w.start(), "relayd starts")
    acme = w.sink("127.0.0.20")

    sent = b"Subject: hello\r\nFrom: a@sender.test\r\n\r\nJust mail.\r\n"
    code, text = w.send("a@sender.test", ["alice@acme.example"], sent)
    tap.eq(code, 250, "ordinary mail: 250")
    tap.ok(acme.wait(1), "delivered")
    tap.ok(acme.messages[0].data.endswith(sent), "as sent")

    code, text = w.send("a@sender.test", ["alice@acme.example"],
                        b"Subject: RELAYD-REJECT now\r\n\r\nspam\r\n")
    tap.ok(code >= 500, "the rule's subject: refused with rspamd's reply "
           "(%d %s)" % (code, text))
    tap.ok(w.log_has(r"milter msgid=\w+ tenant=acme milter=unix:\S+ "
                     r"result=reject"), "logged")

    for i in (1, 2):
        code, text = w.send("a@sender.test", ["alice@acme.example"],
                            b"Subject: RELAYD-BULK offer\r\n\r\nbuy\r\n")
        tap.eq(code, 450, "the bulk rule, try %d: 450 (%s)" % (i, text))
    tap.eq(len(acme.messages), 1, "neither reached the tenant")
except Exception as e:
    import traceback
    tap.ok(False, "exception: %r" % e)
    tap.diag(traceback.format_exc())
finally:
    if rs is not None:
        rs.stop()
    if w is not None:
        w.stop()
tap.done()
