"""Replayed and tampered ESP against a live tunnel: dropped, counted, never delivered.

    left (sender) 10.1.0.1 --[ ESP, 10.99.0.1 -> 10.99.0.2 ]--> right (ikepy, receiver) 10.2.0.1

Both peers are ikepy daemons with the userspace data plane, over raw ESP (IP
protocol 50) and over ESP in UDP 4500; plus charon's kernel-libipsec as the
sender to an ikepy receiver. One echo request is captured on the wire (tshark on
the sender's veth) while an nftables rule in the receiver's namespace keeps it
from arriving, so the receiver has not seen its sequence number yet. Then, sent
from the sender's namespace through a raw socket:

1. a copy with one bit flipped in the ciphertext: the ICV/tag check fails
   (``esp_integrity`` +1, RFC 4303 3.4.4), and since the window only moves after
   a packet authenticated (3.4.3), ...
2. ... the genuine packet is still accepted afterwards: delivered once (the
   CHILD_SA's ``packets_in`` +1, one echo request on the receiver's TUN device);
3. the same genuine packet again: a replay (``esp_replay`` +1, RFC 4303 3.4.3),
   not delivered (``packets_in`` unchanged, nothing more on the TUN device).
"""

from __future__ import annotations

import json
import sys

import pytest
from harness import Capture, pair_confs, wait_for

_SEND_RAW = (
    "import socket,sys\n"
    "p=bytes.fromhex(sys.argv[1])\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_RAW)\n"
    "s.sendto(p,(socket.inet_ntoa(p[16:20]),0))\n"
)


def _stats(d) -> dict:
    return json.loads(d.cli("stats", "--json", check=True).stdout)


def _packets_in(d) -> int:
    (sa,) = d.list_sas()
    (child,) = sa["children"]
    return int(child["packets_in"])


def _send_raw(netns, ns: str, packet: bytes) -> None:
    netns.run(ns, sys.executable, "-c", _SEND_RAW, packet.hex())


def _ip_packets(pcap) -> list[bytes]:
    from scapy.all import IP, rdpcap

    return [bytes(p[IP]) for p in rdpcap(str(pcap)) if IP in p]


def _esp_offset(ip: bytes, encap: bool) -> int:
    """Where the ESP header (SPI) starts in an IPv4 packet."""
    return (ip[0] & 15) * 4 + (8 if encap else 0)


def _no_udp_checksum(ip: bytes, encap: bool) -> bytes:
    """The captured UDP checksum is only partial (veth checksum offload): send none (IPv4)."""
    if not encap:
        return ip
    hl = (ip[0] & 15) * 4
    return ip[:hl + 6] + b"\0\0" + ip[hl + 8:]


def _flip_ciphertext_bit(ip: bytes, encap: bool) -> bytes:
    """One bit flipped in the encrypted payload (after SPI, sequence number and IV)."""
    esp = _esp_offset(ip, encap)
    pkt = bytearray(ip)
    pkt[esp + 8 + 8 + 5] ^= 0x10  # 8-octet IV for GCM
    return bytes(pkt)


@pytest.mark.parametrize("sender,encap", [("ikepy", False), ("ikepy", True), ("charon", True)],
                         ids=["ikepy-raw-esp", "ikepy-esp-in-udp", "charon-esp-in-udp"])
def test_replayed_and_tampered_esp_are_dropped(netns, ikepy_factory, charon_factory, tmp_path,
                                               sender, encap):
    left_conf, right_conf = pair_confs(netns, encap=encap)
    receiver = ikepy_factory(netns.right, right_conf, dataplane="userspace", name="ikepy-right")
    if sender == "ikepy":
        left = ikepy_factory(netns.left, left_conf, dataplane="userspace", name="ikepy-left")
        assert left.initiate("net", ike="net", timeout=15).returncode == 0
    else:
        charon = charon_factory(netns.left, left_conf, name="charon-left")
        charon.add_route("10.2.0.0/24", netns.left_inner)
        charon.initiate("net", ike="net", timeout=15)
    wait_for(lambda: receiver.list_sas() and receiver.list_sas()[0]["children"], 10,
             what="the receiver's CHILD_SA")
    assert netns.ping(netns.left, count=1).returncode == 0

    # capture one echo request on the sender's wire while the receiver's input drops it
    match = "udp dport 4500" if encap else "meta l4proto esp"
    netns.run(netns.right, "nft", "add table inet ikepytest")
    netns.run(netns.right, "nft", "add chain inet ikepytest in "
              "{ type filter hook input priority -300 ; }")
    netns.run(netns.right, "nft", f"add rule inet ikepytest in ip saddr {netns.left_addr} "
              f"{match} drop")
    bpf = (f"src host {netns.left_addr} and "
           + ("udp dst port 4500 and greater 60" if encap else "ip proto 50"))
    with Capture(netns.left, netns.left_if, bpf, tmp_path / "esp.pcap") as cap:
        assert netns.ping(netns.left, count=1, timeout=1).returncode != 0  # it was dropped
    netns.run(netns.right, "nft", "delete table inet ikepytest")
    packets = _ip_packets(cap.path)
    assert len(packets) == 1, f"expected the one echo request, captured {len(packets)}"
    genuine = _no_udp_checksum(packets[0], encap)
    esp = _esp_offset(genuine, encap)
    (child,) = receiver.list_sas()[0]["children"]
    assert genuine[esp:esp + 4].hex() == child["spi_in"].lower().removeprefix("0x").zfill(8)

    before, delivered = _stats(receiver), _packets_in(receiver)
    with Capture(netns.right, "ipsec0", "icmp", tmp_path / "tun.pcap") as tun:
        # 1. one flipped bit in the ciphertext: integrity failure, nothing delivered
        _send_raw(netns, netns.left, _flip_ciphertext_bit(genuine, encap))
        wait_for(lambda: _stats(receiver)["esp_integrity"] == before["esp_integrity"] + 1, 5,
                 what="esp_integrity + 1")
        assert _packets_in(receiver) == delivered
        # 2. the genuine packet: the forgery did not move the window, so it is accepted
        _send_raw(netns, netns.left, genuine)
        wait_for(lambda: _packets_in(receiver) == delivered + 1, 5, what="delivery of the packet")
        # 3. the genuine packet again: a replay, counted and not delivered
        _send_raw(netns, netns.left, genuine)
        wait_for(lambda: _stats(receiver)["esp_replay"] == before["esp_replay"] + 1, 5,
                 what="esp_replay + 1")
        assert _packets_in(receiver) == delivered + 1
    after = _stats(receiver)
    assert after["esp_integrity"] == before["esp_integrity"] + 1
    assert after["esp_replay"] == before["esp_replay"] + 1
    assert after["dataplane.integrity"] == before["dataplane.integrity"] + 1
    assert after["dataplane.replay"] == before["dataplane.replay"] + 1
    # on the receiver's TUN device: the one genuine echo request (and its reply), no duplicate
    requests = tun.fields("icmp.seq", display_filter="icmp.type == 8")
    assert len(requests) == 1, requests
    # the tunnel still works
    assert netns.ping(netns.left, count=2).returncode == 0
