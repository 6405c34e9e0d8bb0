"""ikepy to ikepy through the userspace data plane: raw ESP and ESP in UDP.

    left 10.1.0.1 --[ ESP, 10.99.0.1 <-> 10.99.0.2 ]-- right 10.2.0.1

Both peers are ikepy daemons (``--dataplane userspace``: ESP in Python over a
TUN device) in two network namespaces joined by a veth pair, no NAT.

* ``encap = no``: ESP travels as IP protocol 50 (RFC 4303), sent and received
  on ikepy's raw ESP sockets. A capture on the veth with ``ip proto 50`` sees
  the packets, one with ``udp port 4500`` sees none.
* ``encap = yes``: ESP in UDP on port 4500 (RFC 3948) through the daemon's
  NAT-T socket; the capture shows the reverse.

Each carries a ping and a 20 MB TCP stream checked with SHA-256 at the far end.
"""

from __future__ import annotations

import pytest
from harness import Capture, IkepyDaemon, pair_confs, tcp_transfer, wait_for

SIZE = 20 * 1024 * 1024


def _child(d: IkepyDaemon) -> dict:
    sas = d.list_sas()
    assert len(sas) == 1, sas
    (child,) = sas[0]["children"]
    return child


@pytest.mark.parametrize("encap", [False, True], ids=["raw-esp", "esp-in-udp"])
def test_ikepy_to_ikepy(netns, ikepy_factory, tmp_path, encap):
    left_conf, right_conf = pair_confs(netns, encap=encap)
    right = ikepy_factory(netns.right, right_conf, dataplane="userspace", name="ikepy-right")
    left = ikepy_factory(netns.left, left_conf, dataplane="userspace", name="ikepy-left")
    res = left.initiate("net", ike="net", timeout=15)
    assert res.returncode == 0, res.stdout + res.stderr
    wait_for(lambda: right.list_sas() and right.list_sas()[0]["children"], 10,
             what="the responder's CHILD_SA")

    esp_cap = Capture(netns.left, netns.left_if, "ip proto 50", tmp_path / "esp.pcap")
    udp_cap = Capture(netns.left, netns.left_if, "udp port 4500", tmp_path / "udp.pcap")
    with esp_cap, udp_cap:
        ping = netns.ping(netns.left, count=3)
        assert ping.returncode == 0 and " 0% packet loss" in ping.stdout, ping.stdout
        ping = netns.ping(netns.right, count=3)
        assert ping.returncode == 0 and " 0% packet loss" in ping.stdout, ping.stdout

    lc, rc = _child(left), _child(right)
    assert lc["spi_out"] == rc["spi_in"] and lc["spi_in"] == rc["spi_out"]
    assert lc["packets_out"] == rc["packets_in"] == 6
    assert lc["packets_in"] == rc["packets_out"] == 6

    # what was on the wire: 12 ESP packets (6 each way), and with the SPIs of this CHILD_SA
    raw = esp_cap.fields("ip.proto", "esp.spi")
    udp = udp_cap.fields("udp.dstport", "esp.spi", display_filter="esp")
    spis = {int(lc["spi_in"], 16), int(lc["spi_out"], 16)}
    if encap:
        assert raw == [], f"raw ESP seen although encap = yes: {raw[:3]}"
        assert len(udp) == 12, udp
        assert {int(r[1], 16) for r in udp} == spis
    else:
        assert udp == [], f"ESP in UDP seen although encap = no: {udp[:3]}"
        assert len(raw) == 12, raw
        assert all(r[0] == "50" for r in raw)
        assert {int(r[1], 16) for r in raw} == spis

    # 20 MB of TCP, left to right, checked at the far end
    want, got = tcp_transfer(netns, netns.left, netns.right, netns.left_inner, netns.right_inner,
                             tmp_path, size=SIZE)
    assert got == want, "the TCP stream arrived corrupted or truncated"
    lc, rc = _child(left), _child(right)
    assert lc["bytes_out"] > SIZE and rc["bytes_in"] > SIZE * 0.99
    stats = right.cli("stats", "--json", check=True).stdout
    assert '"esp_integrity": 0' in stats and '"esp_bad_spi": 0' in stats, stats
    assert left.stop() == 0 and right.stop() == 0
