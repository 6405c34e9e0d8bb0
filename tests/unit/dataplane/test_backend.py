"""UserspaceBackend without a TUN device (deliver= hook) and MemoryBackend."""

from __future__ import annotations

import dataclasses
import ipaddress
import random

import pytest

from ikepy.dataplane.base import Backend, SaCounters, UnknownSa
from ikepy.dataplane.memory import MemoryBackend
from ikepy.dataplane.userspace.backend import UserspaceBackend

from .helpers import ipv4_packet, ipv6_packet, spec_pair

Sent = list[tuple[bytes, tuple[str, int], tuple[str, int]]]


class Pair:
    """Two backends wired back to back: a's UDP output is b's input."""

    def __init__(self, **spec_kw: object) -> None:
        self.sent_a: Sent = []
        self.sent_b: Sent = []
        self.got_a: list[bytes] = []
        self.got_b: list[bytes] = []
        self.events: list[tuple[str, str, int]] = []
        self.a = UserspaceBackend(
            lambda d, s, r: self.sent_a.append((d, s, r)), install_routes=False,
            deliver=self.got_a.append, keepalive_interval=0,
            on_event=lambda k, r: self.events.append(("a", k, r)),
        )  # fmt: skip
        self.b = UserspaceBackend(
            lambda d, s, r: self.sent_b.append((d, s, r)), install_routes=False,
            deliver=self.got_b.append, keepalive_interval=0,
            on_event=lambda k, r: self.events.append(("b", k, r)),
        )  # fmt: skip
        spec_kw.setdefault("encap", True)
        self.spec_a, self.spec_b = spec_pair(**spec_kw)
        self.a.add_child_sa(self.spec_a)
        self.b.add_child_sa(self.spec_b)

    def a_to_b(self, pkt: bytes) -> bool:
        if not self.a.send_packet(pkt):
            return False
        esp, _, _ = self.sent_a.pop()
        return self.b.receive_esp(esp, ("192.0.2.1", 4500), ("192.0.2.2", 4500))


A2B = ipv4_packet("10.1.0.1", "10.2.0.1", b"ping" * 10)
B2A = ipv4_packet("10.2.0.1", "10.1.0.1", b"pong" * 10)


def test_is_a_backend() -> None:
    assert isinstance(UserspaceBackend(lambda d, s, r: None), Backend)
    assert isinstance(MemoryBackend(), Backend)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"esn": True},
        {"encr_id": 28},
        {"encr_id": 12, "key_a_to_b": bytes(32), "key_b_to_a": bytes(range(32)), "integ_id": 12,
         "ikey_a_to_b": bytes(32), "ikey_b_to_a": b"k" * 32},
    ],
    ids=["gcm", "gcm-esn", "chacha", "cbc-sha256"],
)  # fmt: skip
def test_traffic_both_ways_and_counters(kw: dict[str, object]) -> None:
    p = Pair(**kw)
    assert p.a_to_b(A2B)
    assert p.got_b == [A2B]
    assert p.b.send_packet(B2A)
    esp, src, dst = p.sent_b.pop()
    assert (src, dst) == (("192.0.2.2", 4500), ("192.0.2.1", 4500))
    assert p.a.receive_esp(esp)
    assert p.got_a == [B2A]
    ca, cb = p.a.counters(1), p.b.counters(1)
    assert (ca.packets_out, ca.bytes_out, ca.packets_in, ca.bytes_in) == (1, len(A2B), 1, len(B2A))
    assert (cb.packets_in, cb.bytes_in, cb.packets_out) == (1, len(A2B), 1)
    assert ca.last_out is not None and ca.last_in is not None
    assert not any(p.a.stats().values()) and not any(p.b.stats().values())


def test_ipv6_inner() -> None:
    p = Pair(
        a_ts=(ipaddress.ip_network("2001:db8:1::/64"),),
        b_ts=(ipaddress.ip_network("2001:db8:2::/64"),),
    )
    pkt = ipv6_packet("2001:db8:1::5", "2001:db8:2::9")
    assert p.a_to_b(pkt) and p.got_b == [pkt]


