"""Least privilege: after start-up the daemon keeps CAP_NET_ADMIN, CAP_NET_RAW and
CAP_NET_BIND_SERVICE only, on every thread, and still works (SECURITY.md)."""

from __future__ import annotations

import os

from harness import pair_confs, wait_for

from ikepy.daemon.privileges import KEEP, effective_capabilities, mask


def _bounding(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(ln.split()[1], 16) for ln in f if ln.startswith("CapBnd:"))


def test_daemon_keeps_only_network_capabilities(sec_netns, sec_charon, sec_ikepy):
    left_conf, right_conf = pair_confs(sec_netns)
    charon = sec_charon(sec_netns.right, right_conf, name="charon-right")
    charon.add_route("10.1.0.0/24", "10.2.0.1")
    ikepy = sec_ikepy(sec_netns.left, left_conf, dataplane="userspace")
    pid = ikepy.proc.pid
    wait_for(lambda: "dropped every capability" in ikepy.log(), 10, what="the drop")
    tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    assert tasks and all(effective_capabilities(pid, t) == mask(KEEP) for t in tasks)
    assert _bounding(pid) == mask(KEEP)
    # and with only those it still does its job: routes, TUN, ESP
    res = ikepy.initiate("net", ike="net", timeout=15)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sec_netns.ping(sec_netns.left, dst="10.2.0.1", src="10.1.0.1", count=2).returncode == 0
    assert ikepy.stop() == 0
