"""Value syntaxes of swanctl.conf: booleans, durations, sizes, selectors, secrets.

Each parser takes the value text and returns the typed value or raises
``ValueError`` whose message says what is allowed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import socket

from .model import TrafficSelectorConf

_TRUE = ("yes", "true", "enabled", "1")
_FALSE = ("no", "false", "disabled", "0")


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError(f"'{text}' is not a boolean (allowed: yes, no, true, false, "
                     "enabled, disabled, 1, 0)")


def parse_int(text: str, lo: int = 0, hi: int = 2**32 - 1) -> int:
    t = text.strip()
    try:
        n = int(t, 0)
    except ValueError:
        raise ValueError(f"'{text}' is not an integer (allowed: {lo}..{hi})") from None
    if not lo <= n <= hi:
        raise ValueError(f"{n} is out of range (allowed: {lo}..{hi})")
    return n


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdSMHD]?)$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """strongSwan relative time: ``3600``, ``10s``, ``30m``, ``1h``, ``2d``.

    Deviation: a decimal fraction (``1.5h``) is accepted; strongSwan reads
    only whole numbers.
    """
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a duration (allowed: a number of seconds, "
                         "optionally with a unit s, m, h or d, e.g. 30m, 1h, 2d)")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2).lower()]


_SIZE = re.compile(r"^(0[xX][0-9a-fA-F]+|\d+)\s*([kKmMgG]?)$")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """strongSwan byte/packet volume: a number with an optional k, m or g (x1024)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a size (allowed: a whole number, optionally "
                         "with a suffix k, m or g meaning x1024, e.g. 500m)")
    return int(m.group(1), 0) * _SIZE_UNITS[m.group(2).lower()]


def split_list(text: str) -> list[str]:
    """A comma (or blank) separated list, as swanctl splits string lists."""
    return [p for p in re.split(r"[,\s]+", text.strip()) if p]


# -- traffic selectors ----------------------------------------------------------

_PROTOCOLS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
              "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "udplite": 136}
_SERVICES = {"domain": 53, "dns": 53, "http": 80, "https": 443, "ssh": 22, "ntp": 123,
             "isakmp": 500, "ipsec-nat-t": 4500, "bootps": 67, "bootpc": 68, "smtp": 25,
             "snmp": 161, "ldap": 389, "syslog": 514, "telnet": 23, "ftp": 21}


def _protocol(text: str) -> int:
    t = text.strip().lower()
    if t in ("", "any"):
        return 0
    if t in _PROTOCOLS:
        return _PROTOCOLS[t]
    try:
        return socket.getprotobyname(t)
    except OSError:
        pass
    try:
        n = int(t, 0)
    except ValueError:
        n = -1
    if not 0 <= n <= 255:
        raise ValueError(f"unknown protocol '{text}' (allowed: a name such as tcp, udp, "
                         "icmp, or a number 0..255)")
    return n


def _port(text: str) -> int:
    t = text.strip().lower()
    if t in _SERVICES:
        return _SERVICES[t]
    if not t.isdigit():
        try:
            return socket.getservbyname(t)
        except OSError:
            raise ValueError(f"unknown port '{text}' (allowed: a number 0..65535, a range "
                             "such as 1024-65535, a service name, any or opaque)") from None
    n = int(t)
    if n > 0xFFFF:
        raise ValueError(f"port {n} is out of range (allowed: 0..65535)")
    return n


class _TsError(ValueError):
    pass


def parse_traffic_selector(text: str) -> TrafficSelectorConf:
    """One selector: ``10.1.0.0/24``, ``10.1.0.1``, ``10.1.0.5-10.1.0.9``,
    ``dynamic``, ``2001:db8::/32``, with an optional ``[proto/port]`` such as
    ``[tcp/443]``, ``[udp]``, ``[tcp/1024-65535]``, ``[icmp/8]`` or ``[/53]``.
    A bare ``[proto/port]`` with no address means every address
    (0.0.0.0/0; use ``::/0[...]`` for IPv6).
    """
    raw = text.strip()
    addr, proto, start_port, end_port = raw, 0, 0, 0xFFFF
    if "[" in raw:
        addr, _, rest = raw.partition("[")
        if not rest.endswith("]"):
            raise ValueError(f"'{text}': missing ']' after protocol/port")
        pp = rest[:-1]
        proto_text, _, port_text = pp.partition("/")
        proto = _protocol(proto_text)
        pt = port_text.strip().lower()
        if pt == "opaque":
            start_port, end_port = 0xFFFF, 0
        elif pt and pt not in ("any", "%any"):
            a, dash, b = pt.partition("-")
            start_port = _port(a)
            end_port = _port(b) if dash else start_port
            if end_port < start_port:
                raise ValueError(f"'{text}': port range {start_port}-{end_port} is reversed")
    addr = addr.strip()
    if addr.lower() in ("dynamic", "%dynamic"):
        return TrafficSelectorConf(raw, True, None, None, proto, start_port, end_port)
    if addr == "":
        addr = "0.0.0.0/0"
    try:
        if "-" in addr:
            lo_t, _, hi_t = addr.partition("-")
            lo = ipaddress.ip_address(lo_t.strip())
            hi = ipaddress.ip_address(hi_t.strip())
            if lo.version != hi.version:
                raise _TsError(f"'{text}': range mixes IPv4 and IPv6")
            if int(hi) < int(lo):
                raise _TsError(f"'{text}': address range is reversed")
        else:
            net = ipaddress.ip_network(addr, strict=False)
            lo, hi = net.network_address, net.broadcast_address
    except _TsError:
        raise
    except ValueError:
        raise ValueError(f"'{addr}' is not a traffic selector (allowed: dynamic, an address, "
                         "a subnet such as 10.1.0.0/24, a range such as 10.1.0.5-10.1.0.9, "
                         "each optionally followed by [protocol/port])") from None
    return TrafficSelectorConf(raw, False, lo, hi, proto, start_port, end_port)


def parse_traffic_selectors(text: str) -> tuple[TrafficSelectorConf, ...]:
    items = [p.strip() for p in text.split(",") if p.strip()]
    if not items:
        raise ValueError("empty traffic selector list (allowed: dynamic, subnets, ranges)")
    return tuple(parse_traffic_selector(p) for p in items)


# -- secrets -------------------------------------------------------------------

def parse_secret(text: str) -> bytes:
    """A pre-shared key: plain text, ``0x<hex>`` or ``0s<base64>``."""
    if text.startswith(("0x", "0X")):
        try:
            data = bytes.fromhex(text[2:].replace(":", "").replace(" ", ""))
        except ValueError:
            raise ValueError("invalid hex after 0x (allowed: plain text, 0x<hex>, "
                             "0s<base64>)") from None
    elif text.startswith("0s"):
        try:
            data = base64.b64decode(text[2:].replace(" ", ""), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("invalid base64 after 0s (allowed: plain text, 0x<hex>, "
                             "0s<base64>)") from None
    else:
        data = text.encode("utf-8")
    if not data:
        raise ValueError("empty secret (allowed: plain text, 0x<hex>, 0s<base64>)")
    return data
