"""ikepy with the kernel XFRM data plane against charon with kernel-netlink (inside the VM).

Topology (tests/interop/harness.Netns): left 10.99.0.1 <-> right 10.99.0.2,
inner 10.1.0.1 (left lo) and 10.2.0.1 (right lo), routed towards the peer as
``strongswan-peer.sh`` does for kernel ESP (``install_routes = no``): the
route sends the inner traffic out, the XFRM policy catches it.

    ikepy (left)  IKE_SA_INIT, IKE_AUTH -->  charon (right)
    charon (left) IKE_SA_INIT, IKE_AUTH -->  ikepy (right)

each role once with AES-GCM-256 in UDP encapsulation (``encap = yes``) and once
with AES-CBC-128 + HMAC-SHA-256-128 as plain ESP (protocol 50);

then ping and a 2 MiB iperf3 TCP transfer through the tunnel, and the
kernel's counters (``ip -s xfrm state``) must equal what ``ikepy list-sas``
reports.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from harness import Charon, IkepyDaemon, Netns, make_workdir, pair_confs, run, wait_for

from ikepy.control.client import ControlClient

# the guest is emulated (TCG): Python runs ~50x slower than on the host, so the
# daemon is driven through its control socket from this process instead of
# spawning `python -m ikepy ...` for every command
SLOW = 180.0

CASES = [
    # (id, ikepy side, esp_proposals, encap)
    ("ikepy-init-gcm-encap", "left", "aes256gcm16-x25519", True),
    ("charon-init-cbc-sha256-plain", "right", "aes128-sha256-x25519", False),
    # ikepy initiating AES-CBC + HMAC-SHA-256 as plain ESP: in
    # test_xfrm_traps_rekey_ifid.py (through an XFRM interface), to keep the VM run short
    ("charon-init-gcm-encap", "right", "aes256gcm16-x25519", True),
]


def _routes(topo: Netns) -> None:
    run(topo.left, "ip", "route", "add", "10.2.0.0/24", "via", topo.right_addr, "src",
        topo.left_inner)
    run(topo.right, "ip", "route", "add", "10.1.0.0/24", "via", topo.left_addr, "src",
        topo.right_inner)


def kernel_counters(ns: str) -> dict[str, tuple[int, int]]:
    """{spi hex (8 digits): (bytes, packets)} from ``ip -s xfrm state``."""
    out: dict[str, tuple[int, int]] = {}
    spi = None
    lines = run(ns, "ip", "-s", "xfrm", "state").stdout.splitlines()
    for i, line in enumerate(lines):
        m = re.search(r"proto esp spi 0x([0-9a-f]+)", line)
        if m:
            spi = m.group(1).rjust(8, "0")
        if "lifetime current:" in line and spi is not None:
            m2 = re.search(r"(\d+)\(bytes\), (\d+)\(packets\)", lines[i + 1])
            if m2:
                out[spi] = (int(m2.group(1)), int(m2.group(2)))
    return out


@pytest.mark.parametrize(("case", "ikepy_side", "esp", "encap"), CASES, ids=[c[0] for c in CASES])
def test_tunnel_with_charon(case, ikepy_side, esp, encap):
    work = make_workdir(f"ikepy-kvm-{case}-")
    with Netns.create() as topo:
        _routes(topo)
        left_conf, right_conf = pair_confs(topo, esp_proposals=esp, encap=encap)
        charon_side = "right" if ikepy_side == "left" else "left"
        ikepy_ns = topo.left if ikepy_side == "left" else topo.right
        charon_ns = topo.right if ikepy_side == "left" else topo.left
        charon = Charon(work / "charon", name=f"charon-{charon_side}")
        ikepy = IkepyDaemon(work / "ikepy")
        try:
            charon.start(charon_ns, right_conf if ikepy_side == "left" else left_conf,
                         kernel="netlink", timeout=SLOW)
            ikepy.start(ikepy_ns, left_conf if ikepy_side == "left" else right_conf,
                        fmt="swanctl", dataplane="xfrm", timeout=SLOW)
            ctl = ControlClient(str(ikepy.socket), timeout=SLOW)
            if ikepy_side == "left":
                ctl.call("initiate", {"child": "net", "ike": "net", "timeout": 60})
            else:
                charon.initiate("net", ike="net", timeout=60)
            sas = wait_for(lambda: [s for s in ctl.call("list-sas") if s.get("children")], 60,
                           interval=0.5, what="ikepy's CHILD_SA")
            (child,) = sas[0]["children"]
            assert child["encap"] is encap, child
            states = run(ikepy_ns, "ip", "xfrm", "state").stdout
            assert f"spi 0x{child['spi_in']}" in states and f"spi 0x{child['spi_out']}" in states
            assert ("encap type espinudp" in states) is encap, states

            ping = topo.ping(ikepy_side, count=3, timeout=2)
            assert "3 received" in ping.stdout, ping.stdout + ping.stderr + ikepy.log_tail()
            time.sleep(0.3)

            kc = kernel_counters(ikepy_ns)
            (child,) = [c for s in ctl.call("list-sas") for c in s["children"]]
            k_in, k_out = kc[child["spi_in"]], kc[child["spi_out"]]
            assert k_in[1] >= 3 and k_out[1] >= 3, kc
            assert (child["bytes_in"], child["packets_in"]) == k_in, (child, kc)
            assert (child["bytes_out"], child["packets_out"]) == k_out, (child, kc)
            # charon counted the same packets the other way round
            (csa,) = charon.list_sas()
            (cchild,) = csa["children"]
            assert cchild["packets-in"] == k_out[1] and cchild["packets-out"] == k_in[1]
            # a TCP transfer through the tunnel: iperf3 sends 2 MiB from left to right
            server = topo.popen(topo.right, "iperf3", "-s", "-1", "-B", topo.right_inner)
            wait_for(lambda: ":5201" in run(topo.right, "ss", "-ltnH").stdout, SLOW,
                     interval=0.5, what="iperf3's server")
            sent = run(topo.left, "iperf3", "-c", topo.right_inner, "-B", topo.left_inner,
                       "-n", "2M", "-J", timeout=SLOW)
            server.wait(timeout=SLOW)
            got = json.loads(sent.stdout)["end"]["sum_received"]["bytes"]
            assert got >= 2 * 1024 * 1024, sent.stdout[-2000:]
            stat = run(ikepy_ns, "cat", "/proc/net/xfrm_stat").stdout
            errors = [ln for ln in stat.splitlines() if ln.split() and ln.split()[-1] != "0"]
            assert not errors, errors
        except BaseException:
            print("--- ikepy log ---\n" + ikepy.log_tail(60))
            print("--- charon log ---\n" + charon.log_tail(60))
            raise
        finally:
            rc = ikepy.stop(timeout=SLOW)
            charon.stop()
        assert rc == 0, ikepy.log_tail()
        # close() removed everything it installed
        assert run(ikepy_ns, "ip", "xfrm", "state").stdout.strip() == ""
        assert run(ikepy_ns, "ip", "xfrm", "policy").stdout.strip() == ""
