"""Trap policies, kernel-driven rekeying and XFRM interfaces with the kernel's
ESP (inside the VM), ikepy (``--dataplane xfrm``, left) against charon
(kernel-netlink, right). Two daemon pairs only: each costs ~30 s in the guest.

1. ``start_action = trap``: no SA until the first packet; the kernel's ACQUIRE
   brings the tunnel up (ikepy's stats: one acquire), pings get through; then
   ``rekey_bytes = 20000`` makes the kernel raise a soft byte expire once more
   than that has gone through, ikepy rekeys (a new SPI) and ping still works.
2. ``if_id_in = if_id_out = 42``: states and policies carry the interface id,
   the traffic to 10.2.0.0/24 is routed into the XFRM interface ``ipsec-xfrm0``
   (if_id 42) and ping gets through it; AES-CBC + HMAC-SHA-256 as plain ESP with
   ikepy initiating (test_xfrm_vs_charon.py keeps the other three role/suite cases).
"""

from __future__ import annotations

import time

from harness import Charon, IkepyDaemon, Netns, make_workdir, pair_confs, run, swanctl_conf

from ikepy.control.client import ControlClient

SLOW = 180.0
ESP = "aes256gcm16-x25519"
CBC = "aes128-sha256-x25519"  # ikepy initiating CBC + HMAC as plain ESP is covered here


def _left_conf(topo: Netns, extra_child: str = "", extra_conn: str = "", esp: str = ESP) -> str:
    return swanctl_conf(local_addr=topo.left_addr, remote_addr=topo.right_addr,
                        local_id="left", remote_id="right", local_ts="10.1.0.0/24",
                        remote_ts="10.2.0.0/24", esp_proposals=esp, encap=False,
                        extra_child=extra_child, extra_conn=extra_conn)


def _children(ctl: ControlClient) -> list[dict]:
    return [c for s in ctl.call("list-sas") for c in s.get("children", [])]


def _until(fn, timeout: float, what: str, interval: float = 0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _ping_ok(topo: Netns, count: int = 3) -> bool:
    res = topo.ping("left", count=count, timeout=2)
    return f"{count} received" in res.stdout


def _run_pair(case: str, left_conf, body, esp: str = ESP) -> None:
    work = make_workdir(f"ikepy-kvm-{case}-")
    with Netns.create() as topo:
        _l, right_conf = pair_confs(topo, esp_proposals=esp, encap=False)
        run(topo.right, "ip", "route", "add", "10.1.0.0/24", "via", topo.left_addr, "src",
            topo.right_inner)
        charon = Charon(work / "charon", name="charon-right")
        ikepy = IkepyDaemon(work / "ikepy")
        try:
            charon.start(topo.right, right_conf, kernel="netlink", timeout=SLOW)
            ikepy.start(topo.left, left_conf(topo), fmt="swanctl", dataplane="xfrm",
                        timeout=SLOW)
            ctl = ControlClient(str(ikepy.socket), timeout=SLOW)
            body(topo, ctl, charon)
        except BaseException:
            print("--- ikepy log ---\n" + ikepy.log_tail(80))
            print("--- charon log ---\n" + charon.log_tail(60))
            raise
        finally:
            rc = ikepy.stop(timeout=SLOW)
            charon.stop()
        assert rc == 0, ikepy.log_tail()
        assert run(topo.left, "ip", "xfrm", "state").stdout.strip() == ""
        assert run(topo.left, "ip", "xfrm", "policy").stdout.strip() == ""


def test_trap_brings_the_tunnel_up_and_soft_byte_expire_rekeys():
    def conf(topo: Netns) -> str:
        return _left_conf(topo, extra_child="start_action = trap\n        close_action = trap\n"
                                             "        rekey_bytes = 20000\n"
                                             "        life_bytes = 4000000\n"
                                             "        rand_bytes = 0")

    def body(topo: Netns, ctl: ControlClient, charon: Charon) -> None:
        run(topo.left, "ip", "route", "add", "10.2.0.0/24", "via", topo.right_addr, "src",
            topo.left_inner)
        # the trap: an out policy with a template and no state, nothing negotiated yet
        _until(lambda: "dir out" in run(topo.left, "ip", "xfrm", "policy").stdout, 60,
               "the trap policy")
        assert run(topo.left, "ip", "xfrm", "state").stdout.strip() == ""
        assert _children(ctl) == []
        # the first packets hit the trap: the kernel's ACQUIRE makes ikepy initiate
        topo.ping("left", count=1, timeout=1)
        (child,) = _until(lambda: _children(ctl), 90, "the CHILD_SA from the acquire")
        _until(lambda: _ping_ok(topo), 60, "ping through the trapped tunnel", interval=0.2)
        stats = ctl.call("stats")
        assert stats.get("acquires") == 1, stats
        # > 20000 bytes out: the kernel's soft byte expire -> ikepy rekeys the CHILD_SA
        first_spi = child["spi_in"]
        run(topo.left, "ping", "-n", "-q", "-c", "20", "-i", "0.05", "-s", "1400", "-W", "2",
            "-I", topo.left_inner, topo.right_inner, check=False, timeout=60)

        def rekeyed() -> list[dict]:
            cs = _children(ctl)
            return cs if len(cs) == 1 and cs[0]["spi_in"] != first_spi else []

        (child2,) = _until(rekeyed, 90, "the rekeyed CHILD_SA")
        assert child2["spi_out"] != child["spi_out"]
        assert _ping_ok(topo), "no ping after the rekey"

    _run_pair("trap-rekey", conf, body)


def test_xfrm_interface_carries_the_traffic():
    def conf(topo: Netns) -> str:
        return _left_conf(topo, extra_conn="if_id_in = 42\n    if_id_out = 42", esp=CBC)

    def body(topo: Netns, ctl: ControlClient, charon: Charon) -> None:
        run(topo.left, "ip", "link", "add", "ipsec-xfrm0", "type", "xfrm", "dev", topo.left_if,
            "if_id", "42")
        run(topo.left, "ip", "link", "set", "ipsec-xfrm0", "up")
        run(topo.left, "ip", "route", "add", "10.2.0.0/24", "dev", "ipsec-xfrm0", "src",
            topo.left_inner)
        ctl.call("initiate", {"child": "net", "ike": "net", "timeout": 60})
        _until(lambda: _children(ctl), 60, "ikepy's CHILD_SA")
        states = run(topo.left, "ip", "xfrm", "state").stdout
        policies = run(topo.left, "ip", "xfrm", "policy").stdout
        assert states.count("if_id 0x2a") == 2, states
        assert "if_id 0x2a" in policies, policies
        assert _ping_ok(topo), "no ping through ipsec-xfrm0"
        link = run(topo.left, "ip", "-s", "link", "show", "ipsec-xfrm0").stdout
        tx_packets = int(link.split("TX:")[1].splitlines()[1].split()[1])
        assert tx_packets >= 3, link

    _run_pair("xfrm-if", conf, body, esp=CBC)
