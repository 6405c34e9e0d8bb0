"""INFORMATIONAL (RFC 7296 1.4, 1.5): deletes in both directions and liveness.

    # INFORMATIONAL { D(ESP, spi...) } -->  <-- { D(ESP, our spi...) }
    # INFORMATIONAL { D(IKE) } -->          <-- { }
    # INFORMATIONAL { } -->                 <-- { }     (liveness check, 2.4)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from ...wire.enums import ExchangeType, ProtocolId
from ...wire.payloads import DeletePayload, NotifyPayload
from .. import child_sa as cs
from ..ike_sa import DELETING, DESTROY, DONE

if TYPE_CHECKING:
    from ..ike_sa import IkeSa


class DeleteChild:
    exchange = ExchangeType.INFORMATIONAL

    def __init__(self, child: cs.ChildSa) -> None:
        self.child = child

    def build_i(self, sa: IkeSa, now: float) -> list[Any]:
        self.child.state = cs.DELETING
        sa.info("deleting CHILD_SA %s", self.child.describe())
        return [DeletePayload(ProtocolId.ESP, (self.child.spi_in.to_bytes(4, "big"),))]

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str:
        cs.remove(sa, self.child, now, "deleted")
        return DONE

    def give_up(self, sa: IkeSa, now: float) -> None:
        pass


class DeleteIke:
    exchange = ExchangeType.INFORMATIONAL

    def build_i(self, sa: IkeSa, now: float) -> list[Any]:
        sa.state = DELETING
        sa.info("deleting IKE_SA")
        return [DeletePayload(ProtocolId.IKE, ())]

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str:
        return DESTROY

    def give_up(self, sa: IkeSa, now: float) -> None:
        pass


class Liveness:
    """An empty INFORMATIONAL request: is the peer still there? (2.4)"""

    exchange = ExchangeType.INFORMATIONAL

    def build_i(self, sa: IkeSa, now: float) -> list[Any]:
        return []

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str:
        return DONE

    def give_up(self, sa: IkeSa, now: float) -> None:
        pass


def respond(sa: IkeSa, payloads: Sequence[Any], now: float) -> list[Any]:
    reply: list[Any] = []
    ours: list[bytes] = []
    closed: list[Any] = []
    for p in payloads:
        if isinstance(p, DeletePayload):
            if p.protocol_id == ProtocolId.IKE:
                sa.info("received DELETE for IKE_SA")
                sa.destroy_after_response = True
                if not sa.rekeyed:
                    gone = [c.conf for c in sa.children if not c.rekeyed]
                    sa.after_destroy = partial(sa.mgr.closed_by_peer, sa, gone)
                return []
            if p.protocol_id in (ProtocolId.ESP, ProtocolId.AH):
                for spi in p.spis:
                    child = sa.find_child_by_spi(int.from_bytes(spi, "big"), inbound=False)
                    if child is None:
                        continue  # 1.4.1: already gone, nothing to say
                    if child.state != cs.DELETING:
                        # 1.4.1: deletes that cross are not answered with Delete payloads
                        ours.append(child.spi_in.to_bytes(4, "big"))
                    cs.remove(sa, child, now, "deleted by peer")
                    if not child.rekeyed:
                        closed.append(child.conf)
        elif isinstance(p, NotifyPayload) and p.notify_type < 16384:
            sa.warn("peer reported %s", cs.notify_name(p.notify_type))
    if ours:
        reply.append(DeletePayload(ProtocolId.ESP, tuple(ours)))
    if closed:
        sa.mgr.closed_by_peer(sa, closed, now)
    return reply
