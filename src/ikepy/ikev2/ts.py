"""Traffic selectors: building, narrowing (RFC 7296 2.9) and printing them.

Selectors are ``wire.payloads.TrafficSelector`` values throughout; a range of
addresses, an IP protocol (0 = any) and a port range.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from ..wire.enums import TsType
from ..wire.payloads import TrafficSelector

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 47: "gre", 50: "esp"}


def from_range(start: IPAddress, end: IPAddress, proto: int = 0, start_port: int = 0,
               end_port: int = 65535) -> TrafficSelector:
    ts_type = TsType.TS_IPV4_ADDR_RANGE if start.version == 4 else TsType.TS_IPV6_ADDR_RANGE
    return TrafficSelector(ts_type, proto, start_port, end_port, start, end)


def from_network(net: ipaddress.IPv4Network | ipaddress.IPv6Network | str, proto: int = 0,
                 start_port: int = 0, end_port: int = 65535) -> TrafficSelector:
    n = ipaddress.ip_network(net, strict=False) if isinstance(net, str) else net
    return from_range(n.network_address, n.broadcast_address, proto, start_port, end_port)


def host(addr: IPAddress | str) -> TrafficSelector:
    a = ipaddress.ip_address(addr) if isinstance(addr, str) else addr
    return from_range(a, a)


def from_conf(conf: Any, dynamic: IPAddress) -> TrafficSelector:
    """A configured selector (config.model.TrafficSelectorConf) made concrete.

    ``dynamic`` is the IKE address of the side it stands for (RFC 7296 2.9 and
    strongSwan's ``dynamic``).
    """
    proto = getattr(conf, "protocol", 0) or 0
    sp = getattr(conf, "start_port", 0)
    ep = getattr(conf, "end_port", 65535)
    if getattr(conf, "dynamic", False):
        return from_range(dynamic, dynamic, proto, sp, ep)
    return from_range(conf.start, conf.end, proto, sp, ep)


def _intersect(a: TrafficSelector, b: TrafficSelector) -> TrafficSelector | None:
    if a.ts_type != b.ts_type:
        return None
    if a.ip_protocol and b.ip_protocol and a.ip_protocol != b.ip_protocol:
        return None
    start = max(a.start_addr, b.start_addr)
    end = min(a.end_addr, b.end_addr)
    if start > end:  # type: ignore[operator]  # same version: ts_type matched
        return None
    sp = max(a.start_port, b.start_port)
    ep = min(a.end_port, b.end_port)
    if sp > ep:
        return None
    return TrafficSelector(a.ts_type, a.ip_protocol or b.ip_protocol, sp, ep, start, end)


def narrow(ours: Sequence[TrafficSelector], theirs: Sequence[TrafficSelector]) -> list[TrafficSelector]:
    """The responder's narrowing: every part of their proposal that our policy allows.

    RFC 7296 2.9: the responder may narrow to a subset; the result keeps the
    initiator's order so that a first, packet-specific selector stays first.
    """
    out: list[TrafficSelector] = []
    for t in theirs:
        for o in ours:
            r = _intersect(o, t)
            if r is not None and r not in out:
                out.append(r)
    return out


def is_subset(inner: Iterable[TrafficSelector], outer: Sequence[TrafficSelector]) -> bool:
    """Is every selector of ``inner`` inside one of ``outer`` (initiator's check)?"""
    for i in inner:
        if not any(_intersect(i, o) == i for o in outer):
            return False
    return True


def ts_str(ts: TrafficSelector) -> str:
    start, end = ts.start_addr, ts.end_addr
    text = None
    try:
        for net in ipaddress.summarize_address_range(start, end):
            if text is None:
                text = str(net)
            else:
                text = None
                break
    except (TypeError, ValueError):
        text = None
    if text is None:
        text = f"{start}..{end}"
    if ts.ip_protocol or (ts.start_port, ts.end_port) != (0, 65535):
        proto = _PROTO_NAMES.get(ts.ip_protocol, str(ts.ip_protocol)) if ts.ip_protocol else ""
        if (ts.start_port, ts.end_port) == (0, 65535):
            port = ""
        elif ts.start_port == ts.end_port:
            port = str(ts.start_port)
        else:
            port = f"{ts.start_port}-{ts.end_port}"
        text += f"[{proto}{'/' if port else ''}{port}]"
    return text


def list_str(tss: Iterable[TrafficSelector]) -> str:
    return ", ".join(ts_str(t) for t in tss) or "(none)"