def test_no_sa_for_selector_counted() -> None:
    p = Pair()
    assert not p.a.send_packet(ipv4_packet("10.1.0.1", "172.16.0.1"))
    assert p.a.stats()["no_sa_for_selector"] == 1
    assert not p.a.send_packet(b"\x00" * 10)
    assert p.a.stats()["malformed"] == 1


def test_bad_spi_replay_integrity_counted() -> None:
    p = Pair()
    p.a.send_packet(A2B)
    esp = p.sent_a.pop()[0]
    assert not p.b.receive_esp(b"\xde\xad\xbe\xef" + esp[4:])
    assert p.b.stats()["bad_spi"] == 1
    bad = bytearray(esp)
    bad[-1] ^= 0x80
    assert not p.b.receive_esp(bytes(bad))
    assert p.b.stats()["integrity"] == 1
    assert p.b.receive_esp(esp)
    assert not p.b.receive_esp(esp)
    assert p.b.stats()["replay"] == 1
    assert not p.b.receive_esp(b"abc")
    assert p.b.stats()["malformed"] == 1


def test_inner_outside_selectors_is_no_policy() -> None:
    """b only accepts inner packets from its remote_ts (10.1.0.0/25) to its local_ts."""
    p = Pair()
    got: list[bytes] = []
    strict = UserspaceBackend(lambda d, s, r: None, install_routes=False, deliver=got.append)
    strict.add_child_sa(
        dataclasses.replace(p.spec_b, remote_ts=(ipaddress.ip_network("10.1.0.0/25"),))
    )
    for src in ("10.1.0.1", "10.1.0.200"):
        assert p.a.send_packet(ipv4_packet(src, "10.2.0.1"))
        strict.receive_esp(p.sent_a.pop()[0])
    assert len(got) == 1
    assert strict.stats()["no_policy"] == 1


def test_inner_ttl_zero_dropped() -> None:
    p = Pair()
    assert not p.a_to_b(ipv4_packet("10.1.0.1", "10.2.0.1", ttl=0))
    assert p.b.stats()["ttl"] == 1


def test_sequence_exhaustion_event_and_drop() -> None:
    p = Pair()
    out = p.a._sas[1].out
    out.seq = 0xFFFFFFFF - 2
    assert p.a.send_packet(A2B)
    assert p.events == []
    assert p.a.send_packet(A2B)  # carries 0xFFFFFFFF, the last one
    assert p.events == [("a", "seq_exhausted", 1)]
    assert not p.a.send_packet(A2B)
    assert not p.a.send_packet(A2B)
    assert p.a.stats()["seq_exhausted"] == 2
    assert out.seq == 0xFFFFFFFF  # never wrapped
    assert p.events == [("a", "seq_exhausted", 1)]  # raised once


def test_soft_and_hard_packet_lifetimes() -> None:
    p = Pair(rekey_packets=3, life_packets=5)
    for _ in range(2):
        assert p.a_to_b(A2B)
    assert p.events == []
    assert p.a_to_b(A2B)
    assert ("a", "soft", 1) in p.events and ("b", "soft", 1) in p.events
    assert p.a_to_b(A2B) and p.a_to_b(A2B)
    assert ("a", "hard", 1) in p.events and ("b", "hard", 1) in p.events
    assert not p.a.send_packet(A2B)
    assert p.a.stats()["hard_expired"] == 1
    assert [e for e in p.events if e[0] == "a"] == [("a", "soft", 1), ("a", "hard", 1)]


def test_soft_byte_lifetime_inbound() -> None:
    p = Pair(rekey_bytes=len(A2B) * 2 + 1)
    p.a_to_b(A2B)
    p.a_to_b(A2B)
    assert p.events == []
    p.a_to_b(A2B)
    assert sorted(p.events) == [("a", "soft", 1), ("b", "soft", 1)]


