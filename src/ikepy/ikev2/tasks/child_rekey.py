"""Rekeying a CHILD_SA (RFC 7296 1.3.3, 2.8), make-before-break, with collisions (2.8.1).

    # CREATE_CHILD_SA { N(REKEY_SA), SA, Ni, [KEi], TSi, TSr } -->
    # <-- { SA, Nr, [KEr], TSi, TSr }
    # INFORMATIONAL { D(ESP, old SPI) } -->  <-- { D(ESP, peer's old SPI) }

The new CHILD_SA is installed before the old one is deleted. When both ends
rekey the same CHILD_SA at once, the new SA made with the lowest of the four
nonces is redundant and is deleted by the side that initiated it; the other
side deletes the old SA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...wire.enums import NotifyType, ProtocolId
from ...wire.payloads import NoncePayload, NotifyPayload
from .. import child_sa as cs
from ..ike_sa import DONE
from .child_create import CreateChild
from .informational import DeleteChild

if TYPE_CHECKING:
    from ..ike_sa import IkeSa


class ChildRekey(CreateChild):
    def __init__(self, old: cs.ChildSa) -> None:
        super().__init__(old.conf)
        self.old = old
        old.rekeying = True

    def build_i(self, sa: IkeSa, now: float) -> list[Any] | None:
        if self.old.state != cs.INSTALLED or self.old.rekeyed:
            # deleted or rekeyed by the peer meanwhile: nothing left to rekey
            self.old.rekeying = False
            sa.info("CHILD_SA %s is gone or already rekeyed, not rekeying it", self.old.name)
            return None
        if self.old not in sa.children:
            # queued while this IKE SA was being rekeyed: the CHILD_SA has moved to the new
            # IKE SA (2.18), which rekeys it now; this one answers nothing but its DELETE
            self.old.rekeying = False
            self.old.rekey_at = now
            sa.info("CHILD_SA %s moved to the rekeyed IKE_SA, rekeying it there",
                    self.old.name)
            return None
        sa.info("rekeying CHILD_SA %s", self.old.describe())
        payloads = super().build_i(sa, now)
        assert payloads is not None
        rekey = NotifyPayload(ProtocolId.ESP, self.old.spi_in.to_bytes(4, "big"),
                              NotifyType.REKEY_SA)
        return [rekey, *payloads]

    def _initiator_payloads(self, sa: IkeSa, child: cs.ChildSa) -> list[Any]:
        # the rekeyed SA keeps the old one's traffic selectors (2.8)
        return cs.initiator_payloads(sa, child, with_ke=True, ts=(self.old.local_ts, self.old.remote_ts))

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str:
        self.old.rekeying = False
        err = cs.first_error(payloads)
        if err is not None and err.notify_type in (NotifyType.TEMPORARY_FAILURE,
                                                  NotifyType.CHILD_SA_NOT_FOUND):
            # 2.25: the peer is rekeying or deleting it right now; its own exchange decides
            sa.info("peer answered our rekey of %s with %s", self.old.name,
                    cs.notify_name(err.notify_type))
            assert self.child is not None
            sa.mgr.backend.release_spi(self.child.spi_in)
            if err.notify_type == NotifyType.TEMPORARY_FAILURE and self.old.state == cs.INSTALLED \
                    and not self.old.rekeyed:
                self.old.rekey_at = now + sa.mgr.jitter(10.0) + 2.0  # try again shortly
            return DONE
        result = super().process_i(sa, payloads, now)
        new = self.child
        if new is None or new.state != cs.INSTALLED:
            return result
        sa.mgr.count("child_sas_rekeyed")
        nonce = next((p for p in payloads if isinstance(p, NoncePayload)), None)
        ours = (self.ni, nonce.data if nonce else b"")
        collision = self.old.peer_rekey
        if collision is not None and collision[0].state == cs.INSTALLED:
            sa.mgr.count("child_rekey_collisions")
            theirs = (collision[1], collision[2])
            if min(ours) < min(theirs):
                # 2.8.1: ours holds the lowest nonce: it is redundant, we delete it
                sa.info("CHILD_SA rekey collision: ours lost, deleting %s", new.describe())
                new.rekeyed = True
                sa.queue_task(DeleteChild(new), now)
                return DONE
            sa.info("CHILD_SA rekey collision: ours won")
        self.old.rekeyed = True
        if self.old.state == cs.INSTALLED:
            sa.queue_task(DeleteChild(self.old), now)
        return DONE
