"""Validated, immutable configuration objects.

Both input syntaxes (swanctl.conf and native TOML) end here. Field names
follow swanctl.conf's key names; defaults follow strongSwan 5.9 unless a
comment says otherwise. Times are seconds (float), sizes are plain ints.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ikepy.crypto.proposals import ProposalSpec

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _empty_map() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TrafficSelectorConf:
    """One traffic selector as written in strongSwan syntax.

    ``dynamic`` selectors stand for the address of the IKE SA (or the virtual
    IP) and have ``start``/``end`` None. Ports follow the wire: ``0-65535`` is
    any port, ``opaque`` is ``start_port=65535, end_port=0`` (RFC 7296 3.13.1).
    ICMP type/code travel in the port fields as in strongSwan.
    """

    text: str
    dynamic: bool = False
    start: IpAddress | None = None
    end: IpAddress | None = None
    protocol: int = 0  # 0 = any
    start_port: int = 0
    end_port: int = 0xFFFF

    @property
    def version(self) -> int | None:
        """4 or 6, None for dynamic selectors."""
        return None if self.start is None else self.start.version

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        """The single network this range spans exactly, else None."""
        if self.start is None or self.end is None:
            return None
        nets = list(ipaddress.summarize_address_range(self.start, self.end))
        if len(nets) != 1:
            return None
        net = nets[0]
        assert isinstance(net, ipaddress.IPv4Network | ipaddress.IPv6Network)
        return net


@dataclass(frozen=True, slots=True)
class AuthRound:
    """One ``local*``/``remote*`` section: an authentication round."""

    name: str  # section name: "local", "local-1", "remote", ...
    auth: str  # "psk" (only psk is accepted for now)
    id: str | None  # local: None = the local IP address (strongSwan); remote: "%any" default
    round: int = 0
    certs: tuple[str, ...] = ()
    cacerts: tuple[str, ...] = ()
    eap_id: str | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Child:
    """A ``children.<name>`` section (a CHILD_SA template)."""

    name: str
    local_ts: tuple[TrafficSelectorConf, ...]
    remote_ts: tuple[TrafficSelectorConf, ...]
    esp_proposals: tuple[ProposalSpec, ...]
    esp_proposals_text: str = "default"
    mode: str = "tunnel"  # tunnel | transport | pass | drop
    start_action: str = "none"  # none | trap | start | trap|start
    dpd_action: str = "clear"  # clear | trap | restart
    close_action: str = "none"  # none | trap | start
    rekey_time: float = 3600.0
    life_time: float = 3960.0  # default rekey_time * 1.1
    rand_time: float = 360.0  # default life_time - rekey_time
    rekey_bytes: int = 0
    life_bytes: int = 0  # default rekey_bytes * 1.1
    rand_bytes: int = 0  # default life_bytes - rekey_bytes
    rekey_packets: int = 0
    life_packets: int = 0
    rand_packets: int = 0
    inactivity: float = 0.0
    updown: str | None = None
    hostaccess: bool = False
    policies: bool = True
    replay_window: int = 32
    copy_df: bool = True
    copy_ecn: bool = True
    copy_dscp: str = "out"  # no | in | out | yes
    hw_offload: str = "no"  # no | yes | crypto | packet | auto
    sha256_96: bool = False
    if_id_in: int | str = 0  # int, or "%unique" / "%unique-dir"
    if_id_out: int | str = 0
    reqid: int = 0
    priority: int = 0
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Connection:
    """A ``connections.<name>`` section (an IKE_SA template)."""

    name: str
    proposals: tuple[ProposalSpec, ...]
    proposals_text: str = "default"
    version: int = 0  # 0 = any (strongSwan default); we speak IKEv2 only
    local_addrs: tuple[str, ...] = ("%any",)
    remote_addrs: tuple[str, ...] = ("%any",)
    local_port: int = 500
    remote_port: int = 500
    encap: bool = False
    mobike: bool = True
    fragmentation: str = "yes"  # yes | accept | force | no
    childless: str = "allow"  # allow | prefer | force | never
    send_certreq: bool = True
    send_cert: str = "ifasked"  # always | never | ifasked
    aggressive: bool = False  # IKEv1 only, ignored
    dpd_delay: float = 0.0
    dpd_timeout: float = 0.0  # IKEv1 only in strongSwan; IKEv2 uses retransmission
    keyingtries: int = 1  # 0 = forever
    unique: str = "no"  # no | never | replace | keep
    allow_weak_psk: bool = False  # ikepy: accept a guessable PSK (config/psk_strength.py)
    rekey_time: float = 14400.0
    reauth_time: float = 0.0
    over_time: float = 1440.0  # default 10% of max(rekey_time, reauth_time)
    rand_time: float = 1440.0  # default over_time
    if_id_in: int | str = 0
    if_id_out: int | str = 0
    local: tuple[AuthRound, ...] = ()
    remote: tuple[AuthRound, ...] = ()
    children: Mapping[str, Child] = field(default_factory=_empty_map, hash=False)  # type: ignore[arg-type]
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class IkeSecret:
    """A ``secrets.ike<suffix>`` section: a pre-shared key and its owners."""

    ids: tuple[str, ...]
    secret: bytes = field(repr=False)
    name: str = ""
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    binary: bool = False  # given as 0x hex or 0s base64: counted as random octets


# -- identity matching (strongSwan identification_t, simplified) ------------

ID_MATCH_NONE = 0
ID_MATCH_WILDCARD = 1
ID_MATCH_PERFECT = 2


@functools.lru_cache(maxsize=1024)
def normalize_id(text: str) -> str:
    """Canonical string form of an identity for comparisons.

    IP addresses are written canonically (``::0:1`` -> ``::1``); a leading
    ``@`` (strongSwan's "FQDN, do not resolve") is dropped; FQDN and RFC 822
    identities compare case-insensitively as in strongSwan; DNs keep their
    case, with blanks around separators removed.
    """
    t = text.strip()
    if t.lower() in ("%any", "%any4", "%any6", ""):
        return "%any"
    try:
        return str(ipaddress.ip_address(t))
    except ValueError:
        pass
    if t.startswith("@#") or t.startswith("#"):
        return t.lower()
    if t.startswith("@"):
        t = t[1:]
    if "=" in t:  # a distinguished name
        parts = [p.strip() for p in t.replace(";", ",").split(",")]
        return ", ".join("=".join(s.strip() for s in p.split("=", 1)) for p in parts)
    return t.lower()


def match_id(pattern: str, ident: str) -> int:
    """How well ``ident`` matches the configured ``pattern``."""
    p = normalize_id(pattern)
    i = normalize_id(ident)
    if p == i:
        return ID_MATCH_PERFECT
    if p == "%any":
        return ID_MATCH_WILDCARD
    if p.startswith("*") and i.endswith(p[1:]):  # strongSwan's leading wildcard
        return ID_MATCH_WILDCARD
    return ID_MATCH_NONE


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    connections: Mapping[str, Connection] = field(default_factory=_empty_map, hash=False)  # type: ignore[arg-type]
    secrets: tuple[IkeSecret, ...] = ()
    source: str = field(default="", compare=False)

    def find_psk(self, local_id: str, remote_id: str) -> bytes | None:
        """The pre-shared key for this pair of identities, strongSwan-style.

        Best match wins: a secret whose ids match both identities beats one
        matching only one of them, which beats a secret with no ids at all;
        among equals, exact ids beat wildcards (``%any``, ``*.example``), and
        then the first one in the file wins.
        """
        best: tuple[int, int] | None = None
        found: bytes | None = None
        for s in self.secrets:
            if not s.ids:
                score = (0, 0)
            else:
                mine = max(match_id(i, local_id) for i in s.ids)
                theirs = max(match_id(i, remote_id) for i in s.ids)
                if not mine and not theirs:
                    continue
                score = ((mine > 0) + (theirs > 0), mine + theirs)
            if best is None or score > best:
                best, found = score, s.secret
        return found
