"""strongSwan to strongSwan in network namespaces: proves the harness itself.

left (initiator, 10.99.0.1, inner 10.1.0.1) <-> right (responder, 10.99.0.2,
inner 10.2.0.1); PSK, IKE aes256gcm16-prfsha256-x25519, ESP aes256gcm16-x25519,
UDP encapsulation (kernel-libipsec: userspace ESP over TUN ipsec0).
"""

from __future__ import annotations

from harness import pair_confs, parse_list_sas


def _bring_up(topo, charon_factory, **conf_kw):
    left_conf, right_conf = pair_confs(topo, **conf_kw)
    right = charon_factory(topo.right, right_conf, name="right")
    left = charon_factory(topo.left, left_conf, name="left")
    left.initiate("net", ike="net", timeout=10)
    left.add_route("10.2.0.0/24", src=topo.left_inner)
    right.add_route("10.1.0.0/24", src=topo.right_inner)
    return left, right


def _only_sa(charon):
    sas = charon.list_sas()
    assert len(sas) == 1, sas
    sa = sas[0]
    assert len(sa["children"]) == 1, sa
    return sa, sa["children"][0]


def test_tunnel_up_ping_and_counters(netns, charon_factory):
    left, right = _bring_up(netns, charon_factory)

    ping = netns.ping("left", count=3)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert " 3 received" in ping.stdout

    lsa, lchild = _only_sa(left)
    rsa, rchild = _only_sa(right)
    assert lsa["state"] == rsa["state"] == "ESTABLISHED"
    assert lsa["initiator"] == "yes" and "initiator" not in rsa
    assert lsa["initiator-spi"] == rsa["initiator-spi"]
    assert lsa["responder-spi"] == rsa["responder-spi"]
    assert lsa["encr-alg"] == "AES_GCM_16" and lsa["encr-keysize"] == 256
    assert lsa["prf-alg"] == "PRF_HMAC_SHA2_256" and lsa["dh-group"] == "CURVE_25519"
    assert lsa["local-id"] == "left" and lsa["remote-id"] == "right"

    assert lchild["state"] == rchild["state"] == "INSTALLED"
    assert lchild["encap"] == "yes"
    assert lchild["spi-in"] == rchild["spi-out"]
    assert lchild["spi-out"] == rchild["spi-in"]
    assert lchild["local-ts"] == ["10.1.0.0/24"] and lchild["remote-ts"] == ["10.2.0.0/24"]
    # 3 echo requests out of left, 3 replies in; the mirror image on right
    assert lchild["packets-out"] == 3 and lchild["packets-in"] == 3
    assert rchild["packets-in"] == 3 and rchild["packets-out"] == 3
    assert lchild["bytes-out"] == rchild["bytes-in"] == 3 * 84
    assert lchild["bytes-in"] == rchild["bytes-out"] == 3 * 84


def test_terminate_clears_both_sides(netns, charon_factory):
    left, right = _bring_up(netns, charon_factory)
    left.terminate(ike="net")
    assert left.list_sas() == []
    # the responder processes the INFORMATIONAL delete before answering it
    assert right.list_sas() == []
    assert netns.ping("left", count=1, timeout=0.5).returncode != 0


def test_nat_topology(netns_nat, charon_factory):
    """left behind a masquerading NAT: charon detects it and floats to 4500."""
    left, right = _bring_up(netns_nat, charon_factory, encap=False)
    assert netns_nat.ping("left", count=2).returncode == 0
    lsa, _ = _only_sa(left)
    rsa, _ = _only_sa(right)
    assert lsa["nat-local"] == "yes"
    assert rsa["nat-remote"] == "yes"
    assert rsa["remote-host"] == "10.98.0.254"
    assert lsa["local-port"] == 4500 and rsa["local-port"] == 4500  # floated to 4500


def test_ipv6_outer_addresses(netns, charon_factory):
    """The same tunnel over the IPv6 outer addresses (nodad: usable at once)."""
    left_conf, right_conf = pair_confs(netns)
    left_conf = left_conf.replace(netns.left_addr, netns.left_addr6).replace(
        netns.right_addr, netns.right_addr6)
    right_conf = right_conf.replace(netns.right_addr, netns.right_addr6).replace(
        netns.left_addr, netns.left_addr6)
    right = charon_factory(netns.right, right_conf, name="right")
    left = charon_factory(netns.left, left_conf, name="left")
    left.initiate("net", timeout=10)
    left.add_route("10.2.0.0/24", src=netns.left_inner)
    right.add_route("10.1.0.0/24", src=netns.right_inner)
    assert netns.ping("left", count=2).returncode == 0
    lsa, _ = _only_sa(left)
    assert lsa["remote-host"] == netns.right_addr6


def test_parse_list_sas_lists():
    text = (
        "list-sa event {a {state=ESTABLISHED child-sas {c-7 {name=c spi-in=0a0b0c0d "
        "bytes-in=10 local-ts=[10.1.0.0/24 fd00::/64] remote-ts=[]}}}}\n"
        "list-sas reply {}\n"
    )
    (sa,) = parse_list_sas(text)
    (child,) = sa["children"]
    assert sa["name"] == "a" and child["name"] == "c" and child["key"] == "c-7"
    assert child["bytes-in"] == 10
    assert child["local-ts"] == ["10.1.0.0/24", "fd00::/64"] and child["remote-ts"] == []
