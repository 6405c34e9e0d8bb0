"""CHILD_SAs: negotiating one (RFC 7296 1.3, 2.9, 2.17) and installing it.

The same steps serve the CHILD_SA created inside IKE_AUTH and the ones made
with CREATE_CHILD_SA: the initiator offers ESP proposals and traffic
selectors, the responder picks a child config whose selectors overlap,
narrows them, selects a proposal by its own preference and installs.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..crypto.keymat import derive_child_keys
from ..crypto.proposals import describe, explain_mismatch, select_proposal
from ..dataplane.base import ChildSaSpec
from ..wire.enums import NotifyType, ProtocolId
from ..wire.payloads import NotifyPayload, SaPayload, TrafficSelector, TSiPayload, TSrPayload
from . import events as ev
from . import ts as tsmod
from .algorithms import algorithms_str
from .errors import ProtocolError

if TYPE_CHECKING:
    from .ike_sa import IkeSa

INSTALLED = "INSTALLED"
DELETING = "DELETING"
DELETED = "DELETED"


@dataclass(slots=True, eq=False)
class ChildSa:
    name: str
    conf: Any  # config.model.Child
    uniqueid: int
    reqid: int
    spi_in: int
    spi_out: int = 0
    state: str = "CREATED"
    selected: Any = None  # crypto.proposals.SelectedAlgorithms
    local_ts: tuple[TrafficSelector, ...] = ()
    remote_ts: tuple[TrafficSelector, ...] = ()
    encap: bool = False
    mode: str = "tunnel"
    installed_at: float = 0.0
    # lifecycle (RFC 7296 2.8): when to rekey, when the SA must be gone
    rekey_at: float | None = None
    expire_at: float | None = None
    rekeying: bool = False   # our CREATE_CHILD_SA rekeying it is queued or under way
    rekeyed: bool = False    # a successor is installed; this one waits for its delete
    # the successor we created answering the peer's rekey of this SA, with that
    # exchange's nonces (Ni, Nr), to settle a collision (2.8.1)
    peer_rekey: tuple[ChildSa, bytes, bytes] | None = None

    def describe(self) -> str:
        return (f"{self.name}{{{self.uniqueid}}} {self.spi_in:08x}_i {self.spi_out:08x}_o "
                f"{tsmod.list_str(self.local_ts)} === {tsmod.list_str(self.remote_ts)}")


@functools.lru_cache(maxsize=256)
def _ip(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(addr)


def esp_specs(conf: Any, with_ke: bool) -> list[Any]:
    """Our ESP proposals; without KE transforms inside IKE_AUTH (RFC 7296 1.2)."""
    out: list[Any] = []
    for s in conf.esp_proposals:
        s = dataclasses.replace(s, ke=()) if (s.ke and not with_ke) else s
        if s not in out:  # without KE the PFS and plain defaults coincide
            out.append(s)
    return out


def child_proposals(conf: Any, spi: int, with_ke: bool) -> list[Any]:
    """Our ESP proposals as SA payload proposals carrying our inbound SPI."""
    return [spec.to_wire(n, spi.to_bytes(4, "big"))
            for n, spec in enumerate(esp_specs(conf, with_ke), 1)]


def our_selectors(sa: IkeSa, conf: Any) -> tuple[list[TrafficSelector], list[TrafficSelector]]:
    """(local, remote) selectors of a child config, ``dynamic`` made concrete."""
    local = [tsmod.from_conf(t, _ip(sa.local[0])) for t in conf.local_ts]
    remote = [tsmod.from_conf(t, _ip(sa.remote[0])) for t in conf.remote_ts]
    return local, remote


def initiator_payloads(sa: IkeSa, child: ChildSa, with_ke: bool,
                       ts: tuple[Sequence[TrafficSelector], Sequence[TrafficSelector]] | None = None
                       ) -> list[Any]:
    """SA, TSi, TSr (and USE_TRANSPORT_MODE) of a request that creates ``child``."""
    local, remote = ts if ts is not None else our_selectors(sa, child.conf)
    out: list[Any] = []
    if child.conf.mode == "transport":
        out.append(NotifyPayload(0, b"", NotifyType.USE_TRANSPORT_MODE))
    out += [SaPayload(tuple(child_proposals(child.conf, child.spi_in, with_ke))),
            TSiPayload(tuple(local)), TSrPayload(tuple(remote))]
    return out


def _find(payloads: Sequence[Any], cls: type) -> Any:
    for p in payloads:
        if isinstance(p, cls):
            return p
    return None


def has_notify(payloads: Sequence[Any], notify: int) -> NotifyPayload | None:
    for p in payloads:
        if isinstance(p, NotifyPayload) and p.notify_type == notify:
            return p
    return None


def first_error(payloads: Sequence[Any]) -> NotifyPayload | None:
    for p in payloads:
        if isinstance(p, NotifyPayload) and p.notify_type < 16384:
            return p
    return None


def notify_name(n: int) -> str:
    try:
        return NotifyType(n).name
    except ValueError:
        return str(n)


def process_initiator_response(sa: IkeSa, child: ChildSa, payloads: Sequence[Any],
                               ni: bytes, nr: bytes, g_ir: bytes | None, with_ke: bool,
                               now: float) -> bool:
    """Complete ``child`` from the responder's SA/TSi/TSr; False (and an event) on failure."""
    err = first_error(payloads)
    if err is not None:
        local, remote = our_selectors(sa, child.conf)
        fail_child(sa, child, f"peer refused CHILD_SA {child.name}: {notify_name(err.notify_type)} "
                   f"(we offered ESP {child.conf.esp_proposals_text} for "
                   f"{tsmod.list_str(local)} === {tsmod.list_str(remote)})", now)
        return False
    sap = _find(payloads, SaPayload)
    tsi = _find(payloads, TSiPayload)
    tsr = _find(payloads, TSrPayload)
    if sap is None or tsi is None or tsr is None or len(sap.proposals) != 1:
        fail_child(sa, child, "peer's CHILD_SA response lacks SA, TSi or TSr", now)
        return False
    ours = list(child.conf.esp_proposals)
    chosen = select_proposal(ours, sap.proposals, ignore_ke=not with_ke)
    if chosen is None:
        fail_child(sa, child, "peer selected an ESP proposal we did not offer: "
                   + explain_mismatch(ours, sap.proposals), now)
        return False
    wire_prop, selected = chosen
    local, remote = our_selectors(sa, child.conf)
    if not tsmod.is_subset(tsi.selectors, local) or not tsmod.is_subset(tsr.selectors, remote):
        fail_child(sa, child, "peer narrowed traffic selectors to ones we did not propose: "
                   f"{tsmod.list_str(tsi.selectors)} === {tsmod.list_str(tsr.selectors)}", now)
        return False
    if len(wire_prop.spi) != 4:
        fail_child(sa, child, "peer's ESP SPI is not 4 octets", now)
        return False
    child.spi_out = int.from_bytes(wire_prop.spi, "big")
    child.selected = selected
    child.local_ts = tuple(tsi.selectors)
    child.remote_ts = tuple(tsr.selectors)
    child.mode = "transport" if (child.conf.mode == "transport" and
                                 has_notify(payloads, NotifyType.USE_TRANSPORT_MODE)) else "tunnel"
    install(sa, child, ni, nr, g_ir, now, initiator=True)
    return True


