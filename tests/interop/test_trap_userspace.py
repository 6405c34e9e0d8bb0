"""Trap policies in the userspace data plane, against charon's kernel-libipsec.

    left: ikepy --dataplane userspace, start_action = trap, close_action = trap
    right: charon (kernel-libipsec), a plain responder

No SA at first: ikepy only routes 10.2.0.0/24 into its TUN device and keeps a
trap SPD entry. The first ping from 10.1.0.1 hits the trap (dropped, counted)
and raises an acquire: ikepy negotiates, the later pings get replies, and its
stats show one acquire. charon then deletes the CHILD_SA
(``swanctl --terminate --child net``): close_action = trap leaves the trap in
place, and the next ping brings a new CHILD_SA up.
"""

from __future__ import annotations

import re

from harness import pair_confs, swanctl_conf, wait_for

from ikepy.control.client import ControlClient


def _received(out: str) -> int:
    m = re.search(r"(\d+) received", out)
    return int(m.group(1)) if m else 0


def _ping(netns) -> str:
    res = netns.run(netns.left, "ping", "-n", "-c", "5", "-i", "0.2", "-W", "1", "-I",
                    netns.left_inner, netns.right_inner, check=False, timeout=30)
    return res.stdout + res.stderr


def test_trap_brings_the_tunnel_up_and_back(netns, charon_factory, ikepy_factory):
    _left, right_conf = pair_confs(netns)
    left_conf = swanctl_conf(
        local_addr=netns.left_addr, remote_addr=netns.right_addr, local_id="left",
        remote_id="right", local_ts="10.1.0.0/24", remote_ts="10.2.0.0/24",
        extra_child="start_action = trap\n        close_action = trap")
    charon = charon_factory(netns.right, right_conf, name="charon-right")
    charon.add_route("10.1.0.0/24", "10.2.0.1")
    ikepy = ikepy_factory(netns.left, left_conf, dataplane="userspace")
    ctl = ControlClient(str(ikepy.socket), timeout=15)

    def children() -> list[dict]:
        return [c for s in ctl.call("list-sas") for c in s.get("children", [])]

    # the trap: a route into the TUN device, no SA on either side
    routes = netns.run(netns.left, "ip", "route", "show", "10.2.0.0/24").stdout
    assert "dev ipsec0" in routes, routes
    assert children() == [] and charon.list_sas() == []

    out = _ping(netns)
    assert _received(out) >= 2, out + ikepy.log_tail()
    (child,) = children()
    stats = ctl.call("stats")
    assert stats["acquires"] == 1, stats
    assert stats["dataplane.acquires"] == 1 and stats["dataplane.acquire"] >= 1, stats

    # charon deletes the CHILD_SA: close_action = trap, the next packet brings it back
    charon.terminate(child="net")
    wait_for(lambda: children() == [], 10, what="ikepy to remove the deleted CHILD_SA")
    out = _ping(netns)
    assert _received(out) >= 2, out + ikepy.log_tail()
    (child2,) = children()
    assert child2["spi_in"] != child["spi_in"]
    assert ctl.call("stats")["acquires"] == 2
    (csa,) = charon.list_sas()
    assert len(csa["children"]) == 1
