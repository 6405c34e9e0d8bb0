"""Rekeying the IKE SA (RFC 7296 1.3.2, 2.18), with collisions (2.8.1).

    # CREATE_CHILD_SA { SA(IKE, new SPIi), Ni, KEi } -->
    # <-- { SA(IKE, new SPIr), Nr, KEr }
    # INFORMATIONAL { D(IKE) } -->  (on the old IKE SA)  <-- { }

The side that rekeys becomes the original initiator of the new IKE SA. Its
keys come from the old SK_d and a fresh key exchange; the CHILD_SAs move to
the new IKE SA and the rekeying side deletes the old one. When both sides
rekey at once, the new IKE SA made with the lowest nonce is deleted by the
side that made it, and the CHILD_SAs end on the other one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...crypto.ke import KeyExchangeError, new_key_exchange
from ...crypto.keymat import derive_rekeyed_ike_keys
from ...crypto.prf import Prf
from ...crypto.proposals import select_proposal
from ...crypto.sk import SkCipher
from ...wire.enums import ExchangeType, NotifyType, ProtocolId
from ...wire.payloads import KePayload, NoncePayload, SaPayload
from .. import child_sa as cs
from ..errors import ProtocolError
from ..ike_sa import DONE, ESTABLISHED, RETRY, IkeSa
from .informational import DeleteIke


def make_rekeyed(old: IkeSa, initiator: bool, spi_i: bytes, spi_r: bytes, selected: Any,
                 g_ir: bytes, ni: bytes, nr: bytes, now: float) -> IkeSa:
    """The new IKE SA of a rekey, registered with the manager (2.18)."""
    mgr = old.mgr
    new = IkeSa(mgr=mgr, conn=old.conn, uniqueid=mgr.next_ike_id(), initiator=initiator,
                spi_i=spi_i, spi_r=spi_r, local=old.local, remote=old.remote, created_at=now)
    s = selected
    keys = derive_rekeyed_ike_keys(old.selected.prf_id, old.keys.sk_d, s.prf_id, s.encr_id,
                                   s.encr_key_bits, s.integ_id or None, g_ir, ni, nr, spi_i, spi_r)
    new.selected, new.keys, new.ni, new.nr = s, keys, ni, nr
    new.prf = Prf(s.prf_id)
    enc_i = SkCipher(s.encr_id, s.encr_key_bits, s.integ_id or None, keys.sk_ei, keys.sk_ai)
    enc_r = SkCipher(s.encr_id, s.encr_key_bits, s.integ_id or None, keys.sk_er, keys.sk_ar)
    new.cipher_out, new.cipher_in = (enc_i, enc_r) if initiator else (enc_r, enc_i)
    new.local_id, new.remote_id = old.local_id, old.remote_id
    new.nat_local, new.nat_remote = old.nat_local, old.nat_remote
    new.state = ESTABLISHED
    new.established_at = new.last_peer_activity = now
    mgr.register(new)
    mgr.schedule_ike(new, now)
    mgr.count("ike_sas_rekeyed")
    return new


def move_children(src: IkeSa, dst: IkeSa, now: float) -> None:
    """The CHILD_SAs and the CHILD_SA work still queued for them go to the new IKE SA
    (strongSwan's adopt_child_tasks): the old one only waits for its DELETE."""
    from .child_create import CreateChild
    from .informational import DeleteChild

    dst.children.extend(src.children)
    src.children.clear()
    moved = [t for t in src.queue if isinstance(t, (CreateChild, DeleteChild))]
    src.queue[:] = [t for t in src.queue if t not in moved]
    dst.queue.extend(moved)
    dst.kick(now)


class IkeRekey:
    exchange = ExchangeType.CREATE_CHILD_SA

    def __init__(self, sa: IkeSa) -> None:
        self.group: int = sa.selected.ke_id
        self.spi = b""
        self.ni = b""
        self.ke: Any = None
        sa.rekeying = True

    def build_i(self, sa: IkeSa, now: float) -> list[Any] | None:
        if sa.state != ESTABLISHED or sa.rekeyed:
            sa.rekeying = False
            return None
        if not self.spi:
            self.spi = sa.mgr.new_spi()
        self.ni = sa.mgr.rng.bytes(sa.mgr.options.nonce_size)
        self.ke = new_key_exchange(self.group)
        # our preferred group first: a fresh key exchange every time (2.18)
        proposals = tuple(p.to_wire(n, self.spi) for n, p in enumerate(sa.conn.proposals, 1))
        sa.info("rekeying IKE_SA")
        return [SaPayload(proposals), NoncePayload(self.ni), KePayload(self.group, self.ke.public_value)]

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str:
        sa.rekeying = False
        invalid_ke = cs.has_notify(payloads, NotifyType.INVALID_KE_PAYLOAD)
        if invalid_ke is not None and len(invalid_ke.data) == 2:
            group = int.from_bytes(invalid_ke.data, "big")
            if group in {g for p in sa.conn.proposals for g in p.ke} and group != self.group:
                self.group = group
                sa.rekeying = True
                return RETRY
        err = cs.first_error(payloads)
        if err is not None:
            sa.info("peer answered our IKE_SA rekey with %s", cs.notify_name(err.notify_type))
            if err.notify_type == NotifyType.TEMPORARY_FAILURE and not sa.rekeyed:
                sa.rekey_at = now + 2.0 + sa.mgr.jitter(10.0)
            return DONE
        sap = next((p for p in payloads if isinstance(p, SaPayload)), None)
        nonce = next((p for p in payloads if isinstance(p, NoncePayload)), None)
        kep = next((p for p in payloads if isinstance(p, KePayload)), None)
        chosen = select_proposal(sa.conn.proposals, sap.proposals) if sap else None
        if chosen is None or nonce is None or kep is None or kep.group != self.group \
                or len(chosen[0].spi) != 8 or chosen[1].ke_id != self.group:
            sa.warn("peer's IKE_SA rekey response is unusable; keeping the current IKE_SA")
            return DONE
        try:
            g_ir = self.ke.shared_secret(kep.data)
        except KeyExchangeError as e:
            sa.warn("peer's KE value in the IKE_SA rekey is invalid: %s", e)
            return DONE
        new = make_rekeyed(sa, True, self.spi, chosen[0].spi, chosen[1], g_ir, self.ni,
                           nonce.data, now)
        new.proposal = chosen[0]
        collision = sa.peer_rekey
        if collision is not None and collision[0].state == ESTABLISHED:
            sa.mgr.count("ike_rekey_collisions")
            theirs_new, their_ni, our_nr = collision
            if min(self.ni, nonce.data) < min(their_ni, our_nr):
                # 2.8.1: ours holds the lowest nonce: it is redundant and we delete it;
                # the CHILD_SAs stay on the peer's new IKE SA, the peer deletes the old one
                new.info("IKE_SA rekey collision: ours lost, deleting it")
                new.rekeyed = sa.rekeyed = True
                new.queue_task(DeleteIke(), now)
                return DONE
            new.info("IKE_SA rekey collision: ours won")
            move_children(theirs_new, new, now)
            theirs_new.rekeyed = True
        else:
            move_children(sa, new, now)
        new.info("IKE_SA rekeyed from %s", sa.prefix())
        sa.rekeyed = True
        sa.queue_task(DeleteIke(), now)
        return DONE

    def give_up(self, sa: IkeSa, now: float) -> None:
        sa.rekeying = False


def respond(sa: IkeSa, sap: SaPayload, payloads: Sequence[Any], now: float) -> list[Any]:
    """The peer rekeys this IKE SA."""
    if sa.rekeyed or sa.state != ESTABLISHED:
        raise ProtocolError(NotifyType.TEMPORARY_FAILURE, "this IKE_SA is being deleted or rekeyed")
    nonce = next((p for p in payloads if isinstance(p, NoncePayload)), None)
    kep = next((p for p in payloads if isinstance(p, KePayload)), None)
    if nonce is None or kep is None:
        raise ProtocolError(NotifyType.INVALID_SYNTAX, "IKE_SA rekey without Nonce or KE")
    offer = [p for p in sap.proposals if p.protocol_id == ProtocolId.IKE]
    chosen = select_proposal(sa.conn.proposals, offer)
    if chosen is None:
        raise ProtocolError(NotifyType.NO_PROPOSAL_CHOSEN, "no acceptable proposal in IKE_SA rekey")
    wire_prop, selected = chosen
    if len(wire_prop.spi) != 8:
        raise ProtocolError(NotifyType.INVALID_SYNTAX, "IKE SPI in rekey is not 8 octets")
    assert selected.ke_id is not None  # an IKE proposal always has a KE transform
    if kep.group != selected.ke_id:
        raise ProtocolError(NotifyType.INVALID_KE_PAYLOAD, "KE group mismatch in IKE_SA rekey",
                            selected.ke_id.to_bytes(2, "big"))
    ke = new_key_exchange(selected.ke_id)
    try:
        g_ir = ke.shared_secret(kep.data)
    except KeyExchangeError as e:
        raise ProtocolError(NotifyType.INVALID_SYNTAX, f"invalid KE value: {e}") from e
    nr = sa.mgr.rng.bytes(sa.mgr.options.nonce_size)
    our_spi = sa.mgr.new_spi()
    new = make_rekeyed(sa, False, wire_prop.spi, our_spi, selected, g_ir, nonce.data, nr, now)
    new.proposal = wire_prop
    move_children(sa, new, now)
    new.info("IKE_SA rekeyed by peer from %s", sa.prefix())
    if sa.active is not None and isinstance(sa.active.task, IkeRekey):
        sa.peer_rekey = (new, nonce.data, nr)  # a collision: settled when our rekey completes
    else:
        sa.rekeyed = True  # the peer deletes the old IKE SA
    reply_prop = type(wire_prop)(wire_prop.number, wire_prop.protocol_id, our_spi, wire_prop.transforms)
    return [SaPayload((reply_prop,)), NoncePayload(nr), KePayload(selected.ke_id, ke.public_value)]