def select_child_config(sa: IkeSa, tsi: Sequence[TrafficSelector], tsr: Sequence[TrafficSelector]
                        ) -> tuple[Any, list[TrafficSelector], list[TrafficSelector]]:
    """The responder's pick (2.9): the first child whose selectors overlap both TSi and TSr."""
    for conf in sa.conn.children.values():
        local, remote = our_selectors(sa, conf)
        n_tsi = tsmod.narrow(remote, tsi)  # TSi is the initiator's side: our remote
        n_tsr = tsmod.narrow(local, tsr)
        if n_tsi and n_tsr:
            return conf, n_tsi, n_tsr
    offered = f"{tsmod.list_str(tsi)} === {tsmod.list_str(tsr)}"
    allowed = "; ".join(
        f"{c.name}: {tsmod.list_str(our_selectors(sa, c)[1])} === {tsmod.list_str(our_selectors(sa, c)[0])}"
        for c in sa.conn.children.values()) or "no children configured"
    raise ProtocolError(NotifyType.TS_UNACCEPTABLE,
                        f"traffic selectors unacceptable: offered {offered}, allowed {allowed}")


KeyExchangeStep = Callable[[Any], tuple[bytes | None, list[Any]]]


def respond_child(sa: IkeSa, payloads: Sequence[Any], with_ke: bool, now: float,
                  ni: bytes, nr: bytes, key_exchange: KeyExchangeStep | None = None,
                  conf: Any = None,
                  old_ts: tuple[Sequence[TrafficSelector], Sequence[TrafficSelector]] | None = None
                  ) -> tuple[ChildSa, list[Any]]:
    """Responder: pick, narrow, select and install; returns the child and the reply's payloads.

    ``key_exchange(selected)`` runs the PFS key exchange of CREATE_CHILD_SA once
    the proposal is chosen and returns (g_ir, payloads for the reply); ``conf``
    forces the child config (a rekey keeps the one of the old CHILD_SA).
    """
    sap = _find(payloads, SaPayload)
    tsi = _find(payloads, TSiPayload)
    tsr = _find(payloads, TSrPayload)
    if sap is None or tsi is None or tsr is None:
        raise ProtocolError(NotifyType.INVALID_SYNTAX, "CHILD_SA request lacks SA, TSi or TSr")
    if conf is None:
        conf, n_tsi, n_tsr = select_child_config(sa, tsi.selectors, tsr.selectors)
    else:
        # a rekey: within what the old SA had (2.8)
        local, remote = old_ts if old_ts is not None else our_selectors(sa, conf)
        n_tsi, n_tsr = tsmod.narrow(remote, tsi.selectors), tsmod.narrow(local, tsr.selectors)
        if not n_tsi or not n_tsr:
            raise ProtocolError(NotifyType.TS_UNACCEPTABLE, "rekeyed traffic selectors unacceptable")
    esp_offer = [p for p in sap.proposals if p.protocol_id == ProtocolId.ESP]
    ours = list(conf.esp_proposals)
    chosen = select_proposal(ours, esp_offer, ignore_ke=not with_ke)
    if chosen is None:
        raise ProtocolError(NotifyType.NO_PROPOSAL_CHOSEN,
                            "no acceptable ESP proposal: " + explain_mismatch(ours, sap.proposals))
    wire_prop, selected = chosen
    if len(wire_prop.spi) != 4:
        raise ProtocolError(NotifyType.INVALID_SYNTAX, "ESP SPI is not 4 octets")
    g_ir, ke_reply = key_exchange(selected) if key_exchange else (None, [])
    backend = sa.mgr.backend
    child = ChildSa(name=conf.name, conf=conf, uniqueid=sa.mgr.next_child_id(),
                    reqid=sa.mgr.next_reqid(), spi_in=backend.alloc_spi(),
                    spi_out=int.from_bytes(wire_prop.spi, "big"), selected=selected,
                    local_ts=tuple(n_tsr), remote_ts=tuple(n_tsi))
    transport = conf.mode == "transport" and has_notify(payloads, NotifyType.USE_TRANSPORT_MODE)
    child.mode = "transport" if transport else "tunnel"
    reply_prop = dataclasses.replace(wire_prop, spi=child.spi_in.to_bytes(4, "big"))
    reply: list[Any] = []
    if transport:
        reply.append(NotifyPayload(0, b"", NotifyType.USE_TRANSPORT_MODE))
    reply += [SaPayload((reply_prop,)), *ke_reply, TSiPayload(tuple(n_tsi)), TSrPayload(tuple(n_tsr))]
    install(sa, child, ni, nr, g_ir, now, initiator=False)
    return child, reply


