"""The Linux kernel data plane: CHILD_SAs as XFRM states and policies over netlink.

One CHILD_SA becomes two ESP states (inbound: remote -> local with ``spi_in``,
outbound: local -> remote with ``spi_out``) and, per pair of traffic
selectors, policies ``out`` (local_ts -> remote_ts) and ``in``/``fwd``
(remote_ts -> local_ts) whose template names the states by *kernel reqid*.

Ownership (so a restarted daemon can clean up after a crashed one): every
state and policy this backend installs carries a kernel reqid in
``REQID_BASE .. REQID_BASE + REQID_SPAN - 1`` (0x7e1c0000..0x7e1cffff). At
start, states and policies in the namespace with a reqid in that range are
deleted (``purge_stale``); at ``close()`` everything this instance installed
is. Two ikepy daemons in one network namespace would therefore remove each
other's entries: run one per namespace, or give each its own ``reqid_base``.

Kernel reqids are per *policy set* (addresses, mode and selectors), not per
CHILD_SA: a rekeyed CHILD_SA (new engine reqid, same selectors) shares the
kernel reqid and the policies of the one it replaces, as strongSwan does, so
inbound traffic still matches the ``in`` policy's template on either SA during
the overlap and the kernel picks the newest outbound state. Policies are
reference counted and removed with their last CHILD_SA.

SPIs: ``alloc_spi()`` draws random SPIs (>= 256) and checks them against the
ones this backend holds and every ESP state in the kernel (one GETSA dump), so
it needs no addresses (XFRM_MSG_ALLOCSPI would need the SA's destination,
which the Backend protocol does not pass).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ikepy.dataplane.base import (
    DROP_BAD_SPI,
    DROP_HARD_EXPIRED,
    DROP_INTEGRITY,
    DROP_MALFORMED,
    DROP_NO_POLICY,
    DROP_NO_SA_FOR_SELECTOR,
    DROP_REASONS,
    DROP_REPLAY,
    DROP_SEQ_EXHAUSTED,
    EVENT_HARD,
    EVENT_SOFT,
    ChildSaSpec,
    SaCounters,
    Selector,
    TrapSpec,
    UnknownSa,
)
from ikepy.dataplane.xfrm import uapi as u
from ikepy.dataplane.xfrm.algorithms import encr_alg, integ_alg
from ikepy.dataplane.xfrm.errors import XfrmError
from ikepy.dataplane.xfrm.netlink import EventSocket, XfrmSocket
from ikepy.dataplane.xfrm.sockopts import bypass_socket, enable_udp_encap

log = logging.getLogger("ikepy.dataplane.xfrm")

REQID_BASE = 0x7E1C0000
REQID_SPAN = 0x10000
PRIORITY_BASE = 0x30000  # lower value = preferred; more specific selectors get lower values
EVENT_ACQUIRE = "acquire"
MIN_SPI = 256
DEFAULT_REPLAY_BITS = 32  # larger windows (or ESN) need XFRMA_REPLAY_ESN_VAL

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
OnEvent = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class AcquireInfo:
    """A kernel ACQUIRE: traffic matched a policy with no state (trap)."""

    reqid: int  # engine reqid if a CHILD_SA of ours owns the policy, else 0
    kernel_reqid: int
    src: IPAddr
    dst: IPAddr
    selector: u.XfrmSelector


@dataclass(slots=True)
class _Installed:
    spec: ChildSaSpec
    kreqid: int
    set_key: tuple[Any, ...]
    policy_keys: list[tuple[Any, ...]]
    base: SaCounters = field(default_factory=SaCounters)  # carried over from moved states


@dataclass(slots=True)
class _Trap:
    spec: TrapSpec
    kreqid: int
    set_key: tuple[Any, ...]
    policy_keys: list[tuple[Any, ...]]


@dataclass(slots=True)
class _PolicySet:
    kreqid: int
    owners: set[int]  # engine reqids of CHILD_SAs and trap ids


def port_blocks(start: int, end: int) -> list[tuple[int, int]]:
    """An inclusive port range as (port, mask) blocks, as XFRM selectors hold ports."""
    if start == 0 and end >= 0xFFFF:
        return [(0, 0)]
    out = []
    while start <= end:
        size = start & -start if start else 0x10000
        while start + size - 1 > end:
            size >>= 1
        out.append((start, (0xFFFF & ~(size - 1))))
        start += size
    return out


def selectors(src: Selector, dst: Selector) -> list[u.XfrmSelector]:
    """XFRM selectors (CIDR x port blocks) covering src -> dst; [] on a family mismatch."""
    if src.version != dst.version:
        return []
    proto = src.protocol or dst.protocol
    fam = socket.AF_INET6 if src.version == 6 else socket.AF_INET
    out = []
    for sn in src.networks():
        for dn in dst.networks():
            for sp, spm in port_blocks(src.start_port, src.end_port):
                for dp, dpm in port_blocks(dst.start_port, dst.end_port):
                    out.append(u.XfrmSelector(
                        daddr=dn.network_address, saddr=sn.network_address,
                        prefixlen_d=dn.prefixlen, prefixlen_s=sn.prefixlen, family=fam,
                        proto=proto, dport=dp, dport_mask=dpm, sport=sp, sport_mask=spm))
    return out


def priority_of(sel: u.XfrmSelector) -> int:
    """More specific selectors win (lower priority value), like strongSwan's scheme."""
    prio = PRIORITY_BASE - (sel.prefixlen_s + sel.prefixlen_d) * 512
    if sel.proto:
        prio -= 256
    if sel.sport_mask:
        prio -= 64
    if sel.dport_mask:
        prio -= 64
    return prio


