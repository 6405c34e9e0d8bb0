"""The userspace data plane's fast paths: per-SA UDP senders, UDP GSO batches of one TUN
read burst, the inbound selector cache; and UdpEndpoint.sender on real loopback sockets."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket

import pytest

from ikepy.daemon.udp import UdpEndpoint
from ikepy.dataplane.userspace.backend import UserspaceBackend

from .helpers import ipv4_packet, spec_pair

Call = tuple[tuple[str, int], tuple[str, int], bytes, int]


class FakeSockets:
    """udp_sender factory: records (local, remote, data, segment) per call."""

    def __init__(self, refuse_gso: bool = False) -> None:
        self.calls: list[Call] = []
        self.resolved: list[tuple[tuple[str, int], tuple[str, int]]] = []
        self.refuse_gso = refuse_gso

    def __call__(self, local: tuple[str, int], remote: tuple[str, int]):
        self.resolved.append((local, remote))

        def send(data: bytes, segment: int = 0) -> int:
            if segment and self.refuse_gso:
                raise OSError(errno.EIO, "no GSO here")
            self.calls.append((local, remote, data, segment))
            return len(data)

        return send


def _backends(sockets: FakeSockets, **spec_kw: object):
    slow: list[bytes] = []
    got: list[bytes] = []
    a = UserspaceBackend(lambda d, s, r: slow.append(d), install_routes=False,
                         keepalive_interval=0, udp_sender=sockets)
    b = UserspaceBackend(lambda d, s, r: None, install_routes=False, keepalive_interval=0,
                         deliver=got.append)
    spec_kw.setdefault("encap", True)
    sa, sb = spec_pair(**spec_kw)
    a.add_child_sa(sa)
    b.add_child_sa(sb)
    return a, b, slow, got


def _fake_tun(backend: UserspaceBackend, packets: list[bytes]) -> socket.socket:
    """A datagram socketpair standing in for the TUN device: one read, one packet."""
    r, w = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    r.setblocking(False)
    for p in packets:
        w.send(p)
    w.close()
    backend._tun_fd = r.fileno()
    return r


def _split(data: bytes, segment: int) -> list[bytes]:
    return [data[i:i + segment] for i in range(0, len(data), segment)] if segment else [data]


def test_one_tun_burst_goes_out_in_one_gso_call():
    sockets = FakeSockets()
    a, b, slow, got = _backends(sockets)
    inner = [ipv4_packet("10.1.0.1", "10.2.0.1", bytes([i]) * 1000) for i in range(5)]
    inner.append(ipv4_packet("10.1.0.1", "10.2.0.1", b"short"))  # shorter: may end the run
    inner.append(ipv4_packet("10.1.0.1", "10.2.0.1", b"z" * 1000))  # after a short one: new run
    tun = _fake_tun(a, inner)
    try:
        a._on_tun_readable()
    finally:
        tun.close()
    assert slow == []  # the per-SA sender, not the daemon's generic send_udp
    assert sockets.resolved == [(("192.0.2.1", 4500), ("192.0.2.2", 4500))]  # resolved once
    assert [c[3] > 0 for c in sockets.calls] == [True, False]
    assert a.gso_sends == 1
    esp = [e for _, _, data, seg in sockets.calls for e in _split(data, seg)]
    assert len(esp) == 7
    for e in esp:
        assert b.receive_esp(e)
    assert got == inner  # in order, each exactly once
    assert a.counters(1).packets_out == 7 and not any(a.stats().values())


def test_gso_runs_are_capped_and_split_by_peer():
    sockets = FakeSockets()
    a, b, _slow, got = _backends(sockets)
    inner = [ipv4_packet("10.1.0.1", "10.2.0.1", b"x" * 200) for _ in range(64 + 3)]
    tun = _fake_tun(a, inner)
    a.batch = 100
    try:
        a._on_tun_readable()
    finally:
        tun.close()
    assert [len(_split(d, s)) for _, _, d, s in sockets.calls] == [64, 3]
    for _, _, d, s in sockets.calls:
        for e in _split(d, s):
            assert b.receive_esp(e)
    assert got == inner


def test_gso_refused_falls_back_to_one_by_one_for_good():
    sockets = FakeSockets(refuse_gso=True)
    a, b, _slow, got = _backends(sockets)
    inner = [ipv4_packet("10.1.0.1", "10.2.0.1", bytes([i]) * 300) for i in range(4)]
    for _ in range(2):
        tun = _fake_tun(a, inner)
        try:
            a._on_tun_readable()
        finally:
            tun.close()
    assert a.gso is False and a.gso_sends == 0
    assert [c[3] for c in sockets.calls] == [0] * 8
    for _, _, d, _s in sockets.calls:
        assert b.receive_esp(d)
    assert got == inner + inner
    assert not any(a.stats().values())


def test_without_udp_sender_every_packet_uses_send_udp():
    sent: list[bytes] = []
    a = UserspaceBackend(lambda d, s, r: sent.append(d), install_routes=False,
                         keepalive_interval=0)
    sa, _ = spec_pair(encap=True)
    a.add_child_sa(sa)
    tun = _fake_tun(a, [ipv4_packet("10.1.0.1", "10.2.0.1")] * 3)
    try:
        a._on_tun_readable()
    finally:
        tun.close()
    assert len(sent) == 3


def test_sender_is_resolved_again_after_the_peer_moves():
    sockets = FakeSockets()
    a, _b, _slow, _got = _backends(sockets)
    assert a.send_packet(ipv4_packet("10.1.0.1", "10.2.0.1"))
    sa, _ = spec_pair(encap=True, remote_port=4501)
    a.update_child_sa(sa)
    assert a.send_packet(ipv4_packet("10.1.0.1", "10.2.0.1"))
    assert [r for _, r in sockets.resolved] == [("192.0.2.2", 4500), ("192.0.2.2", 4501)]


def test_inbound_selector_cache_still_drops_outsiders():
    sockets = FakeSockets()
    a, b, _slow, got = _backends(sockets)
    bad_src = UserspaceBackend(lambda d, s, r: None, install_routes=False, keepalive_interval=0,
                               udp_sender=sockets)
    wide, _ = spec_pair(encap=True, a_ts=(ipaddress.ip_network("10.0.0.0/8"),))
    bad_src.add_child_sa(wide)  # same keys and SPIs as a, but it will send from outside a's TS
    bad_src._sas[1].out.seq = 1000  # ahead of a: not a replay
    ok = ipv4_packet("10.1.0.1", "10.2.0.1")
    evil = ipv4_packet("10.9.0.1", "10.2.0.1")
    for _ in range(2):  # the second round is answered from the cache
        assert a.send_packet(ok)
        assert b.receive_esp(sockets.calls[-1][2])
        assert bad_src.send_packet(evil)
        assert not b.receive_esp(sockets.calls[-1][2])
    assert got == [ok, ok]
    assert b.stats()["no_policy"] == 2


def test_port_selectors_are_checked_per_packet():
    from ikepy.dataplane.base import Selector

    net = ipaddress.ip_network("10.1.0.0/24")
    a_ts = (Selector(net[0], net[-1], protocol=17, start_port=1234, end_port=1234),)
    sockets = FakeSockets()
    a, b, _slow, got = _backends(sockets, a_ts=a_ts)
    assert b._sas[1].in_by_addr is False
    ok = ipv4_packet("10.1.0.1", "10.2.0.1", sport=1234)
    assert a.send_packet(ok) and b.receive_esp(sockets.calls[-1][2])
    # same addresses, another source port: outside the selector (would pass an address cache)
    other = UserspaceBackend(lambda d, s, r: None, install_routes=False, keepalive_interval=0,
                             udp_sender=sockets)
    other.add_child_sa(spec_pair(encap=True)[0])
    other._sas[1].out.seq = 1000  # ahead of a: not a replay
    assert other.send_packet(ipv4_packet("10.1.0.1", "10.2.0.1", sport=999))
    assert not b.receive_esp(sockets.calls[-1][2])
    assert got == [ok] and b.stats()["no_policy"] == 1


def test_udp_endpoint_sender_with_gso_on_loopback():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2)
    ep = UdpEndpoint("127.0.0.1", 0, socket.AF_INET)
    try:
        send = ep.sender("127.0.0.1", rx.getsockname())
        send(b"one")
        segs = [os.urandom(100), os.urandom(100), os.urandom(40)]
        try:
            send(b"".join(segs), 100)
        except OSError as exc:  # a kernel without UDP GSO: the backend falls back
            pytest.skip(f"no UDP GSO here: {exc}")
        got = [rx.recv(2000) for _ in range(4)]
        assert got == [b"one", *segs]
    finally:
        ep.close()
        rx.close()


def test_udp_endpoint_wildcard_sender_sets_the_source():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2)
    ep = UdpEndpoint(None, 0, socket.AF_INET)
    try:
        ep.sender("127.0.0.3", rx.getsockname())(b"hello")
        data, addr = rx.recvfrom(100)
        assert data == b"hello" and addr[0] == "127.0.0.3"
    finally:
        ep.close()
        rx.close()