def install(sa: IkeSa, child: ChildSa, ni: bytes, nr: bytes, g_ir: bytes | None, now: float,
            *, initiator: bool) -> None:
    """Derive KEYMAT (2.17) and hand both directions to the data plane.

    ``initiator``: our role in the exchange that made this CHILD_SA (IKE_AUTH or
    CREATE_CHILD_SA), not in the IKE SA: after an IKE SA rekey, or when the
    original responder rekeys a CHILD_SA, the two differ."""
    s = child.selected
    keys = derive_child_keys(sa.selected.prf_id, sa.keys.sk_d, s.encr_id, s.encr_key_bits,
                             s.integ_id or None, ni, nr, g_ir)
    # KEYMAT: the keys from the exchange's initiator to its responder come first
    if initiator:
        e_out, a_out, e_in, a_in = keys.encr_i, keys.integ_i, keys.encr_r, keys.integ_r
    else:
        e_out, a_out, e_in, a_in = keys.encr_r, keys.integ_r, keys.encr_i, keys.integ_i
    child.encap = sa.nat_local or sa.nat_remote or bool(sa.conn.encap)
    conf = child.conf
    spec = ChildSaSpec(
        name=child.name, reqid=child.reqid, spi_in=child.spi_in, spi_out=child.spi_out,
        encr_id=s.encr_id, encr_key_in=e_in, encr_key_out=e_out,
        integ_id=s.integ_id or None, integ_key_in=a_in, integ_key_out=a_out,
        local_addr=_ip(sa.local[0]), remote_addr=_ip(sa.remote[0]),
        local_ts=child.local_ts, remote_ts=child.remote_ts, mode=child.mode,
        esn=bool(s.esn), encap=child.encap, local_port=sa.local[1], remote_port=sa.remote[1],
        replay_window=sa.mgr.replay_window(conf),
        life_bytes=conf.life_bytes, life_packets=conf.life_packets,
        rekey_bytes=conf.rekey_bytes, rekey_packets=conf.rekey_packets,
        if_id_in=if_id(conf.if_id_in, sa.conn.if_id_in, child.reqid),
        if_id_out=if_id(conf.if_id_out, sa.conn.if_id_out, child.reqid))
    sa.mgr.backend.add_child_sa(spec)
    child.state = INSTALLED
    child.installed_at = now
    schedule(sa, child, now)
    sa.children.append(child)
    described = child.describe()
    sa.info("CHILD_SA %s established (%s, %s%s)", described, algorithms_str(s, esp=True),
            child.mode.upper(), "-in-UDP" if child.encap else "")
    sa.emit(ev.CHILD_UP, "CHILD_SA established", child,
            message=f"{sa.prefix()}: CHILD_SA {described} established")


