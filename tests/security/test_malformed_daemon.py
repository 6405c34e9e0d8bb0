"""Threat 6 and 7 against a running daemon: malformed datagrams and legacy proposals.

ikepy runs in the right namespace (10.99.0.2, UDP 500, ``--dataplane none``).
From the left namespace a corpus of malformed datagrams is sent; each gets
the notify RFC 7296 asks for (UNSUPPORTED_CRITICAL_PAYLOAD, INVALID_MAJOR_VERSION)
or nothing, the daemon counts the drops (``ikepy stats --json``), keeps
serving, and strongSwan's charon connects afterwards. ``ike-scan``'s default
IKEv2 proposals (3DES, SHA-1, MODP-1024) get NO_PROPOSAL_CHOSEN (RFC 8247).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from harness import swanctl_conf
from sec_helpers import init_request, socket_in_netns

from ikepy.wire.enums import NotifyType
from ikepy.wire.message import Message, parse_message, serialize_message
from ikepy.wire.payloads import KePayload, UnknownPayload


def confs(topo):
    right = swanctl_conf(local_addr=topo.right_addr, remote_addr="%any", local_id="right",
                         remote_id="left", local_ts="10.2.0.0/24", remote_ts="10.1.0.0/24")
    left = swanctl_conf(local_addr=topo.left_addr, remote_addr=topo.right_addr, local_id="left",
                        remote_id="right", local_ts="10.1.0.0/24", remote_ts="10.2.0.0/24")
    return left, right


def corpus() -> list[tuple[str, bytes, int | None]]:
    """(name, datagram, expected notify in the reply or None for no reply)."""
    good = init_request(os.urandom(8), os.urandom(32))
    msg = parse_message(good)
    crit = serialize_message(Message(msg.header, (*msg.payloads, UnknownPayload(222, True, b"?"))))
    v3 = bytearray(init_request(os.urandom(8), os.urandom(32)))
    v3[17] = 0x30
    v1 = bytearray(init_request(os.urandom(8), os.urandom(32)))
    v1[17] = 0x10
    bad_len = bytearray(init_request(os.urandom(8), os.urandom(32)))
    bad_len[24:28] = (len(bad_len) + 100).to_bytes(4, "big")
    payload_overflow = bytearray(init_request(os.urandom(8), os.urandom(32)))
    payload_overflow[30:32] = b"\xff\xff"  # first payload's length runs past the datagram
    no_ke = serialize_message(Message(msg.header, tuple(
        p for p in msg.payloads if p.PAYLOAD_TYPE != 34)))
    short_ke = serialize_message(Message(msg.header, tuple(
        KePayload(31, b"\x01" * 10) if p.PAYLOAD_TYPE == 34 else p for p in msg.payloads)))
    return [
        ("truncated header", good[:20], None),
        ("empty", b"", None),
        ("bad length field", bytes(bad_len), None),
        ("payload length overflow", bytes(payload_overflow), None),
        ("unknown critical payload", crit, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD),
        ("major version 3", bytes(v3), NotifyType.INVALID_MAJOR_VERSION),
        ("IKEv1 header", bytes(v1), None),
        ("IKE_SA_INIT without KE", no_ke, None),
        ("X25519 value of 10 octets", short_ke, NotifyType.INVALID_SYNTAX),
        ("random garbage", os.urandom(512), None),
        ("all zeros", bytes(300), None),
    ]


def exchange(sock, dst, data: bytes, wait: float = 0.4) -> list[bytes]:
    sock.sendto(data, dst)
    sock.settimeout(wait)
    out = []
    try:
        while True:
            out.append(sock.recv(65535))
    except TimeoutError:
        return out


def test_malformed_corpus_against_a_running_daemon(sec_netns, sec_ikepy, sec_charon):
    topo = sec_netns
    left_conf, right_conf = confs(topo)
    d = sec_ikepy(topo.right, right_conf)
    sock = socket_in_netns(topo.left)
    sock.bind((topo.left_addr, 5000))
    dst = (topo.right_addr, 500)
    results = {}
    try:
        for name, data, expect in corpus():
            replies = exchange(sock, dst, data)
            if expect is None:
                assert replies == [], f"{name}: unexpected reply {replies}"
                results[name] = "dropped"
            else:
                assert len(replies) == 1, f"{name}: {replies}"
                rmsg = parse_message(replies[0])
                (n,) = rmsg.payloads
                assert n.notify_type == expect, name
                assert rmsg.header.spi_i == data[:8] and rmsg.header.is_response
                assert len(replies[0]) <= len(data)
                results[name] = NotifyType(expect).name
            assert d.running, f"the daemon died on {name}"
    finally:
        sock.close()
    stats = json.loads(d.cli("stats", "--json", check=True).stdout)
    print("\nmalformed corpus: " + json.dumps(results))
    print("daemon stats: " + json.dumps({k: v for k, v in stats.items() if "drop" in k or "sent_" in k}))
    assert stats["dropped_malformed"] >= 8
    assert stats["ike_sas"] == 0
    # and it keeps serving: a real peer connects
    charon = sec_charon(topo.left, left_conf)
    res = charon.initiate("net", timeout=15)
    assert res.returncode == 0, res.stdout + res.stderr
    assert any(sa["state"] == "ESTABLISHED" for sa in d.list_sas())


@pytest.mark.skipif(shutil.which("ike-scan") is None, reason="ike-scan not installed")
def test_ike_scan_legacy_proposals_get_no_proposal_chosen(sec_netns, sec_ikepy):
    topo = sec_netns
    _, right_conf = confs(topo)
    d = sec_ikepy(topo.right, right_conf)
    res = topo.run("left", "ike-scan", "--ikev2", "-s", "5000", topo.right_addr, check=False,
                   timeout=30)
    print("\n" + res.stdout)
    assert "NO_PROPOSAL_CHOSEN" in res.stdout or "Notify message 14" in res.stdout, res.stdout
    stats = json.loads(d.cli("stats", "--json", check=True).stdout)
    assert stats["no_proposal_chosen"] >= 1 and stats["ike_sas"] == 0
    assert "no acceptable proposal" in d.log()
