"""Linux kernel XFRM data plane over netlink (NETLINK_XFRM), no ``ip`` subprocesses.

* ``uapi``: linux/xfrm.h structures and constants as ``struct.Struct`` rows
* ``netlink``: the NETLINK_XFRM socket (requests, dumps, multicast events)
* ``backend``: :class:`XfrmBackend`, the :class:`ikepy.dataplane.base.Backend`
* ``sockopts``: ``bypass_socket`` / ``enable_udp_encap`` for the IKE sockets
* ``interface``: XFRM interfaces (route-based VPN) through rtnetlink
"""

from ikepy.dataplane.xfrm.backend import EVENT_ACQUIRE, REQID_BASE, AcquireInfo, XfrmBackend
from ikepy.dataplane.xfrm.errors import XfrmError
from ikepy.dataplane.xfrm.sockopts import bypass_socket, enable_udp_encap

__all__ = ["XfrmBackend", "XfrmError", "AcquireInfo", "EVENT_ACQUIRE", "REQID_BASE",
           "bypass_socket", "enable_udp_encap"]
