"""The data plane boundary: what the IKE engine hands to a backend.

A backend installs CHILD_SAs (one inbound and one outbound ESP SA each, plus the
policy that steers traffic into them), allocates inbound SPIs, and reports
counters and drop reasons.  Three backends implement :class:`Backend`:
``memory.MemoryBackend`` (tests), ``userspace.UserspaceBackend`` (ESP in Python
over a TUN device) and ``xfrm`` (the Linux kernel).

Keys: a CHILD_SA has two directions with their own keys (RFC 7296 2.17), so the
spec carries ``encr_key_in``/``encr_key_out`` and ``integ_key_in``/``integ_key_out``
(AEAD keys include the 4-octet salt at the end, RFC 4106 8.1 / RFC 7634 2).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# --- drop reasons: every dropped packet increments exactly one of these -----
DROP_BAD_SPI = "bad_spi"  # inbound ESP with an SPI we do not know
DROP_REPLAY = "replay"  # duplicate or left of the anti-replay window (RFC 4303 3.4.3)
DROP_INTEGRITY = "integrity"  # ICV / AEAD tag check failed (RFC 4303 3.4.4)
DROP_NO_POLICY = "no_policy"  # decrypted inner packet outside the SA's selectors
DROP_PADDING = "padding"  # padding not 1, 2, 3, ... (RFC 4303 2.4) or pad length too long
DROP_TTL = "ttl"  # inner packet with TTL / hop limit 0
DROP_MALFORMED = "malformed"  # truncated ESP, bad inner IP header, bad next header
DROP_NO_SA_FOR_SELECTOR = "no_sa_for_selector"  # outbound packet that no CHILD_SA covers
# additions beyond the brief's list
DROP_SEQ_EXHAUSTED = "seq_exhausted"  # outbound sequence counter would wrap (RFC 4303 3.3.3)
DROP_HARD_EXPIRED = "hard_expired"  # SA passed its hard byte/packet lifetime
DROP_SEND_ERROR = "send_error"  # socket refused the outer packet
DROP_TUN_WRITE_ERROR = "tun_write_error"  # TUN device refused the inner packet
DROP_TOO_BIG = "too_big"  # outer packet would exceed 65535 octets

DROP_REASONS: tuple[str, ...] = (
    DROP_BAD_SPI,
    DROP_REPLAY,
    DROP_INTEGRITY,
    DROP_NO_POLICY,
    DROP_PADDING,
    DROP_TTL,
    DROP_MALFORMED,
    DROP_NO_SA_FOR_SELECTOR,
    DROP_SEQ_EXHAUSTED,
    DROP_HARD_EXPIRED,
    DROP_SEND_ERROR,
    DROP_TUN_WRITE_ERROR,
    DROP_TOO_BIG,
)

# --- events a backend raises through its on_event(kind, reqid) callback -----
EVENT_SOFT = "soft"  # rekey_bytes / rekey_packets reached: rekey the CHILD_SA
EVENT_HARD = "hard"  # life_bytes / life_packets reached: the SA no longer carries traffic
EVENT_SEQ_EXHAUSTED = "seq_exhausted"  # outbound sequence number space used up: rekey now

DEFAULT_REPLAY_WINDOW = 1024


@dataclass(frozen=True, slots=True)
class Selector:
    """A traffic selector as the data plane sees it (RFC 7296 3.13.1).

    An inclusive address range plus IP protocol (0 = any) and an inclusive port
    range (0..65535 = any).  ``ChildSaSpec.local_ts``/``remote_ts`` may hold
    plain ``ipaddress`` networks, these, or anything with the wire
    ``TrafficSelector`` attributes (start_addr, end_addr, ip_protocol,
    start_port, end_port); backends normalise with :func:`as_selector`.
    """

    start: IPAddress
    end: IPAddress
    protocol: int = 0
    start_port: int = 0
    end_port: int = 65535

    @property
    def version(self) -> int:
        return self.start.version

    @property
    def any_port(self) -> bool:
        return self.start_port == 0 and self.end_port == 65535

    def networks(self) -> list[IPNetwork]:
        """The CIDR blocks covering the address range (for routes)."""
        return list(ipaddress.summarize_address_range(self.start, self.end))


def as_selector(ts: object) -> Selector:
    """Normalise a network, address, Selector or wire TrafficSelector."""
    if isinstance(ts, Selector):
        return ts
    if isinstance(ts, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return Selector(ts.network_address, ts.broadcast_address)
    if isinstance(ts, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return Selector(ts, ts)
    if isinstance(ts, str):
        return as_selector(ipaddress.ip_network(ts, strict=False))
    start = getattr(ts, "start_addr", None)
    end = getattr(ts, "end_addr", None)
    if start is None or end is None:
        raise TypeError(f"not a traffic selector: {ts!r}")
    start_a = ipaddress.ip_address(start)
    end_a = ipaddress.ip_address(end)
    return Selector(
        start_a,
        end_a,
        int(getattr(ts, "ip_protocol", 0)),
        int(getattr(ts, "start_port", 0)),
        int(getattr(ts, "end_port", 65535)),
    )


class _HasSelectors:
    """local_ts/remote_ts normalised to Selectors (shared by ChildSaSpec and TrapSpec)."""

    __slots__ = ()
    local_ts: tuple[object, ...]
    remote_ts: tuple[object, ...]

    def local_selectors(self) -> tuple[Selector, ...]:
        return tuple(as_selector(t) for t in self.local_ts)

    def remote_selectors(self) -> tuple[Selector, ...]:
        return tuple(as_selector(t) for t in self.remote_ts)


@dataclass(frozen=True, slots=True)
class ChildSaSpec(_HasSelectors):
    """Everything a backend needs to install one CHILD_SA (both directions).

    ``reqid`` names the CHILD_SA towards the backend (delete, counters, events);
    a rekeyed CHILD_SA is installed with a new reqid, and while old and new
    overlap the most recently added one carries outbound traffic.
    Lifetimes of 0 mean "no limit".  ``rekey_*`` raise the soft event,
    ``life_*`` the hard one; both are checked per direction.
    """

    name: str
    reqid: int
    spi_in: int
    spi_out: int
    encr_id: int
    encr_key_in: bytes
    encr_key_out: bytes
    integ_id: int | None
    integ_key_in: bytes
    integ_key_out: bytes
    local_addr: IPAddress
    remote_addr: IPAddress
    local_ts: tuple[object, ...]
    remote_ts: tuple[object, ...]
    mode: str = "tunnel"
    esn: bool = False
    encap: bool = False
    local_port: int = 4500
    remote_port: int = 4500
    replay_window: int = DEFAULT_REPLAY_WINDOW
    life_bytes: int = 0
    life_packets: int = 0
    rekey_bytes: int = 0
    rekey_packets: int = 0
    # XFRM interface ids (route-based VPNs, swanctl.conf if_id_in/if_id_out); 0 = none
    if_id_in: int = 0
    if_id_out: int = 0


@dataclass(frozen=True, slots=True)
class TrapSpec(_HasSelectors):
    """A trap policy (start_action / dpd_action / close_action = trap): the first
    outbound packet that matches ``local_ts`` -> ``remote_ts`` and has no CHILD_SA
    makes the backend call ``on_event("acquire", trap_id)``; the engine then
    brings the CHILD_SA up. Packets meanwhile are dropped and counted."""

    trap_id: int
    name: str
    local_addr: IPAddress
    remote_addr: IPAddress
    local_ts: tuple[object, ...]
    remote_ts: tuple[object, ...]
    mode: str = "tunnel"
    if_id_in: int = 0
    if_id_out: int = 0


@dataclass(slots=True)
class SaCounters:
    """Per-CHILD_SA traffic counters.  ``last_in``/``last_out`` are
    ``time.monotonic()`` of the last packet in that direction, or None."""

    bytes_in: int = 0
    packets_in: int = 0
    bytes_out: int = 0
    packets_out: int = 0
    last_in: float | None = None
    last_out: float | None = None


class UnknownSa(KeyError):
    """No CHILD_SA with that reqid is installed."""


@runtime_checkable
class Backend(Protocol):
    """What the daemon and the engine ask of a data plane."""

    def alloc_spi(self) -> int:
        """A fresh inbound SPI: random, unique in this backend, never < 256 (RFC 4303 2.1)."""
        ...

    def release_spi(self, spi: int) -> None:
        """Give back an allocated SPI that was never installed (failed negotiation)."""
        ...

    def add_child_sa(self, spec: ChildSaSpec) -> None: ...

    def update_child_sa(self, spec: ChildSaSpec) -> None:
        """Replace addresses/ports/encap of an installed CHILD_SA (MOBIKE, NAT
        mapping change), keeping keys, sequence numbers, replay state and counters."""
        ...

    def delete_child_sa(self, reqid: int) -> None: ...

    def counters(self, reqid: int) -> SaCounters: ...

    def stats(self) -> dict[str, int]: ...

    def close(self) -> None: ...

    # Optional (the engine checks with getattr): trap policies.
    #   install_trap(spec: TrapSpec) -> None
    #   uninstall_trap(trap_id: int) -> None
