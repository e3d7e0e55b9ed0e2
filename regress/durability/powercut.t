#!/usr/bin/env python3
"""A power cut.  A kill leaves the page cache intact, so it proves nothing
about syncing: here the state directory is an ext4 image on a loop
device.  While the tenant's server accepts connections but never answers
(nothing can be delivered), 200 messages are acknowledged; then the
filesystem is shut down without flushing its journal (xfs_io -x -c
shutdown: what a power cut leaves on disk), relayd is killed, the image
is mounted again and relayd restarted.  Every acknowledged message must
be delivered."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from relaytest import (Tap, need_root, private_mounts,  # noqa: E402
                       send_message, wait_for)
from world import World  # noqa: E402

tap = Tap()
need_root(tap)
if shutil.which("xfs_io") is None or shutil.which("mkfs.ext4") is None:
    tap.skip_all("needs xfs_io (xfsprogs) and mkfs.ext4")
private_mounts(tap)

N = 200
img_dir = tempfile.mkdtemp(prefix="powercut.")
img = os.path.join(img_dir, "state.img")
subprocess.run(["truncate", "-s", "256M", img], check=True)
subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)


def mount(where):
    os.makedirs(where, exist_ok=True)
    subprocess.run(["mount", "-o", "loop", img, where], check=True)


def umount(where):
    for _ in range(50):
        if subprocess.run(["umount", where],
                          capture_output=True).returncode == 0:
            return True
        time.sleep(0.1)
    return subprocess.run(["umount", "-l", where]).returncode == 0


w = World(tap, queue="retry_min: 1s\nretry_max: 1s\n",
          limits="max_connections_per_client: 100\nmin_free_space: 16M\n")
acked = []
lock = threading.Lock()
try:
    mount(w.r.state)
    hang = w.sink(w.tenant_addr, hang=True)
    tap.ok(w.start(), "relayd starts on a loop-mounted ext4 image")

    def client(k):
        for i in range(k, N, 4):
            token = b"pc-%d" % i
            code, text = send_message(w.r.port, "a@sender.test",
                                      ["bob@acme.example"],
                                      b"Subject: " + token + b"\r\n\r\n" +
                                      token * 100 + b"\r\n")
            if code == 250:
                with lock:
                    acked.append(token)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tap.eq(len(acked), N, "%d messages acknowledged, none delivered" % N)
    tap.eq(hang.count(), 0, "the next hop took nothing")

    # The power cut: the journal is not flushed.
    rc = subprocess.run(["xfs_io", "-x", "-c", "shutdown", w.r.state],
                        capture_output=True, text=True)
    tap.eq(rc.returncode, 0, "the filesystem is shut down without flushing "
           "its journal")
    os.killpg(w.r.proc.pid, signal.SIGKILL)
    w.r.proc.wait()
    hang.close()
    tap.ok(umount(w.r.state), "unmounted")
    mount(w.r.state)
    tenant = w.sink(w.tenant_addr)
    w.r.proc = None
    tap.ok(w.start(), "remounted, relayd restarts")
    tokens = lambda: set(m.data.split(b"Subject: ", 1)[1].split(b"\r\n")[0]
                         for m in tenant.messages)
    tap.ok(acked and wait_for(lambda: set(acked) <= tokens(), 60),
           "every acknowledged message is delivered after the power cut")
    missing = set(acked) - tokens()
    if missing:
        tap.diag("lost %d: %s" % (len(missing), sorted(missing)[:10]))
    tap.ok(w.queue_empty(20), "the queue ends empty")
finally:
    w.r.stop()
    for s in w.sinks.values():
        s.close()
    umount(w.r.state)
    w.r.cleanup()
    w.dns.stop()
    shutil.rmtree(img_dir, ignore_errors=True)
tap.done()