class XfrmBackend:
    """Implements :class:`ikepy.dataplane.base.Backend` with the kernel's XFRM.

    ``on_event(kind, reqid)``: "soft"/"hard" from the kernel's lifetime
    expiry (XFRMNLGRP_EXPIRE, per CHILD_SA, once per kind), "acquire" for a
    trap hit (details through ``on_acquire(AcquireInfo)``).
    ``if_id_in``/``if_id_out``: XFRM interface ids (XFRMA_IF_ID, route-based
    VPN) on states and policies; ``mark_in``/``mark_out``: (value, mask).
    ``install_fwd``: a ``fwd`` policy next to ``in`` in tunnel mode (for
    gateways that forward decrypted traffic).
    """

    def __init__(
        self,
        *,
        on_event: OnEvent | None = None,
        on_acquire: Callable[[AcquireInfo], None] | None = None,
        nat_t_port: int = 4500,
        reqid_base: int = REQID_BASE,
        if_id_in: int = 0,
        if_id_out: int = 0,
        mark_in: tuple[int, int] | None = None,
        mark_out: tuple[int, int] | None = None,
        install_fwd: bool = True,
        purge: bool = True,
        rng: random.Random | None = None,
        netlink: XfrmSocket | None = None,
    ) -> None:
        self.on_event = on_event
        self.on_acquire = on_acquire
        self.nat_t_port = nat_t_port
        self.reqid_base = reqid_base
        self.if_id_in, self.if_id_out = if_id_in, if_id_out
        self.mark_in, self.mark_out = mark_in, mark_out
        self.install_fwd = install_fwd
        self._rng = rng or random.SystemRandom()
        self.nl = netlink if netlink is not None else XfrmSocket()
        self._children: dict[int, _Installed] = {}
        self._sets: dict[tuple[Any, ...], _PolicySet] = {}
        self._policies: dict[tuple[Any, ...], set[int]] = {}  # policy key -> owner reqids
        # policy key -> {owner: UPDPOLICY body}, and the owner whose body is in the kernel
        self._bodies: dict[tuple[Any, ...], dict[int, bytes]] = {}
        self._active: dict[tuple[Any, ...], int] = {}
        self._traps: dict[int, _Trap] = {}
        self._spis: set[int] = set()
        self._by_spi: dict[tuple[IPAddr, int], int] = {}  # (daddr, spi) -> engine reqid
        self._fired: set[tuple[str, int]] = set()
        self._next_kreqid = 0
        self._events: EventSocket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.prepared_sockets = 0
        self._carry_replay: dict[bool, tuple[int, bytes] | None] = {}
        self.counters_: dict[str, int] = {"purged_states": 0, "purged_policies": 0,
                                          "kernel_events": 0}
        if purge:
            self.purge_stale()

    # -- ownership -----------------------------------------------------------
    def owns(self, kreqid: int) -> bool:
        return self.reqid_base <= kreqid < self.reqid_base + REQID_SPAN

    def purge_stale(self) -> tuple[int, int]:
        """Delete states and policies left in the kernel by a crashed run (reqid range)."""
        n_sa = n_pol = 0
        for t, _fl, body in self.nl.dump(u.XFRM_MSG_GETSA, bytes(u.XFRM_USERSA_INFO.size),
                                         "list XFRM states"):
            if t != u.XFRM_MSG_NEWSA:
                continue
            info = u.UserSaInfo.unpack(body)
            if self.owns(info.reqid):
                attrs = u.parse_attrs(body, u.XFRM_USERSA_INFO.size)
                with contextlib.suppress(XfrmError):
                    self._del_state(info.daddr, info.spi, info.proto, attrs.get(u.XFRMA_MARK))
                    n_sa += 1
        for t, _fl, body in self.nl.dump(u.XFRM_MSG_GETPOLICY,
                                         bytes(u.XFRM_USERPOLICY_INFO.size), "list XFRM policies"):
            if t != u.XFRM_MSG_NEWPOLICY:
                continue
            pol = u.UserPolicyInfo.unpack(body)
            attrs = u.parse_attrs(body, u.XFRM_USERPOLICY_INFO.size)
            tmpl = attrs.get(u.XFRMA_TMPL, b"")
            if len(tmpl) >= u.XFRM_USER_TMPL.size and self.owns(u.UserTmpl.unpack(tmpl).reqid):
                with contextlib.suppress(XfrmError):
                    self._del_policy(pol.sel, pol.dir, attrs.get(u.XFRMA_MARK),
                                     attrs.get(u.XFRMA_IF_ID))
                    n_pol += 1
        if n_sa or n_pol:
            log.warning("removed %d XFRM state(s) and %d policy(ies) left by an earlier "
                        "ikepy run", n_sa, n_pol)
        self.counters_["purged_states"] += n_sa
        self.counters_["purged_policies"] += n_pol
        return n_sa, n_pol

    def _kernel_spis(self) -> set[int]:
        out = set()
        for t, _fl, body in self.nl.dump(u.XFRM_MSG_GETSA, bytes(u.XFRM_USERSA_INFO.size),
                                         "list XFRM states"):
            if t == u.XFRM_MSG_NEWSA:
                out.add(u.UserSaInfo.unpack(body).spi)
        return out

    # -- Backend protocol --------------------------------------------------------
    def alloc_spi(self) -> int:
        taken = self._kernel_spis()
        while True:
            spi = self._rng.getrandbits(32)
            if spi >= MIN_SPI and spi not in self._spis and spi not in taken:
                self._spis.add(spi)
                return spi

    def release_spi(self, spi: int) -> None:
        if not any(c.spec.spi_in == spi for c in self._children.values()):
            self._spis.discard(spi)

    def add_child_sa(self, spec: ChildSaSpec) -> None:
        if spec.reqid in self._children:
            raise ValueError(f"reqid {spec.reqid} already installed")
        encr = encr_alg(spec.encr_id)
        if not encr.aead and spec.integ_id is None and encr.name != "ecb(cipher_null)":
            raise ValueError(f"{encr.name} without an integrity algorithm is not allowed")
        if spec.integ_id is not None and not encr.aead:
            integ_alg(spec.integ_id)
        set_key = self._set_key(spec)
        pset = self._sets.get(set_key)
        kreqid = pset.kreqid if pset is not None else self._alloc_kreqid()
        inst = _Installed(spec, kreqid, set_key, [])
        done: list[Callable[[], None]] = []
        try:
            self._add_state(spec, kreqid, inbound=True)
            done.append(lambda: self._del_state_quiet(spec.local_addr, spec.spi_in, self.mark_in))
            self._add_state(spec, kreqid, inbound=False)
            done.append(lambda: self._del_state_quiet(spec.remote_addr, spec.spi_out,
                                                      self.mark_out))
            self._add_policies(inst)
        except BaseException:
            for undo in reversed(done):
                undo()
            self._release_policies(inst)
            raise
        if pset is None:
            self._sets[set_key] = _PolicySet(kreqid, {spec.reqid})
        else:
            pset.owners.add(spec.reqid)
        self._children[spec.reqid] = inst
        self._spis.add(spec.spi_in)
        self._by_spi[(spec.local_addr, spec.spi_in)] = spec.reqid
        self._by_spi[(spec.remote_addr, spec.spi_out)] = spec.reqid

    def update_child_sa(self, spec: ChildSaSpec) -> None:
        """New addresses/ports/encap (MOBIKE, NAT mapping change).

        Same addresses: UPDSA (the kernel updates the encapsulation ports in
        place). New addresses: the states are re-created at the new addresses
        with their sequence numbers and replay state carried over (read with
        GETSA first), counters carried in this backend, and the policies moved.
        """
        inst = self._children.get(spec.reqid)
        if inst is None:
            raise UnknownSa(spec.reqid)
        old = inst.spec
        if (old.local_addr, old.remote_addr) == (spec.local_addr, spec.remote_addr) \
                and (old.encap == spec.encap or spec.encap):
            for inbound in (True, False):
                self._add_state(spec, inst.kreqid, inbound=inbound, update=True)
            inst.spec = spec
            return
        before = self.counters(spec.reqid)
        replay = {inb: self._replay_of(old, inbound=inb) for inb in (True, False)}
        self.delete_child_sa(spec.reqid)
        self.add_child_sa_with_replay(spec, replay)
        self._children[spec.reqid].base = before

    def add_child_sa_with_replay(self, spec: ChildSaSpec,
                                 replay: dict[bool, tuple[int, bytes] | None]) -> None:
        self._carry_replay = replay
        try:
            self.add_child_sa(spec)
        finally:
            self._carry_replay = {}

    def delete_child_sa(self, reqid: int) -> None:
        inst = self._children.pop(reqid, None)
        if inst is None:
            raise UnknownSa(reqid)
        spec = inst.spec
        self._release_policies(inst)
        pset = self._sets.get(inst.set_key)
        if pset is not None:
            pset.owners.discard(reqid)
            if not pset.owners:
                del self._sets[inst.set_key]
        errors = []
        for daddr, spi, mark in ((spec.local_addr, spec.spi_in, self.mark_in),
                                 (spec.remote_addr, spec.spi_out, self.mark_out)):
            try:
                self._del_state(daddr, spi, u.IPPROTO_ESP, self._mark_attr(mark))
            except XfrmError as exc:
                if exc.errno not in (3, 2):  # ESRCH/ENOENT: already gone (hard expiry)
                    errors.append(exc)
            self._by_spi.pop((daddr, spi), None)
        self._spis.discard(spec.spi_in)
        self._fired = {f for f in self._fired if f[1] != reqid}
        if errors:
            raise errors[0]

    def counters(self, reqid: int) -> SaCounters:
        inst = self._children.get(reqid)
        if inst is None:
            raise UnknownSa(reqid)
        spec, base = inst.spec, inst.base
        cin = self.get_state(spec.local_addr, spec.spi_in, self.mark_in)
        cout = self.get_state(spec.remote_addr, spec.spi_out, self.mark_out)
        now_wall, now_mono = time.time(), time.monotonic()

        def mono(use_time: int) -> float | None:
            return now_mono - max(0.0, now_wall - use_time) if use_time else None

        return SaCounters(
            bytes_in=base.bytes_in + (cin.curlft.bytes if cin else 0),
            packets_in=base.packets_in + (cin.curlft.packets if cin else 0),
            bytes_out=base.bytes_out + (cout.curlft.bytes if cout else 0),
            packets_out=base.packets_out + (cout.curlft.packets if cout else 0),
            last_in=(mono(cin.curlft.use_time) if cin else None) or base.last_in,
            last_out=(mono(cout.curlft.use_time) if cout else None) or base.last_out)

    def stats(self) -> dict[str, int]:
        """Drop reasons from the namespace's /proc/net/xfrm_stat (all of XFRM, not
        only our SAs), plus the raw kernel counters as ``kernel.<name>``."""
        out = dict.fromkeys(DROP_REASONS, 0)
        raw: dict[str, int] = {}
        with contextlib.suppress(OSError):
            with open("/proc/net/xfrm_stat") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[1].isdigit():
                        raw[parts[0]] = int(parts[1])
        for name, reason in _XFRM_STAT_REASONS.items():
            out[reason] += raw.get(name, 0)
        out.update({f"kernel.{k}": v for k, v in raw.items() if v})
        out.update(self.counters_)
        return out

    def close(self) -> None:
        for trap_id in list(self._traps):
            try:
                self.uninstall_trap(trap_id)
            except Exception as exc:  # noqa: BLE001 - keep removing the rest
                log.warning("could not remove trap policy %d from the kernel: %s", trap_id, exc)
        for reqid in list(self._children):
            try:
                self.delete_child_sa(reqid)
            except Exception as exc:  # noqa: BLE001 - keep removing the rest
                log.warning("could not remove CHILD_SA reqid %d from the kernel: %s", reqid, exc)
        for key in list(self._policies):  # left over from a failed add
            self._del_policy_key(key)
        self._policies.clear()
        self._bodies.clear()
        self._active.clear()
        if self._events is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._events.fileno())
            self._events.close()
            self._events = None
        self.nl.close()

    # -- runtime integration -------------------------------------------------------
    def prepare_socket(self, sock: socket.socket, natt: bool) -> None:
        """For each IKE socket of the daemon: bypass policies; UDP_ENCAP on NAT-T ones."""
        bypass_socket(sock)
        if natt:
            enable_udp_encap(sock)
        self.prepared_sockets += 1

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Subscribe to ACQUIRE/EXPIRE and read them from ``loop``."""
        self._loop = loop
        self._events = EventSocket()
        loop.add_reader(self._events.fileno(), self._on_events)
        if not self.prepared_sockets:
            log.warning("no IKE sockets were exempted from IPsec policies: the runtime "
                        "calls prepare_socket(sock, natt) for each before start()")

    def _on_events(self) -> None:
        if self._events is None:
            return
        try:
            messages = self._events.read()
        except OSError as exc:
            log.warning("reading XFRM events failed: %s", exc)
            return
        for t, body in messages:
            self.counters_["kernel_events"] += 1
            try:
                self.handle_event(t, body)
            except Exception:  # noqa: BLE001 - a bad event must not stop the loop
                log.exception("failed to handle XFRM event type %d", t)

    def handle_event(self, msg_type: int, body: bytes) -> None:
        """One kernel notification (public for tests)."""
        if msg_type == u.XFRM_MSG_EXPIRE and len(body) >= u.XFRM_USER_EXPIRE.size:
            state_raw, hard = u.XFRM_USER_EXPIRE.unpack_from(body)
            info = u.UserSaInfo.unpack(state_raw)
            reqid = self._by_spi.get((info.daddr, info.spi))
            if reqid is None:
                return
            kind = EVENT_HARD if hard else EVENT_SOFT
            if (kind, reqid) in self._fired:
                return
            self._fired.add((kind, reqid))
            log.info("kernel %s expiry of ESP SA %08x (reqid %d)", kind, info.spi, reqid)
            if self.on_event is not None:
                self.on_event(kind, reqid)
        elif msg_type == u.XFRM_MSG_ACQUIRE and len(body) >= u.XFRM_USER_ACQUIRE.size:
            id_raw, saddr, sel_raw, _pol, *_rest = u.XFRM_USER_ACQUIRE.unpack_from(body)
            sel = u.XfrmSelector.unpack(sel_raw)
            daddr_raw, _spi, _proto = u.XFRM_ID.unpack(id_raw)
            attrs = u.parse_attrs(body, u.XFRM_USER_ACQUIRE.size)
            tmpl = attrs.get(u.XFRMA_TMPL, b"")
            kreqid = u.UserTmpl.unpack(tmpl).reqid if len(tmpl) >= u.XFRM_USER_TMPL.size else 0
            trap = self.trap_for_kreqid(kreqid)
            if trap is not None:
                reqid = trap
            else:
                owners = next((p.owners for p in self._sets.values() if p.kreqid == kreqid),
                              set())
                reqid = max(owners) if owners else 0
            fam = sel.family or socket.AF_INET
            info_a = AcquireInfo(reqid, kreqid, u.unpack_addr(saddr, fam),
                                 u.unpack_addr(daddr_raw, fam), sel)
            log.info("kernel acquire for %s -> %s (kernel reqid %#x)", sel.saddr, sel.daddr,
                     kreqid)
            if self.on_acquire is not None:
                self.on_acquire(info_a)
            if self.on_event is not None:
                self.on_event(EVENT_ACQUIRE, reqid)

    # -- states ----------------------------------------------------------------------
    def _alloc_kreqid(self) -> int:
        used = {p.kreqid for p in self._sets.values()}
        for _ in range(REQID_SPAN):
            k = self.reqid_base + self._next_kreqid
            self._next_kreqid = (self._next_kreqid + 1) % REQID_SPAN
            if k not in used and k != 0:
                return k
        raise RuntimeError("no free kernel reqid left")

    def _set_key(self, spec: ChildSaSpec | TrapSpec) -> tuple[Any, ...]:
        return (spec.local_addr, spec.remote_addr, spec.mode,
                tuple(sorted(map(repr, spec.local_selectors()))),
                tuple(sorted(map(repr, spec.remote_selectors()))))

    def _mark_attr(self, mark: tuple[int, int] | None) -> bytes | None:
        return u.pack_mark(*mark) if mark else None

    def state_message(self, spec: ChildSaSpec, kreqid: int, *, inbound: bool,
                      replay: tuple[int, bytes] | None = None) -> bytes:
        """The NEWSA/UPDSA body for one direction (public for tests)."""
        if inbound:
            src, dst, spi = spec.remote_addr, spec.local_addr, spec.spi_in
            ekey, akey = spec.encr_key_in, spec.integ_key_in
            sport, dport = spec.remote_port, spec.local_port
            mark, if_id = self.mark_in, spec.if_id_in or self.if_id_in
        else:
            src, dst, spi = spec.local_addr, spec.remote_addr, spec.spi_out
            ekey, akey = spec.encr_key_out, spec.integ_key_out
            sport, dport = spec.local_port, spec.remote_port
            mark, if_id = self.mark_out, spec.if_id_out or self.if_id_out
        fam = u.family_of(dst)
        mode = u.XFRM_MODE_TUNNEL if spec.mode == "tunnel" else u.XFRM_MODE_TRANSPORT
        flags = 0
        sel = u.XfrmSelector(family=0)
        inner = {s.version for s in (*spec.local_selectors(), *spec.remote_selectors())}
        if mode == u.XFRM_MODE_TRANSPORT:
            lsel, rsel = spec.local_selectors(), spec.remote_selectors()
            if len(lsel) == 1 and len(rsel) == 1:
                sels = selectors(rsel[0], lsel[0]) if inbound else selectors(lsel[0], rsel[0])
                if len(sels) == 1:
                    sel = sels[0]
        elif inner and inner != {dst.version}:
            flags |= u.XFRM_STATE_AF_UNSPEC  # inner family differs from the outer one
        soft_b, hard_b = u.LifetimeCfg.limits(spec.rekey_bytes, spec.life_bytes)
        soft_p, hard_p = u.LifetimeCfg.limits(spec.rekey_packets, spec.life_packets)
        lft = u.LifetimeCfg(soft_b, hard_b, soft_p, hard_p)
        window = spec.replay_window if inbound else (1 if spec.esn else 0)
        attrs = []
        info_window = 0
        if replay is not None:
            attr_type, payload = replay
            attrs.append(u.nlattr(attr_type, payload))
            if spec.esn:
                flags |= u.XFRM_STATE_ESN
            if attr_type == u.XFRMA_REPLAY_VAL:
                info_window = min(window, 255)
        elif window and (spec.esn or window > DEFAULT_REPLAY_BITS):
            attrs.append(u.nlattr(u.XFRMA_REPLAY_ESN_VAL, u.pack_replay_esn(window)))
            if spec.esn:
                flags |= u.XFRM_STATE_ESN
        else:
            info_window = window
        info = u.UserSaInfo(daddr=dst, saddr=src, spi=spi, reqid=kreqid, mode=mode,
                            family=fam, sel=sel, lft=lft, replay_window=info_window,
                            flags=flags)
        encr = encr_alg(spec.encr_id)
        if encr.aead:
            attrs.append(u.nlattr(u.XFRMA_ALG_AEAD, u.pack_algo_aead(encr.name, ekey, encr.bits)))
        else:
            attrs.append(u.nlattr(u.XFRMA_ALG_CRYPT, u.pack_algo(encr.name, ekey)))
            if spec.integ_id is not None:
                integ = integ_alg(spec.integ_id)
                attrs.append(u.nlattr(u.XFRMA_ALG_AUTH_TRUNC,
                                      u.pack_algo_auth(integ.name, akey, integ.bits)))
        if spec.encap:
            attrs.append(u.nlattr(u.XFRMA_ENCAP, u.pack_encap(sport, dport)))
        if mark:
            attrs.append(u.nlattr(u.XFRMA_MARK, u.pack_mark(*mark)))
        if if_id:
            attrs.append(u.nlattr(u.XFRMA_IF_ID, u.pack_u32(if_id)))
        return info.pack() + b"".join(attrs)

    def _alg_hint(self, spec: ChildSaSpec) -> str:
        encr = encr_alg(spec.encr_id)
        if encr.aead or spec.integ_id is None:
            return encr.name
        return f"{encr.name} with {integ_alg(spec.integ_id).name}"

    def _add_state(self, spec: ChildSaSpec, kreqid: int, *, inbound: bool,
                   update: bool = False) -> None:
        replay = self._carry_replay.get(inbound) if not update else None
        body = self.state_message(spec, kreqid, inbound=inbound, replay=replay)
        spi = spec.spi_in if inbound else spec.spi_out
        hint = self._alg_hint(spec)
        what = (f"{'update' if update else 'add'} {'inbound' if inbound else 'outbound'} "
                f"ESP SA {spi:08x} ({hint}{', UDP-encapsulated' if spec.encap else ''}"
                f"{', ESN' if spec.esn else ''})")
        msg = u.XFRM_MSG_UPDSA if update else u.XFRM_MSG_NEWSA
        self.nl.request(msg, body, what=what, hint=hint)

    def _replay_of(self, spec: ChildSaSpec, *, inbound: bool) -> tuple[int, bytes] | None:
        """The replay state attribute of an installed state (to re-create it elsewhere)."""
        daddr, spi = (spec.local_addr, spec.spi_in) if inbound else (spec.remote_addr,
                                                                      spec.spi_out)
        mark = self.mark_in if inbound else self.mark_out
        with contextlib.suppress(XfrmError):
            replies = self._get_state_raw(daddr, spi, mark)
            for t, _fl, body in replies:
                if t != u.XFRM_MSG_NEWSA:
                    continue
                attrs = u.parse_attrs(body, u.XFRM_USERSA_INFO.size)
                for a in (u.XFRMA_REPLAY_ESN_VAL, u.XFRMA_REPLAY_VAL):
                    if a in attrs:
                        return a, attrs[a]
        return None

    def _get_state_raw(self, daddr: IPAddr, spi: int, mark: tuple[int, int] | None
                       ) -> list[tuple[int, int, bytes]]:
        body = u.pack_usersa_id(daddr, spi)
        if mark:
            body += u.nlattr(u.XFRMA_MARK, u.pack_mark(*mark))
        return self.nl.request(u.XFRM_MSG_GETSA, body, what=f"read ESP SA {spi:08x}")

    def get_state(self, daddr: IPAddr, spi: int, mark: tuple[int, int] | None = None
                  ) -> u.UserSaInfo | None:
        """GETSA: the state (with its current lifetime counters), None if it is gone."""
        try:
            replies = self._get_state_raw(daddr, spi, mark)
        except XfrmError as exc:
            if exc.errno in (2, 3):
                return None
            raise
        for t, _fl, body in replies:
            if t == u.XFRM_MSG_NEWSA:
                return u.UserSaInfo.unpack(body)
        return None

    def _del_state(self, daddr: IPAddr, spi: int, proto: int = u.IPPROTO_ESP,
                   mark_attr: bytes | None = None) -> None:
        body = u.pack_usersa_id(daddr, spi, proto)
        if mark_attr:
            body += u.nlattr(u.XFRMA_MARK, mark_attr)
        self.nl.request(u.XFRM_MSG_DELSA, body, what=f"delete ESP SA {spi:08x} to {daddr}")

    def _del_state_quiet(self, daddr: IPAddr, spi: int, mark: tuple[int, int] | None) -> None:
        with contextlib.suppress(XfrmError):
            self._del_state(daddr, spi, u.IPPROTO_ESP, self._mark_attr(mark))

    # -- policies ----------------------------------------------------------------------
    def policy_messages(self, spec: ChildSaSpec | TrapSpec, kreqid: int, *,
                        outbound_only: bool = False) -> list[tuple[tuple[Any, ...], bytes]]:
        """[(policy key, UPDPOLICY body), ...] for a CHILD_SA or (``outbound_only``)
        a trap (public for tests)."""
        mode = u.XFRM_MODE_TUNNEL if spec.mode == "tunnel" else u.XFRM_MODE_TRANSPORT
        out_dirs: list[tuple[int, bool]] = [(u.XFRM_POLICY_OUT, False)]
        if not outbound_only:
            out_dirs.append((u.XFRM_POLICY_IN, True))
            if mode == u.XFRM_MODE_TUNNEL and self.install_fwd:
                out_dirs.append((u.XFRM_POLICY_FWD, True))
        result = []
        for lsel in spec.local_selectors():
            for rsel in spec.remote_selectors():
                for direction, inbound in out_dirs:
                    sels = selectors(rsel, lsel) if inbound else selectors(lsel, rsel)
                    for sel in sels:
                        if inbound:
                            t_src, t_dst = spec.remote_addr, spec.local_addr
                            mark, if_id = self.mark_in, spec.if_id_in or self.if_id_in
                        else:
                            t_src, t_dst = spec.local_addr, spec.remote_addr
                            mark, if_id = self.mark_out, spec.if_id_out or self.if_id_out
                        tunnel = mode == u.XFRM_MODE_TUNNEL
                        tmpl = u.UserTmpl(kreqid, mode, u.family_of(t_dst),
                                          daddr=t_dst if tunnel else None,
                                          saddr=t_src if tunnel else None)
                        pol = u.UserPolicyInfo(sel, direction, priority_of(sel))
                        body = pol.pack() + u.nlattr(u.XFRMA_TMPL, tmpl.pack())
                        if mark:
                            body += u.nlattr(u.XFRMA_MARK, u.pack_mark(*mark))
                        if if_id:
                            body += u.nlattr(u.XFRMA_IF_ID, u.pack_u32(if_id))
                        key = (direction, sel, mark, if_id)
                        result.append((key, body))
        return result

    def _add_policies(self, inst: _Installed | _Trap, *, trap: bool = False) -> None:
        """Install (or take a reference on) each policy; a policy already in the
        kernel with another template (a trap's, or another set's) is replaced,
        the CHILD_SA's template winning over a trap's."""
        owner = inst.spec.trap_id if isinstance(inst, _Trap) else inst.spec.reqid
        for key, body in self.policy_messages(inst.spec, inst.kreqid, outbound_only=trap):
            owners = self._policies.get(key)
            bodies = self._bodies.setdefault(key, {})
            active = self._active.get(key)
            current = bodies.get(active) if active is not None else None
            if not owners or (current != body and not (trap and self._is_child(active))):
                self.nl.request(u.XFRM_MSG_UPDPOLICY, body,
                                what=f"install {_DIRS[key[0]]} policy {_sel_str(key[1])}")
                self._active[key] = owner
            self._policies.setdefault(key, set()).add(owner)
            bodies[owner] = body
            inst.policy_keys.append(key)

    def _is_child(self, owner: int | None) -> bool:
        return owner is not None and owner in self._children

    def _release_policies(self, inst: _Installed | _Trap) -> None:
        owner = inst.spec.trap_id if isinstance(inst, _Trap) else inst.spec.reqid
        for key in inst.policy_keys:
            owners = self._policies.get(key)
            if owners is None:
                continue
            owners.discard(owner)
            bodies = self._bodies.get(key, {})
            bodies.pop(owner, None)
            if not owners:
                del self._policies[key]
                self._bodies.pop(key, None)
                self._active.pop(key, None)
                self._del_policy_key(key)
            elif self._active.get(key) == owner:
                # the template in the kernel was the leaving owner's: put back one of
                # the others (a CHILD_SA's before a trap's)
                rest = sorted(owners, key=lambda o: (o in self._children, o))
                nxt = rest[-1]
                self._active[key] = nxt
                if nxt in bodies:
                    try:
                        self.nl.request(u.XFRM_MSG_UPDPOLICY, bodies[nxt],
                                        what=f"restore {_DIRS[key[0]]} policy "
                                             f"{_sel_str(key[1])}")
                    except XfrmError as exc:
                        log.warning("%s", exc)
        inst.policy_keys.clear()

    # -- trap policies -----------------------------------------------------------------
    def install_trap(self, spec: TrapSpec) -> None:
        """An ``out`` policy whose template (tunnel mode, the trap's addresses, a
        kernel reqid shared with the CHILD_SAs of the same selectors) has no state:
        the kernel sends XFRM_MSG_ACQUIRE for the first packet, which becomes
        ``on_event("acquire", trap_id)``."""
        if spec.trap_id in self._traps:
            raise ValueError(f"trap {spec.trap_id} already installed")
        if spec.trap_id in self._children:
            raise ValueError(f"trap id {spec.trap_id} is a CHILD_SA's reqid")
        set_key = self._set_key(spec)
        pset = self._sets.get(set_key)
        kreqid = pset.kreqid if pset is not None else self._alloc_kreqid()
        trap = _Trap(spec, kreqid, set_key, [])
        try:
            self._add_policies(trap, trap=True)
        except BaseException:
            self._release_policies(trap)
            raise
        if pset is None:
            self._sets[set_key] = _PolicySet(kreqid, {spec.trap_id})
        else:
            pset.owners.add(spec.trap_id)
        self._traps[spec.trap_id] = trap
        log.info("trap policy %d (%s) installed with kernel reqid %#x", spec.trap_id,
                 spec.name, kreqid)

    def uninstall_trap(self, trap_id: int) -> None:
        """Remove a trap; its policies stay while a CHILD_SA still uses them."""
        trap = self._traps.pop(trap_id, None)
        if trap is None:
            raise KeyError(trap_id)
        self._release_policies(trap)
        pset = self._sets.get(trap.set_key)
        if pset is not None:
            pset.owners.discard(trap_id)
            if not pset.owners:
                del self._sets[trap.set_key]

    def trap_for_kreqid(self, kreqid: int) -> int | None:
        """The trap id whose policy carries ``kreqid`` (lowest id), or None."""
        hits = [t for t, trap in self._traps.items() if trap.kreqid == kreqid]
        return min(hits) if hits else None

    def traps(self) -> dict[int, int]:
        """{trap id: kernel reqid}."""
        return {t: trap.kreqid for t, trap in self._traps.items()}

    def _del_policy_key(self, key: tuple[Any, ...]) -> None:
        direction, sel, mark, if_id = key
        try:
            self._del_policy(sel, direction, self._mark_attr(mark),
                             u.pack_u32(if_id) if if_id else None)
        except XfrmError as exc:
            if exc.errno not in (2, 3):
                log.warning("%s", exc)

    def _del_policy(self, sel: u.XfrmSelector, direction: int, mark_attr: bytes | None,
                    if_id_attr: bytes | None) -> None:
        body = u.pack_userpolicy_id(sel, direction)
        if mark_attr:
            body += u.nlattr(u.XFRMA_MARK, mark_attr)
        if if_id_attr:
            body += u.nlattr(u.XFRMA_IF_ID, if_id_attr)
        self.nl.request(u.XFRM_MSG_DELPOLICY, body,
                        what=f"delete {_DIRS.get(direction, direction)} policy {_sel_str(sel)}")

    # -- introspection (tests, tools) --------------------------------------------------
    def installed(self) -> dict[int, int]:
        """{engine reqid: kernel reqid}."""
        return {r: i.kreqid for r, i in self._children.items()}

    def policy_count(self) -> int:
        return len(self._policies)


_DIRS = {u.XFRM_POLICY_IN: "in", u.XFRM_POLICY_OUT: "out", u.XFRM_POLICY_FWD: "fwd"}

# /proc/net/xfrm_stat (Documentation/networking/xfrm_proc.rst) -> drop reasons
_XFRM_STAT_REASONS = {
    "XfrmInNoStates": DROP_BAD_SPI,
    "XfrmInStateSeqError": DROP_REPLAY,
    "XfrmInStateProtoError": DROP_INTEGRITY,
    "XfrmInNoPols": DROP_NO_POLICY,
    "XfrmInPolBlock": DROP_NO_POLICY,
    "XfrmInTmplMismatch": DROP_NO_POLICY,
    "XfrmInHdrError": DROP_MALFORMED,
    "XfrmInStateExpired": DROP_HARD_EXPIRED,
    "XfrmOutStateExpired": DROP_HARD_EXPIRED,
    "XfrmOutNoStates": DROP_NO_SA_FOR_SELECTOR,
    "XfrmOutStateSeqError": DROP_SEQ_EXHAUSTED,
}


def _sel_str(sel: u.XfrmSelector) -> str:
    ports = ""
    if sel.proto:
        ports = f" proto {sel.proto}"
    return f"{sel.saddr}/{sel.prefixlen_s} -> {sel.daddr}/{sel.prefixlen_d}{ports}"

