"""Userspace ESP data plane (like strongSwan's kernel-libipsec).

Outbound: the kernel routes inner packets into the TUN device; each one is
looked up in the SPD, protected with the CHILD_SA's outbound ESP SA and sent
either through the daemon's UDP 4500 socket (``send_udp``, RFC 3948 when
``spec.encap``) or through a raw IP protocol 50 socket.

Inbound: ESP arrives from the daemon (``receive_esp``, UDP-encapsulated, after
the non-ESP marker check) or from the raw ESP socket; SPI lookup, replay check,
ICV check, replay update, decryption, padding check, traffic selector check,
then the inner packet is written to the TUN device.

Every dropped packet increments one reason counter (``stats()``); lifetimes
and sequence number exhaustion raise ``on_event(kind, reqid)`` with kind
``"soft"``, ``"hard"`` or ``"seq_exhausted"``.  NAT keepalives (RFC 3948 4,
one 0xFF octet to the peer's UDP 4500) are sent by an internal timer started
with :meth:`UserspaceBackend.start`, every ``keepalive_interval`` seconds for
each encapsulated peer that saw no outbound ESP in that interval;
:meth:`keepalive_targets` tells who they would go to.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ikepy.dataplane.base import (
    DEFAULT_REPLAY_WINDOW,
    DROP_BAD_SPI,
    DROP_HARD_EXPIRED,
    DROP_MALFORMED,
    DROP_NO_POLICY,
    DROP_NO_SA_FOR_SELECTOR,
    DROP_REASONS,
    DROP_SEND_ERROR,
    DROP_SEQ_EXHAUSTED,
    DROP_TOO_BIG,
    DROP_TTL,
    DROP_TUN_WRITE_ERROR,
    EVENT_HARD,
    EVENT_SEQ_EXHAUSTED,
    EVENT_SOFT,
    ChildSaSpec,
    SaCounters,
    TrapSpec,
    UnknownSa,
)
from ikepy.dataplane.userspace.esp import (
    NH_IPV4,
    NH_IPV6,
    NH_NONE,
    EspDrop,
    EspInbound,
    EspOutbound,
    make_inbound,
    make_outbound,
)
from ikepy.dataplane.userspace.sad import (
    CompiledSelector,
    Sad,
    Spd,
    compile_selector,
    inbound_allowed,
    parse_flow,
)

if TYPE_CHECKING:

    from ikepy.dataplane.userspace.tun import RouteTable, TunDevice

log = logging.getLogger(__name__)

MIN_SPI = 256
IPPROTO_ESP = 50
NAT_KEEPALIVE = b"\xff"  # RFC 3948 2.3
DEFAULT_KEEPALIVE_INTERVAL = 20.0
_UDP_MAX = 65507
_NEVER = 1 << 80
_SPI = struct.Struct("!I")
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)

AddrPort = tuple[str, int]
SendUdp = Callable[[bytes, AddrPort, AddrPort], object]
UdpSender = Callable[[AddrPort, AddrPort], "Callable[..., object] | None"]
OnEvent = Callable[[str, int], object]
_IN_CACHE_MAX = 1024
EVENT_ACQUIRE = "acquire"
DROP_ACQUIRE = "acquire"  # outbound packet that hit a trap policy (no CHILD_SA yet)
ACQUIRE_INTERVAL = 1.0  # at most one acquire per trap per this many seconds
# UDP GSO limits (linux/udp.h UDP_MAX_SEGMENTS; the whole super-datagram is one IP packet)
GSO_MAX_SEGMENTS = 64
GSO_MAX_BYTES = 65000
_GSO_UNSUPPORTED = frozenset((errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP))


class _ChildSa:
    """Runtime state of one installed CHILD_SA."""

    __slots__ = (
        "spec",
        "reqid",
        "out",
        "inn",
        "c",
        "local_sels",
        "remote_sels",
        "udp_src",
        "udp_dst",
        "udp_send",
        "udp_gso",
        "encap",
        "in_ok",
        "in_by_addr",
        "raw_dst",
        "raw_anc",
        "mark_in",
        "mark_out",
        "soft_fired",
        "hard_fired",
        "seq_fired",
        "dead",
    )

    def __init__(self, spec: ChildSaSpec, out: EspOutbound, inn: EspInbound) -> None:
        self.spec = spec
        self.reqid = spec.reqid
        self.out = out
        self.inn = inn
        self.c = SaCounters()
        self.local_sels: tuple[CompiledSelector, ...] = tuple(
            compile_selector(s) for s in spec.local_selectors()
        )
        self.remote_sels: tuple[CompiledSelector, ...] = tuple(
            compile_selector(s) for s in spec.remote_selectors()
        )
        # inbound selector check results by the inner addresses (see _inbound_allowed):
        # valid while every selector is for any protocol and any port
        self.in_ok: dict[bytes, bool] = {}
        self.in_by_addr = not any(
            sel[3] or sel[4:] != (0, 65535) for sel in self.local_sels + self.remote_sels
        )
        self.soft_fired = False
        self.hard_fired = False
        self.seq_fired = False
        self.dead = False
        self.mark_in = (_NEVER, _NEVER)  # (bytes, packets) at which to look at lifetimes
        self.mark_out = (_NEVER, _NEVER)
        self.set_addresses(spec)
        self.recompute_marks()

    def set_addresses(self, spec: ChildSaSpec) -> None:
        self.spec = spec
        self.encap = spec.encap
        self.udp_send: Callable[..., object] | None = None  # resolved at the first packet
        self.udp_gso = False  # udp_send takes a segment size (UDP GSO)
        self.udp_src: AddrPort = (str(spec.local_addr), spec.local_port)
        self.udp_dst: AddrPort = (str(spec.remote_addr), spec.remote_port)
        self.raw_dst: tuple[str, int] = (str(spec.remote_addr), 0)
        if spec.local_addr.version == 4:
            info = struct.pack("@i4s4s", 0, spec.local_addr.packed, bytes(4))
            self.raw_anc = [(socket.IPPROTO_IP, _IP_PKTINFO, info)]
        else:
            info = struct.pack("@16si", spec.local_addr.packed, 0)
            self.raw_anc = [(socket.IPPROTO_IPV6, _IPV6_PKTINFO, info)]

    def recompute_marks(self) -> None:
        s = self.spec
        limits_b = [
            x
            for x in (
                (0 if self.soft_fired else s.rekey_bytes),
                (0 if self.hard_fired else s.life_bytes),
            )
            if x
        ]
        limits_p = [
            x
            for x in (
                (0 if self.soft_fired else s.rekey_packets),
                (0 if self.hard_fired else s.life_packets),
            )
            if x
        ]
        m = (min(limits_b, default=_NEVER), min(limits_p, default=_NEVER))
        self.mark_in = self.mark_out = m


class _Trap:
    """An installed trap policy."""

    __slots__ = ("spec", "trap_id", "local_sels", "remote_sels", "last_acquire", "hits")

    def __init__(self, spec: TrapSpec) -> None:
        self.spec = spec
        self.trap_id = spec.trap_id
        self.local_sels: tuple[CompiledSelector, ...] = tuple(
            compile_selector(s) for s in spec.local_selectors()
        )
        self.remote_sels: tuple[CompiledSelector, ...] = tuple(
            compile_selector(s) for s in spec.remote_selectors()
        )
        self.last_acquire: float | None = None
        self.hits = 0


def _trap_route_key(trap_id: int) -> tuple[str, int]:
    return ("trap", trap_id)


class UserspaceBackend:
    """ESP in userspace over a TUN device; implements ``base.Backend``.

    Arguments:
      send_udp(data, (local_ip, local_port), (remote_ip, remote_port)): sends
        one UDP datagram from the daemon's port 4500 socket.
      tun_name, mtu: the TUN device opened by :meth:`start`.
      install_routes: route each remote traffic selector via the TUN device.
      replay_window: default when a spec does not say (spec.replay_window wins).
      on_event(kind, reqid): "soft", "hard", "seq_exhausted"; "acquire" with a
        trap id when an outbound packet hits a trap policy (:meth:`install_trap`)
        and no CHILD_SA, at most once per ``acquire_interval`` seconds per trap.
      raw_esp: open raw protocol-50 sockets in :meth:`start` for ESP without UDP.
      keepalive_interval: seconds between NAT keepalives (0 disables the timer).
      deliver(inner): where decrypted packets go instead of the TUN device
        (tests and benchmarks; without it and before start() they are written
        nowhere and counted as tun_write_error).
      debug: log every drop (off by default: no logging on the packet path).
      batch: packets read per wakeup at most.
      route_table: routing table for the TUN routes (main by default).
      udp_sender(local, remote): optional; a ``send(data, segment=0)`` for ESP-in-UDP
        from local to remote with the socket and addresses resolved once (the
        daemon's ``Runtime.udp_sender``), cached per CHILD_SA; None (or no
        udp_sender) falls back to ``send_udp`` for every packet. ``segment`` > 0
        means ``data`` is several ESP packets of that size (the last may be
        shorter) for UDP GSO.
      gso: send the ESP-in-UDP packets of one TUN read burst with UDP GSO (one
        system call for up to 64 equal-size packets to one peer) when the
        udp_sender allows it; turned off for good at the first refusal.
    """

    def __init__(
        self,
        send_udp: SendUdp,
        tun_name: str = "ipsec0",
        mtu: int = 1400,
        install_routes: bool = True,
        replay_window: int = DEFAULT_REPLAY_WINDOW,
        on_event: OnEvent | None = None,
        *,
        raw_esp: bool = True,
        keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
        deliver: Callable[[bytes], object] | None = None,
        debug: bool = False,
        batch: int = 64,
        route_table: int = 254,
        rng: random.Random | None = None,
        udp_sender: UdpSender | None = None,
        gso: bool = True,
        acquire_interval: float = ACQUIRE_INTERVAL,
    ) -> None:
        self._send_udp = send_udp
        self._udp_sender = udp_sender
        self.gso = gso
        self.gso_sends = 0  # system calls that carried several ESP packets
        self.tun_name = tun_name
        self.mtu = mtu
        self.install_routes = install_routes
        self.replay_window = replay_window
        self.on_event = on_event
        self.raw_esp = raw_esp
        self.keepalive_interval = keepalive_interval
        self.debug = debug
        self.batch = batch
        self.route_table = route_table
        self._rng = rng or random.SystemRandom()
        self._deliver = deliver
        self._sad: Sad[_ChildSa] = Sad()
        self._spd: Spd[_ChildSa] = Spd()
        self._sas: dict[int, _ChildSa] = {}
        self._spis: set[int] = set()
        self._drops: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self._drops["dummy"] = 0
        self._drops[DROP_ACQUIRE] = 0
        self.acquire_interval = acquire_interval
        self.acquires = 0  # acquire events raised
        self._traps: dict[int, _Trap] = {}
        self._trap_spd: Spd[_Trap] = Spd()
        self.keepalives_sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tun: TunDevice | None = None
        self._ipr: Any = None  # a NetlinkWorker once started
        self._routes: RouteTable | None = None
        self._raw4: socket.socket | None = None
        self._raw6: socket.socket | None = None
        self._keepalive_handle: asyncio.TimerHandle | None = None
        self._tun_fd = -1

    # ------------------------------------------------------------------ life cycle

    def run_on_threads(self, fn: Callable[[], object]) -> list[object]:
        """Run ``fn`` on every thread this backend started (the netlink worker)."""
        return [self._ipr.run_on_thread(fn)] if self._ipr is not None else []

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Open the TUN device (and raw ESP sockets), register them with the loop."""
        from ikepy.dataplane.userspace.tun import NetlinkWorker, RouteTable, TunDevice

        self._loop = loop or asyncio.get_event_loop()
        self._ipr = NetlinkWorker()
        tun = TunDevice(self.tun_name, self.mtu, self._ipr)
        self._tun = tun
        self._tun_fd = tun.fd
        self._routes = RouteTable(self._ipr, tun.index, self.route_table)
        self._loop.add_reader(self._tun_fd, self._on_tun_readable)
        if self.raw_esp:
            for fam in (socket.AF_INET, socket.AF_INET6):
                try:
                    s = socket.socket(fam, socket.SOCK_RAW, IPPROTO_ESP)
                except OSError as exc:
                    log.warning("no raw ESP socket (%s): only UDP-encapsulated ESP works", exc)
                    continue
                s.setblocking(False)
                if fam == socket.AF_INET:
                    self._raw4 = s
                else:
                    self._raw6 = s
                self._loop.add_reader(s.fileno(), self._on_raw_readable, s, fam)
        if self.install_routes:
            for sa in self._sas.values():
                self._add_routes(sa)
            for trap in self._traps.values():
                self._add_trap_routes(trap)
        if self.keepalive_interval > 0:
            self._keepalive_handle = self._loop.call_later(
                self.keepalive_interval, self._keepalive_tick
            )

    def close(self) -> None:
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        if self._routes is not None:
            self._routes.clear()
        loop = self._loop
        for s in (self._raw4, self._raw6):
            if s is not None:
                if loop is not None:
                    loop.remove_reader(s.fileno())
                s.close()
        self._raw4 = self._raw6 = None
        if self._tun is not None:
            if loop is not None:
                loop.remove_reader(self._tun.fd)
            self._tun.close()
            self._tun = None
            self._tun_fd = -1
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        self._sas.clear()
        self._sad = Sad()
        self._spd = Spd()
        self._traps.clear()
        self._trap_spd = Spd()

    @property
    def tun_index(self) -> int | None:
        return self._tun.index if self._tun is not None else None

    # ------------------------------------------------------------------ Backend API

    def alloc_spi(self) -> int:
        while True:
            spi = self._rng.getrandbits(32)
            if spi >= MIN_SPI and spi not in self._spis:
                self._spis.add(spi)
                return spi

    def release_spi(self, spi: int) -> None:
        if self._sad.get(spi) is None:
            self._spis.discard(spi)

    def add_child_sa(self, spec: ChildSaSpec) -> None:
        if spec.mode != "tunnel":
            raise ValueError(f"userspace data plane supports tunnel mode only, not {spec.mode!r}")
        if spec.reqid in self._sas:
            raise ValueError(f"reqid {spec.reqid} already installed")
        if self._sad.get(spec.spi_in) is not None:
            raise ValueError(f"inbound SPI {spec.spi_in:#010x} already installed")
        window = spec.replay_window if spec.replay_window is not None else self.replay_window
        out = make_outbound(
            spec.spi_out,
            spec.encr_id,
            spec.encr_key_out,
            spec.integ_id,
            spec.integ_key_out,
            spec.esn,
        )
        inn = make_inbound(
            spec.spi_in,
            spec.encr_id,
            spec.encr_key_in,
            spec.integ_id,
            spec.integ_key_in,
            spec.esn,
            window,
        )
        sa = _ChildSa(spec, out, inn)
        self._sad.add(spec.spi_in, sa)
        self._spis.add(spec.spi_in)
        self._sas[spec.reqid] = sa
        self._spd.add(sa, sa.remote_sels, sa.local_sels)
        if self.install_routes and self._routes is not None:
            self._add_routes(sa)
        if self.debug:
            log.debug(
                "CHILD_SA %s reqid %d SPIs %08x/%08x installed",
                spec.name,
                spec.reqid,
                spec.spi_in,
                spec.spi_out,
            )

    def update_child_sa(self, spec: ChildSaSpec) -> None:
        sa = self._sas.get(spec.reqid)
        if sa is None:
            raise UnknownSa(spec.reqid)
        sa.set_addresses(
            dataclasses.replace(
                sa.spec,
                local_addr=spec.local_addr,
                remote_addr=spec.remote_addr,
                encap=spec.encap,
                local_port=spec.local_port,
                remote_port=spec.remote_port,
            )
        )

    def delete_child_sa(self, reqid: int) -> None:
        sa = self._sas.pop(reqid, None)
        if sa is None:
            raise UnknownSa(reqid)
        self._sad.remove(sa.spec.spi_in)
        self._spis.discard(sa.spec.spi_in)
        self._spd.remove(sa)
        if self._routes is not None:
            self._routes.remove(reqid)
        sa.dead = True

    def counters(self, reqid: int) -> SaCounters:
        sa = self._sas.get(reqid)
        if sa is None:
            raise UnknownSa(reqid)
        return dataclasses.replace(sa.c)

    def stats(self) -> dict[str, int]:
        out = dict(self._drops)
        out["acquires"] = self.acquires
        return out

    # ------------------------------------------------------------------ traps

    def install_trap(self, spec: TrapSpec) -> None:
        """A trap policy: routes for its remote selectors via the TUN device (as
        for a CHILD_SA) and an SPD entry that turns the first outbound packet
        without a CHILD_SA into ``on_event("acquire", trap_id)``.  Such packets
        are dropped (counted as ``acquire``).  A CHILD_SA always takes
        precedence: the trap is only looked at when no CHILD_SA matches."""
        if spec.mode != "tunnel":
            raise ValueError(f"userspace data plane supports tunnel mode only, not {spec.mode!r}")
        if spec.trap_id in self._traps:
            raise ValueError(f"trap {spec.trap_id} already installed")
        trap = _Trap(spec)
        self._traps[spec.trap_id] = trap
        self._trap_spd.add(trap, trap.remote_sels, trap.local_sels)
        if self.install_routes and self._routes is not None:
            self._add_trap_routes(trap)

    def uninstall_trap(self, trap_id: int) -> None:
        """Remove a trap (and its routes, unless a CHILD_SA still needs them)."""
        trap = self._traps.pop(trap_id, None)
        if trap is None:
            raise KeyError(trap_id)
        self._trap_spd.remove(trap)
        if self._routes is not None:
            self._routes.remove(_trap_route_key(trap_id))

    def traps(self) -> dict[int, int]:
        """{trap id: packets that hit it}."""
        return {t: trap.hits for t, trap in self._traps.items()}

    def _add_trap_routes(self, trap: _Trap) -> None:
        assert self._routes is not None
        spec = trap.spec
        self._routes.add(
            _trap_route_key(trap.trap_id),
            spec.remote_selectors(),
            spec.local_selectors(),
            spec.remote_addr,
        )

    def _trapped(self, pkt: bytes) -> bool:
        """An outbound packet without a CHILD_SA: True (and counted) if a trap
        caught it; raises the acquire event, rate-limited per trap."""
        trap = self._trap_spd.lookup(pkt)
        if trap is None:
            return False
        trap.hits += 1
        self._drop(DROP_ACQUIRE)
        now = time.monotonic()
        if trap.last_acquire is None or now - trap.last_acquire >= self.acquire_interval:
            trap.last_acquire = now
            self.acquires += 1
            log.info("trap %d (%s): acquire for an outbound packet", trap.trap_id, trap.spec.name)
            self._event(EVENT_ACQUIRE, trap.trap_id)
        return True

    def sequence_numbers(self, reqid: int) -> tuple[int, int]:
        """(last outbound sequence number, highest inbound one) of a CHILD_SA."""
        sa = self._sas.get(reqid)
        if sa is None:
            raise UnknownSa(reqid)
        return sa.out.seq, sa.inn.replay.top

    def _add_routes(self, sa: _ChildSa) -> None:
        assert self._routes is not None
        spec = sa.spec
        self._routes.add(
            spec.reqid, spec.remote_selectors(), spec.local_selectors(), spec.remote_addr
        )

    # ------------------------------------------------------------------ events

    def _drop(self, reason: str) -> None:
        self._drops[reason] += 1
        if self.debug:
            log.debug("drop: %s", reason)

    def _lifetime(self, sa: _ChildSa, nbytes: int, npackets: int) -> None:
        spec = sa.spec
        if not sa.soft_fired and (
            (spec.rekey_bytes and nbytes >= spec.rekey_bytes)
            or (spec.rekey_packets and npackets >= spec.rekey_packets)
        ):
            sa.soft_fired = True
            self._event(EVENT_SOFT, sa.reqid)
        if not sa.hard_fired and (
            (spec.life_bytes and nbytes >= spec.life_bytes)
            or (spec.life_packets and npackets >= spec.life_packets)
        ):
            sa.hard_fired = True
            sa.dead = True
            self._event(EVENT_HARD, sa.reqid)
        sa.recompute_marks()

    def _event(self, kind: str, reqid: int) -> None:
        if self.debug:
            log.debug("event %s reqid %d", kind, reqid)
        if self.on_event is not None:
            self.on_event(kind, reqid)

    # ------------------------------------------------------------------ outbound

    def _on_tun_readable(self) -> None:
        fd = self._tun_fd
        read = os.read
        protect = self._protect
        transmit = self._transmit
        batch: list[tuple[Callable[..., object], bytes]] = []  # UDP GSO candidates, in order
        try:
            for _ in range(self.batch):
                try:
                    pkt = read(fd, 65535)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if self.debug:
                        log.debug("TUN read failed: %s", exc)
                    break
                sa = protect(pkt)
                if sa is None:
                    continue
                esp = sa.out.last
                if sa.encap and self.gso and len(esp) <= _UDP_MAX:
                    send = sa.udp_send
                    if send is None:
                        send = self._resolve_udp_send(sa)
                    if sa.udp_gso:
                        batch.append((send, esp))
                        continue
                transmit(sa, esp)
        finally:
            if batch:
                self._flush(batch)

    def _flush(self, batch: list[tuple[Callable[..., object], bytes]]) -> None:
        """Send ESP-in-UDP packets, runs of equal size to one peer with UDP GSO."""
        n = len(batch)
        i = 0
        while i < n:
            send, esp = batch[i]
            size = len(esp)
            j = i + 1
            total = size
            while j < n and j - i < GSO_MAX_SEGMENTS:
                s2, e2 = batch[j]
                n2 = len(e2)
                if s2 is not send or n2 > size or total + n2 > GSO_MAX_BYTES:
                    break
                total += n2
                j += 1
                if n2 < size:  # only the last segment may be shorter
                    break
            try:
                if j - i == 1:
                    send(esp)
                else:
                    send(b"".join([e for _, e in batch[i:j]]), size)
                    self.gso_sends += 1
            except OSError as exc:
                if j - i > 1 and exc.errno in _GSO_UNSUPPORTED and self.gso:
                    self.gso = False
                    log.info("UDP GSO refused (%s): sending ESP packets one by one", exc)
                    for _, e in batch[i:j]:
                        try:
                            send(e)
                        except OSError:
                            self._drop(DROP_SEND_ERROR)
                else:
                    for _ in range(j - i):
                        self._drop(DROP_SEND_ERROR)
            i = j

    def send_packet(self, pkt: bytes) -> bool:
        """Protect and send one inner packet (as read from the TUN device).
        True if it was sent."""
        sa = self._protect(pkt)
        if sa is None:
            return False
        return self._transmit(sa, sa.out.last)

    def _protect(self, pkt: bytes) -> _ChildSa | None:
        """SPD lookup and ESP for one inner packet; the ESP packet is ``sa.out.last``.
        None (counted) when it cannot go out."""
        sa = self._spd.lookup(pkt)
        if sa is None:
            if len(pkt) < 20 or pkt[0] >> 4 not in (4, 6):
                self._drop(DROP_MALFORMED)
            elif not (self._traps and self._trapped(pkt)):
                self._drop(DROP_NO_SA_FOR_SELECTOR)
            return None
        if sa.dead:
            self._drop(DROP_HARD_EXPIRED)
            return None
        out = sa.out
        esp = out.seal(pkt, NH_IPV4 if pkt[0] >> 4 == 4 else NH_IPV6)
        if esp is None:
            self._drop(DROP_SEQ_EXHAUSTED)
            if not sa.seq_fired:
                sa.seq_fired = True
                self._event(EVENT_SEQ_EXHAUSTED, sa.reqid)
            return None
        out.last = esp
        c = sa.c
        c.bytes_out += len(pkt)
        c.packets_out += 1
        c.last_out = time.monotonic()
        mb, mp = sa.mark_out
        if c.bytes_out >= mb or c.packets_out >= mp:
            self._lifetime(sa, c.bytes_out, c.packets_out)
        if out.seq == out.max_seq and not sa.seq_fired:
            sa.seq_fired = True  # the last number went out: rekey before the next packet
            self._event(EVENT_SEQ_EXHAUSTED, sa.reqid)
        return sa

    def _transmit(self, sa: _ChildSa, esp: bytes) -> bool:
        if len(esp) > _UDP_MAX:
            self._drop(DROP_TOO_BIG)
            return False
        try:
            if sa.encap:
                send = sa.udp_send
                if send is None:
                    send = self._resolve_udp_send(sa)
                send(esp)
            else:
                raw = self._raw4 if sa.spec.remote_addr.version == 4 else self._raw6
                if raw is None:
                    self._drop(DROP_SEND_ERROR)
                    return False
                raw.sendmsg([esp], sa.raw_anc, 0, sa.raw_dst)
        except OSError:
            self._drop(DROP_SEND_ERROR)
            return False
        return True

    def _resolve_udp_send(self, sa: _ChildSa) -> Callable[..., object]:
        """The CHILD_SA's ESP-in-UDP sender (cached on it until its addresses change)."""
        send = None
        if self._udp_sender is not None:
            send = self._udp_sender(sa.udp_src, sa.udp_dst)
        if send is not None:
            sa.udp_send, sa.udp_gso = send, True
            return send
        send_udp, src, dst = self._send_udp, sa.udp_src, sa.udp_dst

        def fallback(data: bytes) -> object:
            return send_udp(data, src, dst)

        sa.udp_send, sa.udp_gso = fallback, False
        return fallback

    # ------------------------------------------------------------------ inbound

    def _on_raw_readable(self, sock: socket.socket, family: int) -> None:
        for _ in range(self.batch):
            try:
                data, addr = sock.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError:
                return
            if family == socket.AF_INET:
                if len(data) < 20:
                    self._drop(DROP_MALFORMED)
                    continue
                data = data[(data[0] & 15) * 4 :]  # raw IPv4 sockets see the IP header
            self.receive_esp(data, addr, None)

    def receive_esp(self, data: bytes, src: object = None, dst: object = None) -> bool:
        """Process one ESP packet (starting at the SPI).  ``src``/``dst`` are the
        outer addresses, informational only (the SPI alone selects the SA,
        RFC 4301 4.4.2).  True if the inner packet was delivered."""
        if len(data) < 8:
            self._drop(DROP_MALFORMED)
            return False
        sa = self._sad.get(_SPI.unpack_from(data)[0])
        if sa is None:
            self._drop(DROP_BAD_SPI)
            return False
        if sa.dead:
            self._drop(DROP_HARD_EXPIRED)
            return False
        try:
            inner, nh = sa.inn.open(data)
        except EspDrop as e:
            self._drop(e.reason)
            return False
        n = len(inner)
        if nh == NH_IPV4:
            if n < 20 or inner[0] >> 4 != 4:
                self._drop(DROP_MALFORMED)
                return False
            total = inner[2] << 8 | inner[3]
            if total > n or total < 20:
                self._drop(DROP_MALFORMED)
                return False
            if total < n:  # TFC padding after the inner packet (RFC 4303 2.7)
                inner = inner[:total]
            if inner[8] == 0:
                self._drop(DROP_TTL)
                return False
        elif nh == NH_IPV6:
            if n < 40 or inner[0] >> 4 != 6:
                self._drop(DROP_MALFORMED)
                return False
            total = (inner[4] << 8 | inner[5]) + 40
            if total > n:
                self._drop(DROP_MALFORMED)
                return False
            if total < n:
                inner = inner[:total]
            if inner[7] == 0:
                self._drop(DROP_TTL)
                return False
        elif nh == NH_NONE:
            self._drops["dummy"] += 1  # RFC 4303 2.6: silently discarded
            return False
        else:
            self._drop(DROP_MALFORMED)
            return False
        if sa.in_by_addr:  # address-only selectors: cached by the inner addresses
            key = inner[12:20] if nh == NH_IPV4 else inner[8:40]
            ok = sa.in_ok.get(key)
            if ok is None:
                flow = parse_flow(inner)
                ok = flow is not None and inbound_allowed(sa.remote_sels, sa.local_sels, flow)
                if len(sa.in_ok) >= _IN_CACHE_MAX:
                    sa.in_ok.clear()
                sa.in_ok[key] = ok
        else:
            flow = parse_flow(inner)
            ok = flow is not None and inbound_allowed(sa.remote_sels, sa.local_sels, flow)
        if not ok:
            self._drop(DROP_NO_POLICY)
            return False
        c = sa.c
        c.bytes_in += len(inner)
        c.packets_in += 1
        c.last_in = time.monotonic()
        mb, mp = sa.mark_in
        if c.bytes_in >= mb or c.packets_in >= mp:
            self._lifetime(sa, c.bytes_in, c.packets_in)
        if self._deliver is not None:
            self._deliver(inner)
            return True
        try:
            os.write(self._tun_fd, inner)
        except OSError:
            self._drop(DROP_TUN_WRITE_ERROR)
            return False
        return True

    # ------------------------------------------------------------------ NAT keepalive

    def keepalive_targets(self, idle: float | None = None) -> list[tuple[AddrPort, AddrPort]]:
        """(local, remote) UDP pairs of encapsulated CHILD_SAs that need a NAT
        keepalive: those with no outbound ESP for ``idle`` seconds (all of
        them when idle is None).  Deduplicated."""
        now = time.monotonic()
        out: dict[tuple[AddrPort, AddrPort], bool] = {}
        for sa in self._sas.values():
            if not sa.spec.encap:
                continue
            pair = (sa.udp_src, sa.udp_dst)
            busy = idle is not None and sa.c.last_out is not None and now - sa.c.last_out < idle
            out[pair] = out.get(pair, False) or busy
        return [p for p, busy in out.items() if not busy]

    def send_keepalives(self, idle: float | None = None) -> int:
        n = 0
        for src, dst in self.keepalive_targets(idle):
            try:
                self._send_udp(NAT_KEEPALIVE, src, dst)
                n += 1
            except OSError:
                self._drop(DROP_SEND_ERROR)
        self.keepalives_sent += n
        return n

    def _keepalive_tick(self) -> None:
        self.send_keepalives(self.keepalive_interval)
        if self._loop is not None and self.keepalive_interval > 0:
            self._keepalive_handle = self._loop.call_later(
                self.keepalive_interval, self._keepalive_tick
            )
