"""CREATE_CHILD_SA for additional CHILD_SAs and the peer's CHILD_SA rekeys (RFC 7296 1.3).

    # CREATE_CHILD_SA { SA, Ni, [KEi], TSi, TSr } -->
    # <-- { SA, Nr, [KEr], TSi, TSr }
    # CREATE_CHILD_SA { N(REKEY_SA), SA, Ni, [KEi], TSi, TSr } -->   (1.3.3, peer rekeys)

PFS: a KE payload rides along whenever the ESP proposals name a group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...crypto.ke import KeyExchangeError, new_key_exchange
from ...wire.enums import ExchangeType, NotifyType, ProtocolId
from ...wire.payloads import KePayload, NoncePayload, SaPayload
from .. import child_sa as cs
from ..errors import ProtocolError
from ..ike_sa import DONE, RETRY

if TYPE_CHECKING:
    from ..ike_sa import IkeSa


class CreateChild:
    exchange = ExchangeType.CREATE_CHILD_SA

    def __init__(self, child_conf: Any) -> None:
        self.conf = child_conf
        first = child_conf.esp_proposals[0] if child_conf.esp_proposals else None
        self.group: int = first.ke[0] if first is not None and first.ke else 0
        self.child: cs.ChildSa | None = None
        self.ni = b""
        self.ke: Any = None

    def build_i(self, sa: IkeSa, now: float) -> list[Any] | None:
        if self.child is None:
            self.child = sa.mgr.new_child(self.conf)
        self.ni = sa.mgr.rng.bytes(sa.mgr.options.nonce_size)
        out: list[Any] = [NoncePayload(self.ni)]
        if self.group:
            self.ke = new_key_exchange(self.group)
            out.append(KePayload(self.group, self.ke.public_value))
        return [*self._initiator_payloads(sa, self.child), *out]

    def _initiator_payloads(self, sa: IkeSa, child: cs.ChildSa) -> list[Any]:
        return cs.initiator_payloads(sa, child, with_ke=True)

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str:
        assert self.child is not None
        invalid_ke = cs.has_notify(payloads, NotifyType.INVALID_KE_PAYLOAD)
        if invalid_ke is not None and len(invalid_ke.data) == 2:
            group = int.from_bytes(invalid_ke.data, "big")
            allowed = {g for p in self.conf.esp_proposals for g in p.ke}
            if group in allowed and group != self.group:
                sa.info("peer prefers group %d for CHILD_SA %s, retrying", group, self.conf.name)
                self.group = group
                return RETRY
        nonce = next((p for p in payloads if isinstance(p, NoncePayload)), None)
        g_ir = None
        if cs.first_error(payloads) is None:
            if nonce is None:
                cs.fail_child(sa, self.child, "CREATE_CHILD_SA response lacks a nonce", now)
                return DONE
            if self.group:
                kep = next((p for p in payloads if isinstance(p, KePayload)), None)
                if kep is None or kep.group != self.group:
                    cs.fail_child(sa, self.child, "peer answered without the PFS key exchange "
                                  "our proposals require", now)
                    return DONE
                try:
                    g_ir = self.ke.shared_secret(kep.data)
                except KeyExchangeError as e:
                    cs.fail_child(sa, self.child, f"peer's KE value is invalid: {e}", now)
                    return DONE
        cs.process_initiator_response(sa, self.child, payloads, self.ni,
                                      nonce.data if nonce else b"", g_ir, True, now)
        return DONE

    def give_up(self, sa: IkeSa, now: float) -> None:
        if self.child is not None:
            sa.mgr.backend.release_spi(self.child.spi_in)


def respond(sa: IkeSa, payloads: Sequence[Any], now: float) -> list[Any]:
    if sa.state != "ESTABLISHED":
        raise ProtocolError(NotifyType.INVALID_SYNTAX, "CREATE_CHILD_SA before IKE_AUTH")
    sap = next(p for p in payloads if isinstance(p, SaPayload))
    if any(p.protocol_id == ProtocolId.IKE for p in sap.proposals):
        from .ike_rekey import respond as respond_ike_rekey

        return respond_ike_rekey(sa, sap, payloads, now)
    nonce = next((p for p in payloads if isinstance(p, NoncePayload)), None)
    if nonce is None:
        raise ProtocolError(NotifyType.INVALID_SYNTAX, "CREATE_CHILD_SA request without a nonce")
    kep = next((p for p in payloads if isinstance(p, KePayload)), None)
    conf = None
    old: cs.ChildSa | None = None
    rekey = cs.has_notify(payloads, NotifyType.REKEY_SA)
    if rekey is not None:
        old = sa.find_child_by_spi(int.from_bytes(rekey.spi, "big"), inbound=False)
        if old is None or old.state not in (cs.INSTALLED, cs.DELETING):
            raise ProtocolError(NotifyType.CHILD_SA_NOT_FOUND,
                                f"no CHILD_SA with SPI {rekey.spi.hex()} to rekey")
        if old.state == cs.DELETING or old.rekeyed:
            # 2.25: we are deleting or have rekeyed it ourselves
            raise ProtocolError(NotifyType.TEMPORARY_FAILURE,
                                f"CHILD_SA {old.name} is being rekeyed or deleted")
        conf = old.conf
    nr = sa.mgr.rng.bytes(sa.mgr.options.nonce_size)

    def key_exchange(selected: Any) -> tuple[bytes | None, list[Any]]:
        group = getattr(selected, "ke_id", 0)
        if not group:
            return None, []
        if kep is None or kep.group != group:
            raise ProtocolError(NotifyType.INVALID_KE_PAYLOAD, "PFS group mismatch",
                                group.to_bytes(2, "big"))
        ke = new_key_exchange(group)
        try:
            g_ir = ke.shared_secret(kep.data)
        except KeyExchangeError as e:
            raise ProtocolError(NotifyType.INVALID_SYNTAX, f"invalid KE value: {e}") from e
        return g_ir, [KePayload(group, ke.public_value)]

    child, reply = cs.respond_child(sa, payloads, True, now, nonce.data, nr, key_exchange, conf,
                                    old_ts=(old.local_ts, old.remote_ts) if old else None)
    prev = old
    if prev is not None:
        active = sa.active.task if sa.active is not None else None
        colliding = getattr(active, "old", None) is prev
        if colliding:
            prev.peer_rekey = (child, nonce.data, nr)  # a collision (2.8.1)
        else:
            prev.rekeyed = True  # the peer deletes the old one
        sa.info("CHILD_SA %s rekeyed by peer as %s", prev.name, child.describe())
    return [*reply, NoncePayload(nr)]
