"""Shared builders for the data plane tests."""

from __future__ import annotations

import ipaddress
import struct

from ikepy.dataplane.base import ChildSaSpec


def ipv4_packet(src: str, dst: str, payload: bytes = b"x" * 32, proto: int = 17, ttl: int = 64,
                sport: int = 1234, dport: int = 5678) -> bytes:  # fmt: skip
    if proto in (6, 17):
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    else:
        l4 = payload
    total = 20 + len(l4)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, ttl, proto, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)  # fmt: skip
    return hdr + l4


def ipv6_packet(src: str, dst: str, payload: bytes = b"y" * 32, proto: int = 17, hlim: int = 64,
                sport: int = 1234, dport: int = 5678) -> bytes:  # fmt: skip
    l4 = (
        struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        if proto == 17
        else payload
    )
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, hlim,
                      ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed)  # fmt: skip
    return hdr + l4


def spec_pair(
    encr_id: int = 20,
    key_a_to_b: bytes = bytes(range(36)),
    key_b_to_a: bytes = bytes(range(100, 136)),
    integ_id: int | None = None,
    ikey_a_to_b: bytes = b"",
    ikey_b_to_a: bytes = b"",
    a_ts: tuple[object, ...] = (ipaddress.ip_network("10.1.0.0/24"),),
    b_ts: tuple[object, ...] = (ipaddress.ip_network("10.2.0.0/24"),),
    reqid: int = 1,
    **kw: object,
) -> tuple[ChildSaSpec, ChildSaSpec]:
    """Matching specs for side a (192.0.2.1, 10.1.0.0/24) and b (192.0.2.2, 10.2.0.0/24)."""
    a_addr, b_addr = ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")
    spi_a, spi_b = 0x1000 + reqid, 0x2000 + reqid
    a = ChildSaSpec(
        name="net", reqid=reqid, spi_in=spi_a, spi_out=spi_b, encr_id=encr_id,
        encr_key_in=key_b_to_a, encr_key_out=key_a_to_b, integ_id=integ_id,
        integ_key_in=ikey_b_to_a, integ_key_out=ikey_a_to_b,
        local_addr=a_addr, remote_addr=b_addr, local_ts=a_ts, remote_ts=b_ts, **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    b = ChildSaSpec(
        name="net", reqid=reqid, spi_in=spi_b, spi_out=spi_a, encr_id=encr_id,
        encr_key_in=key_a_to_b, encr_key_out=key_b_to_a, integ_id=integ_id,
        integ_key_in=ikey_a_to_b, integ_key_out=ikey_b_to_a,
        local_addr=b_addr, remote_addr=a_addr, local_ts=b_ts, remote_ts=a_ts, **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return a, b
