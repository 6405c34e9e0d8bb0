"""Security Association Database and Security Policy Database (RFC 4301 4.4).

* SAD: inbound SAs keyed by SPI (the only lookup key we need, 4.4.2).
* SPD: outbound lookup from an inner packet's addresses, protocol and ports to
  the CHILD_SA that protects it.  Entries are (remote selector, local
  selector) pairs; the most specific remote selector wins, then the most
  specific local selector, then the most recently installed SA (so a rekeyed
  CHILD_SA takes over outbound traffic as soon as it is added).  Results are
  cached per flow key; the cache is flushed on every change.

Selectors are compiled to integer ranges: ``(version, lo, hi, proto, port_lo,
port_hi)``.  Ports are checked for TCP/UDP/SCTP/UDP-Lite; for ICMP/ICMPv6 the
"port" is type << 8 | code (RFC 7296 3.13.1).  A non-first fragment has no
ports (OPAQUE, RFC 4301 4.4.1.1) and only matches any-port selectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from ikepy.dataplane.base import Selector

T = TypeVar("T")

CompiledSelector = tuple[int, int, int, int, int, int]

_PORT_PROTOS = frozenset((6, 17, 132, 136))  # TCP, UDP, SCTP, UDP-Lite
_ICMP_PROTOS = frozenset((1, 58))
_V6_EXT = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options
_OPAQUE = -1
_CACHE_MAX = 4096

Flow = tuple[int, int, int, int, int, int]  # version, src, dst, proto, sport, dport


def compile_selector(sel: Selector) -> CompiledSelector:
    return (
        sel.version,
        int(sel.start),
        int(sel.end),
        sel.protocol,
        sel.start_port,
        sel.end_port,
    )


def parse_flow(pkt: bytes) -> Flow | None:
    """(version, src, dst, proto, sport, dport) of an IP packet, None if it is
    not a well-formed IPv4/IPv6 header.  Ports are -1 when unknown."""
    n = len(pkt)
    if n < 20:
        return None
    v = pkt[0] >> 4
    if v == 4:
        ihl = (pkt[0] & 15) * 4
        if ihl < 20 or n < ihl:
            return None
        src = int.from_bytes(pkt[12:16], "big")
        dst = int.from_bytes(pkt[16:20], "big")
        proto = pkt[9]
        if pkt[6] & 0x1F or pkt[7]:  # fragment offset != 0: no transport header
            return (4, src, dst, proto, _OPAQUE, _OPAQUE)
        off = ihl
    elif v == 6:
        if n < 40:
            return None
        src = int.from_bytes(pkt[8:24], "big")
        dst = int.from_bytes(pkt[24:40], "big")
        proto = pkt[6]
        off = 40
        while proto in _V6_EXT or proto == 44:
            if n < off + 8:
                return (6, src, dst, proto, _OPAQUE, _OPAQUE)
            if proto == 44:  # fragment header
                if (pkt[off + 2] << 8 | pkt[off + 3]) & 0xFFF8:
                    return (6, src, dst, pkt[off], _OPAQUE, _OPAQUE)
                proto = pkt[off]
                off += 8
            else:
                proto, off = pkt[off], off + (pkt[off + 1] + 1) * 8
    else:
        return None
    if proto in _PORT_PROTOS and n >= off + 4:
        return (v, src, dst, proto, pkt[off] << 8 | pkt[off + 1], pkt[off + 2] << 8 | pkt[off + 3])
    if proto in _ICMP_PROTOS and n >= off + 2:
        tc = pkt[off] << 8 | pkt[off + 1]
        return (v, src, dst, proto, tc, tc)
    return (v, src, dst, proto, _OPAQUE, _OPAQUE)


def _match(sel: CompiledSelector, version: int, addr: int, proto: int, port: int) -> bool:
    v, lo, hi, sproto, plo, phi = sel
    if v != version or not lo <= addr <= hi:
        return False
    if sproto and sproto != proto:
        return False
    if plo == 0 and phi == 65535:
        return True
    return port != _OPAQUE and plo <= port <= phi


def match_any(
    sels: Iterable[CompiledSelector], version: int, addr: int, proto: int, port: int
) -> bool:
    for sel in sels:
        if _match(sel, version, addr, proto, port):
            return True
    return False


def inbound_allowed(
    remote: tuple[CompiledSelector, ...], local: tuple[CompiledSelector, ...], flow: Flow
) -> bool:
    """Inner packet of a tunnel: source within remote_ts, destination within local_ts."""
    v, src, dst, proto, sport, dport = flow
    return match_any(remote, v, src, proto, sport) and match_any(local, v, dst, proto, dport)


def _size(sel: CompiledSelector) -> tuple[int, int, int]:
    # smaller address range first; then protocol-specific first; then fewer ports
    return (sel[2] - sel[1], 0 if sel[3] else 1, sel[5] - sel[4])


class Spd(Generic[T]):
    """Outbound policy lookup: flow -> item (the CHILD_SA)."""

    __slots__ = ("_entries", "_cache", "_counter", "port_aware")

    def __init__(self) -> None:
        # (sort key, remote selector, local selector, item)
        self._entries: list[tuple[tuple[object, ...], CompiledSelector, CompiledSelector, T]] = []
        self._cache: dict[object, T | None] = {}
        self._counter = 0
        self.port_aware = False  # any selector with a protocol or port restriction

    def add(
        self, item: T, remote: Iterable[CompiledSelector], local: Iterable[CompiledSelector]
    ) -> None:
        self._counter += 1
        order = -self._counter  # newer first among equals
        local_t = tuple(local)
        for r in remote:
            for loc in local_t:
                if r[0] != loc[0]:
                    continue  # an IPv4 remote with an IPv6 local can never match
                key = (_size(r), _size(loc), order)
                self._entries.append((key, r, loc, item))
        self._entries.sort(key=lambda e: e[0])
        self._refresh()

    def remove(self, item: T) -> None:
        self._entries = [e for e in self._entries if e[3] is not item]
        self._refresh()

    def _refresh(self) -> None:
        self._cache.clear()
        self.port_aware = any(
            e[1][3] or e[2][3] or e[1][4:] != (0, 65535) or e[2][4:] != (0, 65535)
            for e in self._entries
        )

    def __len__(self) -> int:
        return len(self._entries)

    def lookup_flow(self, flow: Flow) -> T | None:
        v, src, dst, proto, sport, dport = flow
        for _, r, loc, item in self._entries:
            if _match(r, v, dst, proto, dport) and _match(loc, v, src, proto, sport):
                return item
        return None

    def lookup(self, pkt: bytes) -> T | None:
        """The item for an outbound inner packet (cached per flow), or None."""
        if not self.port_aware:
            # addresses only: the raw header octets are the cache key
            v = pkt[0] >> 4
            key: object = pkt[12:20] if v == 4 else pkt[8:40]
            try:
                return self._cache[key]
            except KeyError:
                pass
            flow = parse_flow(pkt)
        else:
            flow = parse_flow(pkt)
            key = flow
            try:
                return self._cache[key]
            except KeyError:
                pass
        if flow is None:
            return None
        item = self.lookup_flow(flow)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = item
        return item


class Sad(Generic[T]):
    """Inbound SAs keyed by SPI."""

    __slots__ = ("by_spi",)

    def __init__(self) -> None:
        self.by_spi: dict[int, T] = {}

    def add(self, spi: int, item: T) -> None:
        if spi in self.by_spi:
            raise ValueError(f"inbound SPI {spi:#010x} already installed")
        self.by_spi[spi] = item

    def remove(self, spi: int) -> None:
        self.by_spi.pop(spi, None)

    def get(self, spi: int) -> T | None:
        return self.by_spi.get(spi)

    def __len__(self) -> int:
        return len(self.by_spi)