def test_replay_window_from_spec_and_disabled() -> None:
    p = Pair(replay_window=0)
    p.a.send_packet(A2B)
    esp = p.sent_a.pop()[0]
    assert p.b.receive_esp(esp) and p.b.receive_esp(esp)  # replay check off


def test_keepalive_targets() -> None:
    p = Pair()
    assert p.a.keepalive_targets() == [(("192.0.2.1", 4500), ("192.0.2.2", 4500))]
    p.a.send_packet(A2B)
    assert p.a.keepalive_targets(idle=20.0) == []  # traffic went out recently
    assert p.a.send_keepalives() == 1
    assert p.sent_a[-1] == (b"\xff", ("192.0.2.1", 4500), ("192.0.2.2", 4500))
    q = Pair(encap=False)
    assert q.a.keepalive_targets() == []


def test_update_child_sa_moves_peer() -> None:
    p = Pair()
    moved = dataclasses.replace(
        p.spec_a, remote_addr=ipaddress.ip_address("198.51.100.7"), remote_port=31337
    )
    p.a.update_child_sa(moved)
    p.a.send_packet(A2B)
    assert p.sent_a[-1][2] == ("198.51.100.7", 31337)
    assert p.a.sequence_numbers(1) == (1, 0)


def test_delete_and_unknown() -> None:
    p = Pair()
    p.a.delete_child_sa(1)
    with pytest.raises(UnknownSa):
        p.a.delete_child_sa(1)
    with pytest.raises(UnknownSa):
        p.a.counters(1)
    assert not p.a.send_packet(A2B)
    assert p.a.stats()["no_sa_for_selector"] == 1


def test_duplicate_install_rejected_and_transport_refused() -> None:
    p = Pair()
    with pytest.raises(ValueError):
        p.a.add_child_sa(p.spec_a)
    with pytest.raises(ValueError):
        p.a.add_child_sa(dataclasses.replace(p.spec_a, reqid=9, spi_in=0x7777, mode="transport"))


def test_rekeyed_sa_takes_over_outbound() -> None:
    p = Pair()
    new_a, new_b = spec_pair(reqid=2, encap=True)
    p.b.add_child_sa(new_b)
    p.a.add_child_sa(new_a)
    p.a.send_packet(A2B)
    esp = p.sent_a.pop()[0]
    assert int.from_bytes(esp[:4], "big") == new_a.spi_out
    assert p.b.receive_esp(esp)
    assert p.b.counters(2).packets_in == 1 and p.b.counters(1).packets_in == 0


def test_spi_allocation() -> None:
    be = UserspaceBackend(lambda d, s, r: None, rng=random.Random(1))
    spis = {be.alloc_spi() for _ in range(2000)}
    assert len(spis) == 2000 and min(spis) >= 256


def test_memory_backend() -> None:
    events: list[tuple[str, int]] = []
    m = MemoryBackend(rng=random.Random(7), on_event=lambda k, r: events.append((k, r)))
    spis = {m.alloc_spi() for _ in range(1000)}
    assert len(spis) == 1000 and min(spis) >= 256
    spec, _ = spec_pair()
    m.add_child_sa(spec)
    assert m.sas[1] is spec
    assert m.counters(1) == SaCounters()
    assert not any(m.stats().values())
    with pytest.raises(ValueError):
        m.add_child_sa(spec)
    m.fire("soft", 1)
    assert events == [("soft", 1)]
    m.update_child_sa(spec)
    m.delete_child_sa(1)
    with pytest.raises(UnknownSa):
        m.counters(1)
    assert [k for k, _ in m.log][-3:] == ["add", "update", "delete"]
    m.close()
    assert m.closed


def test_memory_backend_low_spis_skipped() -> None:
    class Low(random.Random):
        vals = iter([0, 1, 255, 256])

        def getrandbits(self, k: int) -> int:
            return next(self.vals)

    assert MemoryBackend(rng=Low()).alloc_spi() == 256
