"""The hours after the handshake: rekeying, expiry, reauthentication, liveness.

RFC 7296 2.8 (CHILD_SA rekey), 2.18 (IKE SA rekey), 2.4 (liveness checks) with
strongSwan's knobs: rekey_time less up to rand_time of jitter, a hard life_time
(CHILD_SA) or rekey_time + over_time (IKE SA) after which the SA is gone, and
dpd_delay: a liveness check only when nothing came from the peer for that long.
The manager asks ``deadlines`` when to wake and calls ``run`` then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import child_sa as cs
from .ike_sa import ESTABLISHED
from .tasks.child_rekey import ChildRekey
from .tasks.ike_rekey import IkeRekey
from .tasks.informational import DeleteChild, DeleteIke, Liveness

if TYPE_CHECKING:
    from .ike_sa import IkeSa


def schedule_ike(sa: IkeSa, now: float) -> None:
    conn = sa.conn
    rekey = float(conn.rekey_time or 0)
    reauth = float(conn.reauth_time or 0)
    jitter = float(conn.rand_time or 0)
    sa.rekey_at = now + rekey - sa.mgr.jitter(jitter) if rekey else None
    sa.reauth_at = now + reauth - sa.mgr.jitter(jitter) if reauth else None
    sa.expire_at = now + max(rekey, reauth) + float(conn.over_time or 0) if (rekey or reauth) else None


def _last_activity(sa: IkeSa) -> float:
    last = sa.last_peer_activity
    for child in sa.children:
        try:
            seen = sa.mgr.backend.counters(child.reqid).last_in
        except KeyError:
            continue
        if seen is not None and seen > last:
            last = seen
    return last


def _dpd_at(sa: IkeSa) -> float | None:
    """When a liveness check would be due, from what the engine saw itself (cheap: the
    daemon asks after every datagram); ``run`` consults the data plane's counters."""
    delay = float(sa.conn.dpd_delay or 0)
    if not delay or sa.busy() or sa.rekeyed:
        return None
    return max(sa.last_peer_activity, sa.established_at) + delay


def deadlines(sa: IkeSa) -> list[float]:
    """Every time ``run`` would act; nothing that ``run`` would not clear (no busy loop)."""
    if sa.state != ESTABLISHED:
        return []
    out = [t for t in (sa.reauth_at, sa.expire_at) if t is not None]
    if sa.rekey_at is not None and not (sa.rekeying or sa.rekeyed):
        out.append(sa.rekey_at)
    dpd = _dpd_at(sa)
    if dpd is not None:
        out.append(dpd)
    for c in sa.children:
        if c.rekey_at is not None and c.state == cs.INSTALLED and not (c.rekeying or c.rekeyed):
            out.append(c.rekey_at)
        if c.expire_at is not None:
            out.append(c.expire_at)
    return out


def run(sa: IkeSa, now: float) -> None:
    if sa.state != ESTABLISHED:
        return
    for c in list(sa.children):
        if c.expire_at is not None and now >= c.expire_at:
            # never used past its hard lifetime: out of the data plane now, then tell the peer
            sa.info("CHILD_SA %s reached its hard lifetime", c.describe())
            c.expire_at = None
            if c.state == cs.INSTALLED:
                sa.queue_task(DeleteChild(c), now)
            cs.remove(sa, c, now, "expired")
        elif (c.rekey_at is not None and now >= c.rekey_at and c.state == cs.INSTALLED
              and not (c.rekeying or c.rekeyed)):
            c.rekey_at = None
            sa.queue_task(ChildRekey(c), now)
    if sa.expire_at is not None and now >= sa.expire_at:
        sa.info("IKE_SA reached its hard lifetime")
        sa.expire_at = None
        sa.queue.clear()
        sa.queue_task(DeleteIke(), now)
        return
    if sa.reauth_at is not None and now >= sa.reauth_at:
        sa.reauth_at = None
        sa.rekey_at = None
        sa.mgr.reauthenticate(sa, now)
    if sa.rekey_at is not None and now >= sa.rekey_at and not (sa.rekeying or sa.rekeyed):
        sa.rekey_at = None
        sa.queue_task(IkeRekey(sa), now)
    dpd = _dpd_at(sa)
    if dpd is not None and now >= dpd:
        # traffic from the peer counts as life: only ask the counters now, when it matters
        seen = _last_activity(sa)
        if seen > sa.last_peer_activity and seen + float(sa.conn.dpd_delay) > now:
            sa.last_peer_activity = seen
        else:
            sa.queue_task(Liveness(), now)
