"""SPD selection and SAD (RFC 4301 4.4)."""

from __future__ import annotations

import ipaddress

import pytest

from ikepy.dataplane.base import Selector, as_selector
from ikepy.dataplane.userspace.sad import Sad, Spd, compile_selector, inbound_allowed, parse_flow

from .helpers import ipv4_packet, ipv6_packet


def sels(*items: object) -> list[tuple[int, int, int, int, int, int]]:
    return [compile_selector(as_selector(i)) for i in items]


def test_longest_prefix_wins() -> None:
    spd: Spd[str] = Spd()
    spd.add("wide", sels("10.0.0.0/8"), sels("0.0.0.0/0"))
    spd.add("narrow", sels("10.2.0.0/24"), sels("0.0.0.0/0"))
    spd.add("host", sels("10.2.0.7/32"), sels("0.0.0.0/0"))
    assert spd.lookup(ipv4_packet("10.1.0.1", "10.2.0.7")) == "host"
    assert spd.lookup(ipv4_packet("10.1.0.1", "10.2.0.8")) == "narrow"
    assert spd.lookup(ipv4_packet("10.1.0.1", "10.3.0.8")) == "wide"
    assert spd.lookup(ipv4_packet("10.1.0.1", "192.168.0.1")) is None


def test_local_selector_considered() -> None:
    spd: Spd[str] = Spd()
    spd.add("a", sels("10.2.0.0/24"), sels("10.1.0.0/24"))
    spd.add("b", sels("10.2.0.0/24"), sels("10.9.0.0/24"))
    assert spd.lookup(ipv4_packet("10.1.0.5", "10.2.0.1")) == "a"
    assert spd.lookup(ipv4_packet("10.9.0.5", "10.2.0.1")) == "b"
    assert spd.lookup(ipv4_packet("10.8.0.5", "10.2.0.1")) is None


def test_newest_wins_among_equals_and_remove() -> None:
    spd: Spd[str] = Spd()
    spd.add("old", sels("10.2.0.0/24"), sels("10.1.0.0/24"))
    pkt = ipv4_packet("10.1.0.5", "10.2.0.1")
    assert spd.lookup(pkt) == "old"
    spd.add("new", sels("10.2.0.0/24"), sels("10.1.0.0/24"))  # rekeyed CHILD_SA
    assert spd.lookup(pkt) == "new"  # cache was flushed
    spd.remove("new")
    assert spd.lookup(pkt) == "old"
    spd.remove("old")
    assert spd.lookup(pkt) is None and len(spd) == 0


def test_protocol_and_ports() -> None:
    spd: Spd[str] = Spd()
    any_ = ipaddress.ip_network("10.2.0.0/24")
    web = Selector(any_.network_address, any_.broadcast_address, 6, 443, 443)
    dns = Selector(any_.network_address, any_.broadcast_address, 17, 53, 53)
    spd.add("web", sels(web), sels("10.1.0.0/24"))
    spd.add("dns", sels(dns), sels("10.1.0.0/24"))
    spd.add("rest", sels(any_), sels("10.1.0.0/24"))
    assert spd.port_aware
    assert spd.lookup(ipv4_packet("10.1.0.1", "10.2.0.1", proto=6, dport=443)) == "web"
    assert spd.lookup(ipv4_packet("10.1.0.1", "10.2.0.1", proto=17, dport=53)) == "dns"
    assert spd.lookup(ipv4_packet("10.1.0.1", "10.2.0.1", proto=17, dport=54)) == "rest"
    assert spd.lookup(ipv4_packet("10.1.0.1", "10.2.0.1", proto=6, dport=80)) == "rest"


def test_wire_style_range_selector() -> None:
    class Ts:  # duck-typed wire TrafficSelector
        ts_type, ip_protocol, start_port, end_port = 7, 0, 0, 65535
        start_addr = ipaddress.ip_address("10.2.0.10")
        end_addr = ipaddress.ip_address("10.2.0.20")

    spd: Spd[str] = Spd()
    spd.add("range", sels(Ts()), sels("10.1.0.0/24"))
    assert spd.lookup(ipv4_packet("10.1.0.1", "10.2.0.15")) == "range"
    assert spd.lookup(ipv4_packet("10.1.0.1", "10.2.0.21")) is None
    assert [str(n) for n in as_selector(Ts()).networks()][:2] == ["10.2.0.10/31", "10.2.0.12/30"]


def test_ipv6() -> None:
    spd: Spd[str] = Spd()
    spd.add("v4", sels("0.0.0.0/0"), sels("0.0.0.0/0"))
    spd.add("v6", sels("2001:db8:2::/48"), sels("2001:db8:1::/48"))
    assert spd.lookup(ipv6_packet("2001:db8:1::1", "2001:db8:2::1")) == "v6"
    assert spd.lookup(ipv6_packet("2001:db8:1::1", "2001:db8:3::1")) is None
    assert spd.lookup(ipv4_packet("1.1.1.1", "2.2.2.2")) == "v4"


def test_parse_flow_fragments_and_garbage() -> None:
    pkt = bytearray(ipv4_packet("10.1.0.1", "10.2.0.1", proto=17, dport=53))
    assert parse_flow(bytes(pkt))[3:] == (17, 1234, 53)  # type: ignore[index]
    pkt[6] = 0x00
    pkt[7] = 0x10  # non-first fragment: ports opaque
    assert parse_flow(bytes(pkt))[4:] == (-1, -1)  # type: ignore[index]
    assert parse_flow(b"\x45" + bytes(10)) is None
    assert parse_flow(b"\x75" + bytes(40)) is None


def test_inbound_allowed() -> None:
    remote, local = tuple(sels("10.2.0.0/24")), tuple(sels("10.1.0.0/24"))
    ok = parse_flow(ipv4_packet("10.2.0.1", "10.1.0.1"))
    spoof = parse_flow(ipv4_packet("10.66.0.1", "10.1.0.1"))
    assert ok is not None and spoof is not None
    assert inbound_allowed(remote, local, ok)
    assert not inbound_allowed(remote, local, spoof)


def test_sad_unique_spi() -> None:
    sad: Sad[str] = Sad()
    sad.add(0x1234, "a")
    with pytest.raises(ValueError):
        sad.add(0x1234, "b")
    assert sad.get(0x1234) == "a"
    sad.remove(0x1234)
    assert sad.get(0x1234) is None
