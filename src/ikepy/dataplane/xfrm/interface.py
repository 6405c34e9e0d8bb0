"""XFRM interfaces for route-based VPNs (rtnetlink, through pyroute2).

An XFRM interface (``ip link add NAME type xfrm if_id N``, Linux >= 4.19,
module ``xfrm_interface``) carries the traffic of every state and policy with
``XFRMA_IF_ID == N``: give :class:`XfrmBackend` ``if_id_in=if_id_out=N`` and
route the remote subnets into the interface instead of relying on selectors.
"""

from __future__ import annotations

from typing import Any


def create_xfrm_interface(name: str, if_id: int, underlying: str | None = None,
                          up: bool = True) -> int:
    """Create (or keep) XFRM interface ``name`` for ``if_id``; returns its ifindex."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        existing = ipr.link_lookup(ifname=name)
        if not existing:
            kw: dict[str, Any] = {"ifname": name, "kind": "xfrm", "xfrm_if_id": if_id}
            if underlying:
                (link,) = ipr.link_lookup(ifname=underlying) or [0]
                if link:
                    kw["xfrm_link"] = link
            try:
                ipr.link("add", **kw)
            except Exception as exc:  # pyroute2's NetlinkError
                code = getattr(exc, "code", None)
                raise OSError(code or 0, f"cannot create XFRM interface {name} (if_id {if_id}): "
                              f"{exc}; the kernel needs the xfrm_interface module "
                              "(`modprobe xfrm_interface`)") from None
            existing = ipr.link_lookup(ifname=name)
        index = int(existing[0])
        if up:
            ipr.link("set", index=index, state="up")
        return index


def delete_xfrm_interface(name: str) -> None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            ipr.link("del", index=index)