def if_id(child_value: int | str, conn_value: int | str, unique: int) -> int:
    """swanctl.conf's if_id_in/out: the child's, else the connection's; %unique and
    %unique-dir become a number of this CHILD_SA's own."""
    value = child_value or conn_value
    if isinstance(value, str):
        return 0x1000 + unique if value.startswith("%unique") else 0
    return int(value or 0)


def schedule(sa: IkeSa, child: ChildSa, now: float) -> None:
    """Soft (rekey) and hard (expire) lifetimes with strongSwan's rand_time jitter (2.8)."""
    conf = child.conf
    rekey = float(getattr(conf, "rekey_time", 0) or 0)
    life = float(getattr(conf, "life_time", 0) or 0)
    child.rekey_at = now + rekey - sa.mgr.jitter(float(getattr(conf, "rand_time", 0) or 0)) \
        if rekey else None
    child.expire_at = now + life if life else None
    if child.rekey_at is not None and child.expire_at is not None:
        child.rekey_at = min(child.rekey_at, child.expire_at - 1.0)


def fail_child(sa: IkeSa, child: ChildSa, reason: str, now: float) -> None:
    sa.warn("%s", reason)
    try:
        sa.mgr.backend.release_spi(child.spi_in)
    except Exception:  # pragma: no cover - a backend without release
        pass
    sa.emit(ev.FAILED, reason, child)


def remove(sa: IkeSa, child: ChildSa, now: float, reason: str = "deleted") -> None:
    """Uninstall ``child`` from the data plane and forget it (once)."""
    if child.state == DELETED:
        return
    if child.state == INSTALLED or child.state == DELETING:
        try:
            sa.mgr.backend.delete_child_sa(child.reqid)
        except KeyError:
            pass
    child.state = DELETED
    if child in sa.children:
        sa.children.remove(child)
    sa.info("CHILD_SA %s %s", child.describe(), reason)
    sa.emit(ev.CHILD_DOWN, reason, child)


def proposal_text(specs: Sequence[Any]) -> str:
    return ", ".join(describe(s) for s in specs)
